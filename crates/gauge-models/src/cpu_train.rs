//! Fused training kernels for the CPU: operations of the differentiable model whose forward pass is one sweep over
//! memory and whose backward pass is written out by hand (one sweep too). candle's differentiable compositions make
//! a tensor for every elementary op, keep each of them alive until the backward pass, and differentiate them one by
//! one; these keep only their inputs and output. [`crate::kernels`] picks them for `Kernels::Differentiable` on the
//! CPU in `f32` (other devices keep the compositions; `GAUGE_TRANSPORT_CPU_FUSED=0` rules them out, as it does the
//! inference kernels of [`crate::cpu_fused`]).
//!
//! Rows are the last axis; `g` is the gradient of the output.
//! - [`rms_norm`]: `y = x r ⊙ w` with `r = (mean(x²) + ε)^(−1/2)`. Backward: `∂x = r (g ⊙ w) − x r³ mean(g ⊙ w ⊙ x)`,
//!   `∂w = Σ_rows g ⊙ x r`.
//! - [`masked_softmax`]: `y = softmax(s · scale + mask)` (the forward of [`crate::cpu_fused::masked_softmax`]).
//!   Backward: `∂s = scale · y ⊙ (g − Σ g ⊙ y)`.
//! - [`silu_mul`]: `y = silu(a) ⊙ u`, `silu(a) = a σ(a)`. Backward: `∂a = g ⊙ u ⊙ σ(a)(1 + a(1 − σ(a)))`,
//!   `∂u = g ⊙ silu(a)`.
//! - [`rope`]: the rotary embedding of `x` `[batch, heads, seq, d]` in the half-split layout, `y = R_θ x` pair by
//!   pair (`x_i`, `x_{i + d/2}`). Backward: the rotation by `−θ`, `∂x = R_{−θ} g`.
//! - [`cross_entropy`]: the mean over rows whose target is not [`IGNORE`] of `logsumexp(x) − x_t`. Backward:
//!   `∂x = (g / n)(softmax(x) − onehot(t))`, zero on ignored rows; each row's maximum and sum of exponentials are
//!   kept from the forward.
//!
//! Every reduction runs in a fixed order (within a row by lanes, across rows by fixed blocks taken in order), so a
//! step gives the same bits whatever the number of threads. Checked against the compositions, values and
//! gradients, in `tests` below; the PyTorch parity tests of `tests/train.rs` run through them.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_fused::{contiguous_f32 as f32_data, exp, max_of, sum_of, MaskedSoftmax};

/// The target of a row [`cross_entropy`] leaves out (a sequence's last position, which predicts nothing).
pub(crate) const IGNORE: u32 = u32::MAX;

/// Rows per task of the row kernels whose backward sums over rows (the blocks are summed in order).
const ROWS: usize = 32;

/// Elements per task of the elementwise kernels.
const CHUNK: usize = 1 << 14;

/// The pieces of a flat tensor that holds several results one after another (a custom op returns one tensor), in
/// order, each reshaped to its shape.
pub(crate) fn split_flat(flat: &Tensor, shapes: &[&Shape]) -> Result<Vec<Tensor>> {
    let mut start = 0;
    shapes
        .iter()
        .map(|&shape| {
            let n = shape.elem_count();
            let piece = flat.narrow(0, start, n)?.reshape(shape)?;
            start += n;
            Ok(piece)
        })
        .collect()
}

/// `(rows, vocabulary)` of logits `[…, vocabulary]`.
fn rows_of(l: &Layout) -> Result<(usize, usize)> {
    match l.shape().dims().last() {
        Some(&v) if v > 0 => Ok((l.shape().elem_count() / v, v)),
        _ => candle_core::bail!(
            "cross-entropy: logits {:?} have no vocabulary axis",
            l.shape()
        ),
    }
}

/// `Σ a_i b_i` by lanes (a fixed order of additions).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            lanes[j] += x[j] * y[j];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `r = (mean(x²) + ε)^(−1/2)` of one row.
#[inline(always)]
fn inv_rms(x: &[f32], eps: f32) -> f32 {
    1.0 / (dot(x, x) / x.len() as f32 + eps).sqrt()
}

#[inline(always)]
fn rms_rows_impl(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) {
    let d = w.len();
    for (x, y) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let r = inv_rms(x, eps);
        for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
            *y = x * r * w;
        }
    }
}

/// `dx` of rows `x` and `dw += Σ_rows g ⊙ x r`.
#[inline(always)]
fn rms_back_rows_impl(x: &[f32], w: &[f32], g: &[f32], eps: f32, dx: &mut [f32], dw: &mut [f32]) {
    let d = w.len();
    for ((x, g), dx) in x
        .chunks_exact(d)
        .zip(g.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let r = inv_rms(x, eps);
        // Σ g ⊙ w ⊙ x, by lanes: `dx` holds `g ⊙ w` meanwhile.
        for ((o, &g), &w) in dx.iter_mut().zip(g).zip(w) {
            *o = g * w;
        }
        let c = dot(dx, x) * r * r * r / d as f32;
        for (o, &x) in dx.iter_mut().zip(x) {
            *o = r * *o - x * c;
        }
        for ((a, &g), &x) in dw.iter_mut().zip(g).zip(x) {
            *a += g * x * r;
        }
    }
}

/// `∂s = scale · y ⊙ (g − Σ g ⊙ y)` of rows of width `k`.
#[inline(always)]
fn softmax_back_rows_impl(y: &[f32], g: &[f32], k: usize, scale: f32, ds: &mut [f32]) {
    for ((y, g), ds) in y
        .chunks_exact(k)
        .zip(g.chunks_exact(k))
        .zip(ds.chunks_exact_mut(k))
    {
        let s = dot(g, y);
        for ((o, &y), &g) in ds.iter_mut().zip(y).zip(g) {
            *o = scale * y * (g - s);
        }
    }
}

#[inline(always)]
fn silu_mul_back_impl(a: &[f32], u: &[f32], g: &[f32], da: &mut [f32], du: &mut [f32]) {
    for ((((da, du), &a), &u), &g) in da.iter_mut().zip(du.iter_mut()).zip(a).zip(u).zip(g) {
        let s = 1.0 / (1.0 + exp(-a));
        *da = g * u * s * (1.0 + a * (1.0 - s));
        *du = g * a * s;
    }
}

/// The largest entry `m` and `Σ e^{x − m}` of one row (`scratch` the row's width).
#[inline(always)]
fn max_and_sum_exp_impl(x: &[f32], scratch: &mut [f32]) -> (f32, f32) {
    let m = max_of(x);
    if m == f32::NEG_INFINITY {
        return (m, 0.0);
    }
    for (s, &x) in scratch.iter_mut().zip(x) {
        *s = exp(x - m);
    }
    (m, sum_of(scratch))
}

/// `∂x = scale · (e^{x − m} / s − onehot(t))` of one row, `m` and `s` from [`max_and_sum_exp_impl`].
#[inline(always)]
fn cross_entropy_back_row_impl(
    x: &[f32],
    (m, s): (f32, f32),
    t: usize,
    scale: f32,
    dx: &mut [f32],
) {
    let k = scale / s;
    for (o, &x) in dx.iter_mut().zip(x) {
        *o = k * exp(x - m);
    }
    dx[t] -= scale;
}

/// The kernels above, compiled once for AVX2 (picked at run time where the CPU has it) and once for the target's
/// baseline (the same operations in the same order: the results are equal).
mod dispatch {
    macro_rules! dispatched {
        ($(fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)? = $imp:path;)*) => {$(
            pub(super) fn $name($($a: $t),*) $(-> $r)? {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx2")]
                    unsafe fn avx2($($a: $t),*) $(-> $r)? {
                        $imp($($a),*)
                    }
                    if std::arch::is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU has AVX2 (checked just above).
                        return unsafe { avx2($($a),*) };
                    }
                }
                $imp($($a),*)
            }
        )*};
    }

    dispatched! {
        fn rms_rows(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) = super::rms_rows_impl;
        fn rms_back_rows(x: &[f32], w: &[f32], g: &[f32], eps: f32, dx: &mut [f32], dw: &mut [f32])
            = super::rms_back_rows_impl;
        fn softmax_back_rows(y: &[f32], g: &[f32], k: usize, scale: f32, ds: &mut [f32])
            = super::softmax_back_rows_impl;
        fn silu_mul_back(a: &[f32], u: &[f32], g: &[f32], da: &mut [f32], du: &mut [f32])
            = super::silu_mul_back_impl;
        fn max_and_sum_exp(x: &[f32], scratch: &mut [f32]) -> (f32, f32) = super::max_and_sum_exp_impl;
        fn cross_entropy_back_row(x: &[f32], ms: (f32, f32), t: usize, scale: f32, dx: &mut [f32])
            = super::cross_entropy_back_row_impl;
    }
}

/// The rotary embedding of `x` `[…, seq, d]` by `cos`, `sin` `[seq, d / 2]`, pair `(i, i + d/2)` of each row.
struct Rope;

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "rope-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s1, l1, self.name(), "input")?;
        let cos = f32_data(s2, l2, self.name(), "cos")?;
        let sin = f32_data(s3, l3, self.name(), "sin")?;
        let dims = l1.shape().dims();
        let (seq, d) = match dims {
            [.., seq, d] if d % 2 == 0 => (*seq, *d),
            _ => candle_core::bail!("rope: input {dims:?} has no [seq, even width] axes"),
        };
        let half = d / 2;
        if l2.shape().dims() != [seq, half] || l3.shape().dims() != [seq, half] {
            candle_core::bail!(
                "rope: cos {:?} and sin {:?} are not [{seq}, {half}]",
                l2.shape(),
                l3.shape()
            );
        }
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(seq * d)
            .zip(x.par_chunks(seq * d))
            .for_each(|(y, x)| {
                for (t, (y, x)) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)).enumerate() {
                    let (c, s) = (
                        &cos[t * half..(t + 1) * half],
                        &sin[t * half..(t + 1) * half],
                    );
                    let (x1, x2) = x.split_at(half);
                    let (y1, y2) = y.split_at_mut(half);
                    for i in 0..half {
                        y1[i] = x1[i] * c[i] - x2[i] * s[i];
                        y2[i] = x2[i] * c[i] + x1[i] * s[i];
                    }
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = g.contiguous()?.apply_op3_no_bwd(cos, &sin.neg()?, &Rope)?;
        Ok((Some(dx), None, None))
    }
}

/// RMSNorm over the last axis of `x` with gain `w`.
struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s1, l1, self.name(), "input")?;
        let w = f32_data(s2, l2, self.name(), "weight")?;
        let d = w.len();
        if l1.shape().dims().last() != Some(&d) || l2.shape().rank() != 1 {
            candle_core::bail!(
                "rms-norm: input {:?} does not end in the weight's {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(ROWS * d)
            .zip(x.par_chunks(ROWS * d))
            .for_each(|(y, x)| dispatch::rms_rows(x, w, self.eps, y));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = x.apply_op3_no_bwd(w, &g.contiguous()?, &RmsNormGrad { eps: self.eps })?;
        let [dx, dw] = <[Tensor; 2]>::try_from(split_flat(&both, &[x.shape(), w.shape()])?)
            .expect("two pieces");
        Ok((Some(dx), Some(dw)))
    }
}

/// `[∂x (flattened), ∂w]` of [`RmsNorm`] from `x`, `w` and `g`.
struct RmsNormGrad {
    eps: f32,
}

impl CustomOp3 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "rms-norm-train-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s1, l1, self.name(), "input")?;
        let w = f32_data(s2, l2, self.name(), "weight")?;
        let g = f32_data(s3, l3, self.name(), "gradient")?;
        let d = w.len();
        let mut out = vec![0f32; x.len() + d];
        let (dx, dw) = out.split_at_mut(x.len());
        let partial: Vec<Vec<f32>> = dx
            .par_chunks_mut(ROWS * d)
            .zip(x.par_chunks(ROWS * d).zip(g.par_chunks(ROWS * d)))
            .map(|(dx, (x, g))| {
                let mut acc = vec![0f32; d];
                dispatch::rms_back_rows(x, w, g, self.eps, dx, &mut acc);
                acc
            })
            .collect();
        for p in &partial {
            for (a, b) in dw.iter_mut().zip(p) {
                *a += b;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(x.len() + d)))
    }
}

/// `softmax(s · scale + mask)`, the forward of [`crate::cpu_fused`] with a backward.
struct TrainedSoftmax(MaskedSoftmax);

impl CustomOp2 for TrainedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.0.cpu_fwd(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ds = y.apply_op2_no_bwd(
            &g.contiguous()?,
            &SoftmaxGrad {
                scale: self.0.scale,
            },
        )?;
        Ok((Some(ds), None))
    }
}

/// `∂s` of [`TrainedSoftmax`] from its output `y` and `g`.
struct SoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "masked-softmax-train-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = f32_data(s1, l1, self.name(), "output")?;
        let g = f32_data(s2, l2, self.name(), "gradient")?;
        let k = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut ds = vec![0f32; y.len()];
        ds.par_chunks_mut(ROWS * k)
            .zip(y.par_chunks(ROWS * k).zip(g.par_chunks(ROWS * k)))
            .for_each(|(ds, (y, g))| dispatch::softmax_back_rows(y, g, k, self.scale, ds));
        Ok((CpuStorage::F32(ds), l1.shape().clone()))
    }
}

/// `silu(a) ⊙ u`.
struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        crate::cpu_fused::SiluMul.cpu_fwd(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        a: &Tensor,
        u: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = a.apply_op3_no_bwd(u, &g.contiguous()?, &SiluMulGrad)?;
        let [da, du] = <[Tensor; 2]>::try_from(split_flat(&both, &[a.shape(), u.shape()])?)
            .expect("two pieces");
        Ok((Some(da), Some(du)))
    }
}

/// `[∂a, ∂u]` (flattened) of [`SiluMul`] from `a`, `u` and `g`.
struct SiluMulGrad;

impl CustomOp3 for SiluMulGrad {
    fn name(&self) -> &'static str {
        "silu-mul-train-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_data(s1, l1, self.name(), "gate")?;
        let u = f32_data(s2, l2, self.name(), "up")?;
        let g = f32_data(s3, l3, self.name(), "gradient")?;
        let n = a.len();
        if u.len() != n || g.len() != n {
            candle_core::bail!("silu-mul: gate, up and gradient differ in size");
        }
        let mut out = vec![0f32; 2 * n];
        let (da, du) = out.split_at_mut(n);
        da.par_chunks_mut(CHUNK)
            .zip(du.par_chunks_mut(CHUNK))
            .zip(
                a.par_chunks(CHUNK)
                    .zip(u.par_chunks(CHUNK))
                    .zip(g.par_chunks(CHUNK)),
            )
            .for_each(|((da, du), ((a, u), g))| dispatch::silu_mul_back(a, u, g, da, du));
        Ok((CpuStorage::F32(out), Shape::from(2 * n)))
    }
}

/// Mean cross-entropy of logit rows against targets; keeps each row's maximum and `Σ e^{x − max}` for the
/// backward pass.
struct CrossEntropy {
    rows: Mutex<Vec<(f32, f32)>>,
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s1, l1, self.name(), "logits")?;
        let t = crate::cpu_fused::contiguous_u32(s2, l2, self.name(), "targets")?;
        let (rows, v) = rows_of(l1)?;
        if t.len() != rows {
            candle_core::bail!(
                "cross-entropy: {} targets for {rows} rows of logits",
                t.len()
            );
        }
        if let Some(&bad) = t.iter().find(|&&t| t != IGNORE && t as usize >= v) {
            candle_core::bail!("cross-entropy: target {bad} is outside the vocabulary of {v}");
        }
        let ms: Vec<(f32, f32)> = x
            .par_chunks(v)
            .map_init(
                || vec![0f32; v],
                |scratch, row| dispatch::max_and_sum_exp(row, scratch),
            )
            .collect();
        // `ln s − (x_t − m)`, as log-softmax computes it; rows in order, in f64, so that the mean does not depend
        // on the threads.
        let (mut sum, mut n) = (0f64, 0usize);
        for (i, &t) in t.iter().enumerate() {
            if t != IGNORE {
                let (m, s) = ms[i];
                sum += (s.ln() - (x[i * v + t as usize] - m)) as f64;
                n += 1;
            }
        }
        *self.rows.lock().expect("lock") = ms;
        let mean = if n == 0 { f64::NAN } else { sum / n as f64 };
        Ok((CpuStorage::F32(vec![mean as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        t: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let rows = std::mem::take(&mut *self.rows.lock().expect("lock"));
        let dx = x.apply_op2_no_bwd(
            t,
            &CrossEntropyGrad {
                rows,
                g: g.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?,
            },
        )?;
        Ok((Some(dx), None))
    }
}

/// `∂x` of [`CrossEntropy`], from the logits, the targets, the rows' maxima and sums and the output's gradient `g`.
struct CrossEntropyGrad {
    rows: Vec<(f32, f32)>,
    g: f32,
}

impl CustomOp2 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "cross-entropy-train-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s1, l1, self.name(), "logits")?;
        let t = crate::cpu_fused::contiguous_u32(s2, l2, self.name(), "targets")?;
        let (rows, v) = rows_of(l1)?;
        if self.rows.len() != rows {
            candle_core::bail!("cross-entropy: the backward pass runs once per forward pass");
        }
        let n = t.iter().filter(|&&t| t != IGNORE).count().max(1);
        let scale = self.g / n as f32;
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(v)
            .zip(x.par_chunks(v))
            .enumerate()
            .for_each(|(i, (dx, x))| {
                if t[i] != IGNORE {
                    dispatch::cross_entropy_back_row(x, self.rows[i], t[i] as usize, scale, dx);
                }
            });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// RMSNorm `x r ⊙ w` over the last axis, differentiable in `x` and `w` (CPU, `f32`).
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
}

/// The rotary embedding of `x` `[batch, heads, seq, d]` by `cos`, `sin` `[seq, d / 2]` (half-split layout),
/// differentiable in `x` (CPU, `f32`).
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&cos.contiguous()?, &sin.contiguous()?, Rope)
}

/// `softmax(scores · scale + mask)` over the last axis, differentiable in `scores`; `mask` `[q, k]` (CPU, `f32`).
pub(crate) fn masked_softmax(scores: &Tensor, scale: f32, mask: &Tensor) -> Result<Tensor> {
    scores
        .contiguous()?
        .apply_op2(&mask.contiguous()?, TrainedSoftmax(MaskedSoftmax { scale }))
}

/// `silu(a) ⊙ u`, differentiable in both (CPU, `f32`, equal shapes).
pub(crate) fn silu_mul(a: &Tensor, u: &Tensor) -> Result<Tensor> {
    a.contiguous()?.apply_op2(&u.contiguous()?, SiluMul)
}

/// Mean cross-entropy of `logits` `[…, vocab]` (rows: every leading index) against `targets` `[rows]` (`u32`), leaving out the rows whose
/// target is [`IGNORE`]; a scalar, differentiable in `logits` (CPU, `f32`).
pub(crate) fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    logits.contiguous()?.apply_op2(
        &targets.contiguous()?,
        CrossEntropy {
            rows: Mutex::new(Vec::new()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{gap, seeded};
    use candle_core::{DType, Device, Var};

    /// The value of `fused` and of `composed` on the same variables, and the gradients of `Σ c ⊙ f(…)` (a seeded
    /// cotangent `c`, so every output entry weighs differently) with respect to each variable, agree.
    fn same_function_and_gradients(
        inputs: &[Tensor],
        fused: impl Fn(&[Tensor]) -> Result<Tensor>,
        composed: impl Fn(&[Tensor]) -> Result<Tensor>,
        tol: f32,
    ) {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (f, c) = (fused(&ts).unwrap(), composed(&ts).unwrap());
        assert_eq!(f.dims(), c.dims());
        assert!(gap(&f, &c) < tol, "values differ by {}", gap(&f, &c));
        let cot = seeded(f.dims(), 99, 1.0);
        let (gf, gc) = (
            (&f * &cot).unwrap().sum_all().unwrap().backward().unwrap(),
            (&c * &cot).unwrap().sum_all().unwrap().backward().unwrap(),
        );
        for (i, v) in vars.iter().enumerate() {
            let (a, b) = (gf.get(v.as_tensor()), gc.get(v.as_tensor()));
            match (a, b) {
                (Some(a), Some(b)) => {
                    let scale = b
                        .abs()
                        .unwrap()
                        .max_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap();
                    assert!(scale > 0.0, "input {i}: a zero gradient tests nothing");
                    assert!(
                        gap(a, b) < tol * scale.max(1.0),
                        "input {i}: gradients differ by {}",
                        gap(a, b)
                    );
                }
                (None, None) => {}
                _ => panic!("input {i}: one side has a gradient and the other not"),
            }
        }
    }

    #[test]
    fn rms_norm_equals_the_composition_in_value_and_gradient() {
        // 70 rows of 48 (three blocks of rows, the last partial), and a 4-axis input as Qwen 3's per-head norms.
        for shape in [vec![70, 48], vec![2, 3, 5, 16]] {
            let d = *shape.last().unwrap();
            let x = seeded(&shape, 1, 2.0);
            let w = seeded(&[d], 2, 1.5);
            same_function_and_gradients(
                &[x, w],
                |t| rms_norm(&t[0], &t[1], 1e-5),
                |t| candle_nn::ops::rms_norm_slow(&t[0], &t[1], 1e-5),
                2e-5,
            );
        }
    }

    #[test]
    fn rope_equals_the_composition_in_value_and_gradient() {
        let (b, h, seq, d) = (2, 3, 7, 10);
        let x = seeded(&[b, h, seq, d], 7, 2.0);
        let angles = seeded(&[seq, d / 2], 8, 3.0);
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        same_function_and_gradients(
            &[x],
            |t| rope(&t[0], &cos, &sin),
            |t| candle_nn::rotary_emb::rope_slow(&t[0], &cos, &sin),
            1e-5,
        );
        let odd = seeded(&[1, 1, seq, 9], 9, 1.0);
        assert!(rope(&odd, &cos, &sin).is_err());
    }

    #[test]
    fn masked_softmax_equals_the_composition_in_value_and_gradient() {
        let (b, h, q) = (2, 3, 40);
        let mask = crate::attention::window_mask(q, Some(11), &Device::Cpu).unwrap();
        let s = seeded(&[b, h, q, q], 3, 4.0);
        same_function_and_gradients(
            &[s],
            |t| masked_softmax(&t[0], 0.3, &mask),
            |t| {
                candle_nn::ops::softmax(
                    &(&t[0] * 0.3)?.broadcast_add(&mask)?,
                    candle_core::D::Minus1,
                )
            },
            1e-5,
        );
    }

    #[test]
    fn silu_mul_equals_the_composition_in_value_and_gradient() {
        let n = 3 * CHUNK + 5;
        let (a, u) = (seeded(&[n], 4, 8.0), seeded(&[n], 5, 3.0));
        same_function_and_gradients(
            &[a, u],
            |t| silu_mul(&t[0], &t[1]),
            |t| candle_nn::ops::silu(&t[0])? * &t[1],
            2e-5,
        );
    }

    #[test]
    fn cross_entropy_equals_candles_and_leaves_ignored_rows_out() {
        let (rows, v) = (9, 301);
        let x = seeded(&[rows, v], 6, 6.0);
        let targets: Vec<u32> = (0..rows as u32)
            .map(|i| {
                if i % 4 == 3 {
                    IGNORE
                } else {
                    (i * 37) % v as u32
                }
            })
            .collect();
        let kept: Vec<u32> = (0..rows as u32).filter(|i| i % 4 != 3).collect();
        let t = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
        let kept_t: Vec<u32> = kept.iter().map(|&i| targets[i as usize]).collect();
        let kept_t = Tensor::new(kept_t.as_slice(), &Device::Cpu).unwrap();
        let kept = Tensor::new(kept.as_slice(), &Device::Cpu).unwrap();
        same_function_and_gradients(
            &[x],
            |p| cross_entropy(&p[0], &t),
            |p| candle_nn::loss::cross_entropy(&p[0].index_select(&kept, 0)?, &kept_t),
            1e-5,
        );
    }

    #[test]
    fn bad_targets_and_shapes_are_errors() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((3, 5), DType::F32, &dev).unwrap();
        let t = Tensor::new(&[0u32, 5, 1], &dev).unwrap();
        let e = cross_entropy(&x, &t).unwrap_err().to_string();
        assert!(e.contains("target 5 is outside the vocabulary of 5"), "{e}");
        let t2 = Tensor::new(&[0u32, 1], &dev).unwrap();
        assert!(cross_entropy(&x, &t2).is_err());
        let w = Tensor::zeros(4, DType::F32, &dev).unwrap();
        assert!(rms_norm(&x, &w, 1e-5).is_err());
    }
}
