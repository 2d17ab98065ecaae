/**
 * Trajectories (GAUGE.md §5): gauges between checkpoints of fine-tuning runs composed along saved checkpoints,
 * with the `endpoint` and `via-base` baselines, from a manifest or incrementally while a run trains.
 */
import * as path from 'node:path';
import native = require('../native');
import { invalidArgument } from '../errors';
import type { Gauge } from '../gauge';
import { loadProbe, packProbe } from '../probe';
import { resolveSites } from '../align';
import { corpusTokenizer } from '../train';
import { describeReliability, MIN_CONFIDENCE, reliability, type Reliability } from '../align/pool';
import { ActivationCache, type ProbeDesign } from './activations';
import { CheckpointGraph, type Composition, type CycleReport, type GaugeEdge } from './graph';
import { readManifest, type Manifest } from './manifest';

export { ActivationCache, contentHash, type Activations, type ProbeDesign } from './activations';
export { CheckpointGraph, pooledCorrelation, type CheckpointNode, type Composition, type CycleReport, type GaugeEdge } from './graph';
export { readManifest, type Manifest } from './manifest';

export interface DesignOptions {
  /** Probe spec as for `align` (file or `builtin[:kind]`). @default 'builtin' */
  probe?: string;
  /** @default 8192 */
  tokens?: number;
  /** @default 128 */
  contextLength?: number;
  /** @default 8 */
  batchSize?: number;
  /** Sites. @default every site */
  layers?: 'all' | (string | number)[];
  /** @default 0 */
  seed?: number;
}

/** The probe design for checkpoints shaped like `reference` (its vocabulary, tokenizer or bytes, layers). */
export async function probeDesign(reference: string, o: DesignOptions = {}): Promise<ProbeDesign> {
  const model = await native.Model.load(reference);
  const tokens = o.tokens ?? 8192;
  const seq = Math.min(o.contextLength ?? 128, model.maxPositions ?? Infinity);
  const { tokenizer } = corpusTokenizer(reference, model.vocab);
  const probe = loadProbe(o.probe, { vocab: model.vocab, tokenizer, tokens, seed: o.seed ?? 0 });
  const packed = packProbe(probe.ids, { contextLength: seq, batchSize: o.batchSize ?? 8, tokenBudget: tokens, source: probe.source });
  const sites = resolveSites(o.layers as never, model.layers);
  return { ids: packed.ids, seq, batch: o.batchSize ?? 8, sites };
}

/** Options of {@link Trajectory}. */
export interface TrajectoryOptions extends DesignOptions {
  /** A directory for cached activations (by content hash), reused across processes. */
  cacheDir?: string;
  /** A floor on an edge's median confidence, beside its null (as for `align`). @default 0 */
  minConfidence?: number;
  /** Draws of each edge's null (as for `align`). @default 8 */
  nullDraws?: number;
}

/**
 * Incremental use from a training orchestrator: `add(dir, {run})` links each newly saved checkpoint to the previous
 * one of its run (or to the base) and estimates that edge in the background, so the cost is paid while training
 * goes on; `settled()` waits for all of them; `compose(a, b)` then answers at once.
 */
export class Trajectory {
  readonly graph: CheckpointGraph;
  private readonly last = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();
  private failure: unknown;

  private constructor(
    graph: CheckpointGraph,
    readonly base: string,
  ) {
    this.graph = graph;
  }

  /** Starts a trajectory at `base` (a Hugging Face directory); the probe is designed for it. */
  static async create(base: string, options: TrajectoryOptions = {}): Promise<Trajectory> {
    const design = await probeDesign(base, options);
    const graph = new CheckpointGraph(new ActivationCache(design, 4, options.cacheDir), 'marginalized', options.nullDraws ?? 8);
    graph.addCheckpoint(base, base);
    return new Trajectory(graph, base);
  }

  /** Adds `checkpoint` after the last one of `run` (or the base) and queues the estimate of that edge. */
  add(checkpoint: string, { run = 'default' }: { run?: string } = {}): Promise<GaugeEdge> {
    const prev = this.last.get(run) ?? this.base;
    this.graph.addCheckpoint(checkpoint, checkpoint);
    this.last.set(run, checkpoint);
    const job = this.queue.then(() => this.graph.addEdge(prev, checkpoint));
    this.queue = job.catch((e) => {
      this.failure ??= e;
    });
    return job;
  }

  /** Waits for every queued edge; rejects with the first failure. */
  async settled(): Promise<void> {
    await this.queue;
    if (this.failure) throw this.failure;
  }

  /** The gauge `from -> to` along the estimated edges. */
  compose(from: string, to: string): Composition {
    return this.graph.compose(from, to);
  }
}

/** What {@link estimateTrajectory} returns. */
export interface TrajectoryResult {
  gauge: Gauge;
  composition: Composition;
  /** Edges estimated, in manifest order, each with its verdict (`align`'s rule; a duplicate is reliable). */
  edges: { from: string; to: string; meanConfidence: number; duplicate: boolean; medianConfidence: number; matchedFraction: number; nullBound: number; verdict: Reliability; reliable: boolean }[];
  cycles: CycleReport[];
  /**
   * The verdict on the composed gauge: reliable when every edge on its path is reliable and no inconsistent cycle
   * blames an edge of the path (its suspect, the weakest edge). `unreliable` names the edges and cycles that fail.
   */
  reliability: { reliable: boolean; minConfidence: number; unreliable: string[] };
  /** Forward passes made (at most one per distinct checkpoint). */
  forwardRuns: number;
  seconds: number;
}

/** Estimates every edge of a manifest and composes `from -> to`. */
export async function estimateTrajectory(
  manifest: string | Manifest,
  from: string,
  to: string,
  options: TrajectoryOptions & { signal?: AbortSignal; onEdge?: (done: number, total: number, edge: GaugeEdge) => void } = {},
): Promise<TrajectoryResult> {
  const t0 = process.hrtime.bigint();
  const m = typeof manifest === 'string' ? readManifest(manifest) : manifest;
  const ids = new Set(m.checkpoints.map((c) => c.id));
  // A checkpoint is named as the manifest writes it, or by its path (absolute, or relative to the working directory).
  const entry = (flag: string, id: string): string => {
    if (ids.has(id)) return id;
    const byPath = m.checkpoints.find((c) => path.resolve(c.path) === path.resolve(id));
    if (byPath) return byPath.id;
    throw invalidArgument(flag, `${JSON.stringify(id)} is not a checkpoint of ${m.file} (${[...ids].join(', ')})`);
  };
  from = entry('--from', from);
  to = entry('--to', to);
  const basePath = m.checkpoints.find((c) => c.id === m.base)!.path;
  const design = await probeDesign(basePath, options);
  const graph = new CheckpointGraph(new ActivationCache(design, 4, options.cacheDir), 'marginalized', options.nullDraws ?? 8);
  for (const c of m.checkpoints) graph.addCheckpoint(c.id, c.path);
  const minConfidence = options.minConfidence ?? MIN_CONFIDENCE;
  const edges: TrajectoryResult['edges'] = [];
  for (const [a, b] of m.edges) {
    const e = await graph.addEdge(a, b, options.signal);
    const rel = reliability(e.confidence, e.null, minConfidence);
    edges.push({
      from: a,
      to: b,
      meanConfidence: e.meanConfidence,
      duplicate: e.duplicate,
      medianConfidence: e.duplicate ? Infinity : rel.median,
      matchedFraction: e.duplicate ? 1 : rel.matchedFraction,
      nullBound: rel.nullBound,
      verdict: rel,
      reliable: e.duplicate || rel.reliable,
    });
    options.onEdge?.(edges.length, m.edges.length, e);
  }
  const composition = graph.compose(from, to);
  const cycles = graph.cycles();
  const onPath = new Set(composition.path.slice(1).map((v, i) => `${composition.path[i]}|${v}`));
  const hop = (x: string, y: string) => onPath.has(`${x}|${y}`) || onPath.has(`${y}|${x}`);
  const unreliable = [
    ...edges
      .filter((e) => !e.reliable && hop(e.from, e.to))
      .map((e) => `${e.from} -> ${e.to} (${describeReliability(e.verdict)})`),
    ...cycles
      .filter((c) => c.signedAgreement !== 1 && hop(c.suspect.from, c.suspect.to))
      .map((c) => `cycle ${c.cycle.join(' -> ')} (agrees with the identity on ${(100 * c.signedAgreement).toFixed(1)}%)`),
  ];
  return {
    gauge: composition.gauge,
    composition,
    edges,
    cycles,
    reliability: { reliable: unreliable.length === 0, minConfidence, unreliable },
    forwardRuns: graph.cache.runs,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
}
