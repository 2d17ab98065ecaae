//! Grouped-query attention for training on the CPU: the forward of [`crate::cpu_fused::attention`] (one graph node,
//! no score tensors kept) and a backward pass that recomputes each head's probabilities from `q` and `k`.
//!
//! For query head `h` reading key/value head `j = h / rep`, with `P = softmax(q kᵀ · scale + mask)` and `g` the
//! gradient of the head's output `P v`: `∂v_j += Pᵀ g`, `∂P = g vᵀ`, `∂S = P ⊙ (∂P − rowsum(∂P ⊙ P))`,
//! `∂q = scale · ∂S k_j`, `∂k_j += scale · ∂Sᵀ q`. One task per (sequence, key/value head) sums its `rep` query
//! heads in order, so the result does not depend on the threads. Scores are `[seq, seq]` per task.
//! candle's composition instead keeps the repeated keys and values, the scores, the scaled and masked scores and
//! the probabilities of every head, and differentiates a dozen ops.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_fused::{contiguous_f32 as f32_data, dispatch, Attention};
use crate::linear::product;

/// Attention `(q, k, v) → [batch, seq, heads · head_dim]` with a backward pass.
struct TrainedAttention(Attention);

impl CustomOp3 for TrainedAttention {
    fn name(&self) -> &'static str {
        "grouped-attention-train"
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
        self.0.cpu_fwd(s1, l1, s2, l2, s3, l3)
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The gradient rides along as a fourth input inside the op (a custom op takes at most three).
        let g = g.contiguous()?;
        let all = q.apply_op3_no_bwd(
            k,
            v,
            &AttentionGrad {
                scale: self.0.scale,
                mask: &self.0.mask,
                g: &g,
            },
        )?;
        let [dq, dk, dv] = <[Tensor; 3]>::try_from(crate::cpu_train::split_flat(
            &all,
            &[q.shape(), k.shape(), v.shape()],
        )?)
        .expect("three pieces");
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// `[∂q, ∂k, ∂v]` (flattened) of [`TrainedAttention`].
struct AttentionGrad<'a> {
    scale: f32,
    mask: &'a [f32],
    /// `[batch, seq, heads · head_dim]`, contiguous.
    g: &'a Tensor,
}

impl CustomOp3 for AttentionGrad<'_> {
    fn name(&self) -> &'static str {
        "grouped-attention-train-grad"
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
        let q = f32_data(s1, l1, self.name(), "q")?;
        let k = f32_data(s2, l2, self.name(), "k")?;
        let v = f32_data(s3, l3, self.name(), "v")?;
        let (&[b, heads, seq, hd], &[_, kv, _, _]) = (l1.shape().dims(), l2.shape().dims()) else {
            candle_core::bail!("attention: q and k must be [batch, heads, seq, head_dim]")
        };
        let (gs, gl) = self.g.storage_and_layout();
        let candle_core::Storage::Cpu(gs) = &*gs else {
            candle_core::bail!("attention: the gradient must be on the CPU")
        };
        let g = f32_data(gs, gl, self.name(), "gradient")?;
        if g.len() != b * seq * heads * hd || self.mask.len() != seq * seq || k.len() != v.len() {
            candle_core::bail!(
                "attention: the gradient, mask, k and v do not fit q {:?}",
                l1.shape()
            );
        }
        let rep = heads / kv;
        let width = heads * hd;
        let (nq, nk) = (q.len(), k.len());
        let mut out = vec![0f32; nq + 2 * nk];
        let (dq, rest) = out.split_at_mut(nq);
        let (dk, dv) = rest.split_at_mut(nk);
        let (scale, mask) = (self.scale, self.mask);
        dq.par_chunks_mut(rep * seq * hd)
            .zip(dk.par_chunks_mut(seq * hd).zip(dv.par_chunks_mut(seq * hd)))
            .enumerate()
            .for_each(|(task, (dq, (dk, dv)))| {
                let bi = task / kv;
                let kj = &k[task * seq * hd..(task + 1) * seq * hd];
                let vj = &v[task * seq * hd..(task + 1) * seq * hd];
                let mut p = vec![0f32; seq * seq];
                let mut dp = vec![0f32; seq * seq];
                for r in 0..rep {
                    let h = (task % kv) * rep + r;
                    let qh = &q[(bi * heads + h) * seq * hd..(bi * heads + h + 1) * seq * hd];
                    // The head's rows of `g`: row `t` at `(bi · seq + t) · width + h · hd`.
                    let gh = &g[bi * seq * width + h * hd..];
                    let dqh = &mut dq[r * seq * hd..(r + 1) * seq * hd];
                    // SAFETY (every product): `qh`, `kj`, `vj`, `dqh`, `dk`, `dv` are `seq × hd` row-major;
                    // `gh` holds `seq` rows of `hd` at stride `width` (the last ends within `g`); `p`, `dp` are
                    // `seq × seq`.
                    unsafe {
                        product(
                            (seq, seq, hd),
                            &mut p,
                            (seq, 1),
                            false,
                            qh,
                            (hd, 1),
                            kj,
                            (1, hd),
                            false,
                        );
                    }
                    for (i, row) in p.chunks_exact_mut(seq).enumerate() {
                        dispatch::softmax_row(row, &mask[i * seq..(i + 1) * seq], scale);
                    }
                    unsafe {
                        product(
                            (seq, hd, seq),
                            dv,
                            (hd, 1),
                            r > 0,
                            &p,
                            (1, seq),
                            gh,
                            (width, 1),
                            false,
                        );
                        product(
                            (seq, seq, hd),
                            &mut dp,
                            (seq, 1),
                            false,
                            gh,
                            (width, 1),
                            vj,
                            (1, hd),
                            false,
                        );
                    }
                    for (dp, p) in dp.chunks_exact_mut(seq).zip(p.chunks_exact(seq)) {
                        let s: f32 = dp.iter().zip(p).map(|(a, b)| a * b).sum();
                        for (d, &p) in dp.iter_mut().zip(p) {
                            *d = scale * p * (*d - s);
                        }
                    }
                    unsafe {
                        product(
                            (seq, hd, seq),
                            dqh,
                            (hd, 1),
                            false,
                            &dp,
                            (seq, 1),
                            kj,
                            (hd, 1),
                            false,
                        );
                        product(
                            (seq, hd, seq),
                            dk,
                            (hd, 1),
                            r > 0,
                            &dp,
                            (1, seq),
                            qh,
                            (hd, 1),
                            false,
                        );
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from(nq + 2 * nk)))
    }
}

/// Grouped-query attention `softmax(q kᵀ · scale + mask) v` with heads merged, differentiable in `q`, `k` and `v`:
/// `q` `[batch, heads, seq, head_dim]`, `k` and `v` `[batch, kv_heads, seq, head_dim]`, `mask` `[seq, seq]`
/// additive; returns `[batch, seq, heads · head_dim]` (CPU, `f32`).
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f32,
    mask: &Tensor,
) -> Result<Tensor> {
    q.contiguous()?.apply_op3(
        &k.contiguous()?,
        &v.contiguous()?,
        TrainedAttention(Attention::new(scale, mask)?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{gap, seeded};
    use candle_core::{Device, Var};

    /// candle's ops only: repeat the key/value heads, `softmax(q kᵀ · scale + mask) v`, merge the heads.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, mask: &Tensor) -> Result<Tensor> {
        let rep = q.dim(1)? / k.dim(1)?;
        let k = crate::attention::repeat_kv(k, rep).unwrap();
        let v = crate::attention::repeat_kv(v, rep).unwrap();
        let s = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let y = candle_nn::ops::softmax(&s, candle_core::D::Minus1)?.matmul(&v)?;
        Ok(crate::attention::merge_heads(&y).unwrap())
    }

    #[test]
    fn attention_equals_the_composition_in_value_and_gradient() {
        let dev = Device::Cpu;
        let (b, heads, kv, seq, hd) = (2, 6, 3, 37, 8);
        let masks = [
            crate::attention::window_mask(seq, None, &dev).unwrap(),
            crate::attention::window_mask(seq, Some(9), &dev).unwrap(),
            Tensor::zeros((seq, seq), candle_core::DType::F32, &dev).unwrap(),
        ];
        for mask in &masks {
            let vars: Vec<Var> = [(heads, 1), (kv, 2), (kv, 3)]
                .iter()
                .map(|&(h, s)| Var::from_tensor(&seeded(&[b, h, seq, hd], s, 2.0)).unwrap())
                .collect();
            let (q, k, v) = (
                vars[0].as_tensor(),
                vars[1].as_tensor(),
                vars[2].as_tensor(),
            );
            let ours = attention(q, k, v, 0.35, mask).unwrap();
            let theirs = composed(q, k, v, 0.35, mask).unwrap();
            assert_eq!(ours.dims(), &[b, seq, heads * hd]);
            assert!(gap(&ours, &theirs) < 1e-5);
            let cot = seeded(ours.dims(), 9, 2.0);
            let go = (&ours * &cot)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gt = (&theirs * &cot)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (i, var) in vars.iter().enumerate() {
                let (a, c) = (
                    go.get(var.as_tensor()).unwrap(),
                    gt.get(var.as_tensor()).unwrap(),
                );
                let scale = c
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(scale > 0.0);
                assert!(
                    gap(a, c) < 2e-5 * scale.max(1.0),
                    "input {i}: gradient differs by {}",
                    gap(a, c)
                );
            }
        }
    }
}
