/**
 * Experiment `recharting-check`: `apply` checked by an implementation nobody here wrote. Runs
 * `scripts/checks/recharting_transformers.py`, which re-charts tiny random Llama, Qwen2 and GPT-2 checkpoints
 * with random gauges and compares logits and hidden states in Hugging Face `transformers` (installs torch and
 * transformers from PyPI when missing).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { ensurePython } from '../bench/python';
import { PACKAGE_ROOT, machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';

interface Row {
  model: string;
  gauge: string;
  in_group: boolean;
  max_logit_diff: number;
  max_hidden_diff: number;
}

export interface RechartingCheckResult {
  name: 'recharting-check';
  transformers: string;
  ok: boolean;
  rows: Row[];
  machine: Record<string, string | number>;
}

export async function runRechartingCheck(): Promise<RechartingCheckResult> {
  ensurePython(['torch', 'transformers', 'safetensors'], ['torch', 'transformers', 'safetensors']);
  const script = path.join(PACKAGE_ROOT, 'scripts', 'checks', 'recharting_transformers.py');
  let out: string;
  try {
    out = execFileSync(process.env.GAUGE_TRANSPORT_PYTHON ?? 'python3', [script, '--json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, NODE: process.execPath },
    });
  } catch (e) {
    // The script exits 1 when a check fails but still prints its JSON.
    out = (e as { stdout?: string }).stdout ?? '';
    if (!out) throw e;
  }
  const r = JSON.parse(out);
  return { name: 'recharting-check', transformers: r.transformers, ok: r.ok, rows: r.rows, machine: machine() };
}

export function rechartingCheckTable(r: RechartingCheckResult): Table {
  return {
    header: ['model', 'gauge', 'in the model group', 'max abs logit diff', "max abs (h' - g·h)"],
    rows: r.rows.map((row) => [
      row.model,
      row.gauge,
      row.in_group ? 'yes' : 'no (--force)',
      row.max_logit_diff.toExponential(1),
      row.max_hidden_diff.toExponential(1),
    ]),
  };
}
