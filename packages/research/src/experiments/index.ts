/** The registry of experiments: each parses its own flags, runs, and renders its result as a table. */
import { num, numList, type Value } from '../../../../dist/commands/args';
import type { Section } from '../../../../dist/report';
import type { Table } from '../../../../dist/table';
import { ceilingTable, runCeiling, type CeilingResult } from './ceiling';
import { alignTable, alignTrainedTable, runAlignExperiment, type AlignExperimentResult } from './align';
import { alignPriorTable, runAlignPrior, type AlignPriorResult } from './align-prior';
import { runTrajectoryExperiment, trajectoryFigure, trajectoryReport, trajectoryTable, type TrajectoryExperimentResult } from './trajectory';
import { groupsTable, runGroups, SMOLLM2_GGUF, type GroupsResult } from './groups';
import { runSmollm2, smollm2Table, type Smollm2Result } from './smollm2';
import { runTinyBase, tinyBaseTable, type TinyBaseResult } from './tiny-base';
import { adamw, auditExperiment, merge, neurons, sae, steering } from './transport';
import { paperTable, runPaper, type PaperResult } from './paper';
import { fuzzTable, responsivenessTable, robustnessTable, runFuzz, runResponsiveness, runRobustness, type FuzzResult, type ResponsivenessResult, type RobustnessResult } from './robustness';
import { runTrajectorySmollm2, type TrajectorySmollm2Result } from './trajectory-smollm2';
import { fineTuneTable, runFineTune, type FineTuneResult } from './finetune';
import { previousResult } from './previous';
import { CORPORA, type CorpusName } from './corpus';
import { invalidArgument } from '../../../../dist/errors';
import { rechartingCheckTable, runRechartingCheck, type RechartingCheckResult } from './recharting-check';
import { reliabilityTable, runReliability, type ReliabilityResult } from './reliability';

/** An experiment the CLI can run and the README can show. */
export interface Experiment<R = unknown> {
  /** One line for `--help`. */
  summary: string;
  /** Flags beyond `--json` and `--results-dir`, for `--help`. */
  flags: string;
  /** Flag names and types, for the parser. */
  options: Record<string, { type: 'string' | 'boolean' }>;
  run(values: Record<string, Value>): Promise<R>;
  table(result: R): Table;
  /** An SVG figure shown under the table (written to benches/results/<name>.svg by `gauge-transport readme`). */
  figure?(result: R): string;
  /** Charts for `--report out.html` (the table is always included). */
  report?(result: R): Promise<Section[]>;
}

const ceiling: Experiment<CeilingResult> = {
  summary: 'structural ceiling of raw signed matching vs sign-marginalized and permutation-only matching',
  flags: '[--d 512] [--samples 8192] [--noise 0.5] [--positive-fraction 0.25,0.5,0.75,0.9,1] [--seed 0]',
  options: {
    d: { type: 'string' },
    samples: { type: 'string' },
    noise: { type: 'string' },
    'positive-fraction': { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runCeiling({
      d: num(v.d, '--d', 512, { min: 2, max: 16384, integer: true }),
      samples: num(v.samples, '--samples', 8192, { min: 2, integer: true }),
      noise: num(v.noise, '--noise', 0.5, { min: 0 }),
      positiveFractions: numList(v['positive-fraction'], '--positive-fraction', [0.25, 0.5, 0.75, 0.9, 1], {
        min: 0,
        max: 1,
      }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    }),
  table: ceilingTable,
};

const tinyBase: Experiment<TinyBaseResult> = {
  summary: 'rebuild the built-in model (models/tiny-base) from its recipe; report whether the bytes are reproduced',
  flags: '[--update] (replace the shipped model when the bytes differ)',
  options: { update: { type: 'boolean' } },
  run: (v) => runTinyBase({ update: v.update === true }),
  table: tinyBaseTable,
};

const rechartingCheck: Experiment<RechartingCheckResult> = {
  summary: 'apply checked in Hugging Face transformers: logits unchanged, hidden states moved by g',
  flags: '(no flags; needs torch and transformers, installed from PyPI when missing)',
  options: {},
  run: () => runRechartingCheck(),
  table: rechartingCheckTable,
};

const groups: Experiment<GroupsResult> = {
  summary: 'which gauges are symmetries: largest logit change under random Sd, ±Sd, Bd and a rotation',
  flags: '[--models tiny,tiny-qwen2,tiny-gpt2,<SmolLM2 GGUF>,<Gemma 3 GGUF>,<MiniLM dir>] [--seed 0] [--batch 2] [--seq 32]',
  options: {
    models: { type: 'string' },
    seed: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
  },
  run: (v) =>
    runGroups({
      models: typeof v.models === 'string' ? v.models.split(',').filter(Boolean) : undefined,
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
      batch: num(v.batch, '--batch', 2, { min: 1, max: 64, integer: true }),
      seq: num(v.seq, '--seq', 32, { min: 1, max: 4096, integer: true }),
    }),
  table: groupsTable,
};

const smollm2: Experiment<Smollm2Result> = {
  summary: 'the real model predicts English: perplexity and greedy continuations, beside transformers',
  flags: '[--model <SmolLM2 GGUF>] [--max-tokens 24]',
  options: { model: { type: 'string' }, 'max-tokens': { type: 'string' } },
  run: (v) =>
    runSmollm2({
      model: typeof v.model === 'string' ? v.model : undefined,
      maxTokens: num(v['max-tokens'], '--max-tokens', 24, { min: 1, max: 512, integer: true }),
    }),
  table: smollm2Table,
};

const alignExperiment: Experiment<AlignExperimentResult> = {
  summary: 'align a model with its re-charted, perturbed copy: accuracy of every method per probe kind and from weights',
  flags: '[--models tiny,tiny-qwen2,tiny-gpt2,<SmolLM2 GGUF>,<Gemma 3 GGUF>,<MiniLM dir>] [--tokens 16384] [--noise 0.01] [--positive-fraction 0.5] [--seed 0]',
  options: {
    models: { type: 'string' },
    tokens: { type: 'string' },
    noise: { type: 'string' },
    'positive-fraction': { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runAlignExperiment({
      models: typeof v.models === 'string' ? v.models.split(',').filter(Boolean) : undefined,
      tokens: num(v.tokens, '--tokens', 16384, { min: 1, integer: true }),
      noise: num(v.noise, '--noise', 0.01, { min: 0 }),
      positiveFraction: num(v['positive-fraction'], '--positive-fraction', 0.5, { min: 0, max: 1 }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    }),
  table: alignTable,
};

const alignTrained: Experiment<AlignExperimentResult> = {
  summary: 'align a model with its re-charted copy trained further: text probe, weights, and both (weights as a prior)',
  flags: '[--models tiny,tiny-qwen2,tiny-gpt2,<SmolLM2 GGUF>] [--train-steps 200] [--train-lr 1e-4] [--train-batch 4] [--train-seq 64] [--tokens 16384] [--noise 0] [--positive-fraction 0.5] [--seed 0]',
  options: {
    models: { type: 'string' },
    'train-steps': { type: 'string' },
    'train-lr': { type: 'string' },
    'train-batch': { type: 'string' },
    'train-seq': { type: 'string' },
    tokens: { type: 'string' },
    noise: { type: 'string' },
    'positive-fraction': { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runAlignExperiment({
      // The families the trainer runs: the tiny presets and SmolLM2.
      models:
        typeof v.models === 'string'
          ? v.models.split(',').filter(Boolean)
          : ['tiny', 'tiny-qwen2', 'tiny-gpt2', SMOLLM2_GGUF],
      trainSteps: num(v['train-steps'], '--train-steps', 200, { min: 1, integer: true }),
      trainLr: num(v['train-lr'], '--train-lr', 1e-4, { min: 0 }),
      trainBatch: num(v['train-batch'], '--train-batch', 4, { min: 1, integer: true }),
      trainSeq: num(v['train-seq'], '--train-seq', 64, { min: 2, max: 2048, integer: true }),
      tokens: num(v.tokens, '--tokens', 16384, { min: 1, integer: true }),
      noise: num(v.noise, '--noise', 0, { min: 0 }),
      positiveFraction: num(v['positive-fraction'], '--positive-fraction', 0.5, { min: 0, max: 1 }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
      probes: ['text'],
      withPrior: true,
    }),
  table: alignTrainedTable,
};

const alignPrior: Experiment<AlignPriorResult> = {
  summary: 'the weights estimate as a prior for the activations: signed accuracy by probe budget and noise',
  flags: '[--models tiny-qwen2,<SmolLM2 GGUF>] [--noises 0.01,0.1,0.5] [--budgets 64,256,1024,4096] [--context 64] [--prior-weight 1] [--seed 0]',
  options: {
    models: { type: 'string' },
    noises: { type: 'string' },
    budgets: { type: 'string' },
    context: { type: 'string' },
    'prior-weight': { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runAlignPrior({
      models: typeof v.models === 'string' ? v.models.split(',').filter(Boolean) : undefined,
      noises: numList(v.noises, '--noises', [0.01, 0.1, 0.5], { min: 0 }),
      budgets: numList(v.budgets, '--budgets', [64, 256, 1024, 4096], { min: 1, integer: true }),
      contextLength: num(v.context, '--context', 64, { min: 1, integer: true }),
      priorWeight: num(v['prior-weight'], '--prior-weight', 1, { min: 0 }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    }),
  table: alignPriorTable,
};

const trajectory: Experiment<TrajectoryExperimentResult> = {
  summary: 'two fine-tuning runs from one base, every checkpoint under a hidden Bd gauge: endpoint vs via-base vs composed',
  flags: '[--base-steps 1000] [--run-steps 1500] [--save-every 100] [--report 100,500,1000,1500] [--batch 8] [--seq 64] [--base-lr 3e-3] [--run-lrs 8e-3,2e-2,4e-2] [--run-warmup 200] [--tokens 4096] [--seed 0]',
  options: {
    'base-steps': { type: 'string' },
    'run-steps': { type: 'string' },
    'save-every': { type: 'string' },
    report: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    'base-lr': { type: 'string' },
    'run-lrs': { type: 'string' },
    'run-warmup': { type: 'string' },
    tokens: { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runTrajectoryExperiment({
      baseSteps: num(v['base-steps'], '--base-steps', 1000, { min: 1, integer: true }),
      runSteps: num(v['run-steps'], '--run-steps', 1500, { min: 1, integer: true }),
      saveEvery: num(v['save-every'], '--save-every', 100, { min: 1, integer: true }),
      report: numList(v.report, '--report', [100, 500, 1000, 1500], { min: 1, integer: true }),
      batch: num(v.batch, '--batch', 8, { min: 1, integer: true }),
      seq: num(v.seq, '--seq', 64, { min: 2, max: 2048, integer: true }),
      baseLr: num(v['base-lr'], '--base-lr', 3e-3, { min: 0 }),
      runLrs: numList(v['run-lrs'], '--run-lrs', [8e-3, 2e-2, 4e-2], { min: 0 }),
      runWarmup: num(v['run-warmup'], '--run-warmup', 200, { min: 0, integer: true }),
      tokens: num(v.tokens, '--tokens', 4096, { min: 1, integer: true }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    }),
  table: trajectoryTable,
  figure: trajectoryFigure,
  report: trajectoryReport,
};

const finetune: Experiment<FineTuneResult> = {
  summary: 'real fine-tuning runs of SmolLM2-135M-Instruct (resumable, cached): the checkpoints of smollm2-ft and the SmolLM2 trajectory',
  flags: '[--steps 300] [--corpora declarations,javascript]',
  options: { steps: { type: 'string' }, corpora: { type: 'string' } },
  run: (v) => {
    const corpora = (typeof v.corpora === 'string' ? v.corpora.split(',').filter(Boolean) : ['declarations', 'javascript']) as CorpusName[];
    for (const c of corpora) if (!(CORPORA as readonly string[]).includes(c)) throw invalidArgument('--corpora', `${JSON.stringify(c)} is not one of ${CORPORA.join(', ')}`);
    return runFineTune({ steps: num(v.steps, '--steps', 300, { min: 25, integer: true }), corpora }, (s) => process.stderr.write(`  ${s}\n`));
  },
  table: fineTuneTable,
};

const reliabilityExperiment: Experiment<ReliabilityResult> = {
  summary: "align's reliability verdict (the null with B's coordinates shuffled) on related and unrelated real pairs",
  flags: '[--null-draws 8]',
  options: { 'null-draws': { type: 'string' } },
  run: (v) => runReliability({ nullDraws: num(v['null-draws'], '--null-draws', 8, { min: 1, max: 1000, integer: true }) }),
  table: reliabilityTable,
};

const trajectorySmollm2: Experiment<TrajectorySmollm2Result> = {
  summary: 'two real fine-tuning runs of SmolLM2-135M, every checkpoint in a hidden Bd chart: endpoint vs via-base vs composed',
  flags: '[--steps 300] [--lrs 2e-4,2e-3,5e-3] [--report 25,100,200,300] [--tokens 4096] [--seed 0]',
  options: { steps: { type: 'string' }, lrs: { type: 'string' }, report: { type: 'string' }, tokens: { type: 'string' }, seed: { type: 'string' } },
  run: (v) =>
    runTrajectorySmollm2(
      {
        steps: num(v.steps, '--steps', 300, { min: 25, integer: true }),
        lrs: numList(v.lrs, '--lrs', [2e-4, 2e-3, 5e-3], { min: 0 }),
        report: numList(v.report, '--report', [25, 100, 200, 300], { min: 25, integer: true }),
        tokens: num(v.tokens, '--tokens', 4096, { min: 256, integer: true }),
        seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
      },
      (s) => process.stderr.write(`  ${s}\n`),
      previousResult<TrajectorySmollm2Result>(v, 'trajectory-smollm2'),
    ),
  table: trajectoryTable,
  figure: (r) => trajectoryFigure({ rows: r.rows, params: { runLrs: r.params.lrs } }),
};

const paper: Experiment<PaperResult> = {
  summary: "the paper's headline numbers (GAUGE.md §7) beside ours, compiled from the recorded results (runs nothing)",
  flags: '(no flags; run the experiments it cites first)',
  options: {},
  run: async () => runPaper(),
  table: paperTable,
};

const robustness: Experiment<RobustnessResult> = {
  summary: 'a corpus of 300+ malformed CLI inputs and 100+ bad addon calls: typed error / accepted / unclear / crash / hang / over 1 GB',
  flags: '[--timeout 30] (seconds per input)',
  options: { timeout: { type: 'string' } },
  run: (v) => runRobustness({ timeoutMs: 1000 * num(v.timeout, '--timeout', 30, { min: 1, max: 600 }) }, (s) => process.stderr.write(`  ${s}\n`)),
  table: robustnessTable,
};

const fuzz: Experiment<FuzzResult> = {
  summary: 'coverage-guided fuzzing (libFuzzer on stable Rust) of every parser of untrusted bytes, a fixed time each: executions and findings',
  flags: '[--seconds 60] (per target)',
  options: { seconds: { type: 'string' } },
  run: async (v) => runFuzz({ seconds: num(v.seconds, '--seconds', 60, { min: 1, max: 86400, integer: true }) }),
  table: fuzzTable,
};

const responsiveness: Experiment<ResponsivenessResult> = {
  summary: 'the event loop stays free during heavy calls, and an abort lands promptly: largest timer gap, abort latency',
  flags: '(no flags)',
  options: {},
  run: () => runResponsiveness(),
  table: responsivenessTable,
};

export const EXPERIMENTS: Record<string, Experiment<any>> = {
  paper,
  robustness,
  reliability: reliabilityExperiment,
  responsiveness,
  fuzz,
  trajectory,
  'trajectory-smollm2': trajectorySmollm2,
  finetune,
  'tiny-base': tinyBase,
  align: alignExperiment,
  'align-trained': alignTrained,
  'align-prior': alignPrior,
  ceiling,
  'recharting-check': rechartingCheck,
  groups,
  smollm2,
  sae,
  steering,
  neurons,
  merge,
  adamw,
  audit: auditExperiment,
};
