/**
 * Statistics shards from the schedulers users run: `--shard auto` reads a Kubernetes Indexed Job's
 * `JOB_COMPLETION_INDEX` (with `--shards N`) or a Slurm array's `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT`.
 * Four shard processes, two under each scheduler's variables, merge into the statistics and the gauge that one
 * process finds. Also: streamed alignment under a small memory budget finds the same gauge as the whole models,
 * and a budget below one block is refused naming the bytes.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { align, Gauge } from '../src';
import native = require('../src/native');
import { resolveShard } from '../src/shard';
import { rejection, tempDir, thrown } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('shard')));
afterEach(() => cleanup());

function cli(env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SLURM_') && k !== 'JOB_COMPLETION_INDEX'),
  );
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...clean, ...env } });
  if (r.error) throw r.error;
  return r;
}

describe('resolveShard', () => {
  test('reads Kubernetes and Slurm variables, and I/N', () => {
    expect(resolveShard('2/5', undefined, {})).toEqual({ index: 2, count: 5 });
    expect(resolveShard('auto', 4, { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 3, count: 4 });
    expect(resolveShard('auto', undefined, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 1, count: 4 });
    // An array numbered 1-4 (sbatch --array=1-4).
    expect(resolveShard('auto', undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' })).toEqual({
      index: 3,
      count: 4,
    });
  });

  test('refuses what it cannot place, naming the variable or flag', () => {
    expect(thrown(() => resolveShard('auto', undefined, {})).message).toMatch(/JOB_COMPLETION_INDEX.*SLURM_ARRAY_TASK_ID/);
    expect(thrown(() => resolveShard('auto', undefined, { JOB_COMPLETION_INDEX: '0' })).message).toMatch(/--shards/);
    expect(thrown(() => resolveShard('auto', 4, { JOB_COMPLETION_INDEX: '4' })).message).toMatch(/shard 4 of 4/);
    expect(thrown(() => resolveShard('auto', 4, { JOB_COMPLETION_INDEX: 'x' })).message).toMatch(/JOB_COMPLETION_INDEX="x"/);
    expect(thrown(() => resolveShard('1-4', undefined, {})).code).toBe('INVALID_ARGUMENT');
  });
});

describe('four shard processes', () => {
  test('merge into the statistics and gauge of one process', async () => {
    const truth = Gauge.random(64, { seed: 9, group: 'Bd', positiveFraction: 0.5 });
    await native.applyGauge(TINY, truth, path.join(dir, 'B'));
    const probe = ['--probe', 'builtin:random', '--tokens', '2048', '--context', '64'];
    const envs: Record<string, string>[] = [
      { JOB_COMPLETION_INDEX: '0' },
      { JOB_COMPLETION_INDEX: '1' },
      { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' },
      { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' },
    ];
    envs.forEach((env, k) => {
      const extra = 'JOB_COMPLETION_INDEX' in env ? ['--shards', '4'] : [];
      const r = cli(env, 'stats', TINY, 'B', ...probe, '--shard', 'auto', ...extra, '--out', `s${k}.safetensors`);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
      expect(r.status).toBe(0);
    });
    expect(cli({}, 'stats-merge', 's0.safetensors', 's1.safetensors', 's2.safetensors', 's3.safetensors', '--out', 'all.safetensors').status).toBe(0);
    expect(cli({}, 'align', TINY, 'B', '--stats', 'all.safetensors', '--out', 'merged.safetensors').status).toBe(0);
    expect(cli({}, 'align', TINY, 'B', ...probe, '--out', 'one.safetensors').status).toBe(0);
    const merged = Gauge.read(path.join(dir, 'merged.safetensors'));
    const one = Gauge.read(path.join(dir, 'one.safetensors'));
    expect(merged.equals(one)).toBe(true);
    expect(one.agreement(truth).signedAccuracy).toBe(1);
  }, 120_000);
});

describe('memory budget', () => {
  test('streamed alignment under a small budget finds the gauge of the whole models', async () => {
    const truth = Gauge.random(64, { seed: 4, group: 'Bd', positiveFraction: 0.5 });
    const b = path.join(dir, 'B');
    await native.applyGauge(TINY, truth, b);
    const opts = { probe: 'builtin:random', tokens: 2048, contextLength: 64, truth };
    const whole = await align(TINY, b, opts);
    expect(whole.streamed).toBe(false);
    // 3 MiB holds a block of each tiny model, its embeddings and a few of the probe's 32 sequences at a time.
    const streamed = await align(TINY, b, { ...opts, memoryBudget: 3 << 20, streamed: true });
    expect(streamed.streamed).toBe(true);
    expect(streamed.gauge.equals(whole.gauge)).toBe(true);
    expect(streamed.truth!.marginalized.signedAccuracy).toBe(1);
    const e = await rejection(align(TINY, b, { ...opts, memoryBudget: 100_000 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/memory budget: is 100000 bytes.*raise it to at least \d+/);
    const r = cli({}, 'align', TINY, 'B', '--probe', 'builtin:random', '--tokens', '512', '--context', '64', '--memory-budget', 'lots', '--out', 'g.safetensors');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--memory-budget.*"lots" is not a size/);
  }, 120_000);
});
