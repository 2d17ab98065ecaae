/**
 * The model pairs of the transport experiments, each a source `A` and a target `B` whose chart is hidden:
 *
 * - `tiny`: the built-in model (`models/tiny-base`, byte-level Llama, d = 64) and its copy re-charted by a random
 *   `Bd` gauge (half the signs negative) and then briefly fine-tuned (AdamW on the `declarations` corpus), as a
 *   later checkpoint of a run would be;
 * - `smollm2-ft`: SmolLM2-135M-Instruct (from its GGUF, converted once to F32) and the same model fine-tuned 300
 *   AdamW steps on TypeScript declarations (`finetune.ts`), exported in a hidden random `Bd` chart. The evidence:
 *   the two checkpoints really differ, so an exact estimate does not make the tools exact;
 * - `gemma3-ft`: the same recipe on Gemma 3 270M (Q4_K_M GGUF converted to F32): a second family (sandwich norms
 *   with `1 + w` gains, a 262k-token vocabulary), fine-tuned 300 steps on declarations, in a hidden `Bd` chart;
 * - `smollm2`: **a control**. SmolLM2-135M-Instruct against its exact copy re-charted by a random `Bd` gauge; once
 *   the estimate is exact every tool is exact by construction, so its rows only check the plumbing.
 *
 * For each pair the gauge `A -> B` is estimated from activations on the built-in probe text twice: `Bd`
 * (sign-marginalized matching, the project's estimate) and `Sd` (permutation-only matching, what
 * permutation-only tools recover). With the true gauge, every tool is transported three ways, plus not at all.
 * The SmolLM2 pair (conversion, re-charting, estimation) is cached under `.cache/experiments/`, keyed by its
 * parameters, since several experiments use it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../../dist/native');
import { align, collectStats, type Agreement } from '../../../../../dist/align';
import { Gauge } from '../../../../../dist/gauge';
import { defaultProbeText, type ProbeTokenizer } from '../../../../../dist/probe';
import { PACKAGE_ROOT } from '../../../../../dist/results';
import { tinyBase } from '../../../../../dist/tiny-base';
import { BYTE_TOKENIZER, train } from '../../../../../dist/train';
import { SMOLLM2_GGUF } from '../groups';
import { writeCorpus, type CorpusName } from '../corpus';
import { fineTuneRoot, fineTuneRun, FINETUNE, type BaseModel } from '../finetune';

export const PAIRS = ['tiny', 'smollm2-ft', 'smollm2', 'gemma3-ft'] as const;
export type PairName = (typeof PAIRS)[number];

/**
 * The model size of a pair, which sets the experiments' per-model parameters (scales, list lengths, steps): the
 * built-in model, or a real one (`smollm2`, whose flags `--scale-smollm2`, ... apply to the Gemma 3 pair too).
 */
export type PairSize = 'tiny' | 'smollm2';
export const sizeOf = (name: PairName): PairSize => (name === 'tiny' ? 'tiny' : 'smollm2');

/** The pairs whose B is a real fine-tuning run of A, and the base model of each. */
export const FINE_TUNED: Partial<Record<PairName, { model: BaseModel; name: string; short: string }>> = {
  'smollm2-ft': { model: 'smollm2', name: 'SmolLM2-135M-Instruct', short: 'SmolLM2-135M' },
  'gemma3-ft': { model: 'gemma3', name: 'Gemma 3 270M', short: 'Gemma 3 270M' },
};

/** The label a fine-tuned pair's rows carry. */
export const fineTunedLabel = (name: PairName): string => `${FINE_TUNED[name]!.short} fine-tuned ${FT_STEPS} steps`;

/** Fine-tuning steps of the fine-tuned targets (`smollm2-ft`, `gemma3-ft`). */
export const FT_STEPS = 300;

/** How a tool is moved from A to B. */
export const TRANSPORTS = ['truth', 'Bd', 'Sd', 'none'] as const;
export type TransportKind = (typeof TRANSPORTS)[number];

export interface Pair {
  name: PairName;
  label: string;
  a: string;
  b: string;
  d: number;
  layers: number;
  /** The gauge A -> B of each transport kind (`none`: the identity). */
  gauges: Record<TransportKind, Gauge>;
  /** Accuracy of the two estimates against the truth. */
  accuracy: { Bd: Agreement; Sd: Agreement };
  tokenizer: ProbeTokenizer;
  /** How B was made. */
  setup: string;
  /** Where the pair's files live (removed by `dispose` unless cached). */
  dir: string;
  dispose(): void;
}

export interface PairOptions {
  /** Seed of the hidden gauge. @default 0 */
  seed?: number;
  /** Fine-tuning steps of the tiny target. @default 100 */
  nudgeSteps?: number;
  /** Probe tokens of the estimation. @default 4096 */
  probeTokens?: number;
  onStage?: (s: string) => void;
}

const NUDGE = { lr: 1e-3, batch: 8, seq: 64 };

function smollm2Gguf(): string {
  if (!fs.existsSync(SMOLLM2_GGUF)) {
    throw new Error(`${SMOLLM2_GGUF} is missing: run python3 scripts/fetch_models.py first`);
  }
  return SMOLLM2_GGUF;
}

/** Writes corpus `name` (at most `bytes`) into `dir` once and returns its path. */
export function corpusFile(dir: string, name: CorpusName, bytes: number): string {
  const file = path.join(dir, `corpus-${name}-${bytes}.txt`);
  if (!fs.existsSync(file)) writeCorpus(name, file, bytes);
  return file;
}

/**
 * The `Bd` (marginalized) and `Sd` (permutation-only) estimates of the gauge `a -> b`, from one set of statistics on
 * the first `tokens` tokens of the built-in probe text in sequences of `seq`; with `truth`, their accuracy.
 */
export async function estimateBdSd(
  a: string,
  b: string,
  tokenizer: ProbeTokenizer,
  o: { tokens: number; seq: number; work: string; truth?: Gauge },
): Promise<{ Bd: Gauge; Sd: Gauge; accuracy?: { Bd: Agreement; Sd: Agreement } }> {
  const ids = Array.from(tokenizer.encode(defaultProbeText())).slice(0, o.tokens);
  const probe = path.join(o.work, `probe-${process.pid}-${Date.now()}.json`);
  fs.writeFileSync(probe, JSON.stringify(ids));
  try {
    const { stats } = await collectStats(a, b, { probe, tokens: ids.length, contextLength: o.seq });
    const bd = await align(a, b, { stats, method: 'marginalized', truth: o.truth });
    const sd = await align(a, b, { stats, method: 'permutation', truth: o.truth });
    const accuracy = o.truth ? { Bd: bd.truth!.marginalized, Sd: sd.truth!.permutation } : undefined;
    return { Bd: bd.gauge, Sd: sd.gauge, ...(accuracy ? { accuracy } : {}) };
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

function assemble(name: PairName, label: string, a: string, b: string, truth: Gauge, est: { Bd: Gauge; Sd: Gauge; accuracy?: Pair['accuracy'] }, tokenizer: ProbeTokenizer, setup: string, dir: string, dispose: () => void): Pair {
  const info = native.inspectModel(a);
  return {
    name,
    label,
    a,
    b,
    d: info.d,
    layers: info.layers ?? 0,
    gauges: { truth, Bd: est.Bd, Sd: est.Sd, none: Gauge.identity(info.d) },
    accuracy: est.accuracy!,
    tokenizer,
    setup,
    dir,
    dispose,
  };
}

/** The pair `name`; see the module docs. */
export async function preparePair(name: PairName, options: PairOptions = {}): Promise<Pair> {
  const seed = options.seed ?? 0;
  const stage = options.onStage ?? (() => {});
  const probeTokens = options.probeTokens ?? 4096;
  if (name === 'tiny') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-pair-tiny-'));
    const a = tinyBase();
    const d = native.inspectModel(a).d;
    const truth = Gauge.random(d, { seed: seed + 1, group: 'Bd', positiveFraction: 0.5 });
    const steps = options.nudgeSteps ?? 100;
    stage(`tiny: re-charting the built-in model by a hidden Bd gauge and fine-tuning it ${steps} steps`);
    const recharted = path.join(dir, 'recharted');
    await native.applyGauge(a, truth, recharted);
    const corpus = corpusFile(dir, 'declarations', 1 << 20);
    const run = await train(recharted, corpus, path.join(dir, 'nudge'), { ...NUDGE, steps, seed });
    const b = run.checkpoints[run.checkpoints.length - 1].dir;
    stage('tiny: estimating the gauge (Bd and Sd)');
    const est = await estimateBdSd(a, b, BYTE_TOKENIZER, { tokens: probeTokens, seq: 64, work: dir, truth });
    const setup = `built-in model re-charted by a random Bd gauge, then ${steps} AdamW steps (lr ${NUDGE.lr}) on the declarations corpus`;
    return assemble(name, 'tiny-base', a, b, truth, est, BYTE_TOKENIZER, setup, dir, () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const ft = FINE_TUNED[name];
  const dir = path.join(PACKAGE_ROOT, '.cache', 'experiments', `pair-${name}-seed${seed}-probe${probeTokens}`);
  const a = ft ? path.join(fineTuneRoot(ft.model), 'base') : path.join(dir, 'A');
  const b = path.join(dir, 'B');
  const done = path.join(dir, 'pair.json');
  if (!fs.existsSync(done)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    let source: string;
    if (ft) {
      const run = await fineTuneRun('declarations', FT_STEPS, { model: ft.model, log: stage });
      source = run.checkpoints[run.checkpoints.length - 1].dir;
      stage(`${name}: exporting the ${FT_STEPS}-step checkpoint in a hidden Bd chart`);
    } else {
      stage('smollm2: converting the GGUF to F32 and re-charting it by a hidden Bd gauge');
      await native.convertGguf(smollm2Gguf(), a);
      source = a;
    }
    const d = native.inspectModel(a).d;
    const truth = Gauge.random(d, { seed: seed + 1, group: 'Bd', positiveFraction: 0.5 });
    await native.applyGauge(source, truth, b);
    // Only the model: the optimizer state of a fine-tuned checkpoint is not part of the exported target.
    fs.rmSync(path.join(b, 'optimizer.safetensors'), { force: true });
    stage(`${name}: estimating the gauge on ${probeTokens} probe tokens (Bd and Sd)`);
    const est = await estimateBdSd(a, b, native.Tokenizer.load(a), { tokens: probeTokens, seq: 256, work: dir, truth });
    truth.write(path.join(dir, 'truth.safetensors'), {}, { overwrite: true });
    est.Bd.write(path.join(dir, 'Bd.safetensors'), {}, { overwrite: true });
    est.Sd.write(path.join(dir, 'Sd.safetensors'), {}, { overwrite: true });
    fs.writeFileSync(done, JSON.stringify({ accuracy: est.accuracy }, null, 2));
  }
  const { accuracy } = JSON.parse(fs.readFileSync(done, 'utf8')) as { accuracy: Pair['accuracy'] };
  const g = (f: string) => Gauge.read(path.join(dir, f));
  return assemble(
    name,
    ft ? fineTunedLabel(name) : 'SmolLM2-135M exact copy (control)',
    a,
    b,
    g('truth.safetensors'),
    { Bd: g('Bd.safetensors'), Sd: g('Sd.safetensors'), accuracy },
    native.Tokenizer.load(a),
    ft
      ? `A: ${ft.name} (GGUF converted to F32); B: A fine-tuned ${FT_STEPS} AdamW steps (lr ${FINETUNE.lr}, ${FINETUNE.batch} x ${FINETUNE.seq} tokens) on the declarations corpus, exported in a hidden random Bd chart`
      : 'control: SmolLM2 (GGUF converted to F32) and its exact copy re-charted by a random Bd gauge; exact tools here follow from an exact estimate',
    dir,
    () => {},
  );
}

/** A fresh scratch directory inside the pair's, for one experiment's files. */
export function scratch(pair: Pair, what: string): string {
  const dir = path.join(pair.dir, `${what}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
