/** The registry of benchmarks, shaped like the experiments' registry. */
import * as os from 'node:os';
import { num, numList, str } from '../../../../dist/commands/args';
import type { Experiment } from '../experiments';
import { applyTable, runApplyBench, type ApplyBenchResult } from './apply';
import { blockMajorTable, runBlockMajorBench, type BlockMajorBenchResult } from './block-major';
import { collectTable, runCollectBench, type CollectBenchResult } from './collect';
import { forwardTable, runForwardBench, type ForwardBenchResult } from './forward';
import { assignmentTable, runAssignmentBench, type AssignmentBenchResult } from './assignment';
import { moments } from './moments';
import { runScaleBench, scaleTable, type Mode, type ScaleResult } from './scale';
import { runTrainBench, trainTable, type TrainBenchResult } from './train';
import { runStatsMemory, statsMemoryTable, type StatsMemoryResult } from './stats-memory';

const assignment: Experiment<AssignmentBenchResult> = {
  summary: 'our JV solver and the pathfinding reference against scipy linear_sum_assignment (same matrices)',
  flags: '[--sizes 512,1024,2048,4096] [--reps 3] [--pathfinding-max-n 4096] [--seed 0]',
  options: {
    sizes: { type: 'string' },
    reps: { type: 'string' },
    'pathfinding-max-n': { type: 'string' },
    seed: { type: 'string' },
  },
  run: (v) =>
    runAssignmentBench({
      sizes: numList(v.sizes, '--sizes', [512, 1024, 2048, 4096], { min: 1, max: 16384, integer: true }),
      reps: num(v.reps, '--reps', 3, { min: 1, max: 100, integer: true }),
      pathfindingMaxN: num(v['pathfinding-max-n'], '--pathfinding-max-n', 4096, { min: 0, integer: true }),
      seed: num(v.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    }),
  table: assignmentTable,
};

const apply: Experiment<ApplyBenchResult> = {
  summary: 're-charting a TinyLlama-1.1B-shaped bf16 checkpoint against cp of the same file; peak RSS',
  flags: '[--preset tinyllama-1.1b] [--reps 3] [--work-dir DIR]',
  options: { preset: { type: 'string' }, reps: { type: 'string' }, 'work-dir': { type: 'string' } },
  run: (v) =>
    runApplyBench({
      preset: str(v.preset, '--preset'),
      reps: num(v.reps, '--reps', 3, { min: 1, max: 20, integer: true }),
      workDir: str(v['work-dir'], '--work-dir'),
    }),
  table: applyTable,
};

const forward: Experiment<ForwardBenchResult> = {
  summary: 'forward-pass tokens/s of SmolLM2-135M on the CPU against transformers (same ids, batch, threads)',
  flags: '[--model <SmolLM2 GGUF>] [--batch 4] [--seq 128] [--reps 5] [--threads <CPUs>]',
  options: {
    model: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    reps: { type: 'string' },
    threads: { type: 'string' },
  },
  run: (v) =>
    runForwardBench({
      model: str(v.model, '--model'),
      batch: num(v.batch, '--batch', 4, { min: 1, max: 256, integer: true }),
      seq: num(v.seq, '--seq', 128, { min: 1, max: 8192, integer: true }),
      reps: num(v.reps, '--reps', 5, { min: 1, max: 100, integer: true }),
      threads: num(v.threads, '--threads', os.cpus().length, { min: 1, max: 1024, integer: true }),
    }),
  table: forwardTable,
};

const collect: Experiment<CollectBenchResult> = {
  summary: 'paired-statistics tokens/s on SmolLM2-135M: fused CPU kernels, candle compositions, transformers, and the sgemm roofline; peak RSS',
  flags: '[--tokens 4096] [--seq 256] [--batch 8] [--reps 3] [--threads <CPUs>] [--baseline <git revision>]',
  options: { tokens: { type: 'string' }, seq: { type: 'string' }, batch: { type: 'string' }, reps: { type: 'string' }, threads: { type: 'string' }, baseline: { type: 'string' } },
  run: (v) =>
    runCollectBench({
      ...(typeof v.baseline === 'string' ? { baseline: v.baseline } : {}),
      tokens: num(v.tokens, '--tokens', 4096, { min: 1, max: 1 << 20, integer: true }),
      seq: num(v.seq, '--seq', 256, { min: 1, max: 8192, integer: true }),
      batch: num(v.batch, '--batch', 8, { min: 1, max: 256, integer: true }),
      reps: num(v.reps, '--reps', 3, { min: 1, max: 20, integer: true }),
      threads: num(v.threads, '--threads', os.cpus().length, { min: 1, max: 1024, integer: true }),
    }),
  table: collectTable,
};

const statsMemory: Experiment<StatsMemoryResult> = {
  summary: 'peak RSS of gauge-transport stats on SmolLM2-135M for growing probe budgets (one process each)',
  flags: '[--model <SmolLM2 GGUF>] [--budgets 2048,8192,32768] [--context 256] [--batch 8]',
  options: { model: { type: 'string' }, budgets: { type: 'string' }, context: { type: 'string' }, batch: { type: 'string' } },
  run: (v) =>
    runStatsMemory({
      model: str(v.model, '--model'),
      budgets: numList(v.budgets, '--budgets', [2048, 8192, 32768], { min: 1, integer: true }),
      contextLength: num(v.context, '--context', 256, { min: 1, integer: true }),
      batchSize: num(v.batch, '--batch', 8, { min: 1, max: 4096, integer: true }),
    }),
  table: statsMemoryTable,
};

const blockMajor: Experiment<BlockMajorBenchResult> = {
  summary: 'a streamed SmolLM2 read block-major (once per call) against batch by batch (once per batch), cold and warm: time, bytes read, peak RSS',
  flags: '[--sequences 32] [--seq 128] [--batch 8] [--reps 3] [--threads <CPUs>]',
  options: { sequences: { type: 'string' }, seq: { type: 'string' }, batch: { type: 'string' }, reps: { type: 'string' }, threads: { type: 'string' } },
  run: (v) =>
    runBlockMajorBench({
      sequences: num(v.sequences, '--sequences', 32, { min: 1, max: 4096, integer: true }),
      seq: num(v.seq, '--seq', 128, { min: 1, max: 2048, integer: true }),
      batch: num(v.batch, '--batch', 8, { min: 1, max: 4096, integer: true }),
      reps: num(v.reps, '--reps', 3, { min: 1, max: 100, integer: true }),
      threads: num(v.threads, '--threads', os.cpus().length, { min: 1, max: 1024, integer: true }),
    }),
  table: blockMajorTable,
};

const scale: Experiment<ScaleResult> = {
  summary: 'align large bf16 pairs (TinyLlama-1.1B, Llama-2-7B, the Llama-3-70B block shape) whole and streamed: peak RSS, tokens/s',
  flags: '[--pairs tinyllama,llama2-7b,llama3-70b-4] [--modes whole,streamed,weights] [--context 256] [--work-dir DIR]',
  options: { pairs: { type: 'string' }, modes: { type: 'string' }, context: { type: 'string' }, 'work-dir': { type: 'string' } },
  run: (v) =>
    runScaleBench({
      pairs: typeof v.pairs === 'string' ? v.pairs.split(',').filter(Boolean) : undefined,
      modes: typeof v.modes === 'string' ? (v.modes.split(',').filter(Boolean) as Mode[]) : undefined,
      contextLength: num(v.context, '--context', 256, { min: 1, max: 8192, integer: true }),
      workDir: str(v['work-dir'], '--work-dir'),
    }),
  table: scaleTable,
};

const train: Experiment<TrainBenchResult> = {
  summary: 'AdamW training steps of SmolLM2-135M and the tiny model against torch.optim.AdamW on transformers (same ids, batch, threads); peak RSS',
  flags: '[--models smollm2,tiny] [--steps 6] [--rounds 3] [--threads <CPUs>]',
  options: { models: { type: 'string' }, steps: { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' } },
  run: (v) => {
    const models = (typeof v.models === 'string' ? v.models.split(',').filter(Boolean) : ['smollm2', 'tiny']) as ('smollm2' | 'tiny')[];
    for (const m of models) if (m !== 'smollm2' && m !== 'tiny') throw new Error(`--models: ${JSON.stringify(m)} is not smollm2 or tiny`);
    return runTrainBench({
      models,
      steps: num(v.steps, '--steps', 6, { min: 2, max: 1000, integer: true }),
      rounds: num(v.rounds, '--rounds', 3, { min: 1, max: 20, integer: true }),
      threads: num(v.threads, '--threads', os.cpus().length, { min: 1, max: 1024, integer: true }),
    });
  },
  table: trainTable,
};

export const BENCHES: Record<string, Experiment<any>> = {
  assignment,
  apply,
  'block-major': blockMajor,
  collect,
  forward,
  moments,
  scale,
  'stats-memory': statsMemory,
  train,
};
