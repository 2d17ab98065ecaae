/**
 * Nothing ordinary JavaScript does to the addon may end the process. Each case runs in its own Node process (the
 * addon at the package root, the wrappers from `dist/`, built by `npm run build:ts`), so that a crash fails one
 * test instead of the test runner: the process must exit 0, having printed what each call settled with.
 *
 * - Async calls own their inputs: a buffer transferred to a Worker, or overwritten, right after the call started
 *   leaves the result unchanged.
 * - Sizes are validated before anything is allocated.
 * - A throwing `onProgress` rejects the Promise.
 * - `generate` takes only sensible counts and can be aborted.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(ROOT, 'crates', 'gauge-models', 'tests', 'fixtures');

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build:ts` before these tests');
  }
});

/**
 * Runs `body` (an async function body with `native`, `lib`, `settled`, `FIXTURES` and `Worker` in scope) in a
 * fresh Node process and returns what it printed. `settled(p)` is `{ ok: value }` or `{ code, message }`.
 */
function inChild(body: string): { status: number | null; signal: NodeJS.Signals | null; out: unknown; stderr: string } {
  const script = `
    const native = require(${JSON.stringify(path.join(ROOT, 'index.js'))});
    const lib = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
    const { Worker } = require('node:worker_threads');
    const FIXTURES = ${JSON.stringify(FIXTURES)};
    const settled = (p) => p.then((ok) => ({ ok }), (e) => ({ code: e && e.code, message: String(e && e.message), same: e }));
    (async () => { ${body} })().then(
      (out) => { process.stdout.write(JSON.stringify(out)); },
      (e) => { console.error(e); process.exit(3); },
    );
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  let out: unknown;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    out = r.stdout;
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr };
}

function expectAlive(r: ReturnType<typeof inChild>): void {
  if (r.status !== 0) throw new Error(`the process ended with status ${r.status}, signal ${r.signal}: ${r.stderr.slice(-2000)}`);
}

describe('async calls own their inputs', () => {
  // A matrix whose solve takes long enough (jv, about 0.1 s) that the buffer changes while it runs.
  const setup = `
    const n = 4096;
    // Copies into buffers of JavaScript's own: the addon's external buffers cannot be transferred.
    const fresh = () => new Float32Array(native.randomUniform(n * n, 11));
    const transfer = (a) => new Promise((resolve) => {
      // The Worker overwrites the buffer it now owns, then exits, freeing it.
      const w = new Worker('const { parentPort } = require("node:worker_threads"); parentPort.once("message", (b) => { new Float32Array(b).fill(NaN); process.exit(0); });', { eval: true });
      w.postMessage(a.buffer, [a.buffer]);
      w.on('exit', resolve);
    });
    const expected = native.solveAssignmentSync(fresh(), n, n);
  `;

  test('solveAssignment: a buffer transferred to a Worker or overwritten mid-solve gives the same assignment', () => {
    const r = inChild(`${setup}
      const moved = fresh();
      const p1 = native.solveAssignment(moved, n, n);
      await transfer(moved);
      const written = fresh();
      const p2 = native.solveAssignment(written, n, n);
      written.fill(NaN);
      const out = [];
      for (const p of [p1, p2]) {
        const s = await settled(p);
        out.push({ code: s.code, same: !!s.ok && s.ok.objective === expected.objective && Array.from(s.ok.rowToCol).join() === Array.from(expected.rowToCol).join() });
      }
      return { detached: moved.length, out };
    `);
    expectAlive(r);
    expect(r.out).toEqual({ detached: 0, out: [{ same: true }, { same: true }] });
  });

  test('matchGauge and correlation: transferred or overwritten inputs do not change the result', () => {
    const r = inChild(`${setup}
      const want = native.matchGaugeSync(fresh(), n).gauge;
      const c1 = fresh();
      const m1 = native.matchGauge(c1, n);
      await transfer(c1);
      const c2 = fresh();
      const m2 = native.matchGauge(c2, n);
      c2.fill(NaN);
      const out = [];
      for (const p of [m1, m2]) {
        const s = await settled(p);
        out.push({ code: s.code, same: !!s.ok && s.ok.gauge.equals(want) });
      }
      out.push({ detached: c1.length === 0 });
      const rows = 32768, d = 256;
      const x = () => new Float32Array(native.randomNormal(rows * d, 1));
      const y = () => new Float32Array(native.randomNormal(rows * d, 2));
      const corr = Array.from(await native.correlation(x(), y(), rows, d, d));
      const x1 = x(), y1 = y();
      const p3 = native.correlation(x1, y1, rows, d, d);
      await transfer(x1);
      y1.fill(NaN);
      const s = await settled(p3);
      out.push({ code: s.code, same: !!s.ok && Array.from(s.ok).every((v, k) => v === corr[k]) });
      out.push({ detached: x1.length === 0 });
      return out;
    `);
    expectAlive(r);
    expect(r.out).toEqual([{ same: true }, { same: true }, { detached: true }, { same: true }, { detached: true }]);
  });
});

describe('sizes are validated before anything is allocated', () => {
  test('correlation with sizes that disagree with the data, or out of range, rejects with a code', () => {
    const r = inChild(`
      const x = new Float32Array(8), y = new Float32Array(8);
      const cases = [[2, 4, 2 ** 31], [2, 2 ** 31, 4], [2 ** 31, 4, 4], [2, 4, -1], [2, 4, 1.5], [2, 4, 0], [2, 4, 4], [2, 4, 2 ** 32]];
      const out = [];
      for (const [rows, dx, dy] of cases) out.push((await settled(native.correlation(x, y, rows, dx, dy))).code);
      return out;
    `);
    expectAlive(r);
    expect(r.out).toEqual([
      'SHAPE_MISMATCH', 'SHAPE_MISMATCH', 'SHAPE_MISMATCH', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT',
      // 2 rows of 4 and 4 values: the data say dy = 4 is right; 2 samples are enough for a correlation.
      null, 'INVALID_ARGUMENT',
    ]);
  });

  test('applyAxis with a shape whose product overflows, and huge sample counts, throw coded errors', () => {
    const r = inChild(`
      const code = (f) => { try { f(); return 'returned'; } catch (e) { return e.code; } };
      const g = native.Gauge.identity(4);
      return [
        // 2147418113 · 2147549185 = 2^62 + 1: the product 4 · (2^62 + 1) wraps to 4, the data's length.
        code(() => g.applyAxis(new Float32Array(4), [2147418113, 4, 2147549185], 1)),
        code(() => g.applyAxis(new Float32Array(4), [2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 4], 3)),
        code(() => native.randomNormal(2 ** 30 + 1)),
        code(() => native.randomUniform(2 ** 32 - 1)),
        code(() => native.randomUniform(-1)),
        code(() => native.Gauge.random(2 ** 32 - 1)),
        code(() => native.Gauge.identity(2 ** 24 + 1)),
      ];
    `);
    expectAlive(r);
    expect(r.out).toEqual([
      'SHAPE_MISMATCH', 'SHAPE_MISMATCH', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT',
      'INVALID_ARGUMENT', 'INVALID_ARGUMENT',
    ]);
  });
});

describe('a throwing onProgress rejects the Promise', () => {
  test('collectPairStats, align and train reject; the process lives on and still computes', () => {
    const r = inChild(`
      const TINY = FIXTURES + '/tiny';
      const QWEN = FIXTURES + '/tiny-qwen2';
      const os = require('node:os'), fs = require('node:fs'), path = require('node:path');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-nocrash-'));
      const boom = new Error('boom from onProgress');
      const out = {};
      try {
        const a = await native.Model.load(QWEN);
        const ids = Uint32Array.from({ length: 1024 }, (_, k) => (k * 7) % 200);
        const s = await settled(native.collectPairStats(a, a, ids, { seq: 64, batch: 4, sites: ['h_1'] }, () => { throw boom; }));
        out.native = { code: s.code, message: s.message };
        const al = await settled(lib.align(QWEN, QWEN, { tokens: 1024, contextLength: 64, onProgress: () => { throw boom; } }));
        out.align = { same: al.same === boom };
        let calls = 0;
        const tr = await settled(lib.train(TINY, Uint32Array.from({ length: 4096 }, (_, k) => k % 256), path.join(dir, 'run'), {
          steps: 20, batch: 2, seq: 32, onProgress: (p) => { calls++; if (p.step === 2) throw boom; },
        }));
        out.train = { same: tr.same === boom, stoppedEarly: calls < 20 };
        // A callback that throws a non-Error is reported too.
        const raw = await settled(native.collectPairStats(a, a, ids, { seq: 64, batch: 4, sites: ['h_1'] }, () => { throw 'plain string'; }));
        out.raw = { code: raw.code, message: raw.message };
        out.after = native.solveAssignmentSync(new Float32Array([1, 0, 0, 1]), 2, 2).objective;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      return out;
    `);
    expectAlive(r);
    expect(r.out).toEqual({
      native: { code: 'CALLBACK_THREW', message: 'onProgress threw: boom from onProgress' },
      align: { same: true },
      train: { same: true, stoppedEarly: true },
      raw: { code: 'CALLBACK_THREW', message: 'onProgress threw: plain string' },
      after: 2,
    });
  });
});

describe('generate', () => {
  test('negative, fractional, huge and too-long counts are coded errors; a signal stops it', () => {
    const r = inChild(`
      const m = await native.Model.load(FIXTURES + '/tiny');
      const gpt2 = await native.Model.load(FIXTURES + '/tiny-gpt2');
      const ids = Uint32Array.from([5, 6, 7]);
      const code = async (f) => { try { await f(); return 'resolved'; } catch (e) { return e.code; } };
      const out = [];
      for (const k of [-1, 1.5, 2 ** 32 - 1, 2 ** 20 + 1, NaN]) out.push(await code(() => m.generate(ids, k)));
      out.push(await code(() => gpt2.generate(ids, gpt2.maxPositions)));
      out.push((await m.generate(ids, 2)).length);
      // 2^20 tokens would take hours; the signal ends it within a token.
      const ac = new AbortController();
      const t0 = Date.now();
      setTimeout(() => ac.abort(), 50);
      out.push(await code(() => m.generate(ids, 2 ** 20, ac.signal)));
      out.push(Date.now() - t0 < 5000);
      return out;
    `);
    expectAlive(r);
    expect(r.out).toEqual([
      'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT',
      'INVALID_ARGUMENT', 2, 'ABORTED', true,
    ]);
  });
});
