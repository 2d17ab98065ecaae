import native = require('../src/native');
import { solveAssignmentSync } from '../src/assignment';

// The default solver settles ordinary matrices on its sparse candidate graph; the dense solver and the
// pathfinding reference must agree with it exactly.
test.each([
  ['uniform 300 x 300', 300, 300],
  ['uniform 200 x 260 (rectangular)', 200, 260],
])('%s: sparse, dense and reference paths agree', (_, n, m) => {
  const s = native.randomUniform(n * m, 17);
  const sparse = solveAssignmentSync(s, n, m, { solver: 'jv' });
  const dense = solveAssignmentSync(s, n, m, { solver: 'jv-dense' });
  const reference = solveAssignmentSync(s, n, m, { solver: 'pathfinding' });
  expect(sparse.path).toBe('sparse');
  expect(dense.path).toBe('dense');
  expect(reference.path).toBe('pathfinding');
  expect(sparse.objective).toBeCloseTo(reference.objective, 9);
  expect(dense.objective).toBeCloseTo(reference.objective, 9);
  expect(sparse.dualBound - sparse.objective).toBeLessThan(1e-9);
});

test('distinct row argmaxes take the certificate path', () => {
  const n = 64;
  const s = native.randomUniform(n * n, 5);
  for (let i = 0; i < n; i++) s[i * n + ((i * 7) % n)] = 2;
  const r = solveAssignmentSync(s, n, n);
  expect(r.path).toBe('certificate');
  expect(r.fastPath).toBe(true);
  expect(Array.from(r.rowToCol)).toEqual(Array.from({ length: n }, (_, i) => (i * 7) % n));
});
