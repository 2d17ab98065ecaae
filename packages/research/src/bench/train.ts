/**
 * Benchmark `train`: AdamW training steps on the CPU, gauge-transport's trainer (candle) against `transformers` with
 * `torch.optim.AdamW`, on SmolLM2-135M (the GGUF converted once to F32) and the built-in tiny model, with the same
 * checkpoint, token ids, batch shape, hyper-parameters and threads, each side in its own process (so that its peak
 * RSS is its own). Every step trains on one window of the built-in probe text repeated `batch` times (the trainer
 * given a corpus of exactly one window draws it every time), so the two sides' losses can be compared step by step:
 * they agree when both did the same computation. Reported: median seconds per step after the first (warm-up), tokens
 * per second, the ratio (>= 1 is the goal), peak RSS against the f32 parameters. The sides alternate over `rounds`
 * rounds and each keeps its fastest, so that a slow spell of a shared machine does not decide the ratio.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { GaugeTransportError } from '../../../../dist/errors';
import { SMOLLM2_GGUF } from '../experiments/groups';
import { defaultProbeText } from '../../../../dist/probe';
import { machine, PACKAGE_ROOT } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { tinyBase } from '../../../../dist/tiny-base';
import { BYTE_TOKENIZER } from '../../../../dist/train';
import { ensurePython, runPeer } from './python';
import { median } from './stats';

export interface TrainBenchOptions {
  models: ('smollm2' | 'tiny')[];
  /** Steps per side, the first of which is a warm-up. */
  steps: number;
  threads: number;
  /** Rounds of both sides, alternating; each side reports its fastest. */
  rounds: number;
}

interface Side {
  times: number[];
  losses: number[];
  /** Median seconds per step, the warm-up step left out. */
  median: number;
  tokensPerS: number;
  peakRssBytes: number;
}

export interface TrainBenchRow {
  model: string;
  batch: number;
  seq: number;
  /** Parameters and their f32 bytes. */
  params: number;
  ours: Side;
  torch: Side;
  /** ours tokens/s over torch tokens/s. */
  ratio: number;
  /** Largest |loss_ours − loss_torch| over the steps. */
  maxLossDiff: number;
}

export interface TrainBenchResult {
  name: 'train';
  params: TrainBenchOptions;
  versions: { torch: string; transformers: string };
  rows: TrainBenchRow[];
  machine: Record<string, string | number>;
}

const SHAPES = { smollm2: { batch: 2, seq: 128, lr: 1e-4 }, tiny: { batch: 8, seq: 64, lr: 1e-3 } } as const;

/** The trainer in a child process (its own peak RSS): `steps` steps on `ids`, per-step seconds and losses. */
function ours(dir: string, idsFile: string, out: string, o: { batch: number; seq: number; lr: number; steps: number; threads: number }) {
  const script = `
    const train = require(${JSON.stringify(path.join(PACKAGE_ROOT, 'dist', 'train.js'))});
    const fs = require('node:fs');
    const ids = Uint32Array.from(JSON.parse(fs.readFileSync(${JSON.stringify(idsFile)}, 'utf8')));
    const stamps = [];
    train.train(${JSON.stringify(dir)}, ids, ${JSON.stringify(out)}, { steps: ${o.steps}, batch: ${o.batch}, seq: ${o.seq}, lr: ${o.lr}, onProgress: (p) => stamps.push(p.seconds) })
      .then((s) => {
        const times = stamps.map((t, i) => t - (i ? stamps[i - 1] : 0));
        process.stdout.write(JSON.stringify({ times, losses: s.losses, peak: process.resourceUsage().maxRSS * 1024 }));
      })
      .catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, RAYON_NUM_THREADS: String(o.threads) }, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new GaugeTransportError('INTERNAL', `the trainer's benchmark process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { times: number[]; losses: number[]; peak: number };
}

function side(times: number[], losses: number[], peak: number, tokens: number): Side {
  const m = median(times.slice(1));
  return { times, losses, median: m, tokensPerS: tokens / m, peakRssBytes: peak };
}

export async function runTrainBench(o: TrainBenchOptions): Promise<TrainBenchResult> {
  ensurePython(['torch', 'transformers', 'numpy'], ['torch', 'transformers', 'numpy']);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-train-bench-'));
  const rows: TrainBenchRow[] = [];
  let versions = { torch: '', transformers: '' };
  try {
    for (const name of o.models) {
      const shape = SHAPES[name];
      let dir: string;
      let ids: number[];
      if (name === 'smollm2') {
        if (!fs.existsSync(SMOLLM2_GGUF)) throw new GaugeTransportError('IO', `${SMOLLM2_GGUF} not found; run python3 scripts/fetch_models.py`);
        dir = path.join(work, 'smollm2');
        await native.convertGguf(SMOLLM2_GGUF, dir);
        ids = Array.from(native.Tokenizer.load(dir).encode(defaultProbeText())).slice(0, shape.seq);
      } else {
        dir = tinyBase();
        ids = Array.from(BYTE_TOKENIZER.encode(defaultProbeText())).slice(0, shape.seq);
      }
      const idsJson = path.join(work, `${name}-ids.json`);
      fs.writeFileSync(idsJson, JSON.stringify(ids));
      const idsNpy = path.join(work, `${name}-ids.npy`);
      native.writeNpy(idsNpy, Float32Array.from(ids), [ids.length]);
      const run = { ...shape, steps: o.steps, threads: o.threads };
      // Rounds alternate the two sides, so that a slow spell of a shared machine falls on both; each side keeps its
      // fastest round (the lowest median), and its highest peak RSS over the rounds.
      type Peer = { times: number[]; losses: number[]; peak_rss_bytes: number; torch: string; transformers: string };
      let a: { times: number[]; losses: number[]; peak: number } | undefined;
      let t: Peer | undefined;
      let peaks = { ours: 0, torch: 0 };
      for (let round = 0; round < o.rounds; round++) {
        const ai = ours(dir, idsJson, path.join(work, `${name}-run`), run);
        fs.rmSync(path.join(work, `${name}-run`), { recursive: true, force: true });
        const ti = runPeer<Peer>('train_torch.py', [
          dir,
          '--ids', idsNpy,
          '--batch', String(shape.batch),
          '--seq', String(shape.seq),
          '--steps', String(o.steps),
          '--threads', String(o.threads),
          '--lr', String(shape.lr),
        ]);
        peaks = { ours: Math.max(peaks.ours, ai.peak), torch: Math.max(peaks.torch, ti.peak_rss_bytes) };
        if (!a || median(ai.times.slice(1)) < median(a.times.slice(1))) a = ai;
        if (!t || median(ti.times.slice(1)) < median(t.times.slice(1))) t = ti;
      }
      if (!a || !t) throw new GaugeTransportError('INVALID_ARGUMENT', '--rounds must be at least 1');
      versions = { torch: t.torch, transformers: t.transformers };
      const tokens = shape.batch * shape.seq;
      const info = native.inspectModel(dir);
      const oursSide = side(a.times, a.losses, peaks.ours, tokens);
      const torchSide = side(t.times, t.losses, peaks.torch, tokens);
      rows.push({
        model: name === 'smollm2' ? 'SmolLM2-135M' : 'tiny-base',
        batch: shape.batch,
        seq: shape.seq,
        params: info.parameters,
        ours: oursSide,
        torch: torchSide,
        ratio: oursSide.tokensPerS / torchSide.tokensPerS,
        maxLossDiff: Math.max(...a.losses.map((l, i) => Math.abs(l - t.losses[i]))),
      });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { name: 'train', params: o, versions, rows, machine: machine() };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export function trainTable(r: TrainBenchResult): Table {
  return {
    header: ['model', 'batch x seq', 'threads', 'gauge-transport s/step', `torch ${r.versions.torch} s/step`, 'ratio (tokens/s)', 'peak RSS ours / torch', 'f32 parameters', 'max loss diff'],
    rows: r.rows.map((x) => [
      x.model,
      `${x.batch} x ${x.seq}`,
      String(r.params.threads),
      `${x.ours.median.toFixed(3)} (${x.ours.tokensPerS.toFixed(0)} tok/s)`,
      `${x.torch.median.toFixed(3)} (${x.torch.tokensPerS.toFixed(0)} tok/s)`,
      `${x.ratio.toFixed(2)}x`,
      `${gib(x.ours.peakRssBytes)} / ${gib(x.torch.peakRssBytes)}`,
      gib(4 * x.params),
      x.maxLossDiff.toExponential(1),
    ]),
  };
}
