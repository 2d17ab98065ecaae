/**
 * Transport of tools (GAUGE.md §4) on the tiny fixtures: every rule checked against the definition
 * `(g·x)[perm[i]] = sign[i]·x[i]` written out here, and functionally: a transported SAE reconstructs the re-charted
 * model's activations exactly as well as the original did, a transported steering vector steers the re-charted
 * model exactly as the original steered A, resumed training from transported AdamW state follows the original run,
 * a merge under the gauge equals the plain average of the two parents. Permutation-only transport (`|g|`) fails
 * each of them. Bad input is refused with the reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import {
  Gauge,
  evaluateSae,
  loadModel,
  mergeCheckpoints,
  siteActivations,
  steeringEffect,
  train,
  trainSae,
  transportNeurons,
  transportOptimizer,
  transportSae,
  transportSteering,
} from '../src';
import { defaultProbeText } from '../src/probe';
import { tinyBase } from '../src/tiny-base';
import { npyBytes, floatBytes, readSafetensors, rejection, rng, tempDir, writeSafetensors } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures');
const TINY = path.join(FIXTURES, 'tiny');
const GPT2 = path.join(FIXTURES, 'tiny-gpt2');
const D = 64;

let t: ReturnType<typeof tempDir>;
let g: Gauge;
let moved: string;
beforeAll(async () => {
  t = tempDir('transport');
  g = Gauge.random(D, { seed: 11, positiveFraction: 0.5 });
  moved = path.join(t.dir, 'moved');
  await native.applyGauge(TINY, g, moved);
});
afterAll(() => t.cleanup());

/** `g·x` along the last axis, from GAUGE.md §2 directly. */
function act(gauge: Gauge, x: ArrayLike<number>, signed = true): number[] {
  const out = new Array<number>(x.length).fill(0);
  const perm = gauge.perm;
  const sign = gauge.sign;
  for (let r = 0; r < x.length / D; r++) for (let i = 0; i < D; i++) out[r * D + perm[i]] = (signed ? sign[i] : 1) * x[r * D + i];
  return out;
}

function randomVector(n: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * next() - 1);
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
  expect(worst).toBeLessThanOrEqual(tol);
};

describe('steering vectors', () => {
  test('JSON, .npy and safetensors vectors move as v -> g·v', async () => {
    const v = randomVector(D, 1);
    const stack = randomVector(3 * D, 2);
    const json = path.join(t.dir, 'v.json');
    fs.writeFileSync(json, JSON.stringify({ sentiment: Array.from(v), layer: 1, stack: [Array.from(v), Array.from(v)] }));
    // A list of vectors under one key moves too (it was once copied unmoved).
    expect(await transportSteering(json, g, path.join(t.dir, 'v-moved.json'))).toBe(3);
    const outJson = JSON.parse(fs.readFileSync(path.join(t.dir, 'v-moved.json'), 'utf8'));
    close(outJson.sentiment, act(g, v));
    close(outJson.stack[1], act(g, v));
    expect(outJson.layer).toBe(1);

    // A 1-D `.npy` vector [d], as the help promises, stays 1-D.
    const one = path.join(t.dir, 'one.npy');
    fs.writeFileSync(one, npyBytes('<f4', [D], floatBytes(v, 4)));
    expect(await transportSteering(one, g, path.join(t.dir, 'one-moved.npy'))).toBe(1);
    close(native.readNpyMatrix(path.join(t.dir, 'one-moved.npy'), true).data, act(g, v));
    expect(fs.readFileSync(path.join(t.dir, 'one-moved.npy')).toString('latin1', 0, 128)).toMatch(/'shape': \(64,\)/);

    const npy = path.join(t.dir, 'v.npy');
    fs.writeFileSync(npy, npyBytes('<f4', [3, D], floatBytes(stack, 4)));
    expect(await transportSteering(npy, g, path.join(t.dir, 'v-moved.npy'))).toBe(3);
    close(native.readNpyMatrix(path.join(t.dir, 'v-moved.npy')).data, act(g, stack));

    const st = path.join(t.dir, 'v.safetensors');
    writeSafetensors(st, { 'blocks.1.hook_resid_post': { dtype: 'F32', shape: [D], data: v }, stack: { dtype: 'F32', shape: [3, D], data: stack } });
    expect(await transportSteering(st, g, path.join(t.dir, 'v-moved.safetensors'))).toBe(2);
    const back = readSafetensors(path.join(t.dir, 'v-moved.safetensors'));
    close(back.tensors['blocks.1.hook_resid_post'].data, act(g, v));
    close(back.tensors.stack.data, act(g, stack));
    expect(back.metadata['gauge_transport.group']).toBe('Bd');
  });

  test('a llama.cpp control vector (GGUF, written by gguf-py) moves direction by direction, keeping its metadata', async () => {
    const input = path.join(FIXTURES, 'control_vector', 'control.gguf');
    const out = path.join(t.dir, 'control-moved.gguf');
    expect(await transportSteering(input, g, out)).toBe(3);
    const r = await native.transportControlVector(out, g.inverse(), path.join(t.dir, 'control-back.gguf'));
    expect(r).toEqual({ layers: [1, 2, 3], d: 64, modelHint: 'llama' });
    // Back by the inverse: the same bytes of every direction as the input (the header may be laid out differently).
    const tail = (f: string) => fs.readFileSync(f).subarray(-3 * 64 * 4 - 32);
    expect(tail(path.join(t.dir, 'control-back.gguf')).subarray(-3 * 64 * 4).equals(tail(input).subarray(-3 * 64 * 4))).toBe(true);
    const e = await rejection(transportSteering(input, g, out));
    expect(e.code).toBe('OUTPUT_EXISTS');
  });

  test('a vector of another length is refused as living in another chart; outputs are never replaced', async () => {
    const json = path.join(t.dir, 'neuron-vector.json');
    fs.writeFileSync(json, JSON.stringify(Array.from(randomVector(256, 3))));
    const e = await rejection(transportSteering(json, g, path.join(t.dir, 'x.json')));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/length 256.*d = 64.*another chart/);
    const st = path.join(t.dir, 'mlp.safetensors');
    writeSafetensors(st, { 'blocks.0.mlp.hook_post': { dtype: 'F32', shape: [256], data: randomVector(256, 4) } });
    const e2 = await rejection(transportSteering(st, g, path.join(t.dir, 'x.safetensors')));
    expect(e2.code).toBe('INVALID_ARGUMENT');
    expect(e2.message).toMatch(/mlp\.hook_post.*MLP neurons.*residual gauge does not act/);
    writeSafetensors(st, { direction: { dtype: 'F32', shape: [256], data: randomVector(256, 4) } });
    const e4 = await rejection(transportSteering(st, g, path.join(t.dir, 'x.safetensors')));
    expect(e4.code).toBe('SHAPE_MISMATCH');
    expect(e4.message).toMatch(/"direction".*another chart/);
    expect(fs.existsSync(path.join(t.dir, 'x.safetensors'))).toBe(false);
    // Of length d but keyed by an attention-head hook: refused by its name.
    const z = path.join(t.dir, 'z.json');
    fs.writeFileSync(z, JSON.stringify({ 'blocks.2.attn.hook_z': Array.from(randomVector(D, 9)) }));
    const e3 = await rejection(transportSteering(z, g, path.join(t.dir, 'z-out.json')));
    expect(e3.message).toMatch(/hook_z.*attention heads/);

    const out = path.join(t.dir, 'keep.json');
    fs.writeFileSync(out, 'mine');
    fs.writeFileSync(path.join(t.dir, 'ok.json'), JSON.stringify(Array.from(randomVector(D, 5))));
    expect((await rejection(transportSteering(path.join(t.dir, 'ok.json'), g, out))).code).toBe('OUTPUT_EXISTS');
    expect(fs.readFileSync(out, 'utf8')).toBe('mine');
  });

  test('a transported vector steers the re-charted model exactly as the original steers A; |g| does not', async () => {
    const a = await loadModel(TINY);
    const b = await loadModel(moved);
    const v = randomVector(D, 6).map((x) => 3 * x);
    const prompts = [Uint32Array.from([5, 9, 12, 30, 2, 7]), Uint32Array.from([1, 2, 3, 4, 5, 6, 7, 8])];
    const contrast = { positive: [10, 11, 12], negative: [40, 41] };
    const ea = await steeringEffect(a, prompts, v, 'h_1', contrast);
    const eb = await steeringEffect(b, prompts, Float32Array.from(act(g, v)), 'h_1', contrast);
    const ewrong = await steeringEffect(b, prompts, Float32Array.from(act(g, v, false)), 'h_1', contrast);
    expect(Math.abs(ea.effect)).toBeGreaterThan(1e-3);
    expect(Math.abs(eb.effect - ea.effect)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ea.effect)));
    expect(Math.abs(ewrong.effect - ea.effect)).toBeGreaterThan(1e-3);
    const bad = await rejection(a.forward(prompts[0], { steer: { site: 'h_1', vector: new Float32Array(10) } }));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toMatch(/steer\.vector.*length 10.*d = 64/);
  });
});

describe('neuron sets and attribution lists', () => {
  test('entries move as (i, s) -> (perm[i], sign[i]·s); bare index lists keep their shape', async () => {
    const file = path.join(t.dir, 'neurons.json');
    const entries = [
      { index: 3, score: 0.5, label: 'x' },
      { index: 17, score: -2, sign: 1 },
      { index: 63, sign: -1 },
    ];
    fs.writeFileSync(file, JSON.stringify({ behaviour: 'sentiment', score_kind: 'linear', entries }));
    expect(await transportNeurons(file, g, path.join(t.dir, 'neurons-moved.json'))).toBe(3);
    const out = JSON.parse(fs.readFileSync(path.join(t.dir, 'neurons-moved.json'), 'utf8'));
    expect(out.behaviour).toBe('sentiment');
    const [p, s] = [g.perm, g.sign];
    expect(out.entries).toEqual([
      { index: p[3], score: s[3] * 0.5, label: 'x' },
      { index: p[17], score: s[17] * -2, sign: s[17] },
      { index: p[63], sign: -s[63] },
    ]);
    const bare = path.join(t.dir, 'bare.json');
    fs.writeFileSync(bare, JSON.stringify([0, 5]));
    await transportNeurons(bare, g, path.join(t.dir, 'bare-moved.json'));
    expect(JSON.parse(fs.readFileSync(path.join(t.dir, 'bare-moved.json'), 'utf8'))).toEqual([p[0], p[5]]);
  });

  test('invariant scores keep their value, per-entry kinds override, and a score of no stated kind is refused', async () => {
    const [p, s] = [g.perm, g.sign];
    const flipped = Array.from(s).findIndex((x) => x < 0);
    const file = path.join(t.dir, 'dla.json');
    fs.writeFileSync(file, JSON.stringify({ score_kind: 'invariant', entries: [{ index: flipped, score: 2.5 }, { index: flipped, score: 1, score_kind: 'linear' }] }));
    await transportNeurons(file, g, path.join(t.dir, 'dla-moved.json'));
    const out = JSON.parse(fs.readFileSync(path.join(t.dir, 'dla-moved.json'), 'utf8'));
    expect(out.entries).toEqual([
      { index: p[flipped], score: 2.5 },
      { index: p[flipped], score: -1, score_kind: 'linear' },
    ]);
    // Unstated: refused with the reason, unless the caller states it; a contradiction is refused too.
    const plain = path.join(t.dir, 'plain.json');
    fs.writeFileSync(plain, JSON.stringify([{ index: flipped, score: 3 }]));
    let e = await rejection(transportNeurons(plain, g, path.join(t.dir, 'plain-moved.json')));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/plain\.json\[0\]: has a score but no score_kind: .*"linear".*"invariant"/);
    expect(fs.existsSync(path.join(t.dir, 'plain-moved.json'))).toBe(false);
    await transportNeurons(plain, g, path.join(t.dir, 'plain-moved.json'), { scoreKind: 'linear' });
    expect(JSON.parse(fs.readFileSync(path.join(t.dir, 'plain-moved.json'), 'utf8'))).toEqual([{ index: p[flipped], score: -3 }]);
    e = await rejection(transportNeurons(file, g, path.join(t.dir, 'x.json'), { scoreKind: 'linear' }));
    expect(e.message).toMatch(/states score_kind "invariant", but "linear" was given/);
    fs.writeFileSync(plain, JSON.stringify({ score_kind: 'quadratic', entries: [] }));
    e = await rejection(transportNeurons(plain, g, path.join(t.dir, 'y.json')));
    expect(e.message).toMatch(/score_kind: "quadratic" is not one of linear, invariant/);
  });

  test('an index outside the residual stream is refused, naming the entry', async () => {
    const file = path.join(t.dir, 'bad-neurons.json');
    fs.writeFileSync(file, JSON.stringify([{ index: 1 }, { index: 64 }]));
    const e = await rejection(transportNeurons(file, g, path.join(t.dir, 'bad-out.json')));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/\[1\]\.index: 64 is not a coordinate 0\.\.63/);
  });
});

describe('sparse autoencoders', () => {
  let saeDir: string;
  let xa: Float32Array;
  let xb: Float32Array;
  let fitted: native.TrainSaeResult;
  // The built-in model, trained on English: its residual stream has the sparse structure SAEs find (a random
  // fixture's is close to Gaussian, where an SAE degenerates into a dense, nearly linear map that sign flips
  // barely hurt).
  beforeAll(async () => {
    const movedBase = path.join(t.dir, 'moved-base');
    await native.applyGauge(tinyBase(), g, movedBase);
    const ids = Uint32Array.from(Buffer.from(defaultProbeText(), 'utf8').subarray(0, 4096));
    xa = await siteActivations(await loadModel(tinyBase()), ids, 'h_1', { seq: 64 });
    xb = await siteActivations(await loadModel(movedBase), ids, 'h_1', { seq: 64 });
    saeDir = path.join(t.dir, 'sae');
    fitted = await trainSae(xa, D, saeDir, { dSae: 128, steps: 500, l1: 1e-2, hookName: 'blocks.1.hook_resid_post' });
  });

  test('a fitted SAE reconstructs its activations and is written in the SAELens layout', async () => {
    expect(fitted.losses[fitted.losses.length - 1]).toBeLessThan(fitted.losses[0]);
    expect(fitted.metrics.nmse).toBeLessThan(0.1);
    expect(fitted.metrics.l0).toBeLessThan(64);
    const cfg = JSON.parse(fs.readFileSync(path.join(saeDir, 'cfg.json'), 'utf8'));
    expect(cfg).toMatchObject({ architecture: 'standard', d_in: 64, d_sae: 128, hook_name: 'blocks.1.hook_resid_post' });
    const w = readSafetensors(path.join(saeDir, 'sae_weights.safetensors')).tensors;
    expect(w.W_enc.shape).toEqual([64, 128]);
    expect(w.W_dec.shape).toEqual([128, 64]);
    // Evaluated again from the files: the same numbers.
    const m = await evaluateSae(saeDir, xa);
    expect(m.nmse).toBeCloseTo(fitted.metrics.nmse, 6);
  });

  test('transported by g, it reconstructs the re-charted model as well as the original; by |g| it fails', async () => {
    const out = path.join(t.dir, 'sae-moved');
    const r = await transportSae(saeDir, g, out);
    expect(r).toMatchObject({ dIn: 64, dSae: 128, moved: 3, unchanged: 1 });
    const w0 = readSafetensors(path.join(saeDir, 'sae_weights.safetensors')).tensors;
    const w1 = readSafetensors(path.join(out, 'sae_weights.safetensors')).tensors;
    // W_enc [d, m]: row i goes to row perm[i], signed.
    const encT = (w: Float32Array) => Array.from({ length: 128 }, (_, f) => Array.from({ length: D }, (_, i) => w[i * 128 + f]));
    const moved0 = encT(w0.W_enc.data).map((col) => act(g, col));
    close(encT(w1.W_enc.data).flat(), moved0.flat());
    close(w1.W_dec.data, act(g, w0.W_dec.data));
    close(w1.b_dec.data, act(g, w0.b_dec.data));
    close(w1.b_enc.data, w0.b_enc.data, 0);

    const mb = await evaluateSae(out, xb);
    expect(Math.abs(mb.nmse - fitted.metrics.nmse)).toBeLessThan(1e-5);
    const wrong = path.join(t.dir, 'sae-abs');
    await transportSae(saeDir, g.abs(), wrong);
    expect((await evaluateSae(wrong, xb)).nmse).toBeGreaterThan(0.5);
  });

  test('an SAE of another width or on MLP neurons is refused with the reason', async () => {
    const e = await rejection(transportSae(saeDir, Gauge.random(32, { seed: 1 }), path.join(t.dir, 'x')));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toMatch(/d_in/);
    const mlp = path.join(t.dir, 'sae-mlp');
    fs.mkdirSync(mlp);
    fs.copyFileSync(path.join(saeDir, 'sae_weights.safetensors'), path.join(mlp, 'sae_weights.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(saeDir, 'cfg.json'), 'utf8'));
    fs.writeFileSync(path.join(mlp, 'cfg.json'), JSON.stringify({ ...cfg, hook_name: 'blocks.1.mlp.hook_post' }));
    const e2 = await rejection(transportSae(mlp, g, path.join(t.dir, 'y')));
    expect(e2.code).toBe('INVALID_ARGUMENT');
    expect(e2.message).toMatch(/MLP neurons.*residual gauge does not act/);
    const e3 = await rejection(evaluateSae(saeDir, new Float32Array(100)));
    expect(e3.message).toMatch(/not a positive multiple of the SAE's d_in = 64/);
  });
});

describe('AdamW state', () => {
  const corpusText = 'A small corpus of plain words, said again and again so that the model can learn it. '.repeat(30);
  let corpus: string;
  let step: string;
  beforeAll(async () => {
    corpus = path.join(t.dir, 'corpus.txt');
    fs.writeFileSync(corpus, corpusText);
    const r = await train(TINY, corpus, path.join(t.dir, 'run'), { steps: 5, batch: 4, seq: 32, lr: 1e-2 });
    step = r.checkpoints[0].dir;
  });

  /** A copy of the checkpoint re-charted by `g` whose optimizer state is the original's moved by `by`. */
  async function target(by: Gauge, name: string): Promise<string> {
    const dir = path.join(t.dir, name);
    await native.applyGauge(step, g, dir);
    fs.rmSync(path.join(dir, 'optimizer.safetensors'));
    await transportOptimizer(path.join(step, 'optimizer.safetensors'), by, path.join(dir, 'optimizer.safetensors'), { model: step });
    return dir;
  }

  test('exp_avg moves like its parameter, exp_avg_sq under |g|', async () => {
    const dir = await target(g, 'opt-rule');
    const before = readSafetensors(path.join(step, 'optimizer.safetensors'));
    const after = readSafetensors(path.join(dir, 'optimizer.safetensors'));
    const name = 'model.embed_tokens.weight';
    close(after.tensors[`${name}.exp_avg`].data, act(g, before.tensors[`${name}.exp_avg`].data));
    close(after.tensors[`${name}.exp_avg_sq`].data, act(g, before.tensors[`${name}.exp_avg_sq`].data, false));
    expect(after.metadata.step).toBe(before.metadata.step);
    expect(after.metadata.format).toBe('gauge-transport/adamw');
    // Re-charting a checkpoint moves the state saved with it by the same rules (it is never copied unmoved).
    const applied = path.join(t.dir, 'opt-applied');
    await native.applyGauge(step, g, applied);
    const withIt = readSafetensors(path.join(applied, 'optimizer.safetensors'));
    for (const k of Object.keys(after.tensors)) close(withIt.tensors[k].data, after.tensors[k].data, 0);
  });

  test('training resumed from the transported state follows the original run; |g| state does not', async () => {
    const opts = { steps: 8, batch: 4, seq: 32, lr: 1e-2, resume: true, seed: 3 };
    const original = await train(step, corpus, path.join(t.dir, 'resume-a'), opts);
    const right = await train(await target(g, 'opt-g'), corpus, path.join(t.dir, 'resume-g'), opts);
    const wrong = await train(await target(g.abs(), 'opt-abs'), corpus, path.join(t.dir, 'resume-abs'), opts);
    const gap = (x: number[]) => Math.max(...x.map((l, k) => Math.abs(l - original.losses[k])));
    expect(gap(right.losses)).toBeLessThan(1e-4);
    expect(gap(wrong.losses)).toBeGreaterThan(1e-3);
  });

  test('state missing entries, or of another model, is refused', async () => {
    const st = readSafetensors(path.join(step, 'optimizer.safetensors'));
    const partial: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [k, v] of Object.entries(st.tensors)) if (!k.startsWith('model.norm.')) partial[k] = { dtype: 'F32', ...v };
    const file = path.join(t.dir, 'partial.safetensors');
    writeSafetensors(file, partial, st.metadata);
    const e = await rejection(transportOptimizer(file, g, path.join(t.dir, 'x.safetensors'), { model: step }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/lacks 2 entries.*model\.norm\.weight\.exp_avg/);
    const e2 = await rejection(transportOptimizer(path.join(step, 'optimizer.safetensors'), Gauge.identity(D), path.join(t.dir, 'y.safetensors'), { model: GPT2 }));
    expect(e2.message).toMatch(/which .* does not have|shape/);
  });
});

describe('merges', () => {
  test('merging a re-charted sibling under its gauge equals the plain average of the parents', async () => {
    const sibling = path.join(t.dir, 'sibling');
    await native.perturbCheckpoint(TINY, sibling, { scale: 0.1, seed: 2 });
    const hidden = path.join(t.dir, 'sibling-hidden');
    await native.applyGauge(sibling, g, hidden);
    const out = path.join(t.dir, 'merged');
    const r = await mergeCheckpoints(TINY, hidden, g.inverse(), out);
    expect(r.tensors).toBeGreaterThan(0);
    const a = readSafetensors(path.join(TINY, 'model.safetensors')).tensors;
    const b = readSafetensors(path.join(sibling, 'model.safetensors')).tensors;
    const m = readSafetensors(path.join(out, 'model.safetensors')).tensors;
    for (const name of Object.keys(a)) {
      close(m[name].data, Array.from(a[name].data, (x, k) => 0.5 * x + 0.5 * b[name].data[k]), 1e-6);
    }
    // Under |g| the merged model is a different function: its loss on text is worse than either parent's.
    const wrong = path.join(t.dir, 'merged-abs');
    await mergeCheckpoints(TINY, hidden, g.inverse().abs(), wrong);
    const ids = Uint32Array.from(Buffer.from('The merged model reads plain English text like this one, byte by byte.'));
    const ppl = async (dir: string) => (await loadModel(dir)).perplexity(ids);
    expect(await ppl(wrong)).toBeGreaterThan(await ppl(out));
  });

  test('checkpoints of different architectures, or a signed gauge on a LayerNorm model, are refused', async () => {
    const e = await rejection(mergeCheckpoints(TINY, GPT2, g, path.join(t.dir, 'x')));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/different architectures/);
    const e2 = await rejection(mergeCheckpoints(GPT2, GPT2, g, path.join(t.dir, 'y')));
    expect(e2.message).toMatch(/group Bd.*single sign flips/);
    expect(fs.existsSync(path.join(t.dir, 'x'))).toBe(false);
  });
});
