/**
 * `train()`: AdamW training of a Hugging Face checkpoint on a corpus, off the event loop, saving checkpoints with
 * their optimizer state (GAUGE.md §4) every `saveEvery` steps into `out/step-NNNNNN/`, with the loss of every
 * step in `out/train_log.json`. Deterministic for a seed on the CPU.
 *
 * The corpus is a text file (tokenized with the checkpoint's `tokenizer.json`, or as UTF-8 bytes when the
 * checkpoint has none and a vocabulary of at least 256, as the project's tiny models do), or token ids (`.json`,
 * `.npy`, `.safetensors`), or ids given directly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('./native');
import { invalidArgument, relayThrows, throwIfAborted } from './errors';
import { readProbe, type ProbeTokenizer } from './probe';

export type { TrainProgress, TrainSummary } from '../index';

export interface TrainOptions {
  /** Updates to make. */
  steps: number;
  /** Sequences per step. @default 8 */
  batch?: number;
  /** Tokens per sequence. @default 128 */
  seq?: number;
  /** Peak learning rate. @default 1e-3 */
  lr?: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.95 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
  /** @default 0.1 */
  weightDecay?: number;
  /** Linear warm-up steps. @default 0 */
  warmup?: number;
  /** @default 'constant' */
  schedule?: 'constant' | 'cosine';
  /** Global gradient-norm clip; 0 turns it off. @default 1 */
  clip?: number;
  /** Save every this many steps (and after the last); 0 saves only the last. @default 0 */
  saveEvery?: number;
  /** Seed of the batch order. @default 0 */
  seed?: number;
  /** Continue from the optimizer state saved with `init`. @default false */
  resume?: boolean;
  /** `cpu`, `cuda`, `cuda:N`, `metal`, `metal:N` (accelerators need a build with their feature). @default 'cpu' */
  device?: string;
  signal?: AbortSignal;
  onProgress?: (p: native.TrainProgress) => void;
}

/** UTF-8 bytes as token ids: the tokenizer of the project's tiny models (vocabulary 256). */
export const BYTE_TOKENIZER: ProbeTokenizer = {
  encode: (text: string) => Buffer.from(text, 'utf8'),
};

/**
 * The tokenizer of the checkpoint `dir` (its `tokenizer.json`, or the vocabulary of a GGUF file), or UTF-8 bytes
 * when it has none and its vocabulary has room for them (the project's byte-level models). Every command that reads
 * text for a model (align, stats, trajectory, audit, train, demo) goes through here, so one text means one id
 * sequence everywhere.
 */
export function corpusTokenizer(dir: string, vocab: number): { tokenizer?: ProbeTokenizer; kind: 'model' | 'bytes' | 'none' } {
  let isFile = false;
  try {
    isFile = fs.statSync(dir).isFile();
  } catch {
    // Missing paths are reported by whoever loads the model.
  }
  if (isFile) {
    // A GGUF file: its own vocabulary, when it carries one.
    try {
      return { tokenizer: native.Tokenizer.load(dir), kind: 'model' };
    } catch {
      return { kind: 'none' };
    }
  }
  if (fs.existsSync(path.join(dir, 'tokenizer.json'))) return { tokenizer: native.Tokenizer.load(dir), kind: 'model' };
  if (vocab >= 256) return { tokenizer: BYTE_TOKENIZER, kind: 'bytes' };
  return { kind: 'none' };
}

/** The vocabulary size in `dir/config.json` (`vocab_size`). */
export function vocabOf(dir: string): number {
  const file = path.join(dir, 'config.json');
  let config: { vocab_size?: unknown };
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw invalidArgument(dir, `cannot read ${file}: ${(e as Error).message}`);
  }
  if (!(typeof config.vocab_size === 'number' && config.vocab_size > 0)) {
    throw invalidArgument(file, 'has no positive vocab_size');
  }
  return config.vocab_size;
}

/** The token ids of a corpus file for the checkpoint `init`; see the module docs. */
export function readCorpus(file: string, init: string): { ids: Uint32Array; tokenizer: 'model' | 'bytes' | 'none' } {
  const vocab = vocabOf(init);
  const { tokenizer, kind } = corpusTokenizer(init, vocab);
  return { ids: readProbe(file, { vocab, tokenizer }).ids, tokenizer: kind };
}

/** Trains `init` on `data` into the new directory `out`; see the module docs. */
export async function train(init: string, data: string | Uint32Array, out: string, options: TrainOptions): Promise<native.TrainSummary> {
  throwIfAborted(options.signal, 'train');
  if (!(Number.isInteger(options.steps) && options.steps >= 1)) throw invalidArgument('steps', `${options.steps} is not a whole number >= 1`);
  const ids = typeof data === 'string' ? readCorpus(data, init).ids : data;
  const { signal, onProgress, ...rest } = options;
  // Progress events cross threads asynchronously; the last may be queued behind the completion. Wait for it, so
  // every event has been delivered when the Promise resolves.
  let last = 0;
  let wake: (() => void) | undefined;
  // A throwing onProgress stops the run and rejects with its own exception.
  const forward = onProgress
    ? relayThrows((p: native.TrainProgress) => {
        last = p.step;
        if (p.step >= p.steps) wake?.();
        onProgress(p);
      })
    : undefined;
  const run = native.train(init, ids, out, rest, forward?.callback, signal);
  const summary = await (forward ? forward.settle(run) : run);
  if (forward && last < summary.losses.length) {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 2000).unref();
    });
  }
  return summary;
}
