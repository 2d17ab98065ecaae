/**
 * `gauge-transport demo` on the built-in model: the hidden signed permutation is recovered by the Bd estimate, the
 * permutation-only estimate gets the permutation but half the signs wrong, and the files it names exist.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import type { DemoResult } from '../src/demo';
import { tempDir } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

test('demo recovers the hidden gauge with the Bd estimate and shows what the Sd estimate misses', () => {
  const t = tempDir('demo');
  try {
    const out = path.join(t.dir, 'demo');
    const p = spawnSync(process.execPath, [CLI, 'demo', '--out', out, '--json'], { encoding: 'utf8' });
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    const r = JSON.parse(p.stdout) as DemoResult;
    expect(r.d).toBe(64);
    expect(r.hidden.negativeSigns).toBe(32);
    expect(r.nudge.lossLast).toBeLessThan(r.nudge.lossFirst);
    expect(r.methods.marginalized.signedAccuracy).toBeGreaterThanOrEqual(0.99);
    expect(r.methods.permutation.permAccuracy).toBeGreaterThanOrEqual(0.99);
    expect(r.methods.permutation.signedAccuracy).toBeLessThan(0.6);
    expect(r.methods.signed.permAccuracy).toBeLessThan(0.7);
    expect(JSON.parse(fs.readFileSync(r.report, 'utf8'))).toEqual(r);
    const hidden = native.Gauge.read(path.join(out, 'hidden-gauge.safetensors'));
    const estimate = native.Gauge.read(r.methods.marginalized.file);
    expect(estimate.agreement(hidden).signedAccuracy).toBe(r.methods.marginalized.signedAccuracy);
    // Tools moved with the Bd estimate keep working in B; with the Sd estimate they break.
    const { steering, sae } = r.tools;
    expect(steering.moved.Bd.preserved).toBeGreaterThan(0.5);
    expect(steering.moved.Sd.preserved).toBeLessThan(steering.moved.Bd.preserved - 0.4);
    expect(sae.moved.Bd.nmseB).toBeLessThan(0.3);
    expect(sae.moved.Sd.nmseB).toBeGreaterThan(3 * sae.moved.Bd.nmseB);
    const moved = JSON.parse(fs.readFileSync(steering.moved.Bd.file, 'utf8')).vector;
    const made = JSON.parse(fs.readFileSync(steering.file, 'utf8')).vector;
    expect(moved).toEqual(Array.from(estimate.applyVector(Float32Array.from(made))));
    // The checkpoint the gauge was estimated against is kept beside the report; scratch files are not.
    expect(fs.readdirSync(out).sort()).toEqual([
      'B',
      'estimate-marginalized.safetensors',
      'estimate-permutation.safetensors',
      'estimate-signed.safetensors',
      'hidden-gauge.safetensors',
      'report.html',
      'report.json',
      'sae-A',
      'sae-B-Bd',
      'sae-B-Sd',
      'steering-A.json',
      'steering-B-Bd.json',
      'steering-B-Sd.json',
    ]);
  } finally {
    t.cleanup();
  }
});
