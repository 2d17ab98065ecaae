/**
 * SAEs (GAUGE.md §4) in the layouts users have, found by the weights file in the directory:
 *
 * - SAELens: `cfg.json` + `sae_weights.safetensors` (`W_enc [d, L]`, `b_enc`, `W_dec [L, d]`, `b_dec`, extras);
 * - EleutherAI sparsify: `cfg.json` + `sae.safetensors` (`encoder.weight [L, d]`, `encoder.bias`, `W_dec [L, d]`,
 *   `b_dec`);
 * - Gemma Scope: `params.safetensors` (`W_enc`/`w_enc [d, L]`, `W_dec`/`w_dec [L, d]`, `b_enc`, `b_dec`,
 *   `threshold`), or the same arrays in `params.npz` as Gemma Scope releases them (`numpy.savez`, float32).
 *
 * The encoder's residual axis, the decoder's residual axis and `b_dec` move signed; per-feature tensors stay. The
 * output keeps the input's layout and other files.
 */
import native = require('../native');
import type { Gauge } from '../gauge';
import type { TransportFileOptions } from './options';

export interface TransportSaeOptions extends TransportFileOptions {
  /** Transport an SAE whose `hook_name` is not known to be a residual-stream site. @default false */
  allowUnknownSite?: boolean;
}

/** Moves the SAE directory `input` by `gauge` into the new directory `out`; see the module docs. */
export function transportSae(input: string, gauge: Gauge, out: string, options: TransportSaeOptions = {}): Promise<native.TransportSaeResult> {
  return native.transportSae(input, gauge, out, options);
}
