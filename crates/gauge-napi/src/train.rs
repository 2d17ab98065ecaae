//! `train`: AdamW training of a Hugging Face checkpoint on token ids, off the event loop, saving checkpoints with
//! their optimizer state (GAUGE.md §4) every `saveEvery` steps.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use gauge_models::candle_core::Device;
use gauge_models::train::run::{run_cancellable, RunOptions, RunProgress, Schedule};
use gauge_models::train::AdamWConfig;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::CodedError;
use crate::job::{abort_flag, Job, Progress};

/// Options of `train`.
#[napi(object)]
pub struct TrainOptions {
    /// Updates to make.
    pub steps: u32,
    /// Sequences per step.
    /// @default 8
    pub batch: Option<u32>,
    /// Tokens per sequence.
    /// @default 128
    pub seq: Option<u32>,
    /// Peak learning rate.
    /// @default 1e-3
    pub lr: Option<f64>,
    /// AdamW β₁.
    /// @default 0.9
    pub beta1: Option<f64>,
    /// AdamW β₂.
    /// @default 0.95
    pub beta2: Option<f64>,
    /// AdamW ε.
    /// @default 1e-8
    pub eps: Option<f64>,
    /// Decoupled weight decay.
    /// @default 0.1
    pub weight_decay: Option<f64>,
    /// Linear warm-up steps.
    /// @default 0
    pub warmup: Option<u32>,
    /// `constant` or `cosine` (to 10% of the peak).
    /// @default 'constant'
    pub schedule: Option<String>,
    /// Global gradient-norm clip; 0 turns it off.
    /// @default 1
    pub clip: Option<f64>,
    /// Save a checkpoint every this many steps (and after the last); 0 saves only the last.
    /// @default 0
    pub save_every: Option<u32>,
    /// Seed of the batch order.
    /// @default 0
    pub seed: Option<f64>,
    /// Continue from `init/optimizer.safetensors` (the state saved with a checkpoint).
    /// @default false
    pub resume: Option<bool>,
    /// `cpu`, `cuda`, `cuda:N`, `metal` or `metal:N` (an accelerator needs a build with its feature); runs are
    /// deterministic for a seed on the CPU.
    /// @default 'cpu'
    pub device: Option<String>,
}

/// Progress of `train`, after every step.
#[napi(object)]
#[derive(Clone)]
pub struct TrainProgress {
    /// Steps done.
    pub step: u32,
    /// Steps in all.
    pub steps: u32,
    /// Loss of this step's batch before its update (nats per token).
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate of this step.
    pub lr: f64,
    /// Seconds since the run began.
    pub seconds: f64,
    /// The checkpoint directory written after this step, if any.
    pub saved: Option<String>,
}

/// What a run did.
#[napi(object)]
pub struct TrainSummary {
    /// Loss of every step, before its update.
    pub losses: Vec<f64>,
    /// Saved checkpoints: `{step, dir}`.
    pub checkpoints: Vec<SavedCheckpoint>,
    /// Wall time.
    pub seconds: f64,
}

/// A checkpoint saved by `train`.
#[napi(object)]
pub struct SavedCheckpoint {
    /// Optimizer step count at the save (counting a resumed run's earlier steps).
    pub step: u32,
    /// Its directory.
    pub dir: String,
}

fn options(o: &TrainOptions) -> std::result::Result<RunOptions, CodedError> {
    let schedule = match o.schedule.as_deref().unwrap_or("constant") {
        "constant" => Schedule::Constant,
        "cosine" => Schedule::Cosine,
        other => {
            return Err(CodedError::invalid(
                "schedule",
                format!("{other:?} is not one of constant, cosine"),
            ))
        }
    };
    let seed = o.seed.unwrap_or(0.0);
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
        return Err(CodedError::invalid(
            "seed",
            format!("{seed} is not a whole number >= 0"),
        ));
    }
    let clip = o.clip.unwrap_or(1.0);
    if !(clip >= 0.0 && clip.is_finite()) {
        return Err(CodedError::invalid(
            "clip",
            format!("{clip} is not a finite number >= 0"),
        ));
    }
    Ok(RunOptions {
        steps: o.steps as u64,
        batch: o.batch.unwrap_or(8) as usize,
        seq: o.seq.unwrap_or(128) as usize,
        adamw: AdamWConfig {
            lr: o.lr.unwrap_or(1e-3),
            beta1: o.beta1.unwrap_or(0.9),
            beta2: o.beta2.unwrap_or(0.95),
            eps: o.eps.unwrap_or(1e-8),
            weight_decay: o.weight_decay.unwrap_or(0.1),
        },
        warmup: o.warmup.unwrap_or(0) as u64,
        schedule,
        clip: (clip > 0.0).then_some(clip),
        save_every: o.save_every.unwrap_or(0) as u64,
        seed: seed as u64,
        resume: o.resume.unwrap_or(false),
    })
}

/// Trains the Hugging Face checkpoint `init` on `ids` (a token stream; each step draws `batch` windows of `seq`
/// tokens at seeded offsets) into the new directory `out`: `out/step-NNNNNN/` every `saveEvery` steps and after the
/// last (config, F32 weights, `optimizer.safetensors`, `trainer_state.json`) and `out/train_log.json`. Deterministic
/// for a seed on the CPU. `onProgress` is called after every step (one that throws stops the run, which rejects
/// with `CALLBACK_THREW` and its message); `signal` stops the run between steps (`ABORTED`; checkpoints already
/// saved stay).
#[napi(
    ts_args_type = "init: string, ids: Uint32Array, out: string, options: TrainOptions, onProgress?: ((progress: TrainProgress) => void) | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<TrainSummary>"
)]
pub fn train(
    env: Env,
    init: String,
    ids: Uint32Array,
    out: String,
    options: TrainOptions,
    on_progress: Option<Function<TrainProgress, ()>>,
    signal: Option<Object>,
) -> Result<AsyncTask<Job<TrainSummary>>> {
    let flag = abort_flag(&env, signal)?;
    let progress = Progress::new(on_progress, "onProgress")?;
    let ids = ids.to_vec();
    let job = Job::abortable(flag.clone(), "train", move || {
        let result = run_job(&init, &ids, &out, &options, &progress, &flag);
        progress.finish(result)
    });
    Ok(AsyncTask::new(job))
}

/// The body of [`train`], on the job's thread.
fn run_job(
    init: &str,
    ids: &[u32],
    out: &str,
    options: &TrainOptions,
    progress: &Progress<TrainProgress>,
    flag: &AtomicBool,
) -> std::result::Result<TrainSummary, CodedError> {
    let opts = self::options(options)?;
    let device = match &options.device {
        Some(name) => gauge_models::device::device(name, "device")?,
        None => Device::Cpu,
    };
    let summary = run_cancellable(
        &PathBuf::from(init),
        ids,
        &PathBuf::from(out),
        &opts,
        &device,
        |p: &RunProgress| {
            progress.report(TrainProgress {
                step: p.step as u32,
                steps: p.steps as u32,
                loss: p.loss,
                grad_norm: p.grad_norm,
                lr: p.lr,
                seconds: p.seconds,
                saved: p.saved.as_ref().map(|d| d.display().to_string()),
            });
            !flag.load(Ordering::Relaxed) && !progress.failed()
        },
        Some(flag),
    )?;
    Ok(TrainSummary {
        losses: summary.losses,
        checkpoints: summary
            .checkpoints
            .into_iter()
            .map(|(step, dir)| SavedCheckpoint {
                step: step as u32,
                dir: dir.display().to_string(),
            })
            .collect(),
        seconds: summary.seconds,
    })
}
