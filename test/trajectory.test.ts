/**
 * Trajectories on the tiny Llama (seconds): a base, two short fine-tuning runs, every checkpoint exported under its
 * own hidden Bd gauge; the composed gauge recovers the truth, each model runs once, duplicates are the identity,
 * cycles are checked, and bad manifests are refused naming the file and entry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../src/native');
import { Gauge, train } from '../src';
import { CheckpointGraph, ActivationCache, estimateTrajectory, probeDesign, readManifest, Trajectory } from '../src/trajectory';
import { rejection, tempDir } from './helpers';

const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');
const TEXT_A = 'All the rivers run into the sea; yet the sea is not full. '.repeat(40);
const TEXT_B = 'function add(a, b) { return a + b; } const x = add(1, 2); '.repeat(40);

let t: ReturnType<typeof tempDir>;
const truth = new Map<string, Gauge>();
const opts = { tokens: 1024, contextLength: 32, layers: 'all' as const };

/** Writes `src` re-charted by a random Bd gauge to `t.dir/name`, keeping the gauge as the truth. */
async function exportHidden(src: string, name: string, seed: number): Promise<string> {
  const g = Gauge.random(64, { seed, positiveFraction: 0.5 });
  await native.applyGauge(src, g, path.join(t.dir, name));
  truth.set(name, g);
  return name;
}

beforeAll(async () => {
  t = tempDir('trajectory');
  fs.writeFileSync(path.join(t.dir, 'a.txt'), TEXT_A);
  fs.writeFileSync(path.join(t.dir, 'b.txt'), TEXT_B);
  const cfg = { batch: 4, seq: 32, lr: 3e-3, steps: 8, saveEvery: 4 };
  await train(TINY, path.join(t.dir, 'a.txt'), path.join(t.dir, 'runA'), cfg);
  await train(TINY, path.join(t.dir, 'b.txt'), path.join(t.dir, 'runB'), cfg);
  await exportHidden(TINY, 'base', 1);
  await exportHidden(path.join(t.dir, 'runA', 'step-000004'), 'A4', 2);
  await exportHidden(path.join(t.dir, 'runA', 'step-000008'), 'A8', 3);
  await exportHidden(path.join(t.dir, 'runB', 'step-000004'), 'B4', 4);
  await exportHidden(path.join(t.dir, 'runB', 'step-000008'), 'B8', 5);
  fs.cpSync(path.join(t.dir, 'A4'), path.join(t.dir, 'A4-copy'), { recursive: true });
  fs.writeFileSync(
    path.join(t.dir, 'manifest.json'),
    JSON.stringify({ base: 'base', runs: { A: ['A4', 'A4-copy', 'A8'], B: ['B4', 'B8'] }, edges: [['A8', 'B8']] }),
  );
}, 60_000);
afterAll(() => t.cleanup());

/** The true gauge between two exported checkpoints: back through the source's hidden gauge, out through the target's. */
const trueGauge = (from: string, to: string) => truth.get(to.replace('-copy', ''))!.compose(truth.get(from.replace('-copy', ''))!.inverse());

test('composition along the saved checkpoints recovers the hidden gauge; each model runs once', async () => {
  const r = await estimateTrajectory(path.join(t.dir, 'manifest.json'), 'A8', 'B8', opts);
  expect(r.gauge.agreement(trueGauge('A8', 'B8')).signedAccuracy).toBe(1);
  expect(r.forwardRuns).toBe(5); // base, A4, A8, B4, B8: the copy of A4 is recognised by its content
  const dup = r.edges.find((e) => e.to === 'A4-copy')!;
  expect(dup.duplicate).toBe(true);
  // The manifest also has the direct edge A8 -> B8 (the endpoint estimate): composition takes the well-matched
  // chain through the base instead, and the cycle check finds the direct edge inconsistent and suspect.
  expect(r.composition.path).toEqual(['A8', 'A4-copy', 'A4', 'base', 'B4', 'B8']);
  expect(r.cycles).toHaveLength(1);
  const direct = r.edges.find((e) => e.from === 'A8' && e.to === 'B8')!;
  expect(r.cycles[0].signedAgreement).toBeLessThan(0.95);
  expect(r.cycles[0].suspect).toEqual({ from: 'A8', to: 'B8', meanConfidence: direct.meanConfidence });
  // The inconsistent cycle blames the direct edge, which is off the path: the composed gauge stays reliable.
  expect(r.reliability).toEqual({ reliable: true, minConfidence: 0, unreliable: [] });
  expect(r.edges.filter((e) => !e.duplicate).every((e) => e.reliable && e.medianConfidence > 0.05)).toBe(true);
  const viaBase = await estimateTrajectory({ ...readManifest(path.join(t.dir, 'manifest.json')), edges: readManifest(path.join(t.dir, 'manifest.json')).edges.slice(0, 5) }, 'A8', 'B8', opts);
  expect(viaBase.composition.path).toEqual(['A8', 'A4-copy', 'A4', 'base', 'B4', 'B8']);
  expect(viaBase.gauge.agreement(trueGauge('A8', 'B8')).signedAccuracy).toBe(1);
});

test('an inconsistent cycle is reported with the weakest edge as the suspect', async () => {
  const design = await probeDesign(path.join(t.dir, 'base'), opts);
  const g = new CheckpointGraph(new ActivationCache(design));
  for (const id of ['base', 'A4', 'B4']) g.addCheckpoint(id, path.join(t.dir, id));
  await g.addEdge('base', 'A4');
  await g.addEdge('base', 'B4');
  g.addKnownEdge('A4', 'B4', Gauge.random(64, { seed: 77, positiveFraction: 0.5 }), 0.001);
  const [c] = g.cycles();
  expect(c.signedAgreement).toBeLessThan(0.2);
  expect(c.suspect).toEqual({ from: 'A4', to: 'B4', meanConfidence: 0.001 });
});

test('incremental use: edges are estimated in the background as checkpoints arrive', async () => {
  const tr = await Trajectory.create(path.join(t.dir, 'base'), opts);
  const pending = [tr.add(path.join(t.dir, 'A4'), { run: 'A' }), tr.add(path.join(t.dir, 'B4'), { run: 'B' }), tr.add(path.join(t.dir, 'A8'), { run: 'A' })];
  await tr.settled();
  expect((await Promise.all(pending)).map((e) => e.to)).toEqual(['A4', 'B4', 'A8'].map((x) => path.join(t.dir, x)));
  const c = tr.compose(path.join(t.dir, 'A8'), path.join(t.dir, 'B4'));
  expect(c.gauge.agreement(trueGauge('A8', 'B4')).signedAccuracy).toBe(1);
  expect(tr.graph.cache.runs).toBe(4);
});

test('bad manifests and checkpoints are refused naming the file and entry', async () => {
  const m = path.join(t.dir, 'bad.json');
  fs.writeFileSync(m, JSON.stringify({ base: 'base', runs: { A: ['A4', 'nope'] } }));
  let e = await rejection(estimateTrajectory(m, 'A4', 'base', opts));
  expect(e.message).toMatch(/bad\.json.*runs\.A\[1\].*"nope" does not exist/);
  fs.writeFileSync(m, JSON.stringify({ base: 'base', runs: { A: ['A4'] } }));
  e = await rejection(estimateTrajectory(m, 'A4', 'B8', opts));
  expect(e.message).toMatch(/--to.*"B8" is not a checkpoint/);
  const config = JSON.parse(fs.readFileSync(path.join(TINY, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(t.dir, 'narrow.json'), JSON.stringify({ ...config, hidden_size: 32 }));
  await native.initCheckpoint(path.join(t.dir, 'narrow.json'), path.join(t.dir, 'narrow'));
  fs.writeFileSync(m, JSON.stringify({ base: 'base', runs: { A: ['narrow'] } }));
  e = await rejection(estimateTrajectory(m, 'narrow', 'base', opts));
  expect(e.code).toBe('SHAPE_MISMATCH');
  expect(e.message).toMatch(/d = 64.*d = 32/);
});

test('the CLI writes the composed gauge and reports duplicates, cycles and the accuracy against --truth', () => {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
  trueGauge('A8', 'B8').write(path.join(t.dir, 'truth.safetensors'));
  const args = ['trajectory', 'manifest.json', '--from', 'A8', '--to', 'B8', '--tokens', '1024', '--context', '32', '--truth', 'truth.safetensors', '--out', 'g.safetensors'];
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/duplicate: A4 and A4-copy have the same content/);
  expect(r.stdout).toMatch(/cycle .*INCONSISTENT.*most likely at fault: A8 -> B8/);
  expect(r.stdout).toMatch(/truth: perm accuracy 100\.00%, signed accuracy 100\.00%/);
  expect(Gauge.read(path.join(t.dir, 'g.safetensors')).equals(trueGauge('A8', 'B8'))).toBe(true);
  const again = spawnSync(process.execPath, [CLI, ...args], { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
  expect(again.status).not.toBe(0);
  expect(again.stderr).toMatch(/OUTPUT_EXISTS/);
  // A checkpoint may be named by its path as well as by the manifest's entry.
  const byPath = args.map((x) => (x === 'A8' ? path.join(t.dir, 'A8') : x === 'g.safetensors' ? 'g-by-path.safetensors' : x));
  const p = spawnSync(process.execPath, [CLI, ...byPath], { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
  expect(p.status).toBe(0);
  expect(Gauge.read(path.join(t.dir, 'g-by-path.safetensors')).equals(trueGauge('A8', 'B8'))).toBe(true);
});

test('the orchestrator example trains and aligns each saved checkpoint in the background', () => {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const script = path.join(__dirname, '..', 'examples', 'orchestrator.js');
  const r = spawnSync(process.execPath, [script, TINY, path.join(t.dir, 'a.txt'), path.join(t.dir, 'orchestrated'), '8', '4'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/step 4: .*estimating its edge in the background/);
  const last = JSON.parse(r.stdout.trim().split('\n').pop()!);
  expect(last.edges).toBe(2);
  expect(last.identity).toBe(true); // training stays in one chart
});

test('a checkpoint unrelated to its neighbours makes the composed gauge unreliable: named, refused by the CLI unless --force', async () => {
  await native.initCheckpoint('tiny', path.join(t.dir, 'stranger'), { seed: 9 });
  const m = path.join(t.dir, 'stranger.json');
  fs.writeFileSync(m, JSON.stringify({ base: 'base', runs: { A: ['A4', 'stranger'] } }));
  const r = await estimateTrajectory(m, 'stranger', 'base', opts);
  expect(r.reliability.reliable).toBe(false);
  expect(r.reliability.unreliable).toEqual([expect.stringMatching(/^A4 -> stranger \(\d+\.\d% of coordinates matched above their best alternative, against the null's bound of /)]);
  // The stranger's edge is one more draw of its null; the edge to A4 clears its null by far.
  const stranger = r.edges.find((e) => e.to === 'stranger')!;
  expect(stranger.verdict.nullFractions).toHaveLength(8);
  expect(stranger.matchedFraction).toBeLessThanOrEqual(stranger.nullBound);
  expect(Math.abs(stranger.matchedFraction - stranger.verdict.nullMean)).toBeLessThan(0.25);
  const related = r.edges.find((e) => e.to === 'A4')!;
  expect(related.matchedFraction).toBeGreaterThan(related.nullBound + 0.2);
  expect(r.edges.find((e) => e.to === 'A4')!.reliable).toBe(true);
  // A path that avoids the stranger is still reliable.
  expect((await estimateTrajectory(m, 'A4', 'base', opts)).reliability.reliable).toBe(true);
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
  const args = [CLI, 'trajectory', 'stranger.json', '--from', 'stranger', '--to', 'base', '--tokens', '1024', '--context', '32', '--out', 'g-stranger.safetensors'];
  const refused = spawnSync(process.execPath, args, { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/error \[UNRELIABLE\]: the composed gauge stranger -> base is not reliable: A4 -> stranger/);
  expect(fs.existsSync(path.join(t.dir, 'g-stranger.safetensors'))).toBe(false);
  const forced = spawnSync(process.execPath, [...args, '--force', '--json'], { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
  expect(forced.status).toBe(0);
  expect(JSON.parse(forced.stdout).reliable).toBe(false);
  expect(fs.existsSync(path.join(t.dir, 'g-stranger.safetensors'))).toBe(true);
}, 60_000);

test("an edge is align's estimate: the same statistics, pooling, matching and null on the same probe", async () => {
  const { align } = await import('../src');
  const graph = new CheckpointGraph(new ActivationCache(await probeDesign(path.join(t.dir, 'base'), opts), 2));
  graph.addCheckpoint('base', path.join(t.dir, 'base'));
  graph.addCheckpoint('A4', path.join(t.dir, 'A4'));
  const edge = await graph.addEdge('base', 'A4');
  const r = await align(path.join(t.dir, 'base'), path.join(t.dir, 'A4'), { ...opts, batchSize: 8 });
  expect(r.probe.tokens).toBe(graph.cache.design.ids.length);
  expect(edge.gauge.equals(r.gauge)).toBe(true);
  let worst = 0;
  for (let i = 0; i < r.d; i++) worst = Math.max(worst, Math.abs(edge.confidence[i] - r.confidence[i]));
  expect(worst).toBeLessThan(1e-4);
  expect(edge.null!.fractions).toHaveLength(8);
  expect(edge.null!.bound).toBeCloseTo(r.reliability.nullBound, 3);
});
