#!/usr/bin/env node
/** The `gauge-transport` command line. Errors print `error [CODE]: message` and exit 1 (2 for usage errors). */
import { errorCode } from './errors';
import * as alignCmd from './commands/align';
import * as checkpoints from './commands/checkpoints';
import * as statsCmd from './commands/stats';
import * as demo from './commands/demo';
import * as experiment from './commands/experiment';
import * as auditCmd from './commands/audit';
import * as match from './commands/match';
import * as mergeCmd from './commands/merge';
import * as randomGauge from './commands/random-gauge';
import * as readme from './commands/readme';
import * as reportCmd from './commands/report';
import * as trainCmd from './commands/train';
import * as transportCmd from './commands/transport';
import * as trajectoryCmd from './commands/trajectory';

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
  experiment: { summary: 'run an experiment and record its results', usage: experiment.usage, run: experiment.run },
  bench: { summary: 'run a benchmark against its peer', usage: experiment.benchUsage, run: experiment.runBench },
  report: { summary: "an experiment's HTML report from its recorded results", usage: reportCmd.usage, run: reportCmd.run },
  readme: { summary: "regenerate the README's result tables", usage: readme.usage, run: readme.run },
};

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
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write((typeof command.usage === 'function' ? command.usage() : command.usage) + '\n');
    return 0;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (err) {
    const code = errorCode(err) ?? 'INTERNAL';
    process.stderr.write(`error [${code}]: ${(err as Error).message ?? String(err)}\n`);
    return code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
