//! Merging a checkpoint `B` into the chart of `A` (GAUGE.md §4): every tensor of `B` is first moved by the gauge
//! `g: B -> A` according to its role (so `apply(g, θ_B)` computes `B`'s function with hidden states in `A`'s
//! chart), then combined with `A`'s coordinate-wise:
//!
//! - average: `θ = (1 - α) θ_A + α · g·θ_B`;
//! - task arithmetic, with a base `θ_0` in `A`'s chart (the common ancestor): `θ = θ_A + α (g·θ_B - θ_0)`.
//!
//! Without the gauge (or with a wrong one) the average mixes unrelated coordinates; with a permutation-only
//! estimate on an RMSNorm model, every sign-flipped coordinate is averaged against its negative and cancels.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::gauge::Gauge;

/// Options of [`merge`].
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// `α`, the weight of `B` (see the module docs); `0.5` for a plain average.
    pub weight: f32,
    /// A base checkpoint in `A`'s chart for task arithmetic.
    pub base: Option<std::path::PathBuf>,
}

/// What [`merge`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// Tensors combined.
    pub tensors: usize,
    /// Of which `B`'s were moved by the gauge (the others are outside the residual chart).
    pub moved: usize,
}

/// Writes the merge of `b` into `a`'s chart with `gauge: B -> A` as the new Hugging Face directory `out` (one
/// `model.safetensors` in `A`'s dtypes, `A`'s config and tokenizer). Refused, naming both checkpoints: different
/// architectures, tensor sets or shapes, a gauge whose `d` is not the hidden size or whose group the architecture
/// does not have (single sign flips on a LayerNorm model), a non-finite weight.
pub fn merge(
    a: &Path,
    b: &Path,
    gauge: &Gauge,
    out: &Path,
    opts: &MergeOptions,
) -> Result<MergeReport> {
    if !opts.weight.is_finite() {
        return Err(Error::invalid("weight", "is not finite"));
    }
    let ca = Checkpoint::open(a)?;
    let cb = Checkpoint::open(b)?;
    let base = opts.base.as_deref().map(Checkpoint::open).transpose()?;
    let mut others = vec![(b, &cb)];
    if let (Some(path), Some(c)) = (opts.base.as_deref(), base.as_ref()) {
        others.push((path, c));
    }
    for (path, c) in &others {
        same_layout(a, &ca, path, c)?;
    }
    let d = ca.hidden_size()?;
    if gauge.dim() != d {
        return Err(Error::shape(
            "gauge",
            format!(
                "d = {d} (hidden size of {} and {})",
                a.display(),
                b.display()
            ),
            format!("d = {}", gauge.dim()),
        ));
    }
    if !gauge.group().is_subgroup_of(ca.arch.group()) {
        return Err(Error::invalid(
            "gauge",
            format!(
                "is in group {} but {} is a {} model (group {}): its weights cannot move by single sign flips",
                gauge.group().as_str(),
                a.display(),
                ca.arch.name(),
                ca.arch.group().as_str()
            ),
        ));
    }
    let alpha = opts.weight;
    let mut moved = 0;
    let metadata = HashMap::from([
        (
            "gauge_transport.merged".to_string(),
            b.display().to_string(),
        ),
        ("gauge_transport.weight".to_string(), alpha.to_string()),
        (
            "gauge_transport.group".to_string(),
            gauge.group().as_str().to_string(),
        ),
    ]);
    let tensors = crate::rewrite::rewrite(a, out, metadata, |t, va| {
        let vb = cb.read_f32(t.name)?;
        let gb = match t.role.action() {
            Some((axis, signed)) => {
                moved += 1;
                gauge.apply_axis(&vb, t.shape, axis, signed)?
            }
            None => vb,
        };
        Ok(Some(match &base {
            Some(c0) => {
                let v0 = c0.read_f32(t.name)?;
                va.iter()
                    .zip(&gb)
                    .zip(&v0)
                    .map(|((&x, &y), &z)| x + alpha * (y - z))
                    .collect()
            }
            None => va
                .iter()
                .zip(&gb)
                .map(|(&x, &y)| (1.0 - alpha) * x + alpha * y)
                .collect(),
        }))
    })?;
    Ok(MergeReport { tensors, moved })
}

/// `other` has `a`'s architecture and the same tensors with the same shapes.
fn same_layout(a: &Path, ca: &Checkpoint, other: &Path, co: &Checkpoint) -> Result<()> {
    let both = || format!("{} and {}", a.display(), other.display());
    if ca.arch != co.arch {
        return Err(Error::invalid(
            both(),
            format!(
                "are of different architectures ({} and {}); only checkpoints of one architecture merge",
                ca.arch.name(),
                co.arch.name()
            ),
        ));
    }
    for (_, t) in ca.tensors() {
        let (_, u) = co.find(&t.name).ok_or_else(|| {
            Error::invalid(
                both(),
                format!(
                    "{} has tensor {:?} but {} does not",
                    a.display(),
                    t.name,
                    other.display()
                ),
            )
        })?;
        if u.shape != t.shape {
            return Err(Error::shape(
                format!("{}: tensor {:?}", other.display(), t.name),
                format!("{:?} (its shape in {})", t.shape, a.display()),
                format!("{:?}", u.shape),
            ));
        }
    }
    if let Some((_, u)) = co.tensors().find(|(_, u)| ca.find(&u.name).is_none()) {
        return Err(Error::invalid(
            both(),
            format!(
                "{} has tensor {:?} but {} does not",
                other.display(),
                u.name,
                a.display()
            ),
        ));
    }
    Ok(())
}
