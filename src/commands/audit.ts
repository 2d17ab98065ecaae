/** `gauge-transport audit <claims.json> --models A[,B…] [--sweep 8] [--seed 0] [--no-align] [--json] [--report out.html]`. */
import * as path from 'node:path';
import { audit, type AuditReport } from '../audit';
import { invalidArgument } from '../errors';
import { checkOutput } from '../files';
import { writeAuditReport } from '../report';
import { num, parse, str } from './args';

export const usage = `gauge-transport audit <claims.json> --models A[,B,…] [--sweep 8] [--seed 0] [--no-align] [--json] [--report out.html]

Evaluates index-level claims (claims.json: behaviours as positive/negative texts, and claims that coordinates with
signs carry a behaviour, or that its top-k attribution list is a given one) on every checkpoint as stated, across a
sweep of random Sd and Bd gauges (re-charted copies of the first checkpoint), and relative to explicit gauges (the
sweep's, and the gauge estimated from the first checkpoint to each other one). Each claim is reported as holding as
stated, holding only relative to an explicit gauge (named), or failing. A claim with "chart": "canonical" is stated
in the canonical chart (coordinates ordered by norm gain, signs fixed by the token embedding), which every copy of
a checkpoint computes for itself.

  --models LIST    checkpoints, comma-separated; the first is the reference (required)
  --sweep N        random gauges per group (default 8)
  --seed S         seed of the sweep (default 0)
  --no-align       do not estimate gauges between the checkpoints
  --report FILE    also write a self-contained HTML report
  --json           print the report as JSON`;

const mark = (v: string) => (v === 'holds as stated' ? 'HOLDS' : v === 'fails' ? 'FAILS' : 'RELATIVE');

export function auditText(r: AuditReport): string {
  const lines = r.results.map((c) => `  ${mark(c.verdict).padEnd(8)} ${c.id} (${c.kind}, ${c.chart} chart): ${c.reason}`);
  const canon = r.canonical.map(
    (c) => `  ${c.model}: ${c.gainTies} tied gains (${c.ties} also with tied embeddings), smallest gap ${c.minGainGap.toPrecision(3)} sd, ${c.weakSigns} weak signs${c.sweepStable === undefined ? '' : `, same chart for ${(100 * c.sweepStable).toFixed(0)}% of swept copies`}${c.agreementWithFirst === undefined ? '' : `, ${(100 * c.agreementWithFirst).toFixed(1)}% of coordinates keep their canonical index`}`,
  );
  return [`claims on d = ${r.d}, sweep of ${r.sweep} Sd and ${r.sweep} Bd gauges:`, ...lines, '', 'canonical charts:', ...canon].join('\n');
}

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { models: { type: 'string' }, sweep: { type: 'string' }, seed: { type: 'string' }, 'no-align': { type: 'boolean' }, json: { type: 'boolean' }, report: { type: 'string' } },
    'audit',
  );
  const [file, ...rest] = positionals;
  if (!file) throw invalidArgument('audit', 'name the claims file');
  if (rest.length) throw invalidArgument('audit', `unexpected argument ${JSON.stringify(rest[0])}`);
  const models = (str(values.models, '--models') ?? '').split(',').filter(Boolean);
  if (models.length === 0) throw invalidArgument('--models', 'is required (comma-separated checkpoints)');
  const report = str(values.report, '--report');
  if (report) checkOutput(path.resolve(report), false);
  const r = await audit(file, models, {
    sweep: num(values.sweep, '--sweep', 8, { min: 1, max: 1000, integer: true }),
    seed: num(values.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    align: values['no-align'] !== true,
    onStage: values.json ? undefined : (s) => process.stderr.write(`- ${s}\n`),
  });
  if (report) await writeAuditReport(path.resolve(report), r);
  process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : `${auditText(r)}\n${report ? `\nreport: ${path.resolve(report)}\n` : ''}`);
}
