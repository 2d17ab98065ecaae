/**
 * What every probe reader produces, and the checks they share: a probe is a flat sequence of token ids, each
 * below the model's vocabulary size, and never empty.
 */
import { GaugeTransportError, invalidArgument } from '../errors';

/** A model's tokenizer, as far as probes need it (the addon's `Tokenizer` fits). */
export interface ProbeTokenizer {
  /** Token ids of `text`; `addSpecialTokens` adds the model's BOS and similar. */
  encode(text: string, addSpecialTokens?: boolean): ArrayLike<number>;
}

/** Where a probe came from. */
export type ProbeFormat = 'text' | 'json' | 'npy' | 'safetensors' | 'builtin';

/** A probe: token ids to run through both checkpoints. */
export interface Probe {
  /** The ids, flat, each below the vocabulary size. */
  ids: Uint32Array;
  /** The file (`file.safetensors:tensor` for a tensor), or `builtin:<kind>`. */
  source: string;
  format: ProbeFormat;
  /** The shape the ids had in the file (`.npy`, safetensors, JSON array of arrays), before flattening. */
  shape?: number[];
}

/** Throws `INVALID_ARGUMENT` unless `vocab` is a usable vocabulary size. */
export function checkVocab(vocab: number): void {
  if (!Number.isInteger(vocab) || vocab < 1 || vocab > 2 ** 32) {
    throw invalidArgument('vocab', `${vocab} is not a vocabulary size (an integer in [1, 2^32])`);
  }
}

/** The `EMPTY_INPUT` error of a probe with no ids. */
export function emptyProbe(source: string, detail: string): GaugeTransportError {
  return new GaugeTransportError('EMPTY_INPUT', `${source}: the probe is empty (${detail}); it needs at least one token id`);
}

/** ` (index [i, j, …])` of flat position `pos` in a C-order array of `shape`, or '' for flat arrays. */
export function indexOf(pos: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length < 2) return '';
  const idx = new Array<number>(shape.length);
  let rest = pos;
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = rest % shape[k];
    rest = Math.floor(rest / shape[k]);
  }
  return ` (index [${idx.join(', ')}])`;
}

/**
 * The `INVALID_ARGUMENT` error of an id outside `[0, vocab)` (or not an integer) at flat position `pos`; `where`
 * locates it further (see {@link indexOf}).
 */
export function badId(source: string, pos: number, value: unknown, vocab: number, where = ''): GaugeTransportError {
  const shown = typeof value === 'bigint' ? value.toString() : JSON.stringify(value) ?? String(value);
  const integer = typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value));
  const why = integer ? `is outside the vocabulary [0, ${vocab})` : 'is not a token id (a non-negative integer)';
  return invalidArgument(source, `id ${shown} at position ${pos}${where} ${why}`);
}

/**
 * Copies `count` ids, read by `get`, into a `Uint32Array`, checking each against `vocab`; the first bad one
 * throws, naming `source`, its position and its value.
 */
export function collectIds(
  count: number,
  get: (i: number) => unknown,
  vocab: number,
  source: string,
  shape?: readonly number[],
): Uint32Array {
  if (count === 0) throw emptyProbe(source, shape ? `shape [${shape.join(', ')}]` : 'no ids');
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const v = get(i);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocab) throw badId(source, i, v, vocab, indexOf(i, shape));
    out[i] = v;
  }
  return out;
}
