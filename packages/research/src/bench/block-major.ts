/**
 * Benchmark `block-major`: what a streamed model gains when a tool's whole probe passes through each block in one
 * call. A streamed model (`Model.load(dir, { streamed: true })`) reads a block from the checkpoint whenever a pass
 * needs it. The one-model tools (SAE activations, steering vectors, audits) call `Model.siteStates` or
 * `Model.lastLogits` once for their whole probe, so the checkpoint is read once per call; run batch by batch, as
 * they were before, it is read once per batch.
 *
 * SmolLM2-135M (the GGUF converted once to F32 safetensors) computes the states at its middle site of
 * `sequences` sequences of `seq` random ids, each side in its own process (so that its peak RSS is its own),
 * median of `reps`:
 * - block-major, streamed: one `siteStates` call over every sequence (sub-batches of `batch`);
 * - batch by batch, streamed: one `siteStates` call per `batch` sequences (the loop before);
 * - resident: the model loaded whole (its load read the checkpoint once, outside the timing), one call.
 *
 * The streamed sides run twice: cold, with the checkpoint dropped from the page cache before every call
 * (`peers/evict.py`, `posix_fadvise(DONTNEED)`: what every pass reads when the checkpoint is larger than the
 * machine's memory), and warm (after a warm-up call, from the page cache). Bytes read are the process's `rchar`
 * (`/proc/self/io`) over a repetition's calls. The read peer is `cat` of the checkpoint to `/dev/null` from a cold
 * cache: the time the disk takes to deliver the file once. The block-major states are compared with the
 * batch-by-batch ones (the same kernels on the same sub-batches: equal bit for bit).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { GaugeTransportError } from '../../../../dist/errors';
import { SMOLLM2_GGUF } from '../experiments/groups';
import { machine, PACKAGE_ROOT } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { PYTHON, peerPath, runPeer } from './python';
import { maxAbsDiff, median } from './stats';

const EVICT = peerPath('evict.py');

export interface BlockMajorBenchOptions {
  /** Sequences per repetition. @default 32 */
  sequences: number;
  /** Tokens per sequence. @default 128 */
  seq: number;
  /** Sequences per sub-batch, and per call of the batch-by-batch side. @default 8 */
  batch: number;
  /** @default 3 */
  reps: number;
  /** @default the number of CPUs */
  threads: number;
}

type Mode = 'block-major' | 'batch-by-batch' | 'resident';

interface Side {
  mode: Mode;
  cache: 'cold' | 'warm';
  times: number[];
  median: number;
  tokensPerS: number;
  /** `rchar` over one repetition's calls (the median repetition's). */
  bytesRead: number;
  peakRssBytes: number;
}

export interface BlockMajorBenchResult {
  name: 'block-major';
  params: BlockMajorBenchOptions & { model: string; site: string; checkpointBytes: number; blocksRead: number; layers: number };
  sides: Side[];
  /** `cat` of the checkpoint to /dev/null from a cold cache, median of `reps`. */
  cat: { times: number[]; median: number; bytesPerS: number };
  /** Largest |Δ| between the block-major and the batch-by-batch states. */
  maxStateDiff: number;
  machine: Record<string, string | number>;
}

/** One side in a child process: `reps` timed repetitions (after a warm-up when warm); the states to `statesOut`. */
function side(dir: string, files: string[], idsFile: string, site: string, mode: Mode, cold: boolean, o: BlockMajorBenchOptions, statesOut: string): Side {
  const script = `
    const native = require(${JSON.stringify(path.join(PACKAGE_ROOT, 'dist', 'native.js'))});
    const fs = require('node:fs');
    const { spawnSync } = require('node:child_process');
    const rchar = () => Number(/rchar:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))[1]);
    const evict = () => {
      const r = spawnSync(${JSON.stringify(PYTHON)}, ${JSON.stringify([EVICT, ...files])}, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error('evict: ' + r.stderr);
    };
    (async () => {
      const ids = Uint32Array.from(JSON.parse(fs.readFileSync(${JSON.stringify(idsFile)}, 'utf8')));
      const model = await native.Model.load(${JSON.stringify(dir)}, { streamed: ${mode !== 'resident'} });
      const seq = ${o.seq}, batch = ${o.batch}, sequences = ${o.sequences};
      const per = ${mode === 'batch-by-batch'} ? batch : sequences;
      const run = async (cold) => {
        let seconds = 0, bytes = 0, states = [];
        for (let s = 0; s < sequences; s += per) {
          if (cold) evict();
          const part = ids.subarray(s * seq, (s + per) * seq);
          const r0 = rchar();
          const t0 = process.hrtime.bigint();
          const [h] = await model.siteStates(part, [${JSON.stringify(site)}], { lengths: Array(per).fill(seq), batch });
          seconds += Number(process.hrtime.bigint() - t0) / 1e9;
          bytes += rchar() - r0;
          states.push(h);
        }
        return { seconds, bytes, states };
      };
      if (!${cold}) await run(false); // warm-up: the page cache now holds what a call reads
      const times = [], bytes = [];
      let last;
      for (let r = 0; r < ${o.reps}; r++) {
        last = await run(${cold});
        times.push(last.seconds);
        bytes.push(last.bytes);
      }
      const all = new Float32Array(last.states.reduce((n, h) => n + h.length, 0));
      let at = 0;
      for (const h of last.states) { all.set(h, at); at += h.length; }
      native.writeNpy(${JSON.stringify(statesOut)}, all, [all.length / model.d, model.d]);
      process.stdout.write(JSON.stringify({ times, bytes, peak: process.resourceUsage().maxRSS * 1024 }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const env = { ...process.env, RAYON_NUM_THREADS: String(o.threads) };
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new GaugeTransportError('INTERNAL', `the ${mode} (${cold ? 'cold' : 'warm'}) process failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { times: number[]; bytes: number[]; peak: number };
  const m = median(out.times);
  const k = out.times.indexOf(m);
  return {
    mode,
    cache: cold ? 'cold' : 'warm',
    times: out.times,
    median: m,
    tokensPerS: (o.sequences * o.seq) / m,
    bytesRead: out.bytes[k >= 0 ? k : 0],
    peakRssBytes: out.peak,
  };
}

export async function runBlockMajorBench(o: BlockMajorBenchOptions): Promise<BlockMajorBenchResult> {
  if (o.sequences % o.batch !== 0) {
    throw new GaugeTransportError('INVALID_ARGUMENT', `--sequences ${o.sequences} is not a multiple of --batch ${o.batch}`);
  }
  if (!fs.existsSync(SMOLLM2_GGUF)) throw new GaugeTransportError('IO', `${SMOLLM2_GGUF} not found; run python3 scripts/fetch_models.py`);
  if (!fs.existsSync('/proc/self/io')) throw new GaugeTransportError('PEER_UNAVAILABLE', 'this benchmark reads /proc/self/io (Linux only)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-block-major-bench-'));
  try {
    const dir = path.join(work, 'model');
    await native.convertGguf(SMOLLM2_GGUF, dir);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).map((f) => path.join(dir, f));
    const checkpointBytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, number>;
    const layers = config.num_hidden_layers;
    const blocksRead = Math.floor(layers / 2);
    const site = `h_${blocksRead}`;
    const vocab = config.vocab_size;
    const ids = Array.from(native.randomUniform(o.sequences * o.seq, 11), (u) => Math.floor(u * vocab) % vocab);
    const idsFile = path.join(work, 'ids.json');
    fs.writeFileSync(idsFile, JSON.stringify(ids));
    const statesOf = (name: string) => path.join(work, `${name}.npy`);
    const sides: Side[] = [];
    for (const cold of [true, false]) {
      for (const mode of ['block-major', 'batch-by-batch'] as const) {
        sides.push(side(dir, files, idsFile, site, mode, cold, o, statesOf(`${mode}-${cold}`)));
      }
    }
    sides.push(side(dir, files, idsFile, site, 'resident', false, o, statesOf('resident')));
    const catTimes: number[] = [];
    for (let r = 0; r < o.reps; r++) {
      runPeer('evict.py', files);
      const t0 = process.hrtime.bigint();
      const c = spawnSync('cat', files, { stdio: ['ignore', 'ignore', 'pipe'] });
      catTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (c.status !== 0) throw new GaugeTransportError('PEER_UNAVAILABLE', `cat failed: ${c.stderr}`);
    }
    const a = native.readNpyMatrix(statesOf('block-major-false')).data;
    const b = native.readNpyMatrix(statesOf('batch-by-batch-false')).data;
    const catMedian = median(catTimes);
    return {
      name: 'block-major',
      params: { ...o, model: path.basename(SMOLLM2_GGUF), site, checkpointBytes, blocksRead, layers },
      sides,
      cat: { times: catTimes, median: catMedian, bytesPerS: checkpointBytes / catMedian },
      maxStateDiff: maxAbsDiff(a, b),
      machine: machine(),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function blockMajorTable(r: BlockMajorBenchResult): Table {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const base = (cache: string) => r.sides.find((s) => s.mode === 'block-major' && s.cache === cache);
  const rows = r.sides.map((s) => {
    const ref = base(s.cache) ?? base('warm')!;
    return [
      s.mode === 'resident' ? 'resident (loaded whole)' : `${s.mode}, streamed`,
      s.cache === 'cold' ? 'cold: dropped before every call' : 'warm',
      `${s.median.toFixed(2)} s (${s.tokensPerS.toFixed(0)} tok/s)`,
      `${gib(s.bytesRead)} (${(s.bytesRead / r.params.checkpointBytes).toFixed(2)}x the checkpoint)`,
      gib(s.peakRssBytes),
      s === ref ? '' : `${(s.median / ref.median).toFixed(2)}x the time`,
    ];
  });
  rows.push([
    '`cat` of the checkpoint to /dev/null',
    'cold',
    `${r.cat.median.toFixed(2)} s (${(r.cat.bytesPerS / 2 ** 20).toFixed(0)} MiB/s)`,
    `${gib(r.params.checkpointBytes)} (1.00x)`,
    '',
    '',
  ]);
  return {
    header: ['side', 'page cache', 'time per repetition', 'bytes read per repetition', 'peak RSS', 'against block-major'],
    rows,
  };
}
