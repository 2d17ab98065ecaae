/**
 * The demo: the whole story on the built-in model (`models/tiny-base`, a byte-level Llama with RMSNorm gains,
 * d = 64), in seconds.
 *
 * 1. `B` = the model re-charted by a hidden random signed permutation (half the signs negative), then nudged by a
 *    short fine-tuning on a text it has not seen (the package's `docs/GAUGE.md`), as a later checkpoint would be.
 * 2. The gauge `A -> B` is estimated from activations on the built-in probe text (as bytes), and every method is
 *    scored against the hidden gauge: `marginalized` (the Bd estimate) recovers it; `permutation` (what
 *    permutation-only tools find, the Sd estimate) gets the permutation right and the negative signs wrong;
 *    `signed` loses the coordinates whose sign flipped.
 *
 * 3. Two tools made for A are moved to B with the Bd and the Sd estimate: a steering vector (code against prose, the
 *    difference of mean residuals at `h_1`), scored by how much of its effect on a logit difference survives in B,
 *    and a sparse autoencoder fitted to A's `h_1` on the probe text, scored by its reconstruction NMSE in B on text
 *    it never saw (the package's `docs/GAUGE.md`).
 *
 * Everything is written to `outDir`: the hidden gauge, the estimates, the tools as made for A and as moved to B,
 * `report.json`, and `report.html` (the alignment's charts and the tools side by side).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('./native');
import { align, collectStats, type AlignResult } from './align';
import { writeAtomic } from './files';
import { defaultProbeText } from './probe';
import { Gauge } from './gauge';
import { METHODS, type Method } from './matching';
import { loadModel } from './model';
import { errorCode } from './errors';
import { alignSections, groupedBars, page, writeHtml, type Section } from './report';
import { REPORT_UNAVAILABLE } from './report/vega';
import { PACKAGE_ROOT } from './results';
import { tinyBase } from './tiny-base';
import { evaluateSae, logitContrast, siteActivations, steeringEffect, steeringVector, trainSae } from './tools';
import { BYTE_TOKENIZER, train } from './train';
import { transportSae } from './transport';
import { behaviour, encodeBehaviour } from './behaviours';

/** The text the demo nudges the model on and evaluates with: a shipped file the model never saw. */
const DEMO_TEXT = path.join(PACKAGE_ROOT, 'docs', 'GAUGE.md');

export interface DemoOptions {
  /** Where the demo's files go; created, and emptied of the demo's own earlier files. */
  outDir: string;
  /** Seed of the hidden gauge. @default 0 */
  seed?: number;
  /** Fine-tuning steps of the nudge. @default 40 */
  nudgeSteps?: number;
  /** Probe bytes. @default 4096 */
  tokens?: number;
  onStage?: (stage: string) => void;
}

export interface DemoResult {
  model: string;
  d: number;
  hidden: { negativeSigns: number };
  nudge: { steps: number; lr: number; corpus: string; lossFirst: number; lossLast: number };
  probe: { source: string; tokens: number };
  methods: Record<Method, { permAccuracy: number; signedAccuracy: number; file: string }>;
  confidence: { mean: number; p05: number };
  /** The tools moved with each estimate (`Bd`: marginalized, `Sd`: permutation-only). */
  tools: {
    steering: {
      behaviour: string;
      site: string;
      effectA: number;
      moved: Record<'Bd' | 'Sd', { effectB: number; preserved: number; file: string }>;
      file: string;
    };
    sae: {
      site: string;
      features: number;
      nmseA: number;
      moved: Record<'Bd' | 'Sd', { nmseB: number; dir: string }>;
      dir: string;
    };
  };
  seconds: { nudge: number; align: number; tools: number; total: number };
  report: string;
  /** `report.html`, when the optional chart libraries are installed. */
  html?: string;
  /** Why `report.html` was not written. */
  htmlSkipped?: string;
}

const NUDGE = { lr: 1e-3, batch: 8, seq: 64 };

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const stage = options.onStage ?? (() => {});
  const seed = options.seed ?? 0;
  const nudgeSteps = options.nudgeSteps ?? 40;
  const tokens = options.tokens ?? 4096;
  const out = options.outDir;
  fs.mkdirSync(out, { recursive: true });
  const work = fs.mkdtempSync(path.join(out, '.work-'));
  try {
    const a = tinyBase();
    const d = native.inspectModel(a).d;
    const hidden = Gauge.random(d, { seed: seed + 1, group: 'Bd', positiveFraction: 0.5 });
    stage(`re-charting the model by a hidden signed permutation (${d - countPositive(hidden)} of ${d} signs negative)`);
    const recharted = path.join(work, 'recharted');
    await native.applyGauge(a, hidden, recharted);

    const corpus = DEMO_TEXT;
    stage(`nudging it: ${nudgeSteps} AdamW steps on docs/GAUGE.md (bytes)`);
    const t1 = performance.now();
    const run = await train(recharted, corpus, path.join(work, 'nudge'), { ...NUDGE, steps: nudgeSteps, seed });
    const nudgeSeconds = (performance.now() - t1) / 1000;
    const b = path.join(out, 'B');
    fs.rmSync(b, { recursive: true, force: true });
    fs.renameSync(run.checkpoints[run.checkpoints.length - 1].dir, b);

    // The probe: the built-in English text as bytes (the model's tokens).
    const ids = Array.from(Buffer.from(defaultProbeText(), 'utf8').subarray(0, tokens));
    const probeFile = path.join(work, 'probe.json');
    fs.writeFileSync(probeFile, JSON.stringify(ids));
    stage(`aligning A -> B on ${ids.length} bytes of the built-in probe text`);
    const t2 = performance.now();
    const { stats, probe } = await collectStats(a, b, { probe: probeFile, tokens: ids.length, contextLength: 64, seed });
    hidden.write(path.join(out, 'hidden-gauge.safetensors'), { source: a, target: b, method: 'hidden' }, { overwrite: true });
    const methods = {} as DemoResult['methods'];
    let confidence: DemoResult['confidence'] | undefined;
    let marginalized: AlignResult | undefined;
    for (const m of METHODS) {
      const r = await align(a, b, { stats, method: m, truth: hidden, keepMatrix: m === 'marginalized' });
      if (m === 'marginalized') marginalized = r;
      const file = path.join(out, `estimate-${m}.safetensors`);
      r.gauge.write(file, { source: a, target: b, method: m }, { overwrite: true });
      methods[m] = { ...r.truth![m], file };
      if (m === 'marginalized') confidence = { mean: r.confidenceSummary.mean, p05: r.confidenceSummary.p05 };
    }
    const alignSeconds = (performance.now() - t2) / 1000;
    const estimates = { Bd: Gauge.read(methods.marginalized.file), Sd: Gauge.read(methods.permutation.file) };

    const t3 = performance.now();
    const tools = await moveTools(a, b, estimates, out, stage);
    const toolSeconds = (performance.now() - t3) / 1000;
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const k = Math.min(5, run.losses.length);
    const report = path.join(out, 'report.json');
    const r: DemoResult = {
      model: a,
      d,
      hidden: { negativeSigns: d - countPositive(hidden) },
      nudge: { steps: nudgeSteps, lr: NUDGE.lr, corpus, lossFirst: mean(run.losses.slice(0, k)), lossLast: mean(run.losses.slice(-k)) },
      probe: { source: probe.source, tokens: probe.tokens },
      methods,
      confidence: confidence!,
      tools,
      seconds: { nudge: nudgeSeconds, align: alignSeconds, tools: toolSeconds, total: (performance.now() - t0) / 1000 },
      report,
    };
    try {
      await writeDemoHtml(path.join(out, 'report.html'), r, marginalized!);
      r.html = path.join(out, 'report.html');
    } catch (e) {
      // Charts need vega and vega-lite, optional dependencies: without them the demo still runs, and says so.
      if (errorCode(e) !== REPORT_UNAVAILABLE) throw e;
      r.htmlSkipped = (e as Error).message;
    }
    writeAtomic(report, JSON.stringify(r, null, 2) + '\n', true);
    return r;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const SITE = 'h_1';

/** `report.html`: the alignment (heatmap, confidence, signs, layers) and the tools side by side. */
async function writeDemoHtml(file: string, r: DemoResult, est: AlignResult): Promise<void> {
  const { steering, sae } = r.tools;
  const bars = [
    { category: 'signed accuracy', series: 'Bd estimate', value: r.methods.marginalized.signedAccuracy },
    { category: 'signed accuracy', series: 'Sd estimate', value: r.methods.permutation.signedAccuracy },
    { category: 'steering effect kept', series: 'Bd estimate', value: steering.moved.Bd.preserved },
    { category: 'steering effect kept', series: 'Sd estimate', value: steering.moved.Sd.preserved },
  ];
  const nmse = [
    { category: 'SAE in A', series: 'source', value: sae.nmseA },
    { category: 'SAE moved to B', series: 'Bd estimate', value: sae.moved.Bd.nmseB },
    { category: 'SAE moved to B', series: 'Sd estimate', value: sae.moved.Sd.nmseB },
  ];
  const sections: Section[] = [
    {
      title: 'Tools made for A, moved to B',
      text: [
        `B is the built-in model re-charted by a hidden signed permutation (${r.hidden.negativeSigns} of ${r.d} signs negative) and fine-tuned ${r.nudge.steps} steps. A steering vector (${steering.behaviour}, at ${steering.site}) and an SAE (${sae.features} features, at ${sae.site}) made for A are moved to B with the Bd estimate (sign-marginalized matching) and the Sd estimate (permutation-only).`,
      ],
      charts: [
        await groupedBars(bars, 'Gauge accuracy and steering effect kept in B', 'fraction', { percent: true }),
        await groupedBars(nmse, 'SAE reconstruction NMSE (held-out text)', 'NMSE'),
      ],
    },
    ...(await alignSections(est, 'A -> B (marginalized)')),
  ];
  writeHtml(file, page('gauge-transport demo', [`A: ${r.model}`, `B: ${path.join(path.dirname(file), 'B')}`, `total ${r.seconds.total.toFixed(1)} s`], sections), true);
}

/** Makes a steering vector and an SAE in A, moves both to B with each estimate and scores them there. */
async function moveTools(a: string, b: string, estimates: Record<'Bd' | 'Sd', Gauge>, out: string, stage: (s: string) => void): Promise<DemoResult['tools']> {
  const ma = await loadModel(a);
  const mb = await loadModel(b);
  const beh = behaviour('tiny');
  const e = encodeBehaviour(beh, BYTE_TOKENIZER);
  stage(`transporting a steering vector (${beh.name}, at ${SITE}) with the Bd and the Sd estimate`);
  const v = await steeringVector(ma, e.positive, e.negative, SITE);
  const scale = 2;
  const effectA = (await steeringEffect(ma, e.evaluation, v, SITE, e.contrast, { scale })).effect;
  const unsteeredB = await logitContrast(mb, e.evaluation, e.contrast);
  const vectorFile = path.join(out, 'steering-A.json');
  writeJson(vectorFile, { site: SITE, behaviour: beh.name, vector: Array.from(v) });
  const steering = { behaviour: beh.name, site: SITE, effectA, moved: {} as DemoResult['tools']['steering']['moved'], file: vectorFile };
  for (const k of ['Bd', 'Sd'] as const) {
    const moved = estimates[k].applyVector(v);
    const effectB = (await steeringEffect(mb, e.evaluation, moved, SITE, e.contrast, { scale, unsteered: unsteeredB })).effect;
    const file = path.join(out, `steering-B-${k}.json`);
    writeJson(file, { site: SITE, behaviour: beh.name, vector: Array.from(moved) });
    steering.moved[k] = { effectB, preserved: effectB / effectA, file };
  }

  stage(`fitting an SAE to A's ${SITE} on the probe text and transporting it with each estimate`);
  const fitIds = Uint32Array.from(Buffer.from(defaultProbeText(), 'utf8'));
  const evalIds = Uint32Array.from(fs.readFileSync(DEMO_TEXT).subarray(0, 4096));
  const d = ma.d;
  const saeDir = path.join(out, 'sae-A');
  fs.rmSync(saeDir, { recursive: true, force: true });
  await trainSae(await siteActivations(ma, fitIds, SITE), d, saeDir, { dSae: 4 * d, l1: 1e-2, steps: 1000, hookName: 'blocks.1.hook_resid_pre' });
  const nmseA = (await evaluateSae(saeDir, await siteActivations(ma, evalIds, SITE))).nmse;
  const xb = await siteActivations(mb, evalIds, SITE);
  const sae = { site: SITE, features: 4 * d, nmseA, moved: {} as DemoResult['tools']['sae']['moved'], dir: saeDir };
  for (const k of ['Bd', 'Sd'] as const) {
    const dir = path.join(out, `sae-B-${k}`);
    await transportSae(saeDir, estimates[k], dir, { overwrite: true });
    sae.moved[k] = { nmseB: (await evaluateSae(dir, xb)).nmse, dir };
  }
  return { steering, sae };
}

function writeJson(file: string, value: unknown): void {
  writeAtomic(file, JSON.stringify(value) + '\n', true);
}

function countPositive(g: Gauge): number {
  let n = 0;
  for (const s of g.sign) if (s > 0) n++;
  return n;
}
