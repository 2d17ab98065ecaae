//! The operations that have two implementations: candle's fused kernels (fast, forward only) and compositions of
//! elementary tensor ops that candle can differentiate. Inference uses the fused ones; training the
//! differentiable ones. Both compute the same function (checked in `tests/train.rs`). On the CPU in `f32` both
//! kinds run this crate's fused kernels where it has them: [`crate::cpu_fused`] for inference, and
//! [`crate::cpu_train`] (the same forward with a hand-written backward) for training.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// Which implementation a model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// candle's fused RMSNorm, LayerNorm, RoPE and softmax: forward passes only.
    #[default]
    Fused,
    /// Elementary ops with gradients, for training.
    Differentiable,
}

/// RMSNorm `x / sqrt(mean(x²) + eps) ⊙ w` or LayerNorm `(x − mean) / sqrt(var + eps) ⊙ w + b` over the last axis.
pub(crate) struct Norm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
    /// Added to the stored weight to give the gain (Gemma's `1 + w`); already folded into `weight` for fused
    /// kernels, added on the fly (so gradients reach the stored weight) for differentiable ones.
    offset: f64,
}

impl Norm {
    /// An RMSNorm of width `hidden`: `weight` under `vb`.
    pub(crate) fn rms(hidden: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Self::rms_offset(hidden, eps, 0.0, vb, Kernels::Fused)
    }

    /// An RMSNorm of width `hidden` whose gain is `offset + weight` (Gemma: offset 1).
    pub(crate) fn rms_offset(
        hidden: usize,
        eps: f64,
        offset: f64,
        vb: VarBuilder,
        k: Kernels,
    ) -> Result<Self> {
        let w = vb.get(hidden, "weight")?;
        let weight = match k {
            Kernels::Fused if offset != 0.0 => (w + offset)?,
            _ => w,
        };
        let offset = if k == Kernels::Fused { 0.0 } else { offset };
        Ok(Self {
            weight,
            bias: None,
            eps,
            offset,
        })
    }

    /// A LayerNorm of width `hidden`: `weight` and `bias` under `vb`.
    pub(crate) fn layer(hidden: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(hidden, "weight")?,
            bias: Some(vb.get(hidden, "bias")?),
            eps,
            offset: 0.0,
        })
    }

    /// `[…, hidden]` in and out.
    pub(crate) fn forward(&self, x: &Tensor, k: Kernels) -> Result<Tensor> {
        let eps = self.eps as f32;
        match (&self.bias, k) {
            (None, Kernels::Fused) => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, eps),
            (None, Kernels::Differentiable) => {
                let w = if self.offset != 0.0 {
                    &(&self.weight + self.offset)?
                } else {
                    &self.weight
                };
                if crate::cpu_fused::applies(x) {
                    crate::cpu_train::rms_norm(x, w, eps)
                } else {
                    candle_nn::ops::rms_norm_slow(x, w, eps)
                }
            }
            (Some(b), Kernels::Fused) => {
                candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, b, eps)
            }
            (Some(b), Kernels::Differentiable) => {
                candle_nn::ops::layer_norm_slow(x, &self.weight, b, eps)
            }
        }
    }
}

/// Rotary embedding of `x` `[batch, heads, seq, head_dim]` in the half-split layout; `cos`, `sin`
/// `[seq, head_dim / 2]`.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, k: Kernels) -> Result<Tensor> {
    match k {
        Kernels::Fused => candle_nn::rotary_emb::rope(x, cos, sin),
        Kernels::Differentiable if crate::cpu_fused::applies(x) => {
            crate::cpu_train::rope(x, cos, sin)
        }
        Kernels::Differentiable => candle_nn::rotary_emb::rope_slow(x, cos, sin),
    }
}

/// `softmax(scores · scale + mask)` over the last axis; `scores` `[…, q, k]`, `mask` `[q, k]` additive. Fused on
/// the CPU in one pass with a vectorized `exp` ([`crate::cpu_fused`]).
pub(crate) fn scaled_masked_softmax(
    scores: &Tensor,
    scale: f64,
    mask: &Tensor,
    k: Kernels,
) -> Result<Tensor> {
    if crate::cpu_fused::applies(scores) {
        return match k {
            Kernels::Fused => crate::cpu_fused::masked_softmax(scores, scale as f32, mask),
            Kernels::Differentiable => crate::cpu_train::masked_softmax(scores, scale as f32, mask),
        };
    }
    softmax_last_dim(&(scores * scale)?.broadcast_add(mask)?, k)
}

/// SwiGLU's `silu(g) ⊙ u`, fused on the CPU ([`crate::cpu_fused`]).
pub(crate) fn silu_mul(g: &Tensor, u: &Tensor, k: Kernels) -> Result<Tensor> {
    if crate::cpu_fused::applies(g) {
        return match k {
            Kernels::Fused => crate::cpu_fused::silu_mul(g, u),
            Kernels::Differentiable => crate::cpu_train::silu_mul(g, u),
        };
    }
    candle_nn::ops::silu(g)? * u
}

/// Softmax over the last axis.
pub(crate) fn softmax_last_dim(x: &Tensor, k: Kernels) -> Result<Tensor> {
    match k {
        Kernels::Fused => candle_nn::ops::softmax_last_dim(x),
        Kernels::Differentiable => candle_nn::ops::softmax(x, candle_core::D::Minus1),
    }
}
