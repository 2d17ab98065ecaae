/**
 * The Model and Tokenizer bindings on the committed tiny fixtures (made with transformers; see
 * scripts/fixtures/forward_transformers.py) and, when fetched, on SmolLM2's GGUF.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import { collectStats, Gauge, loadModel } from '../src';
import { allSites } from '../src/model';
import { rejection, tempDir, thrown } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures');
const TINY = path.join(FIXTURES, 'tiny');
const GPT2 = path.join(FIXTURES, 'tiny-gpt2');
const SMOLLM2 = path.join(__dirname, '..', '.cache', 'models', 'smollm2-135m-gguf', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const MINILM = path.join(__dirname, '..', '.cache', 'models', 'all-minilm-l6-v2');

const ids = Uint32Array.from({ length: 12 }, (_, k) => (k * 37 + 5) % 200);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('forward returns logits and the requested sites with their shapes', async () => {
  const model = await loadModel(TINY);
  expect(model.path).toBe(TINY);
  const sites = allSites(model.layers);
  const out = await model.forward(ids, { batch: 2, sites });
  expect([out.batch, out.seq, out.vocab, out.d]).toEqual([2, 6, model.vocab, model.d]);
  expect(out.logits!.length).toBe(2 * 6 * model.vocab);
  expect(out.hidden.map((h) => h.site)).toEqual(sites);
  for (const h of out.hidden) expect(h.values.length).toBe(2 * 6 * model.d);
  // Batching does not change the result: row 1 alone equals row 1 of the batch.
  const alone = await model.forward(ids.subarray(6), { logits: 'last' });
  const last = out.logits!.subarray((2 * 6 - 1) * model.vocab, 2 * 6 * model.vocab);
  expect(maxAbsDiff(alone.logits!, last)).toBeLessThan(1e-5);
  expect((await model.forward(ids, { batch: 3, logits: 'none' })).logits).toBeUndefined();
});

test('a re-charted model gives the same logits and hidden states g·h', async () => {
  const t = tempDir('model-recharted');
  try {
    const model = await loadModel(TINY);
    const g = Gauge.random(model.d, { seed: 3 });
    await native.applyGauge(TINY, g, path.join(t.dir, 'moved'));
    const moved = await loadModel(path.join(t.dir, 'moved'));
    const a = await model.forward(ids, { batch: 2, sites: ['h_1'] });
    const b = await moved.forward(ids, { batch: 2, sites: ['h_1'] });
    expect(maxAbsDiff(a.logits!, b.logits!)).toBeLessThan(1e-4);
    const gh = g.applyAxis(a.hidden[0].values, [12, model.d], 1);
    expect(maxAbsDiff(gh, b.hidden[0].values)).toBeLessThan(1e-4);
  } finally {
    t.cleanup();
  }
});

test('forward rejects bad ids, batches and sites with coded errors naming the argument', async () => {
  const model = await loadModel(TINY);
  let e = await rejection(model.forward(Uint32Array.of(1, 2, 100000)));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/100000.*vocabulary/);
  e = await rejection(model.forward(ids, { batch: 5 }));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/batch = 5/);
  e = await rejection(model.forward(ids, { sites: ['h_99'] }));
  expect(e.message).toMatch(/h_99/);
  e = await rejection(model.forward(ids, { sites: ['mlp_3'] }));
  expect(e.message).toMatch(/mlp_3.*not a site/);
  e = await rejection(model.forward(ids, { logits: 'some' }));
  expect(e.message).toMatch(/logits/);
  e = await rejection(model.forward(new Uint32Array(0)));
  expect(e.code).toBe('INVALID_ARGUMENT');
  const ac = new AbortController();
  ac.abort();
  e = await rejection(model.forward(ids, {}, ac.signal));
  expect(e.code).toBe('ABORTED');
});

test('siteStates runs a probe block-major: the values of forward batch by batch, resident and streamed', async () => {
  // Lengths 5, 5, 5, 7, 3, 3 in batches of 2: sub-batches [5, 5], [5], [7], [3, 3].
  const lengths = [5, 5, 5, 7, 3, 3];
  const groups = [[0, 1], [2], [3], [4, 5]];
  const probe = Uint32Array.from({ length: 28 }, (_, k) => (k * 53 + 11) % 200);
  const starts = lengths.map((_, k) => lengths.slice(0, k).reduce((a, b) => a + b, 0));
  for (const streamed of [false, true]) {
    const model = await loadModel(TINY, { streamed });
    for (const site of ['h_0', 'h_1', `h_${model.layers}`, 'final_norm'] as const) {
      const [got] = await model.siteStates(probe, [site], { lengths, batch: 2 });
      expect(got.length).toBe(probe.length * model.d);
      const parts: Float32Array[] = [];
      for (const g of groups) {
        const rows = Uint32Array.from(g.flatMap((k) => Array.from(probe.subarray(starts[k], starts[k] + lengths[k]))));
        parts.push((await model.forward(rows, { batch: g.length, sites: [site], logits: 'none' })).hidden[0].values);
      }
      const want = new Float32Array(got.length);
      let at = 0;
      for (const p of parts) {
        want.set(p, at);
        at += p.length;
      }
      expect(maxAbsDiff(got, want)).toBe(0);
    }
  }
  // One sequence by default.
  const model = await loadModel(TINY);
  const [one] = await model.siteStates(probe.subarray(0, 6), ['h_1']);
  expect(maxAbsDiff(one, (await model.forward(probe.subarray(0, 6), { sites: ['h_1'], logits: 'none' })).hidden[0].values)).toBe(0);
});

test('lastLogits gives forward\'s last-position logits of every sequence, steered or not, in one pass', async () => {
  const lengths = [6, 6, 4, 9];
  const probe = Uint32Array.from({ length: 25 }, (_, k) => (k * 29 + 3) % 200);
  for (const streamed of [false, true]) {
    const model = await loadModel(TINY, { streamed });
    const steer = { site: 'h_1', vector: Float32Array.from({ length: model.d }, (_, j) => ((j * 7) % 5) - 2), scale: 0.5 };
    for (const s of [undefined, steer]) {
      const got = await model.lastLogits(probe, { lengths, batch: 2, ...(s ? { steer: s } : {}) });
      expect(got.length).toBe(lengths.length * model.vocab);
      let at = 0;
      for (const [k, n] of lengths.entries()) {
        const want = (await model.forward(probe.subarray(at, at + n), { logits: 'last', ...(s ? { steer: s } : {}) })).logits!;
        expect(maxAbsDiff(got.subarray(k * model.vocab, (k + 1) * model.vocab), want)).toBeLessThan(1e-4);
        at += n;
      }
    }
  }
  const model = await loadModel(TINY);
  const e = await rejection(model.lastLogits(probe, { lengths: [1] }));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/lengths/);
  const bad = await rejection(model.lastLogits(probe, { steer: { site: 'h_1', vector: new Float32Array(3) } }));
  expect(bad.message).toMatch(/steer.vector/);
});

test('siteStates refuses bad lengths, sites and ids by name, and aborts', async () => {
  const model = await loadModel(TINY);
  let e = await rejection(model.siteStates(ids, ['h_1'], { lengths: [5, 5] }));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/lengths.*10.*12/);
  e = await rejection(model.siteStates(ids, ['h_1'], { lengths: [12, 0] }));
  expect(e.message).toMatch(/sequence 1 has no ids/);
  e = await rejection(model.siteStates(ids, ['resid_1']));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toMatch(/sites.*resid_1/);
  e = await rejection(model.siteStates(ids, []));
  expect(e.message).toMatch(/sites.*empty/);
  e = await rejection(model.siteStates(ids, ['h_99']));
  expect(e.message).toMatch(/h_99/);
  e = await rejection(model.siteStates(Uint32Array.of(1, 100000), ['h_1']));
  expect(e.message).toMatch(/100000.*vocabulary/);
  e = await rejection(model.siteStates(ids, ['h_1'], { batch: 0 }));
  expect(e.message).toMatch(/batch/);
  const ac = new AbortController();
  ac.abort();
  e = await rejection(model.siteStates(ids, ['h_1'], {}, ac.signal));
  expect(e.code).toBe('ABORTED');
});

test('loading a missing or malformed model names the path', async () => {
  const t = tempDir('model-bad');
  try {
    let e = await rejection(loadModel(path.join(t.dir, 'nope')));
    expect(e.message).toContain(path.join(t.dir, 'nope'));
    fs.writeFileSync(path.join(t.dir, 'fake.gguf'), 'GGUF not really');
    e = await rejection(loadModel(path.join(t.dir, 'fake.gguf')));
    expect(e.message).toContain('fake.gguf');
  } finally {
    t.cleanup();
  }
});

test('perplexity and greedy generation run off the event loop', async () => {
  const model = await loadModel(TINY);
  const ppl = await model.perplexity(ids);
  expect(ppl).toBeGreaterThan(1);
  expect(ppl).toBeLessThan(model.vocab * 10);
  const next = await model.generate(ids.subarray(0, 4), 3);
  expect(next.length).toBe(3);
  // Greedy: the first generated id is the argmax of the last logits.
  const last = (await model.forward(ids.subarray(0, 4), { logits: 'last' })).logits!;
  expect(next[0]).toBe(last.indexOf(Math.max(...last)));
  expect((await rejection(model.perplexity(Uint32Array.of(3)))).code).toBe('INVALID_ARGUMENT');
});

test('rotateCheckpoint needs force, and a rotation changes the function', async () => {
  const t = tempDir('model-rotate');
  try {
    const out = path.join(t.dir, 'rot');
    const e = await rejection(native.rotateCheckpoint(GPT2, out, { seed: 1 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/not a symmetry/);
    expect(fs.existsSync(out)).toBe(false);
    expect(await native.rotateCheckpoint(GPT2, out, { seed: 1, force: true })).toBeGreaterThan(0);
    const a = await (await loadModel(GPT2)).forward(ids);
    const b = await (await loadModel(out)).forward(ids);
    expect(maxAbsDiff(a.logits!, b.logits!)).toBeGreaterThan(1e-2);
  } finally {
    t.cleanup();
  }
});

test('a directory without tokenizer.json has no tokenizer, and says so', () => {
  const e = thrown(() => native.Tokenizer.load(TINY));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.message).toContain(TINY);
});

const withMiniLM = fs.existsSync(MINILM) ? test : test.skip;
withMiniLM('the BERT tokenizer of all-MiniLM-L6-v2 encodes and decodes', () => {
  const tok = native.Tokenizer.load(MINILM);
  const enc = tok.encode('Hello world');
  expect(Array.from(enc)).toEqual([101, 7592, 2088, 102]); // [CLS] hello world [SEP]
  expect(Array.from(tok.encode('Hello world', false))).toEqual([7592, 2088]);
  expect(tok.decode(tok.encode('hello world', false))).toBe('hello world');
  expect(tok.vocabSize).toBe(30522);
});

const withSmolLM2 = fs.existsSync(SMOLLM2) ? test : test.skip;
withSmolLM2(
  'SmolLM2 loads straight from its GGUF, tokenizes, inspects, and predicts " Paris"',
  async () => {
    const info = native.inspectModel(SMOLLM2);
    expect(info).toMatchObject({ architecture: 'llama', d: 576, layers: 30, group: 'Bd' });
    const tok = native.Tokenizer.load(SMOLLM2);
    const model = await loadModel(SMOLLM2);
    const prompt = tok.encode('The capital of France is');
    const next = await model.generate(prompt, 1);
    expect(tok.decode(next)).toBe(' Paris');
  },
  120_000,
);
if (!fs.existsSync(SMOLLM2)) console.warn(`SKIPPED SmolLM2 binding test: ${SMOLLM2} not found; run python3 scripts/fetch_models.py`);

test('a device is chosen by name; an unknown name or an accelerator this build lacks is refused with the reason', async () => {
  const cpu = await loadModel(TINY, { device: 'cpu' });
  expect(cpu.device).toBe('cpu');
  expect((await loadModel(TINY)).device).toBe('cpu');
  const bad = await rejection(loadModel(TINY, { device: 'gpu' }));
  expect(bad.message).toMatch(/device: "gpu" is not a device; use one of cpu, cuda/);
  const cuda = await rejection(loadModel(TINY, { device: 'cuda:0' }));
  // CI builds without the cuda feature; a build with it on a machine without a GPU fails to open the device.
  expect(cuda.message).toMatch(/no CUDA support \(build it with the cargo feature `cuda`\)|could not be opened/);
  const stats = await rejection(collectStats(TINY, TINY, { device: 'metal', tokens: 64, contextLength: 32 }));
  expect(stats.message).toMatch(/metal/i);
});
