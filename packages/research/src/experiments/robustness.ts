/**
 * Experiment `robustness`: a corpus of malformed inputs run through the CLI, and direct calls into the addon with
 * bad arguments, each classified by what happened:
 *
 * - `typed error`: exit 1 or 2 with `error [CODE]: ...` naming what is wrong (CLI), or a rejection or throw with a
 *   stable `code` (addon);
 * - `accepted`: exit 0 (listed by name: a malformed input that was not refused is a finding, unless what was
 *   mutated left a valid file, e.g. a flipped bit in tensor data);
 * - `unclear`: an error without a code, or a message that names neither the file, the tensor nor the argument;
 * - `crash`: killed by a signal, an exit code other than 0-2, or (addon) the process died;
 * - `hang`: not done within the time limit;
 * - `over 1 GB`: peak RSS above 1 GiB (CLI, read from `/usr/bin/time` where it exists).
 *
 * The inputs are generated here from small valid files (a gauge, the tiny fixture checkpoint, an `.npy`, an SAE, a
 * manifest, a claims file, steering JSON, a GGUF control vector): truncations at many lengths, flipped bytes,
 * headers that lie about sizes, wrong types and shapes, missing pieces, hostile paths and numeric flags out of
 * range. The corpus is deterministic (seeded).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { machine, PACKAGE_ROOT } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';

export const OUTCOMES = ['typed error', 'accepted', 'unclear', 'crash', 'hang', 'over 1 GB'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface RobustnessCase {
  id: string;
  kind: string;
  outcome: Outcome;
  detail: string;
}

export interface RobustnessResult {
  name: 'robustness';
  cli: RobustnessCase[];
  addon: RobustnessCase[];
  counts: { cli: Record<Outcome, number>; addon: Record<Outcome, number> };
  seconds: number;
  machine: Record<string, string | number>;
}

const FIXTURES = path.join(PACKAGE_ROOT, 'crates', 'gauge-models', 'tests', 'fixtures');
const TINY = path.join(FIXTURES, 'tiny');
const CLI = path.join(PACKAGE_ROOT, 'dist', 'cli.js');
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** A small seeded generator (mulberry32), independent of the addon. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CliCase {
  id: string;
  kind: string;
  args: string[];
}

/** Writes the corpus's files into `dir` and returns the CLI cases that read them. */
function cliCorpus(dir: string): CliCase[] {
  const next = rng(17);
  const cases: CliCase[] = [];
  const file = (name: string, bytes: Buffer | string) => {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, bytes);
    return p;
  };
  const out = (id: string) => path.join(dir, 'out', id);
  // Valid seeds.
  const gaugeSeed = path.join(dir, 'seed-gauge.safetensors');
  spawnSync(process.execPath, [CLI, 'random-gauge', '--d', '64', '--seed', '1', '--out', gaugeSeed]);
  const gauge = fs.readFileSync(gaugeSeed);
  const model = fs.readFileSync(path.join(TINY, 'model.safetensors'));
  const config = fs.readFileSync(path.join(TINY, 'config.json'), 'utf8');
  const control = fs.readFileSync(path.join(FIXTURES, 'control_vector', 'control.gguf'));
  const npy = (() => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (64,), }";
    const pad = 64 - ((10 + header.length + 1) % 64);
    const h = Buffer.from(header + ' '.repeat(pad) + '\n');
    const pre = Buffer.alloc(10);
    Buffer.from('\x93NUMPY').copy(pre);
    pre[6] = 1;
    pre.writeUInt16LE(h.length, 8);
    return Buffer.concat([pre, h, Buffer.alloc(256)]);
  })();
  const mutations = (name: string, bytes: Buffer, n: number): { label: string; bytes: Buffer }[] => {
    const list: { label: string; bytes: Buffer }[] = [];
    for (let k = 0; k < n; k++) {
      const r = next();
      if (k % 3 === 0) {
        const len = Math.floor(r * bytes.length);
        list.push({ label: `${name} truncated to ${len} bytes`, bytes: bytes.subarray(0, len) });
      } else if (k % 3 === 1) {
        const b = Buffer.from(bytes);
        const flips = 1 + Math.floor(next() * 8);
        // Most of the structure is in the first bytes: flip there more often.
        for (let f = 0; f < flips; f++) b[Math.floor(next() ** 3 * Math.min(b.length, 4096))] ^= 1 << Math.floor(next() * 8);
        list.push({ label: `${name} with ${flips} flipped bits`, bytes: b });
      } else {
        const b = Buffer.from(bytes);
        // A lying length field: the 8-byte header length of safetensors, the counts of a GGUF, the npy header length.
        const at = name === 'gguf' ? 8 + 8 * Math.floor(next() * 2) : name === 'npy' ? 8 : 0;
        const v = [0, 1, 7, 2 ** 31, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER][Math.floor(next() * 6)];
        if (name === 'npy') b.writeUInt16LE(v % 65536, at);
        else b.writeBigUInt64LE(BigInt(v), at);
        list.push({ label: `${name} with its length field at ${at} set to ${v}`, bytes: b });
      }
    }
    return list;
  };
  // Gauge files, read by apply / transport / merge.
  for (const [k, m] of mutations('gauge', gauge, 70).entries()) {
    const g = file(`gauge-${k}.safetensors`, m.bytes);
    cases.push({ id: `gauge-${k}`, kind: `gauge file: ${m.label}`, args: ['transport', 'steering', file(`v-${k}.json`, JSON.stringify(Array(64).fill(1))), '--gauge', g, '--out', out(`g${k}.json`)] });
  }
  // Checkpoints: model.safetensors mutated beside a valid config.
  for (const [k, m] of mutations('safetensors', model, 70).entries()) {
    const d = path.join(dir, `ckpt-${k}`);
    file(`ckpt-${k}/config.json`, config);
    file(`ckpt-${k}/model.safetensors`, m.bytes);
    cases.push({ id: `ckpt-${k}`, kind: `checkpoint: ${m.label}`, args: [k % 2 ? 'inspect' : 'apply', d, ...(k % 2 ? [] : ['--gauge', gaugeSeed, '--out', out(`c${k}`)])] });
  }
  // Configs: JSON mutations of the valid one.
  const configMutations: [string, (c: Record<string, unknown>) => unknown][] = [
    ['hidden_size 0', (c) => ({ ...c, hidden_size: 0 })],
    ['hidden_size -64', (c) => ({ ...c, hidden_size: -64 })],
    ['hidden_size 1e12', (c) => ({ ...c, hidden_size: 1e12 })],
    ['hidden_size "64"', (c) => ({ ...c, hidden_size: '64' })],
    ['num_hidden_layers 1e9', (c) => ({ ...c, num_hidden_layers: 1e9 })],
    ['num_attention_heads 0', (c) => ({ ...c, num_attention_heads: 0 })],
    ['heads not dividing d', (c) => ({ ...c, num_attention_heads: 7 })],
    ['vocab_size 0', (c) => ({ ...c, vocab_size: 0 })],
    ['model_type unknown', (c) => ({ ...c, model_type: 'transformer-xl', architectures: ['TransfoXL'] })],
    ['no model_type', (c) => { const { model_type: _, architectures: __, ...rest } = c; return rest; }],
    ['rope_scaling yarn', (c) => ({ ...c, rope_scaling: { rope_type: 'yarn', factor: 4 } })],
    ['rms_norm_eps -1', (c) => ({ ...c, rms_norm_eps: -1 })],
    ['an array', () => [1, 2, 3]],
    ['null', () => null],
    ['deeply nested', () => JSON.parse('['.repeat(5000) + ']'.repeat(5000))],
  ];
  for (const [k, [label, f]] of configMutations.entries()) {
    const d = path.join(dir, `cfg-${k}`);
    let text: string;
    try {
      text = JSON.stringify(f(JSON.parse(config)));
    } catch {
      text = '['.repeat(5000) + ']'.repeat(5000);
    }
    file(`cfg-${k}/config.json`, text);
    fs.copyFileSync(path.join(TINY, 'model.safetensors'), path.join(d, 'model.safetensors'));
    cases.push({ id: `cfg-${k}`, kind: `config.json: ${label}`, args: ['inspect', d] });
  }
  for (const [k, text] of ['', '{', 'not json', '\u0000\u0001', '{"hidden_size": 64'].entries()) {
    const d = path.join(dir, `cfgtext-${k}`);
    file(`cfgtext-${k}/config.json`, text);
    fs.copyFileSync(path.join(TINY, 'model.safetensors'), path.join(d, 'model.safetensors'));
    cases.push({ id: `cfgtext-${k}`, kind: `config.json: ${JSON.stringify(text)}`, args: ['apply', d, '--gauge', gaugeSeed, '--out', out(`ct${k}`)] });
  }
  // .npy correlation matrices and steering vectors.
  for (const [k, m] of mutations('npy', npy, 40).entries()) {
    const f = file(`v-${k}.npy`, m.bytes);
    cases.push({ id: `npy-${k}`, kind: `.npy: ${m.label}`, args: k % 2 ? ['match', f, '--out', out(`m${k}.safetensors`)] : ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(`n${k}.npy`)] });
  }
  // GGUF control vectors and models.
  for (const [k, m] of mutations('gguf', control, 50).entries()) {
    const f = file(`cv-${k}.gguf`, m.bytes);
    cases.push({ id: `gguf-${k}`, kind: `GGUF: ${m.label}`, args: k % 2 ? ['inspect', f] : ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(`cv${k}.gguf`)] });
  }
  // Steering JSON, neuron lists, SAE configs, manifests, claims.
  const jsonCases: [string, string, (f: string, id: string) => string[]][] = [
    ['steering: a vector of 63', JSON.stringify(Array(63).fill(0)), (f, id) => ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['steering: NaN as a string', '[' + Array(64).fill('"NaN"').join(',') + ']', (f, id) => ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['steering: an empty object', '{}', (f, id) => ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['steering: hook_z key', JSON.stringify({ 'blocks.0.attn.hook_z': Array(64).fill(1) }), (f, id) => ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['steering: ragged list', JSON.stringify([Array(64).fill(1), Array(3).fill(1)]), (f, id) => ['transport', 'steering', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['neurons: index 64', JSON.stringify([{ index: 64 }]), (f, id) => ['transport', 'neurons', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['neurons: index -1', JSON.stringify([{ index: -1 }]), (f, id) => ['transport', 'neurons', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['neurons: index 1.5', JSON.stringify([1.5]), (f, id) => ['transport', 'neurons', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['neurons: score without kind', JSON.stringify([{ index: 1, score: 2 }]), (f, id) => ['transport', 'neurons', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['neurons: sign 2', JSON.stringify([{ index: 1, sign: 2 }]), (f, id) => ['transport', 'neurons', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['neurons: not a list', '"hello"', (f, id) => ['transport', 'neurons', f, '--gauge', gaugeSeed, '--out', out(id)]],
    ['manifest: missing base', JSON.stringify({ runs: { A: [TINY] } }), (f, id) => ['trajectory', f, '--from', TINY, '--to', TINY, '--out', out(id)]],
    ['manifest: runs not an object', JSON.stringify({ base: TINY, runs: 3 }), (f, id) => ['trajectory', f, '--from', TINY, '--to', TINY, '--out', out(id)]],
    ['manifest: edge to nowhere', JSON.stringify({ base: TINY, runs: { A: [TINY] }, edges: [[TINY, '/nope']] }), (f, id) => ['trajectory', f, '--from', TINY, '--to', TINY, '--out', out(id)]],
    ['claims: empty', '{}', (f) => ['audit', f, '--models', TINY]],
    ['claims: unknown kind', JSON.stringify({ behaviours: {}, claims: [{ id: 'x', kind: 'vibes' }] }), (f) => ['audit', f, '--models', TINY]],
    ['claims: coordinate 99', JSON.stringify({ behaviours: { b: { positive: ['a'], negative: ['b'] } }, claims: [{ id: 'x', kind: 'coordinates', behaviour: 'b', site: 'h_1', coordinates: [99], signs: [1], within: 4 }] }), (f) => ['audit', f, '--models', TINY]],
  ];
  for (const [k, [label, text, args]] of jsonCases.entries()) {
    const f = file(`j-${k}.json`, text);
    cases.push({ id: `json-${k}`, kind: label, args: args(f, `j${k}.json`) });
  }
  const sae = (k: number, cfg: string) => {
    const d = path.join(dir, `sae-${k}`);
    file(`sae-${k}/cfg.json`, cfg);
    file(`sae-${k}/sae_weights.safetensors`, gauge);
    return d;
  };
  for (const [k, cfg] of ['{}', '{"d_in": "64"}', '{"d_in": 64, "hook_name": "blocks.0.mlp.hook_post"}', '{"d_in": 64, "hook_name": "blocks.0.hook_resid_post"}', 'nope'].entries()) {
    cases.push({ id: `sae-${k}`, kind: `SAE: cfg ${cfg}`, args: ['transport', 'sae', sae(k, cfg), '--gauge', gaugeSeed, '--out', out(`s${k}`)] });
  }
  // Hostile paths and flags.
  const flags: [string, string[]][] = [
    ['--gauge is a directory', ['apply', TINY, '--gauge', dir, '--out', out('f0')]],
    ['--gauge /dev/zero', ['apply', TINY, '--gauge', '/dev/zero', '--out', out('f1')]],
    ['--gauge missing', ['apply', TINY, '--gauge', path.join(dir, 'missing'), '--out', out('f2')]],
    ['--out inside the input', ['apply', TINY, '--gauge', gaugeSeed, '--out', path.join(TINY, 'x')]],
    ['--out is the input', ['apply', TINY, '--gauge', gaugeSeed, '--out', TINY, '--overwrite']],
    ['random-gauge --d 0', ['random-gauge', '--d', '0', '--out', out('f5')]],
    ['random-gauge --d 1e12', ['random-gauge', '--d', '1e12', '--out', out('f6')]],
    ['random-gauge --d -5', ['random-gauge', '--d', '-5', '--out', out('f7')]],
    ['random-gauge --d NaN', ['random-gauge', '--d', 'NaN', '--out', out('f8')]],
    ['random-gauge --positive-fraction 2', ['random-gauge', '--d', '8', '--positive-fraction', '2', '--out', out('f9')]],
    ['align --tokens 0', ['align', TINY, TINY, '--tokens', '0', '--out', out('f10')]],
    ['align --tokens 1e15', ['align', TINY, TINY, '--tokens', '1e15', '--out', out('f11')]],
    ['align --context 100000', ['align', TINY, TINY, '--context', '100000', '--out', out('f12')]],
    ['align --layers 99', ['align', TINY, TINY, '--layers', '99', '--out', out('f13')]],
    ['align --method magic', ['align', TINY, TINY, '--method', 'magic', '--out', out('f14')]],
    ['align B missing', ['align', TINY, path.join(dir, 'nope'), '--out', out('f15')]],
    ['align A is a file', ['align', gaugeSeed, TINY, '--out', out('f16')]],
    ['train --steps 0', ['train', '--init', TINY, '--data', gaugeSeed, '--out', out('f17'), '--steps', '0']],
    ['train --lr -1', ['train', '--init', TINY, '--data', gaugeSeed, '--out', out('f18'), '--lr', '-1']],
    ['train --seq 1', ['train', '--init', TINY, '--data', gaugeSeed, '--out', out('f19'), '--seq', '1']],
    ['init --config huge', ['init', '--config', file('huge.json', JSON.stringify({ ...JSON.parse(config), hidden_size: 65536 * 64, intermediate_size: 65536 * 256, num_hidden_layers: 1000 })), '--out', out('f20')]],
    ['init --dtype f8', ['init', '--config', 'tiny', '--dtype', 'f8', '--out', out('f21')]],
    ['unknown command', ['frobnicate']],
    ['unknown flag', ['inspect', TINY, '--colour']],
    ['merge without --gauge', ['merge', TINY, TINY, '--out', out('f24')]],
    ['merge --weight NaN', ['merge', TINY, TINY, '--gauge', gaugeSeed, '--out', out('f25'), '--weight', 'NaN']],
    ['stats --shard 3/2', ['stats', TINY, TINY, '--shard', '3/2', '--out', out('f26')]],
    ['stats-merge one file', ['stats-merge', gaugeSeed, '--out', out('f27')]],
    ['stats-merge a gauge as stats', ['stats-merge', gaugeSeed, gaugeSeed, '--out', out('f28')]],
    ['transport optimizer without --model', ['transport', 'optimizer', gaugeSeed, '--gauge', gaugeSeed, '--out', out('f29')]],
    ['transport optimizer: a gauge as state', ['transport', 'optimizer', gaugeSeed, '--gauge', gaugeSeed, '--model', TINY, '--out', out('f30')]],
    ['match a non-square .npy', ['match', file('rect.npy', npy), '--out', out('f31')]],
  ];
  for (const [k, [label, args]] of flags.entries()) cases.push({ id: `flag-${k}`, kind: label, args });
  return cases;
}

const CODED = /^error \[[A-Z_]+\]: /m;

function runCli(c: CliCase, timeoutMs: number): RobustnessCase {
  const argv = TIME ? [TIME, '-f', 'GT_MAXRSS_KB=%M', process.execPath, CLI, ...c.args] : [process.execPath, CLI, ...c.args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  const rss = Number(/GT_MAXRSS_KB=(\d+)/.exec(r.stderr ?? '')?.[1] ?? 0) * 1024;
  const stderr = (r.stderr ?? '').replace(/GT_MAXRSS_KB=\d+\n?/, '').replace(/^Command exited with non-zero status \d+\n?/m, '');
  // /usr/bin/time reports a child killed by a signal as "Command terminated by signal N".
  const signalled = /Command terminated by signal (\d+)/.exec(stderr);
  const line = stderr.trim().split('\n').find((l) => l.startsWith('error [')) ?? stderr.trim().split('\n').pop() ?? '';
  let outcome: Outcome;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') outcome = 'hang';
  else if (r.signal || signalled || (r.status !== null && r.status > 2)) outcome = 'crash';
  else if (rss > 2 ** 30) outcome = 'over 1 GB';
  else if (r.status === 0) outcome = 'accepted';
  else if (CODED.test(stderr)) outcome = 'typed error';
  else outcome = 'unclear';
  return { id: c.id, kind: c.kind, outcome, detail: outcome === 'accepted' ? (r.stdout ?? '').trim().split('\n')[0].slice(0, 160) : line.slice(0, 200) };
}

/** The direct addon calls: each a line of JavaScript run in one child process, which reports per call. */
function addonCalls(dir: string): { id: string; code: string }[] {
  const g = `native.Gauge.random(8, { seed: 1 })`;
  const f32 = (n: number) => `new Float32Array(${n})`;
  const calls: [string, string][] = [
    ['solveAssignment negative n', `native.solveAssignment(${f32(4)}, -2, 2)`],
    ['solveAssignment n*m overflow', `native.solveAssignment(${f32(4)}, 2**31, 2**31)`],
    ['solveAssignment NaN scores', `native.solveAssignment(new Float32Array([NaN, 1, 2, 3]), 2, 2)`],
    ['solveAssignment Infinity', `native.solveAssignment(new Float32Array([Infinity, 1, 2, 3]), 2, 2)`],
    ['solveAssignment a string', `native.solveAssignment('abcd', 2, 2)`],
    ['solveAssignment wrong length', `native.solveAssignment(${f32(5)}, 2, 2)`],
    ['solveAssignment n > m', `native.solveAssignment(${f32(6)}, 3, 2)`],
    ['solveAssignment unknown solver', `native.solveAssignment(${f32(4)}, 2, 2, { solver: 'quantum' })`],
    ['correlation huge dy', `native.correlation(${f32(4)}, ${f32(4)}, 2, 2, 2**31)`],
    ['correlation rows 0', `native.correlation(${f32(0)}, ${f32(0)}, 0, 2, 2)`],
    ['correlation fractional rows', `native.correlation(${f32(4)}, ${f32(4)}, 1.5, 2, 2)`],
    ['correlation NaN data', `native.correlation(new Float32Array([NaN, 1, 2, 3]), ${f32(4)}, 2, 2, 2)`],
    ['correlation null', `native.correlation(null, null, 2, 2, 2)`],
    ['matchGauge non-square', `native.matchGauge(${f32(6)}, 2)`],
    ['matchGauge d 0', `native.matchGauge(${f32(0)}, 0)`],
    ['matchGauge wrong method', `native.matchGauge(${f32(4)}, 2, { method: 'telepathy' })`],
    ['Gauge.random d 0', `native.Gauge.random(0)`],
    ['Gauge.random d -1', `native.Gauge.random(-1)`],
    ['Gauge.random d 2**40', `native.Gauge.random(2**40)`],
    ['Gauge.random d NaN', `native.Gauge.random(NaN)`],
    ['Gauge.random fraction 5', `native.Gauge.random(8, { positiveFraction: 5 })`],
    ['Gauge.random group Xd', `native.Gauge.random(8, { group: 'Xd' })`],
    ['Gauge.fromArrays not a permutation', `native.Gauge.fromArrays(new Uint32Array([0, 0]), new Int8Array([1, 1]))`],
    ['Gauge.fromArrays sign 2', `native.Gauge.fromArrays(new Uint32Array([0, 1]), new Int8Array([1, 2]))`],
    ['Gauge.fromArrays lengths differ', `native.Gauge.fromArrays(new Uint32Array([0, 1]), new Int8Array([1]))`],
    ['Gauge.fromArrays perm out of range', `native.Gauge.fromArrays(new Uint32Array([0, 9]), new Int8Array([1, 1]))`],
    ['applyAxis shape overflow', `${g}.applyAxis(${f32(8)}, [2**30, 2**30, 8], 2, true)`],
    ['applyAxis axis 5', `${g}.applyAxis(${f32(8)}, [8], 5, true)`],
    ['applyAxis wrong length', `${g}.applyAxis(${f32(7)}, [8], 0, true)`],
    ['applyAxis d mismatch', `${g}.applyAxis(${f32(9)}, [9], 0, true)`],
    ['applyVector wrong length', `${g}.applyVector(${f32(3)})`],
    ['compose different d', `${g}.compose(native.Gauge.random(4, { seed: 2 }))`],
    ['agreement different d', `${g}.agreement(native.Gauge.random(4, { seed: 2 }))`],
    ['Gauge.read missing', `native.Gauge.read(${JSON.stringify(path.join(dir, 'missing'))})`],
    ['Gauge.read directory', `native.Gauge.read(${JSON.stringify(dir)})`],
    ['Gauge.read /dev/zero', `native.Gauge.read('/dev/zero')`],
    ['gauge.write into missing dir', `${g}.write(${JSON.stringify(path.join(dir, 'no', 'such', 'g.safetensors'))})`],
    ['gauge.write over existing', `(${g}.write(${JSON.stringify(path.join(dir, 'g1.safetensors'))}), ${g}.write(${JSON.stringify(path.join(dir, 'g1.safetensors'))}))`],
    ['Model.load missing', `native.Model.load(${JSON.stringify(path.join(dir, 'missing'))})`],
    ['Model.load a file', `native.Model.load(${JSON.stringify(path.join(FIXTURES, 'tiny', 'config.json'))})`],
    ['Model.load device tpu', `native.Model.load(${JSON.stringify(TINY)}, { device: 'tpu' })`],
    ['Model.load device cuda:99', `native.Model.load(${JSON.stringify(TINY)}, { device: 'cuda:99' })`],
    ['forward ids out of vocab', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array([999999])))`],
    ['forward empty ids', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(0)))`],
    ['forward batch not dividing', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(5), { batch: 2 }))`],
    ['forward batch 0', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(4), { batch: 0 }))`],
    ['forward unknown site', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(4), { sites: ['h_99'] }))`],
    ['forward too long', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(1 << 20)))`],
    ['forward steer wrong length', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(4), { steer: { site: 'h_1', vector: new Float32Array(3), scale: 1 } }))`],
    ['forward steer NaN scale', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(4), { steer: { site: 'h_1', vector: new Float32Array(64), scale: NaN } }))`],
    ['generate -1 tokens', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.generate(new Uint32Array([1]), -1))`],
    ['generate 2**32 tokens', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.generate(new Uint32Array([1]), 2**32))`],
    ['generate empty prompt', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.generate(new Uint32Array(0), 3))`],
    ['inspectModel missing', `native.inspectModel(${JSON.stringify(path.join(dir, 'missing'))})`],
    ['inspectModel /dev/null', `native.inspectModel('/dev/null')`],
    ['applyGauge d mismatch', `native.applyGauge(${JSON.stringify(TINY)}, ${g}, ${JSON.stringify(path.join(dir, 'a1'))})`],
    ['applyGauge out = input', `native.applyGauge(${JSON.stringify(TINY)}, native.Gauge.random(64, { seed: 1 }), ${JSON.stringify(TINY)})`],
    ['applyGauge missing model', `native.applyGauge(${JSON.stringify(path.join(dir, 'nope'))}, ${g}, ${JSON.stringify(path.join(dir, 'a2'))})`],
    ['initCheckpoint unknown preset', `native.initCheckpoint('llama-9000b', ${JSON.stringify(path.join(dir, 'i1'))})`],
    ['initCheckpoint dtype F8', `native.initCheckpoint('tiny', ${JSON.stringify(path.join(dir, 'i2'))}, { dtype: 'F8' })`],
    ['initCheckpoint seed -1', `native.initCheckpoint('tiny', ${JSON.stringify(path.join(dir, 'i3'))}, { seed: -1 })`],
    ['perturbCheckpoint scale NaN', `native.perturbCheckpoint(${JSON.stringify(TINY)}, ${JSON.stringify(path.join(dir, 'p1'))}, { scale: NaN })`],
    ['perturbCheckpoint scale -1', `native.perturbCheckpoint(${JSON.stringify(TINY)}, ${JSON.stringify(path.join(dir, 'p2'))}, { scale: -1 })`],
    ['mergeCheckpoints weight Infinity', `native.mergeCheckpoints(${JSON.stringify(TINY)}, ${JSON.stringify(TINY)}, native.Gauge.random(64, { seed: 1 }), ${JSON.stringify(path.join(dir, 'mg1'))}, { weight: Infinity })`],
    ['mergeCheckpoints d mismatch', `native.mergeCheckpoints(${JSON.stringify(TINY)}, ${JSON.stringify(TINY)}, ${g}, ${JSON.stringify(path.join(dir, 'mg2'))})`],
    ['convertGguf not a GGUF', `native.convertGguf(${JSON.stringify(path.join(TINY, 'config.json'))}, ${JSON.stringify(path.join(dir, 'cg1'))})`],
    ['transportSae missing', `native.transportSae(${JSON.stringify(path.join(dir, 'nope'))}, ${g}, ${JSON.stringify(path.join(dir, 'ts1'))})`],
    ['transportSteeringFile missing', `native.transportSteeringFile(${JSON.stringify(path.join(dir, 'nope.safetensors'))}, ${g}, ${JSON.stringify(path.join(dir, 'ts2'))})`],
    ['transportControlVector model config', `native.transportControlVector(${JSON.stringify(path.join(TINY, 'config.json'))}, ${g}, ${JSON.stringify(path.join(dir, 'ts3'))})`],
    ['transportControlVector d mismatch', `native.transportControlVector(${JSON.stringify(path.join(FIXTURES, 'control_vector', 'control.gguf'))}, ${g}, ${JSON.stringify(path.join(dir, 'ts4'))})`],
    ['transportOptimizer a gauge', `native.transportOptimizer(${JSON.stringify(path.join(dir, 'g1.safetensors'))}, ${g}, ${JSON.stringify(TINY)}, ${JSON.stringify(path.join(dir, 'to1'))})`],
    ['readNpyMatrix missing', `native.readNpyMatrix(${JSON.stringify(path.join(dir, 'nope.npy'))})`],
    ['readNpyMatrix a gauge', `native.readNpyMatrix(${JSON.stringify(path.join(dir, 'g1.safetensors'))})`],
    ['writeNpy shape mismatch', `native.writeNpy(${JSON.stringify(path.join(dir, 'w1.npy'))}, ${f32(4)}, [3, 3])`],
    ['writeNpy negative shape', `native.writeNpy(${JSON.stringify(path.join(dir, 'w2.npy'))}, ${f32(4)}, [-2, -2])`],
    ['writeNpy shape overflow', `native.writeNpy(${JSON.stringify(path.join(dir, 'w3.npy'))}, ${f32(4)}, [2**31, 2**31])`],
    ['randomUniform -1', `native.randomUniform(-1, 1)`],
    ['randomUniform 2**40', `native.randomUniform(2**40, 1)`],
    ['randomUniform NaN seed', `native.randomUniform(4, NaN)`],
    ['Tokenizer.load missing', `native.Tokenizer.load(${JSON.stringify(path.join(dir, 'nope'))})`],
    ['Tokenizer.load no tokenizer', `native.Tokenizer.load(${JSON.stringify(TINY)})`],
    ['PairStats.load missing', `native.PairStats.load(${JSON.stringify(path.join(dir, 'nope'))})`],
    ['PairStats.load a gauge', `native.PairStats.load(${JSON.stringify(path.join(dir, 'g1.safetensors'))})`],
    ['siteChart not a string', `native.siteChart(42)`],
    ['siteChart undefined', `native.siteChart()`],
    ['canonicalGauge missing', `native.canonicalGauge(${JSON.stringify(path.join(dir, 'nope'))})`],
    ['collectPairStats empty ids', `Promise.all([native.Model.load(${JSON.stringify(TINY)}), native.Model.load(${JSON.stringify(TINY)})]).then(([a, b]) => native.collectPairStats(a, b, new Uint32Array(0), { seq: 8, sites: ['h_1'] }))`],
    ['collectPairStats seq 0', `Promise.all([native.Model.load(${JSON.stringify(TINY)}), native.Model.load(${JSON.stringify(TINY)})]).then(([a, b]) => native.collectPairStats(a, b, new Uint32Array(16), { seq: 0, sites: ['h_1'] }))`],
    ['collectPairStats callback throws', `Promise.all([native.Model.load(${JSON.stringify(TINY)}), native.Model.load(${JSON.stringify(TINY)})]).then(([a, b]) => lib.collectStats(a, b, { tokens: 64, contextLength: 8, onProgress: own }))`],
    ['train steps 0', `lib.train(${JSON.stringify(TINY)}, new Uint32Array(100), ${JSON.stringify(path.join(dir, 'tr1'))}, { steps: 0 })`],
    ['train ids out of vocab', `lib.train(${JSON.stringify(TINY)}, new Uint32Array(100).fill(1e6), ${JSON.stringify(path.join(dir, 'tr2'))}, { steps: 1, batch: 1, seq: 8 })`],
    ['train callback throws', `lib.train(${JSON.stringify(TINY)}, new Uint32Array(100), ${JSON.stringify(path.join(dir, 'tr3'))}, { steps: 2, batch: 1, seq: 8, onProgress: own })`],
    ['train lr NaN', `lib.train(${JSON.stringify(TINY)}, new Uint32Array(100), ${JSON.stringify(path.join(dir, 'tr4'))}, { steps: 1, lr: NaN })`],
    ['align aborted', `lib.align(${JSON.stringify(TINY)}, ${JSON.stringify(TINY)}, { tokens: 256, contextLength: 8, signal: AbortSignal.abort() })`],
    ['align unknown pool', `lib.align(${JSON.stringify(TINY)}, ${JSON.stringify(TINY)}, { tokens: 256, contextLength: 8, pool: 'vote' })`],
    ['estimateGauge garbage stats', `native.estimateGauge({}, {})`],
    ['transportNeurons missing file', `lib.transportNeurons(${JSON.stringify(path.join(dir, 'nope.json'))}, ${g}, ${JSON.stringify(path.join(dir, 'tn1.json'))})`],
    ['transportSteering .txt', `lib.transportSteering(${JSON.stringify(path.join(TINY, 'config.json'))}, ${g}, ${JSON.stringify(path.join(dir, 'tst.txt'))})`],
    ['emitMergekit unknown method', `lib.emitMergekit(${JSON.stringify(TINY)}, ${JSON.stringify(TINY)}, ${g}, ${JSON.stringify(path.join(dir, 'mk1'))}, { method: 'soup' })`],
    ['audit empty claims', `lib.audit({ behaviours: {}, claims: [] }, [${JSON.stringify(TINY)}])`],
    ['Gauge.identity -1', `native.Gauge.identity(-1)`],
    ['matchGauge NaN matrix', `native.matchGauge(new Float32Array([NaN, 0, 0, NaN]), 2)`],
    ['solveAssignment aborted', `native.solveAssignment(${f32(4)}, 2, 2, {}, AbortSignal.abort())`],
    ['Model.load streamed missing', `native.Model.load(${JSON.stringify(path.join(dir, 'nope'))}, { streamed: true })`],
    ['forward logits mode bogus', `native.Model.load(${JSON.stringify(TINY)}).then((m) => m.forward(new Uint32Array(4), { logits: 'some' }))`],
    ['Gauge.read a GGUF', `native.Gauge.read(${JSON.stringify(path.join(FIXTURES, 'control_vector', 'control.gguf'))})`],
  ];
  return calls.map(([id, code]) => ({ id, code }));
}

function runAddon(calls: { id: string; code: string }[], dir: string, timeoutMs: number): RobustnessCase[] {
  const results: RobustnessCase[] = [];
  let from = 0;
  // One child runs the calls in order and prints a line per call; a child that dies is restarted after that call.
  while (from < calls.length) {
    const script = `
      // The addon as the package exposes it (its errors converted to GaugeTransportError with stable codes).
      const native = require(${JSON.stringify(path.join(PACKAGE_ROOT, 'dist', 'native.js'))});
      const own = () => { throw Object.assign(new Error('thrown by the caller'), { own: true }); };
      const lib = require(${JSON.stringify(path.join(PACKAGE_ROOT, 'dist', 'index.js'))});
      const calls = ${JSON.stringify(calls.slice(from))};
      (async () => {
        for (const c of calls) {
          process.stdout.write('START ' + c.id + '\\n');
          let line;
          try {
            const v = await Promise.race([
              Promise.resolve().then(() => eval(c.code)),
              new Promise((_, rej) => setTimeout(() => rej(Object.assign(new Error('timeout'), { hang: true })), ${timeoutMs})),
            ]);
            line = { outcome: 'accepted', detail: String(v && v.constructor ? v.constructor.name : v).slice(0, 80) };
          } catch (e) {
            if (e && e.hang) line = { outcome: 'hang', detail: 'no answer within ${timeoutMs} ms' };
            else if (e && e.own) line = { outcome: 'typed error', detail: "rejected with the callback's own exception" };
            else if (e && typeof e.code === 'string' && /^[A-Z_]+$/.test(e.code)) line = { outcome: 'typed error', detail: e.code + ': ' + String(e.message).slice(0, 160) };
            else line = { outcome: 'unclear', detail: String(e && e.message).slice(0, 160) };
          }
          process.stdout.write('DONE ' + JSON.stringify(line) + '\\n');
        }
      })().then(() => process.exit(0));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: dir, timeout: timeoutMs * (calls.length - from + 2), maxBuffer: 16 << 20 });
    const lines = (r.stdout ?? '').split('\n');
    let current: string | undefined;
    for (const l of lines) {
      if (l.startsWith('START ')) current = l.slice(6);
      else if (l.startsWith('DONE ') && current) {
        const v = JSON.parse(l.slice(5)) as { outcome: Outcome; detail: string };
        results.push({ id: current, kind: 'addon call', ...v });
        current = undefined;
        from++;
      }
    }
    if (current !== undefined) {
      results.push({ id: current, kind: 'addon call', outcome: 'crash', detail: `process ended (status ${r.status}, signal ${r.signal}): ${(r.stderr ?? '').trim().split('\n').pop()}` });
      from++;
    } else if (r.status !== 0 && from < calls.length) {
      results.push({ id: calls[from].id, kind: 'addon call', outcome: 'crash', detail: `process ended before the call (status ${r.status}, signal ${r.signal})` });
      from++;
    }
  }
  return results;
}

const count = (cases: RobustnessCase[]) => Object.fromEntries(OUTCOMES.map((o) => [o, cases.filter((c) => c.outcome === o).length])) as Record<Outcome, number>;

export async function runRobustness(o: { timeoutMs: number }, log: (s: string) => void = () => {}): Promise<RobustnessResult> {
  const t0 = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-robustness-'));
  try {
    const corpus = cliCorpus(dir);
    log(`${corpus.length} malformed CLI inputs`);
    const cli = corpus.map((c, k) => {
      if (k % 50 === 0) log(`CLI ${k}/${corpus.length}`);
      return runCli(c, o.timeoutMs);
    });
    const calls = addonCalls(dir);
    log(`${calls.length} direct addon calls`);
    const addon = runAddon(calls, dir, o.timeoutMs);
    return { name: 'robustness', cli, addon, counts: { cli: count(cli), addon: count(addon) }, seconds: (performance.now() - t0) / 1000, machine: machine() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function robustnessTable(r: RobustnessResult): Table {
  const row = (what: string, cases: RobustnessCase[], c: Record<Outcome, number>) => [what, String(cases.length), ...OUTCOMES.map((x) => String(c[x]))];
  return {
    header: ['inputs', 'tried', ...OUTCOMES],
    rows: [row('malformed CLI inputs', r.cli, r.counts.cli), row('direct addon calls', r.addon, r.counts.addon)],
  };
}

export interface FuzzResult {
  name: 'fuzz';
  params: { seconds: number };
  targets: { target: string; seconds: number; executions: number; coverage: number; corpus: number; findings: number; exit: number }[];
  machine: Record<string, string | number>;
}

/** Experiment `fuzz`: runs `scripts/fuzz.sh` (libFuzzer, every parser of untrusted bytes) and records its counts. */
export function runFuzz(o: { seconds: number }): FuzzResult {
  const r = spawnSync('bash', [path.join(PACKAGE_ROOT, 'scripts', 'fuzz.sh'), String(o.seconds)], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const file = path.join(PACKAGE_ROOT, 'fuzz', 'results.json');
  if (!fs.existsSync(file)) throw new Error(`scripts/fuzz.sh wrote no ${file} (exit ${r.status})`);
  return { name: 'fuzz', params: o, targets: JSON.parse(fs.readFileSync(file, 'utf8')), machine: machine() };
}

export function fuzzTable(r: FuzzResult): Table {
  return {
    header: ['parser (fuzz target)', 'seconds', 'executions', 'coverage (edges)', 'corpus', 'findings'],
    rows: r.targets.map((t) => [t.target, String(t.seconds), String(t.executions), String(t.coverage), String(t.corpus), String(t.findings)]),
  };
}

export interface ResponsivenessRow {
  operation: string;
  /** Largest interval between ticks of a 10 ms timer while the call ran (ms; 10 is a free event loop). */
  gapMs: number;
  /** When the slowest abort came, ms into the call. */
  abortAfterMs: number;
  /** From `abort()` to the call's rejection, the largest over {@link ABORT_POINTS} of the calls still running (ms). */
  abortMs: number;
  /** Every abort: when it came (ms into the call) and how long the rejection took (ms). */
  aborts: { afterMs: number; ms: number; code: string }[];
  /** The codes the aborted calls settled with (`resolved`: it finished before the abort came). */
  abortCode: string;
}

/** Where in a call (fractions of its unaborted time) the experiment aborts it, one run each. */
const ABORT_POINTS = [1 / 6, 1 / 3, 1 / 2, 2 / 3];

export interface ResponsivenessResult {
  name: 'responsiveness';
  rows: ResponsivenessRow[];
  machine: Record<string, string | number>;
}

/**
 * Experiment `responsiveness`: the event loop stays free during heavy calls (the largest gap between ticks of a 10 ms
 * timer while each runs), and an abort lands promptly wherever it comes (each call is run again once per abort
 * point, at 1/6 … 2/3 of its time, and the slowest rejection is reported).
 */
export async function runResponsiveness(): Promise<ResponsivenessResult> {
  // Loaded lazily: the addon is not needed by the rest of this module's child-process runners.
  const native = await import('../../../../dist/native');
  const lib = await import('../../../../dist/index');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-responsiveness-'));
  const big = native.randomUniform(4096 * 4096, 17);
  const moved = path.join(work, 'moved');
  await native.applyGauge(TINY, native.Gauge.random(64, { seed: 3, positiveFraction: 0.5 }), moved);
  const ids = Uint32Array.from({ length: 1 << 16 }, (_, i) => (i * 2654435761) % 256);
  // A one-block checkpoint of width 4096 and its weight statistics: align's whole estimate (pooling, matching, the
  // null) at d = 4096 in one native call.
  const wide = path.join(work, 'wide');
  fs.mkdirSync(wide);
  const wideConfig = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128, tie_word_embeddings: true };
  fs.writeFileSync(path.join(wide, 'config.json'), JSON.stringify(wideConfig));
  await native.initCheckpoint(path.join(wide, 'config.json'), path.join(wide, 'A'), { seed: 3 });
  const wideStats = await native.weightPairStats(path.join(wide, 'A'), path.join(wide, 'A'));
  const ops: [string, (signal?: AbortSignal) => Promise<unknown>][] = [
    ['solveAssignment, 4096 x 4096 uniform (jv)', (signal) => lib.solveAssignment(big, 4096, 4096, { solver: 'jv', signal })],
    ['matchGauge, d = 4096', (signal) => lib.matchGauge(big, 4096, { signal })],
    ['align, tiny fixture pair, 16,384 tokens', (signal) => lib.align(TINY, moved, { tokens: 16384, contextLength: 64, signal })],
    ['align, d = 4096, from its statistics', (signal) => lib.align(path.join(wide, 'A'), path.join(wide, 'A'), { stats: wideStats, signal })],
    ['train, tiny fixture, 200 steps of 8 x 64', (signal) => lib.train(TINY, ids, path.join(work, `run-${Math.random()}`), { steps: 200, batch: 8, seq: 64, signal })],
  ];
  const rows: ResponsivenessRow[] = [];
  try {
    for (const [operation, run] of ops) {
      const t = performance.now();
      let last = t;
      let gap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        gap = Math.max(gap, now - last);
        last = now;
      }, 10);
      await run();
      clearInterval(timer);
      const whole = performance.now() - t;
      // Abort at points spread over the call's own time (each in a run of its own), so that every phase is hit.
      const aborts: ResponsivenessRow['aborts'] = [];
      for (const f of ABORT_POINTS) {
        const afterMs = Math.max(1, Math.round(whole * f));
        const ac = new AbortController();
        const started = run(ac.signal);
        await new Promise((r) => setTimeout(r, afterMs));
        const t0 = performance.now();
        ac.abort();
        let code = 'resolved';
        await started.then(
          () => undefined,
          (e) => {
            code = (e as { code?: string }).code ?? 'no code';
          },
        );
        aborts.push({ afterMs, ms: performance.now() - t0, code });
      }
      // A call that settled before its abort came (it ran faster this time) says nothing about the latency.
      const landed = aborts.filter((a) => a.code !== 'resolved');
      const worst = (landed.length > 0 ? landed : aborts).reduce((a, b) => (b.ms > a.ms ? b : a));
      const codes = [...new Set(aborts.map((a) => a.code))];
      rows.push({ operation, gapMs: gap, abortAfterMs: worst.afterMs, abortMs: worst.ms, aborts, abortCode: codes.join(', ') });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { name: 'responsiveness', rows, machine: machine() };
}

export function responsivenessTable(r: ResponsivenessResult): Table {
  return {
    header: ['operation', 'largest event-loop gap (10 ms timer)', 'aborts (1/6, 1/3, 1/2, 2/3 in)', 'slowest abort latency', 'slowest when', 'rejected with'],
    rows: r.rows.map((x) => [
      x.operation,
      `${x.gapMs.toFixed(1)} ms`,
      (x.aborts ?? []).map((a) => a.ms.toFixed(1)).join(', ') + ' ms',
      `${x.abortMs.toFixed(1)} ms`,
      `${x.abortAfterMs} ms in`,
      x.abortCode,
    ]),
  };
}
