/**
 * Neuron sets and attribution lists on residual coordinates (GAUGE.md §4): the index moves `i -> perm[i]`, and a
 * score moves by its kind, which the file states (`score_kind`):
 *
 * - `linear`: linear in the coordinate (an activation, a probe or steering weight, a signed direction), so
 *   `s -> sign[i]·s`;
 * - `invariant`: a product of two residual quantities (direct logit attribution, gradient × activation,
 *   `|activation|`), unchanged by the gauge: `s -> s`.
 *
 * A score whose kind is not stated is refused with the reason, never guessed. A per-entry `sign` is linear.
 */
import { invalidArgument } from '../errors';
import type { Gauge } from '../gauge';
import { readJson, writeAtomic } from '../files';
import type { TransportFileOptions } from './options';

/** How a score moves with the gauge (see the module docs). */
export type ScoreKind = 'linear' | 'invariant';
export const SCORE_KINDS: readonly ScoreKind[] = ['linear', 'invariant'];

/** One entry of a neuron set or attribution list: a residual coordinate, with an optional score and sign. */
export interface CoordinateEntry {
  index: number;
  score?: number;
  /** The kind of this entry's score, when it differs from the list's. */
  score_kind?: ScoreKind;
  sign?: 1 | -1;
  [key: string]: unknown;
}

const UNSTATED =
  'has a score but no score_kind: say whether the score is "linear" in the coordinate (an activation, a probe or ' +
  'steering weight: it takes the sign of the gauge) or "invariant" (a product of two residual quantities such as ' +
  'direct logit attribution or gradient x activation: unchanged), in the file or with --score-kind (GAUGE.md §4)';

/**
 * Moves entries: `index -> perm[index]`, a score by its kind (`scoreKind` for the list, or the entry's own
 * `score_kind`), `sign -> sign[index]·sign`. An entry with a score and no kind is refused.
 */
export function moveEntries(gauge: Gauge, entries: CoordinateEntry[], where = 'entries', scoreKind?: ScoreKind): CoordinateEntry[] {
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
      const kind = e.score_kind ?? scoreKind;
      if (kind === undefined) throw invalidArgument(`${where}[${k}]`, UNSTATED);
      if (!SCORE_KINDS.includes(kind)) throw invalidArgument(`${where}[${k}].score_kind`, `${JSON.stringify(kind)} is not one of ${SCORE_KINDS.join(', ')}`);
      out.score = kind === 'linear' ? sign[i] * e.score : e.score;
    }
    if (e.sign !== undefined) {
      if (e.sign !== 1 && e.sign !== -1) throw invalidArgument(`${where}[${k}].sign`, 'is not 1 or -1');
      out.sign = (sign[i] * e.sign) as 1 | -1;
    }
    return out;
  });
}

/** Options of {@link transportNeurons}. */
export interface TransportNeuronsOptions extends TransportFileOptions {
  /** The kind of the scores, for a file that does not state it (a file's own `score_kind` must agree). */
  scoreKind?: ScoreKind;
}

/**
 * Moves a neuron set or attribution list (JSON) by `gauge`: an object `{score_kind?, entries: [...], …}` (other
 * fields kept), an array of entries `{index, score?, score_kind?, sign?, …}`, or an array of indices. Indices must
 * be residual coordinates (`0..d-1`); scores move by their kind (see the module docs), and a score of no stated
 * kind is refused. Resolves to the number of entries moved.
 */
export async function transportNeurons(input: string, gauge: Gauge, out: string, options: TransportNeuronsOptions = {}): Promise<number> {
  const value = readJson(input);
  if (options.scoreKind !== undefined && !SCORE_KINDS.includes(options.scoreKind)) {
    throw invalidArgument('scoreKind', `${JSON.stringify(options.scoreKind)} is not one of ${SCORE_KINDS.join(', ')}`);
  }
  let listKind = options.scoreKind;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'score_kind' in value) {
    const stated = (value as { score_kind: unknown }).score_kind;
    if (!SCORE_KINDS.includes(stated as ScoreKind)) throw invalidArgument(`${input}: score_kind`, `${JSON.stringify(stated)} is not one of ${SCORE_KINDS.join(', ')}`);
    if (listKind !== undefined && listKind !== stated) {
      throw invalidArgument(input, `states score_kind ${JSON.stringify(stated)}, but ${JSON.stringify(listKind)} was given; refusing to choose`);
    }
    listKind = stated as ScoreKind;
  }
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
    const m = moveEntries(gauge, entries, input, listKind);
    moved = bare ? m.map((e) => e.index) : m;
    count = m.length;
  } else if (typeof value === 'object' && value !== null && 'entries' in value) {
    const { entries, bare } = asEntries((value as { entries: unknown }).entries, `${input}: entries`);
    const m = moveEntries(gauge, entries, `${input}: entries`, listKind);
    moved = { ...(value as object), entries: bare ? m.map((e) => e.index) : m };
    count = m.length;
  } else {
    throw invalidArgument(input, 'is neither an array of entries nor an object with "entries"');
  }
  writeAtomic(out, JSON.stringify(moved, null, 2) + '\n', options.overwrite);
  return count;
}
