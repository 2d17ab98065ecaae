/**
 * Benchmark `moments`: the cross-moment GEMM behind `correlation` (`CrossMoments::update`: shifted f32 GEMM blocks
 * folded into f64 totals) against numpy's float32 `x.T @ y` (its BLAS sgemm), on the same seeded [N, d] matrices
 * (SplitMix64 normals written once as .npy for numpy), with the same thread count. Both count 2·N·d² FLOPs.
 *
 * Ours is timed through the napi `correlation` export, so it also includes the O(d²) correlation step, the
 * async hand-off (well under 1% at N = 65536) and the copy of both inputs into memory the call owns, made on the
 * caller's thread before the call returns its Promise (timed on its own as `copySeconds`). Repetitions alternate ours and numpy, so a change in machine
 * load hits both; the median of `reps` is reported. A few correlations from numpy's product are compared with
 * ours to show both computed the same thing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { num } from '../../../../dist/commands/args';
import type { Experiment } from '../experiments';
import native = require('../../../../dist/native');
import { machine } from '../../../../dist/results';
import { secs, type Table } from '../../../../dist/table';
import { ensurePython, runPeer } from './python';
import { median } from './stats';

export interface MomentsBenchOptions {
  /** Rows (tokens). @default 65536 */
  rows?: number;
  /** Width of both x and y. @default 2048 */
  dim?: number;
  /** @default 3 */
  reps?: number;
  /** Threads for both sides. @default the number of CPUs */
  threads?: number;
  /** @default 0 */
  seed?: number;
}

interface Side {
  times: number[];
  median: number;
  gflops: number;
}

/** Ours: also the time until `correlation` returned its Promise (the inputs' copy, on the event loop). */
interface OurSide extends Side {
  /** Absent in results recorded before it was timed. */
  copySeconds?: number[];
}

export interface MomentsBenchResult {
  name: 'moments';
  params: Required<MomentsBenchOptions>;
  ours: OurSide;
  numpy: Side & { version: string; blas: string; threads: number };
  /** ours GFLOP/s over numpy GFLOP/s (the goal is >= 0.7). */
  ratio: number;
  /** max |corr_ours − corr_numpy| over the sampled pairs. */
  corrMaxDiff: number;
  /** 1-minute load average before and after the run (the machine is shared). */
  loadavg: { before: number; after: number };
  machine: Record<string, string | number>;
}

const PAIRS = 16;

export async function runMomentsBench(options: MomentsBenchOptions = {}): Promise<MomentsBenchResult> {
  const params: Required<MomentsBenchOptions> = {
    rows: options.rows ?? 65536,
    dim: options.dim ?? 2048,
    reps: options.reps ?? 3,
    threads: options.threads ?? os.cpus().length,
    seed: options.seed ?? 0,
  };
  const { rows, dim: d, reps, threads, seed } = params;
  ensurePython(['numpy'], ['numpy']);
  const before = os.loadavg()[0];
  // Read by the addon's rayon pool when it starts (the first parallel call below).
  process.env.RAYON_NUM_THREADS = String(threads);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-moments-bench-'));
  try {
    const x = native.randomNormal(rows * d, seed);
    const y = native.randomNormal(rows * d, seed + 1);
    // Half of y's coordinates follow x's (correlation 0.6), so the checked correlations are not all ≈ 0.
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      for (let j = 0; j < d / 2; j++) y[o + j] = 0.6 * x[o + j] + 0.8 * y[o + j];
    }
    const xFile = path.join(work, 'x.npy');
    const yFile = path.join(work, 'y.npy');
    native.writeNpy(xFile, x, [rows, d]);
    native.writeNpy(yFile, y, [rows, d]);
    const pairs: number[] = [];
    for (let k = 0; k < PAIRS; k++) {
      const i = (k * 977 + 13) % d;
      pairs.push(i, k % 2 === 0 && i < d / 2 ? i : (k * 389 + 5) % d);
    }
    const flops = 2 * rows * d * d;
    await native.correlation(x.subarray(0, 2048 * d), y.subarray(0, 2048 * d), 2048, d, d); // warm-up
    const ours: number[] = [];
    const copies: number[] = [];
    const theirs: number[] = [];
    let corr!: Float32Array;
    let peer!: { numpy: string; blas: string; threads: number; times: number[]; corr: number[] };
    for (let r = 0; r < reps; r++) {
      const t0 = process.hrtime.bigint();
      const pending = native.correlation(x, y, rows, d, d);
      copies.push(Number(process.hrtime.bigint() - t0) / 1e9);
      corr = await pending;
      ours.push(Number(process.hrtime.bigint() - t0) / 1e9);
      peer = runPeer('numpy_gemm.py', [xFile, yFile, '--reps', '1', '--threads', String(threads), '--pairs', pairs.join(',')]);
      theirs.push(peer.times[0]);
      process.stderr.write(
        `  rep ${r + 1}/${reps}: ours ${secs(ours[r])} (${(flops / ours[r] / 1e9).toFixed(1)} GFLOP/s), ` +
          `numpy ${secs(theirs[r])} (${(flops / theirs[r] / 1e9).toFixed(1)} GFLOP/s)\n`,
      );
    }
    let corrMaxDiff = 0;
    for (let k = 0; k < PAIRS; k++) {
      const ours_ = corr[pairs[2 * k] * d + pairs[2 * k + 1]];
      corrMaxDiff = Math.max(corrMaxDiff, Math.abs(ours_ - peer.corr[k]));
    }
    const side = (times: number[]): Side => ({ times, median: median(times), gflops: flops / median(times) / 1e9 });
    const o = side(ours);
    const n = side(theirs);
    return {
      name: 'moments',
      params,
      ours: { ...o, copySeconds: copies },
      numpy: { ...n, version: peer.numpy, blas: peer.blas, threads: peer.threads },
      ratio: o.gflops / n.gflops,
      corrMaxDiff,
      loadavg: { before, after: os.loadavg()[0] },
      machine: machine(),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function momentsTable(r: MomentsBenchResult): Table {
  const { rows, dim, threads } = r.params;
  return {
    header: [
      'N x d',
      'threads',
      'ours (CrossMoments::update)',
      "of which the inputs' copy (caller's thread)",
      `numpy ${r.numpy.version} x.T @ y`,
      'ours / numpy',
      'max abs Δcorr',
    ],
    rows: [
      [
        `${rows} x ${dim}`,
        String(threads),
        `${r.ours.gflops.toFixed(1)} GFLOP/s (${secs(r.ours.median)})`,
        r.ours.copySeconds ? secs(median(r.ours.copySeconds)) : '-',
        `${r.numpy.gflops.toFixed(1)} GFLOP/s (${secs(r.numpy.median)})`,
        `${(100 * r.ratio).toFixed(1)}%`,
        r.corrMaxDiff.toExponential(1),
      ],
    ],
  };
}

/** The registry entry (`npm run bench -- moments`). */
export const moments: Experiment<MomentsBenchResult> = {
  summary: 'cross-moment GEMM of CrossMoments::update against numpy float32 x.T @ y (same matrices, threads)',
  flags: '[--rows 65536] [--dim 2048] [--reps 3] [--threads <CPUs>] [--seed 0]',
  options: {
    rows: { type: 'string' },
    dim: { type: 'string' },
    reps: { type: 'string' },
    threads: { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runMomentsBench({
      rows: num(v.rows, '--rows', 65536, { min: 2, max: 2 ** 24, integer: true }),
      dim: num(v.dim, '--dim', 2048, { min: 1, max: 65536, integer: true }),
      reps: num(v.reps, '--reps', 3, { min: 1, max: 100, integer: true }),
      threads: num(v.threads, '--threads', os.cpus().length, { min: 1, max: 1024, integer: true }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    }),
  table: momentsTable,
};
