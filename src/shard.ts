/**
 * Statistics shards on the engines users already run: `--shard I/N` names a shard; `--shard auto` takes it from a
 * Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the count from `--shards N`, as the Job's `completions`) or a
 * Slurm array (`SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`). Shards of one probe
 * merge exactly with `stats-merge`.
 */
import { invalidArgument } from './errors';

/** One part of a probe's sequences: `index` of `count` (0-based). */
export interface Shard {
  index: number;
  count: number;
}

function integer(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw invalidArgument('--shard auto', `${key}=${JSON.stringify(raw)} is not a whole number`);
  return Number(raw);
}

/** The shard `spec` names (`I/N` or `auto`; `shards` is `--shards`), reading `env` for `auto`. */
export function resolveShard(spec: string, shards: number | undefined, env: NodeJS.ProcessEnv = process.env): Shard {
  let shard: Shard;
  if (spec === 'auto') {
    const k8s = integer(env, 'JOB_COMPLETION_INDEX');
    const slurm = integer(env, 'SLURM_ARRAY_TASK_ID');
    if (k8s !== undefined) {
      if (shards === undefined) {
        throw invalidArgument('--shards', 'is required with --shard auto in a Kubernetes Indexed Job (the Job\'s completions)');
      }
      shard = { index: k8s, count: shards };
    } else if (slurm !== undefined) {
      const count = shards ?? integer(env, 'SLURM_ARRAY_TASK_COUNT');
      if (count === undefined) throw invalidArgument('--shard auto', 'SLURM_ARRAY_TASK_COUNT is not set; pass --shards N');
      shard = { index: slurm - (integer(env, 'SLURM_ARRAY_TASK_MIN') ?? 0), count };
    } else {
      throw invalidArgument(
        '--shard auto',
        'found neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (a Slurm array); pass --shard I/N',
      );
    }
  } else {
    const m = /^(\d+)\/(\d+)$/.exec(spec);
    if (!m) throw invalidArgument('--shard', `${JSON.stringify(spec)} is not I/N (for example 0/4) or auto`);
    shard = { index: Number(m[1]), count: Number(m[2]) };
  }
  if (!(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count)) {
    throw invalidArgument('--shard', `shard ${shard.index} of ${shard.count} is not an index below a positive count`);
  }
  return shard;
}
