/**
 * `audit()`: are index-level claims reproducible? Each claim (`claims.ts`) is evaluated
 *
 * 1. on every checkpoint given, as stated, in the chart it names (the checkpoint's own, or its canonical chart);
 * 2. across a sweep of random `Sd` and `Bd` gauges: the first checkpoint re-charted by each (function-identical
 *    copies, as another run or a format conversion would save them), as stated;
 * 3. relative to an explicit gauge: moved by the gauge into each chart before it is evaluated (the sweep's own
 *    gauges, and for the other checkpoints the gauge estimated from the first with `align`, `Bd` and `Sd`).
 *
 * The verdict: `holds as stated` (everywhere, without any gauge: only a claim in a chart every copy agrees on can
 * do this), `holds relative to an explicit gauge` (in the chart it was made in, and elsewhere only once moved by
 * the gauge, which the report names), or `fails` (not even in its own chart on the first checkpoint).
 *
 * Scores in a re-charted copy are computed as `h·score` (re-charting is exact, GAUGE.md §2); one copy of each
 * group is also re-charted on disk and run, and the largest difference is reported as a check. The canonical chart
 * of every swept copy is computed from its re-charted weights, so ties are not assumed away.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../native');
import { align, collectStats } from '../align';
import { Gauge } from '../gauge';
import { loadModel, type Site } from '../model';
import { steeringVector } from '../tools';
import { corpusTokenizer, vocabOf } from '../train';
import { checkIndices, holds, readClaims, parseClaims, type Claim, type ClaimsFile } from './claims';

export type { Claim, ClaimsFile, CoordinatesClaim, TopKClaim, Behaviour } from './claims';
export { parseClaims, readClaims, holds } from './claims';

export interface AuditOptions {
  /** Random gauges of each group (`Sd`, `Bd`) in the sweep. @default 8 */
  sweep?: number;
  /** Seed of the sweep. @default 0 */
  seed?: number;
  /** Estimate the gauge from the first checkpoint to each other one (`align`, Bd and Sd). @default true */
  align?: boolean;
  /** Probe tokens of those estimates. @default 4096 */
  alignTokens?: number;
  /** Relative tolerance of the canonical chart's ties. @default 1e-6 */
  tieTolerance?: number;
  onStage?: (s: string) => void;
}

export type Verdict = 'holds as stated' | 'holds relative to an explicit gauge' | 'fails';

export interface ClaimResult {
  id: string;
  kind: Claim['kind'];
  chart: 'model' | 'canonical';
  verdict: Verdict;
  /** Why, in a sentence, naming the gauge it holds relative to. */
  reason: string;
  /** As stated, on each checkpoint: holds, and the fraction of its entries that do. */
  models: { model: string; holds: boolean; overlap: number }[];
  /** Relative to the gauge estimated from the first checkpoint (other checkpoints only). */
  transported: { model: string; gauge: 'Bd' | 'Sd'; holds: boolean; overlap: number }[];
  /** Fraction of swept charts where the claim holds as stated, and after transport by the sweep's gauge. */
  sweep: Record<'Sd' | 'Bd', { asStated: number; transported: number; meanOverlap: number }>;
}

export interface CanonicalDiagnostics {
  model: string;
  /** Adjacent coordinates with tied mean gains (ordered by the embedding norm instead). */
  gainTies: number;
  /** Of those, pairs the embedding does not separate either: their canonical order is arbitrary. */
  ties: number;
  minGainGap: number;
  weakSigns: number;
  /** Fraction of coordinates whose canonical index agrees with the first checkpoint's (through the gauge estimated between them, when there is one). */
  agreementWithFirst?: number;
  /** Over the sweep: fraction of swept copies whose canonical chart equals the first checkpoint's exactly. */
  sweepStable?: number;
}

export interface AuditReport {
  models: string[];
  d: number;
  results: ClaimResult[];
  canonical: CanonicalDiagnostics[];
  /** Largest difference between a re-charted copy's computed scores and `h·score`, per group. */
  sweepCheck: Record<'Sd' | 'Bd', number>;
  sweep: number;
  seed: number;
}

/** `key` of a (behaviour, site) pair whose scores a claim needs. */
const key = (c: Claim) => `${c.behaviour}@${c.site}`;

/** The claim moved by `g`: indices by `perm`, signs by `sign`. */
export function moveClaim<C extends Claim>(claim: C, g: Gauge): C {
  const perm = g.perm;
  const sign = g.sign;
  if (claim.kind === 'coordinates') {
    return { ...claim, coordinates: claim.coordinates.map((i) => perm[i]), signs: claim.coordinates.map((i, j) => (sign[i] * claim.signs[j]) as 1 | -1) };
  }
  return { ...claim, entries: claim.entries.map((e) => ({ index: perm[e.index], sign: (sign[e.index] * e.sign) as 1 | -1 })) };
}

async function scoresOf(dir: string, claims: ClaimsFile, needed: Map<string, Claim>): Promise<Map<string, Float32Array>> {
  const model = await loadModel(dir);
  const { tokenizer } = corpusTokenizer(dir, vocabOf(dir));
  if (!tokenizer) throw new Error(`${dir}: has no tokenizer.json and a vocabulary too small for bytes; cannot encode the behaviours' texts`);
  const out = new Map<string, Float32Array>();
  for (const [k, c] of needed) {
    const b = claims.behaviours[c.behaviour];
    const enc = (s: string) => Uint32Array.from(tokenizer.encode(s));
    out.set(k, await steeringVector(model, b.positive.map(enc), b.negative.map(enc), c.site as Site));
  }
  return out;
}

/** Evaluates `claims` (a file or an object) on the checkpoints `models` (the first is the reference); see above. */
export async function audit(claimsOrFile: string | ClaimsFile, models: string[], options: AuditOptions = {}): Promise<AuditReport> {
  const claims = typeof claimsOrFile === 'string' ? readClaims(claimsOrFile) : parseClaims(claimsOrFile);
  if (models.length === 0) throw new Error('audit: name at least one checkpoint');
  const stage = options.onStage ?? (() => {});
  const sweepN = options.sweep ?? 8;
  const seed = options.seed ?? 0;
  const tol = options.tieTolerance ?? 1e-6;
  const d = native.inspectModel(models[0]).d;
  for (const m of models) {
    const dm = native.inspectModel(m).d;
    if (dm !== d) throw new Error(`audit: ${m} has d = ${dm} but ${models[0]} has d = ${d}; claims on coordinates compare only models of one width`);
  }
  for (const c of claims.claims) checkIndices(c, d, 'claims');
  const needed = new Map(claims.claims.map((c) => [key(c), c]));

  stage(`scores of ${needed.size} behaviour/site pairs on ${models.length} checkpoint(s)`);
  const scores = [] as Map<string, Float32Array>[];
  const canon = [] as native.CanonicalChart[];
  for (const m of models) {
    scores.push(await scoresOf(m, claims, needed));
    canon.push(await native.canonicalGauge(m, tol));
  }
  const inChart = (c: Claim, s: Float32Array, chart: native.CanonicalChart) => (c.chart === 'canonical' ? chart.gauge.applyVector(s) : s);

  // Gauges from the first checkpoint to each other one.
  const estimates: { Bd: Gauge; Sd: Gauge }[] = [];
  if (options.align ?? true) {
    for (const m of models.slice(1)) {
      stage(`estimating the gauge ${models[0]} -> ${m}`);
      // One pass of both models serves both estimates.
      const { stats } = await collectStats(models[0], m, { tokens: options.alignTokens ?? 4096, contextLength: 64 });
      const bd = await align(models[0], m, { stats, method: 'marginalized' });
      const sd = await align(models[0], m, { stats, method: 'permutation' });
      estimates.push({ Bd: bd.gauge, Sd: sd.gauge });
    }
  }

  // The sweep: random gauges of each group; canonical charts from re-charted weights.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-audit-'));
  const sweep: { group: 'Sd' | 'Bd'; h: Gauge; canonical: Gauge }[] = [];
  const sweepCheck = { Sd: 0, Bd: 0 };
  try {
    for (const group of ['Sd', 'Bd'] as const) {
      for (let k = 0; k < sweepN; k++) {
        const h = Gauge.random(d, { seed: seed * 1000 + k + (group === 'Bd' ? 500 : 0), group, positiveFraction: group === 'Bd' ? 0.5 : 1 });
        const dir = path.join(work, `${group}-${k}`);
        await native.applyGauge(models[0], h, dir);
        stage(`sweep: ${group} gauge ${k + 1}/${sweepN}`);
        const c = await native.canonicalGauge(dir, tol);
        if (k === 0) {
          const direct = await scoresOf(dir, claims, needed);
          for (const [kk, s] of direct) {
            const want = h.applyVector(scores[0].get(kk)!);
            sweepCheck[group] = Math.max(sweepCheck[group], ...Array.from(s, (x, i) => Math.abs(x - want[i])));
          }
        }
        sweep.push({ group, h, canonical: c.gauge });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }

  const results: ClaimResult[] = claims.claims.map((c) => {
    const chart = c.chart ?? 'model';
    const per = models.map((m, k) => ({ model: m, ...holds(c, inChart(c, scores[k].get(key(c))!, canon[k])) }));
    const transported: ClaimResult['transported'] = [];
    estimates.forEach((est, k) => {
      for (const g of ['Bd', 'Sd'] as const) {
        // A canonical-chart claim needs no transport between checkpoints: each computes its own chart.
        const moved = chart === 'canonical' ? c : moveClaim(c, est[g]);
        transported.push({ model: models[k + 1], gauge: g, ...holds(moved, inChart(c, scores[k + 1].get(key(c))!, canon[k + 1])) });
      }
    });
    const base = scores[0].get(key(c))!;
    const sweepStats = { Sd: { asStated: 0, transported: 0, meanOverlap: 0 }, Bd: { asStated: 0, transported: 0, meanOverlap: 0 } };
    for (const s of sweep) {
      const raw = s.h.applyVector(base);
      const stated = chart === 'canonical' ? s.canonical.applyVector(raw) : raw;
      const r = holds(c, stated);
      const moved = chart === 'canonical' ? c : moveClaim(c, s.h);
      const t = holds(moved, stated);
      const st = sweepStats[s.group];
      st.asStated += Number(r.holds) / sweepN;
      st.transported += Number(t.holds) / sweepN;
      st.meanOverlap += r.overlap / sweepN;
    }
    let verdict: Verdict;
    let reason: string;
    const allModels = per.every((p) => p.holds);
    const allSweep = sweepStats.Sd.asStated === 1 && sweepStats.Bd.asStated === 1;
    if (!per[0].holds) {
      verdict = 'fails';
      reason = `does not hold on ${models[0]} in the ${chart === 'canonical' ? 'canonical chart' : 'chart it is stated in'} (${(100 * per[0].overlap).toFixed(0)}% of its entries do)`;
    } else if (allModels && allSweep) {
      verdict = 'holds as stated';
      reason =
        chart === 'canonical'
          ? `holds in the canonical chart of every checkpoint and of every swept copy: the chart is fixed by the checkpoint alone`
          : `holds on every checkpoint and in every swept chart without a gauge`;
    } else {
      verdict = 'holds relative to an explicit gauge';
      const where = chart === 'canonical' ? `the canonical chart of ${models[0]}` : `the chart of ${models[0]}`;
      const bd = transported.filter((t) => t.gauge === 'Bd');
      const others = bd.length ? `; on other checkpoints ${bd.every((t) => t.holds) ? 'it holds' : 'it does not always hold'} once moved by the Bd estimate from ${models[0]}` : '';
      reason = `holds in ${where}; as stated it holds in ${(100 * sweepStats.Sd.asStated).toFixed(0)}% of random Sd charts and ${(100 * sweepStats.Bd.asStated).toFixed(0)}% of random Bd charts, and in ${(100 * sweepStats.Bd.transported).toFixed(0)}% of the Bd charts once moved by the gauge into them${others}`;
    }
    return { id: c.id, kind: c.kind, chart, verdict, reason, models: per, transported, sweep: sweepStats };
  });

  const canonical: CanonicalDiagnostics[] = canon.map((c, k) => {
    const diag: CanonicalDiagnostics = { model: models[k], gainTies: c.gainTies, ties: c.ties, minGainGap: c.minGainGap, weakSigns: c.weakSigns };
    if (k > 0 && estimates[k - 1]) {
      // Same canonical index for a coordinate of the first checkpoint and its image in this one.
      diag.agreementWithFirst = c.gauge.compose(estimates[k - 1].Bd).agreement(canon[0].gauge).signedAccuracy;
    }
    if (k === 0) diag.sweepStable = sweep.filter((s) => s.canonical.compose(s.h).equals(c.gauge)).length / sweep.length;
    return diag;
  });
  return { models, d, results, canonical, sweepCheck, sweep: sweepN, seed };
}
