/** Plain-text and Markdown tables for the CLI and the README. */

/** A table: a header row and data rows of already formatted cells. */
export interface Table {
  header: string[];
  rows: string[][];
}

/** A GitHub Markdown table. */
export function markdown(t: Table): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(t.header), line(t.header.map(() => '---')), ...t.rows.map(line)].join('\n');
}

/** A fixed-width table for the terminal. */
export function text(t: Table): string {
  const widths = t.header.map((h, k) => Math.max(h.length, ...t.rows.map((r) => r[k].length)));
  const line = (cells: string[]) => cells.map((c, k) => c.padStart(widths[k])).join('  ');
  return [line(t.header), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

/** A fraction as a percentage with one decimal. */
export function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** Seconds with three significant digits. */
export function secs(x: number): string {
  return x >= 100 ? `${x.toFixed(0)} s` : x >= 1 ? `${x.toPrecision(3)} s` : `${(1000 * x).toPrecision(3)} ms`;
}
