/** AdamW state in the GAUGE.md §4 layout: `exp_avg` moves like its parameter, `exp_avg_sq` under `|g|`. */
import native = require('../native');
import type { Gauge } from '../gauge';
import type { TransportFileOptions } from './options';

/** Moves the AdamW state `input` of a run of checkpoint `model` by `gauge` to `out`; see the module docs. */
export function transportOptimizer(
  input: string,
  gauge: Gauge,
  model: string,
  out: string,
  options: TransportFileOptions = {},
): Promise<native.TransportOptimizerResult> {
  return native.transportOptimizer(input, gauge, model, out, options.overwrite);
}
