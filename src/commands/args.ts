/** Argument parsing shared by the CLI commands (Node's `util.parseArgs`, strict: unknown flags are errors). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GaugeTransportError, invalidArgument } from '../errors';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed flags and positionals. */
export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses `argv` against `options`, turning parser complaints into `INVALID_ARGUMENT` errors. */
export function parse(argv: string[], options: Options, command: string): Parsed {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    throw new GaugeTransportError('INVALID_ARGUMENT', `${command}: ${(e as Error).message}`);
  }
}

/** The value of one flag. */
export type Value = string | boolean | undefined;

/** A string flag's value (parseArgs guarantees strings for string flags; this narrows the type). */
export function str(value: Value, flag: string): string | undefined {
  if (typeof value === 'boolean') throw invalidArgument(flag, 'needs a value');
  return value;
}

/** A required or defaulted number option; rejects non-numbers and values outside `[min, max]`. */
export function num(
  raw: Value,
  flag: string,
  fallback: number | undefined,
  { min = -Infinity, max = Infinity, integer = false } = {},
): number {
  const value = str(raw, flag);
  if (value === undefined) {
    if (fallback === undefined) throw invalidArgument(flag, 'is required');
    return fallback;
  }
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw invalidArgument(flag, `${JSON.stringify(value)} is not a number`);
  if (integer && !Number.isInteger(x)) throw invalidArgument(flag, `${value} is not an integer`);
  if (x < min || x > max) throw invalidArgument(flag, `${value} is outside [${min}, ${max}]`);
  return x;
}

/** A comma-separated list of numbers. */
export function numList(raw: Value, flag: string, fallback: number[], bounds = {}): number[] {
  const value = str(raw, flag);
  if (value === undefined) return fallback;
  return value.split(',').map((v) => num(v, flag, undefined, bounds));
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(raw: Value, flag: string, allowed: readonly T[], fallback: T): T {
  const value = str(raw, flag);
  if (value === undefined) return fallback;
  // Case does not matter (`--dtype bf16`, `--group bd`): the canonical spelling is returned.
  const found = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (found === undefined) {
    throw invalidArgument(flag, `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  }
  return found;
}
