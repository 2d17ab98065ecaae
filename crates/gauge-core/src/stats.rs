//! Streaming cross-moment statistics of two sets of activations and the correlation matrix they give.
//!
//! For paired samples `x ∈ R^{d1}`, `y ∈ R^{d2}` it accumulates `n` and the moments of the *shifted* data
//! `u = x − a`, `v = y − b`: `Σu`, `Σv`, `Σu²`, `Σv²` and `Σ u vᵀ` (`[d1, d2]`, row-major), all in `f64`. The
//! cross term comes from `f32` GEMM blocks (the `gemm` crate, parallel over the rayon pool) accumulated in an
//! `f32` matrix for up to [`FOLD_ROWS`] rows and then folded into the `f64` totals, so memory is independent of
//! the number of samples and the `f64` fold costs about 1% of the GEMM however the rows are batched.
//!
//! # Why a shift
//! Residual streams have coordinates with means far larger than their spread (a mean of 100 with a standard
//! deviation of 1 is common). Raw sums give the covariance as `Σxyᵀ − n·x̄ȳᵀ`, a difference of two numbers that
//! agree in their leading digits, and an `f32` product of unshifted data loses the covariance entirely. The shift
//! `a` (likewise `b`) is the per-coordinate mean of the first 2048 rows ever added (the moments are re-centred,
//! exactly, while those arrive in small updates), rounded to a multiple of the largest power of two not above
//! their standard deviation: within half a standard deviation of the
//! mean, so the cancellation costs under one bit, while the shifted values keep few significant bits, so data
//! that are exact in `f32` (small integers, say) stay exact, and so do the sums of their products.
//!
//! # Merging
//! Moments of disjoint sample sets merge associatively and commutatively: [`CrossMoments::merge`] re-expresses
//! both operands about one shift (that of the operand with more samples) with the binomial identities (`Σ(u+δ) = Σu + nδ`,
//! `Σ(u+δ)² = Σu² + 2δΣu + nδ²`, `Σ(u+δ)(v+ε)ᵀ = Σuvᵀ + δ(Σv)ᵀ + (Σu)εᵀ + nδεᵀ`), exact up to `f64` rounding
//! (the shift differences are exact: both shifts are `f32` values), and adds them. Shift-independent quantities
//! (means, covariances, correlations) do not depend on the order of merges beyond that rounding.

use rayon::prelude::*;

use crate::assignment::{check_cancel, Cancel};
use crate::error::{Error, Result};

/// Rows per shifted `f32` block handed to the GEMM (the scratch holds `BLOCK·(d1 + d2)` floats).
const BLOCK: usize = 2048;
/// Rows summed in the `f32` product before it is folded into the `f64` totals. Shifted data keep the `f32`
/// partial sums near `sqrt(rows)` standard deviations, so their rounding stays near `1e-8` of the final `Σuvᵀ`.
pub const FOLD_ROWS: usize = 8192;
/// Elements per parallel task when folding.
const CHUNK: usize = 1 << 16;
/// A centred second moment at most this fraction of the second moment about the shift is rounding: the
/// coordinate is constant.
const CONSTANT: f64 = 1e-12;

/// Running moments over paired samples.
#[derive(Debug, Clone)]
pub struct CrossMoments {
    d1: usize,
    d2: usize,
    n: u64,
    shift_x: Vec<f32>,
    shift_y: Vec<f32>,
    sum_x: Vec<f64>,
    sum_y: Vec<f64>,
    sum_xx: Vec<f64>,
    sum_yy: Vec<f64>,
    sum_xy: Vec<f64>,
    /// `Σuvᵀ` of the last `pending` rows, not yet in `sum_xy` (allocated on the first update).
    acc: Vec<f32>,
    pending: usize,
}

/// The raw state of [`CrossMoments`], for serialisation: the shifts and the sums of the data minus the shift.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMoments {
    /// Number of samples.
    pub n: u64,
    /// Shift of `x` (`[d1]`).
    pub shift_x: Vec<f32>,
    /// Shift of `y` (`[d2]`).
    pub shift_y: Vec<f32>,
    /// `Σ(x − shift_x)` (`[d1]`).
    pub sum_x: Vec<f64>,
    /// `Σ(y − shift_y)` (`[d2]`).
    pub sum_y: Vec<f64>,
    /// `Σ(x − shift_x)²` (`[d1]`).
    pub sum_xx: Vec<f64>,
    /// `Σ(y − shift_y)²` (`[d2]`).
    pub sum_yy: Vec<f64>,
    /// `Σ(x − shift_x)(y − shift_y)ᵀ` (`[d1, d2]`, row-major).
    pub sum_xy: Vec<f64>,
}

/// Equal raw state (the same samples added in different batches may differ by `f32` rounding).
impl PartialEq for CrossMoments {
    fn eq(&self, other: &Self) -> bool {
        (self.d1, self.d2) == (other.d1, other.d2) && self.raw() == other.raw()
    }
}

impl CrossMoments {
    /// Empty moments for `d1`-dimensional `x` and `d2`-dimensional `y`.
    pub fn new(d1: usize, d2: usize) -> Self {
        Self {
            sum_xy: vec![0.0; d1 * d2],
            ..Self::new_vectors(d1, d2)
        }
    }

    /// [`CrossMoments::new`] for dimensions that come from a caller: `INVALID_ARGUMENT` when `d1 · d2` overflows
    /// or the `d1 x d2` sums (`f64`) and their `f32` accumulator cannot be allocated, where `new` would abort the
    /// process. The accumulator is allocated here rather than on the first update.
    pub fn try_new(d1: usize, d2: usize) -> Result<Self> {
        let cells = d1.checked_mul(d2).ok_or_else(|| {
            Error::invalid(
                "moments",
                format!("{d1} x {d2} does not fit in memory arithmetic"),
            )
        })?;
        Ok(Self {
            sum_xy: zeros(cells, "moments")?,
            acc: zeros(cells, "moments")?,
            ..Self::new_vectors(d1, d2)
        })
    }

    /// Empty moments with the per-coordinate vectors allocated and the `d1 x d2` buffers empty.
    fn new_vectors(d1: usize, d2: usize) -> Self {
        Self {
            d1,
            d2,
            n: 0,
            shift_x: vec![0.0; d1],
            shift_y: vec![0.0; d2],
            sum_x: vec![0.0; d1],
            sum_y: vec![0.0; d2],
            sum_xx: vec![0.0; d1],
            sum_yy: vec![0.0; d2],
            sum_xy: Vec::new(),
            acc: Vec::new(),
            pending: 0,
        }
    }

    /// Moments from their raw state, validating every length; `what` names the source in errors.
    pub fn from_raw(d1: usize, d2: usize, raw: RawMoments, what: &str) -> Result<Self> {
        for (name, len, want) in [
            ("shift_x", raw.shift_x.len(), d1),
            ("shift_y", raw.shift_y.len(), d2),
            ("sum_x", raw.sum_x.len(), d1),
            ("sum_y", raw.sum_y.len(), d2),
            ("sum_xx", raw.sum_xx.len(), d1),
            ("sum_yy", raw.sum_yy.len(), d2),
            ("sum_xy", raw.sum_xy.len(), d1 * d2),
        ] {
            if len != want {
                return Err(Error::shape(
                    format!("{what} {name}"),
                    format!("{want} values"),
                    format!("{len}"),
                ));
            }
        }
        Ok(Self {
            d1,
            d2,
            n: raw.n,
            shift_x: raw.shift_x,
            shift_y: raw.shift_y,
            sum_x: raw.sum_x,
            sum_y: raw.sum_y,
            sum_xx: raw.sum_xx,
            sum_yy: raw.sum_yy,
            sum_xy: raw.sum_xy,
            acc: Vec::new(),
            pending: 0,
        })
    }

    /// The raw state (sums about the shifts, with pending `f32` rows folded in), for serialisation.
    pub fn raw(&self) -> RawMoments {
        let mut sum_xy = self.sum_xy.clone();
        if self.pending > 0 {
            fold(&mut sum_xy, &self.acc);
        }
        RawMoments {
            n: self.n,
            shift_x: self.shift_x.clone(),
            shift_y: self.shift_y.clone(),
            sum_x: self.sum_x.clone(),
            sum_y: self.sum_y.clone(),
            sum_xx: self.sum_xx.clone(),
            sum_yy: self.sum_yy.clone(),
            sum_xy,
        }
    }

    /// `(d1, d2)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.d1, self.d2)
    }

    /// Number of samples seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The shifts of `x` and `y` that the sums are taken about (zeros while empty).
    pub fn shifts(&self) -> (&[f32], &[f32]) {
        (&self.shift_x, &self.shift_y)
    }

    /// Adds `rows` paired samples: `x` is row-major `[rows, d1]`, `y` is `[rows, d2]`.
    ///
    /// All or nothing: on an error (wrong lengths; a NaN or infinity, named by its row and column; values so
    /// large that `f32` products would overflow) the moments are unchanged.
    ///
    /// Memory: scratch of `min(rows, 2048)·(d1 + d2)` floats, and for calls of more than 2048 rows (or while
    /// the first 2048 rows are still arriving) a copy of the state to restore on error.
    pub fn update(&mut self, x: &[f32], y: &[f32], rows: usize) -> Result<()> {
        let (d1, d2) = (self.d1, self.d2);
        if rows.checked_mul(d1) != Some(x.len()) || rows.checked_mul(d2) != Some(y.len()) {
            return Err(Error::shape(
                "activations",
                format!("x of {rows} x {d1} and y of {rows} x {d2}"),
                format!("{} and {} elements", x.len(), y.len()),
            ));
        }
        if rows == 0 {
            return Ok(());
        }
        // Errors are found block by block (while shifting, at no extra pass over the data); a call that could
        // change the state before finding one keeps a copy to restore.
        let backup = (rows > BLOCK || self.n < BLOCK as u64).then(|| self.clone());
        let result = self.add_rows(x, y, rows);
        if let (Err(_), Some(backup)) = (&result, backup) {
            *self = backup;
        }
        result
    }

    fn add_rows(&mut self, x: &[f32], y: &[f32], rows: usize) -> Result<()> {
        let (d1, d2) = (self.d1, self.d2);
        // The first BLOCK rows ever added fix the shift: an update that completes them re-centres the moments
        // about their mean (exact: see `translate`); later updates keep it. (A non-finite value here makes a
        // NaN shift, and the error below.)
        if self.n < BLOCK as u64 {
            let first = (BLOCK - self.n as usize).min(rows);
            let (mx, my) = self.means();
            let (sx, sy) = self.stds();
            let shift_x = first_block_shift(&x[..first * d1], d1, self.n, &mx, &sx);
            let shift_y = first_block_shift(&y[..first * d2], d2, self.n, &my, &sy);
            self.translate(&shift_x, &shift_y);
        }
        let max_shift = |s: &[f32]| s.iter().fold(0f64, |a, &v| a.max(v.abs() as f64));
        let (ax, ay) = (max_shift(&self.shift_x), max_shift(&self.shift_y));
        if self.acc.len() != d1 * d2 {
            self.acc = vec![0f32; d1 * d2];
        }
        let mut xs = vec![0f32; BLOCK.min(rows) * d1];
        let mut ys = vec![0f32; BLOCK.min(rows) * d2];
        for start in (0..rows).step_by(BLOCK) {
            let r = BLOCK.min(rows - start);
            let (xb, yb) = (
                &x[start * d1..(start + r) * d1],
                &y[start * d2..(start + r) * d2],
            );
            let (xs, ys) = (&mut xs[..r * d1], &mut ys[..r * d2]);
            let ((sx, sxx, mx), (sy, syy, my)) = rayon::join(
                || shift_block(xb, &self.shift_x, xs),
                || shift_block(yb, &self.shift_y, ys),
            );
            for (block, max, d, what) in
                [(xb, mx, d1, "activations x"), (yb, my, d2, "activations y")]
            {
                if !max.is_finite() {
                    let k = block
                        .iter()
                        .position(|v| !v.is_finite())
                        .expect("a non-finite value exists");
                    return Err(Error::NonFinite {
                        what: what.into(),
                        row: start + k / d,
                        col: k % d,
                        value: block[k] as f64,
                    });
                }
            }
            // |x − a| ≤ max|x| + max|a|; the f32 sums of up to FOLD_ROWS products must stay finite.
            let (bu, bv) = (mx as f64 + ax, my as f64 + ay);
            if bu * bv * FOLD_ROWS as f64 > f32::MAX as f64 / 2.0 {
                return Err(Error::invalid(
                    "activations",
                    format!(
                        "values up to {bu:e} (x) and {bv:e} (y) after shifting would overflow the f32 block products"
                    ),
                ));
            }
            add(&mut self.sum_x, &sx);
            add(&mut self.sum_xx, &sxx);
            add(&mut self.sum_y, &sy);
            add(&mut self.sum_yy, &syy);
            // acc (+)= xsᵀ · ys: [d1, r] x [r, d2], row-major acc.
            // SAFETY: xs is [r, d1] row-major, read as the [d1, r] matrix with row stride 1 and column stride d1;
            // ys is [r, d2] with row stride d2 and column stride 1; acc is [d1, d2] with row stride d2. The
            // buffers hold exactly those extents, and gemm reads and writes nothing else.
            unsafe {
                gemm::gemm(
                    d1,
                    d2,
                    r,
                    self.acc.as_mut_ptr(),
                    1,
                    d2 as isize,
                    self.pending > 0,
                    xs.as_ptr(),
                    d1 as isize,
                    1,
                    ys.as_ptr(),
                    1,
                    d2 as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                );
            }
            self.pending += r;
            self.n += r as u64;
            if self.pending >= FOLD_ROWS {
                self.fold_pending();
            }
        }
        Ok(())
    }

    /// Whether the shifts are fixed (the first 2048 rows have arrived), so that sums about them can be computed
    /// elsewhere and added with [`CrossMoments::add_shifted_sums`].
    pub fn shifts_fixed(&self) -> bool {
        self.n >= BLOCK as u64
    }

    /// Adds `rows` samples given by their sums about the current shifts `a`, `b` (see
    /// [`CrossMoments::shifts`]), computed elsewhere, for instance on the accelerator the activations live on:
    /// `Σu` and `Σu²` (`[d1]`), `Σv` and `Σv²` (`[d2]`), and the `f32` block product `Σuvᵀ` (`[d1, d2]`,
    /// row-major) of at most [`FOLD_ROWS`] rows, with `u = x − a`, `v = y − b`. The shifts must be fixed.
    ///
    /// All or nothing: a sum that is not finite (a NaN or infinity among the rows, or products that overflowed
    /// `f32`) is an error naming the coordinate, and the moments are unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn add_shifted_sums(
        &mut self,
        rows: usize,
        sum_u: &[f64],
        sum_v: &[f64],
        sum_uu: &[f64],
        sum_vv: &[f64],
        sum_uv: &[f32],
    ) -> Result<()> {
        let (d1, d2) = (self.d1, self.d2);
        if !self.shifts_fixed() {
            return Err(Error::invalid(
                "moments",
                format!(
                    "sums about the shifts need the shifts fixed: {} of the first {BLOCK} rows have arrived",
                    self.n
                ),
            ));
        }
        if rows > FOLD_ROWS {
            return Err(Error::invalid(
                "shifted sums",
                format!("{rows} rows in one f32 block product; at most {FOLD_ROWS}"),
            ));
        }
        for (name, len, want) in [
            ("Σu", sum_u.len(), d1),
            ("Σv", sum_v.len(), d2),
            ("Σu²", sum_uu.len(), d1),
            ("Σv²", sum_vv.len(), d2),
            ("Σuvᵀ", sum_uv.len(), d1 * d2),
        ] {
            if len != want {
                return Err(Error::shape(
                    format!("shifted sums {name}"),
                    format!("{want} values"),
                    format!("{len}"),
                ));
            }
        }
        for (what, sums, d) in [
            ("activations x", [sum_u, sum_uu], d1),
            ("activations y", [sum_v, sum_vv], d2),
        ] {
            for s in sums {
                if let Some(k) = s.iter().position(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        what,
                        format!("coordinate {k} of {d}: a sum over the block is {}, so a value is not finite", s[k]),
                    ));
                }
            }
        }
        if let Some(k) = sum_uv.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "activations",
                format!(
                    "the f32 block product overflowed at ({}, {}); values after shifting are too large",
                    k / d2,
                    k % d2
                ),
            ));
        }
        if rows == 0 {
            return Ok(());
        }
        self.fold_pending();
        add(&mut self.sum_x, sum_u);
        add(&mut self.sum_xx, sum_uu);
        add(&mut self.sum_y, sum_v);
        add(&mut self.sum_yy, sum_vv);
        fold(&mut self.sum_xy, sum_uv);
        self.n += rows as u64;
        Ok(())
    }

    fn fold_pending(&mut self) {
        if self.pending > 0 {
            fold(&mut self.sum_xy, &self.acc);
            self.pending = 0;
        }
    }

    /// Row `i` of `Σuvᵀ`: the `f64` totals and, when rows are pending, their `f32` part.
    fn xy_row(&self, i: usize) -> (&[f64], Option<&[f32]>) {
        let r = i * self.d2..(i + 1) * self.d2;
        (
            &self.sum_xy[r.clone()],
            (self.pending > 0).then(|| &self.acc[r]),
        )
    }

    /// Re-expresses the sums about new shifts: with `δ = a − a'`, the data about `a'` are `u + δ`, so
    /// `Σ(u+δ) = Σu + nδ`, `Σ(u+δ)² = Σu² + 2δΣu + nδ²` and `Σ(u+δ)(v+ε)ᵀ = Σuvᵀ + δ(Σv)ᵀ + (Σu)εᵀ + nδεᵀ`.
    /// The differences of `f32` shifts are exact in `f64`.
    fn translate(&mut self, shift_x: &[f32], shift_y: &[f32]) {
        if (shift_x, shift_y) == (&self.shift_x[..], &self.shift_y[..]) {
            return;
        }
        self.fold_pending();
        if self.n > 0 {
            let n = self.n as f64;
            let delta = |old: &[f32], new: &[f32]| -> Vec<f64> {
                old.iter()
                    .zip(new)
                    .map(|(&o, &a)| o as f64 - a as f64)
                    .collect()
            };
            let (dx, dy) = (delta(&self.shift_x, shift_x), delta(&self.shift_y, shift_y));
            let (sum_x, sum_y, d2) = (&self.sum_x, &self.sum_y, self.d2);
            self.sum_xy
                .par_chunks_mut(d2.max(1))
                .enumerate()
                .for_each(|(i, t)| {
                    let (dxi, sxi) = (dx[i], sum_x[i]);
                    for j in 0..d2 {
                        t[j] += dxi * sum_y[j] + sxi * dy[j] + n * dxi * dy[j];
                    }
                });
            for (s, q, d) in [
                (&mut self.sum_x, &mut self.sum_xx, &dx),
                (&mut self.sum_y, &mut self.sum_yy, &dy),
            ] {
                for k in 0..s.len() {
                    q[k] += 2.0 * d[k] * s[k] + n * d[k] * d[k];
                    s[k] += n * d[k];
                }
            }
        }
        self.shift_x = shift_x.to_vec();
        self.shift_y = shift_y.to_vec();
    }

    /// Adds the moments of a disjoint set of samples. Both are re-expressed about the shift of the one with more
    /// samples (this one's on a tie; see [`CrossMoments::translate`]), then added.
    pub fn merge(&mut self, other: &CrossMoments) -> Result<()> {
        if (self.d1, self.d2) != (other.d1, other.d2) {
            return Err(Error::shape(
                "moments",
                format!("{} x {}", self.d1, self.d2),
                format!("{} x {}", other.d1, other.d2),
            ));
        }
        if other.n == 0 {
            return Ok(());
        }
        let mut other = other.clone();
        self.fold_pending();
        other.fold_pending();
        if other.n > self.n {
            self.translate(&other.shift_x.clone(), &other.shift_y.clone());
        } else {
            other.translate(&self.shift_x, &self.shift_y);
        }
        fold_f64(&mut self.sum_xy, &other.sum_xy);
        add(&mut self.sum_x, &other.sum_x);
        add(&mut self.sum_xx, &other.sum_xx);
        add(&mut self.sum_y, &other.sum_y);
        add(&mut self.sum_yy, &other.sum_yy);
        self.n += other.n;
        Ok(())
    }

    /// Per-coordinate means of `x` and `y` (zeros while empty).
    pub fn means(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n.max(1) as f64;
        let mean = |shift: &[f32], s: &[f64]| -> Vec<f64> {
            shift
                .iter()
                .zip(s)
                .map(|(&a, &s)| a as f64 + s / n)
                .collect()
        };
        (
            mean(&self.shift_x, &self.sum_x),
            mean(&self.shift_y, &self.sum_y),
        )
    }

    /// Per-coordinate population standard deviations (divisor `n`) of `x` and `y`; a constant coordinate (see
    /// [`CrossMoments::correlation`]) gives 0, and so does every coordinate while empty.
    pub fn stds(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n.max(1) as f64;
        let std = |s: &[f64], q: &[f64]| -> Vec<f64> {
            centred(s, q, self.n)
                .into_iter()
                .map(|c| (c / n).sqrt())
                .collect()
        };
        (
            std(&self.sum_x, &self.sum_xx),
            std(&self.sum_y, &self.sum_yy),
        )
    }

    /// Population covariances `cov(x_i, y_j)` (divisor `n`), `[d1, d2]` row-major, in `f64` (zeros while empty).
    pub fn covariance(&self) -> Vec<f64> {
        let n = self.n.max(1) as f64;
        let mut c = vec![0f64; self.d1 * self.d2];
        // Without a flag nothing can abort it.
        let _ = self.map_centred_cross(&mut c, None, |_, _, cross| cross / n);
        c
    }

    /// Fills `out` (`[d1, d2]` row-major) with `f(i, j, Σ_t (x_ti − mean x_i) y_tj)`, the centred cross sum that
    /// covariances and correlations scale, rows in parallel.
    /// `cancel` is polled before every row.
    fn map_centred_cross<T: Send>(
        &self,
        out: &mut [T],
        cancel: Cancel<'_>,
        f: impl Fn(usize, usize, f64) -> T + Sync,
    ) -> Result<()> {
        let n = self.n.max(1) as f64;
        let d2 = self.d2;
        out.par_chunks_mut(d2.max(1))
            .enumerate()
            .try_for_each(|(i, row)| {
                check_cancel(cancel)?;
                let (s, pending) = self.xy_row(i);
                let mx = self.sum_x[i] / n;
                for j in 0..d2 {
                    let sxy = s[j] + pending.map_or(0.0, |p| p[j] as f64);
                    row[j] = f(i, j, sxy - mx * self.sum_y[j]);
                }
                Ok(())
            })
    }

    /// Pearson correlations `corr(x_i, y_j)`, `[d1, d2]` row-major, clamped to `[-1, 1]`. Needs 2 samples.
    ///
    /// A coordinate with zero variance correlates 0 with everything: its row (a coordinate of `x`) or column
    /// (of `y`) is all zeros. "Zero" means its centred second moment is at most `1e-12` of its second moment
    /// about the shift, i.e. it is constant up to rounding.
    pub fn correlation(&self) -> Result<Vec<f32>> {
        self.correlation_cancellable(None)
    }

    /// [`Self::correlation`], polling `cancel` before every row (`ABORTED` once it is raised): at d = 4096 the
    /// whole matrix takes tens of milliseconds.
    pub fn correlation_cancellable(&self, cancel: Cancel<'_>) -> Result<Vec<f32>> {
        if self.n < 2 {
            return Err(Error::invalid(
                "moments",
                format!("{} samples; a correlation needs at least 2", self.n),
            ));
        }
        let inv_std = |s: &[f64], q: &[f64]| -> Vec<f64> {
            centred(s, q, self.n)
                .into_iter()
                .map(|c| if c > 0.0 { 1.0 / c.sqrt() } else { 0.0 })
                .collect()
        };
        let (ix, iy) = (
            inv_std(&self.sum_x, &self.sum_xx),
            inv_std(&self.sum_y, &self.sum_yy),
        );
        let mut c = zeros(self.d1 * self.d2, "correlation")?;
        self.map_centred_cross(&mut c, cancel, |i, j, cross| {
            (cross * ix[i] * iy[j]).clamp(-1.0, 1.0) as f32
        })?;
        Ok(c)
    }
}

/// `n` zeros, or `INVALID_ARGUMENT` naming `what` when the allocator refuses them (instead of aborting).
fn zeros<T: Clone + Default>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::invalid(
            what,
            format!(
                "{n} values ({} bytes) cannot be allocated",
                n.saturating_mul(std::mem::size_of::<T>())
            ),
        )
    })?;
    v.resize(n, T::default());
    Ok(v)
}

/// Centred second moments `Σ(u − ū)²` from `Σu` and `Σu²`; values at rounding level (a constant coordinate)
/// are 0.
fn centred(s: &[f64], q: &[f64], n: u64) -> Vec<f64> {
    s.iter()
        .zip(q)
        .map(|(&s, &q)| {
            if n == 0 {
                return 0.0;
            }
            let c = q - s * s / n as f64;
            if c > CONSTANT * q {
                c
            } else {
                0.0
            }
        })
        .collect()
}

fn add(a: &mut [f64], b: &[f64]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
}

/// `total += block`, in parallel.
fn fold(total: &mut [f64], block: &[f32]) {
    total
        .par_chunks_mut(CHUNK)
        .zip(block.par_chunks(CHUNK))
        .for_each(|(t, b)| {
            for (t, &b) in t.iter_mut().zip(b) {
                *t += b as f64;
            }
        });
}

/// `total += other`, in parallel.
fn fold_f64(total: &mut [f64], other: &[f64]) {
    total
        .par_chunks_mut(CHUNK)
        .zip(other.par_chunks(CHUNK))
        .for_each(|(t, o)| add(t, o));
}

/// Per coordinate: the mean of the rows seen so far (`n`, with `mean` and population `std`) and of `block`,
/// rounded to a multiple of `q = 2^⌊log2 σ⌋` (σ: their standard deviation), or just to `f32` when σ is 0 or `q`
/// is below the mean's own `f32` precision.
fn first_block_shift(block: &[f32], d: usize, n: u64, mean: &[f64], std: &[f64]) -> Vec<f32> {
    if d == 0 {
        return Vec::new();
    }
    let rows = block.len() / d;
    let mut sum = vec![0f64; d];
    for row in block.chunks_exact(d) {
        add_f32(&mut sum, row);
    }
    let block_mean: Vec<f64> = sum.iter().map(|s| s / rows as f64).collect();
    let mut m2 = vec![0f64; d];
    for row in block.chunks_exact(d) {
        for ((s, &v), &m) in m2.iter_mut().zip(row).zip(&block_mean) {
            *s += (v as f64 - m) * (v as f64 - m);
        }
    }
    // Chan et al.: combine (n, mean, std) with the block's (rows, mean, m2).
    let (n, r) = (n as f64, rows as f64);
    (0..d)
        .map(|k| {
            let delta = block_mean[k] - mean[k];
            let m = mean[k] + delta * r / (n + r);
            let m2 = m2[k] + std[k] * std[k] * n + delta * delta * n * r / (n + r);
            grid_shift(m, (m2 / (n + r)).sqrt())
        })
        .collect()
}

/// `m` rounded to a multiple of the largest power of two not above `sd`, or to `f32` when that grid is finer.
fn grid_shift(m: f64, sd: f64) -> f32 {
    if sd.is_nan() || sd <= 0.0 {
        return m as f32;
    }
    let q = 2f64.powi(sd.log2().floor() as i32);
    if q <= m.abs() * f32::EPSILON as f64 || q < f32::MIN_POSITIVE as f64 {
        m as f32
    } else {
        ((m / q).round() * q) as f32
    }
}

fn add_f32(a: &mut [f64], b: &[f32]) {
    for (a, &b) in a.iter_mut().zip(b) {
        *a += b as f64;
    }
}

/// Writes `block − shift` (row-wise, rounded to `f32`) into `out`; returns the exact differences' `f64` column
/// sums and sums of squares, and the largest `|v|` of `block` (NaN or infinite when `block` holds such a value).
fn shift_block(block: &[f32], shift: &[f32], out: &mut [f32]) -> (Vec<f64>, Vec<f64>, f32) {
    let d = shift.len();
    if d == 0 {
        return (Vec::new(), Vec::new(), 0.0);
    }
    let rows = block.len() / d;
    let per_task = rows.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let a: Vec<f64> = shift.iter().map(|&v| v as f64).collect();
    let zero = || (vec![0f64; d], vec![0f64; d], 0u32);
    let (s, q, bits) = out
        .par_chunks_mut(per_task * d)
        .zip(block.par_chunks(per_task * d))
        .map(|(o, b)| {
            let (mut s, mut q, _) = zero();
            let bits = shift_rows(b, shift, &a, o, &mut s, &mut q);
            (s, q, bits)
        })
        .reduce(zero, |(mut s, mut q, b), (s2, q2, b2)| {
            add(&mut s, &s2);
            add(&mut q, &q2);
            (s, q, b.max(b2))
        });
    (s, q, f32::from_bits(bits))
}

/// Columns per tile of [`shift_rows`]: the tile's `f64` sums stay in L1 while the rows stream past.
const TILE: usize = 256;

/// [`shift_block`] on some rows, one thread: adds into `s`, `q`; returns the largest magnitude's bits. `a` is
/// the shift in `f64`. Four rows at a time, so the `f64` sums are loaded and stored once per four values.
#[inline(always)]
fn shift_rows_kernel(
    block: &[f32],
    shift: &[f32],
    a: &[f64],
    out: &mut [f32],
    s: &mut [f64],
    q: &mut [f64],
) -> u32 {
    let d = shift.len();
    let mut bits = 0u32;
    let mut one = |b: f32, a32: f32, a: f64, o: &mut f32| -> f64 {
        bits = bits.max(b.to_bits() & 0x7fff_ffff);
        // The f32 difference is the exact one rounded once, like `(b as f64 - a) as f32`.
        *o = b - a32;
        b as f64 - a
    };
    for c0 in (0..d).step_by(TILE) {
        let w = TILE.min(d - c0);
        let cols = c0..c0 + w;
        let (a32, a, s, q) = (
            &shift[cols.clone()],
            &a[cols.clone()],
            &mut s[cols.clone()],
            &mut q[cols.clone()],
        );
        let mut b4 = block.chunks_exact(4 * d);
        let mut o4 = out.chunks_exact_mut(4 * d);
        for (b, o) in (&mut b4).zip(&mut o4) {
            let (b0, b1, b2, b3) = (
                &b[c0..c0 + w],
                &b[d + c0..d + c0 + w],
                &b[2 * d + c0..2 * d + c0 + w],
                &b[3 * d + c0..3 * d + c0 + w],
            );
            let (o0, rest) = o.split_at_mut(d);
            let (o1, rest) = rest.split_at_mut(d);
            let (o2, o3) = rest.split_at_mut(d);
            let (o0, o1, o2, o3) = (
                &mut o0[cols.clone()],
                &mut o1[cols.clone()],
                &mut o2[cols.clone()],
                &mut o3[cols.clone()],
            );
            for j in 0..w {
                let u0 = one(b0[j], a32[j], a[j], &mut o0[j]);
                let u1 = one(b1[j], a32[j], a[j], &mut o1[j]);
                let u2 = one(b2[j], a32[j], a[j], &mut o2[j]);
                let u3 = one(b3[j], a32[j], a[j], &mut o3[j]);
                s[j] += (u0 + u1) + (u2 + u3);
                q[j] += (u0 * u0 + u1 * u1) + (u2 * u2 + u3 * u3);
            }
        }
        for (b, o) in b4
            .remainder()
            .chunks_exact(d)
            .zip(o4.into_remainder().chunks_exact_mut(d))
        {
            let (b, o) = (&b[cols.clone()], &mut o[cols.clone()]);
            for j in 0..w {
                let u = one(b[j], a32[j], a[j], &mut o[j]);
                s[j] += u;
                q[j] += u * u;
            }
        }
    }
    bits
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn shift_rows_avx2(
    block: &[f32],
    shift: &[f32],
    a: &[f64],
    out: &mut [f32],
    s: &mut [f64],
    q: &mut [f64],
) -> u32 {
    shift_rows_kernel(block, shift, a, out, s, q)
}

fn shift_rows(
    block: &[f32],
    shift: &[f32],
    a: &[f64],
    out: &mut [f32],
    s: &mut [f64],
    q: &mut [f64],
) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function enables.
        return unsafe { shift_rows_avx2(block, shift, a, out, s, q) };
    }
    shift_rows_kernel(block, shift, a, out, s, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use std::sync::atomic::AtomicBool;

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

    #[test]
    fn sizes_from_a_caller_are_errors_not_aborts() {
        // 2^40 x 2^40 cells overflow; 2^31 x 2^31 f64 sums need more bytes than the address space holds.
        for (d1, d2) in [(1 << 40, 1 << 40), (1 << 31, 1 << 31)] {
            let e = CrossMoments::try_new(d1, d2).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
        }
        // A row count whose products overflow is a shape mismatch, not an overflow panic.
        let mut m = CrossMoments::try_new(4, 2).unwrap();
        let e = m.update(&[0.0; 4], &[0.0; 2], usize::MAX / 2).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
        let x: Vec<f32> = (0..12).map(|i| (i * i % 7) as f32).collect();
        let y: Vec<f32> = (0..6).map(|i| (i % 4) as f32).collect();
        m.update(&x, &y, 3).unwrap();
        let mut plain = CrossMoments::new(4, 2);
        plain.update(&x, &y, 3).unwrap();
        assert_eq!(m.correlation().unwrap(), plain.correlation().unwrap());
    }

    #[test]
    fn a_cancellable_correlation_is_the_correlation_or_aborted() {
        let x: Vec<f32> = (0..12).map(|i| (i * i % 7) as f32).collect();
        let y: Vec<f32> = (0..6).map(|i| (i % 4) as f32).collect();
        let mut m = CrossMoments::new(4, 2);
        m.update(&x, &y, 3).unwrap();
        let (down, up) = (AtomicBool::new(false), AtomicBool::new(true));
        assert_eq!(
            m.correlation_cancellable(Some(&down)).unwrap(),
            m.correlation().unwrap()
        );
        let e = m.correlation_cancellable(Some(&up)).unwrap_err();
        assert_eq!(e.code(), "ABORTED");
    }

    /// Two-pass `f64` reference: means, population stds and correlations of the `f32` data.
    struct Reference {
        mx: Vec<f64>,
        my: Vec<f64>,
        sx: Vec<f64>,
        sy: Vec<f64>,
        corr: Vec<f64>,
    }

    fn reference(x: &[f32], y: &[f32], d1: usize, d2: usize) -> Reference {
        let n = x.len() / d1;
        let col = |a: &[f32], d: usize, i: usize| -> Vec<f64> {
            (0..n).map(|r| a[r * d + i] as f64).collect()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
        let cx: Vec<Vec<f64>> = (0..d1).map(|i| col(x, d1, i)).collect();
        let cy: Vec<Vec<f64>> = (0..d2).map(|j| col(y, d2, j)).collect();
        let mx: Vec<f64> = cx.iter().map(|c| mean(c)).collect();
        let my: Vec<f64> = cy.iter().map(|c| mean(c)).collect();
        let ss = |c: &[f64], m: f64| c.iter().map(|v| (v - m).powi(2)).sum::<f64>();
        let sx: Vec<f64> = (0..d1)
            .map(|i| (ss(&cx[i], mx[i]) / n as f64).sqrt())
            .collect();
        let sy: Vec<f64> = (0..d2)
            .map(|j| (ss(&cy[j], my[j]) / n as f64).sqrt())
            .collect();
        let mut corr = vec![0f64; d1 * d2];
        for i in 0..d1 {
            for j in 0..d2 {
                let cov: f64 = cx[i]
                    .iter()
                    .zip(&cy[j])
                    .map(|(a, b)| (a - mx[i]) * (b - my[j]))
                    .sum::<f64>()
                    / n as f64;
                corr[i * d2 + j] = cov / (sx[i] * sy[j]);
            }
        }
        Reference {
            mx,
            my,
            sx,
            sy,
            corr,
        }
    }

    /// Residual-stream-like data: per-coordinate means (up to ±1e3) far above a unit spread, and correlated
    /// pairs (`y_j` follows `±x_{j % d1}`).
    fn offset_data(n: usize, d1: usize, d2: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let means = [1e3, -1e3, 100.0, 1e3, 0.0, 250.0, -100.0];
        let mut rng = SplitMix64::new(seed);
        let mut zx = vec![0f32; n * d1];
        let mut zy = vec![0f32; n * d2];
        rng.fill_normal(&mut zx);
        rng.fill_normal(&mut zy);
        let mut x = vec![0f32; n * d1];
        let mut y = vec![0f32; n * d2];
        for r in 0..n {
            for i in 0..d1 {
                x[r * d1 + i] = (means[i % 7] + zx[r * d1 + i] as f64) as f32;
            }
            for j in 0..d2 {
                let rho = [0.9, -0.6, 0.3, 0.0][j % 4];
                let z = rho * zx[r * d1 + j % d1] as f64
                    + (1.0 - rho * rho).sqrt() * zy[r * d2 + j] as f64;
                y[r * d2 + j] = (means[(j + 3) % 7] + 2.0 * z) as f32;
            }
        }
        (x, y)
    }

    #[test]
    fn large_means_keep_correlations_to_1e_6() {
        let (n, d1, d2) = (5000, 7, 6);
        let (x, y) = offset_data(n, d1, d2, 3);
        let want = reference(&x, &y, d1, d2);
        let check = |m: &CrossMoments, label: &str| {
            let c = m.correlation().unwrap();
            let (mx, my) = m.means();
            let (sx, sy) = m.stds();
            let mut worst = 0f64;
            for (k, (&c, &w)) in c.iter().zip(&want.corr).enumerate() {
                worst = worst.max((c as f64 - w).abs());
                assert!((c as f64 - w).abs() < 1e-6, "{label}: corr[{k}] {c} vs {w}");
            }
            for (got, want) in [
                (&mx, &want.mx),
                (&my, &want.my),
                (&sx, &want.sx),
                (&sy, &want.sy),
            ] {
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!(
                        (g - w).abs() < 1e-9 * (1.0 + w.abs()),
                        "{label}: {g} vs {w}"
                    );
                }
            }
            worst
        };
        // One call (three GEMM blocks), and uneven calls whose first block is a single row.
        let mut one = CrossMoments::new(d1, d2);
        one.update(&x, &y, n).unwrap();
        let w1 = check(&one, "one call");
        let mut uneven = CrossMoments::new(d1, d2);
        for (a, b) in [(0, 1), (1, 3000), (3000, 3001), (3001, n)] {
            uneven
                .update(&x[a * d1..b * d1], &y[a * d2..b * d2], b - a)
                .unwrap();
        }
        let w2 = check(&uneven, "uneven calls");
        println!("worst |corr - reference|: {w1:e} (one call), {w2:e} (uneven calls)");
        // The shift sits within a standard deviation of the mean.
        let (ax, _) = one.shifts();
        for (a, m) in ax.iter().zip(&want.mx) {
            assert!((*a as f64 - m).abs() < 1.0, "shift {a} for mean {m}");
        }
    }

    /// Small-integer data around large means: every f32 product and sum is exact, so any disagreement between
    /// merged and whole moments would come from the merge algebra itself.
    fn integer_data(n: usize, d1: usize, d2: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64::new(seed);
        let mut val = |base: f32| base + rng.below(7) as f32 - 3.0;
        let x = (0..n * d1)
            .map(|k| val([1000.0, -512.0, 0.0][k % d1 % 3]))
            .collect();
        let y = (0..n * d2)
            .map(|k| val([96.0, 1000.0, -7.0, 3.0][k % d2 % 4]))
            .collect();
        (x, y)
    }

    fn moments_of(x: &[f32], y: &[f32], d1: usize, d2: usize, a: usize, b: usize) -> CrossMoments {
        let mut m = CrossMoments::new(d1, d2);
        m.update(&x[a * d1..b * d1], &y[a * d2..b * d2], b - a)
            .unwrap();
        m
    }

    /// Same count, and means, stds and covariances within `tol` relative (to the scale of each quantity).
    fn assert_same(a: &CrossMoments, b: &CrossMoments, tol: f64) {
        assert_eq!(a.count(), b.count());
        let (amx, amy) = a.means();
        let (bmx, bmy) = b.means();
        let (asx, asy) = a.stds();
        let (bsx, bsy) = b.stds();
        for (am, bm, s) in [(&amx, &bmx, &bsx), (&amy, &bmy, &bsy)] {
            for k in 0..am.len() {
                assert!(
                    (am[k] - bm[k]).abs() <= tol * (bm[k].abs() + s[k]),
                    "mean {k}"
                );
            }
        }
        for (a_s, b_s) in [(&asx, &bsx), (&asy, &bsy)] {
            for k in 0..a_s.len() {
                assert!((a_s[k] - b_s[k]).abs() <= tol * b_s[k], "std {k}");
            }
        }
        let (ac, bc) = (a.covariance(), b.covariance());
        let d2 = bsy.len();
        for (k, (x, y)) in ac.iter().zip(&bc).enumerate() {
            let scale = bsx[k / d2] * bsy[k % d2];
            assert!((x - y).abs() <= tol * scale, "cov[{k}] {x} vs {y}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn merge_is_exact_associative_and_commutative(s1 in 0usize..=4500, s2 in 0usize..=4500) {
            let (d1, d2, n) = (3, 4, 4500);
            let (s1, s2) = (s1.min(s2), s1.max(s2));
            let (x, y) = integer_data(n, d1, d2, 11);
            let whole = moments_of(&x, &y, d1, d2, 0, n);
            let a = moments_of(&x, &y, d1, d2, 0, s1);
            let b = moments_of(&x, &y, d1, d2, s1, s2);
            let c = moments_of(&x, &y, d1, d2, s2, n);
            let mut ab = a.clone();
            ab.merge(&b).unwrap();
            let mut ba = b.clone();
            ba.merge(&a).unwrap();
            assert_same(&ab, &moments_of(&x, &y, d1, d2, 0, s2), 1e-9);
            assert_same(&ab, &ba, 1e-9);
            let mut ab_c = ab.clone();
            ab_c.merge(&c).unwrap();
            let mut bc = b.clone();
            bc.merge(&c).unwrap();
            let mut a_bc = a.clone();
            a_bc.merge(&bc).unwrap();
            let mut c_ba = c.clone();
            c_ba.merge(&ba).unwrap();
            for m in [&ab_c, &a_bc, &c_ba] {
                assert_same(m, &whole, 1e-9);
            }
        }
    }

    #[test]
    fn merges_of_real_valued_shards_agree_with_the_whole() {
        // Gaussian data: f32 block sums now round differently per split, at the 1e-8 level.
        let (n, d1, d2) = (6000, 7, 6);
        let (x, y) = offset_data(n, d1, d2, 5);
        let whole = moments_of(&x, &y, d1, d2, 0, n);
        for split in [1, 777, 2048, 2049, 5999] {
            let mut a = moments_of(&x, &y, d1, d2, 0, split);
            a.merge(&moments_of(&x, &y, d1, d2, split, n)).unwrap();
            assert_same(&a, &whole, 1e-6);
            let (ca, cw) = (a.correlation().unwrap(), whole.correlation().unwrap());
            for (p, q) in ca.iter().zip(&cw) {
                assert!((p - q).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn small_batches_fold_like_one_call() {
        let (n, d1, d2) = (20000, 3, 4);
        let (x, y) = integer_data(n, d1, d2, 2);
        let whole = moments_of(&x, &y, d1, d2, 0, n);
        let mut batched = CrossMoments::new(d1, d2);
        for a in (0..n).step_by(300) {
            let b = (a + 300).min(n);
            batched
                .update(&x[a * d1..b * d1], &y[a * d2..b * d2], b - a)
                .unwrap();
        }
        assert!(batched.pending > 0, "the test should leave rows pending");
        assert_same(&batched, &whole, 1e-12);
        let raw = batched.raw();
        let back = CrossMoments::from_raw(d1, d2, raw, "raw").unwrap();
        assert_eq!(back, batched);
    }

    #[test]
    fn constant_coordinates_correlate_zero() {
        let (n, d1, d2) = (100, 3, 2);
        let (mut x, mut y) = offset_data(n, d1, d2, 9);
        for r in 0..n {
            x[r * d1 + 1] = 1234.5;
            y[r * d2] = -0.1;
        }
        let mut m = CrossMoments::new(d1, d2);
        m.update(&x, &y, n).unwrap();
        let c = m.correlation().unwrap();
        assert_eq!(&c[d2..2 * d2], &[0.0, 0.0]);
        assert_eq!((c[0], c[2 * d2]), (0.0, 0.0));
        assert!(c[1] != 0.0);
        let (sx, sy) = m.stds();
        assert_eq!((sx[1], sy[0]), (0.0, 0.0));
        assert_eq!(m.means().0[1], 1234.5);
    }

    #[test]
    fn a_failed_update_changes_nothing() {
        let (n, d1, d2) = (5000, 3, 4);
        let (x, mut y) = integer_data(n, d1, d2, 4);
        let mut m = moments_of(&x, &y, d1, d2, 0, 10);
        let before = m.clone();
        y[4321 * d2 + 2] = f32::INFINITY;
        let e = m.update(&x, &y, n).unwrap_err();
        assert_eq!(e.code(), "NON_FINITE");
        assert!(
            e.to_string()
                .contains("activations y: entry (4321, 2) is inf"),
            "{e}"
        );
        assert_eq!(m, before);
        let e = m.update(&[3e38; 3], &[3e38; 4], 1).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert_eq!(m, before);
        assert_eq!(
            m.merge(&CrossMoments::new(4, 3)).unwrap_err().code(),
            "SHAPE_MISMATCH"
        );
        let mut empty = CrossMoments::new(d1, d2);
        empty.merge(&m).unwrap();
        assert_eq!(empty, m);
        m.merge(&CrossMoments::new(d1, d2)).unwrap();
        assert_eq!(m, before);
        assert_eq!(
            CrossMoments::new(2, 2).correlation().unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    #[ignore = "timing: cargo test -p gauge-core --lib perf_update -- --ignored --nocapture"]
    fn perf_update() {
        let (n, d) = (65536, 2048);
        let mut x = vec![0f32; n * d];
        let mut y = vec![0f32; n * d];
        SplitMix64::new(1).fill_normal(&mut x);
        SplitMix64::new(2).fill_normal(&mut y);
        for _ in 0..3 {
            let mut m = CrossMoments::new(d, d);
            let t = std::time::Instant::now();
            m.update(&x, &y, n).unwrap();
            let s = t.elapsed().as_secs_f64();
            println!(
                "update: {s:.3} s, {:.1} GFLOP/s",
                2.0 * (n * d * d) as f64 / s / 1e9
            );
        }
    }
}
