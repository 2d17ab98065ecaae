/**
 * Outputs appear whole or not at all, and what killed runs leave behind is reclaimed: temporaries carry their
 * process id, and the next write to the same output removes those whose process is gone, in the addon's writers
 * and in the TypeScript layer's alike. Concurrent writers to one path get OUTPUT_EXISTS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import { reclaim, writeAtomic } from '../src/files';
import { rejection, tempDir } from './helpers';

let t: ReturnType<typeof tempDir>;
beforeAll(() => (t = tempDir('files')));
afterAll(() => t.cleanup());

// Above the kernel's pid ceiling (2^22), so never a live process.
const DEAD = 4194400;

test('writeAtomic reclaims the temporaries of dead processes, keeps live ones, and never replaces a file unasked', () => {
  const out = path.join(t.dir, 'r.json');
  const dead = path.join(t.dir, `.r.json.tmp-${DEAD}-1`);
  const live = path.join(t.dir, `.r.json.tmp-${process.ppid}-2`);
  fs.writeFileSync(dead, 'half');
  fs.mkdirSync(live);
  writeAtomic(out, '{"a":1}', false);
  expect(fs.existsSync(dead)).toBe(false);
  expect(fs.existsSync(live)).toBe(true);
  expect(() => writeAtomic(out, '{"a":2}', false)).toThrow(/OUTPUT_EXISTS|already exists/);
  expect(fs.readFileSync(out, 'utf8')).toBe('{"a":1}');
  writeAtomic(out, '{"a":3}', true);
  expect(fs.readFileSync(out, 'utf8')).toBe('{"a":3}');
  expect(reclaim(out)).toBe(0);
  expect(fs.readdirSync(t.dir).sort()).toEqual([path.basename(live), 'r.json']);
});

test("the addon's writers reclaim too: a gauge file and a checkpoint directory", async () => {
  const g = native.Gauge.random(8, { seed: 1 });
  const file = path.join(t.dir, 'g.safetensors');
  const staleFile = path.join(t.dir, `.g.safetensors.tmp-${DEAD}-9`);
  fs.writeFileSync(staleFile, 'x'.repeat(1000));
  g.write(file);
  expect(fs.existsSync(staleFile)).toBe(false);
  const dir = path.join(t.dir, 'ckpt');
  const staleDir = path.join(t.dir, `.ckpt.tmp-${DEAD}-3`);
  fs.mkdirSync(path.join(staleDir, 'inner'), { recursive: true });
  await native.initCheckpoint('tiny', dir, { seed: 1 });
  expect(fs.existsSync(staleDir)).toBe(false);
  // A second writer to the same directory is refused without touching the first's files.
  const before = fs.readFileSync(path.join(dir, 'model.safetensors'));
  const e = await rejection(native.initCheckpoint('tiny', dir, { seed: 2 }));
  expect(e.code).toBe('OUTPUT_EXISTS');
  expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(before)).toBe(true);
});

test('concurrent applies to one output: one writes it, the others get OUTPUT_EXISTS, no temporaries are left', async () => {
  const src = path.join(t.dir, 'ckpt');
  const out = path.join(t.dir, 'applied');
  const g = native.Gauge.random(64, { seed: 3, positiveFraction: 0.5 });
  const results = await Promise.allSettled([0, 1, 2, 3].map(() => native.applyGauge(src, g, out)));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(ok).toHaveLength(1);
  expect(refused.map((r) => (r.reason as { code: string }).code)).toEqual(['OUTPUT_EXISTS', 'OUTPUT_EXISTS', 'OUTPUT_EXISTS']);
  expect(fs.readdirSync(t.dir).filter((n) => n.startsWith('.applied'))).toEqual([]);
});
