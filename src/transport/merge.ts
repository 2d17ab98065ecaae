/**
 * Merges across charts (GAUGE.md §4): `θ_B` is moved into `A`'s chart by `g: B -> A` (every tensor by its role),
 * then averaged with `θ_A` (`(1 - α) θ_A + α · g·θ_B`) or added as a task vector against a base in `A`'s chart
 * (`θ_A + α (g·θ_B - θ_base)`).
 */
import native = require('../native');
import { invalidArgument } from '../errors';
import type { Gauge } from '../gauge';

export interface MergeOptions {
  /** `α`, the weight of B. @default 0.5 */
  weight?: number;
  /** A base checkpoint in A's chart (the common ancestor): task arithmetic instead of an average. */
  base?: string;
}

/** Writes the merge of checkpoint `b` into the chart of `a` with `gauge: B -> A` as the new directory `out`. */
export function mergeCheckpoints(a: string, b: string, gauge: Gauge, out: string, options: MergeOptions = {}): Promise<native.MergeResult> {
  if (options.weight !== undefined && !Number.isFinite(options.weight)) {
    throw invalidArgument('weight', `${options.weight} is not a finite number`);
  }
  return native.mergeCheckpoints(a, b, gauge, out, options);
}
