/**
 * Token ids from NumPy `.npy` files (format versions 1-3): little-endian int32 (`<i4`) or int64 (`<i8`) arrays of
 * any shape in C order, flattened. Other dtypes, big-endian data and Fortran order are refused, naming the file.
 */
import { GaugeTransportError } from '../errors';
import { badId, collectIds, indexOf } from './ids';

const MAGIC = '\x93NUMPY';

/** Ids and shape of a `.npy` file's bytes; `file` names it in errors. */
export function parseNpyIds(bytes: Uint8Array, file: string, vocab: number): { ids: Uint32Array; shape: number[] } {
  const bad = (reason: string) => new GaugeTransportError('NPY_FORMAT', `${file}: invalid .npy: ${reason}`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== MAGIC) throw bad('missing the \\x93NUMPY magic string');
  const version = buf[6];
  let headerLen: number;
  let start: number;
  if (version === 1) {
    headerLen = buf.readUInt16LE(8);
    start = 10;
  } else if ((version === 2 || version === 3) && buf.length >= 12) {
    headerLen = buf.readUInt32LE(8);
    start = 12;
  } else {
    throw bad(`unsupported format version ${version}.${buf[7]} (expected 1.0, 2.0 or 3.0)`);
  }
  const dataStart = start + headerLen;
  if (dataStart > buf.length) throw bad(`header of ${headerLen} bytes runs past the end of the file (${buf.length} bytes)`);
  const header = buf.toString(version === 3 ? 'utf8' : 'latin1', start, dataStart).trim();
  if (!header.startsWith('{') || !header.endsWith('}')) throw bad(`header is not a dictionary: ${JSON.stringify(header)}`);

  if (/['"]descr['"]\s*:\s*\[/.test(header)) {
    throw new GaugeTransportError('NPY_DTYPE', `${file}: unsupported .npy dtype (a structured dtype); expected '<i4' (int32) or '<i8' (int64)`);
  }
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  if (descr === undefined) throw bad(`header has no 'descr': ${header}`);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  if (fortran === undefined) throw bad(`header has no 'fortran_order': ${header}`);
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw bad(`header has no 'shape' tuple: ${header}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      const n = Number(s);
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) throw bad(`shape entry ${JSON.stringify(s)} is not a length`);
      return n;
    });

  const width = descr === '<i4' ? 4 : descr === '<i8' ? 8 : 0;
  if (width === 0) {
    const bigEndian = /^>[iu]\d$/.test(descr) ? ' (big-endian)' : '';
    throw new GaugeTransportError(
      'NPY_DTYPE',
      `${file}: unsupported .npy dtype ${JSON.stringify(descr)}${bigEndian}; expected '<i4' (int32) or '<i8' (int64), little-endian`,
    );
  }
  if (fortran === 'True') {
    throw bad("the array is in Fortran order (fortran_order: True); save it in C order (numpy.ascontiguousarray) so that it flattens row by row");
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const dataLen = buf.length - dataStart;
  if (dataLen !== count * width) {
    throw bad(`shape [${shape.join(', ')}] of ${descr} needs ${count * width} data bytes, but the file has ${dataLen}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset + dataStart, dataLen);
  const get =
    width === 4
      ? (i: number) => view.getInt32(4 * i, true)
      : (i: number) => {
          const hi = view.getInt32(8 * i + 4, true);
          // Ids fit in 32 bits; anything else is reported exactly, as a bigint.
          if (hi !== 0) throw badId(file, i, view.getBigInt64(8 * i, true), vocab, indexOf(i, shape));
          return view.getUint32(8 * i, true);
        };
  return { ids: collectIds(count, get, vocab, file, shape), shape };
}
