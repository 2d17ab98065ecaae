/** `gauge-transport experiment <name> [flags] [--json] [--results-dir DIR] [--report out.html]`. */
import { invalidArgument } from '../../../../dist/errors';
import { BENCHES } from '../bench';
import { EXPERIMENTS, type Experiment } from '../experiments';
import * as path from 'node:path';
import { checkOutput } from '../../../../dist/files';
import { writeExperimentReport } from '../../../../dist/report';
import { writeResult } from '../../../../dist/results';
import { text } from '../../../../dist/table';
import { parse, str } from '../../../../dist/commands/args';

export const usage = () =>
  `gauge-transport experiment <name> [flags] [--json] [--results-dir DIR] [--report out.html]

Runs an experiment, writes benches/results/<name>.json (or DIR/<name>.json) and prints a table (JSON with --json);
with --report FILE also a self-contained HTML report of its charts and table.

${Object.entries(EXPERIMENTS)
  .map(([name, e]) => `  ${name}: ${e.summary}\n    ${e.flags}`)
  .join('\n')}`;

export const benchUsage = () =>
  `gauge-transport bench <name> [flags] [--json] [--results-dir DIR]

Runs a benchmark against its peer in the same run, writes benches/results/<name>.json and prints a table.

${Object.entries(BENCHES)
  .map(([name, e]) => `  ${name}: ${e.summary}\n    ${e.flags}`)
  .join('\n')}`;

/** Runs experiment `name` with `argv` and prints it; returns the result. */
export async function runExperiment(name: string, argv: string[], registry = EXPERIMENTS): Promise<unknown> {
  const e: Experiment<any> | undefined = registry[name];
  if (!e) throw invalidArgument(registry === BENCHES ? 'bench' : 'experiment', `unknown name ${JSON.stringify(name)}; known: ${Object.keys(registry).join(', ')}`);
  const { values, positionals } = parse(
    argv,
    { ...e.options, json: { type: 'boolean' }, 'results-dir': { type: 'string' }, report: { type: 'string' } },
    `experiment ${name}`,
  );
  if (positionals.length) throw invalidArgument(`experiment ${name}`, `unexpected argument ${JSON.stringify(positionals[0])}`);
  const report = str(values.report, '--report');
  if (report) checkOutput(path.resolve(report), false);
  const t0 = performance.now();
  const result = await e.run(values);
  const seconds = (performance.now() - t0) / 1000;
  const file = writeResult(name, result, str(values['results-dir'], '--results-dir'));
  if (report) await writeExperimentReport(path.resolve(report), name, e.table(result), e.report ? await e.report(result) : []);
  if (values.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    process.stdout.write(`${text(e.table(result))}\n\n${name}: ${seconds.toFixed(1)} s; results in ${file}\n`);
  }
  return result;
}

export async function run(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name.startsWith('-')) throw invalidArgument('experiment', `name one of: ${Object.keys(EXPERIMENTS).join(', ')}`);
  await runExperiment(name, rest);
}

export async function runBench(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name.startsWith('-')) throw invalidArgument('bench', `name one of: ${Object.keys(BENCHES).join(', ')}`);
  await runExperiment(name, rest, BENCHES);
}
