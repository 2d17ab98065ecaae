/**
 * Benchmark `collect`: the paired-statistics pass of `align` and `stats` (two models on the same probe, the
 * cross-moments of their hidden states at every site) on SmolLM2-135M on the CPU, in probe tokens per second.
 *
 * In one run, each side in its own process (so that its peak RSS is its own), on the same ids, sequence length,
 * batch and threads, median of `reps` after a warm-up:
 * - gauge-transport with its fused CPU kernels (attention one head at a time in cache-sized blocks, SwiGLU and the
 *   masked softmax in one pass with a vectorized `exp`, q/k/v and gate/up as one product each), and with them switched off (`GAUGE_TRANSPORT_CPU_FUSED=0`:
 *   candle's compositions, the code before the kernels);
 * - transformers on torch: two copies of the checkpoint with `output_hidden_states`, and the same products and
 *   sums in torch (`packages/research/peers/collect_transformers.py`);
 * - the roofline: numpy's sgemm GFLOP/s on the forward's own GEMM shapes, measured in the same run, divided by the
 *   FLOPs a probe token needs (both forwards, causal attention counted at its mean length, and the `x.T @ y`
 *   products at every site).
 *
 * - candle's sgemm (the `gemm` crate, which the passes call) on the same GEMM shapes as numpy's, called as a linear
 *   layer calls it (`crates/gauge-models/examples/gemm_shapes.rs`), to tell the GEMM's share of the gap to the
 *   roofline from the rest of the pass's;
 * - with `--baseline REV`, an earlier revision of this package built once (`baseline.ts`), through the same script:
 *   the code as it was when a speed-up was asked for, measured beside the code as it is.
 *
 * The correlation at one site is compared between the fused and unfused runs (and the baseline's) and against
 * transformers', so every side did the same computation.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { GaugeTransportError } from '../../../../dist/errors';
import { SMOLLM2_GGUF } from '../experiments/groups';
import { machine, PACKAGE_ROOT } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';
import { baselineBuild } from './baseline';
import { ensurePython, runPeer } from './python';
import { maxAbsDiff, median } from './stats';

export interface CollectBenchOptions {
  /** Probe tokens per run. @default 4096 */
  tokens: number;
  /** @default 256 */
  seq: number;
  /** @default 8 */
  batch: number;
  /** @default 3 */
  reps: number;
  /** Threads for every side. @default the number of CPUs */
  threads: number;
  /** An earlier revision to measure beside this one (`--baseline REV`). */
  baseline?: string;
}

interface Side {
  times: number[];
  median: number;
  /** Probe tokens per second (each token through both models, and its statistics). */
  tokensPerS: number;
  peakRssBytes: number;
}

export interface CollectBenchResult {
  name: 'collect';
  params: CollectBenchOptions & { model: string; sites: number };
  fused: Side & { forwardSeconds: number; statsSeconds: number };
  unfused: Side & { forwardSeconds: number; statsSeconds: number };
  transformers: Side & { torch: string; version: string };
  roofline: { numpy: string; sgemmGflops: number; flopsPerToken: number; tokensPerS: number };
  /** candle's sgemm on the roofline's shapes: GFLOP/s, and that over numpy's. */
  candleSgemm?: { gflops: number; ofNumpy: number };
  /** The earlier revision's pass, when `--baseline` was given. */
  baseline?: Side & { commit: string; subject: string; forwardSeconds: number; statsSeconds: number; maxCorrDiff: number };
  /** fused over unfused tokens/s. */
  speedup: number;
  /** fused over the baseline's tokens/s. */
  speedupOverBaseline?: number;
  /** fused over transformers tokens/s. */
  ratio: number;
  /** fused tokens/s over the roofline's. */
  fractionOfRoofline: number;
  /** Largest |Δ correlation| at `corrSite`: fused against unfused, and fused against transformers. */
  corrSite: string;
  maxCorrDiffUnfused: number;
  maxCorrDiffTransformers: number;
  machine: Record<string, string | number>;
}

/**
 * Our pass in a child process: warm-up, then `reps` timed runs; writes the correlation at `site` to `corrOut`.
 * `root` is the package whose `dist/native.js` runs it (this one, or a baseline build).
 */
function ours(dir: string, idsFile: string, corrOut: string, site: string, o: CollectBenchOptions, fused: boolean, root = PACKAGE_ROOT) {
  const script = `
    const native = require(${JSON.stringify(path.join(root, 'dist', 'native.js'))});
    const fs = require('node:fs');
    (async () => {
      const ids = Uint32Array.from(JSON.parse(fs.readFileSync(${JSON.stringify(idsFile)}, 'utf8')));
      const a = await native.Model.load(${JSON.stringify(dir)});
      const b = await native.Model.load(${JSON.stringify(dir)});
      const sites = Array.from({ length: a.layers + 1 }, (_, l) => 'h_' + l);
      const options = { seq: ${o.seq}, batch: ${o.batch}, sites };
      await native.collectPairStats(a, b, ids.subarray(0, ${o.seq * o.batch}), options); // warm-up
      const times = [], forward = [], stats = [];
      let last;
      for (let r = 0; r < ${o.reps}; r++) {
        let p;
        const t0 = process.hrtime.bigint();
        last = await native.collectPairStats(a, b, ids, options, (q) => { p = q; });
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
        forward.push(p ? p.forwardSeconds : NaN);
        stats.push(p ? p.statsSeconds : NaN);
      }
      const d = last.d;
      native.writeNpy(${JSON.stringify(corrOut)}, last.correlation(${JSON.stringify(site)}), [d, d]);
      process.stdout.write(JSON.stringify({ times, forward, stats, sites: sites.length, peak: process.resourceUsage().maxRSS * 1024 }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const env = { ...process.env, RAYON_NUM_THREADS: String(o.threads), GAUGE_TRANSPORT_CPU_FUSED: fused ? '1' : '0' };
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new GaugeTransportError('INTERNAL', `the statistics benchmark process failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { times: number[]; forward: number[]; stats: number[]; sites: number; peak: number };
  const m = median(out.times);
  return {
    side: { times: out.times, median: m, tokensPerS: o.tokens / m, peakRssBytes: out.peak, forwardSeconds: median(out.forward), statsSeconds: median(out.stats) },
    sites: out.sites,
  };
}

/** candle's sgemm on `shapes` (`KxN,...`) with `m` rows, built and run by cargo from this checkout. */
function candleSgemm(m: number, shapes: string, threads: number): { gflops: number } {
  const r = spawnSync('cargo', ['run', '--release', '--quiet', '-p', 'gauge-models', '--example', 'gemm_shapes', '--', '--m', `${m}`, '--shapes', shapes], {
    cwd: PACKAGE_ROOT,
    encoding: 'utf8',
    env: { ...process.env, RAYON_NUM_THREADS: String(threads) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.error || r.status !== 0) {
    throw new GaugeTransportError('PEER_UNAVAILABLE', `cargo run --example gemm_shapes failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  return JSON.parse(r.stdout) as { gflops: number };
}

/** FLOPs per probe token: both models' forward passes (no output head) and the `x.T @ y` products at `sites`. */
export function flopsPerToken(config: Record<string, number>, seq: number, sites: number): number {
  const d = config.hidden_size;
  const heads = config.num_attention_heads;
  const kv = config.num_key_value_heads ?? heads;
  const hd = config.head_dim ?? d / heads;
  const ffn = config.intermediate_size;
  const layers = config.num_hidden_layers;
  const linear = d * heads * hd + 2 * d * kv * hd + heads * hd * d + 3 * d * ffn;
  // q kᵀ and p v, 2 FLOPs a multiply-add, over the (seq + 1) / 2 keys a causal query sees on average.
  const attention = 2 * 2 * heads * hd * ((seq + 1) / 2);
  const forward = layers * (2 * linear + attention);
  return 2 * forward + sites * 2 * d * d;
}

export async function runCollectBench(o: CollectBenchOptions): Promise<CollectBenchResult> {
  if (o.tokens % (o.seq * o.batch) !== 0) {
    throw new GaugeTransportError('INVALID_ARGUMENT', `--tokens ${o.tokens} is not a multiple of --seq x --batch = ${o.seq * o.batch}`);
  }
  if (!fs.existsSync(SMOLLM2_GGUF)) throw new GaugeTransportError('IO', `${SMOLLM2_GGUF} not found; run python3 scripts/fetch_models.py`);
  ensurePython(['torch', 'transformers', 'numpy'], ['torch', 'transformers', 'numpy']);
  const base = o.baseline === undefined ? undefined : baselineBuild(o.baseline, (s) => process.stderr.write(`  ${s}\n`));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-collect-bench-'));
  try {
    const dir = path.join(work, 'model');
    await native.convertGguf(SMOLLM2_GGUF, dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, number>;
    const vocab = config.vocab_size;
    const ids = Array.from(native.randomUniform(o.tokens, 7), (u) => Math.floor(u * vocab) % vocab);
    const idsJson = path.join(work, 'ids.json');
    fs.writeFileSync(idsJson, JSON.stringify(ids));
    const idsNpy = path.join(work, 'ids.npy');
    native.writeNpy(idsNpy, Float32Array.from(ids), [ids.length]);
    // transformers' hidden_states[5] is h_5 (index i < L is h_i).
    const corrSite = 'h_5';
    const files = { fused: path.join(work, 'fused.npy'), unfused: path.join(work, 'unfused.npy'), hf: path.join(work, 'hf.npy'), base: path.join(work, 'base.npy') };
    const fused = ours(dir, idsJson, files.fused, corrSite, o, true);
    const unfused = ours(dir, idsJson, files.unfused, corrSite, o, false);
    const before = base === undefined ? undefined : ours(dir, idsJson, files.base, corrSite, o, true, base.dir);
    const peer = runPeer<{ times: number[]; median: number; tokens_per_s: number; peak_rss_bytes: number; torch: string; transformers: string }>(
      'collect_transformers.py',
      [dir, '--ids', idsNpy, '--seq', `${o.seq}`, '--batch', `${o.batch}`, '--reps', `${o.reps}`, '--threads', `${o.threads}`, '--corr-site', '5', '--corr-out', files.hf],
    );
    const d = config.hidden_size;
    const ffn = config.intermediate_size;
    const heads = config.num_attention_heads;
    const kv = config.num_key_value_heads ?? heads;
    const hd = config.head_dim ?? d / heads;
    const shapes = [`${d}x${heads * hd}`, `${d}x${kv * hd}`, `${heads * hd}x${d}`, `${d}x${ffn}`, `${ffn}x${d}`].join(',');
    const gemm = runPeer<{ numpy: string; gflops: number }>('sgemm_roofline.py', ['--m', `${o.seq * o.batch}`, '--shapes', shapes, '--threads', `${o.threads}`]);
    const candle = candleSgemm(o.seq * o.batch, shapes, o.threads);
    const flops = flopsPerToken(config, o.seq, fused.sites);
    const roofline = { numpy: gemm.numpy, sgemmGflops: gemm.gflops, flopsPerToken: flops, tokensPerS: (gemm.gflops * 1e9) / flops };
    const corr = (f: string) => native.readNpyMatrix(f).data;
    const transformers = {
      times: peer.times,
      median: peer.median,
      tokensPerS: peer.tokens_per_s,
      peakRssBytes: peer.peak_rss_bytes,
      torch: peer.torch,
      version: peer.transformers,
    };
    const baseline =
      base === undefined || before === undefined
        ? undefined
        : { ...before.side, commit: base.commit, subject: base.subject, maxCorrDiff: maxAbsDiff(corr(files.fused), corr(files.base)) };
    return {
      name: 'collect',
      params: { ...o, model: path.basename(SMOLLM2_GGUF), sites: fused.sites },
      fused: fused.side,
      unfused: unfused.side,
      ...(baseline === undefined ? {} : { baseline, speedupOverBaseline: fused.side.tokensPerS / baseline.tokensPerS }),
      transformers,
      roofline,
      candleSgemm: { gflops: candle.gflops, ofNumpy: candle.gflops / gemm.gflops },
      speedup: fused.side.tokensPerS / unfused.side.tokensPerS,
      ratio: fused.side.tokensPerS / transformers.tokensPerS,
      fractionOfRoofline: fused.side.tokensPerS / roofline.tokensPerS,
      corrSite,
      maxCorrDiffUnfused: maxAbsDiff(corr(files.fused), corr(files.unfused)),
      maxCorrDiffTransformers: maxAbsDiff(corr(files.fused), corr(files.hf)),
      machine: machine(),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function collectTable(r: CollectBenchResult): Table {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const row = (name: string, s: Side, extra: string) => [name, `${s.tokensPerS.toFixed(0)} tok/s`, `${s.median.toFixed(2)} s`, gib(s.peakRssBytes), extra];
  return {
    header: ['side', 'probe tokens/s', `median of ${r.params.reps} (${r.params.tokens} tokens)`, 'peak RSS', 'against the fused kernels'],
    rows: [
      row('gauge-transport, fused CPU kernels', r.fused, `forward ${r.fused.forwardSeconds.toFixed(2)} s, statistics ${r.fused.statsSeconds.toFixed(2)} s`),
      row('gauge-transport, candle compositions (before)', r.unfused, `fused is ${r.speedup.toFixed(2)}x; max abs Δcorr ${r.maxCorrDiffUnfused.toExponential(1)}`),
      ...(r.baseline === undefined
        ? []
        : [
            row(
              `gauge-transport at ${r.baseline.commit.slice(0, 7)} (the build before this work)`,
              r.baseline,
              `fused is ${r.speedupOverBaseline!.toFixed(2)}x; max abs Δcorr ${r.baseline.maxCorrDiff.toExponential(1)}`,
            ),
          ]),
      row(`transformers ${r.transformers.version} (torch ${r.transformers.torch})`, r.transformers, `fused is ${r.ratio.toFixed(2)}x; max abs Δcorr ${r.maxCorrDiffTransformers.toExponential(1)}`),
      [
        `roofline: numpy ${r.roofline.numpy} sgemm ${r.roofline.sgemmGflops.toFixed(0)} GFLOP/s / ${(r.roofline.flopsPerToken / 1e9).toFixed(3)} GFLOP per token`,
        `${r.roofline.tokensPerS.toFixed(0)} tok/s`,
        '',
        '',
        `fused reaches ${(100 * r.fractionOfRoofline).toFixed(0)}%`,
      ],
      ...(r.candleSgemm === undefined
        ? []
        : [
            [
              `candle's sgemm (gemm crate) on the same shapes: ${r.candleSgemm.gflops.toFixed(0)} GFLOP/s`,
              `${((r.roofline.tokensPerS * r.candleSgemm.gflops) / r.roofline.sgemmGflops).toFixed(0)} tok/s`,
              '',
              '',
              `${(100 * r.candleSgemm.ofNumpy).toFixed(0)}% of numpy's sgemm; fused reaches ${((100 * r.fractionOfRoofline) / r.candleSgemm.ofNumpy).toFixed(0)}% of this bound`,
            ],
          ]),
    ],
  };
}
