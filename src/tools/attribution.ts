/**
 * Attribution lists on residual coordinates: entries `(index, score)` ranked by `|score|`, and how well two lists
 * agree. A score here is linear in the coordinate (for example a coordinate of a difference of mean activations),
 * so it moves as `(perm[i], sign[i]·score)` under a gauge (GAUGE.md §4).
 */
import type { CoordinateEntry } from '../transport';

/** The `k` entries of largest `|score|`, in decreasing order (ties by index). */
export function topK(scores: ArrayLike<number>, k: number): CoordinateEntry[] {
  return Array.from(scores, (score, index) => ({ index, score }))
    .sort((a, b) => Math.abs(b.score) - Math.abs(a.score) || a.index - b.index)
    .slice(0, k);
}

/**
 * Agreement of a list with a reference of the same length: `indices`, the fraction of the reference's indices the
 * list contains; `signed`, the fraction it contains with the same sign of score.
 */
export function overlap(list: CoordinateEntry[], reference: CoordinateEntry[]): { indices: number; signed: number } {
  const byIndex = new Map(list.map((e) => [e.index, Math.sign(e.score ?? 0)]));
  let hits = 0;
  let signed = 0;
  for (const e of reference) {
    const s = byIndex.get(e.index);
    if (s === undefined) continue;
    hits++;
    if (s === Math.sign(e.score ?? 0)) signed++;
  }
  return { indices: hits / reference.length, signed: signed / reference.length };
}
