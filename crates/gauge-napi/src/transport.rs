//! Transport of tools by a gauge (GAUGE.md §4): SAEs, steering-vector files and AdamW state. Off the event loop;
//! every output is written atomically and never over an existing path unless `overwrite`.

use std::path::Path;

use gauge_core::transport::{merge, optimizer, sae, steering};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::CodedError;
use crate::gauge::Gauge;
use crate::job::Job;

/// Options of `transportSae`.
#[napi(object)]
pub struct TransportSaeOptions {
    /// Transport an SAE whose `hook_name` is not known to be a residual-stream site.
    /// @default false
    pub allow_unknown_site: Option<bool>,
    /// Replace an existing output directory.
    /// @default false
    pub overwrite: Option<bool>,
}

/// The result of `transportSae`.
#[napi(object)]
pub struct TransportSaeResult {
    /// The SAE's input width (the model's d).
    pub d_in: u32,
    /// Its number of features, when `cfg.json` gives it.
    pub d_sae: Option<u32>,
    /// The hook it reads, when `cfg.json` names it.
    pub hook_name: Option<String>,
    /// Tensors moved (`W_enc`, `W_dec`, `b_dec`).
    pub moved: u32,
    /// Per-feature tensors copied unchanged.
    pub unchanged: u32,
    /// The written directory.
    pub out: String,
}

/// Writes the SAE directory `input` (SAELens `cfg.json` + `sae_weights.safetensors`, EleutherAI sparsify
/// `cfg.json` + `sae.safetensors`, or Gemma Scope `params.npz` / `params.safetensors`), made for checkpoint A, moved by
/// `gauge: A -> B` into the new directory `out` in the same layout: the encoder's and decoder's residual axes and
/// `b_dec` move signed, per-feature tensors stay. Refuses an SAE whose input width is not the gauge's d, whose hook
/// is on attention heads or MLP neurons (another chart), or that holds a tensor outside its layout.
#[napi(ts_return_type = "Promise<TransportSaeResult>")]
pub fn transport_sae(
    input: String,
    gauge: &Gauge,
    out: String,
    options: Option<TransportSaeOptions>,
) -> AsyncTask<Job<TransportSaeResult>> {
    let g = gauge.inner.clone();
    let opts = sae::SaeOptions {
        allow_unknown_site: options
            .as_ref()
            .and_then(|o| o.allow_unknown_site)
            .unwrap_or(false),
        overwrite: options.as_ref().and_then(|o| o.overwrite).unwrap_or(false),
    };
    AsyncTask::new(Job::new(move || {
        let r = sae::transport_sae(Path::new(&input), Path::new(&out), &g, opts)?;
        Ok(TransportSaeResult {
            d_in: r.d_in as u32,
            d_sae: r.d_sae.map(|v| v as u32),
            hook_name: r.hook_name,
            moved: r.moved as u32,
            unchanged: r.unchanged as u32,
            out: r.out.display().to_string(),
        })
    }))
}

/// Writes the safetensors file of steering vectors `input` moved by `gauge` to `out`: every tensor's last axis
/// must be the residual axis (length d) and moves signed, `v' = g·v`. Resolves to the number of tensors moved.
#[napi(ts_return_type = "Promise<number>")]
pub fn transport_steering_file(
    input: String,
    gauge: &Gauge,
    out: String,
    overwrite: Option<bool>,
) -> AsyncTask<Job<u32>> {
    let g = gauge.inner.clone();
    AsyncTask::new(Job::new(move || {
        let n = steering::transport_steering_file(
            Path::new(&input),
            Path::new(&out),
            &g,
            overwrite.unwrap_or(false),
        )?;
        Ok(n as u32)
    }))
}

/// The result of `transportControlVector`.
#[napi(object)]
pub struct ControlVectorResult {
    /// The layers `N` of the `direction.N` tensors moved, in file order (llama.cpp adds `direction.N` after block
    /// `N`, counting from 1: the residual site `h_N`).
    pub layers: Vec<u32>,
    /// The residual width.
    pub d: u32,
    /// `controlvector.model_hint`, if the file has one.
    pub model_hint: Option<String>,
}

/// Writes the llama.cpp control vector `input` (a GGUF with `general.architecture = "controlvector"` and F32
/// `direction.N` tensors of length d) moved by `gauge` to `out`: every direction `v' = g·v`, every metadata key and
/// tensor kept. Refuses other architectures, tensors that are not directions, and directions of another length.
#[napi(ts_return_type = "Promise<ControlVectorResult>")]
pub fn transport_control_vector(
    input: String,
    gauge: &Gauge,
    out: String,
    overwrite: Option<bool>,
) -> AsyncTask<Job<ControlVectorResult>> {
    let g = gauge.inner.clone();
    AsyncTask::new(Job::new(move || {
        let r = gauge_models::control_vector::transport(
            Path::new(&input),
            &g,
            Path::new(&out),
            overwrite.unwrap_or(false),
        )
        .map_err(CodedError::from)?;
        Ok(ControlVectorResult {
            layers: r.layers.iter().map(|&l| l as u32).collect(),
            d: r.d as u32,
            model_hint: r.model_hint,
        })
    }))
}

/// The result of `transportOptimizer`.
#[napi(object)]
pub struct TransportOptimizerResult {
    /// Parameters whose state was written.
    pub parameters: u32,
    /// State tensors moved (the rest belong to parameters outside the residual chart).
    pub moved: u32,
}

/// Writes the AdamW state `input` (GAUGE.md §4 layout) of a run of checkpoint `model` moved by `gauge` to `out`:
/// `exp_avg` moves like its parameter, `exp_avg_sq` like its parameter under `|g|`; `step` and hyper-parameters
/// are kept. Refuses state with missing or foreign entries, shapes that differ from the model's, or signs on a
/// LayerNorm model.
#[napi(ts_return_type = "Promise<TransportOptimizerResult>")]
pub fn transport_optimizer(
    input: String,
    gauge: &Gauge,
    model: String,
    out: String,
    overwrite: Option<bool>,
) -> AsyncTask<Job<TransportOptimizerResult>> {
    let g = gauge.inner.clone();
    AsyncTask::new(Job::new(move || {
        let r = optimizer::transport_optimizer(
            Path::new(&input),
            Path::new(&out),
            &g,
            Path::new(&model),
            overwrite.unwrap_or(false),
        )?;
        Ok(TransportOptimizerResult {
            parameters: r.parameters as u32,
            moved: r.moved as u32,
        })
    }))
}

/// Options of `mergeCheckpoints`.
#[napi(object)]
pub struct MergeOptions {
    /// `α`, the weight of B: the merge is `(1 - α) θ_A + α · g·θ_B`, or `θ_A + α (g·θ_B - θ_base)` with `base`.
    /// @default 0.5
    pub weight: Option<f64>,
    /// A base checkpoint in A's chart (the common ancestor) for task arithmetic.
    pub base: Option<String>,
}

/// The result of `mergeCheckpoints`.
#[napi(object)]
pub struct MergeResult {
    /// Tensors combined.
    pub tensors: u32,
    /// Of which B's were moved by the gauge.
    pub moved: u32,
}

/// Writes the merge of checkpoint `b` into the chart of `a` as the new directory `out`: B's tensors move by
/// `gauge: B -> A` (each by its role), then combine with A's coordinate-wise. Refuses checkpoints of different
/// architectures, tensor sets or shapes, and a gauge outside the architecture's group.
#[napi(ts_return_type = "Promise<MergeResult>")]
pub fn merge_checkpoints(
    a: String,
    b: String,
    gauge: &Gauge,
    out: String,
    options: Option<MergeOptions>,
) -> AsyncTask<Job<MergeResult>> {
    let g = gauge.inner.clone();
    let (weight, base) = match options {
        Some(o) => (o.weight, o.base),
        None => (None, None),
    };
    AsyncTask::new(Job::new(move || {
        let opts = merge::MergeOptions {
            weight: weight.unwrap_or(0.5) as f32,
            base: base.map(Into::into),
        };
        let r = merge::merge(Path::new(&a), Path::new(&b), &g, Path::new(&out), &opts)?;
        Ok(MergeResult {
            tensors: r.tensors as u32,
            moved: r.moved as u32,
        })
    }))
}

/// Where a hook site lives, by its name (TransformerLens / SAELens hook names, Hugging Face module paths).
#[napi(object)]
pub struct SiteChartInfo {
    /// `"residual"` (moves with the residual gauge), `"other"` (attention heads, MLP neurons) or `"unknown"`.
    pub chart: String,
    /// For `"other"`: which chart, and why the residual gauge does not act on it.
    pub reason: Option<String>,
}

/// The chart of the hook site `name`: residual-stream sites move with the residual gauge; attention-head and
/// MLP-neuron sites have per-layer gauges of their own.
#[napi]
pub fn site_chart(name: String) -> SiteChartInfo {
    match gauge_core::transport::site::site_chart(&name) {
        gauge_core::transport::site::SiteChart::Residual => SiteChartInfo {
            chart: "residual".into(),
            reason: None,
        },
        gauge_core::transport::site::SiteChart::Other(r) => SiteChartInfo {
            chart: "other".into(),
            reason: Some(r),
        },
        gauge_core::transport::site::SiteChart::Unknown => SiteChartInfo {
            chart: "unknown".into(),
            reason: None,
        },
    }
}
