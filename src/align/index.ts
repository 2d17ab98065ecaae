/**
 * `align(A, B)`: estimates the gauge `g: A -> B` between two checkpoints (GAUGE.md §5). Both models run on the same
 * probe ids; at every chosen site the streaming cross-moments of their hidden states give a correlation matrix;
 * the matrices are pooled across sites and matched (exact assignment) by the chosen method. Heavy work runs off
 * the event loop; progress is reported per forward pass and an `AbortSignal` stops it between passes.
 */
import native = require('../native');
import { GaugeTransportError, invalidArgument, relayThrows, throwIfAborted } from '../errors';
import { Gauge } from '../gauge';
import { METHODS, type Method } from '../matching';
import { defaultMemoryBudget, fitsWhole } from '../memory';
import { allSites, type Model, type Site } from '../model';
import { loadProbe, packProbe } from '../probe';
import { corpusTokenizer } from '../train';
import { POOLS, reliability, summarizeConfidence, type ConfidenceSummary, type Pool, type Reliability } from './pool';

export { POOLS, MIN_CONFIDENCE, reliability, describeReliability, type Pool, type ConfidenceSummary, type Reliability, type ConfidenceNull } from './pool';

/** Paired statistics of two models at several sites (the addon's class). */
export type PairStats = native.PairStats;

/** Progress of {@link collectStats} and {@link align}, after each forward pass of both models. */
export interface AlignProgress {
  phase: 'statistics' | 'solve';
  /** Forward passes done (of each model) and in all. */
  done: number;
  total: number;
  tokens: number;
}

export interface StatsOptions {
  /** Probe: a file (text, JSON, .npy, safetensors) or `builtin[:text|random|mixed]`. @default 'builtin' */
  probe?: string;
  /** Token budget. @default 16384 */
  tokens?: number;
  /** Tokens per sequence. @default 256, or less where a model has fewer positions (GPT-2's `n_positions`) */
  contextLength?: number;
  /** Sequences per forward pass. @default 8 */
  batchSize?: number;
  /** Sites: `all` (h_0 … h_L and final_norm) or a list of `h_l` / `final_norm` / layer numbers. @default 'all' */
  layers?: 'all' | (Site | number)[];
  /** Seed of a built-in probe's random ids. @default 0 */
  seed?: number;
  /**
   * Where the models run and the cross-moment products are formed: `cpu`, `cuda`, `cuda:N`, `metal`, `metal:N`
   * (accelerators need a build with the `cuda` or `metal` feature). Models passed loaded keep their device.
   * @default 'cpu'
   */
  device?: string;
  /** Use only this shard of the probe's sequences: `{index, count}` (for splitting one alignment over workers). */
  shard?: { index: number; count: number };
  /**
   * Bytes the statistics pass may hold. Models that fit whole in three quarters of it run whole, batch by batch;
   * larger ones are loaded streamed (one block in memory at a time) and the probe runs through them block by block
   * in chunks that fit the budget. A budget too small for one block of each model is an error naming the bytes.
   * @default half the machine's memory
   */
  memoryBudget?: number;
  /** Stream the models (`true`) or load them whole (`false`) whatever their size. @default by `memoryBudget` */
  streamed?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: AlignProgress) => void;
}

export interface AlignOptions extends StatsOptions {
  /** @default 'marginalized' */
  method?: Method;
  /** @default 'signed-sum' */
  pool?: Pool;
  /** A floor on the median confidence for the estimate to count as reliable, beside the null (see `reliability`). @default 0 */
  minConfidence?: number;
  /** Draws of the null of the confidence (0 to 1000; 0 leaves the verdict to a matched majority). @default 8 */
  nullDraws?: number;
  /** Statistics computed earlier (`gauge-transport stats`, `stats-merge`): no model is run. */
  stats?: PairStats;
  /**
   * `activations` (default): run both models on the probe. `weights`: data-free, correlate the residual coordinates
   * through the two checkpoints' weights (Hugging Face directories; for checkpoints that share an ancestor).
   */
  from?: 'activations' | 'weights';
  /**
   * A prior added to the pooled activation correlations before matching: `weights` (the data-free estimate's
   * matrix, computed here) or statistics of any kind computed earlier. It starts the estimate where the weights
   * point and lets the activations overrule it, so fewer probe tokens reach the same accuracy when the prior is
   * good (`npm run experiment -- align-prior`).
   */
  prior?: 'weights' | PairStats;
  /** Scale of the prior against the activations' pooled correlation. @default 1 */
  priorWeight?: number;
  /** A known gauge A -> B, for reporting accuracy. */
  truth?: Gauge;
  /** Return the pooled `d x d` correlation matrix the estimate was matched on (for reports). @default false */
  keepMatrix?: boolean;
}

export interface Agreement {
  permAccuracy: number;
  signedAccuracy: number;
}

export interface AlignResult {
  gauge: Gauge;
  method: Method;
  pool: Pool;
  d: number;
  /** Per source coordinate: matched score minus the best alternative in its row and column (pooled matrix). */
  confidence: Float32Array;
  confidenceSummary: ConfidenceSummary;
  /** The verdict on the estimate: its matched fraction against the null of B's coordinates shuffled (see `reliability`). */
  reliability: Reliability;
  /** Fraction of negative signs in the estimate. */
  negativeFraction: number;
  /** Per site: the site's own marginalized estimate against the pooled estimate (and against the truth). */
  perLayer: { site: string; agreement: Agreement; truth?: Agreement }[];
  /** With `truth`: the accuracy of every method on the pooled matrix. */
  truth?: Record<Method, Agreement>;
  /** With `keepMatrix`: the pooled correlation matrix, row-major `d x d` (rows: A's coordinates, columns: B's). */
  matrix?: Float32Array;
  probe: { source: string; tokens: number; sequences: number; warning?: string };
  /** Whether the models ran streamed, block by block under `memoryBudget`. */
  streamed: boolean;
  /** The prior added before matching, if any: its source and weight. */
  prior?: { source: string; weight: number };
  /**
   * Wall times: `statistics` is the whole collection (loading, probe, passes), of which `forward` in the models'
   * forward passes and `moments` in accumulating the cross-moments; `solve` is every matching.
   */
  seconds: { statistics: number; forward: number; moments: number; solve: number; total: number };
}

const DEFAULTS = { tokens: 16384, contextLength: 256, batchSize: 8 };

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The site names for `layers`, checked against a model of `layers` blocks. */
export function resolveSites(layers: StatsOptions['layers'], numLayers: number): Site[] {
  if (layers === undefined || layers === 'all') return allSites(numLayers);
  if (layers.length === 0) throw invalidArgument('layers', 'is empty');
  return layers.map((l) => {
    const site = (typeof l === 'number' ? `h_${l}` : l) as Site;
    const m = /^h_(\d+)$/.exec(site);
    if (site !== 'final_norm' && (!m || Number(m[1]) > numLayers)) {
      throw invalidArgument('layers', `${JSON.stringify(l)} is not a site of a model with ${numLayers} blocks (h_0 … h_${numLayers}, final_norm)`);
    }
    return site;
  });
}

/**
 * Runs both models on the probe and accumulates their paired statistics at every site (the expensive half of
 * {@link align}); the result can be saved, merged with other shards and aligned later.
 */
export async function collectStats(
  a: string | Model,
  b: string | Model,
  options: StatsOptions = {},
): Promise<{
  stats: PairStats;
  probe: AlignResult['probe'];
  forwardSeconds: number;
  statsSeconds: number;
  /** Whether the models were streamed block by block under the budget. */
  streamed: boolean;
}> {
  throwIfAborted(options.signal, 'align');
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  if (!(Number.isSafeInteger(budget) && budget >= 1)) throw invalidArgument('memoryBudget', `${budget} is not a positive whole number of bytes`);
  const streamed =
    options.streamed ?? (typeof a === 'string' && typeof b === 'string' ? !fitsWhole(a, b, budget) : false);
  const [ma, mb] = await Promise.all([
    typeof a === 'string' ? native.Model.load(a, { device: options.device, streamed }) : a,
    typeof b === 'string' ? native.Model.load(b, { device: options.device, streamed }) : b,
  ]);
  const blockwise = ma.streamed || mb.streamed;
  const limit = Math.min(ma.maxPositions ?? Infinity, mb.maxPositions ?? Infinity);
  const contextLength = options.contextLength ?? Math.min(DEFAULTS.contextLength, limit);
  if (contextLength > limit) {
    throw invalidArgument('contextLength', `${contextLength} is longer than the models' ${limit} positions (n_positions)`);
  }
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  const tokens = options.tokens ?? DEFAULTS.tokens;
  const vocab = Math.min(ma.vocab, mb.vocab);
  const probe = loadProbe(options.probe, {
    vocab,
    // The same reading of text as train, trajectory and demo: the model's tokenizer, or bytes for a byte-level model.
    tokenizer: corpusTokenizer(ma.path, vocab).tokenizer,
    tokens,
    seed: options.seed ?? 0,
  });
  const packed = packProbe(probe.ids, { contextLength, batchSize, tokenBudget: tokens, source: probe.source });
  let ids = packed.ids;
  if (options.shard) {
    const { index, count } = options.shard;
    if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count)) {
      throw invalidArgument('shard', `${index}/${count} is not a shard index below a positive shard count`);
    }
    const rows = ids.length / contextLength;
    const lo = Math.floor((rows * index) / count);
    const hi = Math.floor((rows * (index + 1)) / count);
    if (hi <= lo) throw invalidArgument('shard', `shard ${index} of ${count} gets no sequence of the probe's ${rows}`);
    ids = ids.slice(lo * contextLength, hi * contextLength);
  }
  const sites = resolveSites(options.layers, ma.layers);
  let last: native.StatsProgress | undefined;
  // A throwing onProgress stops the pass and rejects with its own exception.
  const progress = relayThrows((p: native.StatsProgress) => {
    last = p;
    options.onProgress?.({ phase: 'statistics', done: p.done, total: p.total, tokens: p.tokens });
  });
  const stats = await progress.settle(native.collectPairStats(
    ma,
    mb,
    ids,
    {
      seq: contextLength,
      batch: batchSize,
      sites,
      metadata: {
        'model_a.path': ma.path,
        'model_b.path': mb.path,
        'probe.source': probe.source,
        'probe.tokens': String(ids.length),
        'probe.context_length': String(contextLength),
        ...(options.shard ? { 'probe.shard': `${options.shard.index}/${options.shard.count}` } : {}),
      },
      ...(blockwise ? { memoryBudget: budget } : {}),
    },
    progress.callback,
    options.signal,
  ));
  const warning = 'warning' in probe ? (probe as { warning?: string }).warning : undefined;
  return {
    stats,
    streamed: blockwise,
    forwardSeconds: last?.forwardSeconds ?? 0,
    statsSeconds: last?.statsSeconds ?? 0,
    probe: { source: probe.source, tokens: ids.length, sequences: ids.length / contextLength, ...(warning ? { warning } : {}) },
  };
}

/** The prior's statistics: the weights' correlations, or statistics given; see {@link AlignOptions.prior}. */
async function priorStats(a: string | Model, b: string | Model, prior: 'weights' | PairStats, d: number): Promise<PairStats> {
  let stats: PairStats;
  if (prior === 'weights') {
    const pa = typeof a === 'string' ? a : a.path;
    const pb = typeof b === 'string' ? b : b.path;
    stats = await native.weightPairStats(pa, pb);
  } else if (typeof prior === 'object' && prior !== null && 'correlation' in prior) {
    stats = prior;
  } else {
    throw invalidArgument('prior', `${JSON.stringify(prior)} is neither 'weights' nor statistics (PairStats)`);
  }
  if (stats.d !== d) throw new GaugeTransportError('SHAPE_MISMATCH', `prior: its statistics have d = ${stats.d} but the models have d = ${d}`);
  return stats;
}

/** Estimates the gauge `A -> B` from activations; see the module docs. */
export async function align(a: string | Model, b: string | Model, options: AlignOptions = {}): Promise<AlignResult> {
  const t0 = process.hrtime.bigint();
  const method = options.method ?? 'marginalized';
  const pool = options.pool ?? 'signed-sum';
  if (!METHODS.includes(method)) throw invalidArgument('method', `${JSON.stringify(method)} is not one of ${METHODS.join(', ')}`);
  if (!(POOLS as readonly string[]).includes(pool)) throw invalidArgument('pool', `${JSON.stringify(pool)} is not one of ${POOLS.join(', ')}`);
  let stats = options.stats;
  let forwardSeconds = 0;
  let statsSeconds = 0;
  let streamed = false;
  let probe: AlignResult['probe'] = { source: 'precomputed statistics', tokens: 0, sequences: 0 };
  if (!stats && options.from === 'weights') {
    if (typeof a !== 'string' || typeof b !== 'string') throw invalidArgument('from', 'weights needs the two checkpoint paths');
    stats = await native.weightPairStats(a, b);
    probe = { source: 'weights (data-free)', tokens: 0, sequences: 0 };
  } else if (!stats) {
    ({ stats, probe, forwardSeconds, statsSeconds, streamed } = await collectStats(a, b, options));
  } else if (options.stats) {
    probe = { source: stats!.metadata['probe.source'] ?? 'precomputed statistics', tokens: stats!.count, sequences: 0 };
  }
  if (!stats) throw new GaugeTransportError('INTERNAL', 'no statistics');
  const tStats = seconds(t0);
  throwIfAborted(options.signal, 'align');
  const t1 = process.hrtime.bigint();
  options.onProgress?.({ phase: 'solve', done: 0, total: 1, tokens: stats.count });
  const d = stats.d;
  if (options.truth && options.truth.d !== d) {
    throw new GaugeTransportError('SHAPE_MISMATCH', `truth: the gauge has d = ${options.truth.d} but the models have d = ${d}`);
  }
  const priorWeight = options.priorWeight ?? 1;
  if (!(Number.isFinite(priorWeight) && priorWeight >= 0)) throw invalidArgument('priorWeight', `${priorWeight} is not a finite number >= 0`);
  const prior = options.prior === undefined ? undefined : await priorStats(a, b, options.prior, d);
  // One call, off the event loop: the per-site correlations, pooling, prior and every matching stay in the core.
  const est = await native.estimateGauge(
    stats,
    { method, pool, prior, priorWeight, allMethods: options.truth !== undefined, keepMatrix: options.keepMatrix === true, nullDraws: options.nullDraws },
    options.signal,
  );
  const gauge = est.gauge;
  const agreement = (g: Gauge, t: Gauge): Agreement => {
    const x = g.agreement(t);
    return { permAccuracy: x.permAccuracy, signedAccuracy: x.signedAccuracy };
  };
  const perLayer = est.perSite.map(({ site, gauge: g }) => ({
    site,
    agreement: agreement(g, gauge),
    ...(options.truth ? { truth: agreement(g, options.truth) } : {}),
  }));
  let truth: AlignResult['truth'];
  if (options.truth) {
    truth = {} as Record<Method, Agreement>;
    for (const m of est.byMethod) truth[m.method as Method] = agreement(m.gauge, options.truth);
  }
  options.onProgress?.({ phase: 'solve', done: 1, total: 1, tokens: stats.count });
  const sign = gauge.sign;
  const negativeFraction = sign.reduce((s, x) => s + (x < 0 ? 1 : 0), 0) / d;
  return {
    gauge,
    method,
    pool,
    d,
    confidence: est.confidence,
    confidenceSummary: summarizeConfidence(est.confidence),
    reliability: reliability(est.confidence, est.null, options.minConfidence),
    negativeFraction,
    perLayer,
    truth,
    ...(est.matrix ? { matrix: est.matrix } : {}),
    probe,
    streamed,
    ...(options.prior !== undefined
      ? { prior: { source: options.prior === 'weights' ? 'weights' : options.prior.metadata['probe.source'] ?? 'statistics', weight: options.priorWeight ?? 1 } }
      : {}),
    seconds: { statistics: tStats, forward: forwardSeconds, moments: statsSeconds, solve: seconds(t1), total: seconds(t0) },
  };
}
