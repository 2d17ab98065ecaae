//! One model over a whole probe, block-major: the residual states at some sites, or the last position's logits.
//!
//! The tools that are fitted or measured on one model's activations (SAEs, steering vectors, attributions, the
//! activations of a trajectory's checkpoints) need `h_site` of every token of a probe. Running the probe batch by
//! batch through [`crate::Model::hidden_states`] reads every block once per batch, which for a streamed model
//! ([`crate::Model::load_streamed`]) means reading the checkpoint once per batch. Here the loop is turned inside
//! out, as in [`crate::streamed_stats`]: every sequence is embedded, then each block below the last site is held
//! once ([`crate::blocks::Blocks::with_block`]: loaded and dropped when streamed) while every sub-batch runs
//! through it. A streamed model therefore reads each needed block once per call, whatever the probe's length; a
//! resident one does the same products in another order.
//!
//! Sequences may have different lengths: consecutive sequences of one length form sub-batches of at most `batch`.
//! Memory: the weights a pass holds (one block when streamed), the hidden states of the whole probe
//! (`Σ len · d` floats, the size of one site's result), the results and one sub-batch's scratch.
//!
//! The states equal the batch-by-batch ones bit for bit on the CPU: each sub-batch goes through the same kernels.
//! The logits of [`last_logits`] (what steering effects and audits measure) apply the head to the last position
//! alone, which differs from the whole-sequence head by the rounding of another GEMM shape.

use candle_core::{DType, Tensor};

use crate::blocks::Context;
use crate::error::{Error, Result};
use crate::{Model, Site, Steer};

/// The hidden states at `sites` of every token of `sequences`: one row-major `[Σ len, d]` matrix per site, in the
/// order of `sites`, rows in sequence order (see the module documentation). `progress(done, total)` is called after
/// the embedding and after every block (`total` is the blocks the sites need, plus one); returning `false` stops
/// with [`gauge_core::Error::Aborted`].
///
/// # Errors
/// `INVALID_ARGUMENT` for no sites, no sequences, an empty one, `batch = 0`, an id outside the vocabulary, a
/// sequence longer than the model runs, or a site that does not exist; `ABORTED` when `progress` says stop.
pub fn site_states(
    model: &Model,
    sequences: &[Vec<u32>],
    sites: &[Site],
    batch: usize,
    progress: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<Vec<f32>>> {
    if sites.is_empty() {
        return Err(Error::input("sites", "is empty"));
    }
    let layers = model.num_layers();
    let needed = sites
        .iter()
        .map(|s| match s {
            Site::Residual(l) => *l,
            Site::FinalNorm => layers,
        })
        .max()
        .unwrap_or(0);
    let pass = Pass::new(model, sequences, batch, sites, None)?;
    let d = model.hidden_size();
    let mut out = vec![Vec::new(); sites.len()];
    let mut record = |site: Site, h: &[Tensor]| -> Result<()> {
        for k in (0..sites.len()).filter(|&k| sites[k] == site) {
            let mut v = Vec::with_capacity(pass.tokens * d);
            for x in h {
                v.extend(x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
            }
            out[k] = v;
        }
        Ok(())
    };
    let h = pass.run(needed, &mut record, progress)?;
    if sites.contains(&Site::FinalNorm) {
        let x = pass.final_norm(h)?;
        record(Site::FinalNorm, &x)?;
    }
    Ok(out)
}

/// The logits at the last position of every sequence, row-major `[sequences, vocab]`, with `steer` added on the way
/// (as [`Model::forward_steered`]): the block-major pass of the module documentation through every block, the
/// final norm and the head (on the last positions only). `progress` as in [`site_states`], over every block.
///
/// # Errors
/// As [`site_states`], plus a steering vector that [`Model::forward_steered`] refuses and models without an output
/// head.
pub fn last_logits(
    model: &Model,
    sequences: &[Vec<u32>],
    batch: usize,
    steer: Option<&Steer>,
    progress: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<f32>> {
    if let Some(s) = steer {
        model.check_steer(s)?;
    }
    let pass = Pass::new(model, sequences, batch, &[], steer)?;
    let h = pass.run(model.num_layers(), &mut |_, _| Ok(()), progress)?;
    let x = pass.final_norm(h)?;
    let mut out = Vec::with_capacity(sequences.len() * model.vocab_size());
    // One read of a streamed head (or tied table) for every sub-batch.
    crate::lazy::hold(|| {
        for x in x {
            let seq = x.dim(1)?;
            let logits = model.blocks().head(&x.narrow(1, seq - 1, 1)?)?;
            out.extend(
                logits
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            );
        }
        Ok::<_, Error>(())
    })?;
    Ok(out)
}

/// A probe cut into sub-batches, ready to run block-major.
struct Pass<'a> {
    model: &'a Model,
    /// Checked `[rows, len]` ids of each sub-batch.
    ids: Vec<Tensor>,
    /// The context (positions, mask) of each sub-batch's length.
    contexts: Vec<Context>,
    /// `scale · vector` and where it is added.
    steer: Option<(Site, Tensor)>,
    /// `Σ len`.
    tokens: usize,
}

impl<'a> Pass<'a> {
    /// Groups consecutive sequences of one length, at most `batch` a group, each checked against `sites`.
    fn new(
        model: &'a Model,
        sequences: &[Vec<u32>],
        batch: usize,
        sites: &[Site],
        steer: Option<&Steer>,
    ) -> Result<Self> {
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
        let (mut ids, mut contexts) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < sequences.len() {
            let len = sequences[start].len();
            let mut end = start + 1;
            while end < sequences.len() && end - start < batch && sequences[end].len() == len {
                end += 1;
            }
            model.blocks().check_seq(len)?;
            ids.push(model.checked_ids(&sequences[start..end], sites)?);
            contexts.push(Context::new(len, model.device()));
            start = end;
        }
        let steer = match steer {
            Some(s) => {
                let v: Vec<f32> = s.vector.iter().map(|x| x * s.scale).collect();
                Some((
                    s.site,
                    Tensor::from_vec(v, model.hidden_size(), model.device())?,
                ))
            }
            None => None,
        };
        Ok(Self {
            model,
            ids,
            contexts,
            steer,
            tokens: sequences.iter().map(Vec::len).sum(),
        })
    }

    /// `h` with the steering vector added when the stream passes `site` there.
    fn visit(&self, site: Site, h: &mut [Tensor]) -> Result<()> {
        if let Some((s, v)) = &self.steer {
            if *s == site {
                for x in h.iter_mut() {
                    *x = x.broadcast_add(v)?;
                }
            }
        }
        Ok(())
    }

    /// `h_blocks` of every sub-batch: the embedding, then each block `l < blocks` held once for all sub-batches;
    /// `record` sees every `h_l` on the way.
    fn run(
        &self,
        blocks: usize,
        record: &mut dyn FnMut(Site, &[Tensor]) -> Result<()>,
        mut progress: impl FnMut(usize, usize) -> bool,
    ) -> Result<Vec<Tensor>> {
        let aborted = || -> Error {
            gauge_core::Error::Aborted {
                what: "block-major pass".into(),
            }
            .into()
        };
        let m = self.model.blocks();
        let blocks = blocks.min(self.model.num_layers());
        let total = blocks + 1;
        // One read of a streamed embedding table for every sub-batch.
        let mut h: Vec<Tensor> = crate::lazy::hold(|| {
            self.ids
                .iter()
                .zip(&self.contexts)
                .map(|(ids, ctx)| m.embed(ids, ctx))
                .collect::<Result<_>>()
        })?;
        self.visit(Site::Residual(0), &mut h)?;
        record(Site::Residual(0), &h)?;
        if !progress(1, total) {
            return Err(aborted());
        }
        for l in 0..blocks {
            m.with_block(l, &mut |f| {
                for (x, ctx) in h.iter_mut().zip(&self.contexts) {
                    *x = f(x, ctx)?;
                }
                Ok(())
            })?;
            self.visit(Site::Residual(l + 1), &mut h)?;
            record(Site::Residual(l + 1), &h)?;
            if !progress(l + 2, total) {
                return Err(aborted());
            }
        }
        Ok(h)
    }

    /// The final norm of every sub-batch's `h_L`, with the steering vector added there if it is its site.
    fn final_norm(&self, h: Vec<Tensor>) -> Result<Vec<Tensor>> {
        let m = self.model.blocks();
        let mut x: Vec<Tensor> = h.iter().map(|x| m.final_norm(x)).collect::<Result<_>>()?;
        self.visit(Site::FinalNorm, &mut x)?;
        Ok(x)
    }
}
