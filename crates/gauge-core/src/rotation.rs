//! Rotations of the residual stream: the control of the symmetry experiment (GAUGE.md §1). A rotation
//! `R ∈ O(d)` is not a symmetry of a normalised model with per-channel gains — a diagonal gain conjugated by `R` is
//! no longer diagonal — so [`rotate`] writes a checkpoint that computes a *different* function, on purpose.
//!
//! Every residual vector of the checkpoint moves as `v ↦ R v`: the slices along the residual axis of readers,
//! writers, embeddings and LayerNorm biases (for an orthogonal `R` readers and writers move alike, as under a
//! signed permutation). Gains stay as they are: they act as `diag(γ)`, and `R diag(γ) Rᵀ` has no diagonal form.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::family::Role;
use crate::rewrite::rewrite;
use crate::rng::SplitMix64;

/// A Haar-random orthogonal `d × d` matrix, row-major: Gram-Schmidt (in `f64`) of a seeded Gaussian matrix, which
/// is the QR factor with a positive diagonal and hence Haar-distributed.
///
/// ```
/// let r = gauge_core::rotation::random_orthogonal(4, 7);
/// let dot = |i: usize, j: usize| (0..4).map(|k| r[i * 4 + k] * r[j * 4 + k]).sum::<f64>();
/// assert!((dot(1, 1) - 1.0).abs() < 1e-12 && dot(1, 2).abs() < 1e-12);
/// ```
pub fn random_orthogonal(d: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    let mut g = vec![0f32; d * d];
    rng.fill_normal(&mut g);
    let mut q: Vec<f64> = g.iter().map(|&x| x as f64).collect();
    for i in 0..d {
        // Two passes of modified Gram-Schmidt keep the rows orthogonal to f64 precision.
        for _ in 0..2 {
            for j in 0..i {
                let dot: f64 = (0..d).map(|k| q[i * d + k] * q[j * d + k]).sum();
                for k in 0..d {
                    q[i * d + k] -= dot * q[j * d + k];
                }
            }
        }
        let norm = (0..d)
            .map(|k| q[i * d + k] * q[i * d + k])
            .sum::<f64>()
            .sqrt();
        for k in 0..d {
            q[i * d + k] /= norm;
        }
    }
    q
}

/// Writes the checkpoint at `input` with every residual vector rotated by `r` (row-major `d × d`, orthogonal) into
/// the new directory `out` (one `model.safetensors`, same dtypes; moving tensors must be F32 or BF16), through a
/// temporary sibling renamed at the end. Returns the number of tensors rotated. The result is **not** equivalent
/// to the input (see the module docs).
pub fn rotate(input: &Path, r: &[f64], out: &Path) -> Result<usize> {
    let d = Checkpoint::open(input)?.hidden_size()?;
    if r.len() != d * d {
        return Err(Error::shape(
            "rotation",
            format!("{d} x {d} (hidden size of {})", input.display()),
            format!("{} entries", r.len()),
        ));
    }
    let rf: Vec<f32> = r.iter().map(|&x| x as f32).collect();
    let metadata = HashMap::from([(
        "gauge_transport.rotated".to_string(),
        "residual stream rotated by a random orthogonal matrix (not a symmetry)".to_string(),
    )]);
    rewrite(input, out, metadata, |t, mut x| {
        let axis = match t.role {
            Role::Read { axis } | Role::Write { axis } => axis,
            Role::Embed => 1,
            Role::LnBias => 0,
            Role::Gain | Role::None => return Ok(None),
        };
        if axis >= t.shape.len() || t.shape[axis] != d {
            return Err(Error::shape(
                t.location.clone(),
                format!("length {d} on axis {axis}"),
                format!("shape {:?}", t.shape),
            ));
        }
        rotate_axis(&mut x, t.shape, axis, &rf);
        Ok(Some(x))
    })
}

/// `x ↦ R x` on every slice of `x` (row-major `shape`) along `axis` (of length `d`).
fn rotate_axis(x: &mut [f32], shape: &[usize], axis: usize, r: &[f32]) {
    let d = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let mut out = vec![0f32; x.len()];
    for o in 0..outer {
        let base = o * d * inner;
        // Block [d, inner] at `base`: out = R · block.
        // SAFETY: the pointers address `d * inner` elements inside `x`/`out` and `d * d` inside `r`, with the
        // strides given; matrixmultiply reads `a`, `b` and writes `c` only within those bounds.
        unsafe {
            matrixmultiply::sgemm(
                d,
                d,
                inner,
                1.0,
                r.as_ptr(),
                d as isize,
                1,
                x.as_ptr().add(base),
                inner as isize,
                1,
                0.0,
                out.as_mut_ptr().add(base),
                inner as isize,
                1,
            );
        }
    }
    x.copy_from_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_axis_matches_the_definition_on_both_axes() {
        let r = random_orthogonal(3, 1);
        let rf: Vec<f32> = r.iter().map(|&x| x as f32).collect();
        // shape [2, 3], axis 1: each row v becomes R v.
        let x = vec![1.0f32, 2.0, 3.0, -1.0, 0.5, 4.0];
        let mut y = x.clone();
        rotate_axis(&mut y, &[2, 3], 1, &rf);
        for row in 0..2 {
            for i in 0..3 {
                let want: f32 = (0..3).map(|k| rf[i * 3 + k] * x[row * 3 + k]).sum();
                assert!((y[row * 3 + i] - want).abs() < 1e-6);
            }
        }
        // shape [3, 2], axis 0: each column v becomes R v.
        let mut z = x.clone();
        rotate_axis(&mut z, &[3, 2], 0, &rf);
        for col in 0..2 {
            for i in 0..3 {
                let want: f32 = (0..3).map(|k| rf[i * 3 + k] * x[k * 2 + col]).sum();
                assert!((z[i * 2 + col] - want).abs() < 1e-6);
            }
        }
    }
}
