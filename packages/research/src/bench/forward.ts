/**
 * Benchmark `forward`: tokens per second of a full forward pass (logits at every position) of SmolLM2-135M on the
 * CPU, gauge-transport (candle) against Hugging Face `transformers` (torch), with the same checkpoint directory
 * (the GGUF converted once to F32 safetensors), the same token ids, batch shape and thread count, median of
 * `reps` after a warm-up. The last position's logits of both are compared, so both did the same computation.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { GaugeTransportError } from '../../../../dist/errors';
import { SMOLLM2_GGUF } from '../experiments/groups';
import { machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { ensurePython, runPeer } from './python';
import { median } from './stats';

export interface ForwardBenchOptions {
  /** A Hugging Face directory or a GGUF file. @default the SmolLM2-135M-Instruct GGUF */
  model?: string;
  /** @default 4 */
  batch?: number;
  /** @default 128 */
  seq?: number;
  /** @default 5 */
  reps?: number;
  /** Threads for both sides. @default the number of CPUs */
  threads?: number;
}

interface Side {
  times: number[];
  median: number;
  tokensPerS: number;
}

export interface ForwardBenchResult {
  name: 'forward';
  params: Required<ForwardBenchOptions>;
  ours: Side;
  transformers: Side & { torch: string; version: string; threads: number };
  /** ours tokens/s over transformers tokens/s: >= 1 is the goal. */
  ratio: number;
  /** max |logits_ours − logits_transformers| at the last position. */
  maxLogitDiff: number;
  machine: Record<string, string | number>;
}

export async function runForwardBench(options: ForwardBenchOptions = {}): Promise<ForwardBenchResult> {
  const params: Required<ForwardBenchOptions> = {
    model: options.model ?? SMOLLM2_GGUF,
    batch: options.batch ?? 4,
    seq: options.seq ?? 128,
    reps: options.reps ?? 5,
    threads: options.threads ?? os.cpus().length,
  };
  if (!fs.existsSync(params.model)) {
    throw new GaugeTransportError('IO', `${params.model} not found; run python3 scripts/fetch_models.py`);
  }
  ensurePython(['torch', 'transformers', 'numpy'], ['torch', 'transformers', 'numpy']);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-forward-bench-'));
  try {
    let dir = params.model;
    if (fs.statSync(dir).isFile()) {
      dir = path.join(work, 'model');
      await native.convertGguf(params.model, dir);
    }
    process.env.RAYON_NUM_THREADS = String(params.threads);
    const model = await native.Model.load(dir);
    const n = params.batch * params.seq;
    const ids = Uint32Array.from(native.randomUniform(n, 1), (u) => Math.floor(u * model.vocab) % model.vocab);
    const idsFile = path.join(work, 'ids.npy');
    native.writeNpy(idsFile, Float32Array.from(ids), [n]);
    await model.forward(ids, { batch: params.batch, logits: 'last' }); // warm-up
    const times: number[] = [];
    let last!: Float32Array;
    for (let r = 0; r < params.reps; r++) {
      const t0 = process.hrtime.bigint();
      last = (await model.forward(ids, { batch: params.batch, logits: 'last' })).logits!;
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const logitsFile = path.join(work, 'logits.npy');
    const peer = runPeer<{ times: number[]; median: number; tokens_per_s: number; threads: number; torch: string; transformers: string }>(
      'forward_transformers.py',
      [dir, '--batch', `${params.batch}`, '--seq', `${params.seq}`, '--reps', `${params.reps}`, '--threads', `${params.threads}`, '--ids', idsFile, '--logits-out', logitsFile],
    );
    const theirs = native.readNpyMatrix(logitsFile).data;
    let maxLogitDiff = 0;
    for (let i = 0; i < last.length; i++) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(last[i] - theirs[i]));
    const ours: Side = { times, median: median(times), tokensPerS: n / median(times) };
    return {
      name: 'forward',
      params,
      ours,
      transformers: {
        times: peer.times,
        median: peer.median,
        tokensPerS: peer.tokens_per_s,
        torch: peer.torch,
        version: peer.transformers,
        threads: peer.threads,
      },
      ratio: ours.tokensPerS / peer.tokens_per_s,
      maxLogitDiff,
      machine: machine(),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function forwardTable(r: ForwardBenchResult): Table {
  const name =
    path.basename(r.params.model) === path.basename(SMOLLM2_GGUF) ? 'SmolLM2-135M-Instruct (Q4_1 → F32)' : path.basename(r.params.model);
  return {
    header: ['model', 'batch x seq', 'threads', 'gauge-transport (candle)', `transformers ${r.transformers.version} (torch ${r.transformers.torch})`, 'ratio', 'max abs logit diff'],
    rows: [
      [
        name,
        `${r.params.batch} x ${r.params.seq}`,
        `${r.params.threads}`,
        `${r.ours.tokensPerS.toFixed(0)} tok/s`,
        `${r.transformers.tokensPerS.toFixed(0)} tok/s`,
        `${r.ratio.toFixed(2)}x`,
        r.maxLogitDiff.toExponential(1),
      ],
    ],
  };
}
