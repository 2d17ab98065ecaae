/**
 * Benchmark `scale`: alignment of large checkpoints in bounded memory. Each pair is an `init` checkpoint `A`
 * (bf16, generic gains) and its copy `B`, re-charted by a hidden random `Bd` gauge and perturbed (noise of 1% of
 * each tensor's std). `gauge-transport align A B --truth` then runs in its own process, so its peak RSS is that
 * run's alone, with the models whole (a budget they fit in) or streamed block by block (a budget they do not), and
 * data-free from the weights (`--from weights`). The checkpoints live in a scratch directory, removed afterwards
 * (the 7B-shaped pair needs about 40 GB of disk while it is built).
 *
 * Pairs: a TinyLlama-1.1B-shaped pair (streamed and whole, which must find the same gauge), a Llama-2-7B-shaped
 * pair (streamed under 6 GiB), and the Llama-3-70B block shape (d 8192, MLP 28672, 64 query and 8 key/value heads,
 * vocabulary 128256) with 4 of its 80 layers, whose time per block and memory extrapolate to the whole model.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { Gauge } from '../../../../dist/gauge';
import { formatBytes } from '../../../../dist/memory';
import { PACKAGE_ROOT, defaultResultsDir, machine } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';

/** One pair of the benchmark. */
interface PairSpec {
  name: string;
  /** An init preset, or a `config.json` written to the scratch directory. */
  preset?: string;
  config?: Record<string, unknown>;
  tokens: number;
  /** `align` runs: a label and the `--memory-budget` that selects whole or streamed models. */
  runs: { mode: 'whole' | 'streamed'; budget: string }[];
  /** The full model's layer count, when this pair holds only some of its layers. */
  fullLayers?: number;
}

const llama = (c: Record<string, unknown>) => ({
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  rms_norm_eps: 1e-5,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  ...c,
});

export const PAIRS: Record<string, PairSpec> = {
  tinyllama: {
    name: 'TinyLlama-1.1B shape (bf16)',
    preset: 'tinyllama-1.1b',
    tokens: 2048,
    runs: [
      { mode: 'whole', budget: '64G' },
      { mode: 'streamed', budget: '2G' },
    ],
  },
  'llama2-7b': {
    name: 'Llama-2-7B shape (bf16)',
    config: llama({
      hidden_size: 4096,
      intermediate_size: 11008,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      vocab_size: 32000,
      max_position_embeddings: 4096,
      rope_theta: 10000.0,
    }),
    tokens: 1024,
    runs: [{ mode: 'streamed', budget: '6G' }],
  },
  'llama3-70b-4': {
    name: 'Llama-3-70B block shape, 4 of 80 layers (bf16)',
    config: llama({
      hidden_size: 8192,
      intermediate_size: 28672,
      num_hidden_layers: 4,
      num_attention_heads: 64,
      num_key_value_heads: 8,
      vocab_size: 128256,
      max_position_embeddings: 8192,
      rope_theta: 500000.0,
    }),
    tokens: 1024,
    runs: [{ mode: 'streamed', budget: '10G' }],
    fullLayers: 80,
  },
};

/** The runs of a pair: activations with the models whole or streamed, and from the weights. */
export const MODES = ['whole', 'streamed', 'weights'] as const;
export type Mode = (typeof MODES)[number];

export interface ScaleOptions {
  /** Pairs to run (keys of {@link PAIRS}). @default all */
  pairs?: string[];
  /**
   * Runs to do of each pair (a pair has the activation runs its spec lists, and weights). Rows of the recorded
   * result that this run does not redo (other pairs or modes) are carried over, marked `carried`, when the
   * recorded run had the same context length. @default all
   */
  modes?: Mode[];
  /** Scratch directory for the checkpoints (removed afterwards). @default os.tmpdir() */
  workDir?: string;
  /** Tokens per sequence. @default 256 */
  contextLength?: number;
}

export interface ScaleRow {
  pair: string;
  d: number;
  layers: number;
  parameters: number;
  /** Bytes of one checkpoint on disk. */
  checkpointBytes: number;
  mode: Mode;
  budget: string;
  tokens: number;
  streamed: boolean;
  maxRssBytes: number;
  /** Probe tokens per second through both models (statistics phase). */
  tokensPerSecond: number;
  signedAccuracy: number;
  seconds: { statistics: number; forward: number; moments: number; solve: number; total: number };
  /** Forward seconds per block of both models (activation runs). */
  secondsPerBlock?: number;
  /** Extrapolation to the full model's depth (the 70B block shape). */
  extrapolated?: { layers: number; forwardSeconds: number };
  /** The gauge equals the other mode's (TinyLlama: streamed against whole). */
  sameGaugeAsWhole?: boolean;
  /** Carried over from the recorded result, not measured in this run. */
  carried?: boolean;
}

export interface ScaleResult {
  name: 'scale';
  params: Required<ScaleOptions>;
  rows: ScaleRow[];
  machine: Record<string, string | number>;
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

function alignRun(args: string[]): Record<string, any> {
  const cli = path.join(PACKAGE_ROOT, 'dist', 'cli.js');
  const out = execFileSync(process.execPath, [cli, 'align', ...args, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  return JSON.parse(out);
}

async function runPair(key: string, spec: PairSpec, o: Required<ScaleOptions>): Promise<ScaleRow[]> {
  const work = fs.mkdtempSync(path.join(o.workDir, `gt-scale-${key}-`));
  try {
    const a = path.join(work, 'A');
    process.stderr.write(`  ${spec.name}: writing A...\n`);
    let source = spec.preset;
    if (spec.config) {
      source = path.join(work, 'config.json');
      fs.writeFileSync(source, JSON.stringify(spec.config, null, 2));
    }
    await native.initCheckpoint(source!, a, { seed: 1, dtype: 'BF16' });
    const info = native.inspectModel(a);
    const truth = Gauge.random(info.d, { seed: 2, group: 'Bd', positiveFraction: 0.5 });
    const truthFile = path.join(work, 'truth.safetensors');
    truth.write(truthFile);
    process.stderr.write(`  ${spec.name}: re-charting and perturbing B...\n`);
    await native.applyGauge(a, truth, path.join(work, 'B0'));
    const b = path.join(work, 'B');
    await native.perturbCheckpoint(path.join(work, 'B0'), b, { scale: 0.01, seed: 3 });
    fs.rmSync(path.join(work, 'B0'), { recursive: true });
    const base = {
      pair: spec.name,
      d: info.d,
      layers: info.layers ?? 0,
      parameters: info.parameters,
      checkpointBytes: dirBytes(a),
    };
    const rows: ScaleRow[] = [];
    const gauges = new Map<string, Gauge>();
    for (const run of spec.runs.filter((r) => o.modes.includes(r.mode))) {
      process.stderr.write(`  ${spec.name}: align, ${run.mode} (--memory-budget ${run.budget})...\n`);
      const out = path.join(work, `g-${run.mode}.safetensors`);
      const r = alignRun([
        a,
        b,
        '--probe',
        'builtin:text',
        '--tokens',
        String(spec.tokens),
        '--context',
        String(o.contextLength),
        '--memory-budget',
        run.budget,
        '--truth',
        truthFile,
        '--out',
        out,
      ]);
      gauges.set(run.mode, Gauge.read(out));
      const perBlock = r.seconds.forward / Math.max(1, base.layers);
      rows.push({
        ...base,
        mode: run.mode,
        budget: run.budget,
        tokens: r.probe.tokens,
        streamed: r.streamed,
        maxRssBytes: r.maxRssBytes,
        tokensPerSecond: r.probe.tokens / r.seconds.statistics,
        signedAccuracy: r.truth.marginalized.signedAccuracy,
        seconds: r.seconds,
        secondsPerBlock: perBlock,
        ...(spec.fullLayers ? { extrapolated: { layers: spec.fullLayers, forwardSeconds: perBlock * spec.fullLayers } } : {}),
      });
    }
    const whole = gauges.get('whole');
    const streamed = gauges.get('streamed');
    if (whole && streamed) {
      for (const row of rows) row.sameGaugeAsWhole = whole.equals(streamed);
    }
    if (!o.modes.includes('weights')) return rows;
    process.stderr.write(`  ${spec.name}: align --from weights...\n`);
    const w = alignRun([a, b, '--from', 'weights', '--truth', truthFile, '--out', path.join(work, 'g-weights.safetensors')]);
    rows.push({
      ...base,
      mode: 'weights',
      budget: '-',
      tokens: 0,
      streamed: false,
      maxRssBytes: w.maxRssBytes,
      tokensPerSecond: 0,
      signedAccuracy: w.truth.marginalized.signedAccuracy,
      seconds: w.seconds,
    });
    return rows;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function runScaleBench(options: ScaleOptions = {}): Promise<ScaleResult> {
  const o: Required<ScaleOptions> = {
    pairs: options.pairs ?? Object.keys(PAIRS),
    modes: options.modes ?? [...MODES],
    workDir: options.workDir ?? os.tmpdir(),
    contextLength: options.contextLength ?? 256,
  };
  for (const m of o.modes) if (!MODES.includes(m)) throw new Error(`--modes: ${JSON.stringify(m)} is not one of ${MODES.join(', ')}`);
  const rows: ScaleRow[] = [];
  for (const key of o.pairs) {
    const spec = PAIRS[key];
    if (!spec) throw new Error(`--pairs: ${JSON.stringify(key)} is not one of ${Object.keys(PAIRS).join(', ')}`);
    rows.push(...(await runPair(key, spec, o)));
  }
  return { name: 'scale', params: o, rows: withCarried(rows, o), machine: machine() };
}

/**
 * `fresh` with the recorded result's rows that it did not redo (by pair and mode), marked `carried`, in the
 * order of {@link PAIRS} and {@link MODES}; `fresh` alone when there is no recorded result of the same context
 * length.
 */
function withCarried(fresh: ScaleRow[], o: Required<ScaleOptions>): ScaleRow[] {
  const file = path.join(defaultResultsDir(), 'scale.json');
  if (!fs.existsSync(file)) return fresh;
  const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as ScaleResult;
  if (previous.params?.contextLength !== o.contextLength) return fresh;
  const key = (r: ScaleRow) => `${r.pair}\u0000${r.mode}`;
  const redone = new Set(fresh.map(key));
  const carried = previous.rows.filter((r) => !redone.has(key(r))).map((r) => ({ ...r, carried: true }));
  const pairOrder = Object.values(PAIRS).map((p) => p.name);
  const rank = (r: ScaleRow) => pairOrder.indexOf(r.pair) * MODES.length + MODES.indexOf(r.mode);
  return [...carried, ...fresh].sort((x, y) => rank(x) - rank(y));
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function scaleTable(r: ScaleResult): Table {
  return {
    header: [
      'pair',
      'checkpoint',
      'statistics from',
      'memory budget',
      'peak RSS',
      'tokens/s',
      'marginalized: signed acc.',
      'time: forward / moments / solve',
      'forward per block (both models)',
    ],
    rows: r.rows.map((row) => [
      `${row.pair}: d ${row.d}, ${row.layers} layers`,
      formatBytes(row.checkpointBytes),
      (row.carried ? '(previous run) ' : '') +
        (row.mode === 'weights' ? 'weights' : `${row.tokens} tokens, ${row.streamed ? 'streamed' : 'whole'}${row.sameGaugeAsWhole === undefined ? '' : row.sameGaugeAsWhole ? ' (same gauge)' : ' (**different gauge**)'}`),
      row.budget,
      formatBytes(row.maxRssBytes),
      row.mode === 'weights' ? '-' : row.tokensPerSecond.toFixed(0),
      pct(row.signedAccuracy),
      row.mode === 'weights'
        ? `(weights ${row.seconds.statistics.toFixed(1)} s) / ${row.seconds.solve.toFixed(2)} s`
        : `${row.seconds.forward.toFixed(1)} s / ${row.seconds.moments.toFixed(1)} s / ${row.seconds.solve.toFixed(2)} s`,
      row.secondsPerBlock === undefined
        ? '-'
        : `${row.secondsPerBlock.toFixed(2)} s${row.extrapolated ? ` (x ${row.extrapolated.layers} layers: ${(row.extrapolated.forwardSeconds / 60).toFixed(1)} min)` : ''}`,
    ]),
  };
}
