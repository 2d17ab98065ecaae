/**
 * Experiment `audit` (paper: index-level claims are reproducible only relative to an explicit gauge). For each
 * model, claims are read off the model itself: the behaviour's top coordinates with their signs (a `coordinates`
 * claim) and its top-k attribution list (a `top-k` claim), each stated once in the model's own chart and once in
 * its canonical chart. They are audited on the model, on its copy re-charted by a hidden `Bd` gauge (exact, so any
 * failure there is the chart's doing), for the tiny model also on a lightly fine-tuned checkpoint in the same
 * chart, and across a sweep of random `Sd` and `Bd` gauges.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../../dist/native');
import { audit, type AuditReport, type Claim, type ClaimsFile } from '../../../../../dist/audit';
import { Gauge } from '../../../../../dist/gauge';
import { loadModel, type Site } from '../../../../../dist/model';
import { machine } from '../../../../../dist/results';
import { auditSections, type Section } from '../../../../../dist/report';
import type { Table } from '../../../../../dist/table';
import { tinyBase } from '../../../../../dist/tiny-base';
import { steeringVector, topK } from '../../../../../dist/tools';
import { BYTE_TOKENIZER, train } from '../../../../../dist/train';
import { corpusFile, FINE_TUNED, preparePair, sizeOf, type PairName, type PairSize } from './pairs';
import { behaviour, encodeBehaviour } from '../../../../../dist/behaviours';

export interface AuditExperimentOptions {
  pairs: PairName[];
  sweep: number;
  /** Coordinates in the `coordinates` claim, and the length of the `top-k` claim, per pair. */
  k: Record<PairSize, number>;
  seed: number;
}

export interface AuditExperimentResult {
  name: 'audit';
  params: AuditExperimentOptions;
  /** Per pair: what the checkpoints are, and the audit. */
  audits: { pair: string; checkpoints: Record<string, string>; report: AuditReport }[];
  machine: Record<string, string | number>;
}

/** Claims read off `dir`: top coordinates and top-k, in its own chart and in its canonical chart. */
async function claimsOf(dir: string, name: PairName, site: Site, k: number): Promise<ClaimsFile> {
  const b = behaviour(name);
  const tok = name === 'tiny' ? BYTE_TOKENIZER : native.Tokenizer.load(dir);
  const e = encodeBehaviour(b, tok);
  const v = await steeringVector(await loadModel(dir), e.positive, e.negative, site);
  const canon = (await native.canonicalGauge(dir)).gauge.applyVector(v);
  const claims: Claim[] = [];
  for (const [chart, s] of [['model', v], ['canonical', canon]] as const) {
    const top = topK(s, k);
    const sgn = (x: number) => (x < 0 ? -1 : 1) as 1 | -1;
    const few = top.slice(0, Math.max(2, Math.floor(k / 2)));
    claims.push({ id: `top-coordinates (${chart})`, kind: 'coordinates', behaviour: b.name, site, chart, coordinates: few.map((x) => x.index), signs: few.map((x) => sgn(x.score!)), within: k });
    claims.push({ id: `top-${k} list (${chart})`, kind: 'top-k', behaviour: b.name, site, chart, entries: top.map((x) => ({ index: x.index, sign: sgn(x.score!) })) });
  }
  return { behaviours: { [b.name]: { positive: b.positive, negative: b.negative } }, claims };
}

export async function runAuditExperiment(o: AuditExperimentOptions, log: (s: string) => void = () => {}): Promise<AuditExperimentResult> {
  const audits: AuditExperimentResult['audits'] = [];
  for (const name of o.pairs) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-audit-exp-'));
    const pair = name === 'tiny' ? undefined : await preparePair(name, { seed: o.seed, onStage: log });
    try {
      const a = pair ? pair.a : tinyBase();
      const label = pair ? pair.label : 'tiny-base';
      const info = native.inspectModel(a);
      const site = `h_${Math.max(1, Math.round((info.layers ?? 3) / 3))}` as Site;
      const ft = FINE_TUNED[name];
      const aLabel = ft ? `${ft.name}, A` : label;
      const roles: Record<string, string> = { [a]: aLabel };
      const described: Record<string, string> = { [aLabel]: 'the model' };
      const models = [a];
      if (!pair) {
        // A later checkpoint in the model's own chart: a light fine-tuning on its own kind of text.
        log('tiny: a lightly fine-tuned checkpoint in the same chart');
        const run = await train(a, corpusFile(work, 'prose', 1 << 20), path.join(work, 'run'), { steps: 40, batch: 8, seq: 64, lr: 1e-3, seed: o.seed + 3 });
        const later = run.checkpoints[run.checkpoints.length - 1].dir;
        models.push(later);
        roles[later] = `${label} fine-tuned`;
        described[roles[later]] = 'the model fine-tuned 40 steps (lr 1e-3) on the prose corpus, in the same chart';
      }
      let b = pair?.b;
      if (!b) {
        b = path.join(work, 'recharted');
        await native.applyGauge(a, Gauge.random(info.d, { seed: o.seed + 1, group: 'Bd', positiveFraction: 0.5 }), b);
      }
      models.push(b);
      if (ft) {
        roles[b] = 'fine-tuned, B';
        described[roles[b]] = `${pair!.setup.replace(/^A: .*?; B: /, '')} (a different model in another chart)`;
      } else {
        roles[b] = `${label} re-charted`;
        described[roles[b]] = 'the model re-charted by a hidden random Bd gauge (a function-identical copy in another chart)';
      }
      const claims = await claimsOf(a, name, site, o.k[sizeOf(name)]);
      log(`${label}: auditing ${claims.claims.length} claims on ${models.length} checkpoints, sweep of ${o.sweep} + ${o.sweep} gauges`);
      const report = await audit(claims, models, { sweep: o.sweep, seed: o.seed, onStage: log });
      // Paths of scratch checkpoints mean nothing after the run: name them by role.
      const short = (m: string) => roles[m] ?? m;
      const named: AuditReport = {
        ...report,
        models: report.models.map(short),
        results: report.results.map((r) => ({
          ...r,
          reason: models.reduce((x, m) => x.split(m).join(short(m)), r.reason),
          models: r.models.map((x) => ({ ...x, model: short(x.model) })),
          transported: r.transported.map((x) => ({ ...x, model: short(x.model) })),
        })),
        canonical: report.canonical.map((c) => ({ ...c, model: short(c.model) })),
      };
      audits.push({ pair: label, checkpoints: described, report: named });
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
      pair?.dispose();
    }
  }
  return { name: 'audit', params: o, audits, machine: machine() };
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export function auditTable(r: AuditExperimentResult): Table {
  const rows: string[][] = [];
  for (const a of r.audits) {
    for (const c of a.report.results) {
      const own = c.models.map((m) => `${m.model}: ${m.holds ? 'holds' : 'fails'}`).join('; ');
      const moved = (g: 'Bd' | 'Sd') =>
        c.chart === 'canonical' ? '— (each computes its own chart)' : c.transported.filter((t) => t.gauge === g).map((t) => `${t.model}: ${t.holds ? 'holds' : 'fails'}`).join('; ') || '—';
      rows.push([a.pair, c.id, own, moved('Bd'), moved('Sd'), pct(c.sweep.Sd.asStated), pct(c.sweep.Bd.asStated), pct(c.sweep.Bd.transported), c.verdict]);
    }
  }
  return {
    header: ['model', 'claim', 'as stated on each checkpoint', 'moved by the Bd estimate', 'moved by the Sd estimate', 'random Sd charts', 'random Bd charts', 'Bd charts, moved by the gauge', 'verdict'],
    rows,
  };
}

export async function auditReport(r: AuditExperimentResult): Promise<Section[]> {
  const sections: Section[] = [];
  for (const a of r.audits) sections.push(...(await auditSections(a.report, a.pair)));
  return sections;
}

