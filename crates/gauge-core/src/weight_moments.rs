//! A data-free gauge estimate (`align --from weights`): correlate the residual coordinates of two checkpoints of
//! one architecture through their weights instead of their activations (GAUGE.md §5, with weights as the probe).
//!
//! Every tensor whose role moves *signed* along the residual axis (`read`, `write`, `embed`, `ln_bias`; GAUGE.md
//! §3) is a stack of residual vectors: each slice across the residual axis is one paired sample of a `d`-vector,
//! `x` from A and `y` from B. Under a true gauge `g` (`B = apply(g, A)`) every pair satisfies `y = g·x`, so the
//! correlation matrix `C = moments.correlation()` has `C[i, perm[i]] = sign[i]` (rows: A's coordinates, columns:
//! B's), which is what [`crate::matching::match_gauge`] consumes. Gains are left out: they move without signs and
//! would pull every matched correlation towards `+1` regardless of the true sign.
//!
//! Tensors are read one pair at a time, so memory is bounded by the largest tensor (twice: one copy per model)
//! plus a fixed block of samples.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::{Checkpoint, TensorInfo};
use crate::error::{Error, Result};
use crate::stats::CrossMoments;

/// Samples gathered before they are handed to [`CrossMoments::update`] in one call, so that small tensors (biases,
/// `[d]` vectors) share a GEMM block instead of each paying for a rank-one update.
const BLOCK_ROWS: usize = 2048;

/// Options of [`weight_cross_moments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightOptions {
    /// Divide each tensor's entries by that tensor's overall standard deviation, in each model separately, before
    /// accumulating, so tensors of very different scales weigh alike per entry. Default `true`.
    pub standardize_per_tensor: bool,
}

impl Default for WeightOptions {
    fn default() -> Self {
        Self {
            standardize_per_tensor: true,
        }
    }
}

/// Cross moments of the residual coordinates of checkpoints `a` (x, rows of the correlation) and `b` (y, columns),
/// with every residual-axis slice of every signed moving tensor as one paired sample.
///
/// # Errors
/// `INVALID_ARGUMENT` when the architectures differ (or a tensor has no role or a non-float dtype);
/// `SHAPE_MISMATCH` when the hidden sizes differ, a tensor has different shapes in the two checkpoints, or a moving
/// tensor lacks `d` on its residual axis; `CHECKPOINT_MISMATCH` when a tensor is in one checkpoint only;
/// `NON_FINITE` for a NaN or infinite weight; errors of [`Checkpoint::open`] for unreadable checkpoints.
pub fn weight_cross_moments(a: &Path, b: &Path, opts: WeightOptions) -> Result<CrossMoments> {
    let ca = Checkpoint::open(a)?;
    let cb = Checkpoint::open(b)?;
    let plan = plan(&ca, &cb)?;
    let d = ca.hidden_size()?;
    let mut moments = CrossMoments::new(d, d);
    let mut block = Block::new(d);
    for (name, shape, axis) in &plan {
        let mut x = ca.read_f32(name)?;
        let mut y = cb.read_f32(name)?;
        for (values, ckpt) in [(&mut x, &ca), (&mut y, &cb)] {
            let where_ = || format!("{}: tensor {name:?}", ckpt.dir.display());
            check_finite(values, shape, where_)?;
            if opts.standardize_per_tensor {
                let s = std_dev(values);
                if s > 0.0 && s.is_finite() {
                    let inv = (1.0 / s) as f32;
                    values.iter_mut().for_each(|v| *v *= inv);
                }
            }
        }
        block.add_tensor(&mut moments, &x, &y, shape, *axis)?;
    }
    block.flush(&mut moments)?;
    Ok(moments)
}

/// `(name, shape, residual axis)` of every signed moving tensor, in A's order, after checking that `a` and `b`
/// share the architecture, the hidden size and every tensor name and shape.
fn plan(a: &Checkpoint, b: &Checkpoint) -> Result<Vec<(String, Vec<usize>, usize)>> {
    let (da, db) = (a.dir.display(), b.dir.display());
    if a.arch != b.arch {
        return Err(Error::invalid(
            format!("checkpoints {da} and {db}"),
            format!(
                "{da} is a {} checkpoint but {db} is a {} checkpoint; weight moments pair the tensors of one \
                 architecture",
                a.arch.name(),
                b.arch.name()
            ),
        ));
    }
    let (d, d_b) = (a.hidden_size()?, b.hidden_size()?);
    if d != d_b {
        return Err(Error::shape(
            format!("hidden sizes of {da} and {db}"),
            format!("d = {d} in both (as in {da})"),
            format!("d = {d_b} in {db}"),
        ));
    }
    let in_b: HashMap<&str, (usize, &TensorInfo)> = b
        .tensors()
        .map(|(k, t)| (t.name.as_str(), (k, t)))
        .collect();
    let in_a: HashMap<&str, usize> = a.tensors().map(|(k, t)| (t.name.as_str(), k)).collect();
    if let Some((k, t)) = b
        .tensors()
        .find(|(_, t)| !in_a.contains_key(t.name.as_str()))
    {
        return Err(Error::mismatch(
            &a.dir,
            format!(
                "lacks tensor {:?} that {} holds; weight moments need the same tensors in both checkpoints",
                t.name,
                b.shards[k].path.display()
            ),
        ));
    }
    let mut plan = Vec::new();
    for (shard, t) in a.tensors() {
        let location = format!("{}: tensor {:?}", a.shards[shard].path.display(), t.name);
        let Some(&(_, tb)) = in_b.get(t.name.as_str()) else {
            return Err(Error::mismatch(
                &b.dir,
                format!(
                    "lacks tensor {:?} that {} holds; weight moments need the same tensors in both checkpoints",
                    t.name,
                    a.shards[shard].path.display()
                ),
            ));
        };
        if tb.shape != t.shape {
            return Err(Error::shape(
                format!("tensor {:?} of {da} and {db}", t.name),
                format!("shape {:?} in both (as in {da})", t.shape),
                format!("shape {:?} in {db}", tb.shape),
            ));
        }
        let role = a
            .arch
            .role(&t.name)
            .map_err(|e| Error::invalid(&location, e.to_string()))?;
        let Some((axis, true)) = role.action() else {
            continue;
        };
        if axis >= t.shape.len() || t.shape[axis] != d {
            return Err(Error::shape(
                location,
                format!("length {d} on axis {axis} (its {} role)", role.name()),
                format!("shape {:?}", t.shape),
            ));
        }
        for (dtype, ckpt) in [(t.dtype, a), (tb.dtype, b)] {
            if !dtype.is_float() {
                return Err(Error::invalid(
                    format!("{}: tensor {:?}", ckpt.dir.display(), t.name),
                    format!(
                        "has dtype {}, but a moving tensor must be a float",
                        dtype.as_str()
                    ),
                ));
            }
        }
        plan.push((t.name.clone(), t.shape.clone(), axis));
    }
    Ok(plan)
}

fn check_finite(values: &[f32], shape: &[usize], what: impl FnOnce() -> String) -> Result<()> {
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        let cols = shape.last().copied().unwrap_or(1).max(1);
        return Err(Error::NonFinite {
            what: what(),
            row: k / cols,
            col: k % cols,
            value: values[k] as f64,
        });
    }
    Ok(())
}

/// Population standard deviation of all entries (two passes, in `f64`).
fn std_dev(values: &[f32]) -> f64 {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt()
}

/// Paired samples waiting for one [`CrossMoments::update`]: row-major `[rows, d]` each.
struct Block {
    d: usize,
    rows: usize,
    x: Vec<f32>,
    y: Vec<f32>,
}

impl Block {
    fn new(d: usize) -> Self {
        Self {
            d,
            rows: 0,
            x: vec![0.0; BLOCK_ROWS * d],
            y: vec![0.0; BLOCK_ROWS * d],
        }
    }

    fn flush(&mut self, moments: &mut CrossMoments) -> Result<()> {
        if self.rows > 0 {
            let n = self.rows * self.d;
            moments.update(&self.x[..n], &self.y[..n], self.rows)?;
            self.rows = 0;
        }
        Ok(())
    }

    /// Adds every slice of `x` and `y` (same `shape`, `d` on `axis`) across the residual axis as one sample.
    /// Viewing the shape as `[pre, d, post]`, sample `(p, q)` has entries `(p·d + i)·post + q` for `i < d`: with
    /// `post = 1` that is a contiguous row, otherwise a column of a `[d, post]` block, gathered in strips.
    fn add_tensor(
        &mut self,
        moments: &mut CrossMoments,
        x: &[f32],
        y: &[f32],
        shape: &[usize],
        axis: usize,
    ) -> Result<()> {
        let d = self.d;
        let pre: usize = shape[..axis].iter().product();
        let post: usize = shape[axis + 1..].iter().product();
        debug_assert_eq!(x.len(), pre * d * post);
        for p in 0..pre {
            let base = p * d * post;
            let mut q = 0;
            while q < post {
                let take = (BLOCK_ROWS - self.rows).min(post - q);
                let at = self.rows * d;
                for (src, dst) in [(x, &mut self.x), (y, &mut self.y)] {
                    let out = &mut dst[at..at + take * d];
                    if post == 1 {
                        out.copy_from_slice(&src[base..base + d]);
                    } else {
                        for i in 0..d {
                            let start = base + i * post + q;
                            for (k, &v) in src[start..start + take].iter().enumerate() {
                                out[k * d + i] = v;
                            }
                        }
                    }
                }
                self.rows += take;
                q += take;
                if self.rows == BLOCK_ROWS {
                    self.flush(moments)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples `add_tensor` gathers from one small tensor (read from the block before any flush).
    fn gathered(values: &[f32], shape: &[usize], axis: usize, d: usize) -> Vec<f32> {
        let mut block = Block::new(d);
        let mut m = CrossMoments::new(d, d);
        block
            .add_tensor(&mut m, values, values, shape, axis)
            .unwrap();
        assert_eq!(m.count(), 0, "nothing flushed for a small tensor");
        block.x[..block.rows * d].to_vec()
    }

    #[test]
    fn slices_across_the_residual_axis_are_the_samples() {
        // [m = 2, d = 3] with d on axis 1: rows are samples.
        let v: Vec<f32> = (0..6).map(|k| k as f32).collect();
        assert_eq!(gathered(&v, &[2, 3], 1, 3), v);
        // [d = 3, m = 2] with d on axis 0: columns are samples.
        assert_eq!(
            gathered(&v, &[3, 2], 0, 3),
            vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
        );
        // [d] is one sample.
        assert_eq!(gathered(&v[..3], &[3], 0, 3), vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn columns_spanning_several_blocks_are_gathered_in_order() {
        let (d, m) = (3, BLOCK_ROWS + 5);
        let v: Vec<f32> = (0..d * m).map(|k| k as f32).collect();
        let mut block = Block::new(d);
        let mut moments = CrossMoments::new(d, d);
        block.add_tensor(&mut moments, &v, &v, &[d, m], 0).unwrap();
        assert_eq!(moments.count(), BLOCK_ROWS as u64);
        assert_eq!(block.rows, 5);
        for r in 0..5 {
            let col = BLOCK_ROWS + r;
            let want: Vec<f32> = (0..d).map(|i| (i * m + col) as f32).collect();
            assert_eq!(&block.x[r * d..(r + 1) * d], &want[..]);
        }
    }

    #[test]
    fn std_dev_is_the_population_spread() {
        assert!((std_dev(&[1.0, 3.0]) - 1.0).abs() < 1e-12);
        assert_eq!(std_dev(&[2.0; 4]), 0.0);
    }
}
