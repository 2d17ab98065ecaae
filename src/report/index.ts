/**
 * HTML reports (`--report out.html`) for `align`, `trajectory`, `audit` and the experiments: one self-contained
 * file each (`html.ts`), with charts drawn by Vega-Lite into inline SVG (`charts.ts`).
 */
import type { AlignResult } from '../align';
import type { AuditReport } from '../audit';
import type { Gauge } from '../gauge';
import { pct, type Table } from '../table';
import type { TrajectoryResult } from '../trajectory';
import { groupedBars, heatmap, histogram } from './charts';
import { page, writeHtml, type Section } from './html';

export { page, writeHtml, escapeHtml, type Section } from './html';
export { heatmap, histogram, groupedBars, lines } from './charts';
export { renderSvg } from './vega';

const stamp = () => `written ${new Date().toISOString()} by gauge-transport`;

/** Sections describing one alignment: accuracy, the `|C|` heatmap, confidence and sign histograms, layers. */
export async function alignSections(r: AlignResult, label = 'A -> B'): Promise<Section[]> {
  const d = r.d;
  const perm = r.gauge.perm;
  const sign = r.gauge.sign;
  const sections: Section[] = [];
  const summary: string[][] = [
    ['method', r.method],
    ['pooling', r.pool],
    ['probe', `${r.probe.source}, ${r.probe.tokens} tokens`],
    ['negative signs in the estimate', `${Math.round(r.negativeFraction * d)} of ${d} (${pct(r.negativeFraction)})`],
    ['mean confidence (p05)', `${r.confidenceSummary.mean.toFixed(3)} (${r.confidenceSummary.p05.toFixed(3)})`],
    ['time: statistics / solve', `${r.seconds.statistics.toFixed(2)} s / ${r.seconds.solve.toFixed(3)} s`],
  ];
  sections.push({ title: `Estimate ${label}`, table: { header: ['', ''], rows: summary } });
  const charts: string[] = [];
  if (r.matrix) charts.push(await heatmap(r.matrix, d, perm, '|C| reordered by the matching'));
  charts.push(await histogram(r.confidence, 'Confidence per coordinate', 'margin over the best alternative in row and column'));
  if (r.matrix) {
    const matched = Array.from({ length: d }, (_, i) => r.matrix![i * d + perm[i]]);
    charts.push(await histogram(matched, 'Sign balance: matched correlation C[i, π(i)]', 'signed correlation of the matched pair'));
  }
  const positive = Array.from(sign).filter((s) => s > 0).length;
  charts.push(
    await groupedBars(
      [
        { category: '+1', series: 'signs of the estimate', value: positive },
        { category: '-1', series: 'signs of the estimate', value: d - positive },
      ],
      'Sign balance of the estimate',
      'coordinates',
    ),
  );
  sections.push({ title: 'Matching', charts });
  if (r.truth) {
    sections.push({
      title: 'Against the known gauge',
      text: ['Accuracy of every method on the pooled matrix (GAUGE.md §2: perm accuracy counts the right target coordinate, signed accuracy also the right sign).'],
      table: {
        header: ['method', 'perm accuracy', 'signed accuracy'],
        rows: Object.entries(r.truth).map(([m, a]) => [m, pct(a.permAccuracy), pct(a.signedAccuracy)]),
      },
    });
  }
  const layerRows = r.perLayer.flatMap((l) => [
    { category: l.site, series: 'agrees with the pooled estimate', value: l.agreement.signedAccuracy },
    ...(l.truth ? [{ category: l.site, series: 'agrees with the known gauge', value: l.truth.signedAccuracy }] : []),
  ]);
  sections.push({
    title: 'Per-layer agreement',
    text: ['Each site matched on its own (marginalized), against the pooled estimate and, when known, the true gauge: the residual gauge is one for every layer, so the sites should agree.'],
    charts: [await groupedBars(layerRows, 'Signed agreement per site', 'signed agreement', { percent: true })],
  });
  return sections;
}

/** Writes the report of an alignment. */
export async function writeAlignReport(file: string, r: AlignResult, meta: { a: string; b: string }, overwrite = false): Promise<void> {
  const sections = await alignSections(r, `${meta.a} -> ${meta.b}`);
  writeHtml(file, page('gauge-transport: alignment', [`A: ${meta.a}`, `B: ${meta.b}`, stamp()], sections), overwrite);
}

/** Writes the report of a trajectory composition. */
export async function writeTrajectoryReport(
  file: string,
  r: TrajectoryResult,
  meta: { manifest: string; from: string; to: string; truth?: Gauge },
  overwrite = false,
): Promise<void> {
  const onPath = new Set(r.composition.path.slice(1).map((to, k) => `${r.composition.path[k]}→${to}`));
  const edges = r.edges.map((e) => ({
    category: `${e.from}→${e.to}`,
    series: onPath.has(`${e.from}→${e.to}`) || onPath.has(`${e.to}→${e.from}`) ? 'on the composed path' : 'other edges',
    value: e.meanConfidence,
  }));
  const sections: Section[] = [
    {
      title: `Composition ${meta.from} -> ${meta.to}`,
      table: {
        header: ['', ''],
        rows: [
          ['path', r.composition.path.join(' → ')],
          ['weakest edge on the path (mean confidence)', r.composition.minConfidence.toFixed(3)],
          ['forward passes', String(r.forwardRuns)],
          ['time', `${r.seconds.toFixed(1)} s`],
          ...(meta.truth
            ? [
                ['perm accuracy against the known gauge', pct(r.gauge.agreement(meta.truth).permAccuracy)],
                ['signed accuracy against the known gauge', pct(r.gauge.agreement(meta.truth).signedAccuracy)],
              ]
            : []),
        ],
      },
    },
    { title: 'Local edges', text: ['Mean matching confidence of every estimated edge; the composition follows the path whose weakest edge is best matched.'], charts: [await groupedBars(edges, 'Edge confidence', 'mean confidence')] },
  ];
  if (r.cycles.length) {
    sections.push({
      title: 'Cycle consistency',
      table: {
        header: ['cycle', 'agreement with the identity', 'suspect edge (mean confidence)'],
        rows: r.cycles.map((c) => [c.cycle.join(' → '), pct(c.signedAgreement), `${c.suspect.from}→${c.suspect.to} (${c.suspect.meanConfidence.toFixed(3)})`]),
      },
    });
  }
  writeHtml(file, page('gauge-transport: trajectory', [`manifest: ${meta.manifest}`, stamp()], sections), overwrite);
}

/** Sections describing an audit: verdicts, the sweep, each checkpoint, the canonical charts. */
export async function auditSections(r: AuditReport, label?: string): Promise<Section[]> {
  const prefix = label ? `${label}: ` : '';
  const sweepRows = r.results.flatMap((c) => [
    { category: c.id, series: 'Sd charts, as stated', value: c.sweep.Sd.asStated },
    { category: c.id, series: 'Bd charts, as stated', value: c.sweep.Bd.asStated },
    { category: c.id, series: 'Bd charts, moved by the gauge', value: c.sweep.Bd.transported },
  ]);
  const sections: Section[] = [
    {
      title: `${prefix}verdicts`,
      table: { header: ['claim', 'kind', 'chart', 'verdict', 'why'], rows: r.results.map((c) => [c.id, c.kind, c.chart, c.verdict, c.reason]) },
    },
    {
      title: `${prefix}sweep of random gauges`,
      text: [`The first checkpoint re-charted by ${r.sweep} random Sd and ${r.sweep} random Bd gauges: function-identical copies in other charts. Largest score difference between a re-charted copy run directly and h·score: Sd ${r.sweepCheck.Sd.toExponential(1)}, Bd ${r.sweepCheck.Bd.toExponential(1)}.`],
      charts: [await groupedBars(sweepRows, 'Fraction of swept charts where the claim holds', 'fraction', { percent: true })],
    },
    {
      title: `${prefix}on each checkpoint`,
      table: {
        header: ['claim', 'checkpoint', 'as stated', 'moved by the Bd estimate', 'moved by the Sd estimate'],
        rows: r.results.flatMap((c) =>
          c.models.map((m) => {
            const t = (g: 'Bd' | 'Sd') => c.transported.find((x) => x.model === m.model && x.gauge === g);
            const show = (x?: { holds: boolean; overlap: number }) => (x ? `${x.holds ? 'holds' : 'fails'} (${pct(x.overlap)})` : '');
            return [c.id, m.model, show(m), show(t('Bd')), show(t('Sd'))];
          }),
        ),
      },
    },
    {
      title: `${prefix}canonical charts`,
      text: ['Gauge fixing from the checkpoint alone: coordinates ordered by mean norm gain (equal gains by the norm of their embedding column), signs fixed by the token embedding. It is only as good as the gains separate the coordinates: ties leave the order arbitrary, and fine-tuning moves gains.'],
      table: {
        header: ['checkpoint', 'tied gains', 'of which also tied embeddings', 'smallest gain gap (sd)', 'weak signs', 'same chart over the sweep', 'coordinates keeping their canonical index'],
        rows: r.canonical.map((c) => [c.model, String(c.gainTies), String(c.ties), c.minGainGap.toPrecision(3), String(c.weakSigns), c.sweepStable === undefined ? '' : pct(c.sweepStable), c.agreementWithFirst === undefined ? '' : pct(c.agreementWithFirst)]),
      },
    },
  ];
  return sections;
}

/** Writes the report of an audit. */
export async function writeAuditReport(file: string, r: AuditReport, overwrite = false): Promise<void> {
  const sections = await auditSections(r);
  writeHtml(file, page('gauge-transport: audit', [`checkpoints: ${r.models.join(', ')}`, `d = ${r.d}`, stamp()], sections), overwrite);
}

/** Writes the report of an experiment: its table, and the charts its `report` hook draws. */
export async function writeExperimentReport(file: string, name: string, table: Table, sections: Section[], overwrite = false): Promise<void> {
  const all: Section[] = [...sections, { title: 'Results table', table }];
  writeHtml(file, page(`gauge-transport: experiment ${name}`, [stamp()], all), overwrite);
}
