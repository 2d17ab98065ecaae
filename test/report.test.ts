/**
 * HTML reports (`--report`) rendered in headless Chromium: `align`, `audit` and an experiment each write one
 * self-contained file (no script, no external resource, no network request when opened) whose charts are drawn:
 * every chart is an inline SVG with marks in it, and the `|C|` heatmap has one cell per coordinate pair of the tiny
 * model. Chromium is Debian's (`.ci/run` installs it); without it the test says so and is skipped, unless
 * `GAUGE_TRANSPORT_REQUIRE_CHROMIUM=1` (set by CI) makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const TINY = path.join(__dirname, '..', 'crates', 'gauge-models', 'tests', 'fixtures', 'tiny');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.GAUGE_TRANSPORT_REQUIRE_CHROMIUM === '1') {
  throw new Error(`${CHROMIUM} is missing but GAUGE_TRANSPORT_REQUIRE_CHROMIUM=1: install Debian's chromium package`);
}
if (!haveChromium) console.warn(`report.test.ts: ${CHROMIUM} not found; the Chromium rendering checks are skipped`);

let t: ReturnType<typeof tempDir>;
beforeAll(() => {
  t = tempDir('report');
});
afterAll(() => t.cleanup());

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: t.dir, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`gauge-transport ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

/** Static checks: one file, nothing it would fetch or run. */
function selfContained(html: string): void {
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/<script|<link|<iframe|<img /i);
  expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
  expect(html).not.toMatch(/url\(\s*['"]?https?:/i);
}

interface Rendered {
  charts: { marks: number; rects: number; width: number }[];
  requests: string[];
  errors: string[];
}

async function render(file: string, screenshot?: string): Promise<Rendered> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`file://${file}`);
    const charts = await page.$$eval('.chart > svg', (svgs) =>
      svgs.map((s) => ({
        marks: s.querySelectorAll('path, rect, line, text').length,
        rects: s.querySelectorAll('g.mark-rect.role-mark > path').length,
        width: s.getBoundingClientRect().width,
      })),
    );
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
    return { charts, requests: requests.filter((u) => u !== `file://${file}`), errors };
  } finally {
    await browser.close();
  }
}

const maybe = haveChromium ? test : test.skip;

maybe('an align report draws the |C| heatmap, histograms, sign balance and per-layer agreement', async () => {
  cli('random-gauge', '--d', '64', '--seed', '3', '--out', 'g.safetensors');
  cli('apply', TINY, '--gauge', 'g.safetensors', '--out', 'b');
  cli('align', TINY, 'b', '--tokens', '2048', '--context', '64', '--truth', 'g.safetensors', '--out', 'est.safetensors', '--report', 'align.html');
  const file = path.join(t.dir, 'align.html');
  const html = fs.readFileSync(file, 'utf8');
  selfContained(html);
  expect(html).toMatch(/Against the known gauge/);
  const r = await render(file);
  expect(r.errors).toEqual([]);
  expect(r.requests).toEqual([]);
  // Heatmap, confidence histogram, matched-correlation histogram, sign balance, per-layer bars.
  expect(r.charts.length).toBe(5);
  for (const c of r.charts) {
    expect(c.marks).toBeGreaterThan(10);
    expect(c.width).toBeGreaterThan(100);
  }
  expect(r.charts[0].rects).toBe(64 * 64);
});

maybe('audit and experiment reports render their charts', async () => {
  const claims = {
    behaviours: { style: { positive: ['const x = f(a, b);', 'if (n > 0) { return n; }'], negative: ['The river runs past the mill.', 'She walked home.'] } },
    claims: [
      { id: 'c1', kind: 'coordinates', behaviour: 'style', site: 'h_1', coordinates: [0, 1], signs: [1, -1] },
      { id: 'c2', kind: 'top-k', behaviour: 'style', site: 'h_1', entries: [{ index: 3, sign: 1 }], chart: 'canonical' },
    ],
  };
  fs.writeFileSync(path.join(t.dir, 'claims.json'), JSON.stringify(claims));
  cli('audit', 'claims.json', '--models', TINY, '--sweep', '2', '--report', 'audit.html');
  cli('experiment', 'neurons', '--pairs', 'tiny', '--results-dir', 'results', '--report', 'neurons.html');
  for (const [name, charts] of [['audit.html', 1], ['neurons.html', 1]] as const) {
    const file = path.join(t.dir, name);
    selfContained(fs.readFileSync(file, 'utf8'));
    const r = await render(file);
    expect(r.errors).toEqual([]);
    expect(r.requests).toEqual([]);
    expect(r.charts.length).toBe(charts);
    expect(r.charts[0].marks).toBeGreaterThan(10);
  }
  // An existing report is not replaced.
  const again = spawnSync(process.execPath, [CLI, 'audit', 'claims.json', '--models', TINY, '--sweep', '1', '--report', 'audit.html'], { cwd: t.dir, encoding: 'utf8' });
  expect(again.status).toBe(1);
  expect(again.stderr).toMatch(/OUTPUT_EXISTS/);
});

maybe('a trajectory report draws the edges and names the path and cycles', async () => {
  // base -> A1 and base -> B1 (each re-charted), with A1 -> B1 closing a cycle.
  cli('random-gauge', '--d', '64', '--seed', '5', '--out', 'ga.safetensors');
  cli('random-gauge', '--d', '64', '--seed', '6', '--out', 'gb.safetensors');
  cli('apply', TINY, '--gauge', 'ga.safetensors', '--out', 'A1');
  cli('apply', TINY, '--gauge', 'gb.safetensors', '--out', 'B1');
  fs.symlinkSync(TINY, path.join(t.dir, 'base'));
  fs.writeFileSync(path.join(t.dir, 'manifest.json'), JSON.stringify({ base: 'base', runs: { A: ['A1'], B: ['B1'] }, edges: [['A1', 'B1']] }));
  cli('trajectory', 'manifest.json', '--from', 'A1', '--to', 'B1', '--tokens', '1024', '--context', '32', '--out', 'gt.safetensors', '--report', 'trajectory.html');
  const file = path.join(t.dir, 'trajectory.html');
  const html = fs.readFileSync(file, 'utf8');
  selfContained(html);
  expect(html).toMatch(/Cycle consistency/);
  const r = await render(file);
  expect(r.errors).toEqual([]);
  expect(r.requests).toEqual([]);
  expect(r.charts.length).toBe(1);
  expect(r.charts[0].marks).toBeGreaterThan(5);
});

maybe('every experiment with charts renders its report from the committed results', async () => {
  // Recovery curves (trajectory), NMSE (sae), preservation (steering), overlaps (neurons), losses (merge), loss
  // gaps (adamw), the sweep (audit: one chart per model).
  const charts: Record<string, number> = { trajectory: 1, sae: 1, steering: 1, neurons: 1, merge: 2, adamw: 2, audit: 2 };
  for (const [name, n] of Object.entries(charts)) {
    cli('report', name, '--out', `${name}-from-results.html`);
    const file = path.join(t.dir, `${name}-from-results.html`);
    selfContained(fs.readFileSync(file, 'utf8'));
    const r = await render(file);
    expect(r.errors).toEqual([]);
    expect(r.requests).toEqual([]);
    expect(r.charts.length).toBeGreaterThanOrEqual(n);
    for (const c of r.charts) expect(c.marks).toBeGreaterThan(5);
  }
});
