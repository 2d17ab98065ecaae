//! The linear layer `y = x Wᵀ + b` over the last axis: `x` `[…, in]`, `W` `[out, in]` (the Hugging Face layout),
//! `b` `[out]`, `y` `[…, out]`.
//!
//! On the CPU in `f32` the layer is one matrix product into an output buffer the product fills (candle's `Linear`
//! zeroes the output first, on one thread, while the other threads wait: a few percent of a forward pass). When
//! it is trained (its input or weight carries a gradient) it is a single graph node with two products backward,
//! `∂x = g W` and `∂W = gᵀ x`, the latter written straight in `W`'s layout. candle's composition (a reshape, a transpose of `W`, a batched
//! product) adds a node per view, and its backward pass makes a zero tensor of each node's size and adds the
//! gradient into it, so every step would pass over every weight several more times (and once transposed).
//! `GAUGE_TRANSPORT_CPU_FUSED=0` keeps the composition.

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, InplaceOp3, Layout, Module, Result, Shape, Tensor,
};

use crate::cpu_fused::contiguous_f32 as f32_data;
use crate::kernels::Kernels;

/// A linear layer (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Linear(candle_nn::Linear);

impl Linear {
    /// `x Wᵀ + b` with `weight` `[out, in]` and `bias` `[out]`.
    pub(crate) fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self(candle_nn::Linear::new(weight, bias))
    }

    /// One layer computing `parts` side by side: their weights stacked along `out` into one `[rows, in]` weight
    /// (`rows` = Σ out), their biases likewise (a part without a bias adds zeros when another has one: the same
    /// outputs). `y[…, o_1 + … + o_{i−1} ..][..o_i]` is part `i`'s output. `parts` is consumed one layer at a time,
    /// each copied into the stack and dropped before the next is made, so that loading a stacked layer (from a
    /// lazy iterator over its checkpoint tensors) holds the stack and one part, not every part twice: a streamed
    /// block's peak stays the size of the block.
    ///
    /// # Errors
    /// When `parts` is empty, a part's weight is not `[_, in]` of the first part's dtype and device, or the outs
    /// do not sum to `rows`.
    pub(crate) fn stacked(
        parts: impl IntoIterator<Item = crate::error::Result<Linear>>,
        rows: usize,
    ) -> crate::error::Result<Self> {
        let mismatch = |what: String| crate::error::Error::from(candle_core::Error::Msg(what));
        let mut weight: Option<Tensor> = None;
        let mut biases: Vec<(usize, Option<Tensor>)> = Vec::new();
        let mut at = 0;
        for part in parts {
            let part = part?;
            let w = part.0.weight();
            let (out, cols) = w.dims2()?;
            let stack = match &weight {
                Some(t) => t,
                None => weight.insert(Tensor::zeros((rows, cols), w.dtype(), w.device())?),
            };
            if at + out > rows {
                return Err(mismatch(format!(
                    "stacked parts have more than {rows} rows"
                )));
            }
            stack.slice_set(&w.contiguous()?, 0, at)?;
            biases.push((out, part.0.bias().cloned()));
            at += out;
        }
        let Some(weight) = weight else {
            return Err(mismatch("no parts to stack".into()));
        };
        if at != rows {
            return Err(mismatch(format!(
                "stacked parts have {at} rows, not {rows}"
            )));
        }
        let bias = if biases.iter().any(|(_, b)| b.is_some()) {
            let parts = biases
                .into_iter()
                .map(|(out, b)| match b {
                    Some(b) => Ok(b),
                    None => Tensor::zeros(out, weight.dtype(), weight.device()),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Tensor::cat(&parts, 0)?)
        } else {
            None
        };
        Ok(Self::new(weight, bias))
    }

    /// Whether a model running `k` stacks projections that read the same input ([`Linear::stacked`]): only for
    /// inference ([`Kernels::Fused`]; training keeps the parts it differentiates) and unless
    /// `GAUGE_TRANSPORT_CPU_FUSED=0`.
    pub(crate) fn stacks(k: Kernels) -> bool {
        matches!(k, Kernels::Fused) && crate::cpu_fused::enabled()
    }
}

impl From<candle_nn::Linear> for Linear {
    fn from(l: candle_nn::Linear) -> Self {
        Self(l)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.0.weight();
        if !(crate::cpu_fused::applies(x)
            && crate::cpu_fused::applies(w)
            && w.is_contiguous()
            && w.rank() == 2)
        {
            return self.0.forward(x);
        }
        let x = x.contiguous()?;
        let y = if x.track_op() || w.track_op() {
            x.apply_op2(w, LinearProduct)?
        } else {
            x.apply_op2_no_bwd(w, &LinearProduct)?
        };
        match self.0.bias() {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// `dst [m, n] = lhs [m, k] · rhs [k, n]`, or `dst += …` when `acc`, each operand given by its `(row, column)`
/// strides in elements; on the calling thread alone unless `parallel` (then on candle's thread count).
///
/// # Safety
/// Every `(row, column)` the strides address lies inside its buffer: `lhs` `m × k`, `rhs` `k × n`, `dst` `m × n`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn product(
    sizes: (usize, usize, usize),
    dst: &mut [f32],
    dst_strides: (usize, usize),
    acc: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
    parallel: bool,
) {
    let (d, l, r) = (dst_strides, lhs_strides, rhs_strides);
    // SAFETY: the caller's contract: every addressed element is in bounds.
    unsafe { product_raw(sizes, dst.as_mut_ptr(), d, acc, lhs, l, rhs, r, parallel) }
}

/// `lhs [m, k] · rhs [k, n]` in a new row-major `[m, n]` buffer, on candle's thread count. The buffer is not zeroed
/// first: a product that does not accumulate writes every element of its destination and reads none.
///
/// # Safety
/// Every `(row, column)` the strides address lies inside its buffer: `lhs` `m × k`, `rhs` `k × n`.
pub(crate) unsafe fn product_new(
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
) -> Vec<f32> {
    if k == 0 {
        // An empty sum: the product may not touch its destination at all.
        return vec![0.0; m * n];
    }
    let mut dst = Vec::<f32>::with_capacity(m * n);
    // SAFETY: the destination is the buffer's `m × n` capacity, written through a raw pointer (no reference to
    // its uninitialised elements is made), row-major; the operands are the caller's contract. With `acc` false and
    // `k > 0` the product stores every destination element, so the length can then cover them all.
    unsafe {
        product_raw(
            (m, n, k),
            dst.as_mut_ptr(),
            (n, 1),
            false,
            lhs,
            lhs_strides,
            rhs,
            rhs_strides,
            true,
        );
        dst.set_len(m * n);
    }
    dst
}

/// [`product`] into a destination given by its pointer.
///
/// # Safety
/// As [`product`]'s, with `dst` valid for writes (and for reads when `acc`) at every `(row, column)` addressed.
#[allow(clippy::too_many_arguments)]
unsafe fn product_raw(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    (dst_rs, dst_cs): (usize, usize),
    acc: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    parallel: bool,
) {
    // candle's count re-reads the CPU topology on every call (a few percent of a training step).
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(candle_core::utils::get_num_threads);
    let parallelism = if parallel && threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller's contract: every addressed element is in bounds.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            acc,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if acc { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// The sizes `(rows, in, out)` of `x` `[…, in]` against `W` `[out, in]`.
fn sizes(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
    let (out, inner) = w.shape().dims2()?;
    match x.shape().dims().last() {
        Some(&d) if d == inner => Ok((x.shape().elem_count() / inner.max(1), inner, out)),
        _ => candle_core::bail!(
            "linear: input {:?} does not end in the weight's {inner} columns ({:?})",
            x.shape(),
            w.shape()
        ),
    }
}

/// `y = x Wᵀ`, with a backward pass when trained.
struct LinearProduct;

impl CustomOp2 for LinearProduct {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, inner, out) = sizes(l1, l2)?;
        let x = f32_data(s1, l1, self.name(), "input")?;
        let w = f32_data(s2, l2, self.name(), "weight")?;
        if x.len() != rows * inner || w.len() != out * inner {
            candle_core::bail!("linear: input or weight storage does not match its layout");
        }
        // SAFETY: `x` is `rows × inner` row-major, `Wᵀ` reads `W` (`out × inner`) column-major (lengths checked).
        let y = unsafe { product_new((rows, out, inner), x, (inner, 1), w, (1, inner)) };
        let mut dims = l1.shape().dims().to_vec();
        *dims.last_mut().expect("rank checked by sizes") = out;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        if let Some((sink, first)) = crate::grad_sink::claim(w)? {
            sink.inplace_op3(&g, x, &WeightGrad { first })?;
            let dx = g.apply_op2_no_bwd(w, &InputGrad)?;
            return Ok((Some(dx), None));
        }
        let both = x.apply_op3_no_bwd(w, &g, &LinearProductGrad)?;
        let [dx, dw] = <[Tensor; 2]>::try_from(crate::cpu_train::split_flat(
            &both,
            &[x.shape(), w.shape()],
        )?)
        .expect("two pieces");
        Ok((Some(dx), Some(dw)))
    }
}

/// `∂x = g W` into `dx` `[rows, inner]`, from `g` `[rows, out]` and `W` `[out, inner]` (all row-major).
fn input_grad(
    dx: &mut [f32],
    g: &[f32],
    w: &[f32],
    (rows, inner, out): (usize, usize, usize),
) -> Result<()> {
    if dx.len() != rows * inner || g.len() != rows * out || w.len() != out * inner {
        candle_core::bail!(
            "linear: gradient of {} values does not match {rows} rows of {out} outputs",
            g.len()
        );
    }
    // SAFETY: the lengths are checked above: `g` is `rows × out` and `W` `out × inner`, both row-major; `∂x` is
    // `rows × inner`.
    unsafe {
        product(
            (rows, inner, out),
            dx,
            (inner, 1),
            false,
            g,
            (out, 1),
            w,
            (inner, 1),
            true,
        )
    };
    Ok(())
}

/// `∂W = gᵀ x` into `dw` `[out, inner]` (added to it when `acc`), from `g` `[rows, out]` and `x` `[rows, inner]`
/// (all row-major).
fn weight_grad(
    dw: &mut [f32],
    acc: bool,
    g: &[f32],
    x: &[f32],
    (rows, inner, out): (usize, usize, usize),
) -> Result<()> {
    if dw.len() != out * inner || g.len() != rows * out || x.len() != rows * inner {
        candle_core::bail!(
            "linear: gradient of {} values and input of {} do not match a weight of {out} x {inner}",
            g.len(),
            x.len()
        );
    }
    // SAFETY: the lengths are checked above: `gᵀ` reads `g` (`rows × out`) column-major, `x` is `rows × inner`;
    // `∂W` is `out × inner`.
    unsafe {
        product(
            (out, inner, rows),
            dw,
            (inner, 1),
            acc,
            g,
            (1, out),
            x,
            (inner, 1),
            true,
        )
    };
    Ok(())
}

/// `∂x = g W` `[…, in]` of [`LinearProduct`] from `g` `[…, out]` and `W`, when `∂W` goes to a gradient buffer.
struct InputGrad;

impl CustomOp2 for InputGrad {
    fn name(&self) -> &'static str {
        "linear-train-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (out, inner) = l2.shape().dims2()?;
        let g = f32_data(s1, l1, self.name(), "gradient")?;
        let w = f32_data(s2, l2, self.name(), "weight")?;
        let rows = g.len() / out.max(1);
        let mut dx = vec![0f32; rows * inner];
        input_grad(&mut dx, g, w, (rows, inner, out))?;
        let mut dims = l1.shape().dims().to_vec();
        *dims.last_mut().expect("a gradient of rank 1 or more") = inner;
        Ok((CpuStorage::F32(dx), Shape::from(dims)))
    }
}

/// `∂W = gᵀ x` written into (`first`) or added to a gradient buffer `[out, in]`, from `g` `[…, out]` and `x`
/// `[…, in]`.
struct WeightGrad {
    first: bool,
}

impl InplaceOp3 for WeightGrad {
    fn name(&self) -> &'static str {
        "linear-train-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (out, inner) = l1.shape().dims2()?;
        let dw = crate::cpu_fused::contiguous_f32_mut(s1, l1, self.name(), "gradient buffer")?;
        let g = f32_data(s2, l2, self.name(), "gradient")?;
        let x = f32_data(s3, l3, self.name(), "input")?;
        let rows = x.len() / inner.max(1);
        weight_grad(dw, !self.first, g, x, (rows, inner, out))
    }
}

/// `[∂x, ∂W]` (flattened) of [`LinearProduct`] from `x`, `W` and `g` `[…, out]`: `∂x = g W`, `∂W = gᵀ x`.
struct LinearProductGrad;

impl CustomOp3 for LinearProductGrad {
    fn name(&self) -> &'static str {
        "linear-train-grad"
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
        let (rows, inner, out) = sizes(l1, l2)?;
        let x = f32_data(s1, l1, self.name(), "input")?;
        let w = f32_data(s2, l2, self.name(), "weight")?;
        let g = f32_data(s3, l3, self.name(), "gradient")?;
        if g.len() != rows * out {
            candle_core::bail!(
                "linear: gradient {:?} does not match the output",
                l3.shape()
            );
        }
        let mut both = vec![0f32; rows * inner + out * inner];
        let (dx, dw) = both.split_at_mut(rows * inner);
        input_grad(dx, g, w, (rows, inner, out))?;
        weight_grad(dw, false, g, x, (rows, inner, out))?;
        Ok((
            CpuStorage::F32(both),
            Shape::from(rows * inner + out * inner),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{gap, seeded};
    use candle_core::Var;

    #[test]
    fn a_trained_layer_equals_candles_in_value_and_gradient() {
        for (shape, bias) in [(vec![2, 7, 13], true), (vec![5, 13], false)] {
            let x = Var::from_tensor(&seeded(&shape, 1, 1.0)).unwrap();
            let w = Var::from_tensor(&seeded(&[11, 13], 2, 1.0)).unwrap();
            let b = bias.then(|| Var::from_tensor(&seeded(&[11], 3, 1.0)).unwrap());
            let bt = b.as_ref().map(|b| b.as_tensor().clone());
            let ours = Linear::new(w.as_tensor().clone(), bt.clone());
            let theirs = candle_nn::Linear::new(w.as_tensor().clone(), bt);
            let (yo, yt) = (
                ours.forward(x.as_tensor()).unwrap(),
                theirs.forward(x.as_tensor()).unwrap(),
            );
            assert_eq!(yo.dims(), yt.dims());
            assert!(gap(&yo, &yt) < 1e-5);
            let mut out_dims = shape.clone();
            *out_dims.last_mut().unwrap() = 11;
            let cot = seeded(&out_dims, 4, 1.0);
            let go = (&yo * &cot).unwrap().sum_all().unwrap().backward().unwrap();
            let gt = (&yt * &cot).unwrap().sum_all().unwrap().backward().unwrap();
            let mut vars = vec![&x, &w];
            vars.extend(b.as_ref());
            for v in vars {
                let (a, c) = (
                    go.get(v.as_tensor()).unwrap(),
                    gt.get(v.as_tensor()).unwrap(),
                );
                assert_eq!(a.dims(), c.dims());
                assert!(a.is_contiguous());
                assert!(gap(a, c) < 1e-5, "gradient differs by {}", gap(a, c));
            }
        }
    }

    #[test]
    fn a_tied_table_sums_the_head_and_embedding_gradients_in_its_buffer() {
        use crate::grad_sink::Sinks;
        use std::sync::Arc;
        // A table `[vocab 9, d 6]` used as the embedding and, through the sequence, as the output head.
        let table = Var::from_tensor(&seeded(&[9, 6], 1, 1.0)).unwrap();
        let ids = Tensor::new(&[[1u32, 4, 4], [8, 0, 1]], &candle_core::Device::Cpu).unwrap();
        let cot = seeded(&[2, 3, 9], 2, 1.0);
        let loss = |t: &Tensor| {
            let h = crate::embedding::lookup(t, &ids).unwrap().tanh().unwrap();
            let logits = Linear::new(t.clone(), None).forward(&h).unwrap();
            (logits * &cot).unwrap().sum_all().unwrap()
        };
        let plain = loss(table.as_tensor()).backward().unwrap();
        let want = plain.get(table.as_tensor()).unwrap().clone();
        let sinks = Arc::new(Sinks::for_params(&[("t".to_string(), table.clone())]));
        for _ in 0..2 {
            let l = loss(table.as_tensor());
            let g = sinks.scope(|| l.backward()).unwrap();
            assert!(
                g.get(table.as_tensor()).is_none(),
                "candle holds no gradient of the table"
            );
            let got = sinks.written(table.as_tensor()).unwrap();
            assert!(gap(&got, &want) < 1e-5, "differs by {}", gap(&got, &want));
        }
    }

    #[test]
    fn inference_equals_candles_layer_and_mismatched_shapes_are_errors() {
        // Shapes around the product's blocking (k past its cache blocks, rows and columns off its tile sizes), a
        // strided input and a bias.
        for (x_shape, out, bias) in [
            (vec![2, 4], 3, false),
            (vec![3, 37, 600], 97, true),
            (vec![1, 5, 1], 17, false),
        ] {
            let inner = *x_shape.last().unwrap();
            let w = seeded(&[out, inner], 5, 1.0);
            let b = bias.then(|| seeded(&[out], 8, 1.0));
            let ours = Linear::new(w.clone(), b.clone());
            let theirs = candle_nn::Linear::new(w, b);
            let x = seeded(&x_shape, 6, 1.0);
            let (yo, yt) = (ours.forward(&x).unwrap(), theirs.forward(&x).unwrap());
            assert_eq!(yo.dims(), yt.dims());
            assert!(gap(&yo, &yt) < 1e-4, "differs by {}", gap(&yo, &yt));
        }
        let x = seeded(&[4, 9], 9, 1.0).t().unwrap();
        let l = Linear::new(seeded(&[3, 4], 5, 1.0), None);
        let theirs = candle_nn::Linear::new(seeded(&[3, 4], 5, 1.0), None);
        assert!(gap(&l.forward(&x).unwrap(), &theirs.forward(&x).unwrap()) < 1e-5);
        let x = Var::from_tensor(&seeded(&[2, 5], 7, 1.0)).unwrap();
        assert!(l.forward(x.as_tensor()).is_err());
        assert!(l.forward(&seeded(&[2, 5], 7, 1.0)).is_err());
    }
}
