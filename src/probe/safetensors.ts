/**
 * Token ids from a safetensors file: the named tensor (`file.safetensors:name`) or, without a name, the first
 * I32 or I64 tensor in file order (smallest data offset), flattened. Only the header and that tensor are read, so
 * a large checkpoint-sized file is fine.
 */
import * as fs from 'node:fs';
import { GaugeTransportError, invalidArgument } from '../errors';
import { badId, collectIds, indexOf } from './ids';

/** Headers larger than this are refused (the safetensors format's own limit). */
const MAX_HEADER = 100_000_000;

const WIDTHS: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
};

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Splits `file.safetensors:tensor` into the file and the tensor name (absent when the spec is a plain path). */
export function splitSafetensorsSpec(spec: string): { file: string; tensor?: string } {
  const at = spec.toLowerCase().lastIndexOf('.safetensors:');
  if (at < 0) return { file: spec };
  const file = spec.slice(0, at + '.safetensors'.length);
  const tensor = spec.slice(file.length + 1);
  if (tensor === '') throw invalidArgument(spec, 'the tensor name after ":" is empty');
  return { file, tensor };
}

function describe(entries: Entry[]): string {
  const shown = entries.slice(0, 8).map((e) => `${e.name} (${e.dtype} [${e.shape.join(', ')}])`);
  if (entries.length > 8) shown.push(`and ${entries.length - 8} more`);
  return shown.length ? shown.join(', ') : 'no tensors';
}

/** Reads `tensor` (or the first integer tensor) of the safetensors file `file` as ids below `vocab`. */
export function readSafetensorsIds(
  file: string,
  tensor: string | undefined,
  vocab: number,
): { ids: Uint32Array; shape: number[]; tensor: string } {
  const bad = (reason: string) => new GaugeTransportError('SAFETENSORS_HEADER', `${file}: invalid safetensors: ${reason}`);
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const pre = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, pre, 0, 8, 0) !== 8) throw bad(`${size} bytes is too short for the 8-byte header length`);
    const n = Number(pre.readBigUInt64LE(0));
    if (n > MAX_HEADER || n > size - 8) throw bad(`header length ${n} exceeds the file (${size} bytes) or the 100 MB limit`);
    const headerBytes = Buffer.alloc(n);
    fs.readSync(fd, headerBytes, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch (e) {
      throw bad(`header is not JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header is not a JSON object');
    const dataLen = size - 8 - n;
    const entries: Entry[] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const shape = t?.shape;
      const offsets = t?.data_offsets;
      if (
        typeof t?.dtype !== 'string' ||
        !Array.isArray(shape) ||
        !shape.every((s) => Number.isSafeInteger(s) && s >= 0) ||
        !Array.isArray(offsets) ||
        offsets.length !== 2 ||
        !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
      ) {
        throw bad(`tensor ${JSON.stringify(name)} lacks a string dtype, an integer shape or two data_offsets`);
      }
      const [begin, end] = offsets as number[];
      const width = WIDTHS[t.dtype];
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      if (begin > end || end > dataLen || (width !== undefined && end - begin !== count * width)) {
        throw bad(
          `tensor ${JSON.stringify(name)}: data_offsets [${begin}, ${end}] do not hold ${t.dtype} [${shape.join(', ')}] ` +
            `within the ${dataLen} data bytes`,
        );
      }
      entries.push({ name, dtype: t.dtype, shape: shape as number[], begin, end });
    }
    const isInt = (e: Entry) => e.dtype === 'I32' || e.dtype === 'I64';
    let entry: Entry | undefined;
    if (tensor !== undefined) {
      entry = entries.find((e) => e.name === tensor);
      if (!entry) throw invalidArgument(file, `has no tensor named ${JSON.stringify(tensor)}; it holds ${describe(entries)}`);
      if (!isInt(entry)) {
        throw invalidArgument(`${file}:${tensor}`, `dtype ${entry.dtype}; a probe tensor must be I32 or I64 token ids`);
      }
    } else {
      entry = entries.filter(isInt).sort((a, b) => a.begin - b.begin)[0];
      if (!entry) throw invalidArgument(file, `has no I32 or I64 tensor to read ids from; it holds ${describe(entries)}`);
    }
    const source = `${file}:${entry.name}`;
    const data = Buffer.alloc(entry.end - entry.begin);
    if (data.length > 0) fs.readSync(fd, data, 0, data.length, 8 + n + entry.begin);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const get =
      entry.dtype === 'I32'
        ? (i: number) => view.getInt32(4 * i, true)
        : (i: number) => {
            if (view.getInt32(8 * i + 4, true) !== 0) throw badId(source, i, view.getBigInt64(8 * i, true), vocab, indexOf(i, entry.shape));
            return view.getUint32(8 * i, true);
          };
    return { ids: collectIds(count, get, vocab, source, entry.shape), shape: entry.shape, tensor: entry.name };
  } finally {
    fs.closeSync(fd);
  }
}
