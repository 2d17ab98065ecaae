/**
 * Real fine-tuning runs of SmolLM2-135M-Instruct and Gemma 3 270M, the checkpoints behind the `smollm2-ft` and
 * `gemma3-ft` transport pairs and the SmolLM2 trajectory. Each run starts from the base model (its GGUF converted
 * once to F32) and trains on one corpus of `corpus.ts` (text unlike the built-in probe: TypeScript declarations,
 * compiled JavaScript), saving a checkpoint every `segment` steps.
 *
 * A run is resumable: it is made of segments `seg-KK/step-NNNNNN`, each `segment` AdamW steps resumed from the
 * previous segment's model and optimizer state, with batch-order seed `K`. A segment is written whole or not at all
 * (the trainer renames complete checkpoints into place), so a run that stops keeps every finished segment and the
 * next call goes on from the last. The optimizer state (twice the model) is kept only on the newest checkpoint.
 *
 * Everything lives under `.cache/experiments/finetune/` (SmolLM2) or `.cache/experiments/finetune-gemma3/`:
 * `base/` and `<corpus>/` (or `<corpus>-lr<lr>/` for another learning rate than the recipe's) with `corpus.txt`, the
 * segments and `run.json`, which records the options so that a cache made with other options is refused, not reused.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { PACKAGE_ROOT } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { train } from '../../../../dist/train';
import { writeCorpus, type CorpusName } from './corpus';
import { GEMMA3_GGUF, SMOLLM2_GGUF } from './groups';

/** The recipe of every run: AdamW (PyTorch semantics, betas 0.9/0.95, weight decay 0.1, clip 1). */
export const FINETUNE = { lr: 2e-4, warmup: 10, batch: 2, seq: 128, segment: 25, corpusBytes: 2 << 20 } as const;

/** The models a run can start from, each a fetched GGUF. */
export type BaseModel = 'smollm2' | 'gemma3';

const GGUF: Record<BaseModel, string> = { smollm2: SMOLLM2_GGUF, gemma3: GEMMA3_GGUF };

/** The cache of SmolLM2's runs (its base, runs and the trajectories built on them). */
export const FINETUNE_ROOT = path.join(PACKAGE_ROOT, '.cache', 'experiments', 'finetune');

/** The cache of `model`'s runs. */
export const fineTuneRoot = (model: BaseModel): string => (model === 'smollm2' ? FINETUNE_ROOT : `${FINETUNE_ROOT}-${model}`);

export interface FineTuneCheckpoint {
  step: number;
  dir: string;
}

export interface FineTuneRun {
  corpus: CorpusName;
  lr: number;
  /** The base model (step 0), F32. */
  base: string;
  /** Saved checkpoints in step order, step 0 (the base) first. */
  checkpoints: FineTuneCheckpoint[];
  /** Loss of every step, before its update. */
  losses: number[];
  /** Wall seconds of the segments trained by this call. */
  seconds: number;
  corpusSha256: string;
}

/** The F32 base model, converted from `model`'s GGUF once (into a staging folder renamed into place). */
export async function fineTuneBase(log: (s: string) => void = () => {}, model: BaseModel = 'smollm2'): Promise<string> {
  const root = fineTuneRoot(model);
  const base = path.join(root, 'base');
  if (!fs.existsSync(path.join(base, 'model.safetensors'))) {
    const gguf = GGUF[model];
    if (!fs.existsSync(gguf)) throw new Error(`${gguf} is missing: run python3 scripts/fetch_models.py first`);
    log(`finetune: converting the ${model} GGUF to F32`);
    fs.mkdirSync(root, { recursive: true });
    const staging = `${base}.partial`;
    fs.rmSync(staging, { recursive: true, force: true });
    await native.convertGguf(gguf, staging);
    fs.rmSync(base, { recursive: true, force: true });
    fs.renameSync(staging, base);
  }
  return base;
}

/** A JSON file of the cache, parsed; a corrupt one is an error naming it. */
export function readJson<T>(file: string): T {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); remove it to regenerate`);
  }
}

const segDir = (root: string, k: number) => path.join(root, `seg-${String(k).padStart(2, '0')}`);
const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** Checkpoint of segment `k`, if that segment finished. */
function finished(root: string, k: number): string | undefined {
  const dir = path.join(segDir(root, k), stepName(k * FINETUNE.segment));
  return fs.existsSync(path.join(dir, 'trainer_state.json')) ? dir : undefined;
}

/**
 * Run `corpus` trained to at least `steps` steps (a multiple of the segment), going on from what the cache holds.
 * `signal` stops between segments and inside one (a stopped segment is discarded and redone next time).
 */
export async function fineTuneRun(
  corpus: CorpusName,
  steps: number,
  o: { lr?: number; model?: BaseModel; log?: (s: string) => void; signal?: AbortSignal } = {},
): Promise<FineTuneRun> {
  const log = o.log ?? (() => {});
  if (steps % FINETUNE.segment !== 0) throw new Error(`steps ${steps} is not a multiple of the segment (${FINETUNE.segment})`);
  const lr = o.lr ?? FINETUNE.lr;
  const model = o.model ?? 'smollm2';
  const base = await fineTuneBase(log, model);
  const root = path.join(fineTuneRoot(model), lr === FINETUNE.lr ? corpus : `${corpus}-lr${lr}`);
  fs.mkdirSync(root, { recursive: true });
  const corpusFile = path.join(root, 'corpus.txt');
  const recipe = { corpus, ...FINETUNE, ...(lr === FINETUNE.lr ? {} : { lr }) };
  const meta = path.join(root, 'run.json');
  let sha: string;
  if (fs.existsSync(meta)) {
    const saved = readJson<{ recipe: unknown; corpusSha256: string }>(meta);
    if (JSON.stringify(saved.recipe) !== JSON.stringify(recipe)) {
      throw new Error(`${root} was trained with another recipe (${JSON.stringify(saved.recipe)}); remove it to retrain`);
    }
    sha = saved.corpusSha256;
  } else {
    sha = writeCorpus(corpus, corpusFile, FINETUNE.corpusBytes).sha256;
    fs.writeFileSync(meta, JSON.stringify({ recipe, corpusSha256: sha }, null, 2) + '\n');
  }
  const segments = steps / FINETUNE.segment;
  let seconds = 0;
  for (let k = 1; k <= segments; k++) {
    if (finished(root, k)) continue;
    o.signal?.throwIfAborted();
    const init = k === 1 ? base : finished(root, k - 1)!;
    fs.rmSync(segDir(root, k), { recursive: true, force: true });
    log(`finetune ${model} ${corpus} (lr ${lr}): steps ${(k - 1) * FINETUNE.segment + 1}-${k * FINETUNE.segment} of ${steps}`);
    const run = await train(init, corpusFile, segDir(root, k), {
      steps: FINETUNE.segment,
      batch: FINETUNE.batch,
      seq: FINETUNE.seq,
      lr,
      warmup: k === 1 ? FINETUNE.warmup : 0,
      seed: k,
      resume: k > 1,
      signal: o.signal,
    });
    seconds += run.seconds;
    // Only the newest checkpoint needs its optimizer state (to resume from).
    if (k > 1) fs.rmSync(path.join(init, 'optimizer.safetensors'), { force: true });
  }
  const checkpoints: FineTuneCheckpoint[] = [{ step: 0, dir: base }];
  const losses: number[] = [];
  for (let k = 1; k <= segments; k++) {
    checkpoints.push({ step: k * FINETUNE.segment, dir: finished(root, k)! });
    const log = readJson<{ losses: number[] }>(path.join(segDir(root, k), 'train_log.json'));
    losses.push(...log.losses);
  }
  return { corpus, lr, base, checkpoints, losses, seconds, corpusSha256: sha };
}

export interface FineTuneResult {
  name: 'finetune';
  params: { steps: number; corpora: CorpusName[]; recipe: typeof FINETUNE };
  runs: { corpus: CorpusName; corpusSha256: string; losses: number[]; seconds: number }[];
}

/** Experiment `finetune`: trains (or finds in the cache) the runs and records their losses. */
export async function runFineTune(o: { steps: number; corpora: CorpusName[] }, log: (s: string) => void = () => {}): Promise<FineTuneResult> {
  const runs: FineTuneResult['runs'] = [];
  for (const corpus of o.corpora) {
    const r = await fineTuneRun(corpus, o.steps, { log });
    runs.push({ corpus, corpusSha256: r.corpusSha256, losses: r.losses, seconds: r.seconds });
  }
  return { name: 'finetune', params: { ...o, recipe: FINETUNE }, runs };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

export function fineTuneTable(r: FineTuneResult): Table {
  const seg = r.params.recipe.segment;
  return {
    header: ['corpus', 'steps', `loss, first ${seg} steps`, `loss, last ${seg} steps`],
    rows: r.runs.map((x) => [
      x.corpus,
      String(x.losses.length),
      mean(x.losses.slice(0, seg)).toFixed(3),
      mean(x.losses.slice(-seg)).toFixed(3),
    ]),
  };
}
