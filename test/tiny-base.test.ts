/**
 * The built-in model (`models/tiny-base`): present, intact (its recipe records the bytes it ships), and trained:
 * it predicts English text it never saw (the shipped probe text) far better than its random initialisation.
 * Rebuilding it from the recipe is `npm run experiment -- tiny-base` (two minutes), not a test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import { loadModel } from '../src';
import { defaultProbeText } from '../src/probe';
import { sha256File, tinyBase, tinyBaseRecord, TINY_BASE_RECIPE, sameRecipe } from '../src/tiny-base';
import { tempDir } from './helpers';

/** Mean next-byte cross-entropy (nats) of the model in `dir` over `rows` sequences of `seq` bytes of `text`. */
async function bytesLoss(dir: string, text: string, rows: number, seq: number): Promise<number> {
  const model = await loadModel(dir);
  const bytes = Buffer.from(text, 'utf8').subarray(0, rows * seq);
  const ids = Uint32Array.from(bytes);
  const out = await model.forward(ids, { batch: rows, logits: 'all' });
  const v = model.vocab;
  const logits = out.logits!;
  let total = 0;
  let n = 0;
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s + 1 < seq; s++) {
      const row = logits.subarray(((r * seq) + s) * v, ((r * seq) + s + 1) * v);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - max);
      total += Math.log(z) + max - row[ids[r * seq + s + 1]];
      n++;
    }
  }
  return total / n;
}

test('the built-in model ships with its recipe and the bytes the recipe records', () => {
  const dir = tinyBase();
  const record = tinyBaseRecord(dir);
  expect(sameRecipe(record.recipe, TINY_BASE_RECIPE)).toBe(true);
  expect(sha256File(path.join(dir, 'model.safetensors'))).toBe(record.modelSha256);
  expect(record.loss.last).toBeLessThan(record.loss.first - 2);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  expect(config).toMatchObject({ hidden_size: 64, vocab_size: 256 });
});

test('the built-in model predicts unseen English far better than its initialisation', async () => {
  const t = tempDir('tiny-base');
  try {
    const init = path.join(t.dir, 'init');
    await native.initCheckpoint(TINY_BASE_RECIPE.config, init, { seed: TINY_BASE_RECIPE.initSeed });
    const text = defaultProbeText();
    const trained = await bytesLoss(tinyBase(), text, 4, 64);
    const random = await bytesLoss(init, text, 4, 64);
    expect(random).toBeGreaterThan(5);
    expect(trained).toBeLessThan(2.6);
  } finally {
    t.cleanup();
  }
});
