/** `gauge-transport demo`: the main job on the built-in model (see `demo.ts`). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runDemo, type DemoResult } from '../demo';
import { GaugeTransportError, invalidArgument } from '../errors';
import { parse, num, str } from './args';

export const usage = `gauge-transport demo [--out DIR] [--seed S] [--overwrite] [--json]

The built-in model (a byte-level Llama with RMSNorm gains, d = 64, pre-trained on prose; models/tiny-base) is
re-charted by a hidden random signed permutation and nudged by a short fine-tuning; the gauge is then estimated
from activations and every matching method is scored against the hidden one. Sign-marginalized matching (the Bd
estimate) recovers it; permutation-only matching (the Sd estimate, what permutation-only tools find) gets the
permutation but not the negative signs. A steering vector and a sparse autoencoder made for the model are then
moved to the re-charted copy with each estimate and scored there, side by side.

  --out DIR    where the gauges and report.json go (default: <tmp>/gauge-transport-demo, replaced each run);
               a DIR of your own that is not empty is kept unless --overwrite
  --overwrite  replace the demo's files in an existing --out DIR
  --seed S     seed of the hidden gauge (default 0)
  --json       print the result as JSON`;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

const WHAT: Record<keyof DemoResult['methods'], string> = {
  marginalized: 'Bd estimate (this package)',
  signed: 'raw signed matching',
  permutation: 'Sd estimate (permutation-only tools)',
};

export function demoText(r: DemoResult): string {
  const st = r.tools.steering;
  const sae = r.tools.sae;
  const rows = (['marginalized', 'permutation', 'signed'] as const).map((m) => `  ${m.padEnd(13)} ${WHAT[m].padEnd(37)} ${pct(r.methods[m].permAccuracy).padStart(9)} ${pct(r.methods[m].signedAccuracy).padStart(11)}`);
  return [
    `B: re-charted by a hidden signed permutation (${r.hidden.negativeSigns} of ${r.d} signs negative), then ${r.nudge.steps} fine-tuning steps`,
    `   on docs/GAUGE.md (loss ${r.nudge.lossFirst.toFixed(2)} -> ${r.nudge.lossLast.toFixed(2)} nats/byte, ${r.seconds.nudge.toFixed(1)} s)`,
    `align A -> B: ${r.probe.tokens} probe bytes, ${r.seconds.align.toFixed(1)} s; mean confidence ${r.confidence.mean.toFixed(3)}`,
    '',
    `  ${'method'.padEnd(13)} ${''.padEnd(37)} ${'perm acc.'.padStart(9)} ${'signed acc.'.padStart(11)}`,
    ...rows,
    '',
    `Tools made for A, moved to B:`,
    '',
    `  ${''.padEnd(48)} ${'Bd estimate'.padStart(12)} ${'Sd estimate'.padStart(12)}`,
    `  ${'gauge: signed accuracy'.padEnd(48)} ${pct(r.methods.marginalized.signedAccuracy).padStart(12)} ${pct(r.methods.permutation.signedAccuracy).padStart(12)}`,
    `  ${`steering vector (${st.behaviour}): effect kept`.padEnd(48)} ${pct(st.moved.Bd.preserved).padStart(12)} ${pct(st.moved.Sd.preserved).padStart(12)}`,
    `  ${`SAE (${sae.features} features): NMSE in B (${sae.nmseA.toFixed(3)} in A)`.padEnd(48)} ${sae.moved.Bd.nmseB.toFixed(3).padStart(12)} ${sae.moved.Sd.nmseB.toFixed(3).padStart(12)}`,
    '',
    'Read: permutation-only matching finds which coordinate went where, but a tool moved with its estimate is',
    'wrong on every coordinate whose sign flipped: the steering vector loses its effect and the SAE no longer',
    'reconstructs. The sign-marginalized estimate recovers the whole gauge, and the tools work in B.',
    '',
    r.html ? `report: ${r.report} and ${r.html} (charts)` : `report: ${r.report} (no report.html: ${r.htmlSkipped})`,
    `  gauges: hidden-gauge.safetensors, estimate-<method>.safetensors; tools: steering-A.json, steering-B-<Bd|Sd>.json, sae-A/, sae-B-<Bd|Sd>/`,
    `total ${r.seconds.total.toFixed(1)} s`,
  ].join('\n');
}

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, seed: { type: 'string' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' } }, 'demo');
  if (positionals.length) throw invalidArgument('demo', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const given = str(values.out, '--out');
  const outDir = given ?? path.join(os.tmpdir(), 'gauge-transport-demo');
  if (given && values.overwrite !== true && fs.existsSync(given) && (!fs.statSync(given).isDirectory() || fs.readdirSync(given).length > 0)) {
    throw new GaugeTransportError('OUTPUT_EXISTS', `${given}: already exists and is not empty; not writing the demo's files into it (pass --overwrite to replace them)`);
  }
  const json = values.json === true;
  if (!json) process.stdout.write('gauge-transport demo: the built-in model (tiny Llama with RMSNorm gains, d = 64, byte-level)\n\n');
  const r = await runDemo({
    outDir,
    seed: num(values.seed, '--seed', 0, { min: 0, max: 2 ** 40, integer: true }),
    onStage: json ? undefined : (s) => process.stdout.write(`- ${s}\n`),
  });
  process.stdout.write(json ? JSON.stringify(r, null, 2) + '\n' : `\n${demoText(r)}\n`);
}
