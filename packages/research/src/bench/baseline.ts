/**
 * An earlier revision of this package, built once, as a benchmark's "before" peer: the same bench then measures
 * the code as it was (say, when an issue asked for a speed-up) beside the code as it is, in one run on one machine.
 *
 * The revision's tree is exported with `git archive` (no work tree of the repository is touched) into a staging
 * folder, installed and built there with its own `npm install` (its `prepare` builds the addon and the TypeScript),
 * and renamed into `.cache/bench/baseline-<commit>/` once it loads; a build that fails or stops leaves nothing
 * behind but the staging folder, which the next call removes. Its cargo target folder is kept beside it
 * (`.cache/bench/baseline-target/`), so a second revision recompiles only what changed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError } from '../../../../dist/errors';
import { PACKAGE_ROOT } from '../../../../dist/results';

export interface BaselineBuild {
  /** The full commit hash. */
  commit: string;
  /** Its subject line. */
  subject: string;
  /** The built package: `dist/native.js` loads its addon. */
  dir: string;
}

const CACHE = path.join(PACKAGE_ROOT, '.cache', 'bench');

function git(args: string[]): string {
  const r = spawnSync('git', ['-C', PACKAGE_ROOT, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new GaugeTransportError('PEER_UNAVAILABLE', `cannot run git for --baseline: ${r.error.message}`);
  if (r.status !== 0) throw new GaugeTransportError('INVALID_ARGUMENT', `--baseline: git ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The built package of revision `rev` (any name git resolves), building it first when it is not cached. */
export function baselineBuild(rev: string, log: (s: string) => void = () => {}): BaselineBuild {
  const commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
  const subject = git(['log', '-1', '--format=%s', commit]);
  const dir = path.join(CACHE, `baseline-${commit.slice(0, 12)}`);
  const native = path.join(dir, 'dist', 'native.js');
  if (fs.existsSync(native)) return { commit, subject, dir };
  fs.mkdirSync(CACHE, { recursive: true });
  const staging = `${dir}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging);
  log(`baseline: exporting ${commit.slice(0, 12)} (${subject.slice(0, 60)})`);
  const tar = path.join(CACHE, `baseline-${commit.slice(0, 12)}.tar`);
  git(['archive', '--format=tar', '-o', tar, commit]);
  try {
    execFileSync('tar', ['-xf', tar, '-C', staging]);
  } finally {
    fs.rmSync(tar, { force: true });
  }
  log('baseline: npm install (builds the addon and the TypeScript; minutes)');
  const env = { ...process.env, CARGO_TARGET_DIR: path.join(CACHE, 'baseline-target') };
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: staging, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new GaugeTransportError('PEER_UNAVAILABLE', `--baseline ${rev}: npm install in ${staging} failed (exit ${r.status})`);
  if (!fs.existsSync(path.join(staging, 'dist', 'native.js'))) {
    throw new GaugeTransportError('PEER_UNAVAILABLE', `--baseline ${rev}: the build left no dist/native.js in ${staging}`);
  }
  fs.renameSync(staging, dir);
  return { commit, subject, dir };
}
