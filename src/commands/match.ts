/** `gauge-transport match <C.npy> --method … --out g.safetensors [--json]`: a gauge from a correlation matrix. */
import * as path from 'node:path';
import native = require('../native');
import { GaugeTransportError, invalidArgument } from '../errors';
import { matchGauge, type Method } from '../matching';
import type { Solver } from '../assignment';
import { oneOf, parse, str } from './args';

export const usage = `gauge-transport match <C.npy> --out g.safetensors [options]

Estimates the gauge A -> B from a d x d correlation matrix C[i, j] = corr(h_A[:, i], h_B[:, j]) (float32 or
float64 .npy) and writes it as a gauge file.

  --method marginalized|signed|permutation   (default marginalized)
  --solver jv|pathfinding                    (default jv)
  --out FILE                                 gauge file to write (refuses to replace an existing file)
  --overwrite                                replace --out if it exists
  --json                                     print the result as JSON`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      method: { type: 'string' },
      solver: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'match',
  );
  if (positionals.length !== 1) throw invalidArgument('match', `expected one correlation file, got ${positionals.length}`);
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required (the gauge file to write)');
  const file = positionals[0];
  const method = oneOf<Method>(values.method, '--method', ['marginalized', 'signed', 'permutation'], 'marginalized');
  const solver = oneOf<Solver>(values.solver, '--solver', ['jv', 'pathfinding'], 'jv');
  const c = native.readNpyMatrix(file);
  if (c.rows !== c.cols) {
    throw new GaugeTransportError(
      'SHAPE_MISMATCH',
      `${file}: a correlation matrix must be square, got ${c.rows} x ${c.cols}`,
    );
  }
  const t0 = performance.now();
  const m = await matchGauge(c.data, c.rows, { method, solver });
  const seconds = (performance.now() - t0) / 1000;
  m.gauge.write(out, { source: `rows of ${path.basename(file)}`, target: `columns of ${path.basename(file)}`, method }, {
    overwrite: values.overwrite === true,
  });
  let sum = 0;
  let weak = 0;
  for (const x of m.confidence) {
    sum += x;
    if (x <= 0) weak++;
  }
  const summary = {
    out,
    d: c.rows,
    method,
    solver,
    group: m.gauge.group(),
    objective: m.objective,
    dualBound: m.dualBound,
    fastPath: m.fastPath,
    meanConfidence: sum / c.rows,
    nonPositiveConfidence: weak,
    negativeSigns: Array.from(m.gauge.sign).filter((s) => s < 0).length,
    seconds,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  } else {
    process.stdout.write(
      `wrote ${out}: d = ${c.rows}, group ${summary.group}, ${summary.negativeSigns} negative signs\n` +
        `objective ${m.objective.toFixed(6)} (dual bound ${m.dualBound.toFixed(6)}${m.fastPath ? ', certified by distinct row argmaxes' : ''})\n` +
        `mean confidence ${summary.meanConfidence.toFixed(4)}; ${weak} coordinates with margin <= 0\n`,
    );
  }
}
