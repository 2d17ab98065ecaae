#!/usr/bin/env node
// Renders an HTML report in headless Chromium (Debian's, or CHROMIUM_PATH) and writes a PNG screenshot of its top:
//   node scripts/screenshot_report.js <report.html> <out.png> [height]
// The README's screenshot (docs/report.png) is `npx gauge-transport demo --out <dir>` followed by this script on
// <dir>/report.html.
const path = require('node:path');
const fs = require('node:fs');
const { chromium } = require('playwright-core');

async function main() {
  const [file, out, height = '1500'] = process.argv.slice(2);
  if (!file || !out) throw new Error('usage: node scripts/screenshot_report.js <report.html> <out.png> [height]');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1150, height: Number(height) }, deviceScaleFactor: 1 });
    await page.goto(`file://${path.resolve(file)}`);
    const tmp = `${out}.tmp-${process.pid}.png`;
    await page.screenshot({ path: tmp });
    fs.renameSync(tmp, out);
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
