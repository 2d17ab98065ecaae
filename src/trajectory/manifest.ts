/**
 * Trajectory manifests: which checkpoints exist and which neighbours to align. JSON, paths relative to the file:
 *
 * ```json
 * { "base": "base",
 *   "runs": { "A": ["runA/step-000100", "runA/step-000200"], "B": ["runB/step-000100"] },
 *   "edges": [["runA/step-000200", "runB/step-000100"]] }
 * ```
 *
 * Each run is a chain from the base: `base -> run[0] -> run[1] -> …`. `edges` adds any other pair (closing a
 * cycle, for the consistency check). A checkpoint's id is its path as written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError, invalidArgument } from '../errors';

export interface Manifest {
  /** The manifest file. */
  file: string;
  base: string;
  /** Every checkpoint: `id` as written, `path` resolved. */
  checkpoints: { id: string; path: string }[];
  /** Neighbour pairs to estimate, by id, in order: each run's chain, then the extra edges. */
  edges: [string, string][];
  /** Run name -> ids in order (without the base). */
  runs: Record<string, string[]>;
}

export function readManifest(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code) throw new GaugeTransportError('IO', `${file}: cannot read the manifest: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    throw invalidArgument(file, `is not JSON: ${err.message}`);
  }
  const m = raw as { base?: unknown; runs?: unknown; edges?: unknown };
  const bad = (why: string) => invalidArgument(file, why);
  if (typeof m !== 'object' || m === null || typeof m.base !== 'string') throw bad('needs "base": the path of the common checkpoint');
  if (typeof m.runs !== 'object' || m.runs === null || Array.isArray(m.runs)) throw bad('needs "runs": {name: [checkpoint paths in order]}');
  const dir = path.dirname(file);
  const ids = new Map<string, string>();
  const add = (id: unknown, where: string) => {
    if (typeof id !== 'string' || id === '') throw bad(`${where}: ${JSON.stringify(id)} is not a checkpoint path`);
    const resolved = path.resolve(dir, id);
    if (!fs.existsSync(resolved)) throw bad(`${where}: checkpoint ${JSON.stringify(id)} does not exist (${resolved})`);
    if (ids.has(id) && where !== 'edges') throw bad(`${where}: checkpoint ${JSON.stringify(id)} is listed twice`);
    ids.set(id, resolved);
    return id;
  };
  add(m.base, 'base');
  const runs: Record<string, string[]> = {};
  const edges: [string, string][] = [];
  for (const [name, list] of Object.entries(m.runs as Record<string, unknown>)) {
    if (!Array.isArray(list) || list.length === 0) throw bad(`runs.${name}: needs a non-empty list of checkpoint paths`);
    runs[name] = list.map((id, k) => add(id, `runs.${name}[${k}]`));
    let prev = m.base;
    for (const id of runs[name]) {
      edges.push([prev, id]);
      prev = id;
    }
  }
  if (m.edges !== undefined) {
    if (!Array.isArray(m.edges)) throw bad('"edges" must be a list of [from, to] pairs');
    m.edges.forEach((e, k) => {
      if (!Array.isArray(e) || e.length !== 2) throw bad(`edges[${k}]: must be [from, to]`);
      for (const id of e) if (!ids.has(id as string)) throw bad(`edges[${k}]: ${JSON.stringify(id)} is not a checkpoint of the manifest`);
      edges.push([e[0] as string, e[1] as string]);
    });
  }
  return { file, base: m.base, checkpoints: [...ids].map(([id, p]) => ({ id, path: p })), edges, runs };
}
