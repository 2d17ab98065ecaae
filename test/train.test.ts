/**
 * train() and `gauge-transport train` on the tiny fixtures (seconds): the loss falls, checkpoints carry optimizer
 * state, progress and abort work, bad input is refused; and training commutes with a signed permutation: training a
 * re-charted copy gives the re-charted trajectory (the fact AdamW-state transport rests on, GAUGE.md §4).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import { Gauge, train, loadModel } from '../src';
import { readCorpus } from '../src/train';
import { rejection, tempDir } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures');
const TINY = path.join(FIXTURES, 'tiny');
const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const TEXT =
  'The river runs to the sea, and the sea returns to the sky as rain. Rain falls on the hills and runs to the river. '.repeat(20);

let t: ReturnType<typeof tempDir>;
let corpus: string;
beforeAll(() => {
  t = tempDir('train');
  corpus = path.join(t.dir, 'corpus.txt');
  fs.writeFileSync(corpus, TEXT);
});
afterAll(() => t.cleanup());

const base = { batch: 4, seq: 32, lr: 1e-2 };

test('the loss falls on a byte-level corpus; checkpoints hold weights, optimizer state and the log', async () => {
  const { ids, tokenizer } = readCorpus(corpus, TINY);
  expect(tokenizer).toBe('bytes');
  expect(ids.length).toBe(Buffer.byteLength(TEXT));
  const steps: number[] = [];
  const out = path.join(t.dir, 'run');
  const r = await train(TINY, corpus, out, { ...base, steps: 30, saveEvery: 10, onProgress: (p) => steps.push(p.step) });
  expect(steps).toEqual(Array.from({ length: 30 }, (_, k) => k + 1));
  expect(r.checkpoints.map((c) => c.step)).toEqual([10, 20, 30]);
  const first = r.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = r.losses.slice(-3).reduce((a, b) => a + b) / 3;
  expect(last).toBeLessThan(first - 1); // from ~ln 256 = 5.5 towards the text's entropy
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json']) {
    expect(fs.existsSync(path.join(out, 'step-000030', f))).toBe(true);
  }
  const log = JSON.parse(fs.readFileSync(path.join(out, 'train_log.json'), 'utf8'));
  expect(log.losses).toEqual(r.losses);
  // The saved checkpoint is an ordinary model.
  const m = await loadModel(path.join(out, 'step-000030'));
  expect(m.d).toBe(64);
});

test('training commutes with a signed permutation: train(g·A) = g·train(A)', async () => {
  const g = Gauge.random(64, { seed: 5, positiveFraction: 0.5 });
  const moved = path.join(t.dir, 'moved');
  await native.applyGauge(TINY, g, moved);
  const a = await train(TINY, corpus, path.join(t.dir, 'eq-a'), { ...base, steps: 5 });
  const b = await train(moved, corpus, path.join(t.dir, 'eq-b'), { ...base, steps: 5 });
  for (let k = 0; k < 5; k++) expect(Math.abs(a.losses[k] - b.losses[k])).toBeLessThan(1e-4);
  // Re-chart A's result by g: it must be B's result, checked on the logits and on h_1.
  await native.applyGauge(path.join(t.dir, 'eq-a', 'step-000005'), g, path.join(t.dir, 'eq-a-moved'));
  const [x, y] = await Promise.all([loadModel(path.join(t.dir, 'eq-a-moved')), loadModel(path.join(t.dir, 'eq-b', 'step-000005'))]);
  const ids = new Uint32Array(Buffer.from(TEXT.slice(0, 64)));
  const [fx, fy] = await Promise.all([x.forward(ids, { batch: 2, sites: ['h_1'] }), y.forward(ids, { batch: 2, sites: ['h_1'] })]);
  let logit = 0;
  for (let i = 0; i < fx.logits!.length; i++) logit = Math.max(logit, Math.abs(fx.logits![i] - fy.logits![i]));
  expect(logit).toBeLessThan(1e-3);
  const hx = fx.hidden[0].values;
  const hy = fy.hidden[0].values;
  let h = 0;
  for (let i = 0; i < hx.length; i++) h = Math.max(h, Math.abs(hx[i] - hy[i]));
  expect(h).toBeLessThan(1e-3);
  // Without the gauge the two runs are far apart (the test could fail).
  const plain = await loadModel(path.join(t.dir, 'eq-a', 'step-000005'));
  const fp = await plain.forward(ids, { batch: 2, sites: ['h_1'] });
  let far = 0;
  for (let i = 0; i < hx.length; i++) far = Math.max(far, Math.abs(fp.hidden[0].values[i] - hy[i]));
  expect(far).toBeGreaterThan(0.1);
});

test('progress, abort and bad input', async () => {
  const ac = new AbortController();
  const out = path.join(t.dir, 'aborted');
  const e = await rejection(train(TINY, corpus, out, { ...base, steps: 50, saveEvery: 2, signal: ac.signal, onProgress: (p) => p.step >= 3 && ac.abort() }));
  expect(e.code).toBe('ABORTED');
  expect(fs.existsSync(path.join(out, 'step-000002'))).toBe(true);
  expect((await rejection(train(TINY, corpus, out, { ...base, steps: 1 }))).code).toBe('OUTPUT_EXISTS');
  expect((await rejection(train(TINY, path.join(t.dir, 'nope.txt'), path.join(t.dir, 'x'), { ...base, steps: 1 }))).message).toMatch(/nope\.txt/);
  expect((await rejection(train(TINY, corpus, path.join(t.dir, 'y'), { ...base, steps: 0 }))).message).toMatch(/steps/);
  expect((await rejection(train(TINY, corpus, path.join(t.dir, 'z'), { ...base, steps: 1, seq: 100000 }))).message).toMatch(/fewer than one sequence/);
  const r = await rejection(train(TINY, corpus, path.join(t.dir, 'w'), { ...base, steps: 1, resume: true }));
  expect(r.message).toMatch(/optimizer\.safetensors.*is missing/);
  expect((await rejection(train(TINY, corpus, path.join(t.dir, 'v'), { ...base, steps: 1, schedule: 'linear' as never }))).message).toMatch(/schedule/);
});

test('the CLI trains from a preset config and resumes from a saved checkpoint', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'train', ...args], { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
  let r = run('--config', 'tiny', '--data', 'corpus.txt', '--out', 'cli-run', '--steps', '4', '--seq', '16', '--batch', '2', '--save-every', '2', '--json');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const summary = JSON.parse(r.stdout);
  expect(summary.checkpoints.map((c: { step: number }) => c.step)).toEqual([2, 4]);
  expect(fs.existsSync(path.join(t.dir, 'cli-run', 'init', 'model.safetensors'))).toBe(true);
  r = run('--init', 'cli-run/step-000002', '--resume', '--data', 'corpus.txt', '--out', 'cli-resumed', '--steps', '2', '--seq', '16', '--batch', '2', '--json');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout).checkpoints[0].step).toBe(4);
  r = run('--init', 'cli-run/step-000002', '--data', 'corpus.txt', '--out', 'cli-run', '--steps', '1');
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/OUTPUT_EXISTS.*already exists.*--overwrite/);
  // --overwrite replaces the run once the new one is complete, but never with the checkpoint it starts from inside.
  r = run('--init', 'cli-run/step-000002', '--data', 'corpus.txt', '--out', 'cli-run', '--steps', '1', '--overwrite');
  expect(r.stderr).toMatch(/INVALID_ARGUMENT.*cli-run contains the input checkpoint/);
  expect(fs.existsSync(path.join(t.dir, 'cli-run', 'step-000004'))).toBe(true);
  r = run('--init', 'cli-resumed/step-000004', '--data', 'corpus.txt', '--out', 'cli-run', '--steps', '1', '--seq', '16', '--batch', '2', '--overwrite', '--json');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout).checkpoints).toEqual([{ step: 1, dir: path.join('cli-run', 'step-000001') }]);
  expect(fs.readdirSync(path.join(t.dir, 'cli-run')).sort()).toEqual(['step-000001', 'train_log.json']);
  expect(fs.readdirSync(t.dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
});
