/**
 * Experiment `adamw` (GAUGE.md §4, §6; paper: signed transport preserves the resumed trajectory, permutation-only
 * follows a different one). A run of A is stopped at step k with its AdamW state. The target checkpoint is A_k
 * re-charted by a hidden `Bd` gauge (its weights only: the state must be carried over). The gauge `A_k -> B` is
 * estimated from activations, the state is transported by the true gauge, the `Bd` estimate, the `Sd` estimate or
 * not at all (copied), and training resumes from B for `resume` steps on the same seeded batches as the original
 * run resumed from A_k. Reported: the largest absolute gap between each resumed loss curve and the original's
 * (training commutes with the gauge, so the gauge-transformed original run has exactly the original's losses).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../../dist/native');
import { Gauge } from '../../../../../dist/gauge';
import type { ProbeTokenizer } from '../../../../../dist/probe';
import { PACKAGE_ROOT, machine } from '../../../../../dist/results';
import type { Table } from '../../../../../dist/table';
import { tinyBase } from '../../../../../dist/tiny-base';
import { BYTE_TOKENIZER, train } from '../../../../../dist/train';
import { transportOptimizer } from '../../../../../dist/transport';
import { SMOLLM2_GGUF } from '../groups';
import { fineTuneRun, FINETUNE } from '../finetune';
import { corpusFile, estimateBdSd, FINE_TUNED, fineTunedLabel, FT_STEPS, sizeOf, TRANSPORTS, type PairName, type PairSize, type TransportKind } from './pairs';

export interface AdamwExperimentOptions {
  pairs: PairName[];
  /** Steps before the state is transported, per pair. */
  warm: Record<PairSize, number>;
  /** Steps resumed, per pair. */
  resume: Record<PairSize, number>;
  batch: Record<PairSize, number>;
  seq: Record<PairSize, number>;
  lr: Record<PairSize, number>;
  seed: number;
}

export interface AdamwRow {
  pair: string;
  transport: TransportKind;
  gaugeAccuracy: number;
  steps: number;
  maxGap: number;
  /** Step (1-based) of the largest gap. */
  at: number;
  finalLoss: number;
  originalFinalLoss: number;
}

export interface AdamwExperimentResult {
  name: 'adamw';
  params: AdamwExperimentOptions;
  setups: Record<string, string>;
  rows: AdamwRow[];
  /** Loss curves, per pair: the original and each transport. */
  curves: Record<string, Record<string, number[]>>;
  seconds: Record<string, number>;
  machine: Record<string, string | number>;
}

interface Source {
  dir: string;
  label: string;
  tok: ProbeTokenizer;
  probeSeq: number;
  /** A checkpoint with its optimizer state already (no warm-up run), and the corpus and recipe it was trained with. */
  trained?: { corpus: string; batch: number; seq: number; lr: number; steps: number };
}

async function source(name: PairName, work: string, log: (s: string) => void): Promise<Source> {
  if (name === 'tiny') return { dir: tinyBase(), label: 'tiny-base', tok: BYTE_TOKENIZER, probeSeq: 64 };
  const ft = FINE_TUNED[name];
  if (ft) {
    // The real fine-tuning run, stopped at its last checkpoint: weights and AdamW state after FT_STEPS steps.
    const run = await fineTuneRun('declarations', FT_STEPS, { model: ft.model, log });
    const ck = run.checkpoints[run.checkpoints.length - 1].dir;
    const dir = path.join(work, name);
    fs.cpSync(ck, dir, { recursive: true });
    const corpus = path.join(path.dirname(path.dirname(ck)), 'corpus.txt');
    return {
      dir,
      label: fineTunedLabel(name),
      tok: native.Tokenizer.load(dir),
      probeSeq: 128,
      trained: { corpus, batch: FINETUNE.batch, seq: FINETUNE.seq, lr: FINETUNE.lr, steps: FT_STEPS },
    };
  }
  if (!fs.existsSync(SMOLLM2_GGUF)) throw new Error(`${SMOLLM2_GGUF} is missing: run python3 scripts/fetch_models.py first`);
  const cached = path.join(PACKAGE_ROOT, '.cache', 'experiments', 'smollm2-f32');
  if (!fs.existsSync(cached)) await native.convertGguf(SMOLLM2_GGUF, cached);
  const dir = path.join(work, 'smollm2');
  fs.cpSync(cached, dir, { recursive: true });
  return { dir, label: 'SmolLM2-135M-Instruct', tok: native.Tokenizer.load(dir), probeSeq: 128 };
}

export async function runAdamwExperiment(o: AdamwExperimentOptions, log: (s: string) => void = () => {}): Promise<AdamwExperimentResult> {
  const rows: AdamwRow[] = [];
  const setups: Record<string, string> = {};
  const curves: AdamwExperimentResult['curves'] = {};
  const seconds: Record<string, number> = {};
  for (const name of o.pairs) {
    const t0 = performance.now();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `gt-adamw-${name}-`));
    try {
      const size = sizeOf(name);
      const src = await source(name, work, log);
      const corpus = src.trained?.corpus ?? corpusFile(work, 'prose', 1 << 20);
      const opts = src.trained ? { batch: src.trained.batch, seq: src.trained.seq, lr: src.trained.lr } : { batch: o.batch[size], seq: o.seq[size], lr: o.lr[size] };
      let ak = src.dir;
      if (!src.trained) {
        log(`${src.label}: ${o.warm[size]} steps to build the AdamW state`);
        const warm = await train(src.dir, corpus, path.join(work, 'warm'), { ...opts, steps: o.warm[size], seed: o.seed });
        ak = warm.checkpoints[warm.checkpoints.length - 1].dir;
      }
      const d = native.inspectModel(ak).d;
      const truth = Gauge.random(d, { seed: o.seed + 1, group: 'Bd', positiveFraction: 0.5 });
      const b = path.join(work, 'B');
      await native.applyGauge(ak, truth, b);
      // The target has the re-charted weights only; its state is what each transport writes.
      fs.rmSync(path.join(b, 'optimizer.safetensors'));
      log(`${src.label}: estimating A_k -> B`);
      const est = await estimateBdSd(ak, b, src.tok, { tokens: 4096, seq: src.probeSeq, work });
      const gauges: Record<TransportKind, Gauge> = { truth, Bd: est.Bd, Sd: est.Sd, none: Gauge.identity(d) };
      const resume = { ...opts, steps: o.resume[size], seed: o.seed + 100, resume: true };
      log(`${src.label}: resuming the original run ${o.resume[size]} steps`);
      const original = await train(ak, corpus, path.join(work, 'resume-original'), resume);
      curves[src.label] = { original: original.losses };
      for (const t of TRANSPORTS) {
        const target = path.join(work, `B-${t}`);
        fs.cpSync(b, target, { recursive: true });
        await transportOptimizer(path.join(ak, 'optimizer.safetensors'), gauges[t], path.join(target, 'optimizer.safetensors'), { model: ak });
        log(`${src.label}: resuming from B with the state moved by ${t}`);
        const run = await train(target, corpus, path.join(work, `resume-${t}`), resume);
        curves[src.label][t] = run.losses;
        let maxGap = 0;
        let at = 0;
        run.losses.forEach((l, k) => {
          const gap = Math.abs(l - original.losses[k]);
          if (gap > maxGap) [maxGap, at] = [gap, k + 1];
        });
        rows.push({
          pair: src.label,
          transport: t,
          gaugeAccuracy: gauges[t].agreement(truth).signedAccuracy,
          steps: run.losses.length,
          maxGap,
          at,
          finalLoss: run.losses[run.losses.length - 1],
          originalFinalLoss: original.losses[original.losses.length - 1],
        });
        fs.rmSync(target, { recursive: true, force: true });
      }
      setups[src.label] = src.trained
        ? `the real fine-tuning run stopped at step ${src.trained.steps} with its AdamW state (declarations corpus, lr ${opts.lr}, ${opts.batch} x ${opts.seq} tokens), re-charted by a hidden Bd gauge, ${o.resume[size]} steps resumed`
        : `${o.warm[size]} AdamW steps on the prose corpus (lr ${opts.lr}, ${opts.batch} x ${opts.seq} tokens), re-charted by a hidden Bd gauge, ${o.resume[size]} steps resumed`;
      seconds[src.label] = (performance.now() - t0) / 1000;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  return { name: 'adamw', params: o, setups, rows, curves, seconds, machine: machine() };
}

const LABEL: Record<TransportKind, string> = {
  truth: 'true gauge',
  Bd: 'Bd estimate',
  Sd: 'Sd estimate',
  none: 'not transported (copied)',
};

export function adamwTable(r: AdamwExperimentResult): Table {
  return {
    header: ['model', 'state moved by', 'gauge signed accuracy', 'resumed steps', 'largest loss gap to the original run', 'at step', 'final loss (original)'],
    rows: r.rows.map((x) => [
      x.pair,
      LABEL[x.transport],
      `${(100 * x.gaugeAccuracy).toFixed(1)}%`,
      String(x.steps),
      x.maxGap.toExponential(2),
      String(x.at),
      `${x.finalLoss.toFixed(4)} (${x.originalFinalLoss.toFixed(4)})`,
    ]),
  };
}
