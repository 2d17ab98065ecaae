import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../src/native');
import { Gauge } from '../src';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-ckpt-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const code = async (p: Promise<unknown>) => p.then(() => undefined, (e: { code?: string }) => e.code);

test('init, inspect, apply and apply(inverse) round-trip a tiny Llama bit for bit', async () => {
  const model = path.join(dir, 'tiny');
  await native.initCheckpoint('tiny', model, { seed: 4, dtype: 'BF16' });
  const info = native.inspectModel(model);
  expect(info).toMatchObject({ architecture: 'llama', d: 64, layers: 2, heads: 4, kvHeads: 2, group: 'Bd', norm: 'RMSNorm' });
  expect(info.dtypes).toEqual(['BF16']);
  expect(info.gains.std).toBeGreaterThan(0.05);

  const g = Gauge.random(64, { seed: 9 });
  const moved = path.join(dir, 'moved');
  const r = await native.applyGauge(model, g, moved);
  expect(r.tensors).toBe(r.moved);
  expect(Gauge.read(path.join(moved, 'gauge.safetensors')).equals(g)).toBe(true);
  expect(fs.readFileSync(path.join(moved, 'config.json'), 'utf8')).toBe(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));

  const back = path.join(dir, 'back');
  await native.applyGauge(moved, g.inverse(), back);
  // Headers differ only in metadata; the tensor data must be identical.
  const data = (f: string) => {
    const b = fs.readFileSync(f);
    return b.subarray(8 + Number(b.readBigUInt64LE(0)));
  };
  expect(Buffer.compare(data(path.join(back, 'model.safetensors')), data(path.join(model, 'model.safetensors')))).toBe(0);
  expect(Buffer.compare(data(path.join(moved, 'model.safetensors')), data(path.join(model, 'model.safetensors')))).not.toBe(0);
});

test('apply refuses existing output, a Bd gauge on GPT-2 and a gauge of the wrong size, with codes', async () => {
  const gpt = path.join(dir, 'gpt');
  await native.initCheckpoint('tiny-gpt2', gpt, { seed: 1 });
  expect(native.inspectModel(gpt).group).toBe('±Sd');
  expect(await code(native.applyGauge(gpt, Gauge.random(64, { seed: 1 }), path.join(dir, 'g1')))).toBe('INVALID_ARGUMENT');
  expect(fs.existsSync(path.join(dir, 'g1'))).toBe(false);
  await native.applyGauge(gpt, Gauge.random(64, { seed: 1, group: '±Sd' }), path.join(dir, 'g2'));
  expect(await code(native.applyGauge(gpt, Gauge.random(64, { seed: 1, group: '±Sd' }), path.join(dir, 'g2')))).toBe('OUTPUT_EXISTS');
  expect(await code(native.applyGauge(gpt, Gauge.random(65, { seed: 1, group: 'Sd' }), path.join(dir, 'g3')))).toBe('SHAPE_MISMATCH');
  expect(await code(native.initCheckpoint('no-such-preset', path.join(dir, 'x')))).toBe('INVALID_ARGUMENT');
});
