/**
 * Experiment `trajectory-smollm2` (GAUGE.md §5 on a real model; the paper: 91.1% composed vs 60.3% endpoint at
 * 1,500 steps). Two fine-tuning runs of SmolLM2-135M-Instruct on different corpora (`declarations`, `javascript`;
 * `finetune.ts`, resumable and cached), a checkpoint every 25 steps. The base and every saved checkpoint are exported
 * in their own hidden random Bd chart, and the gauge `A_T -> B_T` is estimated by matching the endpoints, by two long
 * hops through the base, and by composing every local edge (`trajectory.ts`), each scored against the truth.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machine } from '../../../../dist/results';
import { fineTuneRun, FINETUNE, FINETUNE_ROOT } from './finetune';
import { recoverAlong, type TrajectoryRow } from './trajectory';

export interface TrajectorySmollm2Options {
  steps: number;
  /** Learning rates: one pair of runs per rate. */
  lrs: number[];
  report: number[];
  tokens: number;
  seed: number;
}

/** The losses of one fine-tuning run, summarized. */
export interface RunLosses {
  first: number;
  last: number;
  peak?: number;
  peakStep?: number;
}

export interface TrajectorySmollm2Result {
  name: 'trajectory-smollm2';
  params: TrajectorySmollm2Options & { recipe: typeof FINETUNE };
  /** Mean loss of the first and last segment of each run. */
  /**
   * Per run (`a`: declarations, `b`: JavaScript), the mean loss of the first and last `segment` steps and the largest
   * single-step loss with its step (from 1; absent in results recorded before it was kept).
   */
  losses: { lr: number; a: RunLosses; b: RunLosses }[];
  rows: TrajectoryRow[];
  /** Seconds of this run's own training and alignment (learning rates carried over cost nothing). */
  seconds: { training: number; alignment: number };
  /**
   * Learning rates whose losses and rows were carried over from the previous result of the same command with the
   * same settings (steps, report points, tokens, seed, recipe), not measured again.
   */
  carried?: number[];
  machine: Record<string, string | number>;
}

/** The settings that decide a learning rate's rows, apart from the rate. */
const settings = (o: TrajectorySmollm2Options, recipe: typeof FINETUNE) => JSON.stringify([o.steps, o.report, o.tokens, o.seed, recipe]);

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

/**
 * Runs the experiment. A learning rate that `previous` (the last result, if any) already covers with the same
 * settings is carried over rather than trained and aligned again, so that adding a rate costs only that rate.
 */
export async function runTrajectorySmollm2(
  o: TrajectorySmollm2Options,
  log: (s: string) => void = () => {},
  previous?: TrajectorySmollm2Result,
): Promise<TrajectorySmollm2Result> {
  for (const t of o.report) {
    if (t % FINETUNE.segment !== 0 || t > o.steps) throw new Error(`--report ${t}: must be a multiple of ${FINETUNE.segment}, at most --steps ${o.steps}`);
  }
  const rows: TrajectoryRow[] = [];
  const losses: TrajectorySmollm2Result['losses'] = [];
  let training = 0;
  let alignment = 0;
  const carried: number[] = [];
  const reusable = previous && settings(previous.params, previous.params.recipe) === settings(o, FINETUNE) ? previous : undefined;
  for (const lr of o.lrs) {
    const kept = reusable?.losses.find((l) => l.lr === lr);
    if (reusable && kept) {
      log(`lr ${lr}: carried over from the previous result (same settings)`);
      losses.push(kept);
      rows.push(...reusable.rows.filter((r) => r.lr === lr));
      carried.push(lr);
      continue;
    }
    const a = await fineTuneRun('declarations', o.steps, { lr, log });
    const b = await fineTuneRun('javascript', o.steps, { lr, log });
    training += a.seconds + b.seconds;
    const seg = FINETUNE.segment;
    const ends = (l: number[]): RunLosses => {
      const peak = Math.max(...l);
      return { first: mean(l.slice(0, seg)), last: mean(l.slice(-seg)), peak, peakStep: l.indexOf(peak) + 1 };
    };
    losses.push({ lr, a: ends(a.losses), b: ends(b.losses) });
    const work = path.join(FINETUNE_ROOT, `trajectory-lr${lr}-seed${o.seed}`);
    fs.mkdirSync(work, { recursive: true });
    const t0 = performance.now();
    log(`lr ${lr}: exporting ${a.checkpoints.length + b.checkpoints.length - 1} checkpoints in hidden charts and aligning`);
    rows.push(...(await recoverAlong(work, a.base, { a: a.checkpoints, b: b.checkpoints }, { tokens: o.tokens, seq: 128, seed: o.seed, report: o.report, lr })));
    alignment += (performance.now() - t0) / 1000;
    // The exports are 25 copies of the model; the runs themselves stay cached.
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { name: 'trajectory-smollm2', params: { ...o, recipe: FINETUNE }, losses, rows, seconds: { training, alignment }, carried, machine: machine() };
}
