/**
 * The charts of the reports, as Vega-Lite specifications built from results: the `|C|` heatmap reordered by the
 * matching, histograms, grouped bars and line charts. Each returns SVG (see `vega.ts`).
 */
import { renderSvg } from './vega';

/**
 * `|C|` of a `d x d` correlation matrix with its columns reordered by the matching (`perm[i]` is row i's matched
 * column), so a recovered gauge shows as a bright diagonal. Larger matrices are shown at most `bins x bins`, each
 * cell the mean `|C|` of its block.
 */
export function heatmap(c: Float32Array, d: number, perm: ArrayLike<number>, title: string, bins = 64): Promise<string> {
  const n = Math.min(bins, d);
  const sums = new Float64Array(n * n);
  const counts = new Float64Array(n * n);
  const bin = (i: number) => Math.min(n - 1, Math.floor((i * n) / d));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      // Column `perm[j]` of B goes to position j: row i's match lands on the diagonal.
      const v = Math.abs(c[i * d + perm[j]]);
      const k = bin(i) * n + bin(j);
      sums[k] += v;
      counts[k]++;
    }
  }
  const values = [];
  for (let r = 0; r < n; r++) for (let q = 0; q < n; q++) values.push({ r, q, v: sums[r * n + q] / counts[r * n + q] });
  const unit = d === n ? 'coordinate' : `block of ${(d / n).toFixed(1)} coordinates`;
  return renderSvg({
    title,
    width: 360,
    height: 360,
    data: { values },
    mark: { type: 'rect' },
    encoding: {
      x: { field: 'q', type: 'ordinal', title: `B, reordered by the matching (${unit})`, axis: { labels: false, ticks: false, grid: false } },
      y: { field: 'r', type: 'ordinal', title: `A (${unit})`, axis: { labels: false, ticks: false, grid: false } },
      color: { field: 'v', type: 'quantitative', title: '|C|', scale: { scheme: 'viridis', domainMin: 0 } },
    },
  });
}

/** A histogram of `values` (`bins` bins). */
export function histogram(values: ArrayLike<number>, title: string, xTitle: string, bins = 40): Promise<string> {
  return renderSvg({
    title,
    width: 360,
    height: 180,
    data: { values: Array.from(values, (x) => ({ x })) },
    mark: { type: 'bar', color: '#4c78a8' },
    encoding: {
      x: { field: 'x', bin: { maxbins: bins }, title: xTitle },
      y: { aggregate: 'count', title: 'coordinates' },
    },
  });
}

/** Bars of `value` by `category`, one color per `series` (grouped side by side). */
export function groupedBars(
  rows: { category: string; series: string; value: number }[],
  title: string,
  yTitle: string,
  options: { percent?: boolean; log?: boolean } = {},
): Promise<string> {
  return renderSvg({
    title,
    width: { step: 22 },
    height: 200,
    data: { values: rows },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'category', type: 'nominal', title: null, axis: { labelAngle: -30 } },
      xOffset: { field: 'series' },
      y: {
        field: 'value',
        type: 'quantitative',
        title: yTitle,
        ...(options.percent ? { axis: { format: '.0%' } } : {}),
        ...(options.log ? { scale: { type: 'log' } } : {}),
      },
      color: { field: 'series', type: 'nominal', title: null },
    },
  });
}

/** Lines of `y` against `x`, one per `series`. */
export function lines(rows: { x: number; y: number; series: string }[], title: string, xTitle: string, yTitle: string, options: { percent?: boolean; log?: boolean } = {}): Promise<string> {
  return renderSvg({
    title,
    width: 420,
    height: 220,
    data: { values: rows },
    mark: { type: 'line', point: rows.length < 200 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle },
      y: {
        field: 'y',
        type: 'quantitative',
        title: yTitle,
        ...(options.percent ? { axis: { format: '.0%' } } : {}),
        ...(options.log ? { scale: { type: 'log' } } : {}),
      },
      color: { field: 'series', type: 'nominal', title: null },
    },
  });
}
