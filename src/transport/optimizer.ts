/** AdamW state in the GAUGE.md §4 layout: `exp_avg` moves like its parameter, `exp_avg_sq` under `|g|`. */
import native = require('../native');
import type { Gauge } from '../gauge';
import { invalidArgument } from '../errors';
import type { TransportFileOptions } from './options';

/** Options of {@link transportOptimizer}. */
export interface TransportOptimizerOptions extends TransportFileOptions {
  /** The checkpoint whose run saved the state: its tensor roles say how each moment moves. */
  model: string;
}

/**
 * Moves the AdamW state `input` by `gauge` to `out`, reading the tensor roles from `options.model` (the checkpoint
 * of the run that saved it); see the module docs.
 */
export async function transportOptimizer(input: string, gauge: Gauge, out: string, options: TransportOptimizerOptions): Promise<native.TransportOptimizerResult> {
  if (typeof options?.model !== 'string') throw invalidArgument('transportOptimizer', 'options.model (the checkpoint the state belongs to) is required');
  return native.transportOptimizer(input, gauge, options.model, out, options.overwrite);
}
