/**
 * Sparse autoencoders in the SAELens layout: `trainSae` fits a `standard` SAE (ReLU features, L1 penalty weighted
 * by decoder norms, Adam) to residual activations and writes `cfg.json` + `sae_weights.safetensors`;
 * `evaluateSae` measures any `standard` or `jumprelu` SAELens SAE on activations: NMSE
 * `Σ‖x - x̂‖² / Σ‖x - mean(x)‖²` (GAUGE.md §6), L0 and dead features. Both run off the event loop.
 */
import native = require('../native');
import { invalidArgument } from '../errors';

export type { TrainSaeOptions, TrainSaeResult, SaeMetrics } from '../../index';

/** Fits an SAE to `activations` (row-major `[n, d]`) and writes it to the new directory `out`. */
export function trainSae(activations: Float32Array, d: number, out: string, options?: native.TrainSaeOptions): Promise<native.TrainSaeResult> {
  if (!(Number.isInteger(d) && d >= 1)) throw invalidArgument('d', `${d} is not a whole number >= 1`);
  return native.trainSae(activations, d, out, options);
}

/** The reconstruction metrics of the SAE directory `dir` on `activations` (row-major `[n, d_in]`). */
export function evaluateSae(dir: string, activations: Float32Array): Promise<native.SaeMetrics> {
  return native.evaluateSae(dir, activations);
}
