/**
 * A terminal progress bar on stderr for long operations: drawn only on a TTY, and only once the operation has run
 * for `delayMs` (short calls print nothing), redrawn at most every 100 ms, erased on `done()`.
 */
export class ProgressBar {
  private readonly start = Date.now();
  private last = 0;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly delayMs = 2000,
  ) {}

  /** Reports `done` of `total` units, with an optional suffix (e.g. tokens per second). */
  update(done: number, total: number, suffix = ''): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    const elapsed = now - this.start;
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
