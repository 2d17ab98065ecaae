/**
 * Experiment `trajectory` (GAUGE.md §5; the paper: 91.1% composed vs 60.3% endpoint at 1500 steps). A byte-level
 * model of the `tiny` shape is pre-trained from random weights on `prose` (the base), then fine-tuned in two runs
 * on different data (`declarations`, `javascript`; see `corpus.ts`), saving every `saveEvery` steps. Every saved
 * checkpoint and the base is exported under its own hidden random Bd gauge (half the signs negative), the truth
 * kept aside. The gauge `A_T -> B_T` between the exported endpoints is then estimated three ways:
 *
 * - `endpoint`: `A_T` and `B_T` matched directly;
 * - `via-base`: two long hops, `A_T -> base` and `base -> B_T`, each matched directly, composed;
 * - `composed`: every neighbouring pair of saved checkpoints matched, composed along the chain through the base.
 *
 * Reported: signed recovery of each at every T, and how far the runs drifted (the mean correlation of truly
 * corresponding coordinates of `A_T` and `B_T`, and of each endpoint with the base).
 */
import { lines, type Section } from '../../../../dist/report';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { Gauge } from '../../../../dist/gauge';
import { machine } from '../../../../dist/results';
import { lineChartSvg } from '../figure';
import type { Table } from '../../../../dist/table';
import { train } from '../../../../dist/train';
import { ActivationCache, CheckpointGraph, probeDesign, pooledCorrelation } from '../../../../dist/trajectory';
import { writeCorpus, type CorpusName } from './corpus';
import { sameRecipe, TINY_BASE_DIR, TINY_BASE_RECIPE, tinyBaseRecord, type TinyBaseRecipe, type TinyBaseRecord } from '../../../../dist/tiny-base';
import { buildTinyBase } from './tiny-base';

export interface TrajectoryExperimentOptions {
  /** Base pre-training steps. @default 1000 */
  baseSteps?: number;
  /** Steps of each fine-tuning run. @default 1500 */
  runSteps?: number;
  /** @default 100 */
  saveEvery?: number;
  /** Where recovery is reported. @default 100, 500, 1000, 1500 */
  report?: number[];
  /** Sequences per step and tokens per sequence. @default 8, 64 */
  batch?: number;
  seq?: number;
  /** Peak learning rate of the base (cosine). @default 3e-3 */
  baseLr?: number;
  /** Learning rates of the fine-tuning runs (constant after warm-up): one pair of runs A, B per rate. @default 8e-3, 2e-2, 4e-2 */
  runLrs?: number[];
  /** Linear warm-up steps of the fine-tuning runs. @default 200 */
  runWarmup?: number;
  /** Probe tokens for every alignment. @default 4096 */
  tokens?: number;
  /** @default 0 */
  seed?: number;
  /** @default os.tmpdir() */
  workDir?: string;
}

export interface TrajectoryRow {
  /** Learning rate of both runs. */
  lr: number;
  step: number;
  endpoint: number;
  viaBase: number;
  composed: number;
  /** Mean correlation of truly corresponding coordinates (pooled over sites). */
  drift: { endpoints: number; aToBase: number; bToBase: number };
  /** Weakest edge on the composed chain (mean confidence). */
  minConfidence: number;
}

export interface TrajectoryExperimentResult {
  name: 'trajectory';
  params: Required<TrajectoryExperimentOptions>;
  corpora: Record<CorpusName, { bytes: number; files: number; sha256: string }>;
  /** Mean loss (nats per byte) of the first and last 10 steps of the base and of each run pair. */
  /** SHA-256 of the base's `model.safetensors` (the built-in model's when the recipe is its). */
  baseModelSha256: string;
  losses: { base: { first: number; last: number }; runs: { lr: number; a: { first: number; last: number }; b: { first: number; last: number } }[] };
  rows: TrajectoryRow[];
  seconds: { training: number; alignment: number };
  machine: Record<string, string | number>;
}

function mean(xs: ArrayLike<number>, from = 0, to = xs.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += xs[i];
  return s / (to - from);
}

export async function runTrajectoryExperiment(options: TrajectoryExperimentOptions = {}): Promise<TrajectoryExperimentResult> {
  const o: Required<TrajectoryExperimentOptions> = {
    baseSteps: options.baseSteps ?? 1000,
    runSteps: options.runSteps ?? 1500,
    saveEvery: options.saveEvery ?? 100,
    report: options.report ?? [100, 500, 1000, 1500],
    batch: options.batch ?? 8,
    seq: options.seq ?? 64,
    baseLr: options.baseLr ?? 3e-3,
    runLrs: options.runLrs ?? [8e-3, 2e-2, 4e-2],
    runWarmup: options.runWarmup ?? 200,
    tokens: options.tokens ?? 4096,
    seed: options.seed ?? 0,
    workDir: options.workDir ?? os.tmpdir(),
  };
  for (const t of o.report) {
    if (t % o.saveEvery !== 0 || t > o.runSteps) throw new Error(`--report ${t}: must be a multiple of --save-every ${o.saveEvery}, at most --run-steps ${o.runSteps}`);
  }
  const work = fs.mkdtempSync(path.join(o.workDir, 'gt-trajectory-'));
  try {
    const corpora = {} as TrajectoryExperimentResult['corpora'];
    for (const [name, cap] of [['prose', 4e6], ['declarations', 2e6], ['javascript', 2e6]] as const) {
      corpora[name] = writeCorpus(name, path.join(work, `${name}.txt`), cap);
    }
    const t0 = process.hrtime.bigint();
    const progress = (label: string) => (p: native.TrainProgress) => {
      if (p.step % 100 === 0) process.stderr.write(`  ${label}: step ${p.step}/${p.steps}, loss ${p.loss.toFixed(3)}\n`);
    };
    const common = { batch: o.batch, seq: o.seq, clip: 1, weightDecay: 0.1 };
    // The base is the built-in model when the options ask for its recipe (the default), else trained here.
    const recipe: TinyBaseRecipe = {
      ...TINY_BASE_RECIPE,
      steps: o.baseSteps,
      lr: o.baseLr,
      batch: o.batch,
      seq: o.seq,
      seed: o.seed,
      initSeed: o.seed,
    };
    const shipped = fs.existsSync(path.join(TINY_BASE_DIR, 'recipe.json')) ? tinyBaseRecord(TINY_BASE_DIR) : undefined;
    let baseDir = TINY_BASE_DIR;
    let baseRecord: TinyBaseRecord;
    if (shipped && sameRecipe(shipped.recipe, recipe)) {
      process.stderr.write(`  base: the built-in model ${TINY_BASE_DIR} (same recipe)\n`);
      baseRecord = shipped;
    } else {
      baseDir = path.join(work, 'base');
      baseRecord = await buildTinyBase(baseDir, work, recipe, progress('base'));
    }
    const training0 = Number(process.hrtime.bigint() - t0) / 1e9;
    const rows: TrajectoryRow[] = [];
    const runLosses: TrajectoryExperimentResult['losses']['runs'] = [];
    const ends = (s: native.TrainSummary) => ({ first: mean(s.losses, 0, 10), last: mean(s.losses, s.losses.length - 10) });
    let training = training0;
    let alignment = 0;
    for (const lr of o.runLrs) {
      const r = await runPair(work, baseDir, lr, o, common, progress);
      rows.push(...r.rows);
      runLosses.push({ lr, a: ends(r.a), b: ends(r.b) });
      training += r.training;
      alignment += r.alignment;
    }
    return {
      name: 'trajectory',
      params: o,
      corpora,
      losses: { base: baseRecord.loss, runs: runLosses },
      baseModelSha256: baseRecord.modelSha256,
      rows,
      seconds: { training, alignment },
      machine: machine(),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Two fine-tuning runs from `baseDir` at learning rate `lr`, exported under hidden gauges, and the recovery rows. */
async function runPair(
  work: string,
  baseDir: string,
  lr: number,
  o: Required<TrajectoryExperimentOptions>,
  common: { batch: number; seq: number; clip: number; weightDecay: number },
  progress: (label: string) => (p: native.TrainProgress) => void,
): Promise<{ rows: TrajectoryRow[]; a: native.TrainSummary; b: native.TrainSummary; training: number; alignment: number }> {
  const t0 = process.hrtime.bigint();
  const runs = {} as Record<'a' | 'b', native.TrainSummary>;
  const pairDir = path.join(work, `lr-${lr}`);
  for (const [key, corpus, seed] of [['a', 'declarations', o.seed + 1], ['b', 'javascript', o.seed + 2]] as const) {
    const label = `lr ${lr}, run ${key.toUpperCase()} (${corpus})`;
    runs[key] = await train(baseDir, path.join(work, `${corpus}.txt`), path.join(pairDir, `run-${key}`), {
      ...common,
      steps: o.runSteps,
      lr,
      saveEvery: o.saveEvery,
      warmup: o.runWarmup,
      seed,
      onProgress: progress(label),
    });
  }
  const training = Number(process.hrtime.bigint() - t0) / 1e9;
  const t1 = process.hrtime.bigint();
  const rows = await recoverAlong(pairDir, baseDir, { a: runs.a.checkpoints, b: runs.b.checkpoints }, { ...o, lr });
  return { rows, a: runs.a, b: runs.b, training, alignment: Number(process.hrtime.bigint() - t1) / 1e9 };
}

/**
 * Exports the base and every checkpoint of runs `a` and `b` under its own hidden random Bd gauge (into
 * `pairDir/export`), estimates the gauge `A_T -> B_T` three ways at every reported T, and scores each against the
 * hidden truth (see the module docs).
 */
export async function recoverAlong(
  pairDir: string,
  baseDir: string,
  runs: Record<'a' | 'b', { step: number; dir: string }[]>,
  o: { tokens: number; seq: number; seed: number; report: number[]; lr: number },
): Promise<TrajectoryRow[]> {
  const d = native.inspectModel(baseDir).d;
  const hidden = new Map<string, Gauge>();
  const exported = new Map<string, string>();
  let k = 0;
  const exportOne = async (id: string, dir: string) => {
    const g = Gauge.random(d, { seed: o.seed * 1000 + 100 + k++, positiveFraction: 0.5 });
    const out = path.join(pairDir, 'export', id);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.rmSync(out, { recursive: true, force: true });
    await native.applyGauge(dir, g, out);
    // The exported checkpoint is the model only; an optimizer state would be re-charted for nothing.
    fs.rmSync(path.join(out, 'optimizer.safetensors'), { force: true });
    hidden.set(id, g);
    exported.set(id, out);
  };
  await exportOne('base', baseDir);
  const chain: Record<'a' | 'b', string[]> = { a: [], b: [] };
  for (const key of ['a', 'b'] as const) {
    for (const c of runs[key]) {
      if (c.step === 0) continue;
      const id = `${key.toUpperCase()}_${c.step}`;
      await exportOne(id, c.dir);
      chain[key].push(id);
    }
  }
  const truth = (from: string, to: string) => hidden.get(to)!.compose(hidden.get(from)!.inverse());
  const design = await probeDesign(exported.get('base')!, { tokens: o.tokens, contextLength: o.seq, seed: o.seed });
  const graph = new CheckpointGraph(new ActivationCache(design, 8, path.join(pairDir, 'activations')));
  for (const [id, dir] of exported) graph.addCheckpoint(id, dir);
  for (const key of ['a', 'b'] as const) {
    let prev = 'base';
    for (const id of chain[key]) {
      await graph.addEdge(prev, id);
      prev = id;
    }
  }
  const signed = (g: Gauge, from: string, to: string) => g.agreement(truth(from, to)).signedAccuracy;
  /** Mean of sign·C over truly corresponding pairs: how alike two checkpoints still are. */
  const alike = async (x: string, y: string) => {
    const [ax, ay] = await Promise.all([graph.cache.get(exported.get(x)!, graph.node(x).hash), graph.cache.get(exported.get(y)!, graph.node(y).hash)]);
    const c = await pooledCorrelation(ax, ay, graph.cache.design.sites);
    const g = truth(x, y);
    const d = g.d;
    const vals = Array.from(g.perm, (j, i) => g.sign[i] * c[i * d + j]);
    return mean(vals);
  };
  const rows: TrajectoryRow[] = [];
  for (const t of o.report) {
    const a = `A_${t}`;
    const b = `B_${t}`;
    const endpoint = (await graph.direct(a, b)).gauge;
    const hop1 = (await graph.direct(a, 'base')).gauge;
    const hop2 = (await graph.direct('base', b)).gauge;
    const composed = graph.compose(a, b);
    rows.push({
      lr: o.lr,
      step: t,
      endpoint: signed(endpoint, a, b),
      viaBase: signed(hop2.compose(hop1), a, b),
      composed: signed(composed.gauge, a, b),
      drift: { endpoints: await alike(a, b), aToBase: await alike(a, 'base'), bToBase: await alike(b, 'base') },
      minConfidence: composed.minConfidence,
    });
    process.stderr.write(`  lr ${o.lr}, T = ${t}: endpoint ${rows[rows.length - 1].endpoint}, via-base ${rows[rows.length - 1].viaBase}, composed ${rows[rows.length - 1].composed}\n`);
  }
  return rows;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function trajectoryTable(r: { rows: TrajectoryRow[] }): Table {
  return {
    header: ['run lr', 'fine-tuning steps T', 'endpoint', 'via-base', 'composed', 'corr. of A_T and B_T', 'corr. of A_T / B_T with the base', 'weakest edge (confidence)'],
    rows: r.rows.map((row) => [
      String(row.lr),
      String(row.step),
      pct(row.endpoint),
      pct(row.viaBase),
      pct(row.composed),
      row.drift.endpoints.toFixed(3),
      `${row.drift.aToBase.toFixed(3)} / ${row.drift.bToBase.toFixed(3)}`,
      row.minConfidence.toFixed(3),
    ]),
  };
}

export function trajectoryFigure(r: { rows: TrajectoryRow[]; params: { runLrs: number[] } }): string {
  const methods = [
    ['composed', '#1b7837', 'composed'],
    ['via-base', '#2166ac', 'viaBase'],
    ['endpoint', '#b2182b', 'endpoint'],
  ] as const;
  const dashes = [undefined, '6 3', '2 3'];
  const series = r.params.runLrs.flatMap((lr, k) =>
    methods.map(([label, color, key]) => ({
      label: `${label}, lr ${lr}`,
      color,
      dash: dashes[k % dashes.length],
      points: r.rows.filter((row) => row.lr === lr).map((row) => [row.step, row[key]] as [number, number]),
    })),
  );
  return lineChartSvg({
    title: 'Signed recovery of the gauge A_T -> B_T',
    xLabel: 'fine-tuning steps T',
    yLabel: 'signed accuracy',
    yMin: 0,
    yMax: 1,
    series,
  });
}

/** Charts of `experiment trajectory --report`: recovery curves and drift, per learning rate. */
export async function trajectoryReport(r: TrajectoryExperimentResult): Promise<Section[]> {
  const recovery = r.rows.flatMap((row) => [
    { x: row.step, y: row.endpoint, series: `endpoint, lr ${row.lr}` },
    { x: row.step, y: row.viaBase, series: `via-base, lr ${row.lr}` },
    { x: row.step, y: row.composed, series: `composed, lr ${row.lr}` },
  ]);
  const drift = r.rows.map((row) => ({ x: row.step, y: row.drift.endpoints, series: `lr ${row.lr}` }));
  return [
    {
      title: 'Trajectory recovery',
      text: ['Signed accuracy of the estimated gauge A_T -> B_T against the hidden one, by fine-tuning steps T: matching the endpoints directly, two long hops through the base, or composing every local edge along the saved checkpoints.'],
      charts: [
        await lines(recovery, 'Signed recovery of A_T -> B_T', 'fine-tuning steps T', 'signed accuracy', { percent: true }),
        await lines(drift, 'Drift: correlation of corresponding coordinates of A_T and B_T', 'fine-tuning steps T', 'mean correlation'),
      ],
    },
  ];
}
