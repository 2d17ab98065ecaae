/** `gauge-transport train`: AdamW training from a checkpoint or a config, saving checkpoints with optimizer state. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import native = require('../native');
import { GaugeTransportError, invalidArgument } from '../errors';
import { writeDir } from '../files';
import { ProgressBar } from '../progress';
import { train } from '../train';
import { num, oneOf, parse, str } from './args';

export const usage = `gauge-transport train (--init <model-dir> | --config <preset|config.json>) --data <corpus> --out <dir> [options]

Trains with next-token cross-entropy and AdamW (PyTorch semantics) on the CPU, deterministic for a seed. Writes
<dir>/step-NNNNNN/ every --save-every steps and after the last (config.json, F32 model.safetensors,
optimizer.safetensors in the GAUGE.md §4 layout, trainer_state.json) and <dir>/train_log.json (the loss of every
step). With --config the random initial checkpoint (seed --init-seed) is written to <dir>/init first.

  --data FILE          text (.txt/.md: the model's tokenizer, or UTF-8 bytes for a byte-level model without one),
                       or token ids (.json, .npy, file.safetensors[:tensor])
  --steps N            updates (default 100)
  --batch N            sequences per step (default 8)
  --seq N              tokens per sequence (default 128)
  --lr X               peak learning rate (default 1e-3)
  --warmup N           linear warm-up steps (default 0)
  --schedule S         constant (default) or cosine (to 10% of the peak)
  --weight-decay X     decoupled weight decay (default 0.1)
  --beta1 X, --beta2 X AdamW betas (default 0.9, 0.95)
  --clip X             global gradient-norm clip, 0 for none (default 1)
  --save-every N       checkpoint every N steps (default 0: only the last)
  --seed S             seed of the batch order (default 0)
  --init-seed S        seed of the random initial checkpoint with --config (default 0)
  --resume             continue from the optimizer state saved with --init
  --device D           cpu (default), cuda, cuda:N, metal, metal:N (accelerators need a build with their
                       feature; runs are deterministic on the CPU)
  --overwrite          replace an existing <dir>: the run goes to a temporary sibling, which replaces the old
                       directory only once the run is complete (never the --init checkpoint or the data)
  --json               print the summary as JSON`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      init: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      schedule: { type: 'string' },
      'weight-decay': { type: 'string' },
      beta1: { type: 'string' },
      beta2: { type: 'string' },
      clip: { type: 'string' },
      'save-every': { type: 'string' },
      seed: { type: 'string' },
      'init-seed': { type: 'string' },
      resume: { type: 'boolean' },
      device: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'train',
  );
  if (positionals.length) throw invalidArgument('train', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const initDir = str(values.init, '--init');
  const config = str(values.config, '--config');
  const data = str(values.data, '--data');
  const out = str(values.out, '--out');
  if ((initDir === undefined) === (config === undefined)) throw invalidArgument('--init', 'give exactly one of --init and --config');
  if (!data) throw invalidArgument('--data', 'is required (a text or token-id file)');
  if (!out) throw invalidArgument('--out', 'is required (the run directory to create)');
  const replace = fs.existsSync(out);
  if (replace && values.overwrite !== true) {
    throw new GaugeTransportError('OUTPUT_EXISTS', `--out ${out}: already exists; a run never writes into an existing directory (pass --overwrite to replace it once the run is complete)`);
  }
  const options = {
    steps: num(values.steps, '--steps', 100, { min: 1, max: 1e9, integer: true }),
    batch: num(values.batch, '--batch', 8, { min: 1, max: 4096, integer: true }),
    seq: num(values.seq, '--seq', 128, { min: 2, max: 1 << 20, integer: true }),
    lr: num(values.lr, '--lr', 1e-3, { min: 0 }),
    warmup: num(values.warmup, '--warmup', 0, { min: 0, integer: true }),
    schedule: oneOf(values.schedule, '--schedule', ['constant', 'cosine'] as const, 'constant'),
    weightDecay: num(values['weight-decay'], '--weight-decay', 0.1, { min: 0 }),
    beta1: num(values.beta1, '--beta1', 0.9, { min: 0, max: 0.999999 }),
    beta2: num(values.beta2, '--beta2', 0.95, { min: 0, max: 0.999999 }),
    clip: num(values.clip, '--clip', 1, { min: 0 }),
    saveEvery: num(values['save-every'], '--save-every', 0, { min: 0, integer: true }),
    seed: num(values.seed, '--seed', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
    resume: values.resume === true,
    device: str(values.device, '--device'),
  };
  let init = initDir!;
  if (config !== undefined) {
    if (options.resume) throw invalidArgument('--resume', 'needs --init (a checkpoint saved with its optimizer state)');
    const initSeed = num(values['init-seed'], '--init-seed', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
    // The run directory is created by the trainer; the random start goes beside it first, then inside.
    const staging = `${out}.init-${process.pid}`;
    await native.initCheckpoint(config, staging, { seed: initSeed });
    init = staging;
  }
  const bar = new ProgressBar('train');
  /** The run into `dir`; the random start (with --config) ends up in `dir/init`. */
  const runInto = async (dir: string): Promise<native.TrainSummary> => {
    try {
      return await train(init, data, dir, {
        ...options,
        onProgress: (p) => bar.update(p.step, p.steps, `loss ${p.loss.toFixed(4)}, lr ${p.lr.toExponential(2)}`),
      }).finally(() => bar.done());
    } finally {
      if (config !== undefined && fs.existsSync(init)) {
        if (fs.existsSync(dir)) fs.renameSync(init, path.join(dir, 'init'));
        else fs.rmSync(init, { recursive: true, force: true });
      }
    }
  };
  // Without --overwrite the checkpoints appear in <dir> as they are saved; with it, in a temporary sibling that
  // replaces the old <dir> at the end, so a failed or killed run leaves the old one as it was.
  const summary = replace
    ? await writeDir(
        out,
        true,
        async (dir) => {
          const s = await runInto(dir);
          return { ...s, checkpoints: s.checkpoints.map((c) => ({ ...c, dir: path.join(out, path.relative(dir, c.dir)) })) };
        },
        [...(initDir !== undefined ? [initDir] : []), data],
      )
    : await runInto(out);
  if (values.json) {
    process.stdout.write(JSON.stringify({ out, ...summary }, null, 2) + '\n');
    return;
  }
  const l = summary.losses;
  process.stdout.write(
    `trained ${l.length} steps in ${summary.seconds.toFixed(1)} s: loss ${l[0].toFixed(4)} -> ${l[l.length - 1].toFixed(4)}\n` +
      summary.checkpoints.map((c) => `  step ${c.step}: ${c.dir}`).join('\n') +
      '\n',
  );
}
