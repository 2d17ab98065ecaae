/**
 * The transport experiments (issue "Transport of tools"): `sae`, `steering`, `neurons`, `merge`, `adamw`. Each
 * moves one kind of tool from A to B with the true gauge, the `Bd` estimate, the `Sd` estimate and not at all, on
 * the pairs of `pairs.ts` (the built-in tiny model against its re-charted, fine-tuned copy; SmolLM2-135M and
 * Gemma 3 270M each against its fine-tuned copy in a hidden chart; and, as a control, SmolLM2-135M against its exact
 * re-charted copy). Per-model parameters (`--scale-smollm2`, ...) apply to every real-model pair. `--pairs` runs
 * some pairs only: the others are carried over from the recorded result when it used the same parameters
 * (`carry.ts`).
 */
import { num, type Value } from '../../../../../dist/commands/args';
import { invalidArgument } from '../../../../../dist/errors';
import type { Experiment } from '../index';
import { auditReport, auditTable, runAuditExperiment, type AuditExperimentResult } from './audit';
import { adamwTable, runAdamwExperiment, type AdamwExperimentResult } from './adamw';
import { mergeTable, runMergeExperiment, type MergeExperimentResult } from './merge';
import { carryPairs } from './carry';
import { PAIRS, type PairName } from './pairs';
import { previousResult } from '../previous';
import { adamwReport, mergeReport, neuronsReport, saeReport, steeringReport } from './reports';
import { runSaeExperiment, saeTable, type SaeExperimentResult } from './sae';
import { neuronsTable, runNeuronsExperiment, runSteeringExperiment, steeringTable, type NeuronsExperimentResult, type SteeringExperimentResult } from './steering';

const log = (s: string) => process.stderr.write(`  ${s}\n`);

function pairs(v: Value): PairName[] {
  if (typeof v !== 'string') return [...PAIRS];
  const list = v.split(',').filter(Boolean);
  for (const p of list) if (!(PAIRS as readonly string[]).includes(p)) throw invalidArgument('--pairs', `${JSON.stringify(p)} is not one of ${PAIRS.join(', ')}`);
  return list as PairName[];
}

const common = { pairs: { type: 'string' as const }, seed: { type: 'string' as const } };
const seedOf = (v: Value) => num(v, '--seed', 0, { min: 0, max: 2 ** 40, integer: true });

export const sae: Experiment<SaeExperimentResult> = {
  summary: 'an SAE fitted on A, transported to re-charted B by the true gauge, Bd and Sd estimates: NMSE in B',
  flags: '[--pairs tiny,smollm2-ft,smollm2,gemma3-ft] [--train-tokens 16384] [--eval-tokens 4096] [--expansion 4] [--l1 0.01] [--steps 2000] [--seed 0]',
  options: { ...common, 'train-tokens': { type: 'string' }, 'eval-tokens': { type: 'string' }, expansion: { type: 'string' }, l1: { type: 'string' }, steps: { type: 'string' } },
  run: (v) =>
    runSaeExperiment(
      {
        pairs: pairs(v.pairs),
        trainTokens: num(v['train-tokens'], '--train-tokens', 16384, { min: 64, integer: true }),
        evalTokens: num(v['eval-tokens'], '--eval-tokens', 4096, { min: 64, integer: true }),
        expansion: num(v.expansion, '--expansion', 4, { min: 1, max: 64, integer: true }),
        l1: num(v.l1, '--l1', 0.01, { min: 0 }),
        steps: num(v.steps, '--steps', 2000, { min: 1, integer: true }),
        seed: seedOf(v.seed),
      },
      log,
    ).then((r) => carryPairs(r, previousResult(v, 'sae'), PAIRS)),
  table: saeTable,
  report: saeReport,
};

export const steering: Experiment<SteeringExperimentResult> = {
  summary: 'a steering vector made in A, transported to re-charted B: effect preserved under each gauge',
  flags: '[--pairs tiny,smollm2-ft,smollm2,gemma3-ft] [--scale-tiny 2] [--scale-smollm2 4] [--seed 0]',
  options: { ...common, 'scale-tiny': { type: 'string' }, 'scale-smollm2': { type: 'string' } },
  run: (v) =>
    runSteeringExperiment(
      {
        pairs: pairs(v.pairs),
        scale: { tiny: num(v['scale-tiny'], '--scale-tiny', 2, { min: 0 }), smollm2: num(v['scale-smollm2'], '--scale-smollm2', 4, { min: 0 }) },
        seed: seedOf(v.seed),
      },
      log,
    ).then((r) => carryPairs(r, previousResult(v, 'steering'), PAIRS)),
  table: steeringTable,
  report: steeringReport,
};

export const neurons: Experiment<NeuronsExperimentResult> = {
  summary: 'a top-k attribution list made in A, transported to re-charted B: overlap with the list recomputed in B',
  flags: '[--pairs tiny,smollm2-ft,smollm2,gemma3-ft] [--k-tiny 8] [--k-smollm2 32] [--seed 0]',
  options: { ...common, 'k-tiny': { type: 'string' }, 'k-smollm2': { type: 'string' } },
  run: (v) =>
    runNeuronsExperiment(
      {
        pairs: pairs(v.pairs),
        k: { tiny: num(v['k-tiny'], '--k-tiny', 8, { min: 1, max: 64, integer: true }), smollm2: num(v['k-smollm2'], '--k-smollm2', 32, { min: 1, max: 576, integer: true }) },
        seed: seedOf(v.seed),
      },
      log,
    ).then((r) => carryPairs(r, previousResult(v, 'neurons'), PAIRS)),
  table: neuronsTable,
  report: neuronsReport,
};

export const merge: Experiment<MergeExperimentResult> = {
  summary: 'B merged into the chart of A under each gauge: the merged loss against both parents',
  flags: '[--pairs tiny,smollm2-ft,smollm2,gemma3-ft] [--run-steps 300] [--run-lr 3e-3] [--eval-tokens 4096] [--seed 0]',
  options: { ...common, 'run-steps': { type: 'string' }, 'run-lr': { type: 'string' }, 'eval-tokens': { type: 'string' } },
  run: (v) =>
    runMergeExperiment(
      {
        pairs: pairs(v.pairs),
        runSteps: num(v['run-steps'], '--run-steps', 300, { min: 1, integer: true }),
        runLr: num(v['run-lr'], '--run-lr', 3e-3, { min: 0 }),
        evalTokens: num(v['eval-tokens'], '--eval-tokens', 4096, { min: 128, integer: true }),
        seed: seedOf(v.seed),
      },
      log,
    ).then((r) => carryPairs(r, previousResult(v, 'merge'), PAIRS)),
  table: mergeTable,
  report: mergeReport,
};

export const adamw: Experiment<AdamwExperimentResult> = {
  summary: 'AdamW state carried to a re-charted checkpoint: largest loss gap of the resumed run to the original',
  flags: '[--pairs tiny,smollm2-ft,smollm2,gemma3-ft] [--resume-tiny 200] [--resume-smollm2 20] [--warm-tiny 100] [--warm-smollm2 10] [--seed 0]',
  options: { ...common, 'resume-tiny': { type: 'string' }, 'resume-smollm2': { type: 'string' }, 'warm-tiny': { type: 'string' }, 'warm-smollm2': { type: 'string' } },
  run: (v) =>
    runAdamwExperiment(
      {
        pairs: pairs(v.pairs),
        warm: { tiny: num(v['warm-tiny'], '--warm-tiny', 100, { min: 1, integer: true }), smollm2: num(v['warm-smollm2'], '--warm-smollm2', 10, { min: 1, integer: true }) },
        resume: { tiny: num(v['resume-tiny'], '--resume-tiny', 200, { min: 1, integer: true }), smollm2: num(v['resume-smollm2'], '--resume-smollm2', 20, { min: 1, integer: true }) },
        batch: { tiny: 8, smollm2: 2 },
        seq: { tiny: 64, smollm2: 64 },
        lr: { tiny: 3e-3, smollm2: 3e-5 },
        seed: seedOf(v.seed),
      },
      log,
    ).then((r) => carryPairs(r, previousResult(v, 'adamw'), PAIRS)),
  table: adamwTable,
  report: adamwReport,
};

export const auditExperiment: Experiment<AuditExperimentResult> = {
  summary: 'claims read off a model (top coordinates with signs, top-k lists), audited across checkpoints and random gauges',
  flags: '[--pairs tiny,smollm2-ft,smollm2,gemma3-ft] [--sweep 8] [--k-tiny 8] [--k-smollm2 16] [--seed 0]',
  options: { ...common, sweep: { type: 'string' }, 'k-tiny': { type: 'string' }, 'k-smollm2': { type: 'string' } },
  run: (v) =>
    runAuditExperiment(
      {
        pairs: pairs(v.pairs),
        sweep: num(v.sweep, '--sweep', 8, { min: 1, max: 100, integer: true }),
        k: { tiny: num(v['k-tiny'], '--k-tiny', 8, { min: 2, max: 64, integer: true }), smollm2: num(v['k-smollm2'], '--k-smollm2', 16, { min: 2, max: 576, integer: true }) },
        seed: seedOf(v.seed),
      },
      log,
    ).then((r) => carryPairs(r, previousResult(v, 'audit'), PAIRS)),
  table: auditTable,
  report: auditReport,
};
