/**
 * Maximum-weight assignment: both solvers, sync and Promise forms, against exhaustive search over every injection
 * of rows into columns for all shapes n <= m <= 7 with n <= 6, plus the input validation that keeps
 * `pathfinding::kuhn_munkres` (which panics on n > m and loops on NaN) from ever seeing bad input.
 */
import { solveAssignment, type AssignmentResult, type Solver } from '../src';
import { solveAssignmentSync } from '../src/assignment';
import { rejection, rng, thrown } from './helpers';

const SOLVERS: Solver[] = ['jv', 'pathfinding'];

/** The best objective over all injective row -> column maps, in f64 over the f32 scores. */
function bruteForce(s: Float32Array, n: number, m: number): number {
  let best = -Infinity;
  const used = new Array<boolean>(m).fill(false);
  const go = (i: number, acc: number) => {
    if (i === n) {
      best = Math.max(best, acc);
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      go(i + 1, acc + s[i * m + j]);
      used[j] = false;
    }
  };
  go(0, 0);
  return best;
}

/** Checks that `r` is a valid, optimal, certified assignment of `s` whose optimum is `best`. */
function expectOptimal(r: AssignmentResult, s: Float32Array, n: number, m: number, best: number): void {
  expect(ArrayBuffer.isView(r.rowToCol)).toBe(true);
  const cols = Array.from(r.rowToCol);
  expect(cols).toHaveLength(n);
  expect(cols.every((j) => Number.isInteger(j) && j >= 0 && j < m)).toBe(true);
  expect(new Set(cols).size).toBe(n);
  const achieved = cols.reduce((acc, j, i) => acc + s[i * m + j], 0);
  expect(r.objective).toBeCloseTo(achieved, 9);
  expect(r.objective).toBeCloseTo(best, 9);
  // The dual bound bounds every assignment, the optimum included, and is tight at the optimum.
  expect(r.dualBound).toBeGreaterThanOrEqual(best - 1e-9);
  expect(r.dualBound).toBeGreaterThanOrEqual(r.objective - 1e-9);
  expect(r.dualBound - r.objective).toBeLessThan(1e-6);
}

type Kind = 'floats' | 'ties';

/** Scores: uniform floats on [-1, 1), or small integers in {-2..2} with many ties. */
function scores(n: number, m: number, kind: Kind, next: () => number): Float32Array {
  return Float32Array.from({ length: n * m }, () =>
    kind === 'floats' ? 2 * next() - 1 : Math.floor(next() * 5) - 2,
  );
}

const SHAPES: [number, number][] = [];
for (let n = 1; n <= 6; n++) for (let m = n; m <= Math.min(n + 2, 7); m++) SHAPES.push([n, m]);

describe.each(SOLVERS)('solver %s against brute force', (solver) => {
  test.each(SHAPES)('%d x %d: optimal on random floats and small-integer ties, sync', (n, m) => {
    let solved = 0;
    for (const kind of ['floats', 'ties'] as Kind[]) {
      const next = rng(1000 * n + 10 * m + (kind === 'ties' ? 1 : 0));
      for (let trial = 0; trial < 12; trial++) {
        const s = scores(n, m, kind, next);
        const r = solveAssignmentSync(s, n, m, { solver });
        expectOptimal(r, s, n, m, bruteForce(s, n, m));
        if (!r.fastPath) solved++;
      }
    }
    // Past one row, most draws collide on an argmax, so the solver itself (not only the fast path) is checked.
    if (n >= 2) expect(solved).toBeGreaterThan(0);
  });

  test.each(SHAPES)('%d x %d: the Promise form agrees', async (n, m) => {
    const next = rng(7000 + 100 * n + m);
    for (let trial = 0; trial < 4; trial++) {
      const s = scores(n, m, trial % 2 ? 'ties' : 'floats', next);
      const r = await solveAssignment(s, n, m, { solver });
      expectOptimal(r, s, n, m, bruteForce(s, n, m));
    }
  });

  test('an all-equal matrix (every assignment optimal, no distinct argmaxes) is solved', () => {
    const s = new Float32Array(5 * 6).fill(0.25);
    const r = solveAssignmentSync(s, 5, 6, { solver });
    expectOptimal(r, s, 5, 6, 1.25);
    expect(r.fastPath).toBe(false);
  });

  test('scores near the float32 limits give a valid, certified assignment instead of a crash', () => {
    const big = 3.4e38;
    const s = Float32Array.from([big, -big, 1e-30, -big, big, -1]);
    const r = solveAssignmentSync(s, 2, 3, { solver });
    expect(Array.from(r.rowToCol)).toEqual([0, 1]);
    expect(r.objective).toBe(2 * s[0]);
    expect(Number.isFinite(r.objective)).toBe(true);
  });
});

test('jv and pathfinding reach the same objective on larger rectangular problems', async () => {
  const next = rng(42);
  for (const [n, m] of [
    [40, 40],
    [30, 70],
    [64, 65],
  ]) {
    const s = scores(n, m, 'floats', next);
    const a = solveAssignmentSync(s, n, m, { solver: 'jv' });
    const b = await solveAssignment(s, n, m, { solver: 'pathfinding' });
    expect(a.objective).toBeCloseTo(b.objective, 9);
    expect(a.dualBound - a.objective).toBeLessThan(1e-6);
    expect(b.dualBound - b.objective).toBeLessThan(1e-6);
  }
});

test('the default solver is jv and gives the optimum', () => {
  const next = rng(5);
  const s = scores(5, 6, 'floats', next);
  expectOptimal(solveAssignmentSync(s, 5, 6), s, 5, 6, bruteForce(s, 5, 6));
});

describe('fast path', () => {
  test.each(SOLVERS)('distinct row argmaxes take the certified fast path (%s)', (solver) => {
    // Row i's largest entry is in column (2i + 1) mod 5: distinct columns.
    const n = 4;
    const m = 5;
    const next = rng(3);
    const s = Float32Array.from({ length: n * m }, () => next() * 0.5);
    for (let i = 0; i < n; i++) s[i * m + ((2 * i + 1) % m)] = 1 + i;
    const r = solveAssignmentSync(s, n, m, { solver });
    expect(r.fastPath).toBe(true);
    expect(Array.from(r.rowToCol)).toEqual([1, 3, 0, 2]);
    expectOptimal(r, s, n, m, bruteForce(s, n, m));
  });

  test('rows sharing an argmax column do not take the fast path and are still optimal', () => {
    // Every row prefers column 0, so at most one row can have it.
    const s = Float32Array.from([9, 1, 2, 8, 3, 1, 7, 2, 4]);
    const r = solveAssignmentSync(s, 3, 3);
    expect(r.fastPath).toBe(false);
    expectOptimal(r, s, 3, 3, bruteForce(s, 3, 3));
  });
});

describe('input errors', () => {
  const ok = new Float32Array(6);
  const cases: [string, () => [Float32Array, number, number, Solver | undefined], string, RegExp][] = [
    ['no rows', () => [new Float32Array(0), 0, 3, undefined], 'EMPTY_INPUT', /scores/],
    ['an empty 0 x 0 matrix', () => [new Float32Array(0), 0, 0, undefined], 'EMPTY_INPUT', /scores/],
    ['a length that is not n * m', () => [new Float32Array(5), 2, 3, undefined], 'SHAPE_MISMATCH', /scores.*6.*5/],
    ['more rows than columns', () => [ok, 3, 2, undefined], 'ROWS_EXCEED_COLUMNS', /3 rows > 2 columns/],
    ['a NaN', () => [Float32Array.from([0, 1, NaN, 2, 3, 4]), 2, 3, undefined], 'NON_FINITE', /\(0, 2\) is NaN/],
    ['+Infinity', () => [Float32Array.from([0, 1, 2, 3, Infinity, 4]), 2, 3, undefined], 'NON_FINITE', /\(1, 1\) is inf/],
    ['-Infinity', () => [Float32Array.from([-Infinity, 1, 2, 3, 0, 4]), 2, 3, undefined], 'NON_FINITE', /\(0, 0\)/],
    ['a bad solver name', () => [ok, 2, 3, 'hungarian' as Solver], 'INVALID_ARGUMENT', /solver.*hungarian/],
    ['a negative n', () => [ok, -2, 3, undefined], 'INVALID_ARGUMENT', /^n: /],
    ['a fractional n', () => [ok, 1.5, 4, undefined], 'INVALID_ARGUMENT', /^n: /],
    ['a fractional m', () => [ok, 2, 3.5, undefined], 'INVALID_ARGUMENT', /^m: /],
  ];

  describe.each(SOLVERS)('solver %s', (solver) => {
    test.each(cases)('%s throws %s from the sync form', (_, args, code, message) => {
      const [s, n, m, override] = args();
      const err = thrown(() => solveAssignmentSync(s, n, m, { solver: override ?? solver }));
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    });

    test.each(cases)('%s rejects with %s from the Promise form', async (_, args, code, message) => {
      const [s, n, m, override] = args();
      const err = await rejection(solveAssignment(s, n, m, { solver: override ?? solver }));
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    });
  });

  test('the process survives every bad input: a good solve afterwards still works', () => {
    const s = Float32Array.from([1, 0, 0, 1]);
    expect(Array.from(solveAssignmentSync(s, 2, 2, { solver: 'pathfinding' }).rowToCol)).toEqual([0, 1]);
  });
});
