/**
 * Pooling per-site correlation matrices into one gauge estimate (GAUGE.md §5): the names of the pools and the
 * confidence summary. The pooling itself (`signed-sum`, or the `per-layer` consensus) runs in the core
 * (`gauge_core::estimate`, through `estimateGauge`), for `align` and for trajectory edges alike.
 */

export const POOLS = ['signed-sum', 'per-layer'] as const;
export type Pool = (typeof POOLS)[number];

/** Summary of per-coordinate confidences. */
export interface ConfidenceSummary {
  mean: number;
  min: number;
  p05: number;
  median: number;
  /** Fraction of coordinates whose confidence is at most `threshold` (ambiguous matches). */
  lowFraction: number;
  threshold: number;
}

export function summarizeConfidence(c: Float32Array, threshold = 0.05): ConfidenceSummary {
  const s = Float64Array.from(c).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))];
  let sum = 0;
  let low = 0;
  for (const x of s) {
    sum += x;
    if (x <= threshold) low++;
  }
  return { mean: sum / s.length, min: s[0], p05: q(0.05), median: q(0.5), lowFraction: low / s.length, threshold };
}

/** The null of a matching's confidence, from the core (`gauge_core::null`). */
export interface ConfidenceNull {
  /** The matched fraction (confidence above 0) of every draw with B's coordinates shuffled. */
  fractions: number[];
  /** The draws' mean plus three standard deviations, and at least their maximum and 0.5. */
  bound: number;
}

/**
 * The verdict on an estimate (GAUGE.md §5). Its statistic is the matched fraction: the coordinates whose confidence
 * (the margin of the matched pair over the best alternative in its row and column) is above 0. The null is the same
 * matching on the same statistics with B's coordinates shuffled afresh for every coordinate of A, which keeps each
 * row's noise level and tails and removes the one-to-one structure of a gauge. An estimate is reliable when its
 * matched fraction is above the null's bound and its median confidence is above `minConfidence`.
 *
 * For models whose coordinates do not correspond (unrelated checkpoints, or too few tokens for the width) the
 * observed fraction is one more draw of the null (or below it); a re-charted or fine-tuned copy matches nearly every
 * coordinate, while its null stays near one half (rows that keep a strong partner still win where their column has
 * no stronger claimant; `npm run experiment -- reliability`).
 */
export interface Reliability {
  reliable: boolean;
  /** Fraction of coordinates matched above their best alternative. */
  matchedFraction: number;
  /** The null's bound on `matchedFraction` (0.5 when no null was drawn). */
  nullBound: number;
  /** The null's draws. */
  nullFractions: number[];
  /** Their mean (NaN when none were drawn). */
  nullMean: number;
  /** The median confidence. */
  median: number;
  /** The floor on `median` (a stricter verdict on request). */
  minConfidence: number;
  /** Fraction of coordinates at or below 0.05 confidence. */
  lowFraction: number;
}

/** The default floor on the median confidence of {@link reliability}: the null decides. */
export const MIN_CONFIDENCE = 0;

export function reliability(c: Float32Array, nul: ConfidenceNull | null | undefined, minConfidence = MIN_CONFIDENCE): Reliability {
  const s = summarizeConfidence(c);
  let matched = 0;
  for (const x of c) if (x > 0) matched++;
  const matchedFraction = matched / Math.max(1, c.length);
  const nullBound = nul?.bound ?? 0.5;
  return {
    reliable: matchedFraction > nullBound && s.median > minConfidence,
    matchedFraction,
    nullBound,
    nullFractions: nul?.fractions ?? [],
    nullMean: nul && nul.fractions.length > 0 ? nul.fractions.reduce((a, b) => a + b, 0) / nul.fractions.length : NaN,
    median: s.median,
    minConfidence,
    lowFraction: s.lowFraction,
  };
}

/** One line on a verdict, for messages. */
export function describeReliability(r: Reliability): string {
  const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
  const null_ =
    r.nullFractions.length > 0
      ? `the null's bound of ${pc(r.nullBound)} (B's coordinates shuffled: ${pc(r.nullMean)} on average over ${r.nullFractions.length} draws)`
      : `a bound of ${pc(r.nullBound)} (no null drawn)`;
  const floor = r.minConfidence !== 0 ? `, median confidence ${r.median.toFixed(4)} against the floor ${r.minConfidence}` : '';
  return `${pc(r.matchedFraction)} of coordinates matched above their best alternative, against ${null_}${floor}`;
}
