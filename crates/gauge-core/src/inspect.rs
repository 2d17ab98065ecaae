//! What a checkpoint is, as far as the gauge is concerned (`gauge-transport inspect`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::Result;
use crate::family::{Norm, Role};
use crate::init::ModelShape;
use crate::recharting::continuous_gauge_reason;

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
    let mut gains = Vec::new();
    for (_, t) in ckpt.tensors() {
        dtypes.insert(t.dtype.as_str().to_string());
        parameters += t.shape.iter().product::<usize>() as u64;
        if ckpt.arch.role(&t.name)? == Role::Gain {
            let offset = ckpt.arch.gain_offset();
            gains.push(ckpt.read_f32(&t.name)?.iter().map(|w| w + offset).collect());
        }
    }
    let continuous_reason = continuous_gauge_reason(&ckpt)?;
    let (gains, group) = gauge_of_gains(ckpt.arch.norm(), &gains, continuous_reason.is_some());
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
        gains,
        group,
        continuous_reason,
    })
}

/// The gain statistics and the gauge group (`Bd`, `±Sd` or `O(d)`) of a model with `norm` layers whose norm gain
/// vectors (every [`Role::Gain`] tensor, in checkpoint order) are `gains`, as [`inspect`] reports them;
/// `continuous` says whether the gauge is continuous (see [`constant_gains_reason`]). For sources that are not a
/// [`Checkpoint`] (GGUF files).
pub fn gauge_of_gains(
    norm: Norm,
    gains: &[Vec<f32>],
    continuous: bool,
) -> (GainStats, &'static str) {
    let (mut n, mut sum, mut sq, mut min, mut max) =
        (0usize, 0f64, 0f64, f64::INFINITY, f64::NEG_INFINITY);
    for x in gains.iter().flatten() {
        let x = *x as f64;
        n += 1;
        sum += x;
        sq += x * x;
        min = min.min(x);
        max = max.max(x);
    }
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let std = if n > 0 {
        (sq / n as f64 - mean * mean).max(0.0).sqrt()
    } else {
        0.0
    };
    let group = match (norm, continuous) {
        (_, true) => "O(d)",
        (Norm::RmsNorm, false) => "Bd",
        (Norm::LayerNorm, false) => "±Sd",
    };
    let stats = GainStats {
        vectors: gains.len(),
        min,
        max,
        mean,
        std,
    };
    (stats, group)
}

/// [`continuous_gauge_reason`] for a model given by its norm kind and gain vectors rather than a [`Checkpoint`]:
/// `Some` (the same text) when it is an RMSNorm model whose every gain vector is constant.
pub fn constant_gains_reason(norm: Norm, gains: &[Vec<f32>]) -> Option<String> {
    if norm != Norm::RmsNorm || gains.iter().any(|g| g.iter().any(|&x| x != g[0])) {
        return None;
    }
    Some(format!(
        "all {} RMSNorm gain vectors are constant, so every rotation of the residual stream is a symmetry \
         (gauge group O(d)): coordinates have no identity and coordinate transport is ill-posed",
        gains.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_helpers_match_the_checkpoint_rules() {
        let dir = std::env::temp_dir().join(format!("gt-inspect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let shape = ModelShape::preset("tiny").unwrap();
        crate::init::write_random(&shape, &dir, 3, crate::checkpoint::Dtype::F32).unwrap();
        let gains_of = |ckpt: &Checkpoint| -> Vec<Vec<f32>> {
            ckpt.tensors()
                .filter(|(_, t)| ckpt.arch.role(&t.name).unwrap() == Role::Gain)
                .map(|(_, t)| ckpt.read_f32(&t.name).unwrap())
                .collect()
        };
        let ckpt = Checkpoint::open(&dir).unwrap();
        let gains = gains_of(&ckpt);
        assert_eq!(constant_gains_reason(Norm::RmsNorm, &gains), None);
        let info = inspect(&dir).unwrap();
        assert_eq!(
            gauge_of_gains(Norm::RmsNorm, &gains, false),
            (info.gains, "Bd")
        );
        // Every gain set to one, as a fresh Hugging Face initialisation has: the gauge becomes continuous.
        let path = ckpt.shards[0].path.clone();
        let mut bytes = std::fs::read(&path).unwrap();
        let start = ckpt.shards[0].header.data_start as usize;
        for t in &ckpt.shards[0].header.tensors {
            if t.name.ends_with("norm.weight") {
                for b in bytes[start + t.start as usize..start + t.end as usize].chunks_mut(4) {
                    b.copy_from_slice(&1f32.to_le_bytes());
                }
            }
        }
        std::fs::write(&path, bytes).unwrap();
        let ckpt = Checkpoint::open(&dir).unwrap();
        let gains = gains_of(&ckpt);
        let reason = continuous_gauge_reason(&ckpt).unwrap();
        assert!(reason.is_some());
        assert_eq!(constant_gains_reason(Norm::RmsNorm, &gains), reason);
        assert_eq!(constant_gains_reason(Norm::LayerNorm, &gains), None);
        let info = inspect(&dir).unwrap();
        assert_eq!(
            gauge_of_gains(Norm::RmsNorm, &gains, true),
            (info.gains, "O(d)")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
