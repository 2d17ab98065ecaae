/**
 * Where experiment and benchmark results go: `benches/results/<name>.json` of the source checkout (the README's
 * tables are generated from those files), or `./gauge-transport-results/` when run from an installed package.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeAtomic } from './files';

/** The package root: the directory holding this package's `package.json`. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

/** Whether the package runs from its source checkout (where results belong to the repository). */
export function isSourceCheckout(): boolean {
  return fs.existsSync(path.join(PACKAGE_ROOT, 'Cargo.toml'));
}

/** The default results directory. */
export function defaultResultsDir(): string {
  return isSourceCheckout()
    ? path.join(PACKAGE_ROOT, 'benches', 'results')
    : path.resolve('gauge-transport-results');
}

/** Facts about the machine a result was measured on. */
export function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    platform: `${os.platform()}-${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Writes `<dir>/<name>.json` atomically (temporary file, then rename) and returns its path. */
export function writeResult(name: string, result: unknown, dir = defaultResultsDir()): string {
  const file = path.join(dir, `${name}.json`);
  writeAtomic(file, JSON.stringify(result, null, 2) + '\n', true);
  return file;
}
