/**
 * Experiment `tiny-base`: rebuilds the built-in model (`models/tiny-base`, see `tiny-base.ts`) from its recipe and
 * reports whether the bytes equal the shipped ones; `update` replaces the shipped model when they differ.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import native = require('../../../../dist/native');
import { GaugeTransportError } from '../../../../dist/errors';
import { sha256File, TINY_BASE_DIR, TINY_BASE_RECIPE, tinyBaseRecord, type TinyBaseRecipe, type TinyBaseRecord } from '../../../../dist/tiny-base';
import { train } from '../../../../dist/train';
import { writeCorpus } from './corpus';
import { reclaim, tempSibling } from '../../../../dist/files';

export interface TinyBaseResult {
  name: 'tiny-base';
  built: TinyBaseRecord;
  /** SHA-256 of the shipped `model.safetensors` before this run, if one shipped. */
  shipped: string | null;
  reproduced: boolean;
  updated: boolean;
  seconds: number;
  machine: Record<string, string | number>;
}

export async function runTinyBase(options: { update?: boolean } = {}): Promise<TinyBaseResult> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-tiny-base-'));
  try {
    const t0 = performance.now();
    const built = path.join(work, 'built');
    const record = await buildTinyBase(built, work, TINY_BASE_RECIPE, (p) => {
      if (p.step % 100 === 0) process.stderr.write(`  tiny base: step ${p.step}/${p.steps}, loss ${p.loss.toFixed(3)}\n`);
    });
    const seconds = (performance.now() - t0) / 1000;
    const shipped = fs.existsSync(path.join(TINY_BASE_DIR, 'recipe.json')) ? tinyBaseRecord(TINY_BASE_DIR).modelSha256 : null;
    const reproduced = shipped === record.modelSha256;
    let updated = false;
    if (options.update && !reproduced) {
      // Move the shipped model aside, put the new one in place, then drop the old one: at every moment one of
      // them is complete.
      fs.mkdirSync(path.dirname(TINY_BASE_DIR), { recursive: true });
      reclaim(TINY_BASE_DIR);
      const fresh = tempSibling(TINY_BASE_DIR);
      fs.cpSync(built, fresh, { recursive: true });
      const old = `${tempSibling(TINY_BASE_DIR)}-old`;
      if (fs.existsSync(TINY_BASE_DIR)) fs.renameSync(TINY_BASE_DIR, old);
      fs.renameSync(fresh, TINY_BASE_DIR);
      fs.rmSync(old, { recursive: true, force: true });
      updated = true;
    }
    return { name: 'tiny-base', built: record, shipped, reproduced, updated, seconds, machine: machine() };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function tinyBaseTable(r: TinyBaseResult): Table {
  const b = r.built;
  const rc = b.recipe;
  return {
    header: ['', 'value'],
    rows: [
      ['model', `${rc.config} (Llama, d = 64, 2 layers, vocabulary 256 = UTF-8 bytes), init seed ${rc.initSeed}`],
      ['corpus', `${rc.corpus}: ${b.corpus.files} files, ${b.corpus.bytes} bytes, sha256 ${b.corpus.sha256.slice(0, 16)}…`],
      ['training', `${rc.steps} steps of ${rc.batch} x ${rc.seq} bytes, AdamW lr ${rc.lr} (${rc.warmup} warm-up, ${rc.schedule}), clip ${rc.clip}, weight decay ${rc.weightDecay}, seed ${rc.seed}`],
      ['loss (nats per byte, first / last 10 steps)', `${b.loss.first.toFixed(3)} / ${b.loss.last.toFixed(3)}`],
      ['model.safetensors sha256', b.modelSha256],
      ['reproduces the shipped model', r.shipped === null ? 'none shipped' : r.reproduced ? 'yes, byte for byte' : `no (shipped ${r.shipped.slice(0, 16)}…)`],
      ['training time', `${r.seconds.toFixed(1)} s`],
    ],
  };
}

/**
 * Trains the base by `recipe` into the new directory `out` (written into a temporary sibling, then renamed; an
 * existing `out` is an error), using `work` for the corpus and the run.
 */
export async function buildTinyBase(
  out: string,
  work: string,
  recipe: TinyBaseRecipe = TINY_BASE_RECIPE,
  onProgress?: (p: native.TrainProgress) => void,
): Promise<TinyBaseRecord> {
  if (fs.existsSync(out)) throw new GaugeTransportError('INVALID_ARGUMENT', `${out}: already exists; not overwriting it`);
  fs.mkdirSync(work, { recursive: true });
  const corpusFile = path.join(work, `${recipe.corpus}.txt`);
  const corpus = writeCorpus(recipe.corpus, corpusFile, recipe.corpusBytes);
  const init = path.join(work, 'tiny-base-init');
  fs.rmSync(init, { recursive: true, force: true });
  await native.initCheckpoint(recipe.config, init, { seed: recipe.initSeed });
  const runDir = path.join(work, 'tiny-base-run');
  fs.rmSync(runDir, { recursive: true, force: true });
  const summary = await train(init, corpusFile, runDir, {
    steps: recipe.steps,
    lr: recipe.lr,
    warmup: recipe.warmup,
    schedule: recipe.schedule,
    batch: recipe.batch,
    seq: recipe.seq,
    clip: recipe.clip,
    weightDecay: recipe.weightDecay,
    seed: recipe.seed,
    onProgress,
  });
  const last = summary.checkpoints[summary.checkpoints.length - 1].dir;
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const record: TinyBaseRecord = {
    recipe: { ...recipe },
    corpus,
    loss: { first: mean(summary.losses.slice(0, 10)), last: mean(summary.losses.slice(-10)) },
    modelSha256: sha256File(path.join(last, 'model.safetensors')),
  };
  reclaim(out);
  const tmp = tempSibling(out);
  fs.mkdirSync(tmp, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(last, f), path.join(tmp, f));
  fs.writeFileSync(path.join(tmp, 'recipe.json'), JSON.stringify(record, null, 2) + '\n');
  fs.renameSync(tmp, out);
  fs.rmSync(init, { recursive: true, force: true });
  fs.rmSync(runDir, { recursive: true, force: true });
  return record;
}
