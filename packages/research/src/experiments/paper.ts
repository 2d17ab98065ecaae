/**
 * Experiment `paper`: the paper's headline numbers (GAUGE.md §7) beside ours. It runs nothing: it reads the
 * recorded results of the experiments that measure each claim (`benches/results/<name>.json`, written by `npm run
 * experiment -- <name>`) and sets the evidence (checkpoints that really differ: SmolLM2 and Gemma 3 fine-tuned, or
 * the tiny model's fine-tuned runs) beside the controls (SmolLM2 against its exact re-charted copy, where an exact estimate
 * makes every tool exact by construction). A claim whose experiment has not been run says so.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultResultsDir } from '../../../../dist/results';
import type { Table } from '../../../../dist/table';

export interface PaperRow {
  claim: string;
  paper: string;
  /** On checkpoints that really differ. */
  evidence: string;
  /** Controls and the tiny model. */
  other: string;
  /** Where and why ours differs from the paper. */
  differs: string;
  /** The experiments the numbers come from. */
  sources: string[];
}

export interface PaperResult {
  name: 'paper';
  rows: PaperRow[];
}

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const FT = 'SmolLM2-135M fine-tuned 300 steps';
const GEMMA_FT = 'Gemma 3 270M fine-tuned 300 steps';
const CONTROL = 'SmolLM2-135M exact copy (control)';

/**
 * Where the SmolLM2 trajectory differs from the paper's, in the recorded numbers: the last saved step at each
 * learning rate the run has, from the moderate to the high one.
 */
function trajectoryDiffers(traj: Json): string {
  const head = 'SmolLM2 runs are 300 steps on a 2-core CPU, not 1,500.';
  const lrs = [...new Set<number>((traj?.rows ?? []).map((r: Json) => r.lr as number))].sort((a, b) => a - b).slice(1);
  const at = (lr: number) => traj.rows.filter((r: Json) => r.lr === lr).reduce((a: Json, b: Json) => (b.step > a.step ? b : a));
  const parts = lrs.map((lr) => {
    const r = at(lr);
    const best = r.composed >= r.endpoint && r.composed >= r.viaBase ? 'composing does best' : r.viaBase > r.composed ? 'the two hops through the base do best' : 'the direct endpoint match does best';
    return `At lr ${lr}, step ${r.step}: endpoint ${pct(r.endpoint)}, composed ${pct(r.composed)}, via base ${pct(r.viaBase)}; ${best}.`;
  });
  return [head, ...parts, "The tiny model (d = 64) shows the paper's gap at high learning rates."].join(' ');
}

/**
 * The evidence cell: each fine-tuned pair's figure (`f(label)`), named; `missing(name)` when none was measured.
 * `what` names the SmolLM2 one (`SmolLM2 fine-tuned`, or a longer description).
 */
function fineTuned(f: (pair: string) => string | undefined, name: string, what = 'SmolLM2 fine-tuned'): string {
  const parts = [f(FT) && `${what}: ${f(FT)}`, f(GEMMA_FT) && `${what.replace('SmolLM2', 'Gemma 3 270M')}: ${f(GEMMA_FT)}`].filter(Boolean);
  return parts.length ? parts.join('; ') : missing(name);
}

function load(dir: string, name: string): Json | undefined {
  const f = path.join(dir, `${name}.json`);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : undefined;
}

const missing = (name: string) => `not run (\`npm run experiment -- ${name}\`)`;

export function runPaper(dir = defaultResultsDir()): PaperResult {
  const rows: PaperRow[] = [];
  const ceiling = load(dir, 'ceiling');
  {
    const half = ceiling?.rows?.find((r: Json) => Math.abs(r.positiveFraction - 0.5) < 1e-9);
    rows.push({
      claim: 'raw signed matching',
      paper: 'capped at the positive-sign fraction; marginalization removes the cap',
      evidence: half ? `at p = 0.5: signed ${pct(half.methods.signed.permAccuracy)}, marginalized ${pct(half.methods.marginalized.permAccuracy)}` : missing('ceiling'),
      other: '',
      differs: 'synthetic coordinates (d = 512), as in the paper',
      sources: ['ceiling'],
    });
  }
  const traj = load(dir, 'trajectory-smollm2');
  const tiny = load(dir, 'trajectory');
  {
    const last = (r: Json) => r?.rows?.reduce((a: Json, b: Json) => (b.step > a.step || (b.step === a.step && b.lr > a.lr) ? b : a), r.rows[0]);
    const s = last(traj);
    const t = last(tiny);
    rows.push({
      claim: 'cross-run recovery, composed vs endpoint',
      paper: '91.1% vs 60.3% at 1,500 steps',
      evidence: s ? `SmolLM2, ${s.step} steps at lr ${s.lr}: composed ${pct(s.composed)}, endpoint ${pct(s.endpoint)}, via base ${pct(s.viaBase)}` : missing('trajectory-smollm2'),
      other: t ? `tiny, ${t.step} steps at lr ${t.lr}: composed ${pct(t.composed)}, endpoint ${pct(t.endpoint)}, via base ${pct(t.viaBase)}` : missing('trajectory'),
      differs: trajectoryDiffers(traj),
      sources: ['trajectory-smollm2', 'trajectory'],
    });
  }
  const sae = load(dir, 'sae');
  {
    const nmse = (pair: string, t: string) => sae?.rows?.find((r: Json) => r.pair === pair && r.transport === t)?.nmse;
    const f = (pair: string) => {
      const [src, bd, sd] = [nmse(pair, 'source'), nmse(pair, 'Bd'), nmse(pair, 'Sd')];
      return bd === undefined ? undefined : `${bd.toFixed(4)} (Bd) vs ${sd.toFixed(3)} (Sd); ${src.toFixed(4)} in A`;
    };
    rows.push({
      claim: 'SAE reconstruction NMSE in B',
      paper: 'TinyLlama: 0.004 (Bd) vs 1.08 (Sd)',
      evidence: fineTuned(f, 'sae'),
      other: [f(CONTROL) && `control: ${f(CONTROL)}`, f('tiny-base') && `tiny: ${f('tiny-base')}`].filter(Boolean).join('; '),
      differs: '135M and 270M models and smaller, shorter-trained SAEs (4·d features, 2,000 steps) than the paper\'s TinyLlama SAEs; Gemma\'s fine-tuning drifts further (Bd equals the true gauge on both)',
      sources: ['sae'],
    });
  }
  const steering = load(dir, 'steering');
  {
    const pres = (pair: string, beh: string, vector: string, t: string) =>
      steering?.rows?.find((r: Json) => r.pair === pair && r.behaviour === beh && r.vector === vector && r.transport === t)?.preservation;
    const f = (pair: string, beh: string, vector = 'behaviour') => {
      const [bd, sd] = [pres(pair, beh, vector, 'Bd'), pres(pair, beh, vector, 'Sd')];
      return bd === undefined ? undefined : `${pct(bd)} (Bd) vs ${pct(sd)} (Sd)`;
    };
    rows.push({
      claim: 'sentiment steering effect preserved',
      paper: 'Qwen: 95.8% (Bd) vs 17.2% (Sd)',
      evidence: fineTuned((p) => f(p, 'sentiment'), 'steering'),
      other: [f(CONTROL, 'sentiment') && `control: ${f(CONTROL, 'sentiment')}`, f('tiny-base', 'code vs prose') && `tiny (code vs prose): ${f('tiny-base', 'code vs prose')}`].filter(Boolean).join('; '),
      differs: 'SmolLM2-135M and Gemma 3 270M instead of Qwen; B is fine-tuned on code, which weakens the sentiment response itself (the true gauge keeps the same share as Bd, on both)',
      sources: ['steering'],
    });
    rows.push({
      claim: 'refusal steering under Sd',
      paper: 'reverses sign',
      evidence: fineTuned((p) => f(p, 'refusal') && `${f(p, 'refusal')}; restricted to the flipped coordinates ${f(p, 'refusal', 'flipped part')}`, 'steering'),
      other: f(CONTROL, 'refusal') ? `control: ${f(CONTROL, 'refusal')}; flipped coordinates ${f(CONTROL, 'refusal', 'flipped part')}` : '',
      differs: 'a 135M model barely refuses (small effect, logit units); the whole vector under Sd loses its effect rather than reversing, because the hidden gauge flips half the coordinates and the two halves nearly cancel; only the flipped part reverses. In the fine-tuned Gemma 3 270M the effect is gone from B even under the true gauge (-0.3%), too weak to read',
      sources: ['steering'],
    });
  }
  const adamw = load(dir, 'adamw');
  {
    const gap = (pair: string, t: string) => adamw?.rows?.find((r: Json) => r.pair === pair && r.transport === t);
    const f = (pair: string) => {
      const [bd, sd] = [gap(pair, 'Bd'), gap(pair, 'Sd')];
      return bd ? `largest loss gap to the original run over ${bd.steps} resumed steps: ${bd.maxGap.toExponential(1)} (Bd) vs ${sd.maxGap.toFixed(3)} (Sd)` : undefined;
    };
    rows.push({
      claim: 'AdamW state',
      paper: 'signed transport preserves the resumed trajectory; permutation-only follows a different one',
      evidence: fineTuned(f, 'adamw', 'SmolLM2 at step 300 of its fine-tuning run'),
      other: f('tiny-base') ? `tiny: ${f('tiny-base')}` : '',
      differs: 'the target is the run\'s own checkpoint re-charted (the state belongs to those weights); 20 resumed steps on SmolLM2 (CPU time)',
      sources: ['adamw'],
    });
  }
  const audit = load(dir, 'audit');
  {
    const f = (pair: string) => {
      const a = audit?.audits?.find((x: Json) => x.pair === pair);
      const r0 = a?.report?.results?.find((r: Json) => r.chart === 'model' && r.kind === 'coordinates');
      return r0 ? `top coordinates with signs: ${r0.verdict}; as stated in ${pct(r0.sweep.Bd.asStated)} of random Bd charts, ${pct(r0.sweep.Bd.transported)} once moved` : undefined;
    };
    rows.push({
      claim: 'index-level claims',
      paper: 'reproducible only relative to an explicit gauge',
      evidence: fineTuned(f, 'audit'),
      other: '',
      differs: '',
      sources: ['audit'],
    });
  }
  return { name: 'paper', rows };
}

export function paperTable(r: PaperResult): Table {
  return {
    header: ['claim', 'paper', 'ours: checkpoints that really differ', 'ours: controls and the tiny model', 'where and why ours differs'],
    rows: r.rows.map((x) => [x.claim, x.paper, x.evidence, x.other, x.differs]),
  };
}
