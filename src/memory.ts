/**
 * Memory budgets: how many bytes a statistics pass may hold, and whether two models fit whole in it. Models that do
 * not are loaded streamed (each block read from the checkpoint when a pass reaches it) and the probe runs through
 * them block by block in chunks sized to the budget.
 */
import * as os from 'node:os';
import native = require('./native');
import { invalidArgument } from './errors';

/** The default budget: half the machine's memory. */
export function defaultMemoryBudget(): number {
  return Math.floor(os.totalmem() / 2);
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes from `4096`, `512M`, `4G`, `1.5GiB` (powers of 1024; case-insensitive). */
export function parseBytes(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw invalidArgument(what, `${JSON.stringify(text)} is not a size (bytes, or a number with K, M, G or T)`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
  if (!(bytes >= 1 && bytes <= Number.MAX_SAFE_INTEGER)) throw invalidArgument(what, `${text} is not a size from 1 byte to 8 PiB`);
  return bytes;
}

/** `bytes` for messages: `3.2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** The weights of the checkpoint at `path` in memory as `f32`, from its parameter count. */
export function wholeModelBytes(path: string): number {
  return 4 * native.inspectModel(path).parameters;
}

/**
 * Whether models `a` and `b` (paths) run whole within `budget` bytes, leaving a quarter of it for activations:
 * otherwise they are loaded streamed.
 */
export function fitsWhole(a: string, b: string, budget: number): boolean {
  return wholeModelBytes(a) + wholeModelBytes(b) <= 0.75 * budget;
}
