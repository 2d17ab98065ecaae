/**
 * Residual activations of one model at one site, for the tools that are fitted or measured on them (SAEs,
 * steering vectors, attributions): probe ids cut into sequences of `seq` tokens, run `batch` sequences per pass,
 * returned row-major `[tokens, d]` (float32). The pass stops after the block the site needs.
 */
import { invalidArgument } from '../errors';
import type { Model, Site } from '../model';

export interface ActivationOptions {
  /** Tokens per sequence (the ids are cut into rows of this length; a shorter tail is dropped). @default 64 */
  seq?: number;
  /** Sequences per forward pass. @default 8 */
  batch?: number;
}

/** Activations `[rows · seq, d]` of `model` at `site` on `ids`; see the module docs. */
export async function siteActivations(model: Model, ids: Uint32Array, site: Site, options: ActivationOptions = {}): Promise<Float32Array> {
  const seq = options.seq ?? 64;
  const batch = options.batch ?? 8;
  if (!(Number.isInteger(seq) && seq >= 1)) throw invalidArgument('seq', `${seq} is not a whole number >= 1`);
  if (!(Number.isInteger(batch) && batch >= 1)) throw invalidArgument('batch', `${batch} is not a whole number >= 1`);
  const rows = Math.floor(ids.length / seq);
  if (rows === 0) throw invalidArgument('ids', `holds ${ids.length} ids, fewer than one sequence of ${seq}`);
  const d = model.d;
  const out = new Float32Array(rows * seq * d);
  for (let r = 0; r < rows; r += batch) {
    const n = Math.min(batch, rows - r);
    const res = await model.forward(ids.subarray(r * seq, (r + n) * seq), { batch: n, sites: [site], logits: 'none' });
    out.set(res.hidden[0].values, r * seq * d);
  }
  return out;
}

/** The mean over rows of `[n, d]` activations, in float64 sums. */
export function meanRows(x: Float32Array, d: number): Float32Array {
  const n = x.length / d;
  const sum = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) sum[j] += x[r * d + j];
  return Float32Array.from(sum, (s) => s / n);
}
