/**
 * The project's built-in model: a byte-level Llama of the `tiny` shape (d = 64, 2 layers, vocabulary 256: UTF-8
 * bytes as tokens, so it needs no tokenizer) pre-trained from random weights on `prose`, the Markdown
 * documentation that `npm install` puts in `node_modules` (pinned by `package-lock.json`; see
 * `experiments/corpus.ts`). It ships in `models/tiny-base/` (a Hugging Face directory: `config.json`, F32
 * `model.safetensors`, and `recipe.json` with the recipe, the corpus's SHA-256 and the losses), so `demo` runs in
 * seconds without training, and it is the base of the trajectory experiment's fine-tuning runs.
 *
 * Why this corpus: it is English prose about software, reproducible byte for byte from the repository's lockfile
 * with no download, about 2.6 MB, so that 1000 steps of 8 x 64 bytes (0.5 MB) see little of it twice, and distinct from
 * both fine-tuning corpora (TypeScript declarations, compiled JavaScript) so that runs from the base drift.
 *
 * `npm run experiment -- tiny-base` rebuilds it from the recipe (`experiments/tiny-base.ts`, unpublished research
 * code) and reports whether the bytes are reproduced.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError } from './errors';
import { PACKAGE_ROOT } from './results';

/** Where the built-in model ships. */
export const TINY_BASE_DIR = path.join(PACKAGE_ROOT, 'models', 'tiny-base');

/** How the built-in model is made. */
export interface TinyBaseRecipe {
  /** `initCheckpoint` preset. */
  config: 'tiny';
  initSeed: number;
  corpus: 'prose';
  corpusBytes: number;
  steps: number;
  lr: number;
  warmup: number;
  schedule: 'cosine';
  batch: number;
  seq: number;
  clip: number;
  weightDecay: number;
  /** Seed of the batch order. */
  seed: number;
}

export const TINY_BASE_RECIPE: Readonly<TinyBaseRecipe> = Object.freeze({
  config: 'tiny',
  initSeed: 0,
  corpus: 'prose',
  corpusBytes: 4_000_000,
  steps: 1000,
  lr: 3e-3,
  warmup: 50,
  schedule: 'cosine',
  batch: 8,
  seq: 64,
  clip: 1,
  weightDecay: 0.1,
  seed: 0,
});

/** `recipe.json` of a built base. */
export interface TinyBaseRecord {
  recipe: TinyBaseRecipe;
  corpus: { bytes: number; files: number; sha256: string };
  /** Mean loss (nats per byte) of the first and of the last ten steps. */
  loss: { first: number; last: number };
  /** SHA-256 of `model.safetensors`. */
  modelSha256: string;
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Whether two recipes make the same model. */
export function sameRecipe(a: TinyBaseRecipe, b: TinyBaseRecipe): boolean {
  return (Object.keys(TINY_BASE_RECIPE) as (keyof TinyBaseRecipe)[]).every((k) => a[k] === b[k]);
}

/** The shipped built-in model's directory, checked to be there. */
export function tinyBase(): string {
  for (const f of ['config.json', 'model.safetensors', 'recipe.json']) {
    if (!fs.existsSync(path.join(TINY_BASE_DIR, f))) {
      throw new GaugeTransportError(
        'IO',
        `${path.join(TINY_BASE_DIR, f)}: missing; the built-in model ships with the package (rebuild it with \`npm run experiment -- tiny-base --update\`)`,
      );
    }
  }
  return TINY_BASE_DIR;
}

/** The shipped model's `recipe.json`. */
export function tinyBaseRecord(dir = tinyBase()): TinyBaseRecord {
  return JSON.parse(fs.readFileSync(path.join(dir, 'recipe.json'), 'utf8')) as TinyBaseRecord;
}
