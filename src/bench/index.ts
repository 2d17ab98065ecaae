/** The registry of benchmarks, shaped like the experiments' registry. */
import { num, numList, str } from '../commands/args';
import type { Experiment } from '../experiments';
import { applyTable, runApplyBench, type ApplyBenchResult } from './apply';
import { assignmentTable, runAssignmentBench, type AssignmentBenchResult } from './assignment';

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

export const BENCHES: Record<string, Experiment<any>> = { assignment, apply };
