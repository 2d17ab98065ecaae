/**
 * Probe corpora for `align`: the token ids run through both checkpoints, whose residual-stream activations are
 * correlated to estimate the gauge. Read from a file ({@link readProbe}), built in ({@link defaultProbe}), and
 * packed into forward-pass batches ({@link packProbe}).
 */
import { readProbe, type ReadProbeOptions } from './readers';
import { defaultProbe, PROBE_KINDS, type DefaultProbe, type ProbeKind } from './default';
import { invalidArgument } from '../errors';
import type { Probe } from './ids';

export type { Probe, ProbeFormat, ProbeTokenizer } from './ids';
export { readProbe, PROBE_EXTENSIONS } from './readers';
export type { ReadProbeOptions } from './readers';
export { defaultProbe, defaultProbeText, PROBE_KINDS, DEFAULT_PROBE_KIND, DEFAULT_PROBE_TEXT_PATH } from './default';
export type { DefaultProbe, DefaultProbeOptions, ProbeKind } from './default';
export { packProbe } from './pack';
export type { PackOptions, PackedProbe, ProbeBatch } from './pack';

/** Options of {@link loadProbe}. */
export interface LoadProbeOptions extends ReadProbeOptions {
  /** Ids of a built-in probe (the token budget). */
  tokens: number;
  /** Seed of a built-in probe's random ids. @default 0 */
  seed?: number;
}

/**
 * The probe `spec` of the command line: absent or `builtin` for the built-in probe of the default kind,
 * `builtin:text`, `builtin:random` or `builtin:mixed` for a given kind, otherwise a file ({@link readProbe}).
 */
export function loadProbe(spec: string | undefined, options: LoadProbeOptions): Probe | DefaultProbe {
  if (spec === undefined || spec === 'builtin' || spec.startsWith('builtin:')) {
    const kind = spec?.slice('builtin:'.length) || undefined;
    if (kind !== undefined && !(PROBE_KINDS as readonly string[]).includes(kind)) {
      throw invalidArgument('probe', `${JSON.stringify(spec)}: built-in probes are ${PROBE_KINDS.map((k) => `builtin:${k}`).join(', ')}`);
    }
    return defaultProbe({ ...options, kind: kind as ProbeKind | undefined });
  }
  return readProbe(spec, options);
}
