/**
 * Gauges: signed permutations of the residual stream (GAUGE.md §2).
 *
 * `Gauge` is the addon's class; this module adds conveniences that accept plain arrays.
 * Convention: a gauge maps a source chart to a target chart, `(g·x)[perm[i]] = sign[i] * x[i]`;
 * `g.compose(first)` is `g ∘ first` (apply `first`, then `g`).
 */
import native = require('./native');

export const Gauge = native.Gauge;
export type Gauge = native.Gauge;
export type RandomGaugeOptions = native.RandomGaugeOptions;
export type GaugeMetadata = native.GaugeMetadata;
export type GaugeAgreement = native.GaugeAgreement;

/** The gauge groups of GAUGE.md §1. */
export type Group = 'Sd' | '±Sd' | 'Bd';

/** Builds a validated gauge from plain arrays or typed arrays. */
export function gaugeFromArrays(perm: ArrayLike<number>, sign: ArrayLike<number>): Gauge {
  const p = perm instanceof Uint32Array ? perm : Uint32Array.from(perm);
  const s = sign instanceof Int8Array ? sign : Int8Array.from(sign);
  return native.Gauge.fromArrays(p, s);
}

/** Reads and validates a gauge file. */
export function readGauge(path: string): Gauge {
  return native.Gauge.read(path);
}
