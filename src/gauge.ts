/**
 * Gauges: signed permutations of the residual stream (GAUGE.md §2).
 *
 * `Gauge` is the addon's class; this module adds conveniences that accept plain arrays.
 * Convention: a gauge maps a source chart to a target chart, `(g·x)[perm[i]] = sign[i] * x[i]`;
 * `g.compose(first)` is `g ∘ first` (apply `first`, then `g`).
 */
import native = require('./native');
import { GaugeTransportError } from './errors';

export const Gauge = native.Gauge;
export type Gauge = native.Gauge;
export type RandomGaugeOptions = native.RandomGaugeOptions;
export type GaugeMetadata = native.GaugeMetadata;
export type GaugeAgreement = native.GaugeAgreement;

/** The gauge groups of GAUGE.md §1. */
export type Group = 'Sd' | '±Sd' | 'Bd';

/**
 * Builds a validated gauge from plain arrays or typed arrays. Plain arrays are checked before conversion, so a
 * fractional, negative or out-of-range index and a sign other than ±1 are errors rather than silently wrapped.
 */
export function gaugeFromArrays(perm: ArrayLike<number>, sign: ArrayLike<number>): Gauge {
  const p = isTyped(perm, 'Uint32Array') ? (perm as Uint32Array) : toIndices(perm);
  const s = isTyped(sign, 'Int8Array') ? (sign as Int8Array) : toSigns(sign);
  return native.Gauge.fromArrays(p, s);
}

/** `instanceof` that also holds across vm contexts (jest, worker threads). */
export function isTyped(x: unknown, name: string): boolean {
  return Object.prototype.toString.call(x) === `[object ${name}]`;
}

function toIndices(perm: ArrayLike<number>): Uint32Array {
  for (let i = 0; i < perm.length; i++) {
    const v = perm[i];
    if (!Number.isInteger(v) || v < 0 || v >= perm.length) {
      throw new GaugeTransportError(
        'GAUGE_NOT_PERMUTATION',
        `fromArrays: perm is not a permutation of 0..${perm.length}: perm[${i}] = ${v} is not an index below ${perm.length}`,
      );
    }
  }
  return Uint32Array.from(perm);
}

function toSigns(sign: ArrayLike<number>): Int8Array {
  for (let i = 0; i < sign.length; i++) {
    if (sign[i] !== 1 && sign[i] !== -1) {
      throw new GaugeTransportError('GAUGE_BAD_SIGN', `fromArrays: sign[${i}] = ${sign[i]}, but every sign must be +1 or -1`);
    }
  }
  return Int8Array.from(sign);
}

/** Reads and validates a gauge file. */
export function readGauge(path: string): Gauge {
  return native.Gauge.read(path);
}
