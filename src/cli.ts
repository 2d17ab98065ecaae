#!/usr/bin/env node
/** The `gauge-transport` command line. Errors print `error [CODE]: message` and exit 1 (2 for usage errors). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorCode, GaugeTransportError } from './errors';
import { PACKAGE_ROOT } from './results';
import * as alignCmd from './commands/align';
import * as checkpoints from './commands/checkpoints';
import * as statsCmd from './commands/stats';
import * as demo from './commands/demo';
import * as auditCmd from './commands/audit';
import * as match from './commands/match';
import * as mergeCmd from './commands/merge';
import * as randomGauge from './commands/random-gauge';
import * as trainCmd from './commands/train';
import * as transportCmd from './commands/transport';
import * as trajectoryCmd from './commands/trajectory';

/**
 * The research commands (experiments, benchmarks, the README's tables, reports from recorded results) live in the
 * unpublished workspace `packages/research/` of the repository, which the library never imports: in a clone the
 * CLI loads its compiled entry by path on first use (`npm run build:ts` builds it), and anywhere else (the installed
 * package) it says they are not there.
 */
const RESEARCH_ENTRY = path.join(PACKAGE_ROOT, 'packages', 'research', 'dist', 'index.js');
type ResearchName = 'experiment' | 'bench' | 'report' | 'readme';
interface ResearchPackage {
  commands: Record<ResearchName, { usage: string | (() => string); run(argv: string[]): Promise<void> }>;
}
function research(name: ResearchName): ResearchPackage['commands'][ResearchName] {
  if (!fs.existsSync(RESEARCH_ENTRY)) {
    throw new GaugeTransportError(
      'RESEARCH_ONLY',
      fs.existsSync(path.join(PACKAGE_ROOT, 'packages', 'research', 'package.json'))
        ? `${RESEARCH_ENTRY} is missing: run \`npm run build:ts\`, which builds packages/research too`
        : 'experiments, benchmarks and the README tables run from a clone of the repository (git clone, npm install), ' +
            'not from the installed package',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(RESEARCH_ENTRY) as ResearchPackage).commands[name];
}

interface Command {
  summary: string;
  usage: string | (() => string);
  run(argv: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'the main job on a built-in default', usage: demo.usage, run: demo.run },
  align: { summary: 'estimate the gauge between two checkpoints from activations', usage: alignCmd.usage, run: alignCmd.run },
  stats: { summary: 'save the paired activation statistics of two checkpoints (one shard)', usage: statsCmd.usage, run: statsCmd.run },
  'stats-merge': { summary: 'merge statistics shards', usage: statsCmd.mergeUsage, run: statsCmd.merge },
  match: { summary: 'estimate a gauge from a correlation matrix (.npy)', usage: match.usage, run: match.run },
  'random-gauge': { summary: 'write a random gauge file', usage: randomGauge.usage, run: randomGauge.run },
  inspect: { summary: 'describe a checkpoint and its gauge group', usage: checkpoints.inspectUsage, run: checkpoints.inspect },
  apply: { summary: 're-chart a checkpoint by a gauge', usage: checkpoints.applyUsage, run: checkpoints.apply },
  perturb: { summary: 'add seeded noise to a checkpoint (experiments)', usage: checkpoints.perturbUsage, run: checkpoints.perturb },
  init: { summary: 'write a random checkpoint with generic gains', usage: checkpoints.initUsage, run: checkpoints.init },
  trajectory: { summary: 'compose local gauges along saved checkpoints (manifest)', usage: trajectoryCmd.usage, run: trajectoryCmd.run },
  transport: { summary: 'move a steering vector, SAE, neuron list or optimizer state by a gauge', usage: transportCmd.usage, run: transportCmd.run },
  audit: { summary: 'evaluate index-level claims across checkpoints and random gauges', usage: auditCmd.usage, run: auditCmd.run },
  merge: { summary: 'merge checkpoint B into the chart of A with a gauge B -> A', usage: mergeCmd.usage, run: mergeCmd.run },
  train: { summary: 'train a checkpoint with AdamW, saving checkpoints with optimizer state', usage: trainCmd.usage, run: trainCmd.run },
  experiment: {
    summary: 'run an experiment and record its results (from a clone)',
    usage: () => usageOf(research('experiment').usage),
    run: (argv) => research('experiment').run(argv),
  },
  bench: {
    summary: 'run a benchmark against its peer (from a clone)',
    usage: () => usageOf(research('bench').usage),
    run: (argv) => research('bench').run(argv),
  },
  report: {
    summary: "an experiment's HTML report from its recorded results (from a clone)",
    usage: () => usageOf(research('report').usage),
    run: (argv) => research('report').run(argv),
  },
  readme: {
    summary: "regenerate the README's result tables (from a clone)",
    usage: () => usageOf(research('readme').usage),
    run: (argv) => research('readme').run(argv),
  },
};

function usageOf(u: string | (() => string)): string {
  return typeof u === 'function' ? u() : u;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `gauge-transport: move coordinate-indexed objects between transformer checkpoints in the right gauge

Usage: gauge-transport <command> [options]   (gauge-transport help <command> for details; --version)

${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`gauge-transport ${require('../package.json').version}\n`);
    return 0;
  }
  if (name === 'help' && rest.length) return main([rest[0], '--help']);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`error [INVALID_ARGUMENT]: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  try {
    // A research command's usage loads the research package, so it can fail like a run (RESEARCH_ONLY).
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(usageOf(command.usage) + '\n');
      return 0;
    }
    await command.run(rest);
    return 0;
  } catch (err) {
    const code = errorCode(err) ?? 'INTERNAL';
    const message = (err as Error).message ?? String(err);
    // With --json the error is JSON too, for callers that parse the output.
    if (rest.includes('--json')) process.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
    else process.stderr.write(`error [${code}]: ${message}\n`);
    return code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
