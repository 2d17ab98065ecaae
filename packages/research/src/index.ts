/**
 * The research package's entry: the commands the library's CLI (`dist/cli.js`) loads from a clone, each with its
 * usage text and its runner. The library never imports this package; it requires `packages/research/dist/index.js`
 * by path, and refuses these commands with `RESEARCH_ONLY` where the file is not there (an installed package).
 */
import * as experiment from './commands/experiment';
import * as readme from './commands/readme';
import * as report from './commands/report';

export interface ResearchCommand {
  usage: string | (() => string);
  run(argv: string[]): Promise<void>;
}

export const commands: Record<'experiment' | 'bench' | 'report' | 'readme', ResearchCommand> = {
  experiment: { usage: experiment.usage, run: experiment.run },
  bench: { usage: experiment.benchUsage, run: experiment.runBench },
  report: { usage: report.usage, run: report.run },
  readme: { usage: readme.usage, run: readme.run },
};
