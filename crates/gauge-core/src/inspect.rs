//! What a checkpoint is, as far as the gauge is concerned (`gauge-transport inspect`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::Result;
use crate::init::ModelShape;
use crate::recharting::continuous_gauge_reason;
use crate::roles::{Norm, Role};

/// Statistics of all norm gain entries of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct GainStats {
    /// Number of gain vectors.
    pub vectors: usize,
    /// Smallest entry.
    pub min: f64,
    /// Largest entry.
    pub max: f64,
    /// Mean entry.
    pub mean: f64,
    /// Standard deviation of the entries.
    pub std: f64,
}

/// A checkpoint's description.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// Architecture name (`llama`, `gpt2`, `gpt_neox`) and the config's class name.
    pub architecture: String,
    /// The config's `architectures[0]`, when present.
    pub class: Option<String>,
    /// Shape read from the config (`None` for architectures whose config this reader does not model).
    pub shape: Option<ModelShape>,
    /// Residual width.
    pub d: usize,
    /// Element types present.
    pub dtypes: Vec<String>,
    /// Number of parameters (elements of all tensors).
    pub parameters: u64,
    /// Number of safetensors files.
    pub shards: usize,
    /// `RMSNorm` or `LayerNorm`.
    pub norm: &'static str,
    /// Gain statistics.
    pub gains: GainStats,
    /// The residual gauge group: `Bd`, `±Sd` or `O(d)`.
    pub group: &'static str,
    /// Why the group is `O(d)`, when it is.
    pub continuous_reason: Option<String>,
}

/// Describes the checkpoint directory at `path`.
pub fn inspect(path: &Path) -> Result<Inspection> {
    let ckpt = Checkpoint::open(path)?;
    let d = ckpt.hidden_size()?;
    let mut dtypes = BTreeSet::new();
    let mut parameters = 0u64;
    let (mut n, mut sum, mut sq, mut min, mut max, mut vectors) =
        (0usize, 0f64, 0f64, f64::INFINITY, f64::NEG_INFINITY, 0);
    for (_, t) in ckpt.tensors() {
        dtypes.insert(t.dtype.as_str().to_string());
        parameters += t.shape.iter().product::<usize>() as u64;
        if ckpt.arch.role(&t.name)? == Role::Gain {
            vectors += 1;
            for x in ckpt.read_f32(&t.name)? {
                let x = x as f64;
                n += 1;
                sum += x;
                sq += x * x;
                min = min.min(x);
                max = max.max(x);
            }
        }
    }
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let std = if n > 0 {
        (sq / n as f64 - mean * mean).max(0.0).sqrt()
    } else {
        0.0
    };
    let continuous_reason = continuous_gauge_reason(&ckpt)?;
    let group = match (ckpt.arch.norm(), &continuous_reason) {
        (_, Some(_)) => "O(d)",
        (Norm::RmsNorm, None) => "Bd",
        (Norm::LayerNorm, None) => "±Sd",
    };
    Ok(Inspection {
        architecture: ckpt.arch.name().to_string(),
        class: ckpt
            .config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .map(String::from),
        shape: ModelShape::from_config(&ckpt.config).ok(),
        d,
        dtypes: dtypes.into_iter().collect(),
        parameters,
        shards: ckpt.shards.len(),
        norm: match ckpt.arch.norm() {
            Norm::RmsNorm => "RMSNorm",
            Norm::LayerNorm => "LayerNorm",
        },
        gains: GainStats {
            vectors,
            min,
            max,
            mean,
            std,
        },
        group,
        continuous_reason,
    })
}
