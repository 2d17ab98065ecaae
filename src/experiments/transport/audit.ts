/**
 * Experiment `audit` (paper: index-level claims are reproducible only relative to an explicit gauge). For each
 * model, claims are read off the model itself: the behaviour's top coordinates with their signs (a `coordinates`
 * claim) and its top-k attribution list (a `top-k` claim), each stated once in the model's own chart and once in
 * its canonical chart. They are audited on the model, on its re-charted copy (and, for the tiny model, on a
 * fine-tuned checkpoint in the same chart), and across a sweep of random `Sd` and `Bd` gauges.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../native');
import { audit, type AuditReport, type Claim, type ClaimsFile } from '../../audit';
import { loadModel, type Site } from '../../model';
import { machine } from '../../results';
import { auditSections, type Section } from '../../report';
import type { Table } from '../../table';
import { tinyBase } from '../../tiny-base';
import { steeringVector, topK } from '../../tools';
import { BYTE_TOKENIZER, train } from '../../train';
import { corpusFile, preparePair, type PairName } from './pairs';
import { behaviour, encodeBehaviour } from './prompts';

export interface AuditExperimentOptions {
  pairs: PairName[];
  sweep: number;
  /** Coordinates in the `coordinates` claim, and the length of the `top-k` claim, per pair. */
  k: Record<PairName, number>;
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
    const pair = await preparePair(name, { seed: o.seed, onStage: log });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-audit-exp-'));
    try {
      const site = `h_${Math.max(1, Math.round(pair.layers / 3))}` as Site;
      const checkpoints: Record<string, string> = { [pair.a]: 'the model', [pair.b]: `a re-charted copy (${pair.setup})` };
      const models = [pair.a, pair.b];
      if (name === 'tiny') {
        // A later checkpoint in the model's own chart: fine-tuned, not re-charted.
        log('tiny: a fine-tuned checkpoint in the same chart');
        const run = await train(tinyBase(), corpusFile(work, 'javascript', 1 << 20), path.join(work, 'run'), { steps: 200, batch: 8, seq: 64, lr: 3e-3, warmup: 20, seed: o.seed });
        const later = run.checkpoints[run.checkpoints.length - 1].dir;
        checkpoints[later] = 'the model fine-tuned 200 steps on the javascript corpus (same chart)';
        models.splice(1, 0, later);
      }
      const claims = await claimsOf(pair.a, name, site, o.k[name]);
      log(`${pair.label}: auditing ${claims.claims.length} claims on ${models.length} checkpoints, sweep of ${o.sweep} + ${o.sweep} gauges`);
      const report = await audit(claims, models, { sweep: o.sweep, seed: o.seed, onStage: log });
      // Paths of scratch checkpoints mean nothing after the run: name them by role.
      const short = (m: string) => (m === pair.a ? pair.label : m === pair.b ? `${pair.label} re-charted` : `${pair.label} fine-tuned`);
      const named: AuditReport = {
        ...report,
        models: report.models.map(short),
        results: report.results.map((r) => ({
          ...r,
          reason: models.reduce((s, m) => s.split(m).join(short(m)), r.reason),
          models: r.models.map((x) => ({ ...x, model: short(x.model) })),
          transported: r.transported.map((x) => ({ ...x, model: short(x.model) })),
        })),
        canonical: report.canonical.map((c) => ({ ...c, model: short(c.model) })),
      };
      audits.push({ pair: pair.label, checkpoints: Object.fromEntries(Object.entries(checkpoints).map(([k, v]) => [short(k), v])), report: named });
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
      pair.dispose();
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
      const bd = c.transported.filter((t) => t.gauge === 'Bd').map((t) => `${t.model}: ${t.holds ? 'holds' : 'fails'}`).join('; ');
      rows.push([a.pair, c.id, own, bd || '—', pct(c.sweep.Sd.asStated), pct(c.sweep.Bd.asStated), pct(c.sweep.Bd.transported), c.verdict]);
    }
  }
  return {
    header: ['model', 'claim', 'as stated on each checkpoint', 'moved by the Bd estimate', 'random Sd charts', 'random Bd charts', 'Bd charts, moved by the gauge', 'verdict'],
    rows,
  };
}

export async function auditReport(r: AuditExperimentResult): Promise<Section[]> {
  const sections: Section[] = [];
  for (const a of r.audits) sections.push(...(await auditSections(a.report, a.pair)));
  return sections;
}

