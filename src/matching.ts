/**
 * Gauge estimation from a correlation matrix (GAUGE.md §5).
 *
 * `C[i, j] = corr(h_A[:, i], h_B[:, j])`, row-major `d x d`; the estimate maps chart A to chart B.
 * - `marginalized`: maximise Σ|C[i, π(i)]|, then `sign[i] = sign(C[i, π(i)])` (recovers signed permutations);
 * - `signed`: maximise ΣC[i, π(i)] (capped at the positive-sign fraction of the true gauge);
 * - `permutation`: the marginalized permutation with all signs +1 (what permutation-only tools recover).
 */
import native = require('./native');
import { throwIfAborted } from './errors';
import type { Solver } from './assignment';

/** How signs enter the matching. */
export type Method = 'marginalized' | 'signed' | 'permutation';

/** Every method, in the order reports list them. */
export const METHODS: readonly Method[] = ['signed', 'marginalized', 'permutation'];

/** Options of {@link matchGauge}. */
export interface MatchOptions {
  /** @default 'marginalized' */
  method?: Method;
  /** @default 'jv' */
  solver?: Solver;
  /** Aborts the match, also while it runs; the Promise rejects with code `ABORTED`. */
  signal?: AbortSignal;
  /** Draws of the null of the confidence (B's coordinates shuffled; 0 to 1000, see `reliability`). @default 0 */
  nullDraws?: number;
}

export type MatchResult = native.MatchResult;

/** Estimates the gauge A -> B off the event loop. */
export async function matchGauge(c: Float32Array, d: number, options: MatchOptions = {}): Promise<MatchResult> {
  throwIfAborted(options.signal, 'matchGauge');
  return native.matchGauge(c, d, { method: options.method, solver: options.solver, nullDraws: options.nullDraws }, options.signal);
}

/** Estimates the gauge A -> B on the calling thread. */
export function matchGaugeSync(c: Float32Array, d: number, options: Omit<MatchOptions, 'signal'> = {}): MatchResult {
  return native.matchGaugeSync(c, d, { method: options.method, solver: options.solver, nullDraws: options.nullDraws });
}
