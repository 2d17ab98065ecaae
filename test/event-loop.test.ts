/**
 * The Promise forms run off the event loop and honour an AbortSignal. The large solve is a 4096 x 4096 uniform
 * matrix with the jv solver (about a second on one core of a 2-core machine; row argmaxes collide, so no fast
 * path); the assertions count timer ticks and check outcomes, never durations, except the latency of an abort
 * (every solver polls its flag, so a 200 ms bound holds on a loaded machine).
 */
import { matchGauge, solveAssignment } from '../src';
import native = require('../src/native');
import { rejection } from './helpers';

const N = 4096;
let big: Float32Array;
let small: Float32Array;

beforeAll(() => {
  big = native.randomUniform(N * N, 17);
  small = native.randomUniform(256 * 256, 18);
});

/** Counts 10 ms interval ticks while `p` is pending. */
async function ticksWhile<T>(p: Promise<T>): Promise<{ ticks: number; value: T }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  try {
    const value = await p;
    return { ticks, value };
  } finally {
    clearInterval(timer);
  }
}

test('timers keep firing while solveAssignment solves a 4096 x 4096 matrix', async () => {
  const { ticks, value } = await ticksWhile(solveAssignment(big, N, N));
  expect(value.fastPath).toBe(false);
  expect(new Set(Array.from(value.rowToCol)).size).toBe(N);
  expect(value.dualBound - value.objective).toBeLessThan(1e-6 * N);
  expect(ticks).toBeGreaterThanOrEqual(5);
});

test('timers keep firing while matchGauge matches a 4096 x 4096 matrix', async () => {
  const { ticks, value } = await ticksWhile(matchGauge(big, N));
  expect(value.gauge.d).toBe(N);
  expect(ticks).toBeGreaterThanOrEqual(5);
});

test('aborting 30 ms into a long solve rejects with ABORTED', async () => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 30);
  try {
    const err = await rejection(solveAssignment(big, N, N, { signal: controller.signal }));
    expect(controller.signal.aborted).toBe(true);
    expect(err.code).toBe('ABORTED');
  } finally {
    clearTimeout(timer);
  }
});

test('aborting 30 ms into a long matchGauge rejects with ABORTED', async () => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 30);
  try {
    const err = await rejection(matchGauge(big, N, { signal: controller.signal }));
    expect(err.code).toBe('ABORTED');
  } finally {
    clearTimeout(timer);
  }
});

test.each(['pathfinding', 'jv', 'jv-dense'] as const)(
  'aborting a 4096 x 4096 %s solve 20 ms in rejects with ABORTED within 200 ms',
  async (solver) => {
    const controller = new AbortController();
    let abortedAt = 0;
    const timer = setTimeout(() => {
      abortedAt = performance.now();
      controller.abort();
    }, 20);
    try {
      const err = await rejection(solveAssignment(big, N, N, { solver, signal: controller.signal }));
      // kuhn_munkres alone needs seconds here: the solver must have stopped, not finished.
      expect(performance.now() - abortedAt).toBeLessThan(200);
      expect(err.code).toBe('ABORTED');
    } finally {
      clearTimeout(timer);
    }
  },
);

/** Blocks the event loop for `ms` (the thread pool keeps working). */
function blockFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test.each([
  ['solveAssignment', (signal: AbortSignal) => native.solveAssignment(small, 256, 256, {}, signal)],
  ['matchGauge', (signal: AbortSignal) => native.matchGauge(small, 256, {}, signal)],
])('%s aborted after its work finished but before it settled rejects with ABORTED', async (_, call) => {
  const controller = new AbortController();
  const p = call(controller.signal);
  // The 256 x 256 solve ends on the thread pool while the event loop is blocked; its result waits to be
  // delivered when the abort comes.
  blockFor(300);
  controller.abort();
  expect((await rejection(p)).code).toBe('ABORTED');
});

test('one signal reused across calls aborts the later ones too', async () => {
  const controller = new AbortController();
  await native.solveAssignment(small, 256, 256, {}, controller.signal);
  const p = native.solveAssignment(big, N, N, { solver: 'jv-dense' }, controller.signal);
  setTimeout(() => controller.abort(), 20);
  expect((await rejection(p)).code).toBe('ABORTED');
});

test('the addon still solves after an aborted call', async () => {
  const s = Float32Array.from([0, 1, 1, 0]);
  expect(Array.from((await solveAssignment(s, 2, 2)).rowToCol)).toEqual([1, 0]);
});

/** Which settles first: `p`, or a macrotask queued now (settling first means no work was queued). */
async function settlesBeforeNextMacrotask(p: Promise<unknown>): Promise<boolean> {
  const later = new Promise<'later'>((resolve) => setImmediate(() => resolve('later')));
  const first = await Promise.race([p.then(() => 'settled', () => 'settled'), later]);
  return first === 'settled';
}

test.each([
  ['solveAssignment', (signal: AbortSignal) => solveAssignment(big, N, N, { signal })],
  ['matchGauge', (signal: AbortSignal) => matchGauge(big, N, { signal })],
])('%s with an already-aborted signal rejects with ABORTED at once', async (_, call) => {
  const controller = new AbortController();
  controller.abort();
  const p = call(controller.signal);
  expect(await settlesBeforeNextMacrotask(p)).toBe(true);
  expect((await rejection(p)).code).toBe('ABORTED');
});

// The addon's own export also sees a signal that aborted before the call, not only the TypeScript wrappers.
test('the native solveAssignment with an already-aborted signal rejects with ABORTED', async () => {
  const controller = new AbortController();
  controller.abort();
  const s = native.randomUniform(256 * 256, 3);
  expect((await rejection(native.solveAssignment(s, 256, 256, {}, controller.signal))).code).toBe('ABORTED');
});
