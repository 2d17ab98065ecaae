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
//! Tensors are read one pair at a time. Those whose residual axis is the last (embedding tables, output heads,
//! every `[out, d]` projection) are read in slices of [`READ_ROWS`] rows, so memory is bounded by the largest
//! tensor with its residual axis first (a `[d, ffn]` down projection: one block's worth, twice) plus a fixed block
//! of samples, whatever the vocabulary (a Llama 3 70B table is 128256 x 8192, 4.2 GB as `f32`).

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::{Checkpoint, TensorInfo};
use crate::error::{Error, Result};
use crate::stats::CrossMoments;

/// Samples gathered before they are handed to [`CrossMoments::update`] in one call, so that small tensors (biases,
/// `[d]` vectors) share a GEMM block instead of each paying for a rank-one update.
const BLOCK_ROWS: usize = 2048;

/// Rows of a tensor whose residual axis is the last that are read at a time (`READ_ROWS x d` `f32` per model).
const READ_ROWS: usize = 8192;

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
    cross_moments_in_slices(a, b, opts, READ_ROWS)
}

/// [`weight_cross_moments`], reading residual-last tensors `read_rows` rows at a time (the moments do not depend on
/// it: the samples, their order and the standard deviations' sums are the same).
fn cross_moments_in_slices(
    a: &Path,
    b: &Path,
    opts: WeightOptions,
    read_rows: usize,
) -> Result<CrossMoments> {
    let ca = Checkpoint::open(a)?;
    let cb = Checkpoint::open(b)?;
    let plan = plan(&ca, &cb)?;
    let d = ca.hidden_size()?;
    let mut moments = CrossMoments::new(d, d);
    let mut block = Block::new(d);
    for (name, shape, axis) in &plan {
        let len: usize = shape.iter().product();
        // Rows of `d` entries when the residual axis is the last, else the whole tensor as one slice.
        let (step, cols) = if *axis + 1 == shape.len() {
            (read_rows.max(1).saturating_mul(d), d)
        } else {
            (len.max(1), shape.last().copied().unwrap_or(1).max(1))
        };
        let slices: Vec<(usize, usize)> = (0..len)
            .step_by(step)
            .map(|s| (s, step.min(len - s)))
            .collect();
        if let [(0, count)] = slices[..] {
            // One slice: read each model's tensor once.
            let mut xy = [
                ca.read_f32_range(name, 0, count)?,
                cb.read_f32_range(name, 0, count)?,
            ];
            for (values, ckpt) in xy.iter_mut().zip([&ca, &cb]) {
                let where_ = || format!("{}: tensor {name:?}", ckpt.dir.display());
                let mut spread = Spread::default();
                spread.add(values, cols, 0, where_)?;
                if opts.standardize_per_tensor {
                    scale_by(values, inverse_spread(spread.variance()));
                }
            }
            block.add_tensor(&mut moments, &xy[0], &xy[1], shape, *axis)?;
            continue;
        }
        // Several slices. Standardizing needs each tensor's spread before its first sample is added: one pass over
        // the slices finds it (and any non-finite entry), summing in the lanes of one pass over the whole tensor,
        // so the result does not depend on the slicing. Without standardizing, the finite check rides along with
        // the pass that adds the samples (an error discards the moments).
        let mut inverse = [1f32; 2];
        if opts.standardize_per_tensor {
            for (k, ckpt) in [&ca, &cb].into_iter().enumerate() {
                let where_ = || format!("{}: tensor {name:?}", ckpt.dir.display());
                let mut spread = Spread::default();
                for &(start, count) in &slices {
                    let v = ckpt.read_f32_range(name, start, count)?;
                    spread.add(&v, cols, start / cols, where_)?;
                }
                inverse[k] = inverse_spread(spread.variance());
            }
        }
        for &(start, count) in &slices {
            let mut x = ca.read_f32_range(name, start, count)?;
            let mut y = cb.read_f32_range(name, start, count)?;
            if !opts.standardize_per_tensor {
                for (v, ckpt) in [(&x, &ca), (&y, &cb)] {
                    let where_ = || format!("{}: tensor {name:?}", ckpt.dir.display());
                    check_finite(v, cols, start / cols, where_)?;
                }
            }
            scale_by(&mut x, inverse[0]);
            scale_by(&mut y, inverse[1]);
            block.add_tensor(&mut moments, &x, &y, &[count / d, d], 1)?;
        }
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

/// A non-finite entry of `values` (rows of `cols` entries, the first being row `first_row` of the tensor) as an
/// error naming `what`, its row and column.
fn check_finite(
    values: &[f32],
    cols: usize,
    first_row: usize,
    what: impl FnOnce() -> String,
) -> Result<()> {
    if let Some(k) = crate::finite::first_non_finite(values) {
        return Err(Error::NonFinite {
            what: what(),
            row: first_row + k / cols,
            col: k % cols,
            value: values[k] as f64,
        });
    }
    Ok(())
}

/// Lanes of [`Spread`]'s sums: entry `k` of a tensor goes to lane `k mod LANES`.
const LANES: usize = 8;

/// The variance of a tensor's entries, read whole or in consecutive slices, in one pass: `Σ (v − c)` and
/// `Σ (v − c)²` in `f64` about `c`, the tensor's first entry (so that the shifted sums do not cancel). Each sum is
/// kept in [`LANES`] lanes by the entry's index in the whole tensor, which lets the additions vectorize and makes
/// their order, and so every bit of the result, independent of where the slices end.
#[derive(Default)]
struct Spread {
    shift: Option<f64>,
    sums: [f64; LANES],
    squares: [f64; LANES],
    seen: usize,
}

impl Spread {
    /// Adds `values`, the entries that follow those added so far (rows of `cols`, the first being row `first_row`
    /// of the tensor); a non-finite entry is an error naming `what`, its row and column.
    fn add(
        &mut self,
        values: &[f32],
        cols: usize,
        first_row: usize,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        let Some(&first) = values.first() else {
            return Ok(());
        };
        let c = *self.shift.get_or_insert(first as f64);
        // Entries up to the next multiple of LANES in the tensor's index, then whole lane groups, then the rest.
        let head = ((LANES - self.seen % LANES) % LANES).min(values.len());
        for (j, &v) in values[..head].iter().enumerate() {
            let lane = (self.seen + j) % LANES;
            let u = v as f64 - c;
            self.sums[lane] += u;
            self.squares[lane] += u * u;
        }
        lane_sums(&values[head..], c, &mut self.sums, &mut self.squares);
        self.seen += values.len();
        // Finite entries keep both sums finite (|v − c|² · entries stays far below f64's range); a NaN or an
        // infinity anywhere makes a lane non-finite for good. Only then is the slice searched for it.
        if !self.sums.iter().chain(&self.squares).all(|s| s.is_finite()) {
            check_finite(values, cols, first_row, what)?;
        }
        Ok(())
    }

    /// `Σ (v − mean)² / n` over the entries added (0 for none).
    fn variance(&self) -> f64 {
        if self.seen == 0 {
            return 0.0;
        }
        let n = self.seen as f64;
        let s: f64 = self.sums.iter().sum();
        let q: f64 = self.squares.iter().sum();
        ((q - s * s / n) / n).max(0.0)
    }
}

/// Adds `values` (starting at lane 0) into the lanes: `sums[j] += v − c`, `squares[j] += (v − c)²`.
fn lane_sums(values: &[f32], c: f64, sums: &mut [f64; LANES], squares: &mut [f64; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function enables.
        return unsafe { lane_sums_avx2(values, c, sums, squares) };
    }
    lane_sums_kernel(values, c, sums, squares)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lane_sums_avx2(values: &[f32], c: f64, sums: &mut [f64; LANES], squares: &mut [f64; LANES]) {
    lane_sums_kernel(values, c, sums, squares)
}

/// The kernel of [`lane_sums`]: no fused multiply-add, so every CPU gives the same bits.
#[inline(always)]
fn lane_sums_kernel(values: &[f32], c: f64, sums: &mut [f64; LANES], squares: &mut [f64; LANES]) {
    let groups = values.chunks_exact(LANES);
    let tail = groups.remainder();
    for g in groups {
        for j in 0..LANES {
            let u = g[j] as f64 - c;
            sums[j] += u;
            squares[j] += u * u;
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        let u = v as f64 - c;
        sums[j] += u;
        squares[j] += u * u;
    }
}

/// `1 / sqrt(variance)`, or 1 (leave the tensor as it is) when that is not a positive finite spread.
fn inverse_spread(variance: f64) -> f32 {
    let s = variance.sqrt();
    if s > 0.0 && s.is_finite() {
        (1.0 / s) as f32
    } else {
        1.0
    }
}

fn scale_by(values: &mut [f32], inverse: f32) {
    if inverse != 1.0 {
        values.iter_mut().for_each(|v| *v *= inverse);
    }
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
    fn the_spread_matches_two_passes_and_ignores_the_slicing() {
        // Entries about 3 with a spread of about 1, so that unshifted sums would cancel.
        let v: Vec<f32> = (0..1003)
            .map(|k| 3.0 + ((k * 7919 % 1009) as f32 / 1009.0 - 0.5))
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let two_pass = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let mut whole = Spread::default();
        whole.add(&v, 17, 0, String::new).unwrap();
        assert!(
            (whole.variance() - two_pass).abs() < 1e-12 * two_pass,
            "{}",
            whole.variance()
        );
        // Slices of 5, 3, 11, 1, ... entries: lane boundaries fall anywhere.
        let mut sliced = Spread::default();
        let mut at = 0;
        for len in [5, 3, 11, 1, 8, 16, 7].iter().cycle() {
            if at == v.len() {
                break;
            }
            let end = (at + len).min(v.len());
            sliced.add(&v[at..end], 17, 0, String::new).unwrap();
            at = end;
        }
        assert_eq!(sliced.variance().to_bits(), whole.variance().to_bits());
        assert_eq!(Spread::default().variance(), 0.0);
    }

    #[test]
    fn a_non_finite_entry_is_named_by_its_row_and_column() {
        let mut v = [1f32; 40];
        v[23] = f32::NAN;
        let mut spread = Spread::default();
        spread.add(&v[..16], 4, 0, || "t".into()).unwrap();
        // The second slice starts at row 4 of the tensor; entry 23 is row 5, column 3.
        match spread.add(&v[16..], 4, 4, || "t".into()) {
            Err(Error::NonFinite { row, col, .. }) => assert_eq!((row, col), (5, 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn moments_do_not_depend_on_the_slicing() {
        use crate::init::{write_random, ModelShape};
        let dir = std::env::temp_dir().join(format!("gt-wm-slices-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        let shape = ModelShape::preset("tiny").unwrap();
        write_random(&shape, &a, 1, crate::checkpoint::Dtype::BF16).unwrap();
        write_random(&shape, &b, 2, crate::checkpoint::Dtype::BF16).unwrap();
        for standardize_per_tensor in [true, false] {
            let opts = WeightOptions {
                standardize_per_tensor,
            };
            let whole = cross_moments_in_slices(&a, &b, opts, usize::MAX / 2).unwrap();
            // 7 rows: slices that end inside the embedding table and inside every projection.
            let sliced = cross_moments_in_slices(&a, &b, opts, 7).unwrap();
            assert_eq!(whole.raw(), sliced.raw());
            assert_eq!(whole, weight_cross_moments(&a, &b, opts).unwrap());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
