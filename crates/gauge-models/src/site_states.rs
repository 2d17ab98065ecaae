//! One model's residual states at one site over a whole probe, block-major.
//!
//! The tools that are fitted or measured on one model's activations (SAEs, steering vectors, attributions) need
//! `h_site` of every token of a probe. Running the probe batch by batch through [`crate::Model::hidden_states`]
//! reads every block once per batch, which for a streamed model ([`crate::Model::load_streamed`]) means reading the
//! checkpoint once per batch. Here the loop is turned inside out, as in [`crate::streamed_stats`]: every sequence is
//! embedded, then each block `l < site` is held once ([`crate::blocks::Blocks::with_block`]: loaded and dropped
//! when streamed) while every sub-batch runs through it. A streamed model therefore reads each needed block once
//! per call, whatever the probe's length; a resident one does the same products in another order.
//!
//! Sequences may have different lengths: consecutive sequences of one length form sub-batches of at most `batch`.
//! Memory: the weights a pass holds (one block when streamed), the hidden states of the whole probe
//! (`Σ len · d` floats, the size of the result) and one sub-batch's scratch.
//!
//! The result equals the batch-by-batch one bit for bit on the CPU: each sub-batch goes through the same kernels.

use candle_core::Tensor;

use crate::blocks::Context;
use crate::error::{Error, Result};
use crate::{Model, Site};

/// `h_site` of every token of `sequences`, row-major `[Σ len, d]` in sequence order (see the module
/// documentation). `progress(done, total)` is called after the embedding and after every block (`total` is the
/// blocks the site needs, plus one); returning `false` stops with [`gauge_core::Error::Aborted`].
///
/// # Errors
/// `INVALID_INPUT` for no sequences, an empty one, `batch = 0`, an id outside the vocabulary, a sequence longer
/// than the model runs, or a site that does not exist; `ABORTED` when `progress` says stop.
pub fn site_states(
    model: &Model,
    sequences: &[Vec<u32>],
    site: Site,
    batch: usize,
    mut progress: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<f32>> {
    if sequences.is_empty() {
        return Err(Error::input("sequences", "is empty"));
    }
    if batch == 0 {
        return Err(Error::input("batch", "is 0; it must be at least 1"));
    }
    if let Some(k) = sequences.iter().position(Vec::is_empty) {
        return Err(Error::input(
            "sequences",
            format!("sequence {k} has no ids"),
        ));
    }
    let layers = model.num_layers();
    let needed = match site {
        Site::Residual(l) => l,
        Site::FinalNorm => layers,
    };
    // Consecutive sequences of one length, at most `batch` a group, each a checked `[rows, seq]` tensor.
    let mut subs: Vec<(Tensor, usize)> = Vec::new();
    let mut start = 0;
    while start < sequences.len() {
        let len = sequences[start].len();
        let mut end = start + 1;
        while end < sequences.len() && end - start < batch && sequences[end].len() == len {
            end += 1;
        }
        model.blocks().check_seq(len)?;
        subs.push((model.checked_ids(&sequences[start..end], &[site])?, len));
        start = end;
    }
    let total = needed.min(layers) + 1;
    let aborted = || -> Error {
        gauge_core::Error::Aborted {
            what: "site states".into(),
        }
        .into()
    };
    let blocks = model.blocks();
    let contexts: Vec<Context> = subs
        .iter()
        .map(|(_, len)| Context::new(*len, model.device()))
        .collect();
    let mut h: Vec<Tensor> = subs
        .iter()
        .zip(&contexts)
        .map(|((ids, _), ctx)| blocks.embed(ids, ctx))
        .collect::<Result<_>>()?;
    drop(subs);
    if !progress(1, total) {
        return Err(aborted());
    }
    for l in 0..needed.min(layers) {
        blocks.with_block(l, &mut |f| {
            for (x, ctx) in h.iter_mut().zip(&contexts) {
                *x = f(x, ctx)?;
            }
            Ok(())
        })?;
        if !progress(l + 2, total) {
            return Err(aborted());
        }
    }
    if site == Site::FinalNorm {
        h = h
            .iter()
            .map(|x| blocks.final_norm(x))
            .collect::<Result<_>>()?;
    }
    let d = model.hidden_size();
    let tokens: usize = sequences.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(tokens * d);
    for x in h {
        let x = x.to_dtype(candle_core::DType::F32)?.flatten_all()?;
        out.extend(x.to_vec1::<f32>()?);
    }
    Ok(out)
}
