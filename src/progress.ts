/**
 * Progress of long operations on stderr, once the operation has run for `delayMs` (short calls print nothing): on a
 * TTY a bar redrawn at most every 100 ms and erased on `done()`; elsewhere (logs, CI, a scheduler's job) a plain line
 * every `lineEveryMs`, so a long run is visibly alive.
 */
export class ProgressBar {
  private readonly start = Date.now();
  private last = 0;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly delayMs = 2000,
    private readonly lineEveryMs = 10_000,
  ) {}

  /** Reports `done` of `total` units, with an optional suffix (e.g. tokens per second). */
  update(done: number, total: number, suffix = ''): void {
    const now = Date.now();
    const elapsed = now - this.start;
    if (!this.stream.isTTY) {
      // The first line comes one interval in, so commands shorter than that print nothing.
      if (elapsed < Math.max(this.delayMs, this.lineEveryMs) || now - this.last < this.lineEveryMs) return;
      this.last = now;
      const pct = total > 0 ? ((100 * done) / total).toFixed(0) : '?';
      this.stream.write(`${this.label}: ${done}/${total} (${pct}%) after ${(elapsed / 1000).toFixed(0)} s${suffix ? `, ${suffix}` : ''}\n`);
      return;
    }
    if (elapsed < this.delayMs || (now - this.last < 100 && done < total)) return;
    this.last = now;
    this.shown = true;
    const width = 24;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * width);
    const eta = done > 0 ? ((elapsed / done) * (total - done)) / 1000 : NaN;
    const etaText = Number.isFinite(eta) ? ` ETA ${eta.toFixed(0)}s` : '';
    this.stream.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${etaText}${suffix ? ` ${suffix}` : ''}\x1b[K`,
    );
  }

  /** Erases the bar, if it was drawn. */
  done(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
