/**
 * Experiment `align-prior`: is the data-free estimate from the weights a good initialiser for the activation
 * estimate? Each model `A` is re-charted by a hidden Bd gauge (half the signs negative) and perturbed by Gaussian
 * noise of each given scale into `B` (larger noise: a stand-in for more drift between the checkpoints). For probe
 * budgets growing from a few dozen tokens, the signed accuracy of the marginalized estimate is reported from the
 * activations alone, from the weights alone, and from the activations with the weights' correlation added as a
 * prior (`align(A, B, {prior: 'weights'})`).
 *
 * The budgets are prefixes of one probe: the statistics of each new slice of sequences are merged into the running
 * total (merging is exact), so each model runs once over the largest budget.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { align, resolveSites, type PairStats } from '../../../../dist/align';
import { loadProbe, packProbe } from '../../../../dist/probe';
import { machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { label, rechartedPair } from './align';
import { SMOLLM2_GGUF } from './groups';

export interface AlignPriorOptions {
  /** Random presets and/or HF directories or GGUF files. @default tiny-qwen2 and SmolLM2 */
  models?: string[];
  /** Perturbation scales. @default 0.01, 0.1, 0.5 */
  noises?: number[];
  /** Probe budgets in tokens, increasing; each a multiple of `contextLength`. @default 64, 256, 1024, 4096 */
  budgets?: number[];
  /** @default 64 */
  contextLength?: number;
  /** Weight of the prior. @default 1 */
  priorWeight?: number;
  /** @default 0 */
  seed?: number;
  /** @default os.tmpdir() */
  workDir?: string;
}

interface Estimate {
  signedAccuracy: number;
  meanConfidence: number;
}

export interface AlignPriorRow {
  model: string;
  noise: number;
  tokens: number;
  activations: Estimate;
  weights: Estimate;
  prior: Estimate;
}

export interface AlignPriorResult {
  name: 'align-prior';
  params: Required<AlignPriorOptions>;
  rows: AlignPriorRow[];
  skipped: { model: string; reason: string }[];
  machine: Record<string, string | number>;
}

async function runModel(model: string, noise: number, o: Required<AlignPriorOptions>, work: string): Promise<AlignPriorRow[]> {
  const { a, b, truth } = await rechartedPair(model, work, { seed: o.seed, noise, positiveFraction: 0.5 });
  const [ma, mb] = await Promise.all([native.Model.load(a), native.Model.load(b)]);
  const tokenizer = fs.existsSync(path.join(a, 'tokenizer.json')) ? native.Tokenizer.load(a) : undefined;
  const max = o.budgets[o.budgets.length - 1];
  const probe = loadProbe('builtin', { vocab: ma.vocab, tokenizer, tokens: max, seed: o.seed });
  const packed = packProbe(probe.ids, { contextLength: o.contextLength, batchSize: 8, tokenBudget: max, source: probe.source });
  const ids = packed.ids;
  const sites = resolveSites('all', ma.layers);
  const weightStats = await native.weightPairStats(a, b);
  const weights = await align(a, b, { stats: weightStats, truth });
  const est = (r: Awaited<ReturnType<typeof align>>): Estimate => ({
    signedAccuracy: r.truth!.marginalized.signedAccuracy,
    meanConfidence: r.confidenceSummary.mean,
  });
  const rows: AlignPriorRow[] = [];
  let total: PairStats | undefined;
  let done = 0;
  for (const budget of o.budgets) {
    const slice = ids.slice(done, Math.min(budget, ids.length));
    if (slice.length > 0) {
      const part = await native.collectPairStats(ma, mb, slice, { seq: o.contextLength, batch: 8, sites });
      if (total) total.merge(part);
      else total = part;
    }
    done = Math.min(budget, ids.length);
    const acts = await align(a, b, { stats: total, truth });
    const prior = await align(a, b, { stats: total, truth, prior: weightStats, priorWeight: o.priorWeight });
    rows.push({ model: label(model), noise, tokens: done, activations: est(acts), weights: est(weights), prior: est(prior) });
    process.stderr.write(
      `  ${label(model)} noise ${noise}: ${done} tokens: activations ${acts.truth!.marginalized.signedAccuracy}, ` +
        `weights ${weights.truth!.marginalized.signedAccuracy}, both ${prior.truth!.marginalized.signedAccuracy}\n`,
    );
  }
  return rows;
}

export async function runAlignPrior(options: AlignPriorOptions = {}): Promise<AlignPriorResult> {
  const o: Required<AlignPriorOptions> = {
    models: options.models ?? ['tiny-qwen2', SMOLLM2_GGUF],
    noises: options.noises ?? [0.01, 0.1, 0.5],
    budgets: options.budgets ?? [64, 256, 1024, 4096],
    contextLength: options.contextLength ?? 64,
    priorWeight: options.priorWeight ?? 1,
    seed: options.seed ?? 0,
    workDir: options.workDir ?? os.tmpdir(),
  };
  for (const [k, t] of o.budgets.entries()) {
    if (t % o.contextLength !== 0 || (k > 0 && t <= o.budgets[k - 1])) {
      throw new Error(`--budgets: ${o.budgets.join(',')} must increase, each a multiple of --context ${o.contextLength}`);
    }
  }
  const rows: AlignPriorRow[] = [];
  const skipped: AlignPriorResult['skipped'] = [];
  for (const model of o.models) {
    if (model.endsWith('.gguf') && !fs.existsSync(model)) {
      skipped.push({ model: label(model), reason: `${model} not found; run python3 scripts/fetch_models.py` });
      continue;
    }
    const work = fs.mkdtempSync(path.join(o.workDir, 'gt-align-prior-'));
    try {
      for (const noise of o.noises) rows.push(...(await runModel(model, noise, o, work)));
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  return { name: 'align-prior', params: o, rows, skipped, machine: machine() };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function alignPriorTable(r: AlignPriorResult): Table {
  const cell = (e: Estimate) => `${pct(e.signedAccuracy)} (${e.meanConfidence.toFixed(3)})`;
  return {
    header: ['model', 'noise', 'probe tokens', 'activations', 'weights', 'activations + weights prior'],
    rows: r.rows.map((row) => [row.model, String(row.noise), String(row.tokens), cell(row.activations), cell(row.weights), cell(row.prior)]),
  };
}
