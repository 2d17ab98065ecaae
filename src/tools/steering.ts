/**
 * Steering vectors and their effect (GAUGE.md §6).
 *
 * A steering vector for a contrast (positive against negative prompts) is the difference of the mean residual
 * state at a site: each prompt's hidden states are averaged over its positions, then over prompts. Its effect on a
 * model is the mean, over evaluation prompts, of the change (steered minus unsteered) of the logit difference
 * `mean(logits[positive tokens]) - mean(logits[negative tokens])` at the last position, with `scale · v` added
 * to every position at the site. Preservation of a transported vector is `effect_B(v') / effect_A(v)`.
 */
import native = require('../native');
import { invalidArgument } from '../errors';
import type { Model, Site } from '../model';

/**
 * Mean residual state at `site` of each prompt (over its positions), averaged over the prompts. The prompts run in
 * one block-major pass (`Model.siteStates`), so a streamed model reads each block it needs once.
 */
export async function meanResidual(model: Model, prompts: Uint32Array[], site: Site): Promise<Float32Array> {
  if (prompts.length === 0) throw invalidArgument('prompts', 'is empty');
  const d = model.d;
  const { ids: all, lengths } = concat(prompts);
  // One block-major pass over every prompt, each its own sequence (batch 1: the values of one forward each).
  const [h] = await model.siteStates(all, [site], { lengths, batch: 1 });
  const sum = new Float64Array(d);
  let row = 0;
  for (const seq of lengths) {
    for (let t = 0; t < seq; t++, row++) for (let j = 0; j < d; j++) sum[j] += h[row * d + j] / seq;
  }
  return Float32Array.from(sum, (s) => s / prompts.length);
}

/** `mean(positive prompts) - mean(negative prompts)` at `site`. */
export async function steeringVector(model: Model, positive: Uint32Array[], negative: Uint32Array[], site: Site): Promise<Float32Array> {
  const p = await meanResidual(model, positive, site);
  const n = await meanResidual(model, negative, site);
  return p.map((x, j) => x - n[j]);
}

/** The token sets whose logit difference measures a behaviour. */
export interface LogitContrast {
  positive: number[];
  negative: number[];
}

/** `mean(logits[positive]) - mean(logits[negative])` of a `[vocab]` row. */
function logitDiff(logits: Float32Array, offset: number, c: LogitContrast): number {
  const mean = (ids: number[]) => ids.reduce((s, i) => s + logits[offset + i], 0) / ids.length;
  return mean(c.positive) - mean(c.negative);
}

export interface SteeringEffectOptions {
  /** Multiplier of the vector. @default 1 */
  scale?: number;
  /** The unsteered mean logit difference on these prompts ({@link logitContrast}), when computed already. */
  unsteered?: number;
}

function checkContrast(model: Model, prompts: Uint32Array[], contrast: LogitContrast): void {
  if (prompts.length === 0) throw invalidArgument('prompts', 'is empty');
  if (contrast.positive.length === 0 || contrast.negative.length === 0) {
    throw invalidArgument('contrast', 'needs at least one positive and one negative token');
  }
  for (const id of [...contrast.positive, ...contrast.negative]) {
    if (!(Number.isInteger(id) && id >= 0 && id < model.vocab)) throw invalidArgument('contrast', `token ${id} is outside the vocabulary of ${model.vocab}`);
  }
}

/**
 * The mean over `prompts` of the logit difference `contrast` at the last position, optionally with `steer`. The
 * prompts run in one block-major pass (`Model.lastLogits`), so a streamed model reads each block once.
 */
export async function logitContrast(model: Model, prompts: Uint32Array[], contrast: LogitContrast, steer?: native.SteerOptions): Promise<number> {
  checkContrast(model, prompts, contrast);
  const { ids, lengths } = concat(prompts);
  const logits = await model.lastLogits(ids, { lengths, batch: 1, ...(steer ? { steer } : {}) });
  let sum = 0;
  for (let k = 0; k < prompts.length; k++) sum += logitDiff(logits, k * model.vocab, contrast);
  return sum / prompts.length;
}

/** `prompts` end to end, with their lengths; an empty prompt is refused by its index. */
function concat(prompts: Uint32Array[]): { ids: Uint32Array; lengths: number[] } {
  const lengths = prompts.map((ids, k) => {
    if (ids.length === 0) throw invalidArgument(`prompts[${k}]`, 'has no tokens');
    return ids.length;
  });
  const ids = new Uint32Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const p of prompts) {
    ids.set(p, at);
    at += p.length;
  }
  return { ids, lengths };
}

/**
 * The effect of adding `scale · vector` at `site` on the logit difference `contrast`, averaged over `prompts`
 * (see the module docs), with the unsteered and steered means.
 */
export async function steeringEffect(
  model: Model,
  prompts: Uint32Array[],
  vector: Float32Array,
  site: Site,
  contrast: LogitContrast,
  options: SteeringEffectOptions = {},
): Promise<{ effect: number; unsteered: number; steered: number }> {
  checkContrast(model, prompts, contrast);
  const unsteered = options.unsteered ?? (await logitContrast(model, prompts, contrast));
  const steered = await logitContrast(model, prompts, contrast, { site, vector, scale: options.scale ?? 1 });
  return { effect: steered - unsteered, unsteered, steered };
}
