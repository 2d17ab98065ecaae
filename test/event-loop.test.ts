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

/** The longest gap between 1 ms ticks while `p` is pending, in ms. */
async function longestGap<T>(p: Promise<T>): Promise<{ gap: number; value: T }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  try {
    const value = await p;
    return { gap: Math.max(gap, performance.now() - last), value };
  } finally {
    clearInterval(timer);
  }
}

test('align at d = 4096 keeps the event loop free: the whole estimate runs in one native call', async () => {
  const { tempDir } = await import('./helpers');
  const { dir, cleanup } = tempDir('event-loop-align');
  try {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const config = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: N,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      vocab_size: 128,
      tie_word_embeddings: true,
    };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    await native.initCheckpoint(path.join(dir, 'config.json'), path.join(dir, 'A'), { seed: 3 });
    const stats = await native.weightPairStats(path.join(dir, 'A'), path.join(dir, 'A'));
    const { align } = await import('../src');
    const { gap, value } = await longestGap(align(path.join(dir, 'A'), path.join(dir, 'A'), { stats }));
    expect(value.d).toBe(N);
    expect(value.gauge.agreement(native.Gauge.identity(N)).signedAccuracy).toBe(1);
    // The target is 20 ms; a loaded test machine can delay a timer on its own, hence the margin.
    expect(gap).toBeLessThan(100);
  } finally {
    cleanup();
  }
}, 120_000);
