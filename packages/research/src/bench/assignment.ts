/**
 * Benchmark `assignment`: our JV solver, the `pathfinding` reference and scipy's `linear_sum_assignment`, on the
 * same seeded matrices in one run (scipy reads them from .npy files written here).
 *
 * Matrices: uniform [0, 1), and `|0.8·P + N(0, σ²)|` for a random permutation P (near-permutation, the shape of
 * a correlation matrix between charts related by a gauge) with σ in {0.05, 0.2}.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { machine } from '../../../../dist/results';
import { secs, type Table } from '../../../../dist/table';
import { ensurePython, runPeer } from './python';
import { median, time } from './stats';

/** Parameters of the benchmark. */
export interface AssignmentBenchOptions {
  /** @default [512, 1024, 2048, 4096] */
  sizes?: number[];
  /** Repetitions per solver and matrix; the median is reported. @default 3 */
  reps?: number;
  /** Largest n given to the O(n³) `pathfinding` reference. @default 4096 */
  pathfindingMaxN?: number;
  /** @default 0 */
  seed?: number;
}

/** One solver's timings on one matrix. */
export interface Timing {
  times: number[];
  median: number;
  objective: number;
}

/** One matrix. */
export interface AssignmentBenchRow {
  n: number;
  kind: string;
  jv: Timing & { path: string; dualGap: number };
  /** The dense JV solver alone (`jv-dense`), to show what the sparse candidate graph buys. */
  jvDense: Timing;
  pathfinding: Timing | null;
  scipy: Timing;
  /** scipy's median time over ours: > 1 means we are faster. */
  speedupVsScipy: number;
  /** |objective(jv) - objective(scipy)| / max(1, |objective(scipy)|). */
  objectiveRelDiff: number;
}

export interface AssignmentBenchResult {
  name: 'assignment';
  params: Required<AssignmentBenchOptions>;
  peer: { scipy: string; numpy: string };
  rows: AssignmentBenchRow[];
  machine: Record<string, string | number>;
}

const KINDS: { kind: string; sigma: number | null }[] = [
  { kind: 'uniform', sigma: null },
  { kind: 'near-perm σ=0.05', sigma: 0.05 },
  { kind: 'near-perm σ=0.2', sigma: 0.2 },
];

/** A seeded n x n matrix of the given kind. */
export function benchMatrix(n: number, sigma: number | null, seed: number): Float32Array {
  if (sigma === null) return native.randomUniform(n * n, seed);
  const perm = native.Gauge.random(n, { seed, group: 'Sd' }).perm;
  const m = native.randomNormal(n * n, seed + 1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const k = i * n + j;
      m[k] = Math.abs(sigma * m[k] + (perm[i] === j ? 0.8 : 0));
    }
  }
  return m;
}

export async function runAssignmentBench(options: AssignmentBenchOptions = {}): Promise<AssignmentBenchResult> {
  const params: Required<AssignmentBenchOptions> = {
    sizes: options.sizes ?? [512, 1024, 2048, 4096],
    reps: options.reps ?? 3,
    pathfindingMaxN: options.pathfindingMaxN ?? 4096,
    seed: options.seed ?? 0,
  };
  ensurePython(['numpy', 'scipy'], ['numpy', 'scipy']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gauge-transport-bench-'));
  try {
    const cases: Omit<AssignmentBenchRow, 'scipy' | 'speedupVsScipy' | 'objectiveRelDiff'>[] = [];
    const files: string[] = [];
    for (const n of params.sizes) {
      for (const [k, { kind, sigma }] of KINDS.entries()) {
        const m = benchMatrix(n, sigma, params.seed + 100 * n + 10 * k);
        const file = path.join(dir, `${n}-${k}.npy`);
        native.writeNpy(file, m, [n, n]);
        const jv = time(params.reps, () => native.solveAssignmentSync(m, n, n, { solver: 'jv' }));
        const r = jv.result;
        const dense = time(params.reps, () => native.solveAssignmentSync(m, n, n, { solver: 'jv-dense' }));
        process.stderr.write(`  n=${n} ${kind}: jv ${secs(median(jv.times))} (${r.path}), jv-dense ${secs(median(dense.times))}\n`);
        let pathfinding: Timing | null = null;
        if (n <= params.pathfindingMaxN) {
          const pf = time(params.reps, () => native.solveAssignmentSync(m, n, n, { solver: 'pathfinding' }));
          pathfinding = { times: pf.times, median: median(pf.times), objective: pf.result.objective };
          process.stderr.write(`  n=${n} ${kind}: pathfinding ${secs(pathfinding.median)}\n`);
        }
        files.push(file);
        cases.push({
          n,
          kind,
          jv: {
            times: jv.times,
            median: median(jv.times),
            objective: r.objective,
            path: r.path,
            dualGap: r.dualBound - r.objective,
          },
          jvDense: { times: dense.times, median: median(dense.times), objective: dense.result.objective },
          pathfinding,
        });
      }
    }
    process.stderr.write('  scipy.optimize.linear_sum_assignment...\n');
    const peer = runPeer<{ scipy: string; numpy: string; results: Record<string, { times: number[]; objective: number }> }>(
      'scipy_lsa.py',
      ['--reps', String(params.reps), ...files],
    );
    const rows: AssignmentBenchRow[] = cases.map((c, k) => {
      const s = peer.results[files[k]];
      const scipy = { times: s.times, median: median(s.times), objective: s.objective };
      return {
        ...c,
        scipy,
        speedupVsScipy: scipy.median / c.jv.median,
        objectiveRelDiff: Math.abs(c.jv.objective - scipy.objective) / Math.max(1, Math.abs(scipy.objective)),
      };
    });
    return { name: 'assignment', params, peer: { scipy: peer.scipy, numpy: peer.numpy }, rows, machine: machine() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function assignmentTable(r: AssignmentBenchResult): Table {
  return {
    header: [
      'n',
      'matrix',
      'ours (jv)',
      'path',
      'dense JV',
      'pathfinding',
      `scipy ${r.peer.scipy}`,
      'speed-up vs scipy',
      'objective rel. diff',
    ],
    rows: r.rows.map((row) => [
      String(row.n),
      row.kind,
      secs(row.jv.median),
      row.jv.path,
      secs(row.jvDense.median),
      row.pathfinding ? secs(row.pathfinding.median) : 'skipped',
      secs(row.scipy.median),
      `${row.speedupVsScipy.toFixed(2)}x`,
      row.objectiveRelDiff.toExponential(1),
    ]),
  };
}
