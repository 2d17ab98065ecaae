/**
 * Gauge algebra through the public API, checked against GAUGE.md §2 written out in plain JavaScript: the action
 * `(g·x)[perm[i]] = sign[i] * x[i]`, the matrix `G[perm[i], i] = sign[i]`, composition `h ∘ g` (g first) as the
 * matrix product `H G`, and the inverse as `Gᵀ`.
 */
import { Gauge } from '../src';
import { gaugeFromArrays } from '../src/gauge';
import { gaugeMatrix, matmul, randomPerm, rng, rows, thrown, transpose } from './helpers';

const u32 = (a: number[]) => Uint32Array.from(a);
const i8 = (a: number[]) => Int8Array.from(a);
const f32 = (a: number[]) => Float32Array.from(a);

/** A gauge with random perm and signs drawn by the test's own generator. */
function jsRandomGauge(d: number, seed: number): Gauge {
  const next = rng(seed);
  const perm = randomPerm(d, next);
  const sign = perm.map(() => (next() < 0.5 ? -1 : 1));
  return Gauge.fromArrays(u32(perm), i8(sign));
}

/** GAUGE.md §2 along one axis: `out[.., perm[i], ..] = s_i * x[.., i, ..]`, `s_i = sign[i]` or 1 unsigned. */
function applyAxisReference(g: Gauge, x: ArrayLike<number>, shape: number[], axis: number, signed: boolean): number[] {
  const perm = Array.from(g.perm);
  const sign = Array.from(g.sign);
  const d = shape[axis];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Array<number>(x.length).fill(NaN);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < d; i++) {
      for (let k = 0; k < inner; k++) {
        out[(o * d + perm[i]) * inner + k] = (signed ? sign[i] : 1) * x[(o * d + i) * inner + k];
      }
    }
  }
  return out;
}

describe('construction', () => {
  test('identity(d) has perm 0..d-1, all signs +1, group Sd', () => {
    const g = Gauge.identity(5);
    expect(g.d).toBe(5);
    expect(ArrayBuffer.isView(g.perm)).toBe(true);
    expect(ArrayBuffer.isView(g.sign)).toBe(true);
    expect(Array.from(g.perm)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(g.sign)).toEqual([1, 1, 1, 1, 1]);
    expect(g.group()).toBe('Sd');
  });

  test.each([0, 1.5, -3])('identity(%p) is INVALID_ARGUMENT naming d', (d) => {
    const err = thrown(() => Gauge.identity(d));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/^d: /);
  });

  test('fromArrays keeps perm and sign exactly', () => {
    const g = Gauge.fromArrays(u32([2, 0, 3, 1]), i8([1, -1, -1, 1]));
    expect(g.d).toBe(4);
    expect(Array.from(g.perm)).toEqual([2, 0, 3, 1]);
    expect(Array.from(g.sign)).toEqual([1, -1, -1, 1]);
  });

  test('the perm and sign getters return copies, so mutating them does not change the gauge', () => {
    const g = Gauge.fromArrays(u32([1, 0]), i8([1, -1]));
    const p = g.perm;
    const s = g.sign;
    p[0] = 0;
    s[0] = -1;
    expect(Array.from(g.perm)).toEqual([1, 0]);
    expect(Array.from(g.sign)).toEqual([1, -1]);
  });

  test.each([
    ['a repeated entry', [1, 0, 1], 'perm[0] = perm[2] = 1'],
    ['an entry out of range', [0, 1, 3], 'perm[2] = 3'],
  ])('fromArrays rejects a perm with %s as GAUGE_NOT_PERMUTATION, naming the entry', (_, perm, detail) => {
    const err = thrown(() => Gauge.fromArrays(u32(perm), i8([1, 1, 1])));
    expect(err.code).toBe('GAUGE_NOT_PERMUTATION');
    expect(err.message).toContain('perm');
    expect(err.message).toContain(detail);
  });

  test.each([[0], [2], [-2]])('fromArrays rejects a sign entry %d as GAUGE_BAD_SIGN, naming its index', (bad) => {
    const err = thrown(() => Gauge.fromArrays(u32([0, 1, 2]), i8([1, bad, -1])));
    expect(err.code).toBe('GAUGE_BAD_SIGN');
    expect(err.message).toContain(`sign[1] = ${bad}`);
  });

  test('fromArrays rejects perm and sign of different lengths as SHAPE_MISMATCH, naming sign and both lengths', () => {
    const err = thrown(() => Gauge.fromArrays(u32([0, 1, 2]), i8([1, -1])));
    expect(err.code).toBe('SHAPE_MISMATCH');
    expect(err.message).toContain('sign');
    expect(err.message).toContain('length 3');
    expect(err.message).toContain('length 2');
  });

  test('fromArrays rejects empty arrays as EMPTY_INPUT', () => {
    expect(thrown(() => Gauge.fromArrays(u32([]), i8([]))).code).toBe('EMPTY_INPUT');
  });

  test('gaugeFromArrays builds the same gauge from plain arrays and validates them', () => {
    const g = gaugeFromArrays([2, 0, 1], [1, -1, 1]);
    expect(Array.from(g.perm)).toEqual([2, 0, 1]);
    expect(Array.from(g.sign)).toEqual([1, -1, 1]);
    expect(g.equals(Gauge.fromArrays(u32([2, 0, 1]), i8([1, -1, 1])))).toBe(true);
    expect(thrown(() => gaugeFromArrays([0, 0, 1], [1, 1, 1])).code).toBe('GAUGE_NOT_PERMUTATION');
    expect(thrown(() => gaugeFromArrays([0, 1, 2], [1, 0, 1])).code).toBe('GAUGE_BAD_SIGN');
    expect(thrown(() => gaugeFromArrays([0, 1, 2], [1, 1])).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => gaugeFromArrays([-1, 0, 1], [1, 1, 1])).code).toBe('GAUGE_NOT_PERMUTATION');
  });

  // Plain arrays are validated before conversion: Int8Array.from would wrap 255 to -1 and Uint32Array.from would
  // truncate 1.5 and wrap 2^32 to 0.
  test.each([
    ['sign 255 (wraps to -1)', [0, 1], [1, 255], 'GAUGE_BAD_SIGN'],
    ['sign 1.5 (truncates to 1)', [0, 1], [1, 1.5], 'GAUGE_BAD_SIGN'],
    ['perm 0.5 (truncates to 0)', [0.5, 1], [1, 1], 'GAUGE_NOT_PERMUTATION'],
    ['perm 2^32 (wraps to 0)', [2 ** 32, 1], [1, 1], 'GAUGE_NOT_PERMUTATION'],
  ])('gaugeFromArrays rejects %s instead of coercing it', (_, perm, sign, code) => {
    expect(thrown(() => gaugeFromArrays(perm, sign)).code).toBe(code);
  });
});

describe('random', () => {
  test.each([1, 2, 7, 64, 101])('random(%d) draws a valid permutation and is deterministic in its seed', (d) => {
    const g = Gauge.random(d, { seed: 11 });
    expect(Array.from(g.perm).sort((a, b) => a - b)).toEqual(Array.from({ length: d }, (_, i) => i));
    expect(Array.from(g.sign).every((s) => s === 1 || s === -1)).toBe(true);
    expect(Gauge.random(d, { seed: 11 }).equals(g)).toBe(true);
  });

  test('different seeds give different gauges', () => {
    expect(Gauge.random(64, { seed: 1 }).equals(Gauge.random(64, { seed: 2 }))).toBe(false);
  });

  test.each([
    [0, 10],
    [0.25, 64],
    [0.3, 101],
    [0.5, 7],
    [0.5, 64],
    [0.9, 33],
    [1, 16],
  ])('positiveFraction %p on d = %d gives exactly round(p·d) signs +1', (p, d) => {
    for (const seed of [0, 1, 2]) {
      const g = Gauge.random(d, { seed, positiveFraction: p });
      expect(Array.from(g.sign).filter((s) => s === 1).length).toBe(Math.round(p * d));
    }
  });

  test('the default Bd draw has half its signs +1 and is in Bd', () => {
    const g = Gauge.random(64, { seed: 5 });
    expect(Array.from(g.sign).filter((s) => s === 1).length).toBe(32);
    expect(g.group()).toBe('Bd');
  });

  test('group Sd draws all signs +1', () => {
    for (const seed of [0, 1, 2, 3]) {
      const g = Gauge.random(32, { seed, group: 'Sd' });
      expect(Array.from(g.sign).every((s) => s === 1)).toBe(true);
      expect(g.group()).toBe('Sd');
    }
  });

  test('group ±Sd draws one global sign, and both signs occur across seeds', () => {
    const globals = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const g = Gauge.random(32, { seed, group: '±Sd' });
      const signs = new Set(Array.from(g.sign));
      expect(signs.size).toBe(1);
      const s = [...signs][0];
      globals.add(s);
      expect(g.group()).toBe(s === 1 ? 'Sd' : '±Sd');
    }
    expect([...globals].sort()).toEqual([-1, 1]);
  });

  test('bad options are INVALID_ARGUMENT', () => {
    expect(thrown(() => Gauge.random(8, { positiveFraction: 1.5 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => Gauge.random(8, { positiveFraction: -0.1 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => Gauge.random(8, { group: 'Od' })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => Gauge.random(8, { group: 'Sd', positiveFraction: 0.5 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => Gauge.random(8, { seed: -1 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => Gauge.random(8, { seed: 0.5 })).code).toBe('INVALID_ARGUMENT');
  });
});

describe('group', () => {
  test.each([
    [[0, 1, 2], [1, 1, 1], 'Sd'],
    [[2, 0, 1], [1, 1, 1], 'Sd'],
    [[2, 0, 1], [-1, -1, -1], '±Sd'],
    [[0], [-1], '±Sd'],
    [[1, 0, 2], [1, -1, 1], 'Bd'],
  ])('perm %j, sign %j is in %s', (perm, sign, group) => {
    expect(Gauge.fromArrays(u32(perm), i8(sign)).group()).toBe(group);
  });
});

describe('compose, inverse, abs, equals', () => {
  const h = Gauge.fromArrays(u32([1, 2, 0, 3]), i8([-1, 1, 1, -1]));
  const g = Gauge.fromArrays(u32([3, 0, 2, 1]), i8([1, 1, -1, -1]));

  test('the matrix of a gauge moves vectors like applyVector', () => {
    const x = [1, 2, 3, 4];
    const G = gaugeMatrix(g.perm, g.sign);
    const viaMatrix = matmul(G, x.map((v) => [v])).map((r) => r[0]);
    expect(Array.from(g.applyVector(f32(x)))).toEqual(viaMatrix);
    // Worked by hand: (g·x)[perm[i]] = sign[i] x[i] with perm [3,0,2,1], sign [1,1,-1,-1].
    expect(viaMatrix).toEqual([2, -4, -3, 1]);
  });

  test('h.compose(g) applies g first, then h: its matrix is H G', () => {
    const hg = h.compose(g);
    const expected = matmul(gaugeMatrix(h.perm, h.sign), gaugeMatrix(g.perm, g.sign));
    expect(gaugeMatrix(hg.perm, hg.sign)).toEqual(expected);
    // GAUGE.md §2: perm[i] = h.perm[g.perm[i]], sign[i] = h.sign[g.perm[i]] * g.sign[i].
    expect(Array.from(hg.perm)).toEqual([3, 1, 0, 2]);
    expect(Array.from(hg.sign)).toEqual([-1, -1, -1, -1]);
    // The other order is a different gauge here, so the test tells the conventions apart.
    expect(g.compose(h).equals(hg)).toBe(false);
  });

  test('applying h.compose(g) equals applying g, then h, on random gauges', () => {
    const next = rng(7);
    for (let seed = 0; seed < 20; seed++) {
      const d = 1 + Math.floor(next() * 40);
      const a = jsRandomGauge(d, 2 * seed + 1);
      const b = jsRandomGauge(d, 2 * seed + 2);
      const x = Float32Array.from({ length: d }, () => next() * 2 - 1);
      expect(Array.from(a.compose(b).applyVector(x))).toEqual(Array.from(a.applyVector(b.applyVector(x))));
    }
  });

  test('composition is associative', () => {
    const k = Gauge.random(4, { seed: 9 });
    expect(k.compose(h).compose(g).equals(k.compose(h.compose(g)))).toBe(true);
  });

  test('compose of gauges of different d is SHAPE_MISMATCH', () => {
    expect(thrown(() => h.compose(Gauge.identity(3))).code).toBe('SHAPE_MISMATCH');
  });

  test('inverse follows GAUGE.md §2 and its matrix is the transpose', () => {
    const inv = g.inverse();
    // g⁻¹.perm[perm[i]] = i, g⁻¹.sign[perm[i]] = sign[i] with perm [3,0,2,1], sign [1,1,-1,-1].
    expect(Array.from(inv.perm)).toEqual([1, 3, 2, 0]);
    expect(Array.from(inv.sign)).toEqual([1, -1, -1, 1]);
    expect(gaugeMatrix(inv.perm, inv.sign)).toEqual(transpose(gaugeMatrix(g.perm, g.sign)));
  });

  test('g ∘ g⁻¹ and g⁻¹ ∘ g are the identity, and inverting twice gives g back', () => {
    for (let seed = 0; seed < 10; seed++) {
      const a = Gauge.random(50, { seed });
      const id = Gauge.identity(50);
      expect(a.compose(a.inverse()).equals(id)).toBe(true);
      expect(a.inverse().compose(a).equals(id)).toBe(true);
      expect(a.inverse().inverse().equals(a)).toBe(true);
    }
  });

  test('abs keeps the permutation and sets every sign to +1', () => {
    const a = g.abs();
    expect(Array.from(a.perm)).toEqual(Array.from(g.perm));
    expect(Array.from(a.sign)).toEqual([1, 1, 1, 1]);
    expect(a.group()).toBe('Sd');
  });

  test('equals compares perm and sign', () => {
    const same = Gauge.fromArrays(u32([3, 0, 2, 1]), i8([1, 1, -1, -1]));
    expect(g.equals(same)).toBe(true);
    expect(g.equals(Gauge.fromArrays(u32([3, 0, 2, 1]), i8([1, 1, -1, 1])))).toBe(false);
    expect(g.equals(Gauge.fromArrays(u32([0, 3, 2, 1]), i8([1, 1, -1, -1])))).toBe(false);
    expect(g.equals(g.abs())).toBe(false);
    expect(Gauge.identity(3).equals(Gauge.identity(4))).toBe(false);
  });
});

describe('agreement', () => {
  test('perm and signed accuracy on a hand-made example', () => {
    const truth = Gauge.fromArrays(u32([0, 1, 2, 3]), i8([1, 1, -1, -1]));
    // Same target for coordinates 0 and 1 (2 of 4); of those, only coordinate 0 also has the same sign.
    const estimate = Gauge.fromArrays(u32([0, 1, 3, 2]), i8([1, -1, -1, -1]));
    const a = estimate.agreement(truth);
    expect(a.permAccuracy).toBe(0.5);
    expect(a.signedAccuracy).toBe(0.25);
  });

  test('a gauge agrees fully with itself, and its abs agrees on perm but only on the positive signs', () => {
    const truth = Gauge.random(40, { seed: 4, positiveFraction: 0.75 });
    expect(truth.agreement(truth)).toEqual({ permAccuracy: 1, signedAccuracy: 1 });
    expect(truth.abs().agreement(truth)).toEqual({ permAccuracy: 1, signedAccuracy: 0.75 });
  });

  test('agreement of gauges of different d is SHAPE_MISMATCH', () => {
    expect(thrown(() => Gauge.identity(4).agreement(Gauge.identity(5))).code).toBe('SHAPE_MISMATCH');
  });
});

describe('applyVector and applyAxis', () => {
  const d = 5;
  const g = Gauge.fromArrays(u32([4, 2, 0, 1, 3]), i8([-1, 1, -1, 1, -1]));

  test('applyVector returns a Float32Array equal to the GAUGE.md formula', () => {
    const x = f32([10, 20, 30, 40, 50]);
    const y = g.applyVector(x);
    expect(ArrayBuffer.isView(y)).toBe(true);
    expect(y.length).toBe(d);
    expect(Array.from(y)).toEqual(applyAxisReference(g, x, [d], 0, true));
    expect(Array.from(y)).toEqual([-30, 40, 20, -50, -10]);
    expect(Array.from(x)).toEqual([10, 20, 30, 40, 50]);
  });

  test.each([true, false])('applyAxis on axis 1 of a [3, d] matrix (signed = %p) is the formula and X Gᵀ', (signed) => {
    const x = Float32Array.from({ length: 3 * d }, (_, t) => t + 1);
    const y = g.applyAxis(x, [3, d], 1, signed);
    expect(Array.from(y)).toEqual(applyAxisReference(g, x, [3, d], 1, signed));
    const G = signed ? gaugeMatrix(g.perm, g.sign) : gaugeMatrix(g.perm, Array(d).fill(1));
    expect(rows(y, d)).toEqual(matmul(rows(x, d), transpose(G)));
  });

  test.each([true, false])('applyAxis on axis 0 of a [d, 2] matrix (signed = %p) is the formula and G X', (signed) => {
    const x = Float32Array.from({ length: d * 2 }, (_, t) => (t % 3) - 1.5 * t);
    const y = g.applyAxis(x, [d, 2], 0, signed);
    expect(Array.from(y)).toEqual(applyAxisReference(g, x, [d, 2], 0, signed));
    const G = signed ? gaugeMatrix(g.perm, g.sign) : gaugeMatrix(g.perm, Array(d).fill(1));
    expect(rows(y, 2)).toEqual(matmul(G, rows(x, 2)));
  });

  test('applyAxis is signed by default', () => {
    const x = Float32Array.from({ length: 3 * d }, (_, t) => t + 1);
    expect(Array.from(g.applyAxis(x, [3, d], 1))).toEqual(Array.from(g.applyAxis(x, [3, d], 1, true)));
  });

  test('applyAxis on the middle axis of a rank-3 tensor matches the formula', () => {
    const x = Float32Array.from({ length: 2 * d * 3 }, (_, t) => t * 0.5 - 7);
    expect(Array.from(g.applyAxis(x, [2, d, 3], 1))).toEqual(applyAxisReference(g, x, [2, d, 3], 1, true));
  });

  test('apply(inverse(g), apply(g, x)) == x over random seeds and dims', () => {
    const next = rng(123);
    for (let seed = 0; seed < 60; seed++) {
      const dim = 1 + Math.floor(next() * 200);
      const a = Gauge.random(dim, { seed, positiveFraction: next() });
      const x = Float32Array.from({ length: dim }, () => next() * 10 - 5);
      expect(Array.from(a.inverse().applyVector(a.applyVector(x)))).toEqual(Array.from(x));
      const m = Float32Array.from({ length: 3 * dim }, () => next() - 0.5);
      expect(Array.from(a.inverse().applyAxis(a.applyAxis(m, [3, dim], 1), [3, dim], 1))).toEqual(Array.from(m));
    }
  });

  test('a vector of another length is SHAPE_MISMATCH', () => {
    expect(thrown(() => g.applyVector(new Float32Array(d + 1))).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => g.applyVector(new Float32Array(d - 1))).code).toBe('SHAPE_MISMATCH');
  });

  // `shape` and `axis` cross the boundary as numbers and are validated, not truncated.
  test.each([
    ['a fractional shape entry', [2.7, d], 1],
    ['a fractional axis', [2, d], 1.5],
  ])('applyAxis rejects %s as INVALID_ARGUMENT', (_, shape, axis) => {
    expect(thrown(() => g.applyAxis(new Float32Array(2 * d), shape, axis)).code).toBe('INVALID_ARGUMENT');
  });

  test('applyAxis rejects an axis of another length, a shape that does not fit the data, and a bad axis', () => {
    expect(thrown(() => g.applyAxis(new Float32Array(12), [3, 4], 1)).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => g.applyAxis(new Float32Array(3 * d + 1), [3, d], 1)).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => g.applyAxis(new Float32Array(3 * d), [3, d], 2)).code).toBe('INVALID_ARGUMENT');
  });
});
