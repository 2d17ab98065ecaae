/**
 * Residual activations of one model at one site, for the tools that are fitted or measured on them (SAEs,
 * steering vectors, attributions): probe ids cut into sequences of `seq` tokens, returned row-major `[tokens, d]`
 * (float32). The probe runs block-major (`Model.siteStates`), `batch` sequences at a time through each block, and
 * stops after the block the site needs: a streamed model reads each of those blocks once per call, not once per
 * batch.
 */
import { invalidArgument } from '../errors';
import type { Model, Site } from '../model';

export interface ActivationOptions {
  /** Tokens per sequence (the ids are cut into rows of this length; a shorter tail is dropped). @default 64 */
  seq?: number;
  /** Sequences run through a block at a time. @default 8 */
  batch?: number;
  /** Aborts the pass between blocks (rejects with `ABORTED`). */
  signal?: AbortSignal;
}

/** Activations `[rows · seq, d]` of `model` at `site` on `ids`; see the module docs. */
export async function siteActivations(model: Model, ids: Uint32Array, site: Site, options: ActivationOptions = {}): Promise<Float32Array> {
  const seq = options.seq ?? 64;
  const batch = options.batch ?? 8;
  if (!(Number.isInteger(seq) && seq >= 1)) throw invalidArgument('seq', `${seq} is not a whole number >= 1`);
  if (!(Number.isInteger(batch) && batch >= 1 && batch < 2 ** 32)) throw invalidArgument('batch', `${batch} is not a whole number from 1 to 2^32 - 1`);
  const rows = Math.floor(ids.length / seq);
  if (rows === 0) throw invalidArgument('ids', `holds ${ids.length} ids, fewer than one sequence of ${seq}`);
  const lengths = new Array<number>(rows).fill(seq);
  return (await model.siteStates(ids.subarray(0, rows * seq), [site], { lengths, batch }, options.signal))[0];
}

/** The mean over rows of `[n, d]` activations, in float64 sums. */
export function meanRows(x: Float32Array, d: number): Float32Array {
  const n = x.length / d;
  const sum = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) sum[j] += x[r * d + j];
  return Float32Array.from(sum, (s) => s / n);
}
