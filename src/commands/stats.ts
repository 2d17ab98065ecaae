/**
 * `gauge-transport stats <A> <B> --out s.safetensors [--shard i/n]` and `gauge-transport stats-merge <s…> --out`:
 * the expensive half of `align` as files, so one alignment can be split over many workers and merged.
 */
import native = require('../native');
import { collectStats } from '../align';
import { invalidArgument } from '../errors';
import { ProgressBar } from '../progress';
import { num, parse, str } from './args';
import { MEMORY_HELP, PROBE_FLAGS, probeOptions } from './probe-flags';
import { resolveShard } from '../shard';

export const usage = `gauge-transport stats <A> <B> --out stats.safetensors [options]

Runs both checkpoints on the probe and saves their paired activation statistics (streaming cross-moments per
residual site, F64 safetensors). Shards of one probe, computed anywhere, merge with \`stats-merge\`; \`align A B
--stats FILE\` then estimates the gauge without running the models.

  --probe SPEC     as for align (default builtin)
  --tokens N       token budget (default 16384)
  --context N      tokens per sequence (default 256, or the model's n_positions if fewer)
  --batch N        sequences per forward pass (default 8)
  --layers LIST    all (default) or e.g. 0,4,8,final_norm
  --shard I/N      only the I-th of N equal parts of the probe's sequences (0-based); auto: from a Kubernetes
                   Indexed Job (JOB_COMPLETION_INDEX, with --shards N) or a Slurm array (SLURM_ARRAY_TASK_ID of
                   SLURM_ARRAY_TASK_COUNT)
  --shards N       the number of shards, with --shard auto
  --seed S         seed of the built-in probe's random ids (default 0)
  --device D       cpu (default), cuda, cuda:N, metal, metal:N (accelerators need a build with their feature)
${MEMORY_HELP}
  --overwrite      replace --out
  --json           print the result as JSON (with the wall time and the process's peak RSS)`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      ...PROBE_FLAGS,
      shard: { type: 'string' },
      shards: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'stats',
  );
  if (positionals.length !== 2) throw invalidArgument('stats', `expected two models A and B, got ${positionals.length}`);
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required (the statistics file to write)');
  const shardRaw = str(values.shard, '--shard');
  const shards = values.shards === undefined ? undefined : num(values.shards, '--shards', undefined, { min: 1, max: 1 << 20, integer: true });
  if (shards !== undefined && shardRaw !== 'auto') throw invalidArgument('--shards', 'goes with --shard auto');
  const shard = shardRaw === undefined ? undefined : resolveShard(shardRaw, shards);
  const t0 = process.hrtime.bigint();
  const bar = new ProgressBar('stats');
  const { stats, probe, forwardSeconds, statsSeconds } = await collectStats(positionals[0], positionals[1], {
    ...probeOptions(values),
    shard,
    onProgress: (p) => bar.update(p.done, p.total, `${p.tokens} tokens`),
  }).finally(() => bar.done());
  stats.save(out, values.overwrite === true);
  if (values.json) {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    const report = { out, sites: stats.sites, d: stats.d, probe, seconds, forwardSeconds, momentsSeconds: statsSeconds, maxRssBytes };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  process.stdout.write(`wrote ${out}: ${stats.sites.length} sites, d = ${stats.d}, ${probe.tokens} tokens from ${probe.source}\n`);
}

export const mergeUsage = `gauge-transport stats-merge <stats.safetensors…> --out merged.safetensors [--overwrite] [--json]

Adds statistics shards of the same two models and sites (computed on disjoint parts of a probe) into one file.
Merging is exact, associative and commutative; shards of different models or sites are refused.`;

export async function merge(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' } }, 'stats-merge');
  if (positionals.length < 2) throw invalidArgument('stats-merge', `expected at least two statistics files, got ${positionals.length}`);
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required (the statistics file to write)');
  const total = native.PairStats.load(positionals[0]);
  for (const file of positionals.slice(1)) total.merge(native.PairStats.load(file));
  total.save(out, values.overwrite === true);
  if (values.json) process.stdout.write(JSON.stringify({ out, shards: positionals.length, tokens: total.count }, null, 2) + '\n');
  else process.stdout.write(`wrote ${out}: ${positionals.length} shards, ${total.count} tokens per site\n`);
}
