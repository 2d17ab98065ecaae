/**
 * `readProbe`: a probe from a file, by extension: `.txt`/`.md` (tokenized with the model's tokenizer), `.json`
 * (an array of ids, an array of arrays, or `{"ids": …}`), `.npy` (int32/int64) or `.safetensors`
 * (`file.safetensors[:tensor]`, I32/I64). Every id is checked against the vocabulary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError, invalidArgument } from '../errors';
import { badId, checkVocab, collectIds, emptyProbe, type Probe, type ProbeTokenizer } from './ids';
import { parseNpyIds } from './npy';
import { readSafetensorsIds, splitSafetensorsSpec } from './safetensors';

/** Options of {@link readProbe}. */
export interface ReadProbeOptions {
  /** The model's vocabulary size: every id must lie in `[0, vocab)`. */
  vocab: number;
  /** The model's tokenizer, required for text probes. */
  tokenizer?: ProbeTokenizer;
  /**
   * Let the tokenizer add its special tokens (BOS …) to a text probe. Off by default: a probe is packed into rows
   * that mostly start mid-text anyway, and a lone BOS gives one outlier position.
   */
  addSpecialTokens?: boolean;
}

/** The file extensions {@link readProbe} reads. */
export const PROBE_EXTENSIONS = ['.txt', '.md', '.json', '.npy', '.safetensors'] as const;

/**
 * Reads the probe `spec`: a file path, or `file.safetensors:tensor`. Throws `IO` for unreadable files,
 * `EMPTY_INPUT` for a probe without ids, `NPY_FORMAT`/`NPY_DTYPE`/`SAFETENSORS_HEADER` for malformed or
 * unsupported arrays, and `INVALID_ARGUMENT` for ids outside the vocabulary (naming the file, position and id),
 * text without a tokenizer, malformed JSON and unknown extensions.
 */
export function readProbe(spec: string, options: ReadProbeOptions): Probe {
  checkVocab(options.vocab);
  const { file, tensor } = splitSafetensorsSpec(spec);
  const ext = path.extname(file).toLowerCase();
  try {
    switch (ext) {
      case '.txt':
      case '.md':
        return { ids: readText(file, options), source: file, format: 'text' };
      case '.json':
        return { ...readJson(file, options.vocab), source: file, format: 'json' };
      case '.npy':
        return { ...parseNpyIds(fs.readFileSync(file), file, options.vocab), source: file, format: 'npy' };
      case '.safetensors': {
        const r = readSafetensorsIds(file, tensor, options.vocab);
        return { ids: r.ids, shape: r.shape, source: `${file}:${r.tensor}`, format: 'safetensors' };
      }
      default:
        throw invalidArgument(spec, `unknown probe format ${JSON.stringify(ext || '(no extension)')}; expected one of ${PROBE_EXTENSIONS.join(', ')}`);
    }
  } catch (e) {
    throw asIoError(e, file);
  }
}

/** Node's system errors (ENOENT, EISDIR, …) as `IO` errors naming the file; ours pass through. */
function asIoError(e: unknown, file: string): unknown {
  if (e instanceof GaugeTransportError) return e;
  const err = e as { syscall?: unknown; code?: unknown; message?: unknown };
  if (typeof err?.syscall === 'string') {
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory, not a file' : String(err.message);
    return new GaugeTransportError('IO', `${file}: cannot read the probe: ${why}`);
  }
  return e;
}

function readText(file: string, { tokenizer, vocab, addSpecialTokens = false }: ReadProbeOptions): Uint32Array {
  if (!tokenizer) {
    throw invalidArgument(
      file,
      "a text probe needs the model's tokenizer, and there is none (no tokenizer.json beside the model); " +
        'give token ids instead (.json, .npy or .safetensors)',
    );
  }
  const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') throw emptyProbe(file, 'the file has no text');
  const ids = tokenizer.encode(text, addSpecialTokens);
  if (ids.length === 0) throw emptyProbe(file, 'the text tokenizes to no ids');
  return collectIds(ids.length, (i) => ids[i], vocab, `${file} (tokenized)`);
}

function readJson(file: string, vocab: number): { ids: Uint32Array; shape?: number[] } {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw invalidArgument(file, `not valid JSON (${e.message})`);
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'ids' in value) {
    value = (value as { ids: unknown }).ids;
  }
  const form = 'expected an array of ids, an array of arrays of ids, or {"ids": …}';
  if (!Array.isArray(value)) throw invalidArgument(file, `${form}, got ${typeof value === 'object' ? 'an object without "ids"' : typeof value}`);
  if (value.length === 0) throw emptyProbe(file, 'an empty array');
  if (!Array.isArray(value[0])) return { ids: collectIds(value.length, (i) => value[i], vocab, file) };

  // Rows, possibly of different lengths, concatenated in order; positions are [row, column].
  const rows = value as unknown[];
  let total = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (!Array.isArray(row)) throw invalidArgument(file, `row ${r} is ${JSON.stringify(row)}, not an array; ${form}`);
    total += row.length;
  }
  if (total === 0) throw emptyProbe(file, `${rows.length} empty rows`);
  const out = new Uint32Array(total);
  let pos = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as unknown[];
    for (let c = 0; c < row.length; c++, pos++) {
      const v = row[c];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocab) {
        throw badId(file, pos, v, vocab, ` (row ${r}, column ${c})`);
      }
      out[pos] = v;
    }
  }
  const rect = rows.every((row) => (row as unknown[]).length === (rows[0] as unknown[]).length);
  return { ids: out, shape: rect ? [rows.length, (rows[0] as unknown[]).length] : undefined };
}
