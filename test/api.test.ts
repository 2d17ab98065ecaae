/**
 * The public API as the README documents it: every function or class the "API in brief" section calls by name is
 * exported from the package entry (CommonJS and the ES-module entry `dist/index.mjs` alike).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as api from '../src';

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

/** Names the README's API section calls: `name(` or `Name.method(` in code spans and code blocks. */
function documentedNames(): string[] {
  const start = README.indexOf('## API in brief');
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end);
  const names = new Set<string>();
  // `Name.method(` names an export; `name.method(` is a variable of an example (`gauge.agreement(g)`).
  for (const m of section.matchAll(/(?<![.\w])([A-Za-z][A-Za-z0-9]+)(\.[A-Za-z]+)?\(/g)) {
    if (!m[2] || /^[A-Z]/.test(m[1])) names.add(m[1]);
  }
  for (const m of section.matchAll(/import \{([^}]+)\} from 'gauge-transport'/g)) {
    for (const n of m[1].split(',')) names.add(n.trim());
  }
  // Methods of results and instances the section writes as `x.method(`, and plain words before parentheses.
  const locals = ['await', 'new', 'const', 'import', 'from'];
  return [...names].filter((n) => !locals.includes(n) && /^[A-Za-z]/.test(n));
}

test('every API name the README documents is exported', () => {
  const names = documentedNames();
  expect(names.length).toBeGreaterThan(15);
  // Methods of `Gauge` the section lists by name (`random(…)`, `group()`) are documented as its members.
  const missing = names.filter((n) => !(n in api) && !(n in api.Gauge) && !(n in api.Gauge.prototype));
  expect(missing).toEqual([]);
});

test('the ES-module entry exports the same names as the CommonJS one', () => {
  const mjs = fs.readFileSync(path.join(__dirname, '..', 'dist', 'index.mjs'), 'utf8');
  const exported = [...mjs.matchAll(/^export const (\w+) =/gm)].map((m) => m[1]);
  const cjs = Object.keys(require('../dist')).filter((n) => n !== '__esModule');
  expect(exported.sort()).toEqual(cjs.sort());
});
