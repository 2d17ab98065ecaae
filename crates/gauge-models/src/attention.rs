//! Scaled dot-product attention, shared by every family here (no KV cache: each forward sees whole sequences):
//! causal masks with an optional sliding window, no mask for encoders, optional logit soft-capping, and
//! grouped-query key/value heads.

use candle_core::{Device, Tensor};

use crate::blocks::Context;
use crate::error::Result;
use crate::kernels::{scaled_masked_softmax, softmax_last_dim, Kernels};

/// The additive causal mask `[seq, seq]` of a sliding window of `window` positions, as Transformers masks it:
/// query `i` sees key `j` when `j <= i` and `i - j < window` (`None`: no window).
pub(crate) fn window_mask(seq: usize, window: Option<usize>, device: &Device) -> Result<Tensor> {
    let w = window.unwrap_or(usize::MAX);
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..seq).map(move |j| {
                if j > i || i - j >= w {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(mask, (seq, seq), device)?)
}

/// [`window_mask`] for the sequences of `ctx`, computed once per context and window.
pub(crate) fn cached_mask(ctx: &Context, window: Option<usize>) -> Result<Tensor> {
    // A window as long as the sequence masks nothing more than causality.
    let window = window.filter(|&w| w < ctx.seq);
    ctx.cached(&format!("mask:{window:?}"), || {
        window_mask(ctx.seq, window, &ctx.device)
    })
}

/// `softmax(cap · tanh(q kᵀ · scale / cap) + mask) v` per head (no tanh without `softcap`, no mask without
/// `mask`).
///
/// `q`, `k`, `v`: `[batch, heads, seq, head_dim]` (keys and values already repeated to `heads` for grouped-query
/// attention); `mask`: `[seq, seq]`. Returns `[batch, heads, seq, head_dim]`. Cost
/// `O(batch · heads · seq² · head_dim)`.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    mask: Option<&Tensor>,
    softcap: Option<f64>,
    kernels: Kernels,
) -> Result<Tensor> {
    let raw = q.matmul(&k.t()?)?;
    if let (Some(m), None) = (mask, softcap) {
        return Ok(scaled_masked_softmax(&raw, scale, m, kernels)?.matmul(v)?);
    }
    let mut scores = (raw * scale)?;
    if let Some(cap) = softcap {
        scores = ((scores / cap)?.tanh()? * cap)?;
    }
    if let Some(m) = mask {
        scores = scores.broadcast_add(m)?;
    }
    let probs = softmax_last_dim(&scores, kernels)?;
    Ok(probs.matmul(v)?)
}

/// Grouped-query attention with its heads merged: `q` `[batch, heads, seq, head_dim]`, `k`, `v`
/// `[batch, kv_heads, seq, head_dim]`; returns `[batch, seq, heads · head_dim]`. [`repeat_kv`], [`attention`] and
/// [`merge_heads`] in one, fused on the CPU for inference ([`crate::cpu_fused::attention`]).
pub(crate) fn grouped_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    mask: &Tensor,
    softcap: Option<f64>,
    kernels: Kernels,
) -> Result<Tensor> {
    if softcap.is_none() && crate::cpu_fused::applies(q) {
        return Ok(match kernels {
            Kernels::Fused => crate::cpu_fused::attention(q, k, v, scale as f32, mask)?,
            Kernels::Differentiable => {
                crate::cpu_train_attention::attention(q, k, v, scale as f32, mask)?
            }
        });
    }
    let rep = q.dim(1)? / k.dim(1)?;
    let (k, v) = (repeat_kv(k, rep)?, repeat_kv(v, rep)?);
    merge_heads(&attention(q, &k, &v, scale, Some(mask), softcap, kernels)?)
}

/// [`attention`] under a causal `mask`, without soft-capping.
pub(crate) fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    mask: &Tensor,
    kernels: Kernels,
) -> Result<Tensor> {
    attention(q, k, v, scale, Some(mask), None, kernels)
}

/// `[batch, kv_heads, seq, head_dim]` to `[batch, kv_heads · rep, seq, head_dim]`, query head `j` reading key/value
/// head `j / rep` (Hugging Face's `repeat_kv`).
pub(crate) fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, kv, s, hd) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .expand((b, kv, rep, s, hd))?
        .reshape((b, kv * rep, s, hd))?)
}

/// `[batch, seq, heads · head_dim]` to `[batch, heads, seq, head_dim]`, contiguous.
pub(crate) fn split_heads(x: &Tensor, heads: usize, head_dim: usize) -> Result<Tensor> {
    let (b, s, _) = x.dims3()?;
    Ok(x.reshape((b, s, heads, head_dim))?
        .transpose(1, 2)?
        .contiguous()?)
}

/// `[batch, heads, seq, head_dim]` to `[batch, seq, heads · head_dim]`.
pub(crate) fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, s, hd) = x.dims4()?;
    Ok(x.transpose(1, 2)?.reshape((b, s, h * hd))?)
}
