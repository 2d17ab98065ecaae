import { Gauge } from '../src';

test('the addon loads and a gauge round-trips through its inverse', () => {
  const g = Gauge.random(16, { seed: 1 });
  const x = Float32Array.from({ length: 16 }, (_, i) => i - 3);
  expect(Array.from(g.inverse().applyVector(g.applyVector(x)))).toEqual(Array.from(x));
});
