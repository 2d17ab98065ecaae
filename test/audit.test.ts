/**
 * Audits of index-level claims and canonical charts on the tiny fixture (seconds): a claim read off the model holds
 * in its own chart, fails in a re-charted copy and in random charts as stated, and holds there once moved by the
 * gauge (the verdict names it); the same claim in the canonical chart holds as stated everywhere; a claim with a
 * wrong sign fails; malformed claims files are refused naming the entry.
 */
import * as path from 'node:path';
import native = require('../src/native');
import { audit, canonicalGauge, Gauge, loadModel, steeringVector, topK, type ClaimsFile } from '../src';
import { holds, moveClaim, parseClaims } from '../src/audit';
import { tempDir, thrown } from './helpers';

const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');
const BEHAVIOURS = {
  style: {
    positive: ['const x = f(a, b);', 'if (n > 0) { return n * 2; }', 'let s = list.map((v) => v + 1);'],
    negative: ['The river runs past the old mill.', 'She walked home after the meeting.', 'Many people read in the evening.'],
  },
};
const bytes = (s: string) => Uint32Array.from(Buffer.from(s, 'utf8'));

let t: ReturnType<typeof tempDir>;
let moved: string;
let g: Gauge;
let claims: ClaimsFile;
beforeAll(async () => {
  t = tempDir('audit');
  g = Gauge.random(64, { seed: 21, positiveFraction: 0.5 });
  moved = path.join(t.dir, 'moved');
  await native.applyGauge(TINY, g, moved);
  const v = await steeringVector(await loadModel(TINY), BEHAVIOURS.style.positive.map(bytes), BEHAVIOURS.style.negative.map(bytes), 'h_1');
  const canon = (await canonicalGauge(TINY)).gauge.applyVector(v);
  const top = topK(v, 4);
  const topC = topK(canon, 4);
  const sgn = (x: number) => (x < 0 ? -1 : 1) as 1 | -1;
  claims = {
    behaviours: BEHAVIOURS,
    claims: [
      { id: 'own', kind: 'coordinates', behaviour: 'style', site: 'h_1', coordinates: top.map((e) => e.index), signs: top.map((e) => sgn(e.score!)), within: 4 },
      { id: 'own-list', kind: 'top-k', behaviour: 'style', site: 'h_1', entries: top.map((e) => ({ index: e.index, sign: sgn(e.score!) })) },
      { id: 'canonical', kind: 'top-k', behaviour: 'style', site: 'h_1', chart: 'canonical', entries: topC.map((e) => ({ index: e.index, sign: sgn(e.score!) })) },
      { id: 'wrong-sign', kind: 'coordinates', behaviour: 'style', site: 'h_1', coordinates: [top[0].index], signs: [(-sgn(top[0].score!)) as 1 | -1], within: 4 },
    ],
  };
});
afterAll(() => t.cleanup());

test('every re-charted copy computes the same canonical chart', async () => {
  const a = await canonicalGauge(TINY);
  const b = await canonicalGauge(moved);
  expect(b.gauge.compose(g).equals(a.gauge)).toBe(true);
  expect(a.ties).toBe(0);
  expect(a.signTensor).toBe('model.embed_tokens.weight');
});

test('claims hold in their own chart, only relative to the gauge elsewhere, and in the canonical chart as stated', async () => {
  const r = await audit(claims, [TINY, moved], { sweep: 3, alignTokens: 2048 });
  const by = Object.fromEntries(r.results.map((c) => [c.id, c]));
  for (const id of ['own', 'own-list']) {
    const c = by[id];
    expect(c.verdict).toBe('holds relative to an explicit gauge');
    expect(c.models.map((m) => m.holds)).toEqual([true, false]);
    expect(c.transported.find((x) => x.gauge === 'Bd')!.holds).toBe(true);
    expect(c.sweep.Bd.asStated).toBe(0);
    expect(c.sweep.Bd.transported).toBe(1);
    expect(c.sweep.Sd.transported).toBe(1);
    expect(c.reason).toMatch(/holds in the chart of .*tiny/);
  }
  // The permutation-only estimate moves the indices right and the flipped signs wrong.
  expect(by.own.transported.find((x) => x.gauge === 'Sd')!.holds).toBe(false);
  expect(by.canonical.verdict).toBe('holds as stated');
  expect(by.canonical.models.every((m) => m.holds)).toBe(true);
  expect(by['wrong-sign'].verdict).toBe('fails');
  expect(r.canonical[0].sweepStable).toBe(1);
  // The re-charted copies were run too: their scores are g·score.
  expect(r.sweepCheck.Bd).toBeLessThan(1e-4);
});

test('holds and moveClaim follow the definitions', () => {
  const score = Float32Array.from([0.1, -3, 2, 0, -0.5]);
  const c = { id: 'x', kind: 'coordinates' as const, behaviour: 'b', site: 'h_1' as const, coordinates: [1, 2], signs: [-1, 1] as (1 | -1)[] };
  expect(holds(c, score)).toEqual({ holds: true, overlap: 1 });
  expect(holds({ ...c, signs: [1, 1] }, score)).toEqual({ holds: false, overlap: 0.5 });
  expect(holds({ ...c, coordinates: [4, 2], within: 2 }, score).holds).toBe(false);
  const h = Gauge.random(5, { seed: 2, positiveFraction: 0.4 });
  const movedScore = h.applyVector(score);
  expect(holds(moveClaim(c, h), movedScore)).toEqual({ holds: true, overlap: 1 });
});

test('malformed claims are refused naming the entry', () => {
  const base = { behaviours: BEHAVIOURS, claims: [{ id: 'a', kind: 'top-k', behaviour: 'style', site: 'h_1', entries: [{ index: 1, sign: 1 }] }] };
  const bad = (patch: Record<string, unknown>) => thrown(() => parseClaims({ ...base, claims: [{ ...base.claims[0], ...patch }] })).message;
  expect(bad({ behaviour: 'tone' })).toMatch(/claims\[0\]\.behaviour: "tone" is not one of the behaviours \(style\)/);
  expect(bad({ entries: [{ index: 1, sign: 0 }] })).toMatch(/entries\[0\]\.sign: is not 1 or -1/);
  expect(bad({ site: 'mlp.hook_post' })).toMatch(/is not a residual site/);
  expect(bad({ kind: 'features' })).toMatch(/kind: "features" is not/);
  expect(thrown(() => parseClaims({ ...base, claims: [base.claims[0], base.claims[0]] })).message).toMatch(/"a" is used twice/);
  expect(thrown(() => parseClaims({ claims: [] })).message).toMatch(/behaviours/);
});

test('claims on coordinates beyond d, and checkpoints of different widths, are refused', async () => {
  const far = { behaviours: BEHAVIOURS, claims: [{ id: 'far', kind: 'top-k' as const, behaviour: 'style', site: 'h_1' as const, entries: [{ index: 64, sign: 1 as const }] }] };
  await expect(audit(far, [TINY], { sweep: 1 })).rejects.toThrow(/claim far.*coordinate 64.*d is 64/);
});
