/**
 * The mergekit round trip of `merge --emit-mergekit`: mergekit (0.1.5, on torch) merged the hand-off this CLI wrote
 * and `scripts/fixtures/mergekit_roundtrip.py` recorded what it wrote (per tensor: shape, sum, sum of squares, 16
 * entries). Here the same seeded pair is rebuilt with the CLI, merged by our own `merge` (GAUGE.md §4:
 * `(1 - α) θ_A + α g·θ_B` and `θ_A + α (g·θ_B - θ_base)`), and compared with mergekit's numbers; merging B in its
 * own chart, or with the permutation right and the signs dropped (an Sd gauge), must not match them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Gauge } from '../src';
import { readSafetensors, tempDir } from './helpers';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const TINY = path.join(ROOT, 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');
const FIXTURE = path.join(ROOT, 'crates', 'gauge-models', 'tests', 'fixtures', 'mergekit', 'roundtrip.json');

interface Summary {
  shape: number[];
  sum: number;
  sumsq: number;
  samples: number[];
}
interface Recorded {
  mergekit: string;
  weight: number;
  methods: Record<'linear' | 'task_arithmetic', { max_abs_diff_ours: number; tensors: Record<string, Summary> }>;
}
const recorded = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Recorded;

let dir: string;
let cleanup: () => void;

function cli(...args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`gauge-transport ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
}

/** The script's `summary`: shape, f64 sum and sum of squares, entries at `(k * 7919) mod n`. */
function summarize(shape: number[], data: Float32Array): Summary {
  let sum = 0;
  let sumsq = 0;
  for (const v of data) {
    sum += v;
    sumsq += v * v;
  }
  const samples = Array.from({ length: 16 }, (_, k) => data[(k * 7919) % data.length]);
  return { shape, sum, sumsq, samples };
}

/** The tensors whose summary differs from mergekit's beyond f32 rounding (1e-6 an entry). */
function mismatches(outDir: string, expected: Record<string, Summary>): string[] {
  const ours = readSafetensors(path.join(outDir, 'model.safetensors')).tensors;
  expect(Object.keys(ours).sort()).toEqual(Object.keys(expected).sort());
  const bad: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const got = summarize(ours[name].shape, ours[name].data);
    const n = ours[name].data.length;
    const ok =
      JSON.stringify(got.shape) === JSON.stringify(want.shape) &&
      Math.abs(got.sum - want.sum) <= 1e-6 * n &&
      Math.abs(got.sumsq - want.sumsq) <= 1e-5 * want.sumsq + 1e-9 &&
      got.samples.every((v, k) => Math.abs(v - want.samples[k]) <= 1e-6);
    if (!ok) bad.push(name);
  }
  return bad;
}

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build:ts\` first`);
  ({ dir, cleanup } = tempDir('mergekit'));
  fs.mkdirSync(path.join(dir, 'O'));
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(TINY, f), path.join(dir, 'O', f));
  cli('perturb', 'O', '--out', 'A', '--seed', '1');
  cli('perturb', 'O', '--out', 'P', '--seed', '2');
  cli('random-gauge', '--d', '64', '--seed', '31', '--out', 'g.safetensors');
  cli('apply', 'P', '--gauge', 'g.safetensors', '--out', 'B');
  const g = Gauge.read(path.join(dir, 'g.safetensors'));
  g.inverse().write(path.join(dir, 'g_BA.safetensors'));
  Gauge.identity(64).write(path.join(dir, 'identity.safetensors'));
  const inv = g.inverse();
  Gauge.fromArrays(inv.perm, new Int8Array(64).fill(1)).write(path.join(dir, 'unsigned.safetensors'));
}, 120_000);
afterAll(() => cleanup?.());

describe.each([
  ['linear', [] as string[]],
  ['task_arithmetic', ['--base', 'O']],
] as const)('merge %s against mergekit', (method, extra) => {
  const expected = recorded.methods[method].tensors;
  const w = String(recorded.weight);

  test(`our merge of B moved into A's chart equals what mergekit ${recorded.mergekit} wrote from the hand-off`, () => {
    // The script saw the same: mergekit's merge of the emitted B-in-A within f32 rounding of ours.
    expect(recorded.methods[method].max_abs_diff_ours).toBeLessThan(1e-6);
    cli('merge', 'A', 'B', '--gauge', 'g_BA.safetensors', '--weight', w, ...extra, '--out', `ours-${method}`);
    expect(mismatches(path.join(dir, `ours-${method}`), expected)).toEqual([]);
  });

  test("the hand-off's B-in-A, combined as its mergekit.yaml says, gives mergekit's numbers", () => {
    const yaml = require('js-yaml') as { load(s: string): any };
    cli('merge', 'A', 'B', '--gauge', 'g_BA.safetensors', '--weight', w, ...extra, '--emit-mergekit', method, '--out', `mk-${method}`);
    const cfg = yaml.load(fs.readFileSync(path.join(dir, `mk-${method}`, 'mergekit.yaml'), 'utf8'));
    expect(cfg.merge_method).toBe(method);
    const load = (p: string) => readSafetensors(path.join(p, 'model.safetensors')).tensors;
    const models = (cfg.models as { model: string; parameters: { weight: number } }[]).map((m) => ({ t: load(m.model), w: m.parameters.weight }));
    expect(cfg.models[1].model).toBe(path.join(dir, `mk-${method}`, 'B-in-A'));
    const base = cfg.base_model ? load(cfg.base_model) : undefined;
    const merged: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(models[0].t)) {
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) {
        // linear: Σ w_i θ_i; task_arithmetic: θ_base + Σ w_i (θ_i - θ_base).
        const b = base ? base[name].data[i] : 0;
        data[i] = b + models.reduce((acc, m) => acc + m.w * (m.t[name].data[i] - b), 0);
      }
      merged[name] = { shape: t.shape, data };
    }
    const bad = Object.entries(expected).filter(([name, want]) => {
      const got = summarize(merged[name].shape, merged[name].data);
      return got.samples.some((v, k) => Math.abs(v - want.samples[k]) > 1e-6) || Math.abs(got.sumsq - want.sumsq) > 1e-5 * want.sumsq + 1e-9;
    });
    expect(bad.map(([name]) => name)).toEqual([]);
  });

  test('merging B in its own chart, or with its signs dropped (Sd), does not', () => {
    for (const gauge of ['identity', 'unsigned']) {
      cli('merge', 'A', 'B', '--gauge', `${gauge}.safetensors`, '--weight', w, ...extra, '--out', `${gauge}-${method}`);
      const bad = mismatches(path.join(dir, `${gauge}-${method}`), expected);
      // Every tensor has a residual axis; only the norm gains, which take the permutation and not the signs, may agree
      // under the unsigned gauge.
      expect(bad.length).toBeGreaterThan(Object.keys(expected).length / 2);
    }
  });
});
