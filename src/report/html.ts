/**
 * The page of a report: one self-contained HTML file (inline CSS and SVG, no script, no external resource), so it
 * opens offline and can be attached to an issue or an experiment log. Written through a temporary sibling and
 * renamed.
 */
import { writeAtomic } from '../files';

export interface Section {
  title: string;
  /** Paragraphs of plain text (escaped). */
  text?: string[];
  /** SVG charts, shown side by side where they fit. */
  charts?: string[];
  /** A table of already formatted cells. */
  table?: { header: string[]; rows: string[][] };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #666; font-size: .9rem; } .charts { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.chart svg { max-width: 100%; height: auto; } table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; } th { background: #f6f6f6; } td:first-child, th:first-child { text-align: left; }
`;

/** The HTML of a report. */
export function page(title: string, meta: string[], sections: Section[]): string {
  const body = sections
    .map((s) => {
      const text = (s.text ?? []).map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
      const charts = s.charts?.length ? `<div class="charts">${s.charts.map((c) => `<div class="chart">${c}</div>`).join('\n')}</div>` : '';
      const head = s.table && s.table.header.some((h) => h !== '') ? `<thead><tr>${s.table.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>` : '';
      const table = s.table
        ? `<table>${head}<tbody>${s.table.rows
            .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
            .join('')}</tbody></table>`
        : '';
      return `<section><h2>${escapeHtml(s.title)}</h2>\n${text}\n${charts}\n${table}</section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${meta.map((m) => `<div class="meta">${escapeHtml(m)}</div>`).join('\n')}
${body}
</body></html>
`;
}

/** Writes `html` to `file` atomically, refusing to replace an existing file unless `overwrite`. */
export function writeHtml(file: string, html: string, overwrite = false): void {
  writeAtomic(file, html, overwrite);
}
