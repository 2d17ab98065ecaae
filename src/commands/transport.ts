/** `gauge-transport transport steering|sae|neurons|optimizer <input> --gauge g.safetensors --out OUT`. */
import native = require('../native');
import { invalidArgument } from '../errors';
import { transportNeurons, transportOptimizer, transportSae, transportSteering } from '../transport';
import { SCORE_KINDS } from '../transport/neurons';
import { oneOf, parse, str } from './args';

export const usage = `gauge-transport transport <kind> <input> --gauge g.safetensors --out OUT [options]

Moves a tool made for checkpoint A to checkpoint B with the gauge g: A -> B (from \`gauge-transport align\` or
\`trajectory\`), by the rules of GAUGE.md §4. The output is written atomically; an existing OUT is kept unless
--overwrite.

  steering <file>    steering vectors: .safetensors (every tensor's last axis), .npy [d] or [k, d], .json
                     (a vector, a list of vectors, or an object of vectors), or a llama.cpp control vector
                     (.gguf; direction.N is applied after block N, counting from 1: site h_N): v' = g·v
  sae <dir>          an SAE: SAELens (cfg.json + sae_weights.safetensors), EleutherAI sparsify (cfg.json +
                     sae.safetensors) or Gemma Scope (params.npz or params.safetensors): the encoder's and decoder's residual
                     axes and b_dec move signed, per-feature tensors stay; SAEs on attention heads or MLP neurons
                     are refused
  neurons <file>     a neuron set or attribution list (.json: {score_kind, entries: [{index, score?, sign?}]},
                     [entries], or [indices]): i -> perm[i]; a "linear" score s -> sign[i]·s, an "invariant"
                     one (DLA, gradient x activation) unchanged; scores of no stated kind are refused
  optimizer <file>   AdamW state in the GAUGE.md §4 layout, with --model <A's checkpoint directory>:
                     exp_avg moves like its parameter, exp_avg_sq under |g|

  --gauge FILE           the gauge A -> B (required)
  --out PATH             where to write (required)
  --model DIR            the checkpoint the optimizer state belongs to (optimizer only)
  --allow-unknown-site   transport an SAE whose hook_name is not a known residual site (sae only)
  --score-kind K         linear or invariant: the kind of the scores, for a list that does not state it
                         (neurons only; a file's own score_kind must agree)
  --overwrite            replace OUT
  --json                 print the result as JSON`;

const KINDS = ['steering', 'sae', 'neurons', 'optimizer'] as const;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      gauge: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      'allow-unknown-site': { type: 'boolean' },
      'score-kind': { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'transport',
  );
  const [kind, input, ...rest] = positionals;
  if (!KINDS.includes(kind as (typeof KINDS)[number])) {
    throw invalidArgument('transport', `name what to move: one of ${KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  }
  if (!input) throw invalidArgument(`transport ${kind}`, 'name the input file or directory');
  if (rest.length) throw invalidArgument(`transport ${kind}`, `unexpected argument ${JSON.stringify(rest[0])}`);
  const gaugeFile = str(values.gauge, '--gauge');
  if (!gaugeFile) throw invalidArgument('--gauge', 'is required (the gauge A -> B)');
  const out = str(values.out, '--out');
  if (!out) throw invalidArgument('--out', 'is required');
  const gauge = native.Gauge.read(gaugeFile);
  const overwrite = values.overwrite === true;
  let result: Record<string, unknown>;
  switch (kind) {
    case 'steering':
      result = { vectors: await transportSteering(input, gauge, out, { overwrite }) };
      break;
    case 'neurons':
      result = {
        entries: await transportNeurons(input, gauge, out, {
          overwrite,
          scoreKind: values['score-kind'] === undefined ? undefined : oneOf(values['score-kind'], '--score-kind', SCORE_KINDS, 'linear'),
        }),
      };
      break;
    case 'sae':
      result = { ...(await transportSae(input, gauge, out, { overwrite, allowUnknownSite: values['allow-unknown-site'] === true })) };
      break;
    default: {
      const model = str(values.model, '--model');
      if (!model) throw invalidArgument('--model', "is required for optimizer state (the parameters' checkpoint)");
      result = { ...(await transportOptimizer(input, gauge, out, { model, overwrite })) };
    }
  }
  if (values.json) process.stdout.write(JSON.stringify({ kind, input, out, group: gauge.group(), ...result }, null, 2) + '\n');
  else {
    const facts = Object.entries(result)
      .filter(([k]) => k !== 'out')
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    process.stdout.write(`wrote ${out}: ${kind} moved by a ${gauge.group()} gauge of d = ${gauge.d} (${facts})\n`);
  }
}
