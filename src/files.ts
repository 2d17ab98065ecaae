/**
 * File handling shared by the TypeScript layer: nothing the user owns is replaced unless asked (`checkOutput`),
 * outputs appear whole or not at all (`writeAtomic`: a temporary sibling, then a rename), JSON inputs fail with
 * the file named (`readJson`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError, invalidArgument } from './errors';

/** Throws `OUTPUT_EXISTS` when `out` exists and `overwrite` is not set. */
export function checkOutput(out: string, overwrite: boolean | undefined): void {
  if (!overwrite && fs.existsSync(out)) {
    throw new GaugeTransportError('OUTPUT_EXISTS', `${out}: already exists; not replacing it (set overwrite, or pass --overwrite)`);
  }
}

/** `dir/.name.tmp-<pid>-<ms>`: the temporary sibling of `out`, named as the addon names its own (`atomic.rs`). */
export function tempSibling(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}-${Date.now()}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporaries of `out` whose process is gone (a run killed mid-write); returns how many. */
export function reclaim(out: string): number {
  const prefix = `.${path.basename(out)}.tmp-`;
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(out));
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    try {
      fs.rmSync(path.join(path.dirname(out), name), { recursive: true, force: true });
      removed++;
    } catch {
      // Best effort: what cannot be removed stays.
    }
  }
  return removed;
}

/**
 * Writes `text` to `out` through a temporary sibling (creating its directory), after {@link checkOutput}. Without
 * `overwrite` the file is linked into place, so a concurrent writer that got there first is not replaced
 * (`OUTPUT_EXISTS`). Temporaries of dead processes are reclaimed first.
 */
export function writeAtomic(out: string, text: string, overwrite: boolean | undefined): void {
  checkOutput(out, overwrite);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  reclaim(out);
  const tmp = tempSibling(out);
  try {
    fs.writeFileSync(tmp, text);
    if (overwrite) {
      fs.renameSync(tmp, out);
    } else {
      try {
        fs.linkSync(tmp, out);
      } catch {
        // EEXIST: another writer got there first, and checkOutput says so. Anything else: no hard links on this
        // filesystem, so a checked rename.
        checkOutput(out, false);
        fs.renameSync(tmp, out);
      }
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** The parsed JSON of `file`: `IO` when it cannot be read, `INVALID_ARGUMENT` when it is not JSON. */
export function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new GaugeTransportError('IO', `${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidArgument(file, `is not JSON: ${(e as Error).message}`);
  }
}
