/** `gauge-transport align <A> <B> …`: estimate the gauge A -> B from activations on a probe. */
import * as path from 'node:path';
import native = require('../native');
import { align, describeReliability, MIN_CONFIDENCE, POOLS, type AlignResult, type Pool } from '../align';
import { GaugeTransportError, invalidArgument } from '../errors';
import { checkOutput } from '../files';
import { writeAlignReport } from '../report';
import { METHODS, type Method } from '../matching';
import { ProgressBar } from '../progress';
import { num, oneOf, parse, str } from './args';
import { MEMORY_HELP, PROBE_FLAGS, probeOptions } from './probe-flags';

export const usage = `gauge-transport align <A> <B> --out g.safetensors [options]

Estimates the gauge g: A -> B (h_B ≈ g·h_A) between two checkpoints (Hugging Face directories or GGUF files) of
one architecture: both run on the same probe tokens, the correlations of their residual streams are pooled over
layers and matched exactly.

  --probe SPEC          builtin (default), builtin:text|random|mixed, or a file: .txt/.md (tokenized with A's
                        tokenizer), .json ids, .npy int32/int64, file.safetensors[:tensor]
  --tokens N            token budget (default 16384)
  --context N           tokens per sequence (default 256, or the model's n_positions if fewer)
  --batch N             sequences per forward pass (default 8)
  --layers LIST         all (default) or e.g. 0,4,8,final_norm
  --method M            marginalized (default), signed, permutation
  --pool P              signed-sum (default) or per-layer (consensus of per-layer matchings)
  --from SOURCE         activations (default) or weights (data-free: correlate the checkpoints' weights;
                        Hugging Face directories that share an ancestor)
  --stats FILE          statistics from \`gauge-transport stats\` / \`stats-merge\` instead of running the models
  --prior SOURCE        weights, or a statistics file: added to the activations' correlations before matching
  --prior-weight W      scale of the prior (default 1)
  --truth FILE          a known gauge A -> B: report every method's accuracy
  --seed S              seed of the built-in probe's random ids (default 0)
  --device D            cpu (default), cuda, cuda:N, metal, metal:N: where the models run and the cross-moment
                        products are formed (accelerators need a build with the cuda or metal feature)
${MEMORY_HELP}
  --out FILE            gauge file to write (refuses to replace an existing file unless --overwrite)
  --overwrite           replace --out
  --report FILE         also write a self-contained HTML report (|C| heatmap, confidence, signs, layers)
  --null-draws N        draws of the null (B's coordinates shuffled afresh for every coordinate of A, then matched
                        the same way; 0 to 1000, default 8): the estimate is reliable when more of its coordinates
                        are matched above their best alternative than the null's bound (mean + 3 sd, at least
                        its maximum and 50%); an unreliable estimate is an error (UNRELIABLE) and writes nothing
  --min-confidence C    also require the median confidence to be above C (default 0: the null decides)
  --force               write an unreliable estimate anyway
  --json                print the result as JSON (with whether the models were streamed and the peak RSS)`;

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** The JSON form of a result (typed arrays summarised). */
export function alignJson(r: AlignResult, out: string): Record<string, unknown> {
  return {
    out,
    d: r.d,
    method: r.method,
    pool: r.pool,
    group: r.gauge.group(),
    negativeFraction: r.negativeFraction,
    confidence: r.confidenceSummary,
    reliability: r.reliability,
    perLayer: r.perLayer,
    truth: r.truth,
    probe: r.probe,
    prior: r.prior,
    streamed: r.streamed,
    seconds: r.seconds,
    // This process's peak resident memory (maxRSS is reported in KiB).
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      ...PROBE_FLAGS,
      method: { type: 'string' },
      pool: { type: 'string' },
      from: { type: 'string' },
      stats: { type: 'string' },
      prior: { type: 'string' },
      'prior-weight': { type: 'string' },
      truth: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
      report: { type: 'string' },
      'min-confidence': { type: 'string' },
      'null-draws': { type: 'string' },
      force: { type: 'boolean' },
    },
    'align',
  );
  if (positionals.length !== 2) throw invalidArgument('align', `expected two models A and B, got ${positionals.length}`);
  const [a, b] = positionals;
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required (the gauge file to write)');
  const truthFile = str(values.truth, '--truth');
  const statsFile = str(values.stats, '--stats');
  const priorRaw = str(values.prior, '--prior');
  const prior = priorRaw === undefined || priorRaw === 'weights' ? priorRaw : native.PairStats.load(priorRaw);
  const report = str(values.report, '--report');
  if (report) checkOutput(path.resolve(report), values.overwrite === true);
  const bar = new ProgressBar('align');
  const r = await align(a, b, {
    ...probeOptions(values),
    method: oneOf<Method>(values.method, '--method', METHODS, 'marginalized'),
    pool: oneOf<Pool>(values.pool, '--pool', POOLS, 'signed-sum'),
    minConfidence: num(values['min-confidence'], '--min-confidence', MIN_CONFIDENCE, { min: -1, max: 1 }),
    nullDraws: num(values['null-draws'], '--null-draws', 8, { min: 0, max: 1000, integer: true }),
    from: oneOf(values.from, '--from', ['activations', 'weights'] as const, 'activations'),
    stats: statsFile ? native.PairStats.load(statsFile) : undefined,
    prior,
    priorWeight: num(values['prior-weight'], '--prior-weight', 1, { min: 0 }),
    truth: truthFile ? native.Gauge.read(truthFile) : undefined,
    keepMatrix: report !== undefined,
    onProgress: (p) => bar.update(p.done, p.total, p.phase === 'statistics' ? `${p.tokens} tokens` : 'solving'),
  }).finally(() => bar.done());
  const rel = r.reliability;
  if (!rel.reliable && values.force !== true) {
    throw new GaugeTransportError(
      'UNRELIABLE',
      `the estimate is not reliable: ${describeReliability(rel)}, as for checkpoints whose coordinates do not ` +
        `correspond or a probe too short for d = ${r.d}; nothing was written (--force writes it anyway)`,
    );
  }
  r.gauge.write(out, { source: a, target: b, method: r.method }, { overwrite: values.overwrite === true });
  if (report) await writeAlignReport(path.resolve(report), r, { a, b }, values.overwrite === true);
  if (values.json) {
    process.stdout.write(JSON.stringify(alignJson(r, out), null, 2) + '\n');
    return;
  }
  const c = r.confidenceSummary;
  const lines = [
    `wrote ${out}: d = ${r.d}, ${r.method} (${r.pool}), group ${r.gauge.group()}, ${pct(r.negativeFraction)} negative signs`,
    ...(report ? [`report: ${path.resolve(report)}`] : []),
    `probe: ${r.probe.tokens} tokens from ${r.probe.source}${r.probe.warning ? ` (${r.probe.warning})` : ''}`,
    `confidence: mean ${c.mean.toFixed(4)}, median ${c.median.toFixed(4)}, 5th percentile ${c.p05.toFixed(4)}; ${pct(c.lowFraction)} at or below ${c.threshold}`,
    `per-layer agreement with the pooled estimate (signed): ${r.perLayer.map((l) => `${l.site} ${pct(l.agreement.signedAccuracy)}`).join(', ')}`,
  ];
  if (r.truth) {
    for (const m of METHODS) {
      lines.push(`truth, ${m}: perm accuracy ${pct(r.truth[m].permAccuracy)}, signed accuracy ${pct(r.truth[m].signedAccuracy)}`);
    }
  }
  lines.push(`time: statistics ${r.seconds.statistics.toFixed(2)} s (forward ${r.seconds.forward.toFixed(2)} s, moments ${r.seconds.moments.toFixed(2)} s), solve ${r.seconds.solve.toFixed(2)} s, total ${r.seconds.total.toFixed(2)} s`);
  process.stdout.write(lines.join('\n') + '\n');
}
