/**
 * Probe corpora: every reader against fixture files built byte by byte here (npy: magic, version, header length,
 * padded header dict, data; safetensors: 8-byte header length, JSON header, data), out-of-vocabulary ids and empty
 * probes, the built-in probe, and packing arithmetic. Tokenizer tests need the addon's `Tokenizer` and the cached
 * models; they are skipped when either is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadProbe } from '../src';
import { DEFAULT_PROBE_KIND, DEFAULT_PROBE_TEXT_PATH, PROBE_KINDS, defaultProbe, defaultProbeText, packProbe, readProbe, type ProbeTokenizer } from '../src/probe';
import native = require('../src/native');
import { tempDir, thrown } from './helpers';

const ROOT = path.join(__dirname, '..');
const MINILM = path.join(ROOT, '.cache/models/all-minilm-l6-v2');
const SMOLLM2_GGUF = path.join(ROOT, '.cache/models/smollm2-135m-gguf/SmolLM2-135M-Instruct.Q4_1.gguf');

/** The addon's `Tokenizer` class, when this build has one. */
const TokenizerClass = (native as unknown as { Tokenizer?: { load(path: string): ProbeTokenizer } }).Tokenizer;
const tokenizerIf = (model: string) => (TokenizerClass && fs.existsSync(model) ? it : it.skip);

let dir: string;
let cleanup: () => void;
beforeAll(() => ({ dir, cleanup } = tempDir('probe')));
afterAll(() => cleanup());

/** Writes `bytes` (or text) to `name` in the temporary directory and returns its path. */
function fixture(name: string, bytes: Uint8Array | string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** A `.npy` file: `descr` and `shape` in the header, `data` raw; version 1 (u16 length) or 2/3 (u32 length). */
function npy(descr: string, shape: number[], data: Uint8Array, { version = 1, fortran = false } = {}): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  const header = dict + ' '.repeat((64 - ((pre + dict.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(pre);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = version;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function i32(values: number[], bigEndian = false): Uint8Array {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => (bigEndian ? out.writeInt32BE(v, 4 * i) : out.writeInt32LE(v, 4 * i)));
  return out;
}

function i64(values: (number | bigint)[]): Uint8Array {
  const out = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => out.writeBigInt64LE(BigInt(v), 8 * i));
  return out;
}

function f32(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A safetensors file with tensors laid out in the given order. */
function safetensors(tensors: Record<string, { dtype: string; shape: number[]; data: Uint8Array }>): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...Object.values(tensors).map((t) => Buffer.from(t.data))]);
}

const VOCAB = 100;
const ids = (p: { ids: Uint32Array }) => Array.from(p.ids);

describe('.npy probes', () => {
  it('reads int32 and int64 arrays of any shape, flattened in C order', () => {
    const a = readProbe(fixture('a.npy', npy('<i4', [2, 3], i32([1, 2, 3, 4, 5, 99]))), { vocab: VOCAB });
    expect(ids(a)).toEqual([1, 2, 3, 4, 5, 99]);
    expect(a).toMatchObject({ format: 'npy', shape: [2, 3] });
    const b = readProbe(fixture('b.npy', npy('<i8', [2, 1, 2], i64([7, 0, 8, 9]), { version: 2 })), { vocab: VOCAB });
    expect(ids(b)).toEqual([7, 0, 8, 9]);
    expect(b.shape).toEqual([2, 1, 2]);
    expect(ids(readProbe(fixture('c.npy', npy('<i4', [3], i32([4, 5, 6]), { version: 3 })), { vocab: VOCAB }))).toEqual([4, 5, 6]);
    expect(ids(readProbe(fixture('scalar.npy', npy('<i8', [], i64([42]))), { vocab: VOCAB }))).toEqual([42]);
  });

  it('refuses float32, big-endian and Fortran-ordered arrays, naming the file', () => {
    const float = fixture('f.npy', npy('<f4', [3], f32([1, 2, 3])));
    let e = thrown(() => readProbe(float, { vocab: VOCAB }));
    expect(e.code).toBe('NPY_DTYPE');
    expect(e.message).toContain(float);
    expect(e.message).toContain('"<f4"');
    const big = fixture('big.npy', npy('>i4', [3], i32([1, 2, 3], true)));
    e = thrown(() => readProbe(big, { vocab: VOCAB }));
    expect(e.code).toBe('NPY_DTYPE');
    expect(e.message).toMatch(/big-endian/);
    expect(e.message).toContain(big);
    const fortran = fixture('fortran.npy', npy('<i4', [2, 2], i32([1, 2, 3, 4]), { fortran: true }));
    e = thrown(() => readProbe(fortran, { vocab: VOCAB }));
    expect(e.code).toBe('NPY_FORMAT');
    expect(e.message).toMatch(/Fortran order/);
    expect(e.message).toContain(fortran);
  });

  it('refuses malformed files: bad magic, unknown version, truncated data', () => {
    expect(thrown(() => readProbe(fixture('magic.npy', 'not numpy at all'), { vocab: VOCAB })).code).toBe('NPY_FORMAT');
    const v4 = npy('<i4', [1], i32([1]));
    v4[6] = 4;
    expect(thrown(() => readProbe(fixture('v4.npy', v4), { vocab: VOCAB })).message).toMatch(/version 4/);
    const short = npy('<i4', [4], i32([1, 2, 3, 4])).subarray(0, -3);
    const e = thrown(() => readProbe(fixture('short.npy', short), { vocab: VOCAB }));
    expect(e.code).toBe('NPY_FORMAT');
    expect(e.message).toMatch(/needs 16 data bytes, but the file has 13/);
  });

  it('names the file, position, index and id of an id outside the vocabulary', () => {
    const file = fixture('oov.npy', npy('<i4', [2, 3], i32([1, 2, 3, 4, 100, 5])));
    const e = thrown(() => readProbe(file, { vocab: VOCAB }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe(`${file}: id 100 at position 4 (index [1, 1]) is outside the vocabulary [0, 100)`);
    expect(thrown(() => readProbe(fixture('neg.npy', npy('<i4', [2], i32([3, -1]))), { vocab: VOCAB })).message).toMatch(
      /id -1 at position 1 is outside/,
    );
    // An int64 beyond 2^32 is reported exactly.
    const huge = fixture('huge.npy', npy('<i8', [2], i64([1, 2n ** 40n + 3n])));
    expect(thrown(() => readProbe(huge, { vocab: VOCAB })).message).toContain('id 1099511627779 at position 1');
  });

  it('refuses an empty array', () => {
    const file = fixture('empty.npy', npy('<i4', [0, 8], new Uint8Array(0)));
    const e = thrown(() => readProbe(file, { vocab: VOCAB }));
    expect(e.code).toBe('EMPTY_INPUT');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/empty/);
  });
});

describe('.json probes', () => {
  it('reads an array, an array of arrays (concatenated) and {"ids": …}', () => {
    expect(ids(readProbe(fixture('flat.json', '[3, 1, 4, 1, 5]'), { vocab: VOCAB }))).toEqual([3, 1, 4, 1, 5]);
    const rows = readProbe(fixture('rows.json', '[[1, 2], [3, 4], [5, 6]]'), { vocab: VOCAB });
    expect(ids(rows)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows.shape).toEqual([3, 2]);
    const ragged = readProbe(fixture('ragged.json', '[[1], [2, 3, 4], []]'), { vocab: VOCAB });
    expect(ids(ragged)).toEqual([1, 2, 3, 4]);
    expect(ragged.shape).toBeUndefined();
    expect(ids(readProbe(fixture('obj.json', '{"ids": [[9, 8], [7, 6]]}'), { vocab: VOCAB }))).toEqual([9, 8, 7, 6]);
  });

  it('names the file, position and id of a bad entry', () => {
    const file = fixture('oov.json', '[[1, 2], [3, 250]]');
    expect(thrown(() => readProbe(file, { vocab: VOCAB })).message).toBe(
      `${file}: id 250 at position 3 (row 1, column 1) is outside the vocabulary [0, 100)`,
    );
    const frac = fixture('frac.json', '[1, 2.5]');
    const e = thrown(() => readProbe(frac, { vocab: VOCAB }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe(`${frac}: id 2.5 at position 1 is not a token id (a non-negative integer)`);
    expect(thrown(() => readProbe(fixture('str.json', '["7"]'), { vocab: VOCAB })).message).toContain('id "7" at position 0');
  });

  it('refuses empty probes, invalid JSON and other shapes', () => {
    for (const [name, text] of [['e1.json', '[]'], ['e2.json', '[[], []]'], ['e3.json', '{"ids": []}']]) {
      const e = thrown(() => readProbe(fixture(name, text), { vocab: VOCAB }));
      expect(e.code).toBe('EMPTY_INPUT');
      expect(e.message).toContain(name);
    }
    const broken = fixture('broken.json', '[1, 2');
    expect(thrown(() => readProbe(broken, { vocab: VOCAB })).message).toMatch(/broken\.json: not valid JSON/);
    expect(thrown(() => readProbe(fixture('o.json', '{"tokens": [1]}'), { vocab: VOCAB })).message).toMatch(/without "ids"/);
    expect(thrown(() => readProbe(fixture('m.json', '[[1], 2]'), { vocab: VOCAB })).message).toMatch(/row 1 is 2, not an array/);
  });
});

describe('.safetensors probes', () => {
  let file: string;
  beforeAll(() => {
    file = fixture(
      'probe.safetensors',
      safetensors({
        weights: { dtype: 'F32', shape: [2], data: f32([0.5, 1.5]) },
        first: { dtype: 'I64', shape: [2, 2], data: i64([10, 11, 12, 13]) },
        second: { dtype: 'I32', shape: [3], data: i32([20, 21, 22]) },
      }),
    );
  });

  it('reads the first integer tensor, or the named one', () => {
    const first = readProbe(file, { vocab: VOCAB });
    expect(ids(first)).toEqual([10, 11, 12, 13]);
    expect(first).toMatchObject({ format: 'safetensors', source: `${file}:first`, shape: [2, 2] });
    expect(ids(readProbe(`${file}:second`, { vocab: VOCAB }))).toEqual([20, 21, 22]);
    expect(ids(readProbe(`${file}:first`, { vocab: VOCAB }))).toEqual([10, 11, 12, 13]);
  });

  it('names a missing tensor and lists what the file holds', () => {
    const e = thrown(() => readProbe(`${file}:input_ids`, { vocab: VOCAB }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain(file);
    expect(e.message).toContain('no tensor named "input_ids"');
    expect(e.message).toContain('first (I64 [2, 2])');
  });

  it('refuses a float tensor, a file without integer tensors, and a broken header', () => {
    expect(thrown(() => readProbe(`${file}:weights`, { vocab: VOCAB })).message).toMatch(/weights: dtype F32; a probe tensor must be I32 or I64/);
    const floats = fixture('floats.safetensors', safetensors({ w: { dtype: 'F32', shape: [1], data: f32([1]) } }));
    expect(thrown(() => readProbe(floats, { vocab: VOCAB })).message).toMatch(/has no I32 or I64 tensor/);
    const broken = safetensors({ t: { dtype: 'I32', shape: [1], data: i32([1]) } });
    broken.writeBigUInt64LE(10_000n, 0);
    const e = thrown(() => readProbe(fixture('broken.safetensors', broken), { vocab: VOCAB }));
    expect(e.code).toBe('SAFETENSORS_HEADER');
    expect(e.message).toContain('broken.safetensors');
    const lying = fixture('lying.safetensors', safetensors({ t: { dtype: 'I32', shape: [4], data: i32([1]) } }));
    expect(thrown(() => readProbe(lying, { vocab: VOCAB })).code).toBe('SAFETENSORS_HEADER');
  });

  it('names the tensor, position, index and id outside the vocabulary, and refuses an empty tensor', () => {
    const oov = fixture('oov.safetensors', safetensors({ ids: { dtype: 'I64', shape: [2, 2], data: i64([1, 2, 3, 100]) } }));
    expect(thrown(() => readProbe(oov, { vocab: VOCAB })).message).toBe(
      `${oov}:ids: id 100 at position 3 (index [1, 1]) is outside the vocabulary [0, 100)`,
    );
    const empty = fixture('empty.safetensors', safetensors({ ids: { dtype: 'I32', shape: [0], data: new Uint8Array(0) } }));
    expect(thrown(() => readProbe(empty, { vocab: VOCAB })).code).toBe('EMPTY_INPUT');
  });
});

describe('text probes and files', () => {
  it('needs a tokenizer', () => {
    const file = fixture('t.txt', 'Some text.');
    const e = thrown(() => readProbe(file, { vocab: VOCAB }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/needs the model's tokenizer/);
  });

  it('uses the given tokenizer, checks its ids and refuses empty text', () => {
    const fake: ProbeTokenizer = { encode: (text) => Array.from(text, (ch) => ch.charCodeAt(0)) };
    expect(ids(readProbe(fixture('abc.md', 'abc'), { vocab: 128, tokenizer: fake }))).toEqual([97, 98, 99]);
    const file = fixture('oov.txt', 'ab\u00e9');
    expect(thrown(() => readProbe(file, { vocab: 128, tokenizer: fake })).message).toBe(
      `${file} (tokenized): id 233 at position 2 is outside the vocabulary [0, 128)`,
    );
    const blank = fixture('blank.txt', ' \n\n ');
    expect(thrown(() => readProbe(blank, { vocab: 128, tokenizer: fake })).code).toBe('EMPTY_INPUT');
  });

  tokenizerIf(MINILM)('tokenizes with a model tokenizer (all-MiniLM-L6-v2)', () => {
    const tokenizer = TokenizerClass!.load(MINILM);
    const file = fixture('hello.txt', 'The quick brown fox jumps over the lazy dog.');
    const plain = readProbe(file, { vocab: 30522, tokenizer });
    expect(plain.format).toBe('text');
    expect(plain.ids.length).toBeGreaterThanOrEqual(9);
    const special = readProbe(file, { vocab: 30522, tokenizer, addSpecialTokens: true });
    expect(special.ids.length).toBe(plain.ids.length + 2); // [CLS] … [SEP]
    expect(thrown(() => readProbe(file, { vocab: 1000, tokenizer })).message).toMatch(/hello\.txt \(tokenized\): id \d+ at position \d+ is outside the vocabulary \[0, 1000\)/);
  });

  it('names missing files, directories and unknown extensions', () => {
    const missing = path.join(dir, 'nope.npy');
    const e = thrown(() => readProbe(missing, { vocab: VOCAB }));
    expect(e.code).toBe('IO');
    expect(e.message).toBe(`${missing}: cannot read the probe: no such file`);
    fs.mkdirSync(path.join(dir, 'adir.json'));
    expect(thrown(() => readProbe(path.join(dir, 'adir.json'), { vocab: VOCAB })).code).toBe('IO');
    expect(thrown(() => readProbe(path.join(dir, 'missing.safetensors:x'), { vocab: VOCAB })).code).toBe('IO');
    const csv = thrown(() => readProbe(fixture('ids.csv', '1,2'), { vocab: VOCAB }));
    expect(csv.code).toBe('INVALID_ARGUMENT');
    expect(csv.message).toMatch(/unknown probe format ".csv"/);
    expect(thrown(() => readProbe(fixture('x.json', '[1]'), { vocab: 0 })).message).toMatch(/^vocab:/);
  });
});

describe('built-in probe', () => {
  it('ships a text of 4,000 to 5,500 words', () => {
    expect(fs.existsSync(DEFAULT_PROBE_TEXT_PATH)).toBe(true);
    const words = defaultProbeText().split(/\s+/).filter(Boolean).length;
    expect(words).toBeGreaterThanOrEqual(4000);
    expect(words).toBeLessThanOrEqual(5500);
  });

  it('random ids are seeded, uniform over the vocabulary and in range', () => {
    const a = defaultProbe({ vocab: 50, tokens: 20000, seed: 7, kind: 'random' });
    const b = defaultProbe({ vocab: 50, tokens: 20000, seed: 7, kind: 'random' });
    const c = defaultProbe({ vocab: 50, tokens: 20000, seed: 8, kind: 'random' });
    expect(ids(a)).toEqual(ids(b));
    expect(ids(a)).not.toEqual(ids(c));
    expect(a).toMatchObject({ kind: 'random', source: 'builtin:random', format: 'builtin', randomTokens: 20000, textTokens: 0 });
    const counts = new Array<number>(50).fill(0);
    for (const id of a.ids) counts[id]++;
    expect(Math.min(...counts)).toBeGreaterThan(300); // 400 expected per id
    expect(Math.max(...counts)).toBeLessThan(500);
    // A shorter draw with the same seed is a prefix of the longer one.
    expect(ids(defaultProbe({ vocab: 50, tokens: 100, seed: 7, kind: 'random' }))).toEqual(ids(a).slice(0, 100));
  });

  it('without a tokenizer, text and mixed fall back to random with a warning', () => {
    for (const kind of ['text', 'mixed'] as const) {
      const p = defaultProbe({ vocab: 1000, tokens: 64, seed: 1, kind });
      expect(p).toMatchObject({ kind: 'random', requestedKind: kind, randomTokens: 64 });
      expect(p.warning).toMatch(/no tokenizer/);
      expect(ids(p)).toEqual(ids(defaultProbe({ vocab: 1000, tokens: 64, seed: 1, kind: 'random' })));
    }
    expect(defaultProbe({ vocab: 1000, tokens: 8, kind: 'random' }).warning).toBeUndefined();
  });

  it('text repeats to fill the budget; mixed fills it with random ids', () => {
    // A stand-in tokenizer: one id per word, so the lengths are known.
    const fake: ProbeTokenizer = { encode: (text) => text.split(/\s+/).filter(Boolean).map((w) => w.length % 97) };
    const n = defaultProbeText().split(/\s+/).filter(Boolean).length;
    const text = defaultProbe({ vocab: 97, tokens: 2 * n + 5, tokenizer: fake, kind: 'text' });
    expect(text).toMatchObject({ kind: 'text', textTokens: 2 * n + 5, randomTokens: 0, textLength: n });
    expect(ids(text).slice(n, 2 * n)).toEqual(ids(text).slice(0, n));
    expect(ids(text).slice(2 * n)).toEqual(ids(text).slice(0, 5));
    const mixed = defaultProbe({ vocab: 97, tokens: n + 300, tokenizer: fake, kind: 'mixed', seed: 3 });
    expect(mixed).toMatchObject({ kind: 'mixed', textTokens: n, randomTokens: 300 });
    expect(ids(mixed).slice(0, n)).toEqual(ids(text).slice(0, n));
    expect(ids(mixed).slice(n)).toEqual(ids(defaultProbe({ vocab: 97, tokens: 300, seed: 3, kind: 'random' })));
    const short = defaultProbe({ vocab: 97, tokens: 10, tokenizer: fake, kind: 'mixed' });
    expect(short).toMatchObject({ textTokens: 10, randomTokens: 0 });
  });

  it('exports the kinds and checks its arguments', () => {
    expect(PROBE_KINDS).toEqual(['text', 'random', 'mixed']);
    expect(PROBE_KINDS).toContain(DEFAULT_PROBE_KIND);
    expect(thrown(() => defaultProbe({ vocab: 10, tokens: 0 })).message).toMatch(/^tokens:/);
    expect(thrown(() => defaultProbe({ vocab: 10, tokens: 5, seed: -1 })).message).toMatch(/^seed:/);
    expect(thrown(() => defaultProbe({ vocab: 10, tokens: 5, kind: 'poetry' as never })).message).toMatch(/^kind:/);
  });

  it('loadProbe picks the built-in probe or a file', () => {
    expect(loadProbe(undefined, { vocab: 10, tokens: 4 }).source).toBe('builtin:random'); // no tokenizer
    expect(loadProbe('builtin:random', { vocab: 10, tokens: 4, seed: 2 }).ids).toEqual(
      defaultProbe({ vocab: 10, tokens: 4, seed: 2, kind: 'random' }).ids,
    );
    expect(thrown(() => loadProbe('builtin:poetry', { vocab: 10, tokens: 4 })).message).toMatch(/builtin:text, builtin:random, builtin:mixed/);
    expect(ids(loadProbe(fixture('l.json', '[1, 2]'), { vocab: 10, tokens: 4 }))).toEqual([1, 2]);
  });

  tokenizerIf(SMOLLM2_GGUF)("the text is at least 4,000 SmolLM2 tokens and the text probe is SmolLM2's encoding of it", () => {
    const tokenizer = TokenizerClass!.load(SMOLLM2_GGUF);
    const encoded = tokenizer.encode(defaultProbeText(), false);
    expect(encoded.length).toBeGreaterThanOrEqual(4000);
    expect(new Set(Array.from(encoded)).size).toBeGreaterThan(1500); // a varied vocabulary
    const p = defaultProbe({ vocab: 49152, tokens: encoded.length + 1000, tokenizer, kind: 'mixed' });
    expect(p).toMatchObject({ kind: 'mixed', textTokens: encoded.length, randomTokens: 1000, textLength: encoded.length });
    expect(ids(p).slice(0, encoded.length)).toEqual(Array.from(encoded));
  });
});

describe('packing', () => {
  const seq = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

  it('cuts rows of contextLength, groups batchSize rows, and drops the last partial row', () => {
    const p = packProbe(seq(23), { contextLength: 4, batchSize: 2 });
    expect(p).toMatchObject({ rows: 5, used: 20, dropped: 3, overBudget: 0, partialRow: 3, contextLength: 4 });
    expect(p.batches.map((b) => [b.batch, b.seq, b.ids.length])).toEqual([[2, 4, 8], [2, 4, 8], [1, 4, 4]]);
    expect(p.batches.flatMap((b) => Array.from(b.ids))).toEqual(Array.from(seq(20)));
  });

  it('never uses more than the token budget', () => {
    const p = packProbe(seq(1000), { contextLength: 16, batchSize: 3, tokenBudget: 100 });
    expect(p).toMatchObject({ rows: 6, used: 96, dropped: 904, overBudget: 900, partialRow: 4 });
    expect(p.batches.reduce((s, b) => s + b.ids.length, 0)).toBe(96);
    for (const budget of [16, 17, 31, 32, 1000, 5000]) {
      const q = packProbe(seq(1000), { contextLength: 16, batchSize: 4, tokenBudget: budget });
      expect(q.used).toBeLessThanOrEqual(budget);
      expect(q.used).toBe(16 * Math.floor(Math.min(1000, budget) / 16));
      expect(q.used + q.dropped).toBe(1000);
    }
  });

  it('exact fits drop nothing, and batches are independent of the input', () => {
    const input = seq(12);
    const p = packProbe(input, { contextLength: 3, batchSize: 4 });
    expect(p).toMatchObject({ rows: 4, used: 12, dropped: 0 });
    expect(p.batches).toHaveLength(1);
    input[0] = 99;
    expect(p.batches[0].ids[0]).toBe(0);
    expect(packProbe([5, 6, 7], { contextLength: 3, batchSize: 1 }).batches[0].ids).toEqual(Uint32Array.from([5, 6, 7]));
  });

  it('says how many ids are needed when not one row fits', () => {
    let e = thrown(() => packProbe(seq(10), { contextLength: 16, batchSize: 2, source: 'tiny.json' }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe('tiny.json: 10 ids do not fill one row of contextLength 16; at least 16 ids are needed (give a longer probe or lower the context length)');
    e = thrown(() => packProbe(seq(100), { contextLength: 16, batchSize: 2, tokenBudget: 8 }));
    expect(e.message).toMatch(/8 ids within the token budget of 8 do not fill one row .* at least 16 ids are needed \(raise the token budget/);
  });

  it('checks its arguments', () => {
    for (const [name, opts] of [
      ['contextLength', { contextLength: 0, batchSize: 1 }],
      ['batchSize', { contextLength: 4, batchSize: 1.5 }],
      ['tokenBudget', { contextLength: 4, batchSize: 1, tokenBudget: -3 }],
    ] as const) {
      expect(thrown(() => packProbe(seq(8), opts)).message).toMatch(new RegExp(`^${name}:`));
    }
  });
});
