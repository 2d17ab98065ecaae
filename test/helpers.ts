/**
 * Shared helpers of the jest suite: a seeded PRNG independent of the addon's, error capture that works across
 * jest's vm realm (addon errors fail `instanceof Error` there, so tests read `err.code`), dense signed-permutation
 * matrices built straight from GAUGE.md §2, and temporary directories.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** mulberry32: a small seeded generator on [0, 1), so test data does not depend on the code under test. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniformly random permutation of 0..d (Fisher-Yates). */
export function randomPerm(d: number, next: () => number): number[] {
  const p = Array.from({ length: d }, (_, i) => i);
  for (let i = d - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The error `f` throws; fails the test when it returns normally. */
export function thrown(f: () => unknown): { code?: string; message: string } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected the call to throw, but it returned');
}

/** The reason `p` rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected the Promise to reject, but it resolved');
}

/** The dense `d x d` matrix `G[perm[i], i] = sign[i]` (GAUGE.md §2), row-major. */
export function gaugeMatrix(perm: ArrayLike<number>, sign: ArrayLike<number>): number[][] {
  const d = perm.length;
  const g = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (let i = 0; i < d; i++) g[perm[i]][i] = sign[i];
  return g;
}

/** `a · b` for dense matrices given as arrays of rows. */
export function matmul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, x, k) => s + x * b[k][j], 0)));
}

/** The transpose of a dense matrix. */
export function transpose(a: number[][]): number[][] {
  return a[0].map((_, j) => a.map((row) => row[j]));
}

/** A row-major flat array as an array of `cols`-long rows, with -0 read as 0 (matrix products never make -0). */
export function rows(flat: ArrayLike<number>, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r * cols < flat.length; r++) out.push(Array.from({ length: cols }, (_, c) => flat[r * cols + c] + 0));
  return out;
}

/** A fresh temporary directory; `cleanup` removes it and everything in it. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gauge-transport-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A planted `d x d` correlation matrix: `C[i, perm[i]] = sign[i] * 0.9 + u`, every other entry `u`, with `u`
 * uniform on [-noise, noise]. With `noise < 0.2` every correct pair beats every alternative by more than 0.5.
 */
export function plantedCorrelation(
  perm: ArrayLike<number>,
  sign: ArrayLike<number>,
  noise: number,
  seed: number,
): Float32Array {
  const d = perm.length;
  const next = rng(seed);
  const c = new Float32Array(d * d);
  for (let t = 0; t < c.length; t++) c[t] = (2 * next() - 1) * noise;
  for (let i = 0; i < d; i++) c[i * d + perm[i]] += sign[i] * 0.9;
  return c;
}

/** Bytes of a format 1.0 `.npy` file: magic, version, u16 header length, padded header dict, raw data. */
export function npyBytes(descr: string, shape: number[], data: Uint8Array): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // The whole preamble (10 bytes + header) is padded to a multiple of 64 and the header ends with a newline.
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Little-endian bytes of a float array in `<f4` or `<f8`. */
export function floatBytes(values: ArrayLike<number>, width: 4 | 8): Uint8Array {
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (width === 4) view.setFloat32(i * width, values[i], true);
    else view.setFloat64(i * width, values[i], true);
  }
  return out;
}

/** A tensor of a safetensors file, as tests build and read them. */
export interface StTensor {
  dtype: 'F32' | 'I64' | 'I8';
  shape: number[];
  data: Float32Array | BigInt64Array | Int8Array;
}

/** Writes a safetensors file (8-byte header length, JSON header, data) with the given tensors, by the format's spec. */
export function writeSafetensors(file: string, tensors: Record<string, StTensor>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json, 'utf8'), ...parts]));
}

/** Reads the F32 tensors and the metadata of a safetensors file. */
export function readSafetensors(file: string): { tensors: Record<string, { shape: number[]; data: Float32Array }>; metadata: Record<string, string> } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  let metadata: Record<string, string> = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = t as unknown as Record<string, string>;
      continue;
    }
    if (t.dtype !== 'F32') continue;
    const start = 8 + n + t.data_offsets[0];
    const bytes = buf.subarray(start, 8 + n + t.data_offsets[1]);
    tensors[name] = { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
  }
  return { tensors, metadata };
}
