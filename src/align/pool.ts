/**
 * Pooling per-site correlation matrices into one gauge estimate (GAUGE.md §5): the names of the pools and the
 * confidence summary. The pooling itself (`signed-sum`, or the `per-layer` consensus) runs in the core
 * (`gauge_core::estimate`, through `estimateGauge`); `meanMatrix` serves callers that hold matrices themselves.
 */

export const POOLS = ['signed-sum', 'per-layer'] as const;
export type Pool = (typeof POOLS)[number];

/** `(1/K) Σ_k mats[k]`, row-major: the signed sum, scaled to stay in correlation units. */
export function meanMatrix(mats: Float32Array[]): Float32Array {
  const out = new Float32Array(mats[0].length);
  for (const m of mats) for (let i = 0; i < m.length; i++) out[i] += m[i];
  for (let i = 0; i < out.length; i++) out[i] /= mats.length;
  return out;
}

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

/**
 * Whether an estimate is reliable: its median confidence exceeds `minConfidence`. Confidence is the margin of each
 * matched pair over the best alternative in its row and column; for models whose coordinates do not correspond
 * (unrelated checkpoints, or too few tokens for the width) the matched pair is just the largest of many noise
 * correlations and its margin is about zero, so most coordinates sit at or below the threshold. A re-charted or
 * fine-tuned copy has margins of tenths.
 */
export interface Reliability {
  reliable: boolean;
  /** The median confidence the verdict compares. */
  median: number;
  minConfidence: number;
  /** Fraction of coordinates at or below `minConfidence`. */
  lowFraction: number;
}

/** The default threshold of {@link reliability}. */
export const MIN_CONFIDENCE = 0.05;

export function reliability(c: Float32Array, minConfidence = MIN_CONFIDENCE): Reliability {
  const s = summarizeConfidence(c, minConfidence);
  return { reliable: s.median > minConfidence, median: s.median, minConfidence, lowFraction: s.lowFraction };
}
