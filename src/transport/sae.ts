/** SAEs in the SAELens layout: `W_enc` rows, `W_dec` columns and `b_dec` move signed (GAUGE.md §4). */
import native = require('../native');
import type { Gauge } from '../gauge';
import type { TransportFileOptions } from './options';

export interface TransportSaeOptions extends TransportFileOptions {
  /** Transport an SAE whose `hook_name` is not known to be a residual-stream site. @default false */
  allowUnknownSite?: boolean;
}

/** Moves the SAELens SAE directory `input` by `gauge` into the new directory `out`; see the module docs. */
export function transportSae(input: string, gauge: Gauge, out: string, options: TransportSaeOptions = {}): Promise<native.TransportSaeResult> {
  return native.transportSae(input, gauge, out, options);
}
