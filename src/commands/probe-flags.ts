/** The probe and batching flags shared by `align` and `stats`. */
import type { StatsOptions } from '../align';
import { parseBytes } from '../memory';
import { num, str, type Value } from './args';

/** Parser entries of the shared flags. */
export const PROBE_FLAGS = {
  probe: { type: 'string' },
  tokens: { type: 'string' },
  context: { type: 'string' },
  batch: { type: 'string' },
  layers: { type: 'string' },
  seed: { type: 'string' },
  device: { type: 'string' },
  'memory-budget': { type: 'string' },
} as const;

/** Help lines of the memory flag. */
export const MEMORY_HELP = `  --memory-budget B     bytes the statistics may hold (4G, 512M, …; default half the machine's memory): models
                        that fit in three quarters of it run whole, larger ones are streamed block by block`;

/** `StatsOptions` from the shared flags, with their defaults and bounds. */
export function probeOptions(values: Record<string, Value>): StatsOptions {
  const layers = str(values.layers, '--layers');
  return {
    probe: str(values.probe, '--probe'),
    tokens: num(values.tokens, '--tokens', 16384, { min: 1, integer: true }),
    contextLength:
      values.context === undefined ? undefined : num(values.context, '--context', undefined, { min: 1, max: 1 << 20, integer: true }),
    batchSize: num(values.batch, '--batch', 8, { min: 1, max: 4096, integer: true }),
    layers:
      layers === undefined || layers === 'all'
        ? 'all'
        : layers.split(',').map((x) => (/^\d+$/.test(x) ? Number(x) : (x as 'final_norm'))),
    seed: num(values.seed, '--seed', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
    device: str(values.device, '--device'),
    memoryBudget: values['memory-budget'] === undefined ? undefined : parseBytes(str(values['memory-budget'], '--memory-budget')!, '--memory-budget'),
  };
}
