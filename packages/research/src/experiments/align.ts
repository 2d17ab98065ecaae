/**
 * Experiment `align`: the acceptance test of activation alignment (GAUGE.md §5). Each model `A` is re-charted by a
 * hidden random gauge of its group (`Bd` with half the signs negative for RMSNorm models, `±Sd` for LayerNorm)
 * and then perturbed (Gaussian noise of `noise` × each tensor's std) into `B`; `align(A, B)` is run with each
 * built-in probe kind (sequences of 128 tokens, the tiny GPT-2's context) and data-free from the weights, and every method's accuracy against the hidden gauge is
 * reported, with the time breakdown.
 *
 * Expected (the paper's pattern): `marginalized` recovers the signed gauge; `signed` finds about the positive-sign
 * fraction of the permutation; `permutation` finds the permutation but gets the negative signs wrong.
 *
 * With `trainSteps > 0` (experiment `align-trained`), `B` is further trained after the re-charting: AdamW on the
 * `prose` corpus (the Markdown docs in `node_modules`, not the probe text), so that `B` differs from `g·A` the way a
 * fine-tuned checkpoint does rather than by independent noise; the built-in text probe, the weights, and the
 * activations with the weights as a prior are then compared.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { align, type AlignResult } from '../../../../dist/align';
import { Gauge } from '../../../../dist/gauge';
import { PROBE_KINDS, type ProbeKind } from '../../../../dist/probe';
import { machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { train } from '../../../../dist/train';
import { writeCorpus } from './corpus';
import { GEMMA3_GGUF, MINILM_DIR, REAL_MODELS, SMOLLM2_GGUF } from './groups';

export interface AlignExperimentOptions {
  /**
   * Random presets and/or HF directories or GGUF files. @default tiny, tiny-qwen2, tiny-gpt2 and the real models
   * (SmolLM2, Gemma 3 270M, all-MiniLM-L6-v2)
   */
  models?: string[];
  /** Probe tokens. @default 16384 */
  tokens?: number;
  /** Perturbation scale. @default 0.01 */
  noise?: number;
  /** Positive-sign fraction of the hidden Bd gauge. @default 0.5 */
  positiveFraction?: number;
  /** @default 0 */
  seed?: number;
  /** Directory for the re-charted copies (removed afterwards). @default os.tmpdir() */
  workDir?: string;
  /** AdamW steps of further training of `B` after re-charting (and noise); 0 for none. @default 0 */
  trainSteps?: number;
  /** Its learning rate (constant after a warm-up of a tenth of the steps). @default 1e-4 */
  trainLr?: number;
  /** Its sequences per step. @default 4 */
  trainBatch?: number;
  /** Its tokens per sequence. @default 64 */
  trainSeq?: number;
  /** Probe kinds to run (`text` falls back to `random` without a tokenizer). @default all of PROBE_KINDS */
  probes?: ProbeKind[];
  /** Also align with the weights' correlation as a prior (`prior: 'weights'`) on the first probe. @default false */
  withPrior?: boolean;
}

/** How `B` was trained after re-charting. */
export interface FurtherTraining {
  steps: number;
  lr: number;
  /** Tokens seen. */
  tokens: number;
  /** Mean loss of the first and of the last ten steps (nats). */
  lossFirst: number;
  lossLast: number;
  seconds: number;
}

export interface AlignRow {
  model: string;
  d: number;
  /** `builtin:<kind>`, `weights`, or `builtin:<kind>+weights` (activations with the weights as a prior). */
  source: string;
  tokens: number;
  marginalized: { permAccuracy: number; signedAccuracy: number };
  signed: { permAccuracy: number; signedAccuracy: number };
  permutation: { permAccuracy: number; signedAccuracy: number };
  meanConfidence: number;
  seconds: AlignResult['seconds'];
  warning?: string;
  training?: FurtherTraining;
}

export interface AlignExperimentResult {
  name: 'align';
  params: Required<AlignExperimentOptions>;
  rows: AlignRow[];
  skipped: { model: string; reason: string }[];
  machine: Record<string, string | number>;
}

export function label(model: string): string {
  return model === SMOLLM2_GGUF ? 'SmolLM2-135M-Instruct' : (REAL_MODELS[model] ?? model);
}

/**
 * Writes `work/A` (the model: a preset made with `seed`, a copied directory or a converted GGUF) and `work/B`: `A`
 * re-charted by a hidden random gauge of its group (returned), perturbed by `noise`, and then trained
 * `train.steps` steps when given.
 */
export async function rechartedPair(
  model: string,
  work: string,
  o: {
    seed: number;
    noise: number;
    positiveFraction: number;
    train?: { steps: number; lr: number; batch: number; seq: number };
  },
): Promise<{ a: string; b: string; truth: Gauge; training?: FurtherTraining }> {
  const a = path.join(work, 'A');
  if (!fs.existsSync(a)) {
    if (fs.existsSync(model) && fs.statSync(model).isFile()) await native.convertGguf(model, a);
    else if (fs.existsSync(model)) fs.cpSync(model, a, { recursive: true });
    else await native.initCheckpoint(model, a, { seed: o.seed });
  }
  const info = native.inspectModel(a);
  const truth =
    info.group === 'Bd'
      ? Gauge.random(info.d, { seed: o.seed + 7, group: 'Bd', positiveFraction: o.positiveFraction })
      : Gauge.random(info.d, { seed: o.seed + 7, group: '±Sd', positiveFraction: 0 });
  const b = path.join(work, 'B');
  fs.rmSync(b, { recursive: true, force: true });
  await native.applyGauge(a, truth, path.join(work, 'B0'));
  const perturbed = o.train && o.train.steps > 0 ? path.join(work, 'B1') : b;
  await native.perturbCheckpoint(path.join(work, 'B0'), perturbed, { scale: o.noise, seed: o.seed + 11 });
  fs.rmSync(path.join(work, 'B0'), { recursive: true });
  if (perturbed === b) return { a, b, truth };
  const t = o.train!;
  const corpus = path.join(work, 'prose.txt');
  writeCorpus('prose', corpus, 4 << 20);
  const started = performance.now();
  let reported = 0;
  const summary = await train(perturbed, corpus, path.join(work, 'run'), {
    steps: t.steps,
    lr: t.lr,
    warmup: Math.floor(t.steps / 10),
    batch: t.batch,
    seq: t.seq,
    seed: o.seed + 13,
    onProgress: (p) => {
      if (p.step - reported >= 10 || p.step === p.steps) {
        reported = p.step;
        process.stderr.write(`    training B: step ${p.step}/${p.steps}, loss ${p.loss.toFixed(3)}\n`);
      }
    },
  });
  const seconds = (performance.now() - started) / 1000;
  fs.renameSync(summary.checkpoints[summary.checkpoints.length - 1].dir, b);
  fs.rmSync(path.join(work, 'run'), { recursive: true, force: true });
  fs.rmSync(perturbed, { recursive: true, force: true });
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const k = Math.min(10, summary.losses.length);
  return {
    a,
    b,
    truth,
    training: {
      steps: t.steps,
      lr: t.lr,
      tokens: t.steps * t.batch * t.seq,
      lossFirst: mean(summary.losses.slice(0, k)),
      lossLast: mean(summary.losses.slice(-k)),
      seconds,
    },
  };
}

async function runModel(model: string, o: Required<AlignExperimentOptions>): Promise<AlignRow[]> {
  const work = fs.mkdtempSync(path.join(o.workDir, 'gt-align-'));
  try {
    const train =
      o.trainSteps > 0 ? { steps: o.trainSteps, lr: o.trainLr, batch: o.trainBatch, seq: o.trainSeq } : undefined;
    const { a, b, truth, training } = await rechartedPair(model, work, { ...o, train });
    const hasTokenizer = fs.existsSync(path.join(a, 'tokenizer.json'));
    const kinds: ProbeKind[] = hasTokenizer ? o.probes : ['random'];
    const rows: AlignRow[] = [];
    const row = (source: string, r: AlignResult): AlignRow => ({
      model: label(model),
      d: r.d,
      source,
      tokens: r.probe.tokens,
      marginalized: r.truth!.marginalized,
      signed: r.truth!.signed,
      permutation: r.truth!.permutation,
      meanConfidence: r.confidenceSummary.mean,
      seconds: r.seconds,
      ...(r.probe.warning ? { warning: r.probe.warning } : {}),
      ...(training ? { training } : {}),
    });
    for (const kind of kinds) {
      process.stderr.write(`  ${label(model)}: probe builtin:${kind}...\n`);
      const r = await align(a, b, { probe: `builtin:${kind}`, tokens: o.tokens, contextLength: 128, truth, seed: o.seed });
      rows.push(row(`builtin:${kind}`, r));
    }
    process.stderr.write(`  ${label(model)}: weights...\n`);
    rows.push(row('weights', await align(a, b, { from: 'weights', truth })));
    if (o.withPrior) {
      const kind = kinds[0];
      process.stderr.write(`  ${label(model)}: probe builtin:${kind} with the weights as a prior...\n`);
      const r = await align(a, b, {
        probe: `builtin:${kind}`,
        tokens: o.tokens,
        contextLength: 128,
        truth,
        seed: o.seed,
        prior: 'weights',
      });
      rows.push(row(`builtin:${kind}+weights`, r));
    }
    return rows;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function runAlignExperiment(options: AlignExperimentOptions = {}): Promise<AlignExperimentResult> {
  const o: Required<AlignExperimentOptions> = {
    models: options.models ?? ['tiny', 'tiny-qwen2', 'tiny-gpt2', SMOLLM2_GGUF, GEMMA3_GGUF, MINILM_DIR],
    tokens: options.tokens ?? 16384,
    noise: options.noise ?? 0.01,
    positiveFraction: options.positiveFraction ?? 0.5,
    seed: options.seed ?? 0,
    workDir: options.workDir ?? os.tmpdir(),
    trainSteps: options.trainSteps ?? 0,
    trainLr: options.trainLr ?? 1e-4,
    trainBatch: options.trainBatch ?? 4,
    trainSeq: options.trainSeq ?? 64,
    probes: options.probes ?? [...PROBE_KINDS],
    withPrior: options.withPrior ?? false,
  };
  const rows: AlignRow[] = [];
  const skipped: AlignExperimentResult['skipped'] = [];
  for (const model of o.models) {
    if ((model.endsWith('.gguf') || model in REAL_MODELS) && !fs.existsSync(model)) {
      skipped.push({ model: label(model), reason: `${model} not found; run python3 scripts/fetch_models.py` });
      continue;
    }
    rows.push(...(await runModel(model, o)));
  }
  return { name: 'align', params: o, rows, skipped, machine: machine() };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function alignTable(r: AlignExperimentResult): Table {
  return {
    header: [
      'model',
      'statistics from',
      'tokens',
      'marginalized: signed acc.',
      'signed: perm acc.',
      'permutation: perm / signed acc.',
      'mean confidence',
      'time: forward / moments / solve',
    ],
    rows: r.rows.map((row) => [
      row.model,
      row.source,
      row.source === 'weights' ? '-' : String(row.tokens),
      pct(row.marginalized.signedAccuracy),
      pct(row.signed.permAccuracy),
      `${pct(row.permutation.permAccuracy)} / ${pct(row.permutation.signedAccuracy)}`,
      row.meanConfidence.toFixed(3),
      row.source === 'weights'
        ? `(weights ${row.seconds.statistics.toFixed(1)} s) / ${row.seconds.solve.toFixed(2)} s`
        : `${row.seconds.forward.toFixed(1)} s / ${row.seconds.moments.toFixed(1)} s / ${row.seconds.solve.toFixed(2)} s`,
    ]),
  };
}

/** The table of `align-trained`: `B` trained after re-charting; every row carries its training. */
export function alignTrainedTable(r: AlignExperimentResult): Table {
  const base = alignTable(r);
  return {
    header: ['model', 'B: further training', ...base.header.slice(1)],
    rows: r.rows.map((row, i) => {
      const t = row.training;
      const training = t
        ? `${t.steps} steps, lr ${t.lr}, ${t.tokens} tokens; loss ${t.lossFirst.toFixed(2)} -> ${t.lossLast.toFixed(2)}`
        : 'none';
      return [base.rows[i][0], training, ...base.rows[i].slice(1)];
    }),
  };
}
