/**
 * Transport of tools by a gauge `g: A -> B` (GAUGE.md §4): what was made for checkpoint A, rewritten for B.
 *
 * - steering vectors: `v' = g·v` (safetensors, `.npy` `[d]` or `[k, d]`, JSON);
 * - SAEs (SAELens directory): `W_enc` rows, `W_dec` columns and `b_dec` signed, per-feature tensors unchanged;
 * - neuron sets and attribution lists on residual coordinates (JSON): `(i, s) -> (perm[i], sign[i]·s)`;
 * - AdamW state (GAUGE.md §4 layout): `exp_avg` like its parameter, `exp_avg_sq` under `|g|`;
 * - merges: `θ_B -> apply(g_{B->A}, θ_B)`, then an average or task arithmetic with `θ_A`.
 *
 * Only residual-chart objects move with the residual gauge: vectors whose length is not d, and SAEs on attention
 * heads or MLP neurons, are refused with the reason. Outputs are written atomically and never over an existing
 * path unless `overwrite`.
 */
export type { TransportFileOptions } from './options';
export { transportSteering, moveVector } from './steering';
export { transportNeurons, moveEntries, SCORE_KINDS } from './neurons';
export type { ScoreKind, TransportNeuronsOptions } from './neurons';
export type { CoordinateEntry } from './neurons';
export { transportSae } from './sae';
export type { TransportSaeOptions } from './sae';
export { transportOptimizer, type TransportOptimizerOptions } from './optimizer';
export { mergeCheckpoints, emitMergekit, MERGEKIT_METHODS } from './merge';
export type { MergeOptions, EmitMergekitOptions, MergekitMethod } from './merge';
