/**
 * Index-level claims and the file that states them (`claims.json`):
 *
 * ```json
 * {
 *   "behaviours": { "sentiment": { "positive": ["I loved it."], "negative": ["I hated it."] } },
 *   "claims": [
 *     { "id": "pos-coords", "kind": "coordinates", "behaviour": "sentiment", "site": "h_10",
 *       "coordinates": [12, 40], "signs": [1, -1], "within": 16, "chart": "model" },
 *     { "id": "top4", "kind": "top-k", "behaviour": "sentiment", "site": "h_10",
 *       "entries": [{ "index": 12, "sign": 1 }, { "index": 40, "sign": -1 }], "chart": "canonical" }
 *   ]
 * }
 * ```
 *
 * A behaviour's attribution on residual coordinates is the difference of mean residuals at the claim's site
 * between its positive and negative texts (a score linear in each coordinate). A `coordinates` claim says the
 * listed coordinates carry the behaviour with the listed signs: it holds in a chart when each is among the
 * `within` coordinates of largest `|score|` (default: twice as many as listed) with that sign of score. A `top-k`
 * claim states the whole top-k list with signs: it holds when the recomputed top-k is that set with those signs.
 * `chart` is the chart the indices refer to: `model` (the checkpoint's own, the default) or `canonical` (gauge
 * fixing from the checkpoint alone, `canonicalGauge`).
 */
import { invalidArgument } from '../errors';
import { readJson } from '../files';
import type { Site } from '../model';

export interface Behaviour {
  positive: string[];
  negative: string[];
}

interface ClaimBase {
  id: string;
  behaviour: string;
  site: Site;
  /** @default 'model' */
  chart?: 'model' | 'canonical';
}

export interface CoordinatesClaim extends ClaimBase {
  kind: 'coordinates';
  coordinates: number[];
  signs: (1 | -1)[];
  /** @default 2 × coordinates.length */
  within?: number;
}

export interface TopKClaim extends ClaimBase {
  kind: 'top-k';
  entries: { index: number; sign: 1 | -1 }[];
}

export type Claim = CoordinatesClaim | TopKClaim;

export interface ClaimsFile {
  behaviours: Record<string, Behaviour>;
  claims: Claim[];
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const strings = (x: unknown) => Array.isArray(x) && x.length > 0 && x.every((s) => typeof s === 'string' && s.length > 0);
const sign = (x: unknown) => x === 1 || x === -1;

/** Checks a claims object (from JSON), naming the first problem by its path in the file. */
export function parseClaims(value: unknown, where = 'claims'): ClaimsFile {
  if (!isObject(value)) throw invalidArgument(where, 'is not an object with "behaviours" and "claims"');
  const behaviours = value.behaviours;
  if (!isObject(behaviours)) throw invalidArgument(`${where}: behaviours`, 'is not an object of {positive, negative} text lists');
  for (const [name, b] of Object.entries(behaviours)) {
    if (!isObject(b) || !strings(b.positive) || !strings(b.negative)) {
      throw invalidArgument(`${where}: behaviours.${name}`, 'needs non-empty lists of texts "positive" and "negative"');
    }
  }
  if (!Array.isArray(value.claims) || value.claims.length === 0) throw invalidArgument(`${where}: claims`, 'is not a non-empty list');
  const ids = new Set<string>();
  value.claims.forEach((c: unknown, k: number) => {
    const at = `${where}: claims[${k}]`;
    if (!isObject(c)) throw invalidArgument(at, 'is not an object');
    if (typeof c.id !== 'string' || c.id === '') throw invalidArgument(`${at}.id`, 'is not a non-empty string');
    if (ids.has(c.id)) throw invalidArgument(`${at}.id`, `${JSON.stringify(c.id)} is used twice`);
    ids.add(c.id);
    if (typeof c.behaviour !== 'string' || !(c.behaviour in behaviours)) {
      throw invalidArgument(`${at}.behaviour`, `${JSON.stringify(c.behaviour)} is not one of the behaviours (${Object.keys(behaviours).join(', ')})`);
    }
    if (typeof c.site !== 'string' || !/^(h_\d+|final_norm)$/.test(c.site)) throw invalidArgument(`${at}.site`, `${JSON.stringify(c.site)} is not a residual site (h_0 … h_L, final_norm)`);
    if (c.chart !== undefined && c.chart !== 'model' && c.chart !== 'canonical') throw invalidArgument(`${at}.chart`, 'is not "model" or "canonical"');
    const index = (i: unknown, p: string) => {
      if (!(Number.isInteger(i) && (i as number) >= 0)) throw invalidArgument(p, `${JSON.stringify(i)} is not a coordinate index`);
    };
    if (c.kind === 'coordinates') {
      if (!Array.isArray(c.coordinates) || c.coordinates.length === 0) throw invalidArgument(`${at}.coordinates`, 'is not a non-empty list');
      c.coordinates.forEach((i, j) => index(i, `${at}.coordinates[${j}]`));
      if (!Array.isArray(c.signs) || c.signs.length !== c.coordinates.length || !c.signs.every(sign)) {
        throw invalidArgument(`${at}.signs`, `must list ${c.coordinates.length} signs, each 1 or -1`);
      }
      if (c.within !== undefined && !(Number.isInteger(c.within) && (c.within as number) >= c.coordinates.length)) {
        throw invalidArgument(`${at}.within`, `must be a whole number >= ${c.coordinates.length}`);
      }
    } else if (c.kind === 'top-k') {
      if (!Array.isArray(c.entries) || c.entries.length === 0) throw invalidArgument(`${at}.entries`, 'is not a non-empty list');
      c.entries.forEach((e, j) => {
        if (!isObject(e)) throw invalidArgument(`${at}.entries[${j}]`, 'is not {index, sign}');
        index(e.index, `${at}.entries[${j}].index`);
        if (!sign(e.sign)) throw invalidArgument(`${at}.entries[${j}].sign`, 'is not 1 or -1');
      });
    } else {
      throw invalidArgument(`${at}.kind`, `${JSON.stringify(c.kind)} is not "coordinates" or "top-k"`);
    }
  });
  return value as unknown as ClaimsFile;
}

/** Reads and checks a claims file. */
export function readClaims(file: string): ClaimsFile {
  return parseClaims(readJson(file), file);
}

/** Whether `claim` holds for the per-coordinate scores `score` (in the chart the claim is stated in). */
export function holds(claim: Claim, score: ArrayLike<number>): { holds: boolean; overlap: number } {
  const d = score.length;
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => Math.abs(score[j]) - Math.abs(score[i]) || i - j);
  const rank = new Int32Array(d);
  order.forEach((i, r) => (rank[i] = r));
  const sgn = (i: number) => (score[i] < 0 ? -1 : 1);
  if (claim.kind === 'coordinates') {
    const within = claim.within ?? 2 * claim.coordinates.length;
    const ok = claim.coordinates.map((i, j) => i < d && rank[i] < within && sgn(i) === claim.signs[j]);
    const n = ok.filter(Boolean).length;
    return { holds: n === ok.length, overlap: n / ok.length };
  }
  const k = claim.entries.length;
  const n = claim.entries.filter((e) => e.index < d && rank[e.index] < k && sgn(e.index) === e.sign).length;
  return { holds: n === k, overlap: n / k };
}

/** Checks every index of `claim` against the residual width `d`. */
export function checkIndices(claim: Claim, d: number, where: string): void {
  const list = claim.kind === 'coordinates' ? claim.coordinates : claim.entries.map((e) => e.index);
  const bad = list.find((i) => i >= d);
  if (bad !== undefined) throw invalidArgument(`${where}: claim ${claim.id}`, `names coordinate ${bad}, but the model's d is ${d}`);
}
