/**
 * Experiment `ceiling`: the structural ceiling of raw signed matching (the paper's first claim).
 *
 * Synthetic decorrelated coordinates `x ~ N(0, I_d)` and `y = g·x + noise·ε` for a true `Bd` gauge `g` whose
 * positive-sign fraction is `p`. Raw signed matching can only match the positively signed coordinates
 * (a negatively matched pair scores `-ρ`, below any unrelated pair), so its perm accuracy is capped near `p`;
 * sign-marginalized matching removes the cap; permutation-only matching finds the permutation but gets every
 * negative sign wrong (signed accuracy `p`).
 */
import native = require('../../../../dist/native');
import { matchGauge, METHODS, type Method } from '../../../../dist/matching';
import { machine } from '../../../../dist/results';
import { pct, type Table } from '../../../../dist/table';

/** Parameters of the ceiling experiment. */
export interface CeilingOptions {
  /** Number of coordinates. @default 512 */
  d?: number;
  /** Number of samples. @default 8192 */
  samples?: number;
  /** Standard deviation of the noise added in the target chart. @default 0.5 */
  noise?: number;
  /** Positive-sign fractions of the true gauges. @default [0.25, 0.5, 0.75, 0.9, 1] */
  positiveFractions?: number[];
  /** Seed of every random draw. @default 0 */
  seed?: number;
}

/** Recovery of one method against the truth. */
export interface Recovery {
  permAccuracy: number;
  signedAccuracy: number;
}

/** One row: a positive-sign fraction and each method's recovery. */
export interface CeilingRow {
  positiveFraction: number;
  /** Mean |C| of the truly matched pairs, a measure of how hard the instance is. */
  matchedCorrelation: number;
  methods: Record<Method, Recovery>;
}

/** The experiment's result file. */
export interface CeilingResult {
  name: 'ceiling';
  params: Required<CeilingOptions>;
  rows: CeilingRow[];
  machine: Record<string, string | number>;
}

/** Runs the experiment. */
export async function runCeiling(options: CeilingOptions = {}): Promise<CeilingResult> {
  const params: Required<CeilingOptions> = {
    d: options.d ?? 512,
    samples: options.samples ?? 8192,
    noise: options.noise ?? 0.5,
    positiveFractions: options.positiveFractions ?? [0.25, 0.5, 0.75, 0.9, 1],
    seed: options.seed ?? 0,
  };
  const { d, samples, noise, seed } = params;
  const rows: CeilingRow[] = [];
  for (const [k, p] of params.positiveFractions.entries()) {
    const truth = native.Gauge.random(d, { seed: seed + 1000 * k + 1, positiveFraction: p, group: 'Bd' });
    const x = native.randomNormal(samples * d, seed + 1000 * k + 2);
    const y = truth.applyAxis(x, [samples, d], 1);
    const eps = native.randomNormal(samples * d, seed + 1000 * k + 3);
    for (let t = 0; t < y.length; t++) y[t] += noise * eps[t];
    const c = await native.correlation(x, y, samples, d, d);
    const perm = truth.perm;
    let matched = 0;
    for (let i = 0; i < d; i++) matched += Math.abs(c[i * d + perm[i]]);
    const methods = {} as Record<Method, Recovery>;
    for (const method of METHODS) {
      const m = await matchGauge(c, d, { method });
      methods[method] = m.gauge.agreement(truth);
    }
    rows.push({ positiveFraction: p, matchedCorrelation: matched / d, methods });
  }
  return { name: 'ceiling', params, rows, machine: machine() };
}

/** The result as a table: perm accuracy of each method, and signed accuracy. */
export function ceilingTable(r: CeilingResult): Table {
  return {
    header: [
      'p (positive signs)',
      'signed: perm acc',
      'marginalized: perm acc',
      'permutation: perm acc',
      'signed: signed acc',
      'marginalized: signed acc',
      'permutation: signed acc',
    ],
    rows: r.rows.map((row) => [
      row.positiveFraction.toFixed(2),
      pct(row.methods.signed.permAccuracy),
      pct(row.methods.marginalized.permAccuracy),
      pct(row.methods.permutation.permAccuracy),
      pct(row.methods.signed.signedAccuracy),
      pct(row.methods.marginalized.signedAccuracy),
      pct(row.methods.permutation.signedAccuracy),
    ]),
  };
}
