//! Sparse autoencoders on residual activations (SAELens layout): fitting one, and measuring its reconstruction
//! (the SAE-transfer metric of GAUGE.md §6). Off the event loop.

use std::path::Path;

use gauge_core::owned;
use gauge_models::candle_core::Device;
use gauge_models::sae::{self, Sae, SaeTrainOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::CodedError;
use crate::job::Job;

/// Options of `trainSae`.
#[napi(object)]
pub struct TrainSaeOptions {
    /// Number of features.
    /// @default 4 · d
    pub d_sae: Option<u32>,
    /// Weight of the L1 penalty on features (times their decoder norms), on inputs scaled to mean squared norm d.
    /// @default 1e-3
    pub l1: Option<f64>,
    /// Adam learning rate.
    /// @default 1e-3
    pub lr: Option<f64>,
    /// Updates.
    /// @default 2000
    pub steps: Option<u32>,
    /// Rows per update.
    /// @default 512
    pub batch: Option<u32>,
    /// Seed of the initialisation and the minibatches.
    /// @default 0
    pub seed: Option<u32>,
    /// The `hook_name` written to `cfg.json` (a residual site, e.g. `blocks.1.hook_resid_post`).
    /// @default 'hook_resid_post'
    pub hook_name: Option<String>,
    /// Replace an existing output directory.
    /// @default false
    pub overwrite: Option<bool>,
}

/// The result of `trainSae`.
#[napi(object)]
pub struct TrainSaeResult {
    /// Input width.
    pub d_in: u32,
    /// Features.
    pub d_sae: u32,
    /// Training loss of every update.
    pub losses: Vec<f64>,
    /// Reconstruction on the training activations.
    pub metrics: SaeMetrics,
    /// Wall time of the fit.
    pub seconds: f64,
}

/// Reconstruction quality of an SAE on activations.
#[napi(object)]
pub struct SaeMetrics {
    /// `Σ‖x - x̂‖² / Σ‖x - mean(x)‖²` (GAUGE.md §6).
    pub nmse: f64,
    /// Mean number of active features per row.
    pub l0: f64,
    /// Fraction of features never active.
    pub dead: f64,
    /// Rows evaluated.
    pub tokens: u32,
}

impl From<sae::SaeMetrics> for SaeMetrics {
    fn from(m: sae::SaeMetrics) -> Self {
        Self {
            nmse: m.nmse,
            l0: m.l0,
            dead: m.dead,
            tokens: m.tokens as u32,
        }
    }
}

/// Fits a `standard` SAE to `activations` (row-major `[n, d]`) and writes it as the SAELens directory `out`.
#[napi(ts_return_type = "Promise<TrainSaeResult>")]
pub fn train_sae(
    activations: Float32Array,
    d: u32,
    out: String,
    options: Option<TrainSaeOptions>,
) -> AsyncTask<Job<TrainSaeResult>> {
    let x = owned::copy(&activations);
    let o = options.unwrap_or(TrainSaeOptions {
        d_sae: None,
        l1: None,
        lr: None,
        steps: None,
        batch: None,
        seed: None,
        hook_name: None,
        overwrite: None,
    });
    AsyncTask::new(Job::new(move || {
        let d = d as usize;
        let defaults = SaeTrainOptions::default();
        let opts = SaeTrainOptions {
            d_sae: o.d_sae.map_or(4 * d, |v| v as usize),
            l1: o.l1.unwrap_or(defaults.l1),
            lr: o.lr.unwrap_or(defaults.lr),
            steps: o.steps.map_or(defaults.steps, |v| v as usize),
            batch: o.batch.map_or(defaults.batch, |v| v as usize),
            seed: o.seed.map_or(0, u64::from),
        };
        for (name, v) in [("l1", opts.l1), ("lr", opts.lr)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CodedError::invalid(
                    name,
                    format!("{v} is not a finite number >= 0"),
                ));
            }
        }
        let (model, report) = sae::train(&x, d, &opts, &Device::Cpu)?;
        let extra = serde_json::Map::from_iter([
            ("l1_coefficient".to_string(), serde_json::json!(opts.l1)),
            ("training_steps".to_string(), serde_json::json!(opts.steps)),
            ("seed".to_string(), serde_json::json!(opts.seed)),
        ]);
        let hook = o.hook_name.unwrap_or_else(|| "hook_resid_post".into());
        model.save(Path::new(&out), &hook, &extra, o.overwrite.unwrap_or(false))?;
        let metrics = model.evaluate(&x, &Device::Cpu)?;
        Ok(TrainSaeResult {
            d_in: d as u32,
            d_sae: opts.d_sae as u32,
            losses: report.losses,
            metrics: metrics.into(),
            seconds: report.seconds,
        })
    }))
}

/// The reconstruction metrics of the SAELens SAE `dir` on `activations` (row-major `[n, d_in]`).
#[napi(ts_return_type = "Promise<SaeMetrics>")]
pub fn evaluate_sae(dir: String, activations: Float32Array) -> AsyncTask<Job<SaeMetrics>> {
    let x = owned::copy(&activations);
    AsyncTask::new(Job::new(move || {
        let model = Sae::load(Path::new(&dir), &Device::Cpu)?;
        Ok(model.evaluate(&x, &Device::Cpu)?.into())
    }))
}
