/** `gauge-transport random-gauge --d N --seed S [--positive-fraction p] [--group Bd|Sd|±Sd] --out g.safetensors`. */
import native = require('../native');
import { invalidArgument } from '../errors';
import { num, oneOf, parse, str } from './args';

/** The widest gauge the addon makes (`gauge_core::gauge::MAX_DIM`). */
const MAX_DIM = 2 ** 24;

export const usage = `gauge-transport random-gauge --d N --out g.safetensors [options]

Writes a random gauge of d coordinates.

  --d N                       number of coordinates, 1 to 16777216 (2^24, the widest gauge)
  --seed S                    seed (default 0)
  --group Bd|Sd|±Sd           group to draw from (default Bd)
  --positive-fraction p       fraction of +1 signs for Bd (default 0.5)
  --out FILE                  gauge file to write (refuses to replace an existing file)
  --overwrite                 replace --out if it exists
  --json                      print a summary as JSON`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      d: { type: 'string' },
      seed: { type: 'string' },
      group: { type: 'string' },
      'positive-fraction': { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'random-gauge',
  );
  if (positionals.length) throw invalidArgument('random-gauge', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required (the gauge file to write)');
  const d = num(values.d, '--d', undefined, { min: 1, max: MAX_DIM, integer: true });
  const seed = num(values.seed, '--seed', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const group = oneOf(values.group, '--group', ['Bd', 'Sd', '±Sd', '+-Sd'], 'Bd');
  const positiveFraction =
    values['positive-fraction'] === undefined
      ? undefined
      : num(values['positive-fraction'], '--positive-fraction', undefined, { min: 0, max: 1 });
  const g = native.Gauge.random(d, { seed, group, positiveFraction });
  g.write(out, { method: `random seed=${seed} group=${group}` }, { overwrite: values.overwrite === true });
  const negatives = Array.from(g.sign).filter((s) => s < 0).length;
  if (values.json) {
    process.stdout.write(JSON.stringify({ out, d, seed, group: g.group(), negativeSigns: negatives }) + '\n');
  } else {
    process.stdout.write(`wrote ${out}: d = ${d}, group ${g.group()}, ${negatives} negative signs\n`);
  }
}
