//! A training run: `steps` AdamW updates from a checkpoint on a token stream, saving a checkpoint with its
//! optimizer state every `save_every` steps under `out/step-NNNNNN`, and the loss log in `out/train_log.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;

use super::batches::Batches;
use super::{AdamWConfig, Trainer};
use crate::error::{Error, Result};

/// Learning-rate schedule after the linear warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The peak rate throughout.
    Constant,
    /// Cosine decay from the peak to 10% of it at the last step.
    Cosine,
}

/// Options of [`run`].
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Updates to make.
    pub steps: u64,
    /// Sequences per step.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// AdamW hyper-parameters; `lr` is the peak rate.
    pub adamw: AdamWConfig,
    /// Steps of linear warm-up from 0 to the peak rate.
    pub warmup: u64,
    /// Shape of the rate after warm-up.
    pub schedule: Schedule,
    /// Global gradient-norm clip.
    pub clip: Option<f64>,
    /// Save every this many steps (and at the last step); 0 saves only the last.
    pub save_every: u64,
    /// Seed of the batch order.
    pub seed: u64,
    /// Continue from the optimizer state saved with the initial checkpoint.
    pub resume: bool,
}

impl RunOptions {
    /// The learning rate at step `t` (1-based).
    pub fn lr_at(&self, t: u64) -> f64 {
        let peak = self.adamw.lr;
        if t <= self.warmup {
            return peak * t as f64 / self.warmup as f64;
        }
        match self.schedule {
            Schedule::Constant => peak,
            Schedule::Cosine => {
                let span = (self.steps - self.warmup).max(1) as f64;
                let x = (t - self.warmup) as f64 / span;
                peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * x).cos()))
            }
        }
    }
}

/// Progress after each step.
#[derive(Clone, Debug)]
pub struct RunProgress {
    /// Steps done in this run.
    pub step: u64,
    /// Steps in all.
    pub steps: u64,
    /// Loss of this step's batch, before the update.
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate of this step.
    pub lr: f64,
    /// Seconds since the run began.
    pub seconds: f64,
    /// The checkpoint written after this step, if any.
    pub saved: Option<PathBuf>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Loss per step (before each update).
    pub losses: Vec<f64>,
    /// `(step, directory)` of every saved checkpoint.
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// Wall time of the run.
    pub seconds: f64,
}

/// The directory name of the checkpoint after `step` updates.
pub fn step_dir(step: u64) -> String {
    format!("step-{step:06}")
}

/// Trains `init` (a Hugging Face directory) on `ids` into the new directory `out`. `progress` is called after every
/// step; returning `false` stops the run with an `ABORTED` error (checkpoints already saved stay).
pub fn run(
    init: &Path,
    ids: &[u32],
    out: &Path,
    opts: &RunOptions,
    device: &Device,
    progress: impl FnMut(&RunProgress) -> bool,
) -> Result<RunSummary> {
    run_cancellable(init, ids, out, opts, device, progress, None)
}

/// [`run`] that also stops with `ABORTED` once `cancel` is raised, polled inside every step as well
/// ([`Trainer::step_cancellable`]), so an abort waits for at most one phase of a step (its forward, backward or
/// update), not the whole step.
pub fn run_cancellable(
    init: &Path,
    ids: &[u32],
    out: &Path,
    opts: &RunOptions,
    device: &Device,
    mut progress: impl FnMut(&RunProgress) -> bool,
    cancel: gauge_core::assignment::Cancel<'_>,
) -> Result<RunSummary> {
    if opts.steps == 0 {
        return Err(Error::input("steps", "is 0"));
    }
    if out.exists() {
        return Err(gauge_core::Error::OutputExists { path: out.into() }.into());
    }
    let mut batches = Batches::new(ids, opts.seq, opts.batch, opts.seed)?;
    let mut trainer = Trainer::open(init, device, opts.adamw, opts.resume)?;
    let start_step = trainer.optimizer.step;
    std::fs::create_dir_all(out).map_err(|e| gauge_core::Error::io(out, e))?;
    let t0 = Instant::now();
    let mut losses = Vec::with_capacity(opts.steps as usize);
    let mut checkpoints = Vec::new();
    for t in 1..=opts.steps {
        let lr = opts.lr_at(t);
        let report = trainer.step_cancellable(&batches.next_batch(), lr, opts.clip, cancel)?;
        losses.push(report.loss);
        let last = t == opts.steps;
        let saved = if last || (opts.save_every > 0 && t % opts.save_every == 0) {
            let dir = out.join(step_dir(start_step + t));
            let state = serde_json::json!({
                "step": start_step + t,
                "init": init.display().to_string(),
                "seed": opts.seed,
                "lr": lr,
                "loss": report.loss,
            });
            trainer.save(&dir, &state)?;
            checkpoints.push((start_step + t, dir.clone()));
            write_log(out, init, opts, &losses, &checkpoints, start_step)?;
            Some(dir)
        } else {
            None
        };
        let p = RunProgress {
            step: t,
            steps: opts.steps,
            loss: report.loss,
            grad_norm: report.grad_norm,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
            saved,
        };
        if !progress(&p) {
            return Err(gauge_core::Error::Aborted {
                what: "training".into(),
            }
            .into());
        }
    }
    Ok(RunSummary {
        losses,
        checkpoints,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// `out/train_log.json`: the options, the loss of every step so far and the saved checkpoints (atomically replaced).
fn write_log(
    out: &Path,
    init: &Path,
    opts: &RunOptions,
    losses: &[f64],
    checkpoints: &[(u64, PathBuf)],
    start_step: u64,
) -> Result<()> {
    let log = serde_json::json!({
        "init": init.display().to_string(),
        "start_step": start_step,
        "steps": opts.steps,
        "batch": opts.batch,
        "seq": opts.seq,
        "lr": opts.adamw.lr,
        "betas": [opts.adamw.beta1, opts.adamw.beta2],
        "eps": opts.adamw.eps,
        "weight_decay": opts.adamw.weight_decay,
        "warmup": opts.warmup,
        "schedule": format!("{:?}", opts.schedule).to_lowercase(),
        "clip": opts.clip,
        "seed": opts.seed,
        "losses": losses,
        "checkpoints": checkpoints
            .iter()
            .map(|(s, d)| serde_json::json!({"step": s, "dir": d.file_name().map(|n| n.to_string_lossy().into_owned())}))
            .collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&log).expect("JSON");
    Ok(gauge_core::atomic::write_file(
        &out.join("train_log.json"),
        &bytes,
        true,
    )?)
}
