/**
 * Pooling per-site correlation matrices into one gauge estimate (GAUGE.md §5). The residual gauge is one `g` for
 * every layer, so `signed-sum` adds the signed per-site matrices before matching (signs agree across layers under
 * the true gauge); `per-layer` matches every site on its own and takes the consensus: an exact assignment on the
 * number of sites voting for each pair (ties broken by the pooled |C|), each sign by majority vote.
 */
import native = require('../native');
import type { Gauge } from '../gauge';
import { gaugeFromArrays } from '../gauge';
import type { Method } from '../matching';

export const POOLS = ['signed-sum', 'per-layer'] as const;
export type Pool = (typeof POOLS)[number];

/** `(1/K) Σ_k mats[k]`, row-major: the signed sum, scaled to stay in correlation units. */
export function meanMatrix(mats: Float32Array[]): Float32Array {
  const out = new Float32Array(mats[0].length);
  for (const m of mats) for (let i = 0; i < m.length; i++) out[i] += m[i];
  for (let i = 0; i < out.length; i++) out[i] /= mats.length;
  return out;
}

/** The consensus of per-site gauges: see the module docs. */
export async function consensus(perSite: Gauge[], pooled: Float32Array, d: number, method: Method): Promise<Gauge> {
  const votes = new Float32Array(d * d);
  const signVotes = new Float32Array(d * d);
  for (const g of perSite) {
    const { perm, sign } = g;
    for (let i = 0; i < d; i++) {
      votes[i * d + perm[i]] += 1;
      signVotes[i * d + perm[i]] += sign[i];
    }
  }
  let maxAbs = 0;
  for (const x of pooled) maxAbs = Math.max(maxAbs, Math.abs(x));
  const scores = new Float32Array(d * d);
  // A vote outweighs any tie-break: the tie-break sums to less than 1 over a whole matching.
  const eps = maxAbs > 0 ? 0.5 / (d * maxAbs) : 0;
  for (let k = 0; k < scores.length; k++) scores[k] = votes[k] + eps * Math.abs(pooled[k]);
  const a = await native.solveAssignment(scores, d, d);
  const perm = Array.from(a.rowToCol);
  const sign = perm.map((j, i) => {
    if (method !== 'marginalized') return 1;
    const v = signVotes[i * d + j];
    return v > 0 ? 1 : v < 0 ? -1 : pooled[i * d + j] < 0 ? -1 : 1;
  });
  return gaugeFromArrays(perm, sign);
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
