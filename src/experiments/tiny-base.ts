/**
 * Experiment `tiny-base`: rebuilds the built-in model (`models/tiny-base`, see `tiny-base.ts`) from its recipe and
 * reports whether the bytes equal the shipped ones; `update` replaces the shipped model when they differ.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { machine } from '../results';
import type { Table } from '../table';
import { buildTinyBase, TINY_BASE_DIR, TINY_BASE_RECIPE, tinyBaseRecord, type TinyBaseRecord } from '../tiny-base';

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
      const old = path.join(path.dirname(TINY_BASE_DIR), `.tiny-base.old-${process.pid}`);
      fs.mkdirSync(path.dirname(TINY_BASE_DIR), { recursive: true });
      if (fs.existsSync(TINY_BASE_DIR)) fs.renameSync(TINY_BASE_DIR, old);
      fs.cpSync(built, `${TINY_BASE_DIR}.tmp-${process.pid}`, { recursive: true });
      fs.renameSync(`${TINY_BASE_DIR}.tmp-${process.pid}`, TINY_BASE_DIR);
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
