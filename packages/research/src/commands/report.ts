/** `gauge-transport report <experiment> --out out.html [--results-dir DIR] [--overwrite]`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaugeTransportError, invalidArgument } from '../../../../dist/errors';
import { EXPERIMENTS } from '../experiments';
import { checkOutput } from '../../../../dist/files';
import { writeExperimentReport } from '../../../../dist/report';
import { defaultResultsDir } from '../../../../dist/results';
import { parse, str } from '../../../../dist/commands/args';

export const usage = `gauge-transport report <experiment> --out out.html [--results-dir DIR] [--overwrite]

Writes the HTML report of an experiment from its recorded results (benches/results/<experiment>.json, or
DIR/<experiment>.json), without running it again: the same file \`experiment <name> --report\` writes.`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, 'results-dir': { type: 'string' }, overwrite: { type: 'boolean' } }, 'report');
  const [name, ...rest] = positionals;
  const e = name ? EXPERIMENTS[name] : undefined;
  if (!e) throw invalidArgument('report', `name one of: ${Object.keys(EXPERIMENTS).join(', ')} (got ${JSON.stringify(name)})`);
  if (rest.length) throw invalidArgument('report', `unexpected argument ${JSON.stringify(rest[0])}`);
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required');
  const overwrite = values.overwrite === true;
  checkOutput(path.resolve(out), overwrite);
  const file = path.join(str(values['results-dir'], '--results-dir') ?? defaultResultsDir(), `${name}.json`);
  if (!fs.existsSync(file)) throw new GaugeTransportError('IO', `${file}: missing; run \`npm run experiment -- ${name}\` first`);
  const result = JSON.parse(fs.readFileSync(file, 'utf8'));
  await writeExperimentReport(path.resolve(out), name, e.table(result), e.report ? await e.report(result) : [], overwrite);
  process.stdout.write(`wrote ${path.resolve(out)} from ${file}\n`);
}
