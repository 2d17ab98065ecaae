//! Seeded Gaussian perturbation of a checkpoint, for experiments: a stand-in for a little further training
//! (GAUGE.md §5's acceptance test re-charts a model, then perturbs it).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::rewrite::rewrite;
use crate::rng::SplitMix64;

/// Writes `input` with independent Gaussian noise added to every float tensor into the new directory `out`: each
/// entry `w` becomes `w + scale · std(W) · z`, `z ~ N(0, 1)`, where `std(W)` is the standard deviation of that
/// tensor's entries (a tensor whose entries are all equal, such as a fresh gain vector, uses `mean |w|`, so it
/// moves too). Seeded: the same `seed` gives the same file. Returns the number of tensors perturbed.
pub fn perturb(input: &Path, out: &Path, scale: f64, seed: u64) -> Result<usize> {
    if !(scale.is_finite() && scale >= 0.0) {
        return Err(Error::invalid(
            "scale",
            format!("must be a finite number ≥ 0, got {scale}"),
        ));
    }
    let mut rng = SplitMix64::new(seed);
    let metadata = HashMap::from([(
        "gauge_transport.perturbed".to_string(),
        format!("gaussian noise, {scale} x each tensor's std, seed {seed}"),
    )]);
    rewrite(input, out, metadata, |_, mut x| {
        let n = x.len().max(1) as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let spread = if var > 0.0 { var.sqrt() } else { mean.abs() };
        let sigma = (scale * spread) as f32;
        let mut z = vec![0f32; x.len()];
        rng.fill_normal(&mut z);
        x.iter_mut().zip(&z).for_each(|(w, z)| *w += sigma * z);
        Ok(Some(x))
    })
}
