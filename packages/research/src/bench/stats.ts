/** Timing and comparison helpers for benchmarks. */

/** The median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

/** The largest `|a[i] − b[i]|` of two arrays of one length. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs `f` `reps` times and returns the wall times in seconds with the last result. */
export function time<T>(reps: number, f: () => T): { times: number[]; result: T } {
  const times: number[] = [];
  let result!: T;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    result = f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { times, result };
}
