/**
 * Errors from the addon are `GaugeTransportError`s with their stable code, thrown synchronously or as a rejection,
 * from functions, static methods and instance methods alike.
 */
import { Gauge, GaugeTransportError, matchGauge, solveAssignment } from '../src';
import native = require('../src/native');
import { rejection, thrown } from './helpers';

test('synchronous errors of functions and static methods', () => {
  const e = thrown(() => Gauge.fromArrays(Uint32Array.from([0, 0]), Int8Array.from([1, 1])));
  expect(e).toBeInstanceOf(GaugeTransportError);
  expect(e.code).toBe('GAUGE_NOT_PERMUTATION');
  const f = thrown(() => native.readNpyMatrix('/nonexistent/x.npy'));
  expect(f).toBeInstanceOf(GaugeTransportError);
  expect(f.code).toBe('IO');
});

test('errors of instance methods', () => {
  const g = Gauge.random(4, { seed: 1 });
  const e = thrown(() => g.applyVector(new Float32Array(3)));
  expect(e).toBeInstanceOf(GaugeTransportError);
  expect(e.code).toBe('SHAPE_MISMATCH');
  expect(g).toBeInstanceOf(native.Gauge);
});

test('rejections of async calls', async () => {
  const e = await rejection(solveAssignment(new Float32Array(6), 3, 2));
  expect(e).toBeInstanceOf(GaugeTransportError);
  expect(e.code).toBe('ROWS_EXCEED_COLUMNS');
  const m = await rejection(matchGauge(new Float32Array([1, NaN, 0, 1]), 2));
  expect(m).toBeInstanceOf(GaugeTransportError);
  expect(m.code).toBe('NON_FINITE');
});
