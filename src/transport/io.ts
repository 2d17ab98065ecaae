/** Shared file handling of the transport functions: refusal to replace outputs, atomic writes, JSON input. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError, invalidArgument } from '../errors';

export interface TransportFileOptions {
  /** Replace an existing output. @default false */
  overwrite?: boolean;
}

export function checkOutput(out: string, overwrite: boolean | undefined): void {
  if (!overwrite && fs.existsSync(out)) {
    throw new GaugeTransportError('OUTPUT_EXISTS', `${out}: already exists; not replacing it (pass overwrite)`);
  }
}

/** Writes `text` to `out` through a temporary sibling. */
export function writeAtomic(out: string, text: string, overwrite: boolean | undefined): void {
  checkOutput(out, overwrite);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}-${Date.now()}`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

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
