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

/** Writes `text` to `out` through a temporary sibling (creating its directory), after {@link checkOutput}. */
export function writeAtomic(out: string, text: string, overwrite: boolean | undefined): void {
  checkOutput(out, overwrite);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}-${Date.now()}`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, out);
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
