/**
 * Experiment `merge` (GAUGE.md §4): a checkpoint is merged into its re-charted sibling's chart under each gauge and
 * the merged model's loss compared with both parents'.
 *
 * - `tiny`: A is the built-in model fine-tuned on the `declarations` corpus; B is the built-in model re-charted by
 *   a hidden `Bd` gauge and fine-tuned on the `javascript` corpus (two runs from one base, B's chart hidden). The
 *   gauge `B -> A` is estimated from activations (`Bd` and `Sd`); B is moved into A's chart and averaged with A.
 *   Losses (nats per byte) on held-out text of both corpora.
 * - `smollm2-ft`, `gemma3-ft`: A = SmolLM2-135M-Instruct or Gemma 3 270M, B = A fine-tuned 300 steps on
 *   declarations in a hidden `Bd` chart; losses (nats per token) on the built-in probe text and on held-out
 *   declarations.
 * - `smollm2` (control): B is SmolLM2 re-charted by a hidden `Bd` gauge, averaged into A = SmolLM2. With the right
 *   gauge the average is A itself by construction; loss on the built-in probe text (nats per token).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../../dist/native');
import { Gauge } from '../../../../../dist/gauge';
import { loadModel } from '../../../../../dist/model';
import { defaultProbeText } from '../../../../../dist/probe';
import { machine } from '../../../../../dist/results';
import type { Table } from '../../../../../dist/table';
import { tinyBase } from '../../../../../dist/tiny-base';
import { BYTE_TOKENIZER, train } from '../../../../../dist/train';
import { mergeCheckpoints } from '../../../../../dist/transport';
import { FINETUNE } from '../finetune';
import { corpusFile, estimateBdSd, FINE_TUNED, preparePair, scratch, TRANSPORTS, type PairName, type TransportKind } from './pairs';

export interface MergeExperimentOptions {
  pairs: PairName[];
  /** Fine-tuning steps of each tiny run. */
  runSteps: number;
  runLr: number;
  /** Evaluation tokens per text. */
  evalTokens: number;
  seed: number;
}

export interface MergeRow {
  pair: string;
  model: 'A' | 'B' | `merged (${TransportKind})`;
  /** Mean loss per text (nats per token). */
  losses: Record<string, number>;
  gaugeAccuracy?: number;
}

export interface MergeExperimentResult {
  name: 'merge';
  params: MergeExperimentOptions;
  setups: Record<string, string>;
  texts: Record<string, string[]>;
  rows: MergeRow[];
  machine: Record<string, string | number>;
}

/** Mean next-token loss of `dir` on `ids` cut into sequences of `seq` tokens. */
async function loss(dir: string, ids: Uint32Array, seq: number): Promise<number> {
  const m = await loadModel(dir);
  let sum = 0;
  let n = 0;
  for (let s = 0; s + seq <= ids.length; s += seq) {
    sum += Math.log(await m.perplexity(ids.subarray(s, s + seq)));
    n++;
  }
  return sum / n;
}

async function mergeAll(a: string, b: string, gauges: Record<TransportKind, Gauge>, work: string): Promise<Record<TransportKind, string>> {
  const out = {} as Record<TransportKind, string>;
  for (const t of TRANSPORTS) {
    out[t] = path.join(work, `merged-${t}`);
    await mergeCheckpoints(a, b, gauges[t], out[t], { weight: 0.5 });
  }
  return out;
}

export async function runMergeExperiment(o: MergeExperimentOptions, log: (s: string) => void = () => {}): Promise<MergeExperimentResult> {
  const rows: MergeRow[] = [];
  const setups: Record<string, string> = {};
  const texts: MergeExperimentResult['texts'] = {};
  for (const name of o.pairs) {
    if (name === 'tiny') {
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-merge-'));
      try {
        const base = tinyBase();
        const d = native.inspectModel(base).d;
        const truth = Gauge.random(d, { seed: o.seed + 1, group: 'Bd', positiveFraction: 0.5 });
        const opts = { lr: o.runLr, batch: 8, seq: 64, steps: o.runSteps, warmup: Math.round(o.runSteps / 10), seed: o.seed };
        log(`tiny: run A (${o.runSteps} steps on declarations) and run B (re-charted base, ${o.runSteps} steps on javascript)`);
        const corpA = corpusFile(work, 'declarations', 1 << 20);
        const corpB = corpusFile(work, 'javascript', 1 << 20);
        const runA = await train(base, corpA, path.join(work, 'runA'), opts);
        const recharted = path.join(work, 'recharted');
        await native.applyGauge(base, truth, recharted);
        const runB = await train(recharted, corpB, path.join(work, 'runB'), opts);
        const a = runA.checkpoints[runA.checkpoints.length - 1].dir;
        const b = runB.checkpoints[runB.checkpoints.length - 1].dir;
        const truthBA = truth.inverse();
        log('tiny: estimating B -> A');
        const est = await estimateBdSd(b, a, BYTE_TOKENIZER, { tokens: 4096, seq: 64, work });
        const gauges = { truth: truthBA, Bd: est.Bd, Sd: est.Sd, none: Gauge.identity(d) };
        const merged = await mergeAll(a, b, gauges, work);
        // Held out: the end of each corpus file, past what the runs' batches are drawn from.
        const heldOut = (file: string, bytes: number) => Uint32Array.from(fs.readFileSync(corpusFile(work, file === corpA ? 'declarations' : 'javascript', 2 << 20)).subarray((1 << 20) + 4096, (1 << 20) + 4096 + bytes));
        const evalTexts: Record<string, Uint32Array> = {
          declarations: heldOut(corpA, o.evalTokens),
          javascript: heldOut(corpB, o.evalTokens),
          'probe text': Uint32Array.from(BYTE_TOKENIZER.encode(defaultProbeText())).subarray(0, o.evalTokens),
        };
        texts['tiny-base'] = Object.keys(evalTexts);
        const losses = async (dir: string) => Object.fromEntries(await Promise.all(Object.entries(evalTexts).map(async ([k, ids]) => [k, await loss(dir, ids, 64)] as const)));
        rows.push({ pair: 'tiny-base', model: 'A', losses: await losses(a) });
        rows.push({ pair: 'tiny-base', model: 'B', losses: await losses(b) });
        for (const t of TRANSPORTS) {
          rows.push({ pair: 'tiny-base', model: `merged (${t})`, losses: await losses(merged[t]), gaugeAccuracy: gauges[t].agreement(truthBA).signedAccuracy });
        }
        setups['tiny-base'] = `A: built-in model + ${o.runSteps} steps on declarations; B: built-in model re-charted by a hidden Bd gauge + ${o.runSteps} steps on javascript (lr ${o.runLr}); B merged into A's chart, weight 0.5`;
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
      continue;
    }
    const pair = await preparePair(name, { seed: o.seed, onStage: log });
    const work = scratch(pair, 'merge');
    try {
      log(`${pair.label}: merging B into A under each gauge`);
      const gauges = {} as Record<TransportKind, Gauge>;
      for (const t of TRANSPORTS) gauges[t] = pair.gauges[t].inverse();
      const merged = await mergeAll(pair.a, pair.b, gauges, work);
      const evalTexts: Record<string, Uint32Array> = {
        'probe text': Uint32Array.from(pair.tokenizer.encode(defaultProbeText())).subarray(0, o.evalTokens),
      };
      if (FINE_TUNED[name]) {
        // Held out: declarations past the bytes the fine-tuning run was drawn from.
        const file = corpusFile(work, 'declarations', FINETUNE.corpusBytes + (1 << 20));
        const tail = fs.readFileSync(file).subarray(FINETUNE.corpusBytes).toString('utf8');
        evalTexts['declarations (held out)'] = Uint32Array.from(pair.tokenizer.encode(tail)).subarray(0, o.evalTokens);
      }
      texts[pair.label] = Object.keys(evalTexts);
      const l = async (dir: string) => Object.fromEntries(await Promise.all(Object.entries(evalTexts).map(async ([k, ids]) => [k, await loss(dir, ids, 128)] as const)));
      rows.push({ pair: pair.label, model: 'A', losses: await l(pair.a) });
      rows.push({ pair: pair.label, model: 'B', losses: await l(pair.b) });
      for (const t of TRANSPORTS) {
        rows.push({ pair: pair.label, model: `merged (${t})`, losses: await l(merged[t]), gaugeAccuracy: gauges[t].agreement(gauges.truth).signedAccuracy });
      }
      setups[pair.label] = `${pair.setup}; B merged into A's chart, weight 0.5`;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
      pair.dispose();
    }
  }
  return { name: 'merge', params: o, setups, texts, rows, machine: machine() };
}

const LABEL: Record<string, string> = {
  A: 'A (parent)',
  B: 'B (parent, hidden chart)',
  'merged (truth)': 'merged, true gauge',
  'merged (Bd)': 'merged, Bd estimate',
  'merged (Sd)': 'merged, Sd estimate',
  'merged (none)': 'merged, no gauge',
};

export function mergeTable(r: MergeExperimentResult): Table {
  const texts = [...new Set(Object.values(r.texts).flat())];
  return {
    header: ['model', 'checkpoint', 'gauge signed accuracy', ...texts.map((t) => `loss on ${t}`)],
    rows: r.rows.map((x) => [
      x.pair,
      LABEL[x.model],
      x.gaugeAccuracy === undefined ? '' : `${(100 * x.gaugeAccuracy).toFixed(1)}%`,
      // A non-finite loss (a broken merge overflows) is recorded as JSON null.
      ...texts.map((t) => (x.losses[t] === undefined ? '' : x.losses[t] === null || !Number.isFinite(x.losses[t]) ? 'not finite' : x.losses[t].toFixed(3))),
    ]),
  };
}
