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

/** The merge methods of mergekit that {@link emitMergekit} writes a configuration for. */
export const MERGEKIT_METHODS = ['linear', 'slerp', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs'] as const;
export type MergekitMethod = (typeof MERGEKIT_METHODS)[number];
const NEEDS_BASE: readonly MergekitMethod[] = ['task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs'];

export interface EmitMergekitOptions {
  /** The mergekit `merge_method`. */
  method: MergekitMethod;
  /** B's weight (`t` for slerp). @default 0.5 */
  weight?: number;
  /** The common ancestor in A's chart: the `base_model` of the task-vector methods (required by them). */
  base?: string;
  /** mergekit's output `dtype`. @default 'float32' */
  dtype?: string;
  /** Where `out` will finally be, when it is written somewhere else first (the YAML names paths there). @default out */
  finalDir?: string;
}

/** A YAML scalar: JSON strings and numbers are valid YAML. */
const y = (v: string | number) => JSON.stringify(v);

/**
 * The hand-off to mergekit, which has no alignment step of its own: writes into the new directory `out`
 * `B-in-A/` (checkpoint `b` moved into A's chart by `gauge: B -> A`, exactly as `apply` does) and `mergekit.yaml`,
 * a mergekit configuration that merges A with it by `method` (run `mergekit-yaml out/mergekit.yaml merged/`).
 * Paths in the YAML are absolute. Resolves to the YAML's path.
 */
export async function emitMergekit(a: string, b: string, gauge: Gauge, out: string, options: EmitMergekitOptions): Promise<string> {
  const { method } = options;
  if (!MERGEKIT_METHODS.includes(method)) throw invalidArgument('method', `${JSON.stringify(method)} is not one of ${MERGEKIT_METHODS.join(', ')}`);
  const weight = options.weight ?? 0.5;
  if (!Number.isFinite(weight)) throw invalidArgument('weight', `${weight} is not a finite number`);
  if (NEEDS_BASE.includes(method) && !options.base) throw invalidArgument('base', `merge method ${method} needs the common ancestor in A's chart (--base)`);
  const fs = await import('node:fs');
  const path = await import('node:path');
  fs.mkdirSync(out);
  const moved = path.join(out, 'B-in-A');
  await native.applyGauge(b, gauge, moved);
  const A = path.resolve(a);
  const B = path.resolve(options.finalDir ?? out, 'B-in-A');
  const lines = [`# B (${path.resolve(b)}) moved into A's chart by the gauge B -> A, then merged with A by mergekit.`, `merge_method: ${method}`];
  if (method === 'slerp') {
    lines.push(`base_model: ${y(A)}`, 'models:', `  - model: ${y(A)}`, `  - model: ${y(B)}`, 'parameters:', `  t: ${weight}`);
  } else if (method === 'linear') {
    lines.push('models:', `  - model: ${y(A)}`, '    parameters:', `      weight: ${1 - weight}`, `  - model: ${y(B)}`, '    parameters:', `      weight: ${weight}`);
  } else {
    lines.push(`base_model: ${y(path.resolve(options.base!))}`, 'models:', `  - model: ${y(A)}`, '    parameters:', '      weight: 1.0', `  - model: ${y(B)}`, '    parameters:', `      weight: ${weight}`);
    if (method !== 'task_arithmetic') lines.push('parameters:', '  density: 0.5');
  }
  lines.push(`dtype: ${options.dtype ?? 'float32'}`);
  const yaml = path.join(out, 'mergekit.yaml');
  fs.writeFileSync(yaml, lines.join('\n') + '\n');
  return yaml;
}
