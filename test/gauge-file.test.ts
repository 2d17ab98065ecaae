/**
 * The gauge file of GAUGE.md §2: round trips, atomic no-clobber writes, and rejection of corrupt or contract-breaking
 * files. Contract-breaking files are built byte by byte here (safetensors: 8-byte little-endian header length, JSON
 * header, data), so the reader is tested against the format, not against the writer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Gauge } from '../src';
import { readGauge } from '../src/gauge';
import { rng, tempDir, thrown } from './helpers';

type TensorSpec = { dtype: string; shape: number[]; data: Uint8Array };

/** A safetensors file: tensors laid out in the given order, `metadata` as `__metadata__`. */
function safetensorsBytes(tensors: Record<string, TensorSpec>, metadata: Record<string, string> | null): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
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

function i64Bytes(values: number[]): Uint8Array {
  const out = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => out.writeBigInt64LE(BigInt(v), 8 * i));
  return out;
}

function i8Bytes(values: number[]): Uint8Array {
  return Uint8Array.from(values.map((v) => v & 0xff));
}

const GAUGE_METADATA = { format: 'gauge-transport/gauge', version: '1', group: 'Bd' };

/** A gauge file with the given perm and sign entries, valid in every other respect. */
function gaugeFileBytes(perm: number[], sign: number[], metadata: Record<string, string> = GAUGE_METADATA): Buffer {
  return safetensorsBytes(
    {
      perm: { dtype: 'I64', shape: [perm.length], data: i64Bytes(perm) },
      sign: { dtype: 'I8', shape: [sign.length], data: i8Bytes(sign) },
    },
    metadata,
  );
}

/** Parses a safetensors file's header and tensors, for checking what the writer produced. */
function parseSafetensors(bytes: Buffer): { header: Record<string, any>; data: Buffer } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), data: bytes.subarray(8 + n) };
}

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('file')));
afterEach(() => cleanup());

describe('round trip', () => {
  test('write then read gives the same perm and sign, and readMetadata the same provenance', () => {
    const file = path.join(dir, 'g.safetensors');
    const g = Gauge.random(97, { seed: 8, positiveFraction: 0.3 });
    g.write(file, { source: 'ckpt-A', target: 'ckpt-B', method: 'marginalized' });
    const back = Gauge.read(file);
    expect(Array.from(back.perm)).toEqual(Array.from(g.perm));
    expect(Array.from(back.sign)).toEqual(Array.from(g.sign));
    expect(back.equals(g)).toBe(true);
    expect(readGauge(file).equals(g)).toBe(true);
    expect(Gauge.readMetadata(file)).toEqual({ source: 'ckpt-A', target: 'ckpt-B', method: 'marginalized' });
  });

  test('metadata is optional, and absent fields read back as absent', () => {
    const file = path.join(dir, 'g.safetensors');
    Gauge.identity(3).write(file);
    expect(Gauge.read(file).equals(Gauge.identity(3))).toBe(true);
    const meta = Gauge.readMetadata(file);
    expect(meta.source).toBeUndefined();
    expect(meta.target).toBeUndefined();
    expect(meta.method).toBeUndefined();
  });

  test('the written file follows the format: perm I64 [d], sign I8 [d], format, version and group metadata', () => {
    const file = path.join(dir, 'g.safetensors');
    const g = Gauge.fromArrays(Uint32Array.from([2, 0, 3, 1]), Int8Array.from([1, -1, -1, 1]));
    g.write(file, { method: 'test' });
    const { header, data } = parseSafetensors(fs.readFileSync(file));
    expect(header.__metadata__).toEqual({ ...GAUGE_METADATA, method: 'test' });
    expect(header.perm.dtype).toBe('I64');
    expect(header.perm.shape).toEqual([4]);
    expect(header.sign.dtype).toBe('I8');
    expect(header.sign.shape).toEqual([4]);
    const [ps, pe] = header.perm.data_offsets;
    const [ss, se] = header.sign.data_offsets;
    const perm = Array.from({ length: 4 }, (_, i) => Number(data.readBigInt64LE(ps + 8 * i)));
    expect(pe - ps).toBe(32);
    expect(perm).toEqual([2, 0, 3, 1]);
    expect(se - ss).toBe(4);
    expect(Array.from(data.subarray(ss, se), (b) => (b << 24) >> 24)).toEqual([1, -1, -1, 1]);
  });

  test.each([
    ['Sd', [1, 1, 1]],
    ['±Sd', [-1, -1, -1]],
    ['Bd', [1, -1, 1]],
  ])('the group metadata of a %s gauge is %s', (group, sign) => {
    const file = path.join(dir, 'g.safetensors');
    Gauge.fromArrays(Uint32Array.from([1, 2, 0]), Int8Array.from(sign)).write(file);
    expect(parseSafetensors(fs.readFileSync(file)).header.__metadata__.group).toBe(group);
  });

  test('a handcrafted valid file reads back as the gauge it spells', () => {
    const file = path.join(dir, 'hand.safetensors');
    fs.writeFileSync(file, gaugeFileBytes([2, 0, 1], [-1, 1, 1]));
    expect(Gauge.read(file).equals(Gauge.fromArrays(Uint32Array.from([2, 0, 1]), Int8Array.from([-1, 1, 1])))).toBe(
      true,
    );
  });
});

describe('no-clobber writes', () => {
  test('a second write without overwrite is OUTPUT_EXISTS, naming the path, and leaves the file unchanged', () => {
    const file = path.join(dir, 'g.safetensors');
    Gauge.random(32, { seed: 1 }).write(file, { method: 'first' });
    const before = fs.readFileSync(file);
    const err = thrown(() => Gauge.random(32, { seed: 2 }).write(file, { method: 'second' }));
    expect(err.code).toBe('OUTPUT_EXISTS');
    expect(err.message).toContain(file);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(thrown(() => Gauge.random(32, { seed: 2 }).write(file, null, { overwrite: false })).code).toBe(
      'OUTPUT_EXISTS',
    );
    expect(fs.readdirSync(dir)).toEqual(['g.safetensors']);
  });

  test('overwrite replaces the file and leaves no temporary file behind', () => {
    const file = path.join(dir, 'g.safetensors');
    Gauge.random(32, { seed: 1 }).write(file, { method: 'first' });
    const second = Gauge.random(32, { seed: 2 });
    second.write(file, { method: 'second' }, { overwrite: true });
    expect(Gauge.read(file).equals(second)).toBe(true);
    expect(Gauge.readMetadata(file).method).toBe('second');
    expect(fs.readdirSync(dir)).toEqual(['g.safetensors']);
  });

  test('a write into a missing directory is IO and creates nothing', () => {
    const file = path.join(dir, 'missing', 'g.safetensors');
    expect(thrown(() => Gauge.identity(4).write(file)).code).toBe('IO');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  // The error names the path the caller passed, not the hidden temporary sibling the write goes through.
  test('the IO error of a write into a missing directory names the requested path', () => {
    const file = path.join(dir, 'missing', 'g.safetensors');
    expect(thrown(() => Gauge.identity(4).write(file)).message).toContain(file);
  });
});

describe('corrupt files', () => {
  test('random bytes are SAFETENSORS_HEADER, naming the file', () => {
    const file = path.join(dir, 'noise.safetensors');
    const next = rng(99);
    fs.writeFileSync(file, Uint8Array.from({ length: 256 }, () => Math.floor(next() * 256)));
    const err = thrown(() => Gauge.read(file));
    expect(err.code).toBe('SAFETENSORS_HEADER');
    expect(err.message).toContain(file);
  });

  test.each([
    ['one byte short', (n: number) => n - 1],
    ['cut inside the header', () => 20],
    ['shorter than the length prefix', () => 4],
    ['empty', () => 0],
  ])('a truncated gauge file (%s) is SAFETENSORS_HEADER, naming the file', (_, keep) => {
    const file = path.join(dir, 'g.safetensors');
    Gauge.random(16, { seed: 3 }).write(file);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, keep(bytes.length)));
    const err = thrown(() => Gauge.read(file));
    expect(err.code).toBe('SAFETENSORS_HEADER');
    expect(err.message).toContain(file);
    expect(thrown(() => Gauge.readMetadata(file)).code).toBe('SAFETENSORS_HEADER');
  });

  test('a missing file is IO, naming the file', () => {
    const file = path.join(dir, 'absent.safetensors');
    const err = thrown(() => Gauge.read(file));
    expect(err.code).toBe('IO');
    expect(err.message).toContain(file);
  });
});

describe('valid safetensors that break the gauge contract', () => {
  function readError(bytes: Buffer): { code?: string; message: string } {
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, bytes);
    const err = thrown(() => Gauge.read(file));
    expect(err.message).toContain(file);
    // readMetadata validates the whole file too.
    expect(thrown(() => Gauge.readMetadata(file)).code).toBe(err.code);
    return err;
  }

  test('a perm with a repeated entry is GAUGE_NOT_PERMUTATION', () => {
    const err = readError(gaugeFileBytes([0, 2, 2], [1, 1, -1]));
    expect(err.code).toBe('GAUGE_NOT_PERMUTATION');
    expect(err.message).toContain('perm[1] = perm[2] = 2');
  });

  test.each([[[0, 1, 3]], [[0, -1, 2]], [[0, 2 ** 33, 1]]])('a perm entry out of range (%j) is GAUGE_NOT_PERMUTATION', (perm) => {
    expect(readError(gaugeFileBytes(perm, [1, 1, -1])).code).toBe('GAUGE_NOT_PERMUTATION');
  });

  test('a sign entry 0 is GAUGE_BAD_SIGN, naming the entry', () => {
    const err = readError(gaugeFileBytes([1, 0, 2], [1, 0, -1]));
    expect(err.code).toBe('GAUGE_BAD_SIGN');
    expect(err.message).toContain('sign[1] = 0');
  });

  test('perm and sign of different lengths are SHAPE_MISMATCH', () => {
    expect(readError(gaugeFileBytes([1, 0, 2], [1, -1])).code).toBe('SHAPE_MISMATCH');
  });

  test.each([
    ['a foreign format', { ...GAUGE_METADATA, format: 'something-else' }],
    ['no format', { version: '1', group: 'Bd' }],
    ['another version', { ...GAUGE_METADATA, version: '2' }],
    ['no group', { format: 'gauge-transport/gauge', version: '1' }],
    ['an unknown group', { ...GAUGE_METADATA, group: 'O(d)' }],
    ['group Sd although a sign is -1', { ...GAUGE_METADATA, group: 'Sd' }],
  ])('metadata with %s is GAUGE_FILE', (_, metadata) => {
    expect(readError(gaugeFileBytes([1, 0, 2], [1, -1, 1], metadata)).code).toBe('GAUGE_FILE');
  });

  test('no metadata at all is GAUGE_FILE', () => {
    const bytes = safetensorsBytes(
      {
        perm: { dtype: 'I64', shape: [2], data: i64Bytes([1, 0]) },
        sign: { dtype: 'I8', shape: [2], data: i8Bytes([1, 1]) },
      },
      null,
    );
    expect(readError(bytes).code).toBe('GAUGE_FILE');
  });

  test('a perm stored as I32 is GAUGE_FILE', () => {
    const bytes = safetensorsBytes(
      {
        perm: { dtype: 'I32', shape: [2], data: Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]) },
        sign: { dtype: 'I8', shape: [2], data: i8Bytes([1, 1]) },
      },
      GAUGE_METADATA,
    );
    expect(readError(bytes).code).toBe('GAUGE_FILE');
  });

  test('a missing sign tensor and an extra tensor are GAUGE_FILE', () => {
    const perm = { dtype: 'I64', shape: [2], data: i64Bytes([1, 0]) };
    const sign = { dtype: 'I8', shape: [2], data: i8Bytes([1, -1]) };
    expect(readError(safetensorsBytes({ perm }, GAUGE_METADATA)).code).toBe('GAUGE_FILE');
    const extra = { dtype: 'I8', shape: [1], data: i8Bytes([0]) };
    expect(readError(safetensorsBytes({ perm, sign, extra }, GAUGE_METADATA)).code).toBe('GAUGE_FILE');
  });
});
