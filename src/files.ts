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

function resolvedReal(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/**
 * A directory at `out` made by `produce(dir)`, which writes a new directory at `dir` (a temporary sibling of
 * `out`; the addon's writers create it atomically themselves). An existing non-empty `out` is `OUTPUT_EXISTS`
 * unless `overwrite`; with it, the old directory is moved aside and removed only once the new one is in place, so
 * `out` is at every moment the old or the complete new directory. `out` may not be, contain or lie inside any of
 * `inputs` (the user's checkpoints are never replaced). Temporaries of dead processes are reclaimed first.
 */
export async function writeDir<T>(out: string, overwrite: boolean, produce: (dir: string) => Promise<T>, inputs: string[] = []): Promise<T> {
  const o = resolvedReal(out);
  for (const input of inputs) {
    const i = resolvedReal(input);
    if (inside(o, i) || inside(i, o)) {
      throw invalidArgument('--out', `${out} ${o === i ? 'is' : inside(o, i) ? 'is inside' : 'contains'} the input checkpoint ${input}; refusing to write there (choose a directory outside it)`);
    }
  }
  const exists = fs.existsSync(out);
  const empty = exists && fs.statSync(out).isDirectory() && fs.readdirSync(out).length === 0;
  if (exists && !empty && !overwrite) {
    throw new GaugeTransportError('OUTPUT_EXISTS', `${out}: already exists; not replacing it (pass --overwrite to replace it)`);
  }
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  reclaim(out);
  const tmp = tempSibling(out);
  try {
    const value = await produce(tmp);
    if (fs.existsSync(out)) {
      const old = `${tempSibling(out)}-old`;
      fs.renameSync(out, old);
      try {
        fs.renameSync(tmp, out);
      } catch (e) {
        fs.renameSync(old, out);
        throw e;
      }
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, out);
    }
    return value;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
