/**
 * Experiment `align`: the acceptance test of activation alignment (GAUGE.md §5). Each model `A` is re-charted by a
 * hidden random gauge of its group (`Bd` with half the signs negative for RMSNorm models, `±Sd` for LayerNorm)
 * and then perturbed (Gaussian noise of `noise` × each tensor's std) into `B`; `align(A, B)` is run with each
 * built-in probe kind (sequences of 128 tokens, the tiny GPT-2's context) and data-free from the weights, and every method's accuracy against the hidden gauge is
 * reported, with the time breakdown.
 *
 * Expected (the paper's pattern): `marginalized` recovers the signed gauge; `signed` finds about the positive-sign
 * fraction of the permutation; `permutation` finds the permutation but gets the negative signs wrong.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../native');
import { align, type AlignResult } from '../align';
import { Gauge } from '../gauge';
import { PROBE_KINDS, type ProbeKind } from '../probe';
import { machine } from '../results';
import type { Table } from '../table';
import { SMOLLM2_GGUF } from './groups';

export interface AlignExperimentOptions {
  /** Random presets and/or HF directories or GGUF files. @default tiny, tiny-qwen2, tiny-gpt2 and SmolLM2 */
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
}

export interface AlignRow {
  model: string;
  d: number;
  /** `builtin:<kind>` or `weights`. */
  source: string;
  tokens: number;
  marginalized: { permAccuracy: number; signedAccuracy: number };
  signed: { permAccuracy: number; signedAccuracy: number };
  permutation: { permAccuracy: number; signedAccuracy: number };
  meanConfidence: number;
  seconds: AlignResult['seconds'];
  warning?: string;
}

export interface AlignExperimentResult {
  name: 'align';
  params: Required<AlignExperimentOptions>;
  rows: AlignRow[];
  skipped: { model: string; reason: string }[];
  machine: Record<string, string | number>;
}

export function label(model: string): string {
  return model === SMOLLM2_GGUF ? 'SmolLM2-135M-Instruct' : model;
}

/**
 * Writes `work/A` (the model: a preset made with `seed`, a copied directory or a converted GGUF) and `work/B`: `A`
 * re-charted by a hidden random gauge of its group (returned) and perturbed by `noise`.
 */
export async function rechartedPair(
  model: string,
  work: string,
  o: { seed: number; noise: number; positiveFraction: number },
): Promise<{ a: string; b: string; truth: Gauge }> {
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
  await native.perturbCheckpoint(path.join(work, 'B0'), b, { scale: o.noise, seed: o.seed + 11 });
  fs.rmSync(path.join(work, 'B0'), { recursive: true });
  return { a, b, truth };
}

async function runModel(model: string, o: Required<AlignExperimentOptions>): Promise<AlignRow[]> {
  const work = fs.mkdtempSync(path.join(o.workDir, 'gt-align-'));
  try {
    const { a, b, truth } = await rechartedPair(model, work, o);
    const hasTokenizer = fs.existsSync(path.join(a, 'tokenizer.json'));
    const kinds: ProbeKind[] = hasTokenizer ? [...PROBE_KINDS] : ['random'];
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
    });
    for (const kind of kinds) {
      process.stderr.write(`  ${label(model)}: probe builtin:${kind}...\n`);
      const r = await align(a, b, { probe: `builtin:${kind}`, tokens: o.tokens, contextLength: 128, truth, seed: o.seed });
      rows.push(row(`builtin:${kind}`, r));
    }
    process.stderr.write(`  ${label(model)}: weights...\n`);
    rows.push(row('weights', await align(a, b, { from: 'weights', truth })));
    return rows;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function runAlignExperiment(options: AlignExperimentOptions = {}): Promise<AlignExperimentResult> {
  const o: Required<AlignExperimentOptions> = {
    models: options.models ?? ['tiny', 'tiny-qwen2', 'tiny-gpt2', SMOLLM2_GGUF],
    tokens: options.tokens ?? 16384,
    noise: options.noise ?? 0.01,
    positiveFraction: options.positiveFraction ?? 0.5,
    seed: options.seed ?? 0,
    workDir: options.workDir ?? os.tmpdir(),
  };
  const rows: AlignRow[] = [];
  const skipped: AlignExperimentResult['skipped'] = [];
  for (const model of o.models) {
    if (model.endsWith('.gguf') && !fs.existsSync(model)) {
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
