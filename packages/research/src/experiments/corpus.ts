/**
 * The training corpora of the trajectory experiment, rebuilt from files that `npm install` puts in `node_modules`
 * (pinned by `package-lock.json`, so every clone gets the same bytes; each corpus's SHA-256 is recorded with the
 * results). Three kinds of text a byte-level model can tell apart, so that fine-tuning on two of them moves the
 * model in different directions:
 *
 * - `prose`: the packages' Markdown documentation (README and docs, not changelogs), for the base;
 * - `declarations`: TypeScript's standard-library declaration files (`typescript/lib/lib.*.d.ts`), run A;
 * - `javascript`: Babel's compiled JavaScript (`@babel/<pkg>/lib/**.js`), run B.
 *
 * Files are taken in sorted path order and concatenated up to a byte cap.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../../../dist/results';

export const CORPORA = ['prose', 'declarations', 'javascript'] as const;
export type CorpusName = (typeof CORPORA)[number];

function walk(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, keep, out);
    else if (e.isFile() && keep(p)) out.push(p);
  }
  return out;
}

function files(name: CorpusName, modules: string): string[] {
  switch (name) {
    case 'prose':
      return walk(modules, (f) => f.toLowerCase().endsWith('.md') && !/(changelog|history|license|licence)/i.test(path.basename(f)));
    case 'declarations':
      return walk(path.join(modules, 'typescript', 'lib'), (f) => /[\\/]lib\.[^\\/]*\.d\.ts$/.test(f));
    case 'javascript':
      return walk(path.join(modules, '@babel'), (f) => f.endsWith('.js') && f.includes(`${path.sep}lib${path.sep}`));
  }
}

/** Writes corpus `name` (at most `maxBytes`) to `out`; returns its size, file count and SHA-256. */
export function writeCorpus(name: CorpusName, out: string, maxBytes: number): { bytes: number; files: number; sha256: string } {
  const modules = path.join(PACKAGE_ROOT, 'node_modules');
  const list = files(name, modules);
  if (list.length === 0) throw new Error(`corpus ${name}: no files under ${modules}; run npm install first`);
  const parts: Buffer[] = [];
  let bytes = 0;
  let used = 0;
  for (const f of list) {
    if (bytes >= maxBytes) break;
    const b = fs.readFileSync(f).subarray(0, maxBytes - bytes);
    parts.push(b);
    bytes += b.length;
    used++;
  }
  const all = Buffer.concat(parts);
  fs.writeFileSync(out, all);
  return { bytes, files: used, sha256: crypto.createHash('sha256').update(all).digest('hex') };
}
