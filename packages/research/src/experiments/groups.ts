/**
 * Experiment `groups`: which gauges are symmetries (the paper's architecture claim, GAUGE.md §1). For each model
 * it writes four re-charted copies — a random permutation (`Sd`), a permutation with the global sign −1 (`±Sd`), a
 * random signed permutation with half the signs negative (`Bd`), and a random rotation — with `force` where the
 * gauge is outside the model's group, and reports the largest logit change of each on fixed token ids.
 *
 * Expected: `Bd` is exact for RMSNorm models with generic gains, only `Sd` and `±Sd` are exact for LayerNorm
 * models, and rotations break both (a rotation does not commute with a per-channel gain). For an encoder without
 * an output head (BERT) the last hidden state, moved back by the gauge, stands in for the logits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { Gauge } from '../../../../dist/gauge';
import { PACKAGE_ROOT, machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { maxAbsDiff } from '../bench/stats';

/** The gauges the experiment applies. */
export const GAUGE_KINDS = ['Sd', '±Sd', 'Bd', 'rotation'] as const;
export type GaugeKind = (typeof GAUGE_KINDS)[number];

export interface GroupsOptions {
  /** Random presets (`tiny`, `tiny-qwen2`, `tiny-gpt2`, …) and/or Hugging Face directories or GGUF files. */
  models?: string[];
  /** Seed of the gauges, the random weights and the token ids. @default 0 */
  seed?: number;
  /** Sequences of `seq` ids each. @default 2 */
  batch?: number;
  /** @default 32 */
  seq?: number;
  /** Directory for the re-charted copies (removed afterwards). @default os.tmpdir() */
  workDir?: string;
}

export interface GroupsRow {
  model: string;
  architecture: string;
  norm: string;
  /** The model's gauge group as `inspect` reports it. */
  group: string;
  gauge: GaugeKind;
  /** Whether the gauge lies in the model's group (otherwise it was written with `force`). */
  inGroup: boolean;
  /** max |logits' − logits|. */
  maxLogitDiff: number;
  /** max |logits| of the original, for scale. */
  maxLogit: number;
  /** maxLogitDiff ≤ 1e-4 · max(1, maxLogit): the function is unchanged. */
  symmetry: boolean;
}

export interface GroupsResult {
  name: 'groups';
  params: Required<GroupsOptions>;
  rows: GroupsRow[];
  /** Models that could not be run (a missing file), with the reason. */
  skipped: { model: string; reason: string }[];
  machine: Record<string, string | number>;
}

/** The real model, when `scripts/fetch_models.py` has fetched it. */
export const SMOLLM2_GGUF = path.join(
  PACKAGE_ROOT,
  '.cache',
  'models',
  'smollm2-135m-gguf',
  'SmolLM2-135M-Instruct.Q4_1.gguf',
);

/** The second real RMSNorm model (Gemma 3 270M, Q4_K_M GGUF), when fetched. */
export const GEMMA3_GGUF = path.join(PACKAGE_ROOT, '.cache', 'models', 'gemma3-270m-gguf', 'gemma-3-270m-q4_k_m.gguf');

/** The real LayerNorm model (all-MiniLM-L6-v2, BERT), when fetched. */
export const MINILM_DIR = path.join(PACKAGE_ROOT, '.cache', 'models', 'all-minilm-l6-v2');

/** The real models, by path, with the names tables show. */
export const REAL_MODELS: Record<string, string> = {
  [SMOLLM2_GGUF]: 'SmolLM2-135M-Instruct (Q4_1 GGUF)',
  [GEMMA3_GGUF]: 'Gemma 3 270M (Q4_K_M GGUF)',
  [MINILM_DIR]: 'all-MiniLM-L6-v2 (BERT)',
};

const DEFAULT_MODELS = ['tiny', 'tiny-qwen2', 'tiny-gpt2', SMOLLM2_GGUF, GEMMA3_GGUF, MINILM_DIR];

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

/** Seeded token ids in `[0, vocab)`. */
function tokenIds(count: number, vocab: number, seed: number): Uint32Array {
  const u = native.randomUniform(count, seed);
  return Uint32Array.from(u, (x) => Math.min(vocab - 1, Math.floor(x * vocab)));
}

function label(model: string): string {
  return REAL_MODELS[model] ?? model;
}

/**
 * What the experiment compares: the logits, or for an encoder without an output head (BERT) its last hidden
 * state, which is then in the output chart of the gauge and is compared moved back (`g⁻¹·h'`).
 */
async function outputs(
  m: native.Model,
  encoder: boolean,
  ids: Uint32Array,
  batch: number,
  g?: Gauge,
): Promise<Float32Array> {
  if (!encoder) return (await m.forward(ids, { batch })).logits!;
  const site = `h_${m.layers}`;
  const h = (await m.forward(ids, { batch, sites: [site], logits: 'none' })).hidden[0].values;
  return g ? g.inverse().applyAxis(h, [h.length / m.d, m.d], 1) : h;
}

/** Materialises `model` as a Hugging Face directory under `work`: a preset is written, a GGUF converted. */
async function materialise(model: string, work: string, seed: number): Promise<string> {
  const dir = path.join(work, 'base');
  if (fs.existsSync(model) && fs.statSync(model).isDirectory()) return model;
  if (fs.existsSync(model)) {
    await native.convertGguf(model, dir);
    return dir;
  }
  await native.initCheckpoint(model, dir, { seed });
  return dir;
}

function gaugeOf(kind: Exclude<GaugeKind, 'rotation'>, d: number, seed: number): Gauge {
  switch (kind) {
    case 'Sd':
      return Gauge.random(d, { seed, group: 'Sd' });
    case '±Sd':
      return Gauge.random(d, { seed, group: '±Sd', positiveFraction: 0 });
    case 'Bd':
      return Gauge.random(d, { seed, group: 'Bd', positiveFraction: 0.5 });
  }
}

async function runModel(model: string, o: Required<GroupsOptions>): Promise<GroupsRow[]> {
  const work = fs.mkdtempSync(path.join(o.workDir, 'gt-groups-'));
  try {
    const dir = await materialise(model, work, o.seed);
    const info = native.inspectModel(dir);
    const base = await native.Model.load(dir);
    const ids = tokenIds(o.batch * o.seq, base.vocab, o.seed + 1);
    const encoder = info.architecture === 'bert';
    const before = await outputs(base, encoder, ids, o.batch);
    const maxLogit = maxAbs(before);
    const rows: GroupsRow[] = [];
    for (const [k, kind] of GAUGE_KINDS.entries()) {
      const seed = o.seed + 1000 * (k + 1);
      const out = path.join(work, kind === '±Sd' ? 'pm-sd' : kind);
      let inGroup: boolean;
      let g: Gauge | undefined;
      if (kind === 'rotation') {
        await native.rotateCheckpoint(dir, out, { seed, force: true });
        inGroup = false;
      } else {
        g = gaugeOf(kind, info.d, seed);
        inGroup = info.group === 'Bd' || kind !== 'Bd';
        await native.applyGauge(dir, g, out, { force: !inGroup });
      }
      const after = await outputs(await native.Model.load(out), encoder, ids, o.batch, g);
      const maxLogitDiff = maxAbsDiff(before, after);
      rows.push({
        model: label(model),
        architecture: info.class ?? info.architecture,
        norm: info.norm,
        group: info.group,
        gauge: kind,
        inGroup,
        maxLogitDiff,
        maxLogit,
        symmetry: maxLogitDiff <= 1e-4 * Math.max(1, maxLogit),
      });
      fs.rmSync(out, { recursive: true, force: true });
    }
    return rows;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function runGroups(options: GroupsOptions = {}): Promise<GroupsResult> {
  const o: Required<GroupsOptions> = {
    models: options.models ?? DEFAULT_MODELS,
    seed: options.seed ?? 0,
    batch: options.batch ?? 2,
    seq: options.seq ?? 32,
    workDir: options.workDir ?? os.tmpdir(),
  };
  const rows: GroupsRow[] = [];
  const skipped: GroupsResult['skipped'] = [];
  for (const model of o.models) {
    if ((model.endsWith('.gguf') || model in REAL_MODELS) && !fs.existsSync(model)) {
      skipped.push({ model: label(model), reason: `${model} not found; run python3 scripts/fetch_models.py` });
      continue;
    }
    rows.push(...(await runModel(model, o)));
  }
  return { name: 'groups', params: o, rows, skipped, machine: machine() };
}

export function groupsTable(r: GroupsResult): Table {
  return {
    header: ['model', 'norm', 'group', 'gauge', 'in group', 'max abs logit change', 'max abs logit', 'symmetry'],
    rows: r.rows.map((row) => [
      row.model,
      row.norm,
      row.group,
      row.gauge,
      row.inGroup ? 'yes' : 'no (--force)',
      row.maxLogitDiff.toExponential(1),
      row.maxLogit.toFixed(2),
      row.symmetry ? 'yes' : '**no**',
    ]),
  };
}
