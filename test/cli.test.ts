/**
 * The compiled command line (`dist/cli.js`, built by `npm run build:ts`), run as a child process in a temporary
 * working directory: exit codes (0 ok, 1 error, 2 usage), `error [CODE]` on stderr, the files it writes, and JSON
 * output. `.npy` inputs are written byte by byte (format 1.0) so the reader is tested against the format.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Gauge } from '../src';
import { floatBytes, npyBytes, plantedCorrelation, readSafetensors, tempDir } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

let dir: string;
let cleanup: () => void;

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build:ts\` before the CLI tests`);
});
beforeEach(() => ({ dir, cleanup } = tempDir('cli')));
afterEach(() => cleanup());

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('random-gauge', () => {
  test('writes a gauge file equal to Gauge.random with the same d and seed', () => {
    fs.mkdirSync(path.join(dir, 'tmp'));
    const r = cli('random-gauge', '--d', '64', '--seed', '3', '--out', 'tmp/g.safetensors');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const g = Gauge.read(path.join(dir, 'tmp', 'g.safetensors'));
    const expected = Gauge.random(64, { seed: 3 });
    expect(Array.from(g.perm)).toEqual(Array.from(expected.perm));
    expect(Array.from(g.sign)).toEqual(Array.from(expected.sign));
  });

  test('a second run without --overwrite exits 1 with OUTPUT_EXISTS and leaves the file unchanged', () => {
    fs.mkdirSync(path.join(dir, 'tmp'));
    const out = path.join(dir, 'tmp', 'g.safetensors');
    expect(cli('random-gauge', '--d', '64', '--seed', '3', '--out', 'tmp/g.safetensors').status).toBe(0);
    const before = fs.readFileSync(out);
    const r = cli('random-gauge', '--d', '64', '--seed', '4', '--out', 'tmp/g.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[OUTPUT_EXISTS\]: .*tmp\/g\.safetensors/);
    expect(fs.readFileSync(out).equals(before)).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual(['g.safetensors']);
  });

  test('--overwrite replaces the file', () => {
    expect(cli('random-gauge', '--d', '16', '--seed', '3', '--out', 'g.safetensors').status).toBe(0);
    const r = cli('random-gauge', '--d', '16', '--seed', '4', '--out', 'g.safetensors', '--overwrite');
    expect(r.status).toBe(0);
    expect(Gauge.read(path.join(dir, 'g.safetensors')).equals(Gauge.random(16, { seed: 4 }))).toBe(true);
  });

  test.each([
    [['--d', '0', '--out', 'g.safetensors']],
    [['--d', '8.5', '--out', 'g.safetensors']],
    [['--d', 'eight', '--out', 'g.safetensors']],
    [['--d', '8']],
    [['--d', '8', '--out', 'g.safetensors', '--group', 'Od']],
    // Beyond the widest gauge (2^24): refused before anything is allocated, not gigabytes later.
    [['--d', '16777217', '--out', 'g.safetensors']],
    [['--d', '4294967295', '--out', 'g.safetensors']],
  ])('bad arguments %j exit 2 with INVALID_ARGUMENT and write nothing', (args) => {
    const r = cli('random-gauge', ...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('match', () => {
  const d = 32;
  const truth = Gauge.random(d, { seed: 12, positiveFraction: 0.4 });
  const c = plantedCorrelation(truth.perm, truth.sign, 0.05, 9);

  test.each([
    ['float64', '<f8', 8 as const],
    ['float32', '<f4', 4 as const],
  ])('recovers a planted gauge from a %s .npy and prints JSON with the objective', (_, descr, width) => {
    fs.writeFileSync(path.join(dir, 'C.npy'), npyBytes(descr, [d, d], floatBytes(c, width)));
    const r = cli('match', 'C.npy', '--out', 'g.safetensors', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const g = Gauge.read(path.join(dir, 'g.safetensors'));
    expect(g.equals(truth)).toBe(true);
    const summary = JSON.parse(r.stdout);
    let expected = 0;
    for (let i = 0; i < d; i++) expected += Math.abs(c[i * d + truth.perm[i]]);
    expect(summary.objective).toBeCloseTo(expected, 6);
    expect(summary.dualBound).toBeCloseTo(expected, 6);
    expect(summary).toMatchObject({
      out: 'g.safetensors',
      d,
      method: 'marginalized',
      solver: 'jv',
      group: 'Bd',
      nonPositiveConfidence: 0,
      negativeSigns: Array.from(truth.sign).filter((s) => s < 0).length,
    });
    expect(Gauge.readMetadata(path.join(dir, 'g.safetensors')).method).toBe('marginalized');
  });

  test('--method permutation writes |g|', () => {
    fs.writeFileSync(path.join(dir, 'C.npy'), npyBytes('<f4', [d, d], floatBytes(c, 4)));
    const r = cli('match', 'C.npy', '--out', 'g.safetensors', '--method', 'permutation');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('wrote g.safetensors');
    expect(Gauge.read(path.join(dir, 'g.safetensors')).equals(truth.abs())).toBe(true);
  });

  test('a float16 .npy exits 1 with NPY_DTYPE, naming the file', () => {
    fs.writeFileSync(path.join(dir, 'C.npy'), npyBytes('<f2', [2, 2], new Uint8Array(8)));
    const r = cli('match', 'C.npy', '--out', 'g.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[NPY_DTYPE\]: C\.npy/);
    expect(fs.existsSync(path.join(dir, 'g.safetensors'))).toBe(false);
  });

  test('a non-square matrix exits 1 with SHAPE_MISMATCH', () => {
    fs.writeFileSync(path.join(dir, 'C.npy'), npyBytes('<f4', [3, 4], floatBytes(new Array(12).fill(0.1), 4)));
    const r = cli('match', 'C.npy', '--out', 'g.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[SHAPE_MISMATCH\]: C\.npy.*3 x 4/);
    expect(fs.existsSync(path.join(dir, 'g.safetensors'))).toBe(false);
  });

  test('a truncated .npy exits 1 with NPY_FORMAT', () => {
    const bytes = npyBytes('<f4', [d, d], floatBytes(c, 4));
    fs.writeFileSync(path.join(dir, 'C.npy'), bytes.subarray(0, bytes.length - 4));
    const r = cli('match', 'C.npy', '--out', 'g.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[NPY_FORMAT\]: C\.npy/);
  });

  test('a missing file exits 1 with IO, naming it', () => {
    const r = cli('match', 'absent.npy', '--out', 'g.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[IO\]: absent\.npy/);
  });

  test('an unknown flag exits 2 with INVALID_ARGUMENT', () => {
    const r = cli('match', 'C.npy', '--out', 'g.safetensors', '--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: .*--bogus/);
  });

  test('a missing --out or an unknown --method exits 2 with INVALID_ARGUMENT', () => {
    fs.writeFileSync(path.join(dir, 'C.npy'), npyBytes('<f4', [d, d], floatBytes(c, 4)));
    for (const args of [['C.npy'], ['C.npy', '--out', 'g.safetensors', '--method', 'absolute']]) {
      const r = cli('match', ...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]/);
    }
    expect(fs.existsSync(path.join(dir, 'g.safetensors'))).toBe(false);
  });
});

describe('experiment ceiling', () => {
  test('prints JSON showing the ceiling of signed matching and writes <results-dir>/ceiling.json', () => {
    const results = path.join(dir, 'results');
    const r = cli('experiment', 'ceiling', '--d', '64', '--samples', '1024', '--results-dir', results, '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.name).toBe('ceiling');
    expect(out.params).toMatchObject({ d: 64, samples: 1024 });
    expect(out.rows.map((row: { positiveFraction: number }) => row.positiveFraction)).toEqual([0.25, 0.5, 0.75, 0.9, 1]);
    for (const row of out.rows) {
      const p = row.positiveFraction;
      expect(row.methods.marginalized.signedAccuracy).toBe(1);
      expect(row.methods.marginalized.permAccuracy).toBe(1);
      expect(Math.abs(row.methods.signed.permAccuracy - p)).toBeLessThanOrEqual(0.1);
      expect(row.methods.permutation.permAccuracy).toBe(1);
      expect(row.methods.permutation.signedAccuracy).toBe(Math.round(p * 64) / 64);
    }
    const file = path.join(results, 'ceiling.json');
    expect(fs.existsSync(file)).toBe(true);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(out);
  });

  test('an unknown experiment exits 2 with INVALID_ARGUMENT', () => {
    const r = cli('experiment', 'nonexistent', '--results-dir', dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]/);
  });
});

describe('help and usage', () => {
  test('--help exits 0 and lists the commands', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    for (const name of ['match', 'random-gauge', 'experiment']) expect(r.stdout).toContain(name);
  });

  test('<command> --help exits 0 with that command usage', () => {
    const r = cli('match', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('gauge-transport match <C.npy>');
  });

  test('no command exits 2 and an unknown command exits 2 with INVALID_ARGUMENT', () => {
    expect(cli().status).toBe(2);
    const r = cli('transmogrify');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: unknown command "transmogrify"/);
  });
});

describe('align, perturb', () => {
  const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');

  test('re-chart, perturb and align recover the hidden gauge; --json reports every method', () => {
    expect(cli('random-gauge', '--d', '64', '--seed', '5', '--out', 'g.safetensors').status).toBe(0);
    expect(cli('apply', TINY, '--gauge', 'g.safetensors', '--out', 'b0').status).toBe(0);
    const p = cli('perturb', 'b0', '--out', 'b', '--scale', '0.01', '--seed', '1');
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    const r = cli('align', TINY, 'b', '--tokens', '1024', '--context', '64', '--truth', 'g.safetensors', '--out', 'est.safetensors', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.truth.marginalized.signedAccuracy).toBe(1);
    expect(j.truth.permutation.permAccuracy).toBe(1);
    expect(j.truth.permutation.signedAccuracy).toBeLessThan(0.75);
    expect(Gauge.read(path.join(dir, 'est.safetensors')).equals(Gauge.read(path.join(dir, 'g.safetensors')))).toBe(true);
    // The gauge file is never replaced without --overwrite.
    const again = cli('align', TINY, 'b', '--tokens', '1024', '--context', '64', '--out', 'est.safetensors');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/OUTPUT_EXISTS/);
  });

  test('usage errors exit 2 and name the argument', () => {
    let r = cli('align', TINY, '--out', 'x.safetensors');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/two models/);
    r = cli('align', TINY, TINY, '--out', 'x.safetensors', '--method', 'greedy');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--method/);
    r = cli('perturb', TINY, '--out', 'p', '--scale', '-1');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--scale/);
  });
});

describe('untrusted inputs and outputs', () => {
  const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');

  test('--gauge /dev/zero and a .npy of /dev/zero fail at once, naming the file', () => {
    const t0 = Date.now();
    let r = cli('apply', TINY, '--gauge', '/dev/zero', '--out', 'b');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[SAFETENSORS_HEADER\]: \/dev\/zero/);
    r = cli('match', '/dev/zero', '--out', 'g.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error \[NPY_FORMAT\]: \/dev\/zero/);
    // Reading either whole would never end; the bound is the header, so both are refused in milliseconds.
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('apply refuses an --out inside the input checkpoint and leaves the input as it was', () => {
    fs.cpSync(TINY, path.join(dir, 'in'), { recursive: true });
    const before = fs.readdirSync(path.join(dir, 'in')).sort();
    expect(cli('random-gauge', '--d', '64', '--seed', '5', '--out', 'g.safetensors').status).toBe(0);
    for (const out of ['in/moved', './in/x/../moved2']) {
      const r = cli('apply', 'in', '--gauge', 'g.safetensors', '--out', out);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: .*inside the input checkpoint/);
    }
    expect(fs.readdirSync(path.join(dir, 'in')).sort()).toEqual(before);
  });
});

describe('stats, stats-merge, align --stats', () => {
  const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');

  test('two shards merged give the same estimate as one run, without running the models', () => {
    expect(cli('random-gauge', '--d', '64', '--seed', '8', '--out', 'g.safetensors').status).toBe(0);
    expect(cli('apply', TINY, '--gauge', 'g.safetensors', '--out', 'b').status).toBe(0);
    const common = ['--tokens', '1024', '--context', '64'];
    for (const k of [0, 1]) {
      const r = cli('stats', TINY, 'b', ...common, '--shard', `${k}/2`, '--out', `s${k}.safetensors`);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const m = cli('stats-merge', 's0.safetensors', 's1.safetensors', '--out', 'all.safetensors');
    expect(m.status).toBe(0);
    expect(m.stdout).toMatch(/1024 tokens per site/);
    const r = cli('align', 'A', 'B', '--stats', 'all.safetensors', '--truth', 'g.safetensors', '--out', 'est.safetensors', '--json');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).truth.marginalized.signedAccuracy).toBe(1);
    // Shards of different models do not merge.
    expect(cli('stats', TINY, TINY, ...common, '--out', 'other.safetensors').status).toBe(0);
    const bad = cli('stats-merge', 's0.safetensors', 'other.safetensors', '--out', 'x.safetensors');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/model_b/);
    expect(fs.existsSync(path.join(dir, 'x.safetensors'))).toBe(false);
    expect(cli('stats', TINY, 'b', ...common, '--shard', '2/2', '--out', 'y.safetensors').status).toBe(2);
  });
});

describe('transport, merge', () => {
  const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');

  test('align then transport a steering vector and a neuron list, and merge B back into A', () => {
    expect(cli('random-gauge', '--d', '64', '--seed', '8', '--out', 'g.safetensors').status).toBe(0);
    expect(cli('apply', TINY, '--gauge', 'g.safetensors', '--out', 'b').status).toBe(0);
    expect(cli('align', TINY, 'b', '--tokens', '1024', '--context', '64', '--out', 'est.safetensors').status).toBe(0);
    const g = Gauge.read(path.join(dir, 'g.safetensors'));
    const v = Array.from({ length: 64 }, (_, i) => Math.sin(i));
    fs.writeFileSync(path.join(dir, 'v.json'), JSON.stringify(v));
    const r = cli('transport', 'steering', 'v.json', '--gauge', 'est.safetensors', '--out', 'v-b.json', '--json');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'steering', vectors: 1, group: 'Bd' });
    const moved = JSON.parse(fs.readFileSync(path.join(dir, 'v-b.json'), 'utf8'));
    expect(moved).toEqual(Array.from(g.applyVector(Float32Array.from(v))));

    fs.writeFileSync(path.join(dir, 'n.json'), JSON.stringify([{ index: 5, score: 1.5 }]));
    const unstated = cli('transport', 'neurons', 'n.json', '--gauge', 'est.safetensors', '--out', 'n-b.json');
    expect(unstated.stderr).toMatch(/has a score but no score_kind/);
    expect(cli('transport', 'neurons', 'n.json', '--gauge', 'est.safetensors', '--out', 'n-b.json', '--score-kind', 'LINEAR').status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'n-b.json'), 'utf8'))).toEqual([{ index: g.perm[5], score: g.sign[5] * 1.5 }]);

    expect(cli('random-gauge', '--d', '64', '--seed', '8', '--out', 'g.safetensors', '--overwrite').status).toBe(0);
    const inv = g.inverse();
    inv.write(path.join(dir, 'inv.safetensors'));
    const m = cli('merge', TINY, 'b', '--gauge', 'inv.safetensors', '--out', 'merged', '--json');
    expect(m.stderr).toBe('');
    expect(JSON.parse(m.stdout)).toMatchObject({ weight: 0.5, tensors: 21, moved: 21 });
    // Averaging A with itself in the right chart gives A back.
    const same = spawnSync(process.execPath, ['-e', `
      const n = require(${JSON.stringify(path.join(__dirname, '..', 'index.js'))});
      Promise.all([n.Model.load(${JSON.stringify(TINY)}), n.Model.load(${JSON.stringify(path.join(dir, 'merged'))})]).then(async ([a, b]) => {
        const ids = Uint32Array.from([1, 2, 3, 4, 5]);
        const [x, y] = [await a.forward(ids), await b.forward(ids)];
        console.log(Math.max(...x.logits.map((v, k) => Math.abs(v - y.logits[k]))));
      });`], { encoding: 'utf8' });
    expect(Number(same.stdout)).toBeLessThan(1e-4);
  });

  test('usage errors name the argument', () => {
    expect(cli('transport', 'tensor', 'x').stderr).toMatch(/one of steering, sae, neurons, optimizer/);
    const r = cli('transport', 'optimizer', 'x.safetensors', '--gauge', 'g.safetensors', '--out', 'y');
    expect(r.status).not.toBe(0);
    expect(cli('merge', TINY).stderr).toMatch(/name the checkpoints A and B/);
    expect(cli('merge', TINY, TINY, '--out', 'm').stderr).toMatch(/--gauge: is required/);
  });
});

describe('enum flags', () => {
  test('are case-insensitive and keep their canonical spelling', () => {
    fs.mkdirSync(path.join(dir, 'tmp'));
    const r = cli('random-gauge', '--d', '16', '--seed', '1', '--group', 'bd', '--out', 'tmp/g.safetensors');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(Gauge.read(path.join(dir, 'tmp', 'g.safetensors')).group()).toBe('Bd');
    const bad = cli('random-gauge', '--d', '16', '--group', 'xd', '--out', 'tmp/h.safetensors');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--group: "xd" is not one of Bd, Sd/);
  });
});

describe('--overwrite on every command that writes a directory', () => {
  const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');
  test('apply, init, perturb and merge keep an existing output unless --overwrite, and never replace an input', () => {
    expect(cli('random-gauge', '--d', '64', '--seed', '3', '--out', 'ow-g.safetensors').status).toBe(0);
    fs.mkdirSync(path.join(dir, 'ow'));
    fs.writeFileSync(path.join(dir, 'ow', 'mine.txt'), 'keep me');
    const runs: string[][] = [
      ['apply', TINY, '--gauge', 'ow-g.safetensors', '--out', 'ow'],
      ['init', '--config', 'tiny', '--out', 'ow'],
      ['perturb', TINY, '--out', 'ow'],
      ['merge', TINY, TINY, '--gauge', 'ow-g.safetensors', '--out', 'ow'],
    ];
    for (const args of runs) {
      const r = cli(...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/OUTPUT_EXISTS.*--overwrite/);
      expect(fs.readFileSync(path.join(dir, 'ow', 'mine.txt'), 'utf8')).toBe('keep me');
    }
    for (const args of runs) {
      const r = cli(...args, '--overwrite', '--json');
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout).out).toBe('ow');
      expect(fs.existsSync(path.join(dir, 'ow', 'mine.txt'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'ow', 'model.safetensors'))).toBe(true);
    }
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.ow'))).toEqual([]);
    // The input is never the output, even with --overwrite.
    fs.cpSync(TINY, path.join(dir, 'own'), { recursive: true });
    const r = cli('perturb', 'own', '--out', 'own', '--overwrite');
    expect(r.stderr).toMatch(/INVALID_ARGUMENT.*own is the input checkpoint/);
    expect(fs.existsSync(path.join(dir, 'own', 'reference.safetensors'))).toBe(true);
  });
});

describe('merge --emit-mergekit', () => {
  const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');
  test('writes B moved into A\'s chart (here exactly A) and a mergekit YAML naming both, for the method asked', () => {
    const yaml = require('js-yaml') as { load(s: string): any };
    expect(cli('random-gauge', '--d', '64', '--seed', '12', '--out', 'mk-g.safetensors').status).toBe(0);
    expect(cli('apply', TINY, '--gauge', 'mk-g.safetensors', '--out', 'mk-b').status).toBe(0);
    Gauge.read(path.join(dir, 'mk-g.safetensors')).inverse().write(path.join(dir, 'mk-inv.safetensors'));
    const r = cli('merge', TINY, 'mk-b', '--gauge', 'mk-inv.safetensors', '--out', 'mk', '--emit-mergekit', 'SLERP', '--weight', '0.3', '--json');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'slerp', mergekit: path.join('mk', 'mergekit.yaml') });
    const cfg = yaml.load(fs.readFileSync(path.join(dir, 'mk', 'mergekit.yaml'), 'utf8'));
    const moved = path.join(dir, 'mk', 'B-in-A');
    expect(cfg).toEqual({ merge_method: 'slerp', base_model: TINY, models: [{ model: TINY }, { model: moved }], parameters: { t: 0.3 }, dtype: 'float32' });
    // B moved back by the inverse of its gauge is A, tensor for tensor (GAUGE.md §4: θ_B -> apply(g_{B->A}, θ_B)).
    const a = readSafetensors(path.join(TINY, 'model.safetensors')).tensors;
    const b = readSafetensors(path.join(moved, 'model.safetensors')).tensors;
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [name, t] of Object.entries(a)) expect(Array.from(b[name].data)).toEqual(Array.from(t.data));
    // The task-vector methods need the common ancestor; linear weights the parents.
    const noBase = cli('merge', TINY, 'mk-b', '--gauge', 'mk-inv.safetensors', '--out', 'mk2', '--emit-mergekit', 'ties');
    expect(noBase.stderr).toMatch(/merge method ties needs the common ancestor/);
    expect(cli('merge', TINY, 'mk-b', '--gauge', 'mk-inv.safetensors', '--out', 'mk3', '--emit-mergekit', 'linear').status).toBe(0);
    const lin = yaml.load(fs.readFileSync(path.join(dir, 'mk3', 'mergekit.yaml'), 'utf8'));
    expect(lin.models.map((m: any) => m.parameters.weight)).toEqual([0.5, 0.5]);
    expect(cli('merge', TINY, 'mk-b', '--gauge', 'mk-inv.safetensors', '--out', 'mk4', '--emit-mergekit', 'frankenmerge').stderr).toMatch(/--emit-mergekit.*linear, slerp/);
  });
});
