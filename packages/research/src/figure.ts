/**
 * A small SVG line chart for README figures: deterministic text (fixed precision, no timestamps), so
 * `gauge-transport readme --check` can compare it byte for byte.
 */
export interface Series {
  label: string;
  color: string;
  /** SVG `stroke-dasharray`, e.g. `6 3`; solid when absent. */
  dash?: string;
  points: [number, number][];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  /** y axis range. */
  yMin: number;
  yMax: number;
  series: Series[];
}

const W = 640;
const H = 320;
const M = { left: 60, right: 190, top: 36, bottom: 48 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The chart as an SVG document. */
export function lineChartSvg(c: LineChart): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - c.yMin) / (c.yMax - c.yMin)) * (H - M.top - M.bottom);
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2}" y="20" text-anchor="middle" font-size="14">${esc(c.title)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const y = c.yMin + ((c.yMax - c.yMin) * k) / 5;
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${f(py(y))}" y2="${f(py(y))}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${f(py(y) + 4)}" text-anchor="end">${Math.round(y * 100)}%</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<text x="${f(px(x))}" y="${H - M.bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, k) => {
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${f(px(x))} ${f(py(y))}`).join(' ');
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3" fill="${s.color}"/>`);
    const ly = M.top + 10 + 20 * k;
    out.push(`<line x1="${W - M.right + 12}" x2="${W - M.right + 32}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - M.right + 38}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
