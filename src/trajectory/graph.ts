/**
 * A checkpoint graph (GAUGE.md §5, trajectory composition): nodes are checkpoints, edges are local gauges estimated
 * between neighbours from their activations on one probe, with per-coordinate confidence. A gauge between any two
 * connected checkpoints is the composition of the edges along the path between them (an edge walked backwards
 * contributes its inverse). Where the graph has cycles, the composition around each cycle should be the identity;
 * {@link CheckpointGraph.cycles} reports how far it is and which edge most likely broke it.
 *
 * Each checkpoint's activations are computed once ({@link ActivationCache}); two checkpoints with the same content
 * hash are the same model, and the edge between them is the identity (reported as a duplicate).
 */
import native = require('../native');
import { GaugeTransportError, invalidArgument } from '../errors';
import type { Gauge } from '../gauge';
import type { Method } from '../matching';
import type { ConfidenceNull } from '../align/pool';
import { ActivationCache, contentHash, type Activations } from './activations';

/** A checkpoint in the graph. */
export interface CheckpointNode {
  id: string;
  path: string;
  hash: string;
}

/** An estimated local gauge `from -> to`. */
export interface GaugeEdge {
  from: string;
  to: string;
  gauge: Gauge;
  /** Mean per-coordinate confidence of the matching (0 for a duplicate, which needs none). */
  meanConfidence: number;
  /** Per source coordinate. */
  confidence: Float32Array;
  /** `from` and `to` have the same content: the edge is the identity without estimation. */
  duplicate: boolean;
  /** The null of `confidence` (B's coordinates shuffled), for an estimated edge. */
  null?: ConfidenceNull;
}

/** A composed gauge and how it was obtained. */
export interface Composition {
  gauge: Gauge;
  /** Node ids from `from` to `to`. */
  path: string[];
  /** The weakest edge's mean confidence on the path. */
  minConfidence: number;
}

/** The composition around one independent cycle. */
export interface CycleReport {
  /** Node ids around the cycle, first = last. */
  cycle: string[];
  /** Signed agreement of the composition with the identity (1: consistent). */
  signedAgreement: number;
  /** The edge on the cycle with the lowest mean confidence: the most likely culprit when inconsistent. */
  suspect: { from: string; to: string; meanConfidence: number };
}

export class CheckpointGraph {
  private readonly nodes = new Map<string, CheckpointNode>();
  private readonly edgeList: GaugeEdge[] = [];

  constructor(
    readonly cache: ActivationCache,
    private readonly method: Method = 'marginalized',
    /** Draws of each estimated edge's null (see `reliability`). */
    private readonly nullDraws = 8,
  ) {}

  /** Adds checkpoint `path` as node `id` (its content is hashed now). Re-adding an id is an error. */
  addCheckpoint(id: string, path: string): CheckpointNode {
    if (this.nodes.has(id)) throw invalidArgument('checkpoint', `${JSON.stringify(id)} is already in the graph`);
    const node = { id, path, hash: contentHash(path) };
    this.nodes.set(id, node);
    return node;
  }

  node(id: string): CheckpointNode {
    const n = this.nodes.get(id);
    if (!n) throw invalidArgument('checkpoint', `${JSON.stringify(id)} is not in the graph (${[...this.nodes.keys()].join(', ')})`);
    return n;
  }

  get checkpoints(): CheckpointNode[] {
    return [...this.nodes.values()];
  }

  get edges(): GaugeEdge[] {
    return [...this.edgeList];
  }

  /** Estimates the local gauge `from -> to` from both checkpoints' activations and adds the edge. */
  async addEdge(from: string, to: string, signal?: AbortSignal): Promise<GaugeEdge> {
    const a = this.node(from);
    const b = this.node(to);
    if (this.edgeList.some((e) => (e.from === from && e.to === to) || (e.from === to && e.to === from))) {
      throw invalidArgument('edge', `${from} -> ${to} is already in the graph`);
    }
    const edge = await this.estimate(a, b, signal);
    this.edgeList.push(edge);
    return edge;
  }

  /**
   * Adds an edge whose gauge is known rather than estimated (for example the gauge a checkpoint was re-charted
   * with), with the confidence to give it in cycle reports.
   */
  addKnownEdge(from: string, to: string, gauge: Gauge, meanConfidence = Infinity): GaugeEdge {
    this.node(from);
    this.node(to);
    const edge = { from, to, gauge, meanConfidence, confidence: new Float32Array(gauge.d).fill(meanConfidence), duplicate: false };
    this.edgeList.push(edge);
    return edge;
  }

  /** The gauge `a -> b` estimated directly (not added to the graph): the `endpoint` baseline. */
  async direct(from: string, to: string, signal?: AbortSignal): Promise<GaugeEdge> {
    return this.estimate(this.node(from), this.node(to), signal);
  }

  private async estimate(a: CheckpointNode, b: CheckpointNode, signal?: AbortSignal): Promise<GaugeEdge> {
    const xa = await this.cache.get(a.path, a.hash);
    if (a.hash === b.hash) {
      const gauge = native.Gauge.identity(xa.d);
      return { from: a.id, to: b.id, gauge, meanConfidence: 0, confidence: new Float32Array(xa.d), duplicate: true };
    }
    const xb = await this.cache.get(b.path, b.hash);
    if (xa.d !== xb.d) {
      throw new GaugeTransportError('SHAPE_MISMATCH', `${a.path} has d = ${xa.d} but ${b.path} has d = ${xb.d}: no gauge relates them`);
    }
    // The estimator of `align`: the same statistics, pooling, matching and null, in one native call.
    const stats = await pairStats(xa, xb, this.cache.design.sites);
    const m = await native.estimateGauge(stats, { method: this.method, nullDraws: this.nullDraws }, signal);
    const mean = m.confidence.reduce((s, c) => s + c, 0) / m.confidence.length;
    return { from: a.id, to: b.id, gauge: m.gauge, meanConfidence: mean, confidence: m.confidence, duplicate: false, ...(m.null ? { null: m.null } : {}) };
  }

  /**
   * Node ids on the widest path `from … to` (edges walked either way): the path whose weakest edge has the highest
   * mean confidence, fewest hops among equals. Composition then runs through well-matched neighbours rather than
   * a long hop whose endpoints have drifted apart. An error when no chain of edges connects them.
   */
  path(from: string, to: string): string[] {
    this.node(from);
    this.node(to);
    const width = (e: GaugeEdge) => (e.duplicate ? Infinity : e.meanConfidence);
    const best = new Map<string, { width: number; hops: number; prev: string | null }>([[from, { width: Infinity, hops: 0, prev: null }]]);
    const done = new Set<string>();
    for (;;) {
      let u: string | undefined;
      for (const [id, b] of best) {
        if (done.has(id)) continue;
        const cur = u === undefined ? undefined : best.get(u)!;
        if (!cur || b.width > cur.width || (b.width === cur.width && b.hops < cur.hops)) u = id;
      }
      if (u === undefined || u === to) break;
      done.add(u);
      const bu = best.get(u)!;
      for (const e of this.edgeList) {
        const v = e.from === u ? e.to : e.to === u ? e.from : undefined;
        if (v === undefined || done.has(v)) continue;
        const cand = { width: Math.min(bu.width, width(e)), hops: bu.hops + 1, prev: u };
        const old = best.get(v);
        if (!old || cand.width > old.width || (cand.width === old.width && cand.hops < old.hops)) best.set(v, cand);
      }
    }
    if (!best.has(to)) throw invalidArgument('trajectory', `no chain of estimated edges connects ${from} to ${to}`);
    const path: string[] = [];
    for (let v: string | null = to; v !== null; v = best.get(v)!.prev) path.unshift(v);
    return path;
  }

  private edgeGauge(u: string, v: string): { gauge: Gauge; meanConfidence: number; duplicate: boolean } {
    const fwd = this.edgeList.find((e) => e.from === u && e.to === v);
    if (fwd) return fwd;
    const back = this.edgeList.find((e) => e.from === v && e.to === u)!;
    return { gauge: back.gauge.inverse(), meanConfidence: back.meanConfidence, duplicate: back.duplicate };
  }

  /** Composes the edges along `path` (node ids), first edge first. */
  composeAlong(path: string[]): Composition {
    let gauge = native.Gauge.identity(this.edgeGauge(path[0], path[1]).gauge.d);
    let minConfidence = Infinity;
    for (let k = 0; k + 1 < path.length; k++) {
      const e = this.edgeGauge(path[k], path[k + 1]);
      gauge = e.gauge.compose(gauge);
      if (!e.duplicate) minConfidence = Math.min(minConfidence, e.meanConfidence);
    }
    return { gauge, path, minConfidence };
  }

  /** The gauge `from -> to` composed along the widest path of estimated edges ({@link CheckpointGraph.path}). */
  compose(from: string, to: string): Composition {
    if (from === to) throw invalidArgument('trajectory', `--from and --to are the same checkpoint ${from}`);
    return this.composeAlong(this.path(from, to));
  }

  /** One report per independent cycle (each edge outside a spanning tree closes one). */
  cycles(): CycleReport[] {
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      while (parent.get(x) !== x) x = parent.get(x)!;
      return x;
    };
    for (const id of this.nodes.keys()) parent.set(id, id);
    const tree: GaugeEdge[] = [];
    const closing: GaugeEdge[] = [];
    for (const e of this.edgeList) {
      const [ra, rb] = [find(e.from), find(e.to)];
      if (ra === rb) closing.push(e);
      else {
        parent.set(ra, rb);
        tree.push(e);
      }
    }
    const treeGraph = new CheckpointGraph(this.cache, this.method);
    for (const n of this.nodes.values()) treeGraph.nodes.set(n.id, n);
    treeGraph.edgeList.push(...tree);
    return closing.map((e) => {
      const back = treeGraph.path(e.to, e.from);
      const cycle = [e.from, ...back];
      const around = this.composeAlongMixed(cycle, treeGraph, e);
      const d = around.d;
      const identity = native.Gauge.identity(d);
      const signedAgreement = around.agreement(identity).signedAccuracy;
      let suspect = { from: e.from, to: e.to, meanConfidence: e.meanConfidence };
      for (let k = 0; k + 1 < cycle.length; k++) {
        const x = k === 0 ? e : treeGraph.edgeList.find((t) => (t.from === cycle[k] && t.to === cycle[k + 1]) || (t.to === cycle[k] && t.from === cycle[k + 1]))!;
        if (!x.duplicate && x.meanConfidence < suspect.meanConfidence) suspect = { from: x.from, to: x.to, meanConfidence: x.meanConfidence };
      }
      return { cycle, signedAgreement, suspect };
    });
  }

  /** Composition around `cycle` whose first step is the closing edge `e`, the rest along the tree. */
  private composeAlongMixed(cycle: string[], tree: CheckpointGraph, e: GaugeEdge): Gauge {
    let g = e.gauge;
    for (let k = 1; k + 1 < cycle.length; k++) g = tree.edgeGauge(cycle[k], cycle[k + 1]).gauge.compose(g);
    return g;
  }
}

/** Paired statistics of two checkpoints' activations on one design (the per-site cross-moments `align` collects). */
export async function pairStats(xa: Activations, xb: Activations, sites: string[]): Promise<native.PairStats> {
  if (xa.tokens !== xb.tokens || xa.sites.length !== xb.sites.length || xa.sites.length !== sites.length) {
    throw new GaugeTransportError('SHAPE_MISMATCH', 'the two activation sets come from different probe designs');
  }
  return native.pairStatsFromActivations(sites, xa.sites, xb.sites, xa.tokens, xa.d);
}

/** The signed mean over sites of `corr(x_site, y_site)`, `[d, d]` row-major: the matrix the edge estimate matches. */
export async function pooledCorrelation(xa: Activations, xb: Activations, sites: string[]): Promise<Float32Array> {
  const est = await native.estimateGauge(await pairStats(xa, xb, sites), { keepMatrix: true, nullDraws: 0 });
  return est.matrix!;
}
