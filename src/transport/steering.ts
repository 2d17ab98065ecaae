/**
 * Steering vectors (residual site): `v' = g·v` (GAUGE.md §4), from safetensors (every tensor's last axis), `.npy`
 * (`[d]` or `[k, d]`), JSON, or a llama.cpp control vector (`.gguf`: `direction.N` is added after block N,
 * counting from 1, i.e. at the residual site `h_N`; every metadata key and tensor is kept). A vector whose length
 * is not d lives in another chart and is refused with the reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../native');
import { invalidArgument } from '../errors';
import type { Gauge } from '../gauge';
import { checkOutput, readJson, writeAtomic } from '../files';
import type { TransportFileOptions } from './options';

/** `g·v` for a residual vector given as numbers, checked to have length d. */
export function moveVector(g: Gauge, v: unknown, where: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw invalidArgument(where, 'is not an array of finite numbers');
  }
  if (v.length !== g.d) {
    throw invalidArgument(
      where,
      `has length ${v.length}, but a residual vector has the model's d = ${g.d}; a vector of another length lives in another chart (MLP neurons, attention heads), which the residual gauge cannot move`,
    );
  }
  return Array.from(g.applyAxis(Float32Array.from(v as number[]), [g.d], 0, true));
}

/**
 * Moves steering vectors by `gauge` from `input` to `out` (same format, chosen by extension): `.safetensors`
 * (every tensor's last axis), `.npy` (`[d]` or `[k, d]`), `.gguf` (a llama.cpp control vector), or `.json`: an array of d numbers, an array of such
 * arrays, or an object whose number-array values are vectors (other values are kept). Resolves to the number of
 * vectors (or tensors) moved.
 */
export async function transportSteering(input: string, gauge: Gauge, out: string, options: TransportFileOptions = {}): Promise<number> {
  const ext = path.extname(input).toLowerCase();
  if (ext === '.safetensors') return native.transportSteeringFile(input, gauge, out, options.overwrite);
  if (ext === '.gguf') return (await native.transportControlVector(input, gauge, out, options.overwrite)).layers.length;
  if (ext === '.npy') {
    checkOutput(out, options.overwrite);
    const m = native.readNpyMatrix(input, true);
    const rows = m.rows;
    const cols = m.cols;
    if (cols !== gauge.d) {
      throw invalidArgument(input, `holds vectors of length ${cols}, but the model's d is ${gauge.d}; a vector of another length lives in another chart (MLP neurons, attention heads), which the residual gauge cannot move`);
    }
    const moved = gauge.applyAxis(m.data, [rows, cols], 1, true);
    native.writeNpy(out, moved, npyIsVector(input) ? [cols] : [rows, cols], options.overwrite);
    return rows;
  }
  if (ext === '.json') {
    const value = readJson(input);
    let count = 0;
    let moved: unknown;
    if (Array.isArray(value) && value.length > 0 && Array.isArray(value[0])) {
      moved = value.map((v, k) => (count++, moveVector(gauge, v, `${input}[${k}]`)));
    } else if (Array.isArray(value)) {
      moved = moveVector(gauge, value, input);
      count = 1;
    } else if (typeof value === 'object' && value !== null) {
      moved = Object.fromEntries(
        Object.entries(value).map(([k, v]) => {
          // A list of vectors under one key moves vector by vector; other values are kept as they are.
          const list = Array.isArray(v) && v.length > 0 && v.every((x) => Array.isArray(x) && typeof x[0] === 'number');
          if (!list && !(Array.isArray(v) && v.length > 0 && typeof v[0] === 'number')) return [k, v];
          // A key naming a hook of another chart is refused even when the length fits (hook_z with n_heads · d_head = d).
          const site = native.siteChart(k);
          if (site.chart === 'other') throw invalidArgument(`${input}: ${k}`, `is named for a site outside the residual chart: ${site.reason}`);
          if (list) {
            count += v.length;
            return [k, (v as unknown[]).map((x, j) => moveVector(gauge, x, `${input}: ${k}[${j}]`))];
          }
          count++;
          return [k, moveVector(gauge, v, `${input}: ${k}`)];
        }),
      );
      if (count === 0) throw invalidArgument(input, 'holds no vector (an array of numbers)');
    } else {
      throw invalidArgument(input, 'is neither a vector, a list of vectors nor an object of vectors');
    }
    writeAtomic(out, JSON.stringify(moved, null, 2) + '\n', options.overwrite);
    return count;
  }
  throw invalidArgument(input, `has extension ${JSON.stringify(ext)}; steering vectors are read from .safetensors, .npy or .json`);
}

/** Whether the `.npy` file's shape is one-dimensional (its header's `'shape': (n,)`). */
function npyIsVector(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(256);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return /'shape':\s*\(\s*\d+\s*,\s*\)/.test(head.subarray(0, n).toString('latin1'));
  } finally {
    fs.closeSync(fd);
  }
}
