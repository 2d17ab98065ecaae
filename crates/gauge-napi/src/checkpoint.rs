//! Checkpoints: `inspectModel`, `applyGauge` (re-charting) and `initCheckpoint` (random checkpoints).

use std::path::{Path, PathBuf};

use gauge_core::checkpoint::Dtype;
use gauge_core::init::ModelShape;
use gauge_core::recharting::{self, ApplyOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::seed;
use crate::error::{sync, CResult, CodedError};
use crate::gauge::Gauge;
use crate::job::Job;

/// Norm gain statistics over every gain entry.
#[napi(object)]
pub struct GainStatistics {
    /// Number of gain vectors.
    pub vectors: u32,
    /// Smallest gain entry.
    pub min: f64,
    /// Largest gain entry.
    pub max: f64,
    /// Mean gain entry.
    pub mean: f64,
    /// Standard deviation of the gain entries.
    pub std: f64,
}

/// A checkpoint's description.
#[napi(object)]
pub struct ModelInfo {
    /// `llama` (Llama, Mistral, Qwen2), `gpt2` or `gpt_neox`.
    pub architecture: String,
    /// The config's `architectures[0]`.
    pub class: Option<String>,
    /// Residual width d.
    pub d: u32,
    /// Number of blocks, when the config says.
    pub layers: Option<u32>,
    /// Attention heads, when the config says.
    pub heads: Option<u32>,
    /// Key/value heads, when the config says.
    pub kv_heads: Option<u32>,
    /// Element types present (`F32`, `BF16`, ...).
    pub dtypes: Vec<String>,
    /// Number of parameters.
    pub parameters: f64,
    /// Number of safetensors files.
    pub shards: u32,
    /// `RMSNorm` or `LayerNorm`.
    pub norm: String,
    /// Statistics of the norm gains, which decide whether the gauge is discrete.
    pub gains: GainStatistics,
    /// The residual gauge group: `Bd`, `±Sd` or `O(d)` (all gains equal: coordinate transport is ill-posed).
    pub group: String,
    /// Why the group is `O(d)`, when it is.
    pub continuous_reason: Option<String>,
}

/// Options of `applyGauge`.
#[napi(object)]
pub struct ApplyGaugeOptions {
    /// Write a gauge outside the model's group (per-coordinate signs on a LayerNorm model), or re-chart a
    /// model whose gauge is continuous, anyway. The result then computes a different function.
    /// @default false
    pub force: Option<bool>,
}

/// What `applyGauge` wrote.
#[napi(object)]
pub struct ApplyResult {
    /// The output directory.
    pub out: String,
    /// Tensors written.
    pub tensors: u32,
    /// Tensors moved by the gauge.
    pub moved: u32,
    /// Tensor bytes written.
    pub bytes: f64,
    /// Safetensors files written.
    pub shards: u32,
}

/// Options of `initCheckpoint`.
#[napi(object)]
pub struct InitOptions {
    /// @default 0
    pub seed: Option<f64>,
    /// `F32` or `BF16`.
    /// @default 'F32'
    pub dtype: Option<String>,
}

/// Describes a Hugging Face checkpoint directory (config and safetensors headers, gains) or a GGUF file
/// (metadata, tensor infos, gains).
#[napi]
pub fn inspect_model(env: Env, path: String) -> Result<ModelInfo> {
    sync(&env, || {
        let p = Path::new(&path);
        let i = if gauge_models::gguf::is_gguf(p)? {
            gauge_models::gguf_inspect::inspect(p)?
        } else {
            gauge_core::inspect::inspect(p)?
        };
        Ok(ModelInfo {
            architecture: i.architecture,
            class: i.class,
            d: i.d as u32,
            layers: i.shape.as_ref().map(|s| s.layers as u32),
            heads: i.shape.as_ref().map(|s| s.heads as u32),
            kv_heads: i.shape.as_ref().map(|s| s.kv_heads as u32),
            dtypes: i.dtypes,
            parameters: i.parameters as f64,
            shards: i.shards as u32,
            norm: i.norm.into(),
            gains: GainStatistics {
                vectors: i.gains.vectors as u32,
                min: i.gains.min,
                max: i.gains.max,
                mean: i.gains.mean,
                std: i.gains.std,
            },
            group: i.group.into(),
            continuous_reason: i.continuous_reason,
        })
    })
}

/// Re-charts `model` by `gauge` into the new directory `out` (streamed, atomic; never over the input or an
/// existing non-empty directory). A GGUF input is dequantized to an F32 Hugging Face directory first (in a
/// temporary sibling of `out`, removed afterwards), so the output is a Hugging Face directory. Off the event loop.
#[napi(ts_return_type = "Promise<ApplyResult>")]
pub fn apply_gauge(
    model: String,
    gauge: &Gauge,
    out: String,
    options: Option<ApplyGaugeOptions>,
) -> AsyncTask<Job<ApplyResult>> {
    let g = gauge.inner.clone();
    let force = options.and_then(|o| o.force).unwrap_or(false);
    AsyncTask::new(Job::new(move || {
        let (model, out) = (Path::new(&model), Path::new(&out));
        let r = if gauge_models::gguf::is_gguf(model)? {
            let mut staging = gauge_core::atomic::temp_sibling(out).into_os_string();
            staging.push(".from-gguf");
            let staging = PathBuf::from(staging);
            let r = gauge_models::gguf::convert(model, &staging)
                .map_err(CodedError::from)
                .and_then(|_| {
                    recharting::apply(&staging, &g, out, ApplyOptions { force })
                        .map_err(CodedError::from)
                });
            let _ = std::fs::remove_dir_all(&staging);
            r?
        } else {
            recharting::apply(model, &g, out, ApplyOptions { force })?
        };
        Ok(ApplyResult {
            out: r.out.display().to_string(),
            tensors: r.tensors as u32,
            moved: r.moved as u32,
            bytes: r.bytes as f64,
            shards: r.shards as u32,
        })
    }))
}

fn shape_of(config: &str) -> CResult<ModelShape> {
    if let Some(s) = ModelShape::preset(config) {
        return Ok(s);
    }
    let path = PathBuf::from(config);
    if !path.exists() {
        return Err(CodedError::invalid(
            "config",
            format!(
                "{config:?} is neither a preset ({}) nor an existing config.json",
                ModelShape::PRESETS.join(", ")
            ),
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| gauge_core::Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CodedError::invalid(&path.display().to_string(), format!("is not JSON: {e}"))
    })?;
    Ok(ModelShape::from_config(&value)?)
}

/// Writes a random checkpoint with generic gains for a preset (`tiny`, `tiny-qwen2`, `tiny-gpt2`, `smollm2-135m`,
/// `tinyllama-1.1b`, `qwen2.5-0.5b`) or a `config.json`, into the new directory `out`. Returns the tensor bytes
/// written. Off the event loop.
#[napi(ts_return_type = "Promise<number>")]
pub fn init_checkpoint(
    config: String,
    out: String,
    options: Option<InitOptions>,
) -> AsyncTask<Job<f64>> {
    let o = options.unwrap_or(InitOptions {
        seed: None,
        dtype: None,
    });
    AsyncTask::new(Job::new(move || {
        let dtype = match o.dtype.as_deref().unwrap_or("F32") {
            "F32" | "f32" => Dtype::F32,
            "BF16" | "bf16" => Dtype::BF16,
            other => {
                return Err(CodedError::invalid(
                    "dtype",
                    format!("{other:?} is not one of F32, BF16"),
                ))
            }
        };
        let shape = shape_of(&config)?;
        let bytes = gauge_core::init::write_random(&shape, Path::new(&out), seed(o.seed)?, dtype)?;
        Ok(bytes as f64)
    }))
}

/// Converts a Llama GGUF file (F32, F16, Q4_0, Q4_1, Q8_0, Q6_K) into a new Hugging Face directory `out`
/// (`config.json`, `model.safetensors` in F32, `tokenizer.json` when the GGUF carries one), dequantizing every
/// tensor and undoing llama.cpp's Q/K row order. Resolves to `out`. Off the event loop.
#[napi(ts_return_type = "Promise<string>")]
pub fn convert_gguf(gguf: String, out: String) -> AsyncTask<Job<String>> {
    AsyncTask::new(Job::new(move || {
        gauge_models::gguf::convert(Path::new(&gguf), Path::new(&out))?;
        Ok(out)
    }))
}

/// Options of `perturbCheckpoint`.
#[napi(object)]
pub struct PerturbOptions {
    /// Noise standard deviation as a fraction of each tensor's own standard deviation.
    /// @default 0.01
    pub scale: Option<f64>,
    /// @default 0
    pub seed: Option<f64>,
}

/// Writes `model` with seeded Gaussian noise (`scale` × each tensor's std) added to every float tensor into the
/// new directory `out`; resolves to the number of tensors perturbed. For experiments. Off the event loop.
#[napi(ts_return_type = "Promise<number>")]
pub fn perturb_checkpoint(
    model: String,
    out: String,
    options: Option<PerturbOptions>,
) -> AsyncTask<Job<u32>> {
    let (scale, s) = options.map_or((None, None), |o| (o.scale, o.seed));
    AsyncTask::new(Job::new(move || {
        let n = gauge_core::perturb::perturb(
            Path::new(&model),
            Path::new(&out),
            scale.unwrap_or(0.01),
            seed(s)?,
        )?;
        Ok(n as u32)
    }))
}
