/**
 * Hidden states of one checkpoint on a fixed probe, computed once per checkpoint and reused by every edge that
 * touches it (a checkpoint inside a chain has two): `[tokens, d]` per site, row-major float32. Kept in memory for
 * the most recent checkpoints (a chain needs only the previous one) and, with a cache directory, on disk as
 * `.npy` under the checkpoint's content hash, so a later process does not run the model again.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../native');
import { GaugeTransportError, invalidArgument } from '../errors';
import { defaultMemoryBudget, fitsWhole } from '../memory';

/** Where activations come from: the probe ids (packed `[rows, seq]`) and the sites. */
export interface ProbeDesign {
  /** Row-major `[rows, seq]` ids, every id below each model's vocabulary. */
  ids: Uint32Array;
  /** Tokens per sequence. */
  seq: number;
  /** Sequences per forward pass. @default 8 */
  batch?: number;
  /** Sites, e.g. `['h_1', 'h_2', 'final_norm']`. */
  sites: string[];
}

/** One checkpoint's hidden states at the design's sites. */
export interface Activations {
  d: number;
  tokens: number;
  /** Per site (the design's order): row-major `[tokens, d]`. */
  sites: Float32Array[];
}

/**
 * SHA-256 of a checkpoint's `config.json` and weight files (`*.safetensors`, sorted by name), or of a single file:
 * equal hashes mean the same model, whatever the path.
 */
export function contentHash(checkpoint: string): string {
  const h = crypto.createHash('sha256');
  let files: string[];
  try {
    const stat = fs.statSync(checkpoint);
    files = stat.isDirectory()
      ? fs
          .readdirSync(checkpoint)
          .filter((f) => f === 'config.json' || f.endsWith('.safetensors'))
          .filter((f) => f !== 'optimizer.safetensors')
          .sort()
          .map((f) => path.join(checkpoint, f))
      : [checkpoint];
  } catch (e) {
    throw new GaugeTransportError('IO', `${checkpoint}: cannot read the checkpoint: ${(e as Error).message}`);
  }
  if (files.length === 0) throw invalidArgument(checkpoint, 'has no config.json or .safetensors files');
  const buf = Buffer.alloc(1 << 20);
  for (const f of files) {
    h.update(path.basename(f));
    const fd = fs.openSync(f, 'r');
    try {
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

/** Runs checkpoints on a {@link ProbeDesign} at most once each. */
export class ActivationCache {
  private readonly memory = new Map<string, Activations>();
  /** Hash of the probe ids, sequence length and sites: part of every disk-cache file name. */
  private readonly designKey: string;

  /**
   * @param design the probe and sites every checkpoint runs on
   * @param keep how many checkpoints' activations stay in memory (least recently used leave first)
   * @param dir a directory for `.npy` copies keyed by content hash and design, or none
   */
  constructor(
    readonly design: ProbeDesign,
    private readonly keep = 4,
    private readonly dir?: string,
  ) {
    if (design.ids.length === 0 || design.ids.length % design.seq !== 0) {
      throw invalidArgument('probe', `${design.ids.length} ids are not a whole, non-zero number of sequences of ${design.seq}`);
    }
    const h = crypto.createHash('sha256');
    h.update(Buffer.from(design.ids.buffer, design.ids.byteOffset, design.ids.byteLength));
    h.update(`${design.seq}|${design.sites.join(',')}`);
    this.designKey = h.digest('hex').slice(0, 16);
  }

  /** Forward passes made so far (for checking that each model ran once). */
  runs = 0;

  /** The activations of the checkpoint whose content hash is `hash`, at `path`. */
  async get(checkpoint: string, hash: string): Promise<Activations> {
    const hit = this.memory.get(hash);
    if (hit) {
      this.memory.delete(hash);
      this.memory.set(hash, hit);
      return hit;
    }
    const acts = this.readDisk(hash) ?? (await this.run(checkpoint, hash));
    this.memory.set(hash, acts);
    while (this.memory.size > this.keep) this.memory.delete(this.memory.keys().next().value as string);
    return acts;
  }

  private diskPath(hash: string, site: string): string | undefined {
    return this.dir ? path.join(this.dir, `${hash.slice(0, 32)}-${this.designKey}-${site}.npy`) : undefined;
  }

  private readDisk(hash: string): Activations | undefined {
    if (!this.dir) return undefined;
    const files = this.design.sites.map((s) => this.diskPath(hash, s)!);
    if (!files.every((f) => fs.existsSync(f))) return undefined;
    const mats = files.map((f) => native.readNpyMatrix(f));
    return { d: mats[0].cols, tokens: mats[0].rows, sites: mats.map((m) => m.data) };
  }

  private async run(checkpoint: string, hash: string): Promise<Activations> {
    const { ids, seq, sites } = this.design;
    const batch = this.design.batch ?? 8;
    // A checkpoint too large to hold whole (with room for a second) is streamed block by block.
    const streamed = !fitsWhole(checkpoint, checkpoint, defaultMemoryBudget());
    const model = await native.Model.load(checkpoint, { streamed });
    const d = model.d;
    const tokens = ids.length;
    // One block-major pass: a streamed checkpoint is read once, not once per batch.
    const out = await model.siteStates(ids, sites, { lengths: new Array<number>(tokens / seq).fill(seq), batch });
    this.runs++;
    const acts = { d, tokens, sites: out };
    if (this.dir) {
      fs.mkdirSync(this.dir, { recursive: true });
      sites.forEach((s, k) => native.writeNpy(this.diskPath(hash, s)!, out[k], [tokens, d], true));
    }
    return acts;
  }
}
