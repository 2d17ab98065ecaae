/** `gauge-transport trajectory <manifest.json> --from A_T --to B_T --out g.safetensors`: composed gauges. */
import * as path from 'node:path';
import native = require('../native');
import { GaugeTransportError, invalidArgument } from '../errors';
import { MIN_CONFIDENCE } from '../align/pool';
import { checkOutput } from '../files';
import { writeTrajectoryReport } from '../report';
import { ProgressBar } from '../progress';
import { estimateTrajectory } from '../trajectory';
import { num, parse, str } from './args';

export const usage = `gauge-transport trajectory <manifest.json> --from <checkpoint> --to <checkpoint> --out g.safetensors [options]

Estimates the local gauge between neighbouring checkpoints of a manifest ({"base": dir, "runs": {name: [dirs]},
"edges": [[a, b], …]}, paths relative to the manifest) from their activations on one probe, and composes them
along the best-matched chain from --from to --to (through the base for two runs). Each checkpoint runs once;
checkpoints with the same content are the same model (identity edge). Cycles are checked for consistency.

  --probe SPEC     as for align (default builtin; byte-level models read text as bytes)
  --tokens N       probe tokens (default 8192)
  --context N      tokens per sequence (default 128)
  --layers LIST    all (default) or e.g. 0,2,final_norm
  --cache DIR      keep each checkpoint's activations here (by content hash) for later runs
  --truth FILE     a known gauge from -> to: report the accuracy
  --null-draws N   draws of each edge's null (0 to 1000, default 8): an edge is reliable, as for align, when
                   more of its coordinates are matched above their best alternative than the null's bound
                   (B's coordinates shuffled); the composed gauge is reliable when every edge on its path is
                   and no inconsistent cycle blames an edge of the path. An unreliable one exits with
                   UNRELIABLE and writes nothing
  --min-confidence C
                   also require each edge's median confidence to be above C (default 0)
  --force          write an unreliable composed gauge anyway
  --overwrite      replace --out
  --report FILE    also write a self-contained HTML report (edges, path, cycles)
  --json           print the result as JSON`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      out: { type: 'string' },
      probe: { type: 'string' },
      tokens: { type: 'string' },
      context: { type: 'string' },
      layers: { type: 'string' },
      cache: { type: 'string' },
      truth: { type: 'string' },
      'min-confidence': { type: 'string' },
      'null-draws': { type: 'string' },
      force: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
      report: { type: 'string' },
    },
    'trajectory',
  );
  if (positionals.length !== 1) throw invalidArgument('trajectory', `expected one manifest file, got ${positionals.length}`);
  const from = str(values.from, '--from');
  const to = str(values.to, '--to');
  const out = str(values.out, '--out');
  if (!from || !to) throw invalidArgument(from ? '--to' : '--from', 'is required (a checkpoint path as written in the manifest)');
  if (!out) throw invalidArgument('--out', 'is required (the gauge file to write)');
  const layers = str(values.layers, '--layers');
  const report = str(values.report, '--report');
  if (report) checkOutput(path.resolve(report), values.overwrite === true);
  const truthFile = str(values.truth, '--truth');
  const truth = truthFile ? native.Gauge.read(truthFile) : undefined;
  const bar = new ProgressBar('trajectory');
  const r = await estimateTrajectory(positionals[0], from, to, {
    probe: str(values.probe, '--probe'),
    tokens: num(values.tokens, '--tokens', 8192, { min: 1, integer: true }),
    contextLength: num(values.context, '--context', 128, { min: 2, integer: true }),
    layers: layers === undefined || layers === 'all' ? 'all' : layers.split(',').map((x) => (/^\d+$/.test(x) ? Number(x) : x)),
    cacheDir: str(values.cache, '--cache'),
    minConfidence: num(values['min-confidence'], '--min-confidence', MIN_CONFIDENCE, { min: -1, max: 1 }),
    nullDraws: num(values['null-draws'], '--null-draws', 8, { min: 0, max: 1000, integer: true }),
    onEdge: (done, total, e) => bar.update(done, total, `${e.from} -> ${e.to}`),
  }).finally(() => bar.done());
  if (truth && truth.d !== r.gauge.d) throw invalidArgument('--truth', `the gauge has d = ${truth.d} but the checkpoints have d = ${r.gauge.d}`);
  if (!r.reliability.reliable && values.force !== true) {
    throw new GaugeTransportError(
      'UNRELIABLE',
      `the composed gauge ${from} -> ${to} is not reliable: ${r.reliability.unreliable.join('; ')} ` +
        `(an edge is reliable when more of its coordinates are matched above their best alternative than its null ` +
        `with B's coordinates shuffled allows); nothing was written (--force writes it anyway)`,
    );
  }
  r.gauge.write(out, { source: from, target: to, method: 'marginalized (composed)' }, { overwrite: values.overwrite === true });
  const accuracy = truth ? r.gauge.agreement(truth) : undefined;
  if (report) await writeTrajectoryReport(path.resolve(report), r, { manifest: positionals[0], from, to, truth }, values.overwrite === true);
  if (values.json) {
    const json = {
      out,
      path: r.composition.path,
      minConfidence: r.composition.minConfidence,
      reliable: r.reliability.reliable,
      unreliable: r.reliability.unreliable,
      edges: r.edges,
      cycles: r.cycles,
      forwardRuns: r.forwardRuns,
      seconds: r.seconds,
      ...(accuracy ? { truth: { permAccuracy: accuracy.permAccuracy, signedAccuracy: accuracy.signedAccuracy } } : {}),
    };
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    return;
  }
  const lines = [
    `wrote ${out}: ${from} -> ${to} composed along ${r.composition.path.length - 1} edges (${r.composition.path.join(' -> ')})`,
    `weakest edge on the path: mean confidence ${r.composition.minConfidence.toFixed(4)}; ${r.edges.length} edges, ${r.forwardRuns} forward runs, ${r.seconds.toFixed(1)} s`,
    r.reliability.reliable ? 'reliable: every edge on the path is above the confidence threshold' : `NOT RELIABLE (written with --force): ${r.reliability.unreliable.join('; ')}`,
  ];
  for (const e of r.edges.filter((x) => x.duplicate)) lines.push(`duplicate: ${e.from} and ${e.to} have the same content (identity edge)`);
  for (const c of r.cycles) {
    const ok = c.signedAgreement === 1;
    lines.push(
      `cycle ${c.cycle.join(' -> ')}: ${ok ? 'consistent' : `INCONSISTENT (composition agrees with the identity on ${(100 * c.signedAgreement).toFixed(1)}%); most likely at fault: ${c.suspect.from} -> ${c.suspect.to} (mean confidence ${c.suspect.meanConfidence.toFixed(4)})`}`,
    );
  }
  if (accuracy) lines.push(`truth: perm accuracy ${(100 * accuracy.permAccuracy).toFixed(2)}%, signed accuracy ${(100 * accuracy.signedAccuracy).toFixed(2)}%`);
  process.stdout.write(lines.join('\n') + '\n');
}
