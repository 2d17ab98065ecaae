/** The recorded result an experiment may build on (carrying over what it need not recompute). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Value } from '../../../../dist/commands/args';
import { defaultResultsDir } from '../../../../dist/results';
import { readJson } from './finetune';

/** The result `name` recorded in the results directory of this call (`--results-dir`), if there is one. */
export function previousResult<R>(v: Record<string, Value>, name: string): R | undefined {
  const dir = typeof v['results-dir'] === 'string' ? v['results-dir'] : defaultResultsDir();
  const file = path.join(dir, `${name}.json`);
  return fs.existsSync(file) ? readJson<R>(file) : undefined;
}
