/**
 * Packing a probe into forward-pass batches: the ids, up to the token budget, cut into rows of exactly
 * `contextLength` ids (the last incomplete row is dropped), grouped `batchSize` rows at a time.
 */
import { GaugeTransportError, invalidArgument } from '../errors';

/** Options of {@link packProbe}. */
export interface PackOptions {
  /** Ids per row (the `seq` of each forward pass). */
  contextLength: number;
  /** Rows per batch; the last batch may have fewer. */
  batchSize: number;
  /** At most this many ids are used in all. @default all of them */
  tokenBudget?: number;
  /** Names the probe in errors. @default 'probe' */
  source?: string;
}

/** One forward pass's input: `ids` row-major `[batch, seq]`. */
export interface ProbeBatch {
  ids: Uint32Array;
  batch: number;
  seq: number;
}

/** A packed probe and its accounting. */
export interface PackedProbe {
  /** Every used id, row-major `[rows, contextLength]`; the batches are views into it. */
  ids: Uint32Array;
  batches: ProbeBatch[];
  /** Ids per row. */
  contextLength: number;
  /** Rows in all batches. */
  rows: number;
  /** Ids used: `rows * contextLength`, never more than the budget. */
  used: number;
  /** Ids not used: `overBudget + partialRow`. */
  dropped: number;
  /** Ids beyond the token budget. */
  overBudget: number;
  /** Ids within the budget that did not fill a last row. */
  partialRow: number;
}

function positiveInt(value: number | undefined, name: string): number {
  if (value === undefined || !Number.isSafeInteger(value) || value < 1) throw invalidArgument(name, `${value} is not a positive integer`);
  return value;
}

/**
 * Packs `ids` into batches. The batches are views into one copy of the used ids. Throws `INVALID_ARGUMENT` when
 * the ids (within the budget) do not fill a single row, saying how many are needed.
 */
export function packProbe(ids: ArrayLike<number>, options: PackOptions): PackedProbe {
  const contextLength = positiveInt(options.contextLength, 'contextLength');
  const batchSize = positiveInt(options.batchSize, 'batchSize');
  const budget = options.tokenBudget === undefined ? Infinity : positiveInt(options.tokenBudget, 'tokenBudget');
  const source = options.source ?? 'probe';
  const usable = Math.min(ids.length, budget);
  const rows = Math.floor(usable / contextLength);
  if (rows === 0) {
    const within = budget < ids.length ? ` within the token budget of ${budget}` : '';
    const fix = budget < contextLength ? 'raise the token budget or lower the context length' : 'give a longer probe or lower the context length';
    throw new GaugeTransportError(
      'INVALID_ARGUMENT',
      `${source}: ${usable} ids${within} do not fill one row of contextLength ${contextLength}; ` +
        `at least ${contextLength} ids are needed (${fix})`,
    );
  }
  const used = rows * contextLength;
  const flat = new Uint32Array(used);
  for (let i = 0; i < used; i++) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw invalidArgument(source, `id ${v} at position ${i} is not a token id`);
    flat[i] = v;
  }
  const batches: ProbeBatch[] = [];
  for (let r = 0; r < rows; r += batchSize) {
    const batch = Math.min(batchSize, rows - r);
    batches.push({ ids: flat.subarray(r * contextLength, (r + batch) * contextLength), batch, seq: contextLength });
  }
  return {
    ids: flat,
    batches,
    contextLength,
    rows,
    used,
    dropped: ids.length - used,
    overBudget: ids.length - usable,
    partialRow: usable - used,
  };
}
