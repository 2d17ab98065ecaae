//! Fitting a `standard` SAE to activations: reconstruction error plus an L1 penalty on the features weighted by
//! their decoder norms (so the penalty cannot be dodged by shrinking features and growing decoder rows), Adam on
//! seeded minibatches, candle autograd (the products as [`crate::linear::Linear`]s).
//!
//! Inputs are first scaled by `s` so that the mean squared distance to the mean is `d_in` (the penalty then means
//! the same for every model), and the scale is folded back into the weights at the end (`W_enc · s`, `W_dec / s`,
//! `b_dec / s`), so the saved SAE reads raw activations.

use candle_core::Module;
use candle_core::{DType, Device, Tensor, Var, D};
use gauge_core::rng::SplitMix64;

use super::{Architecture, Sae};
use crate::error::{Error, Result};

/// Options of [`train`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaeTrainOptions {
    /// Number of features.
    pub d_sae: usize,
    /// Weight of the L1 penalty (on scaled inputs).
    pub l1: f64,
    /// Adam learning rate.
    pub lr: f64,
    /// Updates.
    pub steps: usize,
    /// Rows per update.
    pub batch: usize,
    /// Seed of the initialisation and the minibatches.
    pub seed: u64,
}

impl Default for SaeTrainOptions {
    fn default() -> Self {
        Self {
            d_sae: 0,
            l1: 1e-3,
            lr: 1e-3,
            steps: 2000,
            batch: 512,
            seed: 0,
        }
    }
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq)]
pub struct SaeTrainReport {
    /// Training loss of every update (normalised reconstruction error plus penalty).
    pub losses: Vec<f64>,
    /// The input scale `s` folded into the weights.
    pub scale: f64,
    /// Wall time.
    pub seconds: f64,
}

/// Fits an SAE with `opts.d_sae` features to the activations `x`, row-major `[n, d]`, on `device`.
pub fn train(
    x: &[f32],
    d: usize,
    opts: &SaeTrainOptions,
    device: &Device,
) -> Result<(Sae, SaeTrainReport)> {
    let t0 = std::time::Instant::now();
    let mean = super::checked_mean(x, d, "d")?;
    if opts.d_sae == 0 || opts.steps == 0 || opts.batch == 0 {
        return Err(Error::input(
            "options",
            "dSae, steps and batch must be positive",
        ));
    }
    let n = x.len() / d;
    let m = opts.d_sae;
    let spread: f64 = x
        .chunks_exact(d)
        .map(|r| {
            r.iter()
                .zip(&mean)
                .map(|(&v, a)| (v as f64 - a).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    if spread <= 0.0 {
        return Err(Error::input(
            "activations",
            "are all equal: nothing to encode",
        ));
    }
    let scale = (d as f64 / spread).sqrt();
    let data = Tensor::from_slice(x, (n, d), device)?.affine(scale, 0.0)?;

    let mut rng = SplitMix64::new(opts.seed);
    let mut dec = vec![0f32; m * d];
    rng.fill_normal(&mut dec);
    for row in dec.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    // The two weights are kept in the layout of `crate::linear::Linear` (`[out, in]`): the encoder `W_encᵀ`
    // `[m, d]` (initialised to the decoder rows, `W_enc = W_decᵀ`) and the decoder `W_decᵀ` `[d, m]`, so that on
    // the CPU each product and its gradients are single kernels writing into persistent gradient buffers.
    let enc = Var::from_tensor(&Tensor::from_vec(dec, (m, d), device)?)?;
    let dec_t = Var::from_tensor(&enc.as_tensor().t()?.contiguous()?)?;
    let b_enc = Var::from_tensor(&Tensor::zeros(m, DType::F32, device)?)?;
    let mean_scaled: Vec<f32> = mean.iter().map(|a| (a * scale) as f32).collect();
    let b_dec = Var::from_tensor(&Tensor::from_vec(mean_scaled, d, device)?)?;
    let params: Vec<(String, Var)> = [
        ("w_enc", &enc),
        ("b_enc", &b_enc),
        ("w_dec", &dec_t),
        ("b_dec", &b_dec),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.clone()))
    .collect();
    let sinks = std::sync::Arc::new(crate::grad_sink::Sinks::for_params(&params));
    let mut adam = crate::train::AdamW::new(crate::train::AdamWConfig {
        lr: opts.lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    })?;
    let encoder =
        crate::linear::Linear::new(enc.as_tensor().clone(), Some(b_enc.as_tensor().clone()));
    let decoder =
        crate::linear::Linear::new(dec_t.as_tensor().clone(), Some(b_dec.as_tensor().clone()));
    let batch = opts.batch.min(n);
    let mut losses = Vec::with_capacity(opts.steps);
    for _ in 0..opts.steps {
        let idx: Vec<u32> = (0..batch).map(|_| rng.below(n as u64) as u32).collect();
        let xb = data.index_select(&Tensor::from_vec(idx, batch, device)?, 0)?;
        let f = encoder
            .forward(&xb.broadcast_sub(b_dec.as_tensor())?)?
            .relu()?;
        let xhat = decoder.forward(&f)?;
        let recon = (xhat - &xb)?
            .sqr()?
            .sum(D::Minus1)?
            .mean_all()?
            .affine(1.0 / d as f64, 0.0)?;
        // The decoder rows' norms are the columns of `W_decᵀ`.
        let norms = dec_t.as_tensor().sqr()?.sum(0)?.sqrt()?;
        let sparsity = f.broadcast_mul(&norms)?.sum(D::Minus1)?.mean_all()?;
        let loss = (recon + sparsity.affine(opts.l1, 0.0)?)?;
        losses.push(loss.to_scalar::<f32>()? as f64);
        let mut grads = sinks.scope(|| loss.backward())?;
        for (_, var) in &params {
            let t = var.as_tensor();
            if let Some(g) = sinks.take(t, &mut grads)? {
                grads.insert(t, g);
            }
        }
        adam.update(&params, &grads, opts.lr, 1.0)?;
    }
    let last = losses.last().copied().unwrap_or(f64::NAN);
    if !last.is_finite() {
        return Err(Error::input(
            "options",
            format!("the SAE loss diverged to {last}; lower lr"),
        ));
    }
    let sae = Sae {
        w_enc: enc.as_tensor().t()?.contiguous()?.affine(scale, 0.0)?,
        b_enc: b_enc.as_tensor().clone(),
        w_dec: dec_t
            .as_tensor()
            .t()?
            .contiguous()?
            .affine(1.0 / scale, 0.0)?,
        b_dec: b_dec.as_tensor().affine(1.0 / scale, 0.0)?,
        threshold: None,
        architecture: Architecture::Standard,
        apply_b_dec_to_input: true,
    };
    Ok((
        sae,
        SaeTrainReport {
            losses,
            scale,
            seconds: t0.elapsed().as_secs_f64(),
        },
    ))
}
