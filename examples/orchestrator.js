#!/usr/bin/env node
/**
 * A training orchestrator that aligns checkpoints while the run goes on.
 *
 *   node examples/orchestrator.js <base-checkpoint> <corpus.txt> <run-dir> [steps] [save-every]
 *
 * `train()` runs off the event loop and reports each saved checkpoint; `trajectory.add()` queues the estimate of the
 * gauge between it and the previous checkpoint, which runs (also off the event loop) while training continues. At
 * the end the gauge from the base to the last checkpoint is composed from those local edges at once.
 */
const path = require('node:path');
const { train, Trajectory, Gauge } = require(path.join(__dirname, '..', 'dist'));

async function main() {
  const [base, corpus, out, steps = '200', saveEvery = '50'] = process.argv.slice(2);
  if (!base || !corpus || !out) {
    console.error('usage: node examples/orchestrator.js <base-checkpoint> <corpus.txt> <run-dir> [steps] [save-every]');
    process.exit(2);
  }
  const trajectory = await Trajectory.create(base, { tokens: 2048, contextLength: 64 });
  const started = [];
  const summary = await train(base, corpus, out, {
    steps: Number(steps),
    saveEvery: Number(saveEvery),
    batch: 8,
    seq: 64,
    lr: 3e-3,
    onProgress: (p) => {
      if (!p.saved) return;
      console.log(`step ${p.step}: loss ${p.loss.toFixed(3)}, saved ${p.saved}; estimating its edge in the background`);
      started.push(
        trajectory.add(p.saved).then((e) => console.log(`  edge ${path.basename(e.from)} -> ${path.basename(e.to)}: mean confidence ${e.meanConfidence.toFixed(3)}`)),
      );
    },
  });
  // train() resolves after its last progress event, so every saved checkpoint has been added by now.
  await Promise.all(started);
  await trajectory.settled();
  const last = summary.checkpoints[summary.checkpoints.length - 1].dir;
  const c = trajectory.compose(base, last);
  console.log(`composed base -> ${path.basename(last)} along ${c.path.length - 1} edges; weakest edge confidence ${c.minConfidence.toFixed(3)}`);
  // Training stays in one chart, so a short run's composed gauge should be the identity.
  const identity = c.gauge.equals(Gauge.identity(c.gauge.d));
  console.log(JSON.stringify({ edges: c.path.length - 1, minConfidence: c.minConfidence, identity }));
}

main().catch((e) => {
  console.error(`error [${e.code ?? 'ERROR'}]: ${e.message}`);
  process.exit(1);
});
