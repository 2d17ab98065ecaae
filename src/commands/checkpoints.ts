/**
 * Checkpoint commands: `inspect <model>`, `apply <model> --gauge g.safetensors --out <dir>` and
 * `init --config <preset|config.json> --seed S --out <dir>`.
 */
import native = require('../native');
import { invalidArgument } from '../errors';
import { writeDir } from '../files';
import { num, oneOf, parse, str } from './args';

export const inspectUsage = `gauge-transport inspect <model-dir|model.gguf> [--json]

A Hugging Face directory or a Llama GGUF file. Architecture, d, layers, heads, dtypes, parameter count, norm type, gain statistics and the residual gauge group
(Bd for RMSNorm with generic gains, ±Sd for LayerNorm, O(d) when all gains are equal).`;

export async function inspect(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, 'inspect');
  if (positionals.length !== 1) throw invalidArgument('inspect', `expected one model (a directory or a GGUF file), got ${positionals.length}`);
  const info = native.inspectModel(positionals[0]);
  if (values.json) {
    process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    return;
  }
  const g = info.gains;
  process.stdout.write(
    [
      `${positionals[0]}: ${info.class ?? info.architecture} (${info.architecture})`,
      `  d ${info.d}, layers ${info.layers ?? '?'}, heads ${info.heads ?? '?'} (kv ${info.kvHeads ?? '?'})`,
      `  ${(info.parameters / 1e6).toFixed(1)}M parameters, ${info.dtypes.join('/')}, ${info.shards} file(s)`,
      `  ${info.norm}; ${g.vectors} gain vectors: min ${g.min.toFixed(4)}, max ${g.max.toFixed(4)}, mean ${g.mean.toFixed(4)}, std ${g.std.toFixed(4)}`,
      `  gauge group: ${info.group}${info.continuousReason ? ` (${info.continuousReason})` : ''}`,
    ].join('\n') + '\n',
  );
}

export const applyUsage = `gauge-transport apply <model-dir|model.gguf> --gauge g.safetensors --out <dir> [--force] [--overwrite] [--json]

Writes the model re-charted by the gauge: hidden states become g·h, outputs are unchanged. Streams tensor by
tensor, keeps sharding and dtypes, copies config and tokenizer files, and stores the gauge beside the weights.
A GGUF input is dequantized and written as a Hugging Face directory (F32 safetensors, config, tokenizer).
Refuses to write over its input, into a directory inside it, or into an existing non-empty directory (unless
--overwrite: the old one is replaced once the new one is complete), and refuses a gauge outside the model's group
(per-coordinate signs on a LayerNorm model) unless --force.`;

export async function apply(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { gauge: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' } },
    'apply',
  );
  if (positionals.length !== 1) throw invalidArgument('apply', `expected one model directory, got ${positionals.length}`);
  const gaugePath = str(values.gauge, '--gauge');
  const out = str(values.out, '--out');
  if (!gaugePath) throw invalidArgument('--gauge', 'is required (a gauge file)');
  if (!out) throw invalidArgument('--out', 'is required (the directory to write)');
  const gauge = native.Gauge.read(gaugePath);
  const t0 = performance.now();
  const r = await writeDir(out, values.overwrite === true, (dir) => native.applyGauge(positionals[0], gauge, dir, { force: values.force === true }), [positionals[0]]);
  const seconds = (performance.now() - t0) / 1000;
  if (values.json) {
    // maxRSS is reported in KiB.
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(JSON.stringify({ ...r, out, seconds, maxRssBytes }, null, 2) + '\n');
  } else {
    process.stdout.write(
      `wrote ${out}: ${r.tensors} tensors (${r.moved} moved), ${(r.bytes / 2 ** 20).toFixed(1)} MiB in ${r.shards} file(s), ${seconds.toFixed(2)} s\n`,
    );
  }
}

export const initUsage = `gauge-transport init --config <preset|config.json> --out <dir> [--seed S] [--dtype F32|BF16] [--overwrite] [--json]

Writes a random checkpoint with generic norm gains. Presets: tiny, tiny-qwen2, tiny-gpt2, smollm2-135m,
tinyllama-1.1b, qwen2.5-0.5b.`;

export async function init(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { config: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, dtype: { type: 'string' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' } },
    'init',
  );
  if (positionals.length) throw invalidArgument('init', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const config = str(values.config, '--config');
  const out = str(values.out, '--out');
  if (!config) throw invalidArgument('--config', 'is required (a preset or a config.json)');
  if (!out) throw invalidArgument('--out', 'is required (the directory to write)');
  const seed = num(values.seed, '--seed', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const dtype = oneOf(values.dtype, '--dtype', ['F32', 'BF16'], 'F32');
  const bytes = await writeDir(out, values.overwrite === true, (dir) => native.initCheckpoint(config, dir, { seed, dtype }));
  if (values.json) process.stdout.write(JSON.stringify({ out, bytes, dtype, seed }, null, 2) + '\n');
  else process.stdout.write(`wrote ${out}: ${(bytes / 2 ** 20).toFixed(1)} MiB of ${dtype} weights (seed ${seed})\n`);
}

export const perturbUsage = `gauge-transport perturb <model-dir> --out <dir> [--scale 0.01] [--seed S] [--overwrite] [--json]

Writes the model with seeded Gaussian noise added to every float tensor: each entry moves by scale x the
standard deviation of its tensor. A stand-in for a little further training, for alignment experiments.`;

export async function perturb(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { out: { type: 'string' }, scale: { type: 'string' }, seed: { type: 'string' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' } },
    'perturb',
  );
  if (positionals.length !== 1) throw invalidArgument('perturb', `expected one model directory, got ${positionals.length}`);
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required (the directory to write)');
  const scale = num(values.scale, '--scale', 0.01, { min: 0, max: 100 });
  const seed = num(values.seed, '--seed', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const n = await writeDir(out, values.overwrite === true, (dir) => native.perturbCheckpoint(positionals[0], dir, { scale, seed }), [positionals[0]]);
  if (values.json) process.stdout.write(JSON.stringify({ out, tensors: n, scale, seed }, null, 2) + '\n');
  else process.stdout.write(`wrote ${out}: ${n} tensors perturbed by ${scale} x their std (seed ${seed})\n`);
}
