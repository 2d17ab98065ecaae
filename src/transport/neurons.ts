/**
 * Neuron sets and attribution lists on residual coordinates: `(i, s) -> (perm[i], sign[i]·s)` (GAUGE.md §4).
 */
import { invalidArgument } from '../errors';
import type { Gauge } from '../gauge';
import { readJson, writeAtomic } from '../files';
import type { TransportFileOptions } from './options';

/** One entry of a neuron set or attribution list: a residual coordinate, with an optional score and sign. */
export interface CoordinateEntry {
  index: number;
  score?: number;
  sign?: 1 | -1;
  [key: string]: unknown;
}

/** Moves entries: `index -> perm[index]`, `score -> sign[index]·score`, `sign -> sign[index]·sign`. */
export function moveEntries(gauge: Gauge, entries: CoordinateEntry[], where = 'entries'): CoordinateEntry[] {
  const perm = gauge.perm;
  const sign = gauge.sign;
  return entries.map((e, k) => {
    const i = e.index;
    if (!(Number.isInteger(i) && i >= 0 && i < gauge.d)) {
      throw invalidArgument(`${where}[${k}].index`, `${JSON.stringify(i)} is not a coordinate 0..${gauge.d - 1} of the residual stream`);
    }
    const out: CoordinateEntry = { ...e, index: perm[i] };
    if (e.score !== undefined) {
      if (typeof e.score !== 'number') throw invalidArgument(`${where}[${k}].score`, 'is not a number');
      out.score = sign[i] * e.score;
    }
    if (e.sign !== undefined) {
      if (e.sign !== 1 && e.sign !== -1) throw invalidArgument(`${where}[${k}].sign`, 'is not 1 or -1');
      out.sign = (sign[i] * e.sign) as 1 | -1;
    }
    return out;
  });
}

/**
 * Moves a neuron set or attribution list (JSON) by `gauge`: an array of entries `{index, score?, sign?, …}`, an
 * array of indices, or an object with such an array under `entries` (other fields kept). Indices must be residual
 * coordinates (`0..d-1`). Resolves to the number of entries moved.
 */
export async function transportNeurons(input: string, gauge: Gauge, out: string, options: TransportFileOptions = {}): Promise<number> {
  const value = readJson(input);
  const asEntries = (list: unknown, where: string): { entries: CoordinateEntry[]; bare: boolean } => {
    if (!Array.isArray(list)) throw invalidArgument(where, 'is not an array of entries');
    const bare = list.every((x) => typeof x === 'number');
    const entries = bare
      ? (list as number[]).map((index) => ({ index }))
      : (list as unknown[]).map((x, k) => {
          if (typeof x !== 'object' || x === null || !('index' in x)) throw invalidArgument(`${where}[${k}]`, 'has no index');
          return x as CoordinateEntry;
        });
    return { entries, bare };
  };
  let moved: unknown;
  let count: number;
  if (Array.isArray(value)) {
    const { entries, bare } = asEntries(value, input);
    const m = moveEntries(gauge, entries, input);
    moved = bare ? m.map((e) => e.index) : m;
    count = m.length;
  } else if (typeof value === 'object' && value !== null && 'entries' in value) {
    const { entries, bare } = asEntries((value as { entries: unknown }).entries, `${input}: entries`);
    const m = moveEntries(gauge, entries, `${input}: entries`);
    moved = { ...(value as object), entries: bare ? m.map((e) => e.index) : m };
    count = m.length;
  } else {
    throw invalidArgument(input, 'is neither an array of entries nor an object with "entries"');
  }
  writeAtomic(out, JSON.stringify(moved, null, 2) + '\n', options.overwrite);
  return count;
}
