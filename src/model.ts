/**
 * Models for forward passes (candle, on the CPU unless `device` names an accelerator): logits and the residual-stream hidden states of GAUGE.md §3, off
 * the event loop.
 *
 * Sites are named `h_0` (the embeddings output) to `h_L` (after the last block) and `final_norm` (the final norm's
 * output, which the head reads).
 */
import native = require('./native');

/** A model loaded with {@link loadModel}. */
export type Model = native.Model;
export type { ForwardOptions, ForwardResult, HiddenState, LoadOptions, RotateOptions } from '../index';

/** A residual-stream site: `h_0` … `h_L`, or `final_norm`. */
export type Site = `h_${number}` | 'final_norm';

/** Loads a Hugging Face checkpoint directory (or a GGUF file) for forward passes, on `options.device`. */
export function loadModel(path: string, options?: native.LoadOptions): Promise<Model> {
  return native.Model.load(path, options);
}

/** Every site of a model with `layers` blocks: `h_0` … `h_L`, then `final_norm`. */
export function allSites(layers: number): Site[] {
  return [...Array.from({ length: layers + 1 }, (_, l) => `h_${l}` as Site), 'final_norm'];
}

/**
 * Writes `model` with its residual stream rotated by a seeded random orthogonal matrix into `out`. Not a
 * symmetry of models with per-channel norm gains (the result computes a different function): `force: true` is
 * required. For experiments.
 */
export const rotateCheckpoint = native.rotateCheckpoint;

/** Converts a Llama GGUF file into a Hugging Face directory (F32 safetensors, config, tokenizer). */
export const convertGguf = native.convertGguf;
