/**
 * Errors with stable codes. Errors thrown by the addon already carry `code` (for example `GAUGE_NOT_PERMUTATION`,
 * `SHAPE_MISMATCH`, `NON_FINITE`); this module adds the same shape for errors raised in TypeScript.
 */

/** An error of gauge-transport: `code` is stable across releases, `message` names the argument or file. */
export class GaugeTransportError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'GaugeTransportError';
    this.code = code;
  }
}

/** A bad argument (`INVALID_ARGUMENT`), naming it. */
export function invalidArgument(what: string, reason: string): GaugeTransportError {
  return new GaugeTransportError('INVALID_ARGUMENT', `${what}: ${reason}`);
}

/** The stable code of any error, or `undefined` for errors that are not ours. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Throws `ABORTED` when `signal` has already fired (the addon only sees aborts that happen after a call starts). */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new GaugeTransportError('ABORTED', `${what} was aborted`);
  }
}

/**
 * A user callback prepared for the addon, which calls it from its worker thread. The addon keeps an exception the
 * callback throws from reaching `uncaughtException` (which would end the process): the native call stops and
 * rejects with `CALLBACK_THREW`. `settle` makes the callback's own exception, unchanged, the rejection instead.
 */
export function relayThrows<A extends unknown[]>(
  callback: (...args: A) => void,
): { callback: (...args: A) => void; settle: <T>(p: Promise<T>) => Promise<T> } {
  let thrown: { error: unknown } | undefined;
  return {
    callback: (...args: A) => {
      try {
        callback(...args);
      } catch (error) {
        thrown ??= { error };
        throw error;
      }
    },
    settle: (p) =>
      p.catch((e: unknown) => {
        throw thrown ? thrown.error : e;
      }),
  };
}
