/**
 * The demo: the whole story on the built-in model (`models/tiny-base`, a byte-level Llama with RMSNorm gains,
 * d = 64), in seconds.
 *
 * 1. `B` = the model re-charted by a hidden random signed permutation (half the signs negative), then nudged by a
 *    short fine-tuning on a text it has not seen (this package's README), as a later checkpoint would be.
 * 2. The gauge `A -> B` is estimated from activations on the built-in probe text (as bytes), and every method is
 *    scored against the hidden gauge: `marginalized` (the Bd estimate) recovers it; `permutation` (what
 *    permutation-only tools find, the Sd estimate) gets the permutation right and the negative signs wrong;
 *    `signed` loses the coordinates whose sign flipped.
 *
 * Everything is written to `outDir`: the hidden gauge, the estimates, and `report.json`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('./native');
import { align, collectStats } from './align';
import { defaultProbeText } from './probe';
import { Gauge } from './gauge';
import { METHODS, type Method } from './matching';
import { PACKAGE_ROOT } from './results';
import { tinyBase } from './tiny-base';
import { train } from './train';

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
  seconds: { nudge: number; align: number; total: number };
  report: string;
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

    const corpus = path.join(PACKAGE_ROOT, 'README.md');
    stage(`nudging it: ${nudgeSteps} AdamW steps on README.md (bytes)`);
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
    for (const m of METHODS) {
      const r = await align(a, b, { stats, method: m, truth: hidden });
      const file = path.join(out, `estimate-${m}.safetensors`);
      r.gauge.write(file, { source: a, target: b, method: m }, { overwrite: true });
      methods[m] = { ...r.truth![m], file };
      if (m === 'marginalized') confidence = { mean: r.confidenceSummary.mean, p05: r.confidenceSummary.p05 };
    }
    const alignSeconds = (performance.now() - t2) / 1000;
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
      seconds: { nudge: nudgeSeconds, align: alignSeconds, total: (performance.now() - t0) / 1000 },
      report,
    };
    const tmp = `${report}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n');
    fs.renameSync(tmp, report);
    return r;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function countPositive(g: Gauge): number {
  let n = 0;
  for (const s of g.sign) if (s > 0) n++;
  return n;
}
