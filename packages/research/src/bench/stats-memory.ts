/**
 * Benchmark `stats-memory`: the peak memory of `gauge-transport stats` (both models' forward passes and the
 * streaming cross-moments at every site) for growing probe budgets. Each budget runs in its own process, so its
 * peak RSS is that run's alone. The statistics are streaming, so the peak should not grow with the budget; the
 * table also shows what holding every activation of both models at every site would take instead.
 *
 * The model is run against itself (loaded twice): memory does not depend on the two being different.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { SMOLLM2_GGUF } from '../experiments/groups';
import { PACKAGE_ROOT, machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';

export interface StatsMemoryOptions {
  /** A GGUF file or HF directory. @default the cached SmolLM2-135M-Instruct GGUF */
  model?: string;
  /** Probe budgets (the smallest at least one full batch). @default 2048, 8192, 32768 */
  budgets?: number[];
  /** @default 256 */
  contextLength?: number;
  /** @default 8 */
  batchSize?: number;
}

export interface StatsMemoryRow {
  tokens: number;
  seconds: number;
  maxRssBytes: number;
  /** Bytes of all activations of both models at every site, as f32. */
  heldActivationBytes: number;
}

export interface StatsMemoryResult {
  name: 'stats-memory';
  params: Required<StatsMemoryOptions>;
  model: string;
  d: number;
  sites: number;
  rows: StatsMemoryRow[];
  /** Largest peak over smallest: 1 means independent of the budget. */
  growth: number;
  machine: Record<string, string | number>;
}

export async function runStatsMemory(options: StatsMemoryOptions = {}): Promise<StatsMemoryResult> {
  const params: Required<StatsMemoryOptions> = {
    model: options.model ?? SMOLLM2_GGUF,
    budgets: options.budgets ?? [2048, 8192, 32768],
    contextLength: options.contextLength ?? 256,
    batchSize: options.batchSize ?? 8,
  };
  if (!fs.existsSync(params.model)) throw new Error(`${params.model} not found; run python3 scripts/fetch_models.py`);
  const m = await native.Model.load(params.model);
  const d = m.d;
  const sites = m.layers + 2;
  const cli = path.join(PACKAGE_ROOT, 'dist', 'cli.js');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-stats-memory-'));
  const rows: StatsMemoryRow[] = [];
  try {
    for (const tokens of params.budgets) {
      const out = path.join(work, `stats-${tokens}.safetensors`);
      const args = [cli, 'stats', params.model, params.model, '--tokens', String(tokens), '--context', String(params.contextLength)];
      args.push('--batch', String(params.batchSize), '--out', out, '--json');
      const report = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
      fs.rmSync(out);
      const row = {
        tokens: report.probe.tokens,
        seconds: report.seconds,
        maxRssBytes: report.maxRssBytes,
        heldActivationBytes: 2 * report.probe.tokens * d * sites * 4,
      };
      rows.push(row);
      process.stderr.write(`  ${row.tokens} tokens: ${row.seconds.toFixed(1)} s, peak RSS ${(row.maxRssBytes / 2 ** 20).toFixed(0)} MiB\n`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const peaks = rows.map((r) => r.maxRssBytes);
  return {
    name: 'stats-memory',
    params,
    model: path.basename(params.model),
    d,
    sites,
    rows,
    growth: Math.max(...peaks) / Math.min(...peaks),
    machine: machine(),
  };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

export function statsMemoryTable(r: StatsMemoryResult): Table {
  return {
    header: ['model', 'probe tokens', 'wall time', 'peak RSS', 'all activations, if held (2 models x sites x d x f32)'],
    rows: r.rows.map((row) => [
      `${r.model} (d = ${r.d}, ${r.sites} sites)`,
      String(row.tokens),
      `${row.seconds.toFixed(1)} s`,
      mib(row.maxRssBytes),
      mib(row.heldActivationBytes),
    ]),
  };
}
