//! Scaled dot-product attention under a causal mask, shared by every architecture here (no KV cache: each
//! forward sees whole sequences).

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::kernels::{softmax_last_dim, Kernels};

/// The additive causal mask `[seq, seq]`: `0` where key position `j <= i`, `-inf` where `j > i`.
pub(crate) fn causal_mask(seq: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (seq, seq), device)?)
}

/// `softmax(q kᵀ · scale + mask) v` per head.
///
/// `q`, `k`, `v`: `[batch, heads, seq, head_dim]` (keys and values already repeated to `heads` for grouped-query
/// attention); `mask`: `[seq, seq]` from [`causal_mask`]. Returns `[batch, heads, seq, head_dim]`.
/// Cost `O(batch · heads · seq² · head_dim)`.
pub(crate) fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    mask: &Tensor,
    kernels: Kernels,
) -> Result<Tensor> {
    let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
    let probs = softmax_last_dim(&scores, kernels)?;
    Ok(probs.matmul(v)?)
}
