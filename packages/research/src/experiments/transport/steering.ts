/**
 * Experiments `steering` and `neurons` (GAUGE.md §6; paper: 95.8% of a Qwen sentiment steering effect preserved
 * under `Bd` vs 17.2% under `Sd`, refusal steering reversed under `Sd`).
 *
 * `steering`: the behaviour's steering vector `v` (difference of mean residuals at a site, `prompts.ts`) is made in
 * A, transported to B by the true gauge, the `Bd` estimate, the `Sd` estimate and not at all, and its effect on
 * B's logit difference compared with its effect on A: preservation `effect_B(v') / effect_A(v)`. A second vector,
 * `v` restricted to the coordinates whose sign the true gauge flips, is constructed to exhibit a reversal: moved by
 * `|g|` every one of its entries lands with the wrong sign.
 *
 * `neurons`: the attribution list of the behaviour, its top-k residual coordinates by `|v_i|` with the score `v_i`,
 * is transported and compared with the top-k recomputed in B from B's own activations: the fraction of indices
 * found, and found with the right sign.
 */
import { loadModel, type Site } from '../../../../../dist/model';
import { machine } from '../../../../../dist/results';
import type { Table } from '../../../../../dist/table';
import { logitContrast, overlap, steeringEffect, steeringVector, topK } from '../../../../../dist/tools';
import { moveEntries } from '../../../../../dist/transport';
import { preparePair, sizeOf, TRANSPORTS, type Pair, type PairName, type PairSize, type TransportKind } from './pairs';
import { behaviours, encodeBehaviour } from '../../../../../dist/behaviours';

export interface SteeringExperimentOptions {
  pairs: PairName[];
  /** Multiplier of the steering vector, per pair. */
  scale: Record<PairSize, number>;
  seed: number;
}

export interface SteeringRow {
  pair: string;
  behaviour: string;
  vector: 'behaviour' | 'flipped part';
  site: Site;
  transport: TransportKind;
  effectA: number;
  effectB: number;
  preservation: number;
}

export interface SteeringExperimentResult {
  name: 'steering';
  params: SteeringExperimentOptions;
  setups: Record<string, string>;
  contrasts: Record<string, { up: string[]; down: string[]; vectorNorm: number }>;
  rows: SteeringRow[];
  machine: Record<string, string | number>;
}

/** The pair's behaviours, each with its prompts encoded, and the site their vectors live at (`h_{L/3}`). */
function behavioursOf(pair: Pair) {
  const site = `h_${Math.max(1, Math.round(pair.layers / 3))}` as Site;
  return behaviours(pair.name).map((beh) => ({ beh, e: encodeBehaviour(beh, pair.tokenizer), site }));
}

export async function runSteeringExperiment(o: SteeringExperimentOptions, log: (s: string) => void = () => {}): Promise<SteeringExperimentResult> {
  const rows: SteeringRow[] = [];
  const setups: Record<string, string> = {};
  const contrasts: SteeringExperimentResult['contrasts'] = {};
  for (const name of o.pairs) {
    const pair = await preparePair(name, { seed: o.seed, onStage: log });
    try {
      setups[pair.label] = pair.setup;
      const a = await loadModel(pair.a);
      const b = await loadModel(pair.b);
      const scale = o.scale[sizeOf(name)];
      for (const { beh, e, site } of behavioursOf(pair)) {
        log(`${pair.label}: ${beh.name} vector at ${site}`);
        const v = await steeringVector(a, e.positive, e.negative, site);
        contrasts[`${pair.label}: ${beh.name}`] = { ...e.contrastTokens, vectorNorm: Math.hypot(...v) };
        const flippedPart = v.map((x, i) => (pair.gauges.truth.sign[i] < 0 ? x : 0));
        const unsteeredA = await logitContrast(a, e.evaluation, e.contrast);
        const unsteeredB = await logitContrast(b, e.evaluation, e.contrast);
        for (const [kind, vec] of [['behaviour', v], ['flipped part', flippedPart]] as const) {
          const ea = (await steeringEffect(a, e.evaluation, vec, site, e.contrast, { scale, unsteered: unsteeredA })).effect;
          for (const t of TRANSPORTS) {
            const moved = pair.gauges[t].applyVector(vec);
            const eb = (await steeringEffect(b, e.evaluation, moved, site, e.contrast, { scale, unsteered: unsteeredB })).effect;
            rows.push({ pair: pair.label, behaviour: beh.name, vector: kind, site, transport: t, effectA: ea, effectB: eb, preservation: eb / ea });
          }
        }
      }
    } finally {
      pair.dispose();
    }
  }
  return { name: 'steering', params: o, setups, contrasts, rows, machine: machine() };
}

const LABEL: Record<TransportKind, string> = {
  truth: 'true gauge',
  Bd: 'Bd estimate',
  Sd: 'Sd estimate',
  none: 'not transported',
};

export function steeringTable(r: SteeringExperimentResult): Table {
  return {
    header: ['model', 'vector', 'site', 'transport', 'effect in A', 'effect in B', 'preserved'],
    rows: r.rows.map((x) => [
      x.pair,
      x.vector === 'behaviour' ? x.behaviour : `${x.behaviour}, flipped coordinates only`,
      x.site,
      LABEL[x.transport],
      x.effectA.toFixed(3),
      x.effectB.toFixed(3),
      `${(100 * x.preservation).toFixed(1)}%`,
    ]),
  };
}

export interface NeuronsExperimentOptions {
  pairs: PairName[];
  /** List length, per pair. */
  k: Record<PairSize, number>;
  seed: number;
}

export interface NeuronsRow {
  pair: string;
  behaviour: string;
  site: Site;
  k: number;
  d: number;
  transport: TransportKind;
  indices: number;
  signed: number;
}

export interface NeuronsExperimentResult {
  name: 'neurons';
  params: NeuronsExperimentOptions;
  setups: Record<string, string>;
  rows: NeuronsRow[];
  machine: Record<string, string | number>;
}

export async function runNeuronsExperiment(o: NeuronsExperimentOptions, log: (s: string) => void = () => {}): Promise<NeuronsExperimentResult> {
  const rows: NeuronsRow[] = [];
  const setups: Record<string, string> = {};
  for (const name of o.pairs) {
    const pair = await preparePair(name, { seed: o.seed, onStage: log });
    try {
      setups[pair.label] = pair.setup;
      const a = await loadModel(pair.a);
      const b = await loadModel(pair.b);
      const k = o.k[sizeOf(name)];
      for (const { beh, e, site } of behavioursOf(pair)) {
        log(`${pair.label}: top-${k} attribution for ${beh.name} at ${site}, in A and recomputed in B`);
        const listA = topK(await steeringVector(a, e.positive, e.negative, site), k);
        const reference = topK(await steeringVector(b, e.positive, e.negative, site), k);
        for (const t of TRANSPORTS) {
          // The scores are steering-vector entries: linear in the coordinate.
          const moved = moveEntries(pair.gauges[t], listA, 'list', 'linear');
          const ov = overlap(moved, reference);
          rows.push({ pair: pair.label, behaviour: beh.name, site, k, d: pair.d, transport: t, indices: ov.indices, signed: ov.signed });
        }
      }
    } finally {
      pair.dispose();
    }
  }
  return { name: 'neurons', params: o, setups, rows, machine: machine() };
}

export function neuronsTable(r: NeuronsExperimentResult): Table {
  return {
    header: ['model', 'behaviour', 'site', 'top-k of d', 'transport', 'indices found in B', 'found with the right sign'],
    rows: r.rows.map((x) => [
      x.pair,
      x.behaviour,
      x.site,
      `${x.k} of ${x.d}`,
      LABEL[x.transport],
      `${(100 * x.indices).toFixed(1)}%`,
      `${(100 * x.signed).toFixed(1)}%`,
    ]),
  };
}
