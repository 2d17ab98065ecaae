//! Rotations of the residual stream: the control of the symmetry experiment (GAUGE.md §1). A rotation
//! `R ∈ O(d)` is not a symmetry of a normalised model with per-channel gains — a diagonal gain conjugated by `R` is
//! no longer diagonal — so [`rotate`] writes a checkpoint that computes a *different* function, on purpose.
//!
//! Every residual vector of the checkpoint moves as `v ↦ R v`: the slices along the residual axis of readers,
//! writers, embeddings and LayerNorm biases (for an orthogonal `R` readers and writers move alike, as under a
//! signed permutation). Gains stay as they are: they act as `diag(γ)`, and `R diag(γ) Rᵀ` has no diagonal form.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::checkpoint::{header_bytes, Checkpoint, Dtype, TensorInfo, SINGLE_FILE};
use crate::error::{Error, Result};
use crate::init::f32_to_bf16;
use crate::rng::SplitMix64;
use crate::roles::Role;

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

/// What [`rotate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RotateReport {
    /// Tensors written.
    pub tensors: usize,
    /// Tensors rotated.
    pub moved: usize,
}

/// Writes the checkpoint at `input` with every residual vector rotated by `r` (row-major `d × d`, orthogonal) into
/// the new directory `out` (one `model.safetensors`, same dtypes; F32 and BF16 tensors only), through a temporary
/// sibling renamed at the end. The result is **not** equivalent to the input (see the module docs).
pub fn rotate(input: &Path, r: &[f64], out: &Path) -> Result<RotateReport> {
    let ckpt = Checkpoint::open(input)?;
    let d = ckpt.hidden_size()?;
    if r.len() != d * d {
        return Err(Error::shape(
            "rotation",
            format!("{d} x {d} (hidden size of {})", input.display()),
            format!("{} entries", r.len()),
        ));
    }
    if out.exists() {
        return Err(Error::OutputExists { path: out.into() });
    }
    let rf: Vec<f32> = r.iter().map(|&x| x as f32).collect();
    let mut infos = Vec::new();
    let mut data: Vec<Vec<u8>> = Vec::new();
    let mut offset = 0u64;
    let mut moved = 0;
    for (shard, t) in ckpt.tensors() {
        let where_ = || format!("{}: tensor {:?}", ckpt.shards[shard].path.display(), t.name);
        let role = ckpt
            .arch
            .role(&t.name)
            .map_err(|e| Error::invalid(where_(), e.to_string()))?;
        let mut bytes = Vec::new();
        ckpt.read_bytes(shard, t, &mut bytes)?;
        let axis = match role {
            Role::Read { axis } | Role::Write { axis } => Some(axis),
            Role::Embed => Some(1),
            Role::LnBias => Some(0),
            Role::Gain | Role::None => None,
        };
        if let Some(axis) = axis {
            if axis >= t.shape.len() || t.shape[axis] != d {
                return Err(Error::shape(
                    where_(),
                    format!("length {d} on axis {axis}"),
                    format!("shape {:?}", t.shape),
                ));
            }
            let mut x = ckpt.read_f32(&t.name)?;
            rotate_axis(&mut x, &t.shape, axis, &rf);
            bytes = match t.dtype {
                Dtype::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                Dtype::BF16 => x
                    .iter()
                    .flat_map(|&v| f32_to_bf16(v).to_le_bytes())
                    .collect(),
                other => {
                    return Err(Error::invalid(
                        where_(),
                        format!(
                            "has dtype {}; rotation writes F32 and BF16 only",
                            other.as_str()
                        ),
                    ))
                }
            };
            moved += 1;
        }
        infos.push(TensorInfo {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            start: offset,
            end: offset + bytes.len() as u64,
        });
        offset += bytes.len() as u64;
        data.push(bytes);
    }
    let tmp = crate::atomic::temp_sibling(out);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = write_dir(&ckpt, &tmp, &infos, &data)
        .and_then(|()| std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e)));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| RotateReport {
        tensors: infos.len(),
        moved,
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

fn write_dir(ckpt: &Checkpoint, dir: &Path, infos: &[TensorInfo], data: &[Vec<u8>]) -> Result<()> {
    for entry in std::fs::read_dir(&ckpt.dir).map_err(|e| Error::io(&ckpt.dir, e))? {
        let entry = entry.map_err(|e| Error::io(&ckpt.dir, e))?;
        let name = entry.file_name();
        let keep = name.to_str().is_some_and(|n| {
            n == "config.json" || n == "generation_config.json" || n.starts_with("tokenizer")
        });
        if keep {
            std::fs::copy(entry.path(), dir.join(&name)).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "gauge_transport.rotated".to_string(),
            "residual stream rotated by a random orthogonal matrix (not a symmetry)".to_string(),
        ),
    ]);
    let path = dir.join(SINGLE_FILE);
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w = BufWriter::new(file);
    w.write_all(&header_bytes(infos, &metadata))
        .map_err(|e| Error::io(&path, e))?;
    for bytes in data {
        w.write_all(bytes).map_err(|e| Error::io(&path, e))?;
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&path, e))
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
