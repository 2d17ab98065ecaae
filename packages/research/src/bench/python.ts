/** Running the Python peers of the benchmarks, installing their packages from PyPI when missing. */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { GaugeTransportError } from '../../../../dist/errors';

/** The Python that runs the peers. */
export const PYTHON = process.env.GAUGE_TRANSPORT_PYTHON ?? 'python3';

/** `packages/research/peers/`, from `src/bench/` and from the compiled `dist/bench/` alike. */
const PEERS = path.resolve(__dirname, '..', '..', 'peers');

/** Makes sure `modules` import in Python, installing `packages` with pip if they do not. */
export function ensurePython(modules: string[], packages: string[]): void {
  const probe = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
  if (probe.error) throw new GaugeTransportError('PEER_UNAVAILABLE', `cannot run ${PYTHON}: ${probe.error.message}`);
  if (probe.status === 0) return;
  process.stderr.write(`installing ${packages.join(', ')} for the benchmark peer...\n`);
  const pip = spawnSync(PYTHON, ['-m', 'pip', 'install', '--quiet', ...packages], { stdio: 'inherit' });
  if (pip.status !== 0) {
    throw new GaugeTransportError('PEER_UNAVAILABLE', `pip install ${packages.join(' ')} failed (exit ${pip.status})`);
  }
}

/** The path of `packages/research/peers/<script>`. */
export const peerPath = (script: string): string => path.join(PEERS, script);

/** Runs `packages/research/peers/<script>` with `args` and parses its JSON output. */
export function runPeer<T>(script: string, args: string[]): T {
  const file = peerPath(script);
  const out = execFileSync(PYTHON, [file, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  return JSON.parse(out) as T;
}
