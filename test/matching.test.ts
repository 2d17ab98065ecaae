/**
 * Gauge estimation from a correlation matrix (GAUGE.md §5) on planted problems, where the true gauge is known:
 * `C[i, perm[i]] = sign[i] * 0.9` plus uniform noise in [-0.05, 0.05], and on correlations of synthetic activations
 * `y = g·x + noise` computed by `correlation()`.
 */
import { Gauge, matchGauge, type Method } from '../src';
import { matchGaugeSync } from '../src/matching';
import native = require('../src/native');
const { correlation } = native;
import { plantedCorrelation, rejection, thrown } from './helpers';

const d = 64;
const NOISE = 0.05;

describe('a planted correlation matrix', () => {
  const truth = Gauge.random(d, { seed: 21, positiveFraction: 0.5 });
  const c = plantedCorrelation(truth.perm, truth.sign, NOISE, 5);

  test('marginalized recovers the gauge exactly, signs included', async () => {
    const m = await matchGauge(c, d, { method: 'marginalized' });
    expect(m.gauge.equals(truth)).toBe(true);
    expect(m.gauge.agreement(truth)).toEqual({ permAccuracy: 1, signedAccuracy: 1 });
  });

  test('marginalized is the default method', async () => {
    expect((await matchGauge(c, d)).gauge.equals(truth)).toBe(true);
    expect(matchGaugeSync(c, d).gauge.equals(truth)).toBe(true);
  });

  test('the objective is Σ|C| over the true pairs and the dual bound certifies it', async () => {
    const m = await matchGauge(c, d);
    let expected = 0;
    for (let i = 0; i < d; i++) expected += Math.abs(c[i * d + truth.perm[i]]);
    expect(m.objective).toBeCloseTo(expected, 9);
    expect(m.dualBound).toBeGreaterThanOrEqual(m.objective - 1e-9);
    expect(m.dualBound - m.objective).toBeLessThan(1e-6);
  });

  test('permutation finds the permutation with every sign +1: g.abs()', async () => {
    const m = await matchGauge(c, d, { method: 'permutation' });
    expect(m.gauge.equals(truth.abs())).toBe(true);
    expect(m.gauge.agreement(truth)).toEqual({ permAccuracy: 1, signedAccuracy: 0.5 });
  });

  test('signed finds only the positively signed pairs: perm accuracy equals the positive fraction', async () => {
    // A negatively signed true pair scores about -0.9, below any noise pair, so the maximum of ΣC never uses it
    // (with at least two negative rows there is always a better swap); every positive pair is kept.
    for (const p of [0.25, 0.5, 0.75]) {
      const t = Gauge.random(d, { seed: 30, positiveFraction: p });
      const m = await matchGauge(plantedCorrelation(t.perm, t.sign, NOISE, 6), d, { method: 'signed' });
      const a = m.gauge.agreement(t);
      expect(a.permAccuracy).toBe(Math.round(p * d) / d);
      expect(a.signedAccuracy).toBe(Math.round(p * d) / d);
      expect(m.gauge.group()).toBe('Sd');
      const perm = Array.from(m.gauge.perm);
      for (let i = 0; i < d; i++) {
        if (t.sign[i] === 1) expect(perm[i]).toBe(t.perm[i]);
        else expect(perm[i]).not.toBe(t.perm[i]);
      }
    }
  });

  test('confidence has one positive margin per coordinate, the gap between the planted and noise scores', async () => {
    const m = await matchGauge(c, d);
    expect(ArrayBuffer.isView(m.confidence)).toBe(true);
    expect(m.confidence).toHaveLength(d);
    for (const x of Array.from(m.confidence)) {
      // |±0.9 + u| in [0.85, 0.95] minus a noise entry |u| <= 0.05.
      expect(x).toBeGreaterThanOrEqual(0.9 - 2 * NOISE - 1e-6);
      expect(x).toBeLessThanOrEqual(0.9 + NOISE + 1e-6);
    }
  });

  test('a coordinate whose row has a stronger rival gets a negative confidence', async () => {
    const weak = Float32Array.from(c);
    // Row 0's planted pair stays matched only because the rival's column is taken by a stronger pair.
    const rival = truth.perm[1];
    weak[0 * d + rival] = 0.97;
    weak[1 * d + rival] = truth.sign[1] * 1.0;
    const m = await matchGauge(weak, d);
    expect(m.gauge.equals(truth)).toBe(true);
    expect(m.confidence[0]).toBeLessThan(0);
    expect(m.confidence[1]).toBeGreaterThan(0);
    expect(m.confidence[2]).toBeGreaterThan(0.5);
  });

  test('both solvers and both forms give the same estimate', async () => {
    for (const method of ['marginalized', 'signed', 'permutation'] as Method[]) {
      const a = matchGaugeSync(c, d, { method, solver: 'jv' });
      const b = await matchGauge(c, d, { method, solver: 'pathfinding' });
      expect(b.gauge.equals(a.gauge)).toBe(true);
      expect(b.objective).toBeCloseTo(a.objective, 9);
    }
  });
});

test('the gauge is recovered from correlations of synthetic activations y = g·x + noise', async () => {
  const dim = 96;
  const rows = 2048;
  const truth = Gauge.random(dim, { seed: 77, positiveFraction: 0.4 });
  const x = native.randomNormal(rows * dim, 1);
  const y = truth.applyAxis(x, [rows, dim], 1);
  const eps = native.randomNormal(rows * dim, 2);
  for (let t = 0; t < y.length; t++) y[t] += 0.5 * eps[t];
  const c = await correlation(x, y, rows, dim, dim);
  expect(c).toHaveLength(dim * dim);
  // corr(x_i, (g·x)_{perm[i]} + 0.5 ε) = sign[i] / sqrt(1 + 0.25) ≈ ±0.894; rows index A's chart, columns B's.
  for (let i = 0; i < dim; i++) {
    expect(c[i * dim + truth.perm[i]] * truth.sign[i]).toBeGreaterThan(0.85);
    expect(c[i * dim + truth.perm[i]] * truth.sign[i]).toBeLessThan(0.94);
  }
  const m = await matchGauge(c, dim);
  expect(m.gauge.equals(truth)).toBe(true);
  expect((await matchGauge(c, dim, { method: 'signed' })).gauge.agreement(truth).permAccuracy).toBeCloseTo(0.4, 1);
});

describe('correlation', () => {
  test('a hand-computed 3-sample example: C[i, j] = corr(x[:, i], y[:, j]), row-major [dx, dy]', async () => {
    // x columns [1, 2, 3] and [0, 1, 0]; y columns [2, 4, 6] (= 2 x0) and [3, 2, 1] (= 4 - x0).
    // x1 is symmetric about the middle sample, so it is uncorrelated with both linear columns of y.
    const x = Float32Array.from([1, 0, 2, 1, 3, 0]);
    const y = Float32Array.from([2, 3, 4, 2, 6, 1]);
    const c = await correlation(x, y, 3, 2, 2);
    expect(ArrayBuffer.isView(c)).toBe(true);
    const expected = [1, -1, 0, 0];
    Array.from(c).forEach((v, k) => expect(v).toBeCloseTo(expected[k], 6));
  });

  test('a rectangular [dx, dy] result puts x on the rows', async () => {
    // x has 1 column, y has 2: C is 1 x 2.
    const x = Float32Array.from([1, 2, 3, 4]);
    const y = Float32Array.from([1, -1, 2, -2, 3, -3, 4, -4]);
    const c = await correlation(x, y, 4, 1, 2);
    expect(c).toHaveLength(2);
    expect(c[0]).toBeCloseTo(1, 6);
    expect(c[1]).toBeCloseTo(-1, 6);
  });

  test('bad inputs reject with SHAPE_MISMATCH, INVALID_ARGUMENT (fewer than 2 samples) and NON_FINITE', async () => {
    const y = Float32Array.from([1, 2, 3, 4]);
    expect((await rejection(correlation(Float32Array.from([1, 2, 3]), y, 2, 2, 2))).code).toBe('SHAPE_MISMATCH');
    expect((await rejection(correlation(Float32Array.from([1, 2]), Float32Array.from([1, 2]), 1, 2, 2))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await rejection(correlation(Float32Array.from([1, NaN, 3, 4]), y, 2, 2, 2))).code).toBe('NON_FINITE');
  });
});

describe('input errors', () => {
  test('a length that is not d * d is SHAPE_MISMATCH, sync and async', async () => {
    const c = new Float32Array(10);
    const sync = thrown(() => matchGaugeSync(c, 3));
    expect(sync.code).toBe('SHAPE_MISMATCH');
    expect(sync.message).toContain('correlation matrix');
    expect((await rejection(matchGauge(c, 3))).code).toBe('SHAPE_MISMATCH');
    // A 3 x 4 matrix has 12 entries: neither 3 x 3 nor 4 x 4.
    expect(thrown(() => matchGaugeSync(new Float32Array(12), 3)).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => matchGaugeSync(new Float32Array(12), 4)).code).toBe('SHAPE_MISMATCH');
  });

  test('a NaN in C is NON_FINITE and an unknown method or solver is INVALID_ARGUMENT', async () => {
    const c = Float32Array.from([1, 0, NaN, 1]);
    expect(thrown(() => matchGaugeSync(c, 2)).code).toBe('NON_FINITE');
    expect((await rejection(matchGauge(c, 2))).code).toBe('NON_FINITE');
    const ok = Float32Array.from([1, 0, 0, 1]);
    expect(thrown(() => matchGaugeSync(ok, 2, { method: 'absolute' as Method })).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(matchGauge(ok, 2, { method: 'absolute' as Method }))).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => matchGaugeSync(ok, 2, { solver: 'auction' as 'jv' })).code).toBe('INVALID_ARGUMENT');
  });

  test('d = 0 is EMPTY_INPUT', () => {
    expect(thrown(() => matchGaugeSync(new Float32Array(0), 0)).code).toBe('EMPTY_INPUT');
  });
});
