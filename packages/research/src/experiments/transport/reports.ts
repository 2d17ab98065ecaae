/** Charts of the transport experiments for `experiment <name> --report out.html`. */
import { groupedBars, lines, type Section } from '../../../../../dist/report';
import type { AdamwExperimentResult } from './adamw';
import type { MergeExperimentResult } from './merge';
import type { SaeExperimentResult } from './sae';
import type { NeuronsExperimentResult, SteeringExperimentResult } from './steering';

const NAMES: Record<string, string> = { source: 'source (in A)', truth: 'true gauge', Bd: 'Bd estimate', Sd: 'Sd estimate', none: 'not transported' };

export async function saeReport(r: SaeExperimentResult): Promise<Section[]> {
  const rows = r.rows.map((x) => ({ category: x.pair, series: NAMES[x.transport], value: x.nmse }));
  return [{ title: 'SAE reconstruction in B', text: Object.entries(r.setups).map(([k, v]) => `${k}: ${v}`), charts: [await groupedBars(rows, 'NMSE in B on held-out text (log scale)', 'NMSE', { log: true })] }];
}

export async function steeringReport(r: SteeringExperimentResult): Promise<Section[]> {
  const rows = r.rows.map((x) => ({ category: `${x.pair}: ${x.vector}`, series: NAMES[x.transport], value: x.preservation }));
  return [{ title: 'Steering effect preserved in B', text: Object.entries(r.setups).map(([k, v]) => `${k}: ${v}`), charts: [await groupedBars(rows, 'effect in B / effect in A', 'preserved', { percent: true })] }];
}

export async function neuronsReport(r: NeuronsExperimentResult): Promise<Section[]> {
  const rows = r.rows.flatMap((x) => [
    { category: `${x.pair}: indices`, series: NAMES[x.transport], value: x.indices },
    { category: `${x.pair}: with sign`, series: NAMES[x.transport], value: x.signed },
  ]);
  return [{ title: 'Attribution lists', charts: [await groupedBars(rows, 'top-k found in the list recomputed in B', 'overlap', { percent: true })] }];
}

export async function mergeReport(r: MergeExperimentResult): Promise<Section[]> {
  const charts = [];
  for (const [pair, texts] of Object.entries(r.texts)) {
    const rows = r.rows.filter((x) => x.pair === pair).flatMap((x) => texts.map((t) => ({ category: t, series: x.model, value: x.losses[t] })));
    charts.push(await groupedBars(rows, `${pair}: loss of the parents and the merges`, 'nats per token'));
  }
  return [{ title: 'Merges', text: Object.entries(r.setups).map(([k, v]) => `${k}: ${v}`), charts }];
}

export async function adamwReport(r: AdamwExperimentResult): Promise<Section[]> {
  const charts = [];
  for (const [pair, curves] of Object.entries(r.curves)) {
    const original = curves.original;
    const rows = Object.entries(curves)
      .filter(([k]) => k !== 'original')
      .flatMap(([k, c]) => c.map((l, i) => ({ x: i + 1, y: Math.max(Math.abs(l - original[i]), 1e-9), series: NAMES[k] })));
    charts.push(await lines(rows, `${pair}: |loss - original loss| of the resumed runs (log scale, floor 1e-9)`, 'resumed step', 'loss gap', { log: true }));
  }
  return [{ title: 'Resumed training', text: Object.entries(r.setups).map(([k, v]) => `${k}: ${v}`), charts }];
}
