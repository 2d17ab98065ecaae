/**
 * Experiment `reliability`: the verdict of `align` (GAUGE.md §5, the null with B's coordinates shuffled) on pairs
 * that are related and on pairs that are not, with the truth where one exists.
 *
 * - Related (evidence: the checkpoints really differ): the built-in tiny model against its re-charted copy trained
 *   100 more steps; SmolLM2-135M against its re-charted copy fine-tuned 25 steps (the `finetune` experiment's first
 *   segment), on a full probe and on a probe too short for its width.
 * - Unrelated (must fail): the tiny model against one trained by the same recipe from another initialisation (the
 *   hard case: same data, same architecture, no shared chart), and each model against a random initialisation of
 *   its shape.
 *
 * Trained checkpoints are cached under `.cache/experiments/reliability` (the SmolLM2 fine-tune under the
 * `finetune` experiment's cache), so a rerun only aligns.
 */
import fs = require('node:fs');
import path = require('node:path');
import native = require('../../../../dist/native');
import { align } from '../../../../dist/align';
import { PACKAGE_ROOT } from '../../../../dist/results';
import { train } from '../../../../dist/train';
import { TINY_BASE_DIR, TINY_BASE_RECIPE } from '../../../../dist/tiny-base';
import type { Table } from '../../../../dist/table';
import { pct } from '../../../../dist/table';
import { buildTinyBase } from './tiny-base';
import { fineTuneBase, fineTuneRun } from './finetune';
import { writeCorpus } from './corpus';

const ROOT = path.join(PACKAGE_ROOT, '.cache', 'experiments', 'reliability');

export interface ReliabilityRow {
  pair: string;
  kind: 'related' | 'unrelated';
  d: number;
  tokens: number;
  matchedFraction: number;
  nullMean: number;
  nullBound: number;
  reliable: boolean;
  medianConfidence: number;
  /** Signed accuracy against the hidden gauge, for related pairs. */
  signedAccuracy?: number;
  solveSeconds: number;
}

export interface ReliabilityResult {
  nullDraws: number;
  rows: ReliabilityRow[];
}

/** `dir` once `make(tmp)` has written it, cached. */
async function cached(dir: string, make: (tmp: string) => Promise<void>): Promise<string> {
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  const tmp = `${dir}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  await make(tmp);
  fs.renameSync(tmp, dir);
  return dir;
}

/** The last checkpoint of a `train` run of `steps` steps from `init`, moved to `out`. */
async function trained(init: string, out: string, steps: number, lr: number): Promise<void> {
  const work = `${out}.work`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const corpus = path.join(work, 'prose.txt');
  writeCorpus('prose', corpus, 1 << 20);
  const run = await train(init, corpus, path.join(work, 'run'), { steps, batch: 8, seq: 64, lr, seed: 7 });
  fs.renameSync(run.checkpoints[run.checkpoints.length - 1].dir, out);
  fs.rmSync(work, { recursive: true, force: true });
}

export async function runReliability(o: { nullDraws?: number; log?: (s: string) => void } = {}): Promise<ReliabilityResult> {
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const nullDraws = o.nullDraws ?? 8;
  fs.mkdirSync(ROOT, { recursive: true });
  const rows: ReliabilityRow[] = [];
  const measure = async (pair: string, kind: ReliabilityRow['kind'], a: string, b: string, p: { tokens: number; context: number; truth?: native.Gauge }) => {
    log(`reliability: ${pair} (${p.tokens} tokens)`);
    const r = await align(a, b, { probe: 'builtin:text', tokens: p.tokens, contextLength: p.context, truth: p.truth, nullDraws });
    const v = r.reliability;
    rows.push({
      pair,
      kind,
      d: r.d,
      tokens: r.probe.tokens,
      matchedFraction: v.matchedFraction,
      nullMean: v.nullMean,
      nullBound: v.nullBound,
      reliable: v.reliable,
      medianConfidence: v.median,
      ...(r.truth ? { signedAccuracy: r.truth.marginalized.signedAccuracy } : {}),
      solveSeconds: r.seconds.solve,
    });
  };

  // The built-in tiny model (d = 64).
  const tinyGauge = native.Gauge.random(64, { seed: 41, positiveFraction: 0.5 });
  const tinyMoved = await cached(path.join(ROOT, 'tiny-recharted-trained'), async (tmp) => {
    const moved = `${tmp}.moved`;
    fs.rmSync(moved, { recursive: true, force: true });
    await native.applyGauge(TINY_BASE_DIR, tinyGauge, moved);
    await trained(moved, tmp, 100, 1e-3);
    fs.rmSync(moved, { recursive: true, force: true });
  });
  const tinyOther = path.join(ROOT, 'tiny-other-init');
  if (!fs.existsSync(path.join(tinyOther, 'model.safetensors'))) {
    log('reliability: training a tiny model from another initialisation (the built-in recipe, init seed 1)');
    fs.rmSync(tinyOther, { recursive: true, force: true });
    await buildTinyBase(tinyOther, path.join(ROOT, 'tiny-other-work'), { ...TINY_BASE_RECIPE, initSeed: 1 });
    fs.rmSync(path.join(ROOT, 'tiny-other-work'), { recursive: true, force: true });
  }
  const tinyRandom = await cached(path.join(ROOT, 'tiny-random'), (tmp) => native.initCheckpoint(path.join(TINY_BASE_DIR, 'config.json'), tmp, { seed: 3 }).then(() => undefined));
  const tinyProbe = { tokens: 4096, context: 64 };
  await measure('tiny vs its re-charted copy trained 100 steps', 'related', TINY_BASE_DIR, tinyMoved, { ...tinyProbe, truth: tinyGauge });
  await measure('tiny vs tiny trained from another init', 'unrelated', TINY_BASE_DIR, tinyOther, tinyProbe);
  await measure('tiny vs a random init', 'unrelated', TINY_BASE_DIR, tinyRandom, tinyProbe);

  // SmolLM2-135M (d = 576).
  const base = await fineTuneBase(log);
  const ft = (await fineTuneRun('declarations', 25, { log })).checkpoints[1].dir;
  const smolGauge = native.Gauge.random(576, { seed: 43, positiveFraction: 0.5 });
  const smolMoved = await cached(path.join(ROOT, 'smollm2-ft25-recharted'), (tmp) => native.applyGauge(ft, smolGauge, tmp).then(() => undefined));
  const smolRandom = await cached(path.join(ROOT, 'smollm2-random'), (tmp) => native.initCheckpoint(path.join(base, 'config.json'), tmp, { seed: 3 }).then(() => undefined));
  await measure('SmolLM2 vs its re-charted copy fine-tuned 25 steps', 'related', base, smolMoved, { tokens: 2048, context: 128, truth: smolGauge });
  await measure('the same, probe of 128 tokens', 'related', base, smolMoved, { tokens: 128, context: 128, truth: smolGauge });
  await measure('SmolLM2 vs a random init', 'unrelated', base, smolRandom, { tokens: 2048, context: 128 });
  return { nullDraws, rows };
}

export function reliabilityTable(r: ReliabilityResult): Table {
  return {
    header: ['pair', 'kind', 'd', 'tokens', 'matched', 'null mean', 'null bound', 'verdict', 'signed accuracy', 'solve'],
    rows: r.rows.map((x) => [
      x.pair,
      x.kind,
      String(x.d),
      String(x.tokens),
      pct(x.matchedFraction),
      pct(x.nullMean),
      pct(x.nullBound),
      x.reliable ? 'reliable' : 'unreliable',
      x.signedAccuracy === undefined ? '–' : pct(x.signedAccuracy),
      `${x.solveSeconds.toFixed(2)} s`,
    ]),
  };
}
