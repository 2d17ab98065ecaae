//! Streaming cross-moment statistics of two sets of activations and the correlation matrix they give.
//!
//! For paired samples `x ∈ R^{d1}`, `y ∈ R^{d2}` it accumulates `n`, `Σx`, `Σy`, `Σx²`, `Σy²` and `Σ x yᵀ`
//! (`[d1, d2]`, row-major) in `f64`, feeding the cross term from `f32` GEMM blocks, so memory is independent of
//! the number of samples. Moments of disjoint sample sets add, so shards merge associatively.

use crate::error::{Error, Result};

/// Rows per `f32` GEMM block before the block sum is folded into the `f64` totals.
const BLOCK: usize = 2048;

/// Running sums over paired samples.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossMoments {
    d1: usize,
    d2: usize,
    n: u64,
    sum_x: Vec<f64>,
    sum_y: Vec<f64>,
    sum_xx: Vec<f64>,
    sum_yy: Vec<f64>,
    sum_xy: Vec<f64>,
}

impl CrossMoments {
    /// Empty moments for `d1`-dimensional `x` and `d2`-dimensional `y`.
    pub fn new(d1: usize, d2: usize) -> Self {
        Self {
            d1,
            d2,
            n: 0,
            sum_x: vec![0.0; d1],
            sum_y: vec![0.0; d2],
            sum_xx: vec![0.0; d1],
            sum_yy: vec![0.0; d2],
            sum_xy: vec![0.0; d1 * d2],
        }
    }

    /// Number of samples seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Adds `rows` paired samples: `x` is row-major `[rows, d1]`, `y` is `[rows, d2]`.
    pub fn update(&mut self, x: &[f32], y: &[f32], rows: usize) -> Result<()> {
        let (d1, d2) = (self.d1, self.d2);
        if x.len() != rows * d1 || y.len() != rows * d2 {
            return Err(Error::shape(
                "activations",
                format!("x of {rows} x {d1} and y of {rows} x {d2}"),
                format!("{} and {} elements", x.len(), y.len()),
            ));
        }
        if let Some(k) = x.iter().chain(y).position(|v| !v.is_finite()) {
            let (which, k, d) = if k < x.len() {
                ("x", k, d1)
            } else {
                ("y", k - x.len(), d2)
            };
            return Err(Error::NonFinite {
                what: format!("activations {which}"),
                row: k / d,
                col: k % d,
                value: if which == "x" {
                    x[k] as f64
                } else {
                    y[k] as f64
                },
            });
        }
        let mut block = vec![0f32; d1 * d2];
        for start in (0..rows).step_by(BLOCK) {
            let r = BLOCK.min(rows - start);
            let xb = &x[start * d1..(start + r) * d1];
            let yb = &y[start * d2..(start + r) * d2];
            // block = xbᵀ · yb: [d1, r] x [r, d2].
            // SAFETY: the pointers cover xb ([r, d1] read as [d1, r] with strides 1, d1), yb ([r, d2]) and
            // block ([d1, d2]), all checked above; matrixmultiply reads and writes only within those extents.
            unsafe {
                matrixmultiply::sgemm(
                    d1,
                    r,
                    d2,
                    1.0,
                    xb.as_ptr(),
                    1,
                    d1 as isize,
                    yb.as_ptr(),
                    d2 as isize,
                    1,
                    0.0,
                    block.as_mut_ptr(),
                    d2 as isize,
                    1,
                );
            }
            for (acc, &b) in self.sum_xy.iter_mut().zip(&block) {
                *acc += b as f64;
            }
        }
        for row in x.chunks_exact(d1) {
            for ((s, q), &v) in self.sum_x.iter_mut().zip(&mut self.sum_xx).zip(row) {
                *s += v as f64;
                *q += (v as f64) * (v as f64);
            }
        }
        for row in y.chunks_exact(d2) {
            for ((s, q), &v) in self.sum_y.iter_mut().zip(&mut self.sum_yy).zip(row) {
                *s += v as f64;
                *q += (v as f64) * (v as f64);
            }
        }
        self.n += rows as u64;
        Ok(())
    }

    /// Adds the moments of a disjoint set of samples.
    pub fn merge(&mut self, other: &CrossMoments) -> Result<()> {
        if (self.d1, self.d2) != (other.d1, other.d2) {
            return Err(Error::shape(
                "moments",
                format!("{} x {}", self.d1, self.d2),
                format!("{} x {}", other.d1, other.d2),
            ));
        }
        self.n += other.n;
        for (a, b) in [
            (&mut self.sum_x, &other.sum_x),
            (&mut self.sum_y, &other.sum_y),
            (&mut self.sum_xx, &other.sum_xx),
            (&mut self.sum_yy, &other.sum_yy),
            (&mut self.sum_xy, &other.sum_xy),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        Ok(())
    }

    /// Pearson correlations `[d1, d2]`, row-major. A coordinate with zero variance correlates 0 with everything.
    pub fn correlation(&self) -> Result<Vec<f32>> {
        if self.n < 2 {
            return Err(Error::invalid(
                "moments",
                format!("{} samples; a correlation needs at least 2", self.n),
            ));
        }
        let n = self.n as f64;
        let inv_std = |s: &[f64], q: &[f64]| -> Vec<f64> {
            s.iter()
                .zip(q)
                .map(|(&s, &q)| {
                    let var = (q - s * s / n).max(0.0);
                    if var > 0.0 {
                        1.0 / var.sqrt()
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let (ix, iy) = (
            inv_std(&self.sum_x, &self.sum_xx),
            inv_std(&self.sum_y, &self.sum_yy),
        );
        let mut c = vec![0f32; self.d1 * self.d2];
        for i in 0..self.d1 {
            let mx = self.sum_x[i] / n;
            for j in 0..self.d2 {
                let cov = self.sum_xy[i * self.d2 + j] - mx * self.sum_y[j];
                c[i * self.d2 + j] = (cov * ix[i] * iy[j]).clamp(-1.0, 1.0) as f32;
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn naive_corr(x: &[f32], y: &[f32], n: usize, d1: usize, d2: usize, i: usize, j: usize) -> f64 {
        let xs: Vec<f64> = (0..n).map(|r| x[r * d1 + i] as f64).collect();
        let ys: Vec<f64> = (0..n).map(|r| y[r * d2 + j] as f64).collect();
        let (mx, my) = (
            xs.iter().sum::<f64>() / n as f64,
            ys.iter().sum::<f64>() / n as f64,
        );
        let cov: f64 = xs.iter().zip(&ys).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f64 = xs.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f64 = ys.iter().map(|b| (b - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    }

    #[test]
    fn matches_the_two_pass_formula_and_merges() {
        let (n, d1, d2) = (3000, 5, 7);
        let mut rng = SplitMix64::new(1);
        let mut x = vec![0f32; n * d1];
        let mut y = vec![0f32; n * d2];
        rng.fill_normal(&mut x);
        rng.fill_normal(&mut y);
        for r in 0..n {
            y[r * d2 + 3] += 2.0 * x[r * d1 + 1] + 0.5;
        }
        let mut whole = CrossMoments::new(d1, d2);
        whole.update(&x, &y, n).unwrap();
        let mut a = CrossMoments::new(d1, d2);
        a.update(&x[..1000 * d1], &y[..1000 * d2], 1000).unwrap();
        let mut b = CrossMoments::new(d1, d2);
        b.update(&x[1000 * d1..], &y[1000 * d2..], n - 1000)
            .unwrap();
        a.merge(&b).unwrap();
        let (c, cm) = (whole.correlation().unwrap(), a.correlation().unwrap());
        for i in 0..d1 {
            for j in 0..d2 {
                let want = naive_corr(&x, &y, n, d1, d2, i, j);
                assert!((c[i * d2 + j] as f64 - want).abs() < 1e-5, "({i},{j})");
                assert!(
                    (cm[i * d2 + j] as f64 - want).abs() < 1e-5,
                    "merged ({i},{j})"
                );
            }
        }
    }

    #[test]
    fn rejects_non_finite_and_bad_shapes() {
        let mut m = CrossMoments::new(2, 2);
        assert_eq!(
            m.update(&[0.0; 3], &[0.0; 4], 2).unwrap_err().code(),
            "SHAPE_MISMATCH"
        );
        let e = m
            .update(&[0.0, 0.0, 0.0, f32::NAN], &[0.0; 4], 2)
            .unwrap_err();
        assert_eq!(e.code(), "NON_FINITE");
        assert!(e.to_string().contains("(1, 1)"), "{e}");
    }
}
