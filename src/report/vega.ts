/**
 * Charts drawn by Vega-Lite (compiled to Vega and rendered headless to SVG strings in Node, no browser or canvas):
 * the report embeds the SVG inline, so the page needs no script and no network. Vega ships as ES modules only; it
 * is loaded once, with a dynamic `import()` that the CommonJS build keeps as is.
 */

import { GaugeTransportError } from '../errors';

// `import()` written through Function so that TypeScript's CommonJS output does not turn it into `require()`.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

let loaded: Promise<{ vega: any; vl: any }> | undefined;

/** The code of the error when vega or vega-lite, optional peer dependencies, are not installed. */
export const REPORT_UNAVAILABLE = 'REPORT_UNAVAILABLE';

function libraries(): Promise<{ vega: any; vl: any }> {
  loaded ??= Promise.all([importEsm('vega'), importEsm('vega-lite')]).then(
    ([vega, vl]) => ({ vega, vl }),
    (e) => {
      loaded = undefined;
      throw new GaugeTransportError(
        REPORT_UNAVAILABLE,
        `HTML reports draw their charts with vega and vega-lite, optional dependencies that are not installed ` +
          `(${(e as Error).message}); install them with \`npm install vega vega-lite\``,
      );
    },
  );
  return loaded;
}

/** A Vega-Lite specification (v6), without `$schema`. */
export type VegaLiteSpec = Record<string, unknown>;

const CONFIG = {
  font: 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
};

/** Renders `spec` to a standalone SVG string. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const { vega, vl } = await libraries();
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, background: 'white', ...spec }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
