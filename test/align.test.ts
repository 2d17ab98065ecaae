/**
 * align() on the tiny fixtures: a model against its re-charted and perturbed copy (seconds), the paper's pattern
 * for the three methods, the data-free mode, progress and abort, and every refusal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import { align, Gauge } from '../src';
import { rejection, tempDir } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures');
const TINY = path.join(FIXTURES, 'tiny');
const QWEN = path.join(FIXTURES, 'tiny-qwen2');
const GPT2 = path.join(FIXTURES, 'tiny-gpt2');

let t: ReturnType<typeof tempDir>;
let truth: Gauge;
let moved: string;
beforeAll(async () => {
  t = tempDir('align');
  truth = Gauge.random(64, { seed: 21, positiveFraction: 0.5 });
  await native.applyGauge(QWEN, truth, path.join(t.dir, 'b0'));
  moved = path.join(t.dir, 'b');
  await native.perturbCheckpoint(path.join(t.dir, 'b0'), moved, { scale: 0.01, seed: 2 });
});
afterAll(() => t.cleanup());

const opts = { tokens: 2048, contextLength: 64, batchSize: 8 };

test('marginalized recovers a hidden Bd gauge; signed and permutation fail as the paper says', async () => {
  const events: number[] = [];
  const r = await align(QWEN, moved, { ...opts, truth, onProgress: (p) => p.phase === 'statistics' && events.push(p.done) });
  expect(r.truth!.marginalized.signedAccuracy).toBe(1);
  expect(r.gauge.equals(truth)).toBe(true);
  // signed: capped near the positive-sign fraction; permutation: right permutation, half the signs wrong.
  expect(r.truth!.signed.permAccuracy).toBeLessThan(0.7);
  expect(r.truth!.permutation.permAccuracy).toBe(1);
  expect(r.truth!.permutation.signedAccuracy).toBeCloseTo(0.5, 1);
  expect(events).toEqual([1, 2, 3, 4]);
  expect(r.perLayer.map((l) => l.site)).toEqual(['h_0', 'h_1', 'h_2', 'final_norm']);
  expect(r.probe.tokens).toBe(2048);
  expect(r.seconds.forward).toBeGreaterThan(0);
  expect(r.confidenceSummary.min).toBeGreaterThan(0);
});

test('per-layer consensus pooling and chosen layers agree with the pooled estimate', async () => {
  const r = await align(QWEN, moved, { ...opts, pool: 'per-layer', layers: [1, 'final_norm'], truth });
  expect(r.truth!.marginalized.signedAccuracy).toBe(1);
  expect(r.perLayer.map((l) => l.site)).toEqual(['h_1', 'final_norm']);
});

test('the data-free mode recovers the gauge from the weights', async () => {
  const r = await align(QWEN, moved, { from: 'weights', truth });
  expect(r.truth!.marginalized.signedAccuracy).toBe(1);
  expect(r.perLayer.map((l) => l.site)).toEqual(['weights']);
});

test('a probe file is read, and its errors name the file', async () => {
  const ids = path.join(t.dir, 'ids.json');
  fs.writeFileSync(ids, JSON.stringify(Array.from({ length: 1024 }, (_, k) => (k * 7) % 200)));
  const r = await align(QWEN, moved, { ...opts, probe: ids, truth });
  expect(r.truth!.marginalized.signedAccuracy).toBe(1);
  fs.writeFileSync(ids, '[]');
  let e = await rejection(align(QWEN, moved, { ...opts, probe: ids }));
  expect(e.message).toContain(ids);
  fs.writeFileSync(ids, JSON.stringify([1, 2, 99999]));
  e = await rejection(align(QWEN, moved, { ...opts, probe: ids }));
  expect(e.message).toMatch(/99999/);
});

test('mismatched models, a wrong-size truth, bad options and an abort are refused', async () => {
  let e = await rejection(align(TINY, GPT2, opts));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/architecture/);
  e = await rejection(align(QWEN, moved, { ...opts, truth: Gauge.random(32, { seed: 1 }) }));
  expect(e.code).toBe('SHAPE_MISMATCH');
  e = await rejection(align(QWEN, moved, { ...opts, layers: [9] }));
  expect(e.message).toMatch(/not a site/);
  e = await rejection(align(QWEN, moved, { ...opts, method: 'nope' as never }));
  expect(e.code).toBe('INVALID_ARGUMENT');
  const ac = new AbortController();
  ac.abort();
  e = await rejection(align(QWEN, moved, { ...opts, signal: ac.signal }));
  expect(e.code).toBe('ABORTED');
  const late = new AbortController();
  e = await rejection(align(QWEN, moved, { ...opts, signal: late.signal, onProgress: () => late.abort() }));
  expect(e.code).toBe('ABORTED');
});

test('a prior is added to the activations: the weights prior, a wrong prior that outweighs them, bad priors', async () => {
  const r = await align(QWEN, moved, { ...opts, tokens: 64, prior: 'weights', truth });
  expect(r.truth!.marginalized.signedAccuracy).toBe(1);
  expect(r.prior).toEqual({ source: 'weights', weight: 1 });
  // Statistics of A against a copy under another gauge, weighted far above the activations, win the matching.
  const other = Gauge.random(64, { seed: 99, positiveFraction: 0.5 });
  const wrongDir = path.join(t.dir, 'wrong');
  await native.applyGauge(QWEN, other, wrongDir);
  const wrong = await native.weightPairStats(QWEN, wrongDir);
  const forced = await align(QWEN, moved, { ...opts, prior: wrong, priorWeight: 1000 });
  expect(forced.gauge.equals(other)).toBe(true);
  const e = await rejection(align(QWEN, moved, { ...opts, prior: 'weights', priorWeight: -1 }));
  expect(e.message).toMatch(/priorWeight/);
  const config = JSON.parse(fs.readFileSync(path.join(TINY, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(t.dir, 'narrow.json'), JSON.stringify({ ...config, hidden_size: 32 }));
  const narrow = path.join(t.dir, 'narrow');
  await native.initCheckpoint(path.join(t.dir, 'narrow.json'), narrow);
  const narrowPrior = await native.weightPairStats(narrow, narrow);
  const bad = await rejection(align(QWEN, moved, { ...opts, prior: narrowPrior }));
  expect(bad.code).toBe('SHAPE_MISMATCH');
  expect(bad.message).toMatch(/prior: its statistics have d = 32 but the models have d = 64/);
});

test('the default context fits a model with fewer positions; a longer one is refused naming n_positions', async () => {
  const r = await align(GPT2, GPT2, { tokens: 512 });
  expect(r.probe.sequences).toBe(4); // GPT-2 fixture: n_positions = 128
  const e = await rejection(align(GPT2, GPT2, { tokens: 512, contextLength: 256 }));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/256 is longer than the models' 128 positions/);
});

test('acceptance with further training: a re-charted copy trained for 100 more steps', async () => {
  // The acceptance set-up with training in place of noise: B = train(g·A), 100 AdamW steps on text.
  const { train } = await import('../src');
  const g = Gauge.random(64, { seed: 31, positiveFraction: 0.5 });
  const moved0 = path.join(t.dir, 'trained-0');
  await native.applyGauge(TINY, g, moved0);
  const corpus = path.join(t.dir, 'corpus.txt');
  fs.writeFileSync(corpus, 'Rivers run to the sea, and the sea rises as rain over the hills. '.repeat(60));
  const run = await train(moved0, corpus, path.join(t.dir, 'trained'), { steps: 100, batch: 8, seq: 64, lr: 3e-3 });
  expect(run.losses[99]).toBeLessThan(run.losses[0] - 1); // it really trained
  // Random ids: the fixture is an untrained random model, for which the probe text read as bytes (60-odd distinct
  // ids) carries less than uniform ids do.
  const r = await align(TINY, run.checkpoints[0].dir, { probe: 'builtin:random', tokens: 2048, contextLength: 64, truth: g });
  expect(r.truth!.marginalized.signedAccuracy).toBeGreaterThanOrEqual(0.99);
  expect(r.truth!.signed.permAccuracy).toBeLessThan(0.7);
  expect(r.truth!.permutation.permAccuracy).toBeGreaterThanOrEqual(0.99);
  expect(r.truth!.permutation.signedAccuracy).toBeLessThan(0.6);
  // A re-charted copy trained further passes the reliability verdict, far above its null.
  expect(r.reliability.reliable).toBe(true);
  expect(r.reliability.matchedFraction).toBeGreaterThan(r.reliability.nullBound + 0.2);
}, 120_000);

test('unrelated models give an unreliable estimate: align says so, and the CLI writes nothing without --force', async () => {
  const a = path.join(t.dir, 'random-a');
  const b = path.join(t.dir, 'random-b');
  await native.initCheckpoint('tiny', a, { seed: 1 });
  await native.initCheckpoint('tiny', b, { seed: 2 });
  const r = await align(a, b, { tokens: 2048, contextLength: 64 });
  expect(r.reliability.reliable).toBe(false);
  // Unrelated statistics are one more draw of their null (B's coordinates shuffled).
  expect(r.reliability.nullFractions).toHaveLength(8);
  expect(r.reliability.matchedFraction).toBeLessThanOrEqual(r.reliability.nullBound);
  expect(Math.abs(r.reliability.matchedFraction - r.reliability.nullMean)).toBeLessThan(0.2);
  const { spawnSync } = await import('node:child_process');
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const out = path.join(t.dir, 'g.safetensors');
  const args = [cli, 'align', a, b, '--tokens', '2048', '--context', '64', '--out', out];
  const refused = spawnSync(process.execPath, args, { encoding: 'utf8' });
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/error \[UNRELIABLE\]: the estimate is not reliable: \d+\.\d% of coordinates matched above their best alternative, against the null's bound of \d+\.\d% \(B's coordinates shuffled: /);
  expect(fs.existsSync(out)).toBe(false);
  const forced = spawnSync(process.execPath, [...args, '--force'], { encoding: 'utf8' });
  expect(forced.status).toBe(0);
  expect(fs.existsSync(out)).toBe(true);
}, 120_000);

test('a text probe on a byte-level model is read as UTF-8 bytes, the same ids that train and trajectory use', async () => {
  const { tinyBase } = await import('../src/tiny-base');
  const { defaultProbeText } = await import('../src/probe');
  const base = tinyBase();
  const b = path.join(t.dir, 'tiny-recharted');
  const g = Gauge.random(64, { seed: 5, positiveFraction: 0.5 });
  await native.applyGauge(base, g, b);
  const r = await align(base, b, { probe: 'builtin:text', tokens: 1024, contextLength: 64, batchSize: 8, truth: g });
  expect(r.probe.warning).toBeUndefined();
  expect(r.probe.source).toBe('builtin:text');
  // The probe file route agrees: the text's bytes as ids give the same statistics, hence the same gauge.
  const ids = path.join(t.dir, 'bytes.json');
  fs.writeFileSync(ids, JSON.stringify(Array.from(Buffer.from(defaultProbeText(), 'utf8')).slice(0, 1024)));
  const r2 = await align(base, b, { probe: ids, tokens: 1024, contextLength: 64, batchSize: 8 });
  expect(r2.gauge.equals(r.gauge)).toBe(true);
  expect(r.confidenceSummary.median).toBeCloseTo(r2.confidenceSummary.median, 6);
});
