/** `gauge-transport merge <A> <B> --gauge g.safetensors --out DIR [--weight 0.5] [--base DIR] [--overwrite] [--json]`. */
import native = require('../native');
import { invalidArgument } from '../errors';
import * as path from 'node:path';
import { emitMergekit, mergeCheckpoints, MERGEKIT_METHODS } from '../transport';
import { writeDir } from '../files';
import { num, oneOf, parse, str } from './args';

export const usage = `gauge-transport merge <A> <B> --gauge g.safetensors --out DIR [--weight 0.5] [--base DIR] [--overwrite] [--json]

Merges checkpoint B into the chart of A (GAUGE.md §4): every tensor of B is moved by the gauge g: B -> A (from
\`gauge-transport align B A\`) by its role, then combined with A's coordinate-wise and written as the new
directory DIR (A's dtypes, config and tokenizer).

  --gauge FILE     the gauge B -> A (required)
  --out DIR        where to write (required; an existing one is kept unless --overwrite)
  --weight α       B's weight: (1 - α)·θ_A + α·g·θ_B  (default 0.5)
  --base DIR       task arithmetic instead: θ_A + α·(g·θ_B - θ_base), with the common ancestor in A's chart
  --emit-mergekit METHOD
                   instead of merging here, hand off to mergekit: write DIR/B-in-A (B moved into A's chart)
                   and DIR/mergekit.yaml merging A with it by METHOD (linear, slerp, task_arithmetic, ties,
                   dare_ties, dare_linear, breadcrumbs; the last five need --base); then
                   mergekit-yaml DIR/mergekit.yaml merged/
  --overwrite      replace an existing DIR (once the new one is complete; never A, B or the base)
  --json           print the result as JSON`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { gauge: { type: 'string' }, out: { type: 'string' }, weight: { type: 'string' }, base: { type: 'string' }, 'emit-mergekit': { type: 'string' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' } },
    'merge',
  );
  const [a, b, ...rest] = positionals;
  if (!a || !b) throw invalidArgument('merge', 'name the checkpoints A and B');
  if (rest.length) throw invalidArgument('merge', `unexpected argument ${JSON.stringify(rest[0])}`);
  const gaugeFile = str(values.gauge, '--gauge');
  if (!gaugeFile) throw invalidArgument('--gauge', 'is required (the gauge B -> A)');
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required');
  const weight = num(values.weight, '--weight', 0.5, { min: -10, max: 10 });
  const base = str(values.base, '--base');
  const gauge = native.Gauge.read(gaugeFile);
  const emit = str(values['emit-mergekit'], '--emit-mergekit');
  if (emit !== undefined) {
    const method = oneOf(emit, '--emit-mergekit', MERGEKIT_METHODS, 'linear');
    const yaml = await writeDir(out, values.overwrite === true, (dir) => emitMergekit(a, b, gauge, dir, { method, weight, base, finalDir: out }), [a, b, ...(base ? [base] : [])]);
    const file = path.join(out, path.basename(yaml));
    if (values.json) process.stdout.write(JSON.stringify({ a, b, out, method, weight, base: base ?? null, mergekit: file, moved: path.join(out, 'B-in-A') }, null, 2) + '\n');
    else process.stdout.write(`wrote ${path.join(out, 'B-in-A')} (B in A's chart) and ${file}; merge with: mergekit-yaml ${file} <merged-dir>\n`);
    return;
  }
  const r = await writeDir(out, values.overwrite === true, (dir) => mergeCheckpoints(a, b, gauge, dir, { weight, base }), [a, b, ...(base ? [base] : [])]);
  if (values.json) process.stdout.write(JSON.stringify({ a, b, out, weight, base: base ?? null, group: gauge.group(), ...r }, null, 2) + '\n');
  else {
    const how = base ? `θ_A + ${weight}·(g·θ_B - θ_base)` : `${1 - weight}·θ_A + ${weight}·g·θ_B`;
    process.stdout.write(`wrote ${out}: ${how} with a ${gauge.group()} gauge (${r.tensors} tensors, ${r.moved} of B's moved)\n`);
  }
}
