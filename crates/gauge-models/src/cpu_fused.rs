//! Fused inference kernels for the CPU: one pass over memory where candle's composition of ops takes several, and
//! a vectorized `exp` where candle calls libm's scalar one. Both compute the same functions as the compositions
//! they replace ([`crate::kernels`] picks them for `Kernels::Fused` on the CPU; training never runs them), within a
//! few ulps (`tests` below and the forward-pass fixtures against transformers).
//!
//! - [`masked_softmax`]: `softmax(scores · scale + mask)` over the last axis, `scores` `[…, q, k]`, `mask` `[q, k]`
//!   additive (`0` or `−∞`); masked entries give exactly 0.
//! - [`silu_mul`]: SwiGLU's `silu(g) ⊙ u`, `silu(x) = x / (1 + e^{−x})`; [`silu_mul_halves`] the same on the
//!   two halves of each row of one `[…, 2·f]` tensor (the output of a fused gate-and-up projection).
//! - [`attention`]: grouped-query attention `softmax(q kᵀ · scale + mask) v` one (sequence, head) at a time, in
//!   blocks of query rows whose scores stay in cache, skipping the keys a causal mask hides (about 3/8 of the
//!   attention products at 256 positions), reading key/value head `j / rep` without repeating it, and writing the
//!   heads merged, `[batch, seq, heads · head_dim]`.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `e^x` for `f32`: Cephes' `expf` (range reduction by `ln 2` in two parts, a degree-6 polynomial, the exponent
/// set by bits), written with selects only so that loops over it vectorize. Relative error about 1e-7; `e^x = 0`
/// below −87.3 (where the true value is under 1.2e-38), `+∞` above 88.7, NaN for NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const HI: f32 = 88.72283;
    const LO: f32 = -87.33654;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer (|x · log2 e| < 2^22 here).
    const ROUND: f32 = 12_582_912.0;
    let c = x.clamp(LO, HI);
    let n = (c * LOG2E + ROUND) - ROUND;
    let r = c - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // `n + 127` is an integer in [1, 255]; adding ROUND puts it in the low mantissa bits, which the shift moves
    // into the exponent field: 2^n without a float-to-int conversion.
    let two_n = f32::from_bits((n + (127.0 + ROUND)).to_bits() << 23);
    let z = if x < LO { 0.0 } else { y * two_n };
    let z = if x > HI { f32::INFINITY } else { z };
    if x.is_nan() {
        x
    } else {
        z
    }
}

/// Lanes of the partial maxima and sums (so the reductions vectorize; the order of additions is fixed).
const LANES: usize = 8;

/// The largest entry of `x` (`−∞` when empty), by lanes so that it vectorizes.
#[inline(always)]
pub(crate) fn max_of(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lanes[j] = if c[j] > lanes[j] { c[j] } else { lanes[j] };
        }
    }
    tail.iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

/// The sum of `x`, by lanes so that it vectorizes (a fixed order of additions).
#[inline(always)]
pub(crate) fn sum_of(x: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lanes[j] += c[j];
        }
    }
    lanes.iter().chain(tail).sum()
}

/// `row ← softmax(row · scale + mask)`, in place; one simple loop per pass, so that each vectorizes.
#[inline(always)]
fn softmax_row_impl(row: &mut [f32], mask: &[f32], scale: f32) {
    for (d, &m) in row.iter_mut().zip(mask) {
        *d = *d * scale + m;
    }
    let max = max_of(row);
    for d in row.iter_mut() {
        *d = exp(*d - max);
    }
    let inv = 1.0 / sum_of(row);
    for d in row.iter_mut() {
        *d *= inv;
    }
}

#[inline(always)]
fn silu_mul_impl(g: &[f32], u: &[f32], dst: &mut [MaybeUninit<f32>]) {
    for ((d, &g), &u) in dst.iter_mut().zip(g).zip(u) {
        d.write(g / (1.0 + exp(-g)) * u);
    }
}

/// The row and element kernels, compiled for AVX-512 and for AVX2 (the widest the CPU has is picked at run time)
/// and once for the target's baseline. Every width computes the same operations in the same order (the reductions
/// keep [`LANES`] partial sums whatever the vector width), so all three give bit-identical results.
pub(crate) mod dispatch {
    use std::mem::MaybeUninit;

    /// The instruction sets the kernels are compiled for, narrowest first.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) enum Width {
        Baseline,
        Avx2,
        Avx512,
    }

    /// The widest kernels this CPU runs (AVX-512 only where AVX2 is there too, so every narrower width runs).
    pub(crate) fn widest() -> Width {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx2")
            {
                return Width::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Width::Avx2;
            }
        }
        Width::Baseline
    }

    /// Defines `$name(args)` running `$imp(args)` compiled at `width`, falling back to a narrower width (never a
    /// wider one) where the CPU lacks it.
    macro_rules! kernel {
        ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) = $imp:path;) => {
            $(#[$doc])*
            $vis fn $name($($arg: $ty),*) {
                $name::at(widest(), $($arg),*)
            }

            pub(crate) mod $name {
                use super::*;

                #[cfg(target_arch = "x86_64")]
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $imp($($arg),*)
                }

                #[cfg(target_arch = "x86_64")]
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    $imp($($arg),*)
                }

                /// At `width`, or a narrower one where the CPU lacks it.
                pub(crate) fn at(width: Width, $($arg: $ty),*) {
                    match width.min(widest()) {
                        // SAFETY: `widest` found AVX-512F and AVX2 on this CPU.
                        #[cfg(target_arch = "x86_64")]
                        Width::Avx512 => unsafe { avx512($($arg),*) },
                        // SAFETY: `widest` found AVX2 on this CPU.
                        #[cfg(target_arch = "x86_64")]
                        Width::Avx2 => unsafe { avx2($($arg),*) },
                        _ => $imp($($arg),*),
                    }
                }
            }
        };
    }

    kernel! {
        /// `row ← softmax(row · scale + mask)` in place.
        pub(crate) fn softmax_row(row: &mut [f32], mask: &[f32], scale: f32) = super::super::softmax_row_impl;
    }

    kernel! {
        /// `dst ← silu(g) ⊙ u`, every element of `dst` written.
        pub(crate) fn silu_mul(g: &[f32], u: &[f32], dst: &mut [MaybeUninit<f32>]) = super::super::silu_mul_impl;
    }
}

/// The contiguous `f32` data of a CPU tensor's storage, or an error naming the op and `what`.
pub(crate) fn contiguous_f32<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("{op}: {what} must be f32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: {what} must be contiguous"),
    }
}

/// The contiguous `u32` data of a CPU storage (ids, targets), or an error naming `what`.
pub(crate) fn contiguous_u32<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> Result<&'a [u32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: {what} must be a contiguous u32 tensor"),
    }
}

/// [`contiguous_f32`] for writing in place.
pub(crate) fn contiguous_f32_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("{op}: {what} must be f32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&mut data[a..b]),
        None => candle_core::bail!("{op}: {what} must be contiguous"),
    }
}

/// `softmax(scores · scale + mask)` over the last axis.
pub(crate) struct MaskedSoftmax {
    pub(crate) scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let scores = contiguous_f32(s1, l1, self.name(), "scores")?;
        let mask = contiguous_f32(s2, l2, self.name(), "mask")?;
        let dims = l1.shape().dims();
        let (q, k) = match (dims, l2.shape().dims()) {
            ([.., q, k], &[mq, mk]) if (*q, *k) == (mq, mk) => (*q, *k),
            _ => candle_core::bail!(
                "masked-softmax: scores {:?} and mask {:?} do not end in the same [q, k]",
                dims,
                l2.shape().dims()
            ),
        };
        let mut dst = scores.to_vec();
        dst.par_chunks_mut(k).enumerate().for_each(|(row, d)| {
            let i = row % q;
            dispatch::softmax_row(d, &mask[i * k..(i + 1) * k], self.scale);
        });
        Ok((CpuStorage::F32(dst), l1.shape().clone()))
    }
}

/// `silu(g) ⊙ u`.
pub(crate) struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = contiguous_f32(s1, l1, self.name(), "gate")?;
        let u = contiguous_f32(s2, l2, self.name(), "up")?;
        if l1.shape() != l2.shape() {
            candle_core::bail!(
                "silu-mul: gate {:?} and up {:?} differ in shape",
                l1.shape(),
                l2.shape()
            );
        }
        /// Elements per task: large enough to amortize scheduling, small enough to share among the threads.
        const CHUNK: usize = 1 << 14;
        let mut dst = Vec::with_capacity(g.len());
        dst.spare_capacity_mut()[..g.len()]
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK).zip(u.par_chunks(CHUNK)))
            .for_each(|(d, (g, u))| dispatch::silu_mul(g, u, d));
        // SAFETY: the chunks of `dst` and `g` (and `u`, of the same shape) pair up one for one, and each task writes
        // every element of its chunk.
        unsafe { dst.set_len(g.len()) };
        Ok((CpuStorage::F32(dst), l1.shape().clone()))
    }
}

/// `silu(g) ⊙ u` where each row of the input is `[g | u]`: `[…, 2·f]` in, `[…, f]` out.
pub(crate) struct SiluMulHalves;

impl CustomOp1 for SiluMulHalves {
    fn name(&self) -> &'static str {
        "silu-mul-halves"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let gu = contiguous_f32(s, l, self.name(), "gate and up")?;
        let dims = l.shape().dims();
        let width = dims.last().copied().unwrap_or(0);
        if width % 2 != 0 {
            candle_core::bail!("silu-mul-halves: the last axis of {:?} is odd", l.shape());
        }
        let f = width / 2;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = f;
        }
        let n = gu.len() / 2;
        let mut dst = Vec::with_capacity(n);
        // Rows per task: about as many elements as `SiluMul`'s chunks (nothing to do when `f` is 0).
        if let Some(rows) = (1usize << 14).checked_div(f) {
            let rows = rows.max(1);
            dst.spare_capacity_mut()[..n]
                .par_chunks_mut(rows * f)
                .zip(gu.par_chunks(rows * width))
                .for_each(|(d, gu)| {
                    for (d, row) in d.chunks_exact_mut(f).zip(gu.chunks_exact(width)) {
                        let (g, u) = row.split_at(f);
                        dispatch::silu_mul(g, u, d);
                    }
                });
        }
        // SAFETY: `gu` holds `n / f` rows of `2 f` and `dst` `n / f` rows of `f`; the tasks pair them up row for row
        // and write every element of each output row (`n` is 0 when `f` is).
        unsafe { dst.set_len(n) };
        Ok((CpuStorage::F32(dst), Shape::from(out_dims)))
    }
}

/// Query rows per block of [`attention`]: their scores (`ROWS × seq` `f32`) stay in the core's cache.
const ROWS: usize = 64;

/// A raw output pointer shared by the tasks of [`attention`], each writing its own disjoint columns.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: every task writes a disjoint set of elements (its sequence's rows, its head's columns), and the buffer
// outlives the parallel loop.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The element `offset` past the start (a method, so that closures capture the whole `Out`, which is `Send`).
    ///
    /// # Safety
    /// `offset` is within the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller keeps `offset` within the buffer.
        unsafe { self.0.add(offset) }
    }
}

/// Grouped-query attention (see [`attention`]).
pub(crate) struct Attention {
    pub(crate) scale: f32,
    /// `[seq, seq]`, additive.
    pub(crate) mask: Vec<f32>,
    /// Every key after its query is masked, so the blocks stop at their last row.
    causal: bool,
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "grouped-attention"
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
        let q = contiguous_f32(s1, l1, self.name(), "q")?;
        let k = contiguous_f32(s2, l2, self.name(), "k")?;
        let v = contiguous_f32(s3, l3, self.name(), "v")?;
        let (&[b, heads, seq, hd], &[kb, kv, ks, khd]) = (l1.shape().dims(), l2.shape().dims())
        else {
            candle_core::bail!("grouped-attention: q and k must be [batch, heads, seq, head_dim]")
        };
        if (kb, ks, khd) != (b, seq, hd)
            || l3.shape() != l2.shape()
            || kv == 0
            || heads % kv != 0
            || self.mask.len() != seq * seq
        {
            candle_core::bail!(
                "grouped-attention: q {:?}, k {:?}, v {:?} and a mask of {} entries do not fit together",
                l1.shape(),
                l2.shape(),
                l3.shape(),
                self.mask.len()
            );
        }
        let rep = heads / kv;
        let width = heads * hd;
        // Not zeroed: the tasks below store every element (each (sequence, head) pair's rows at its head's columns,
        // from products over at least one key), and nothing reads it before.
        let mut out = Vec::<f32>::with_capacity(b * seq * width);
        let dst = Out(out.as_mut_ptr());
        (0..b * heads).into_par_iter().for_each(|task| {
            let (bi, h) = (task / heads, task % heads);
            let q = &q[task * seq * hd..(task + 1) * seq * hd];
            let kh = (bi * kv + h / rep) * seq * hd;
            let (k, v) = (&k[kh..kh + seq * hd], &v[kh..kh + seq * hd]);
            let mut scores = vec![0f32; ROWS * seq];
            for i0 in (0..seq).step_by(ROWS) {
                let rows = ROWS.min(seq - i0);
                let keys = if self.causal { i0 + rows } else { seq };
                let s = &mut scores[..rows * keys];
                // SAFETY (both products): every pointer, stride and extent below stays inside its buffer: q rows
                // i0..i0+rows ([rows, hd], row stride hd), k and v rows 0..keys (k read as kᵀ: column stride hd,
                // row stride 1), s [rows, keys] row-major, and this task's output rows bi·seq+i0.. at columns
                // h·hd..(h+1)·hd of a row of `width`.
                unsafe {
                    gemm::gemm(
                        rows,
                        keys,
                        hd,
                        s.as_mut_ptr(),
                        1,
                        keys as isize,
                        false,
                        q[i0 * hd..].as_ptr(),
                        1,
                        hd as isize,
                        k.as_ptr(),
                        hd as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for (r, row) in s.chunks_exact_mut(keys).enumerate() {
                    let i = i0 + r;
                    dispatch::softmax_row(row, &self.mask[i * seq..i * seq + keys], self.scale);
                }
                unsafe {
                    gemm::gemm(
                        rows,
                        hd,
                        keys,
                        dst.at((bi * seq + i0) * width + h * hd),
                        1,
                        width as isize,
                        false,
                        s.as_ptr(),
                        1,
                        keys as isize,
                        v.as_ptr(),
                        1,
                        hd as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
        // SAFETY: every one of the `b · seq · width` elements was stored above (see where `out` is made).
        unsafe { out.set_len(b * seq * width) };
        Ok((CpuStorage::F32(out), Shape::from_dims(&[b, seq, width])))
    }
}

/// Grouped-query attention, heads merged: `q` `[batch, heads, seq, head_dim]`, `k`, `v`
/// `[batch, kv_heads, seq, head_dim]` (query head `j` reads key/value head `j / (heads / kv_heads)`), `mask`
/// `[seq, seq]` additive. Returns `[batch, seq, heads · head_dim]` (CPU, `f32`).
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f32,
    mask: &Tensor,
) -> Result<Tensor> {
    q.contiguous()?.apply_op3_no_bwd(
        &k.contiguous()?,
        &v.contiguous()?,
        &Attention::new(scale, mask)?,
    )
}

impl Attention {
    /// The kernel for scale `scale` and the additive `mask` `[seq, seq]`.
    pub(crate) fn new(scale: f32, mask: &Tensor) -> Result<Self> {
        let seq = mask.dim(0)?;
        let mask: Vec<f32> = mask.flatten_all()?.to_vec1()?;
        let causal = (0..seq).all(|i| {
            mask[i * seq + i + 1..(i + 1) * seq]
                .iter()
                .all(|&m| m == f32::NEG_INFINITY)
        });
        Ok(Self {
            scale,
            mask,
            causal,
        })
    }
}

/// Whether the fused kernels apply: `f32` tensors on the CPU, unless the environment sets
/// `GAUGE_TRANSPORT_CPU_FUSED=0` (read once), which runs candle's compositions instead (`npm run bench -- collect`
/// measures both in one run; it also rules the kernels out when numbers are in doubt).
pub(crate) fn applies(x: &Tensor) -> bool {
    enabled() && x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// Whether this crate's fused paths are on: unless `GAUGE_TRANSPORT_CPU_FUSED=0` (read once). Besides the CPU
/// kernels above it decides whether inference runs the q/k/v and the gate/up projections as one product each.
pub(crate) fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("GAUGE_TRANSPORT_CPU_FUSED").map_or(true, |v| v != "0"))
}

/// `softmax(scores · scale + mask)` over the last axis; `scores` `[…, q, k]`, `mask` `[q, k]` (CPU, `f32`).
pub(crate) fn masked_softmax(scores: &Tensor, scale: f32, mask: &Tensor) -> Result<Tensor> {
    scores
        .contiguous()?
        .apply_op2_no_bwd(&mask.contiguous()?, &MaskedSoftmax { scale })
}

/// `silu(g) ⊙ u` (CPU, `f32`, equal shapes).
pub(crate) fn silu_mul(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    g.contiguous()?.apply_op2_no_bwd(&u.contiguous()?, &SiluMul)
}

/// `silu(g) ⊙ u` for `gu = [g | u]` `[…, 2·f]` (CPU, `f32`), `[…, f]` out.
pub(crate) fn silu_mul_halves(gu: &Tensor) -> Result<Tensor> {
    gu.contiguous()?.apply_op1_no_bwd(&SiluMulHalves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn every_kernel_width_gives_the_same_bits() {
        use dispatch::Width;
        let mut rng = gauge_core::rng::SplitMix64::new(11);
        // Lengths off every vector width, values across exp's clamps, and a causal-style mask.
        for n in [1usize, 7, 8, 15, 16, 17, 100, 256, 1000] {
            let g: Vec<f32> = (0..n)
                .map(|_| (rng.next_f64() * 200.0 - 100.0) as f32)
                .collect();
            let u: Vec<f32> = (0..n)
                .map(|_| (rng.next_f64() * 4.0 - 2.0) as f32)
                .collect();
            let mask: Vec<f32> = (0..n)
                .map(|i| {
                    if i * 3 < n * 2 {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect();
            let run = |w: Width| {
                let mut d = vec![MaybeUninit::uninit(); n];
                dispatch::silu_mul::at(w, &g, &u, &mut d);
                let silu: Vec<u32> = d
                    .iter()
                    .map(|v| unsafe { v.assume_init() }.to_bits())
                    .collect();
                let mut row = g.clone();
                dispatch::softmax_row::at(w, &mut row, &mask, 0.37);
                (silu, row.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            };
            let base = run(Width::Baseline);
            for w in [Width::Avx2, Width::Avx512] {
                assert!(
                    run(w) == base,
                    "{w:?} differs from the baseline at length {n}"
                );
            }
        }
    }

    #[test]
    fn exp_matches_libm_across_the_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((ours - libm) / libm).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }

    fn seeded(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = gauge_core::rng::SplitMix64::new(seed);
        (0..n)
            .map(|_| (rng.next_f64() * 16.0 - 8.0) as f32)
            .collect()
    }

    #[test]
    fn masked_softmax_equals_candles_composition() -> Result<()> {
        let (b, q, k) = (3, 37, 37);
        let dev = Device::Cpu;
        let scores = Tensor::from_vec(seeded(b * q * k, 1), (b, q, k), &dev)?;
        let mask = crate::attention::window_mask(q, Some(9), &dev).unwrap();
        let ours = masked_softmax(&scores, 0.3, &mask)?;
        let theirs = candle_nn::ops::softmax_last_dim(&(&scores * 0.3)?.broadcast_add(&mask)?)?;
        let gap = (ours.clone() - theirs)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(gap < 1e-6, "gap {gap}");
        // Masked entries are exactly zero; every row sums to 1.
        let o: Vec<f32> = ours.flatten_all()?.to_vec1()?;
        let m: Vec<f32> = mask.flatten_all()?.to_vec1()?;
        for (row, r) in o.chunks(k).enumerate() {
            let mrow = &m[(row % q) * k..(row % q + 1) * k];
            assert!(r.iter().zip(mrow).all(|(v, m)| m.is_finite() || *v == 0.0));
            assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        Ok(())
    }

    #[test]
    fn silu_mul_equals_candles_composition() -> Result<()> {
        let dev = Device::Cpu;
        let n = 3 * (1 << 14) + 5;
        let g = Tensor::from_vec(seeded(n, 2), n, &dev)?;
        let u = Tensor::from_vec(seeded(n, 3), n, &dev)?;
        let ours = silu_mul(&g, &u)?;
        let theirs = (candle_nn::ops::silu(&g)? * &u)?;
        let gap = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(gap < 1e-5, "gap {gap}");
        Ok(())
    }

    #[test]
    fn silu_mul_halves_equals_candles_composition() -> Result<()> {
        let dev = Device::Cpu;
        // Rows of 2 × 700 (tasks of 23 rows, the last one partial).
        let (rows, f) = (61, 700);
        let gu = Tensor::from_vec(seeded(rows * 2 * f, 7), (rows, 2 * f), &dev)?;
        let ours = silu_mul_halves(&gu)?;
        assert_eq!(ours.dims(), &[rows, f]);
        let (g, u) = (gu.narrow(1, 0, f)?, gu.narrow(1, f, f)?);
        let theirs = (candle_nn::ops::silu(&g)? * &u)?;
        let gap = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(gap < 1e-5, "gap {gap}");
        let odd = Tensor::zeros((2, 5), candle_core::DType::F32, &dev)?;
        assert!(silu_mul_halves(&odd).is_err());
        Ok(())
    }

    /// candle's composition: repeat the key/value heads, `softmax(q kᵀ · scale + mask) v`, merge the heads.
    fn composed_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f64,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let rep = q.dim(1)? / k.dim(1)?;
        let (k, v) = (
            crate::attention::repeat_kv(k, rep).unwrap(),
            crate::attention::repeat_kv(v, rep).unwrap(),
        );
        let scores = ((q.matmul(&k.t()?)? * scale)?).broadcast_add(mask)?;
        let y = candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v)?;
        Ok(crate::attention::merge_heads(&y).unwrap())
    }

    #[test]
    fn attention_equals_candles_composition() -> Result<()> {
        let dev = Device::Cpu;
        // 150 positions: three blocks of query rows, the last one partial.
        let (b, heads, kv, seq, hd) = (2, 6, 3, 150, 16);
        let q = Tensor::from_vec(seeded(b * heads * seq * hd, 4), (b, heads, seq, hd), &dev)?;
        let k = Tensor::from_vec(seeded(b * kv * seq * hd, 5), (b, kv, seq, hd), &dev)?;
        let v = Tensor::from_vec(seeded(b * kv * seq * hd, 6), (b, kv, seq, hd), &dev)?;
        let masks = [
            crate::attention::window_mask(seq, None, &dev).unwrap(),
            crate::attention::window_mask(seq, Some(40), &dev).unwrap(),
            // Not causal (an encoder's): every key is read.
            Tensor::zeros((seq, seq), candle_core::DType::F32, &dev)?,
        ];
        for mask in &masks {
            let ours = attention(&q, &k, &v, 0.25, mask)?;
            assert_eq!(ours.dims(), &[b, seq, heads * hd]);
            let theirs = composed_attention(&q, &k, &v, 0.25, mask)?;
            let gap = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(gap < 1e-5, "gap {gap}");
        }
        Ok(())
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let dev = Device::Cpu;
        let s = Tensor::zeros((2, 4, 4), candle_core::DType::F32, &dev).unwrap();
        let m = Tensor::zeros((3, 3), candle_core::DType::F32, &dev).unwrap();
        assert!(masked_softmax(&s, 1.0, &m).is_err());
        let u = Tensor::zeros((2, 4, 5), candle_core::DType::F32, &dev).unwrap();
        assert!(silu_mul(&s, &u).is_err());
    }
}
