//! Paired statistics streamed block by block, for models of any size in bounded memory.
//!
//! [`crate::pair_stats::accumulate`] runs each batch through both whole models. Here the loop is turned inside out:
//! a chunk of the probe (as many sequences as the memory budget allows) is embedded by both models, then each block
//! `l` of `A` is loaded (from the checkpoint, [`crate::Model::load_streamed`]), run over the whole chunk and dropped,
//! then the same for `B`, and the moments of the sites block `l` produces are accumulated before block `l + 1` is
//! loaded. With streamed models peak memory is the larger of one block and one embedding table (the models take
//! turns, and a streamed model reads its embedding table only to embed a chunk), the small tensors outside the
//! blocks (norms), the chunk's activations `[chunk tokens, d]` per model, and one sub-batch's attention and MLP
//! scratch — whatever the depth or the probe's length. A budget too small for one block of each model and one sequence is an error naming the bytes
//! needed. With resident models the same loop runs without the loads.
//!
//! The statistics equal [`crate::pair_stats::accumulate`]'s within float rounding (the same rows are added, in
//! another order). An error mid-chunk (a non-finite activation, an abort) leaves the moments partly updated: the
//! caller discards them.

use std::time::Instant;

use candle_core::Tensor;
use gauge_core::stats::CrossMoments;

use crate::blocks::Context;
use crate::error::{Error, Result};
use crate::pair_stats::{
    check_run, finite, flat, shifted_sums, with_f32, Batching, MomentsOn, Progress,
};
use crate::{Model, Site};

/// How the chunk of a streamed pass was sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Sequences per chunk (each chunk goes through every block once).
    pub chunk_sequences: usize,
    /// Chunks in all.
    pub chunks: usize,
    /// Bytes the plan expects at its peak: weights held plus the chunk's activations and scratch.
    pub peak_bytes: u64,
    /// The smallest budget that runs at all (chunks of one sequence).
    pub min_bytes: u64,
}

/// Sizes the chunks of a streamed pass of `models` on `sequences` sequences under `budget` bytes.
pub fn plan(
    models: (&Model, &Model),
    sequences: usize,
    batching: Batching,
    budget: u64,
) -> Result<Plan> {
    let (a, b) = models;
    let d = a.hidden_size() as u64;
    let seq = batching.seq as u64;
    let batch = batching.batch.min(sequences.max(1)) as u64;
    // The models run one after the other: a streamed one holds its largest block or table only while it runs.
    let (fa, fb) = (a.footprint(), b.footprint());
    let weights = match (fa, fb, a.is_streamed() && b.is_streamed()) {
        (Some(x), Some(y), true) => {
            x.kept_bytes
                + y.kept_bytes
                + (x.held_bytes(true) - x.kept_bytes).max(y.held_bytes(true) - y.kept_bytes)
        }
        (x, y, _) => {
            x.map_or(0, |f| f.held_bytes(a.is_streamed()))
                + y.map_or(0, |f| f.held_bytes(b.is_streamed()))
        }
    };
    // Per token of the chunk: h_l and h_{l+1} of both models, and the host copies of one site's x and y.
    let per_token = 4 * d * (2 + 2 + 2);
    // One sub-batch's scratch: the attention scores and probabilities of every head (at most 64 heads of d / 64)
    // and the MLP's widest activation (4 d, three tensors alive), per model in turn.
    let heads = (d / 64).max(1);
    let scratch = 4 * batch * (2 * heads * seq * seq + 3 * 4 * d * seq);
    let fixed = weights + scratch;
    let need_one = fixed + per_token * seq;
    if budget < need_one {
        return Err(Error::input(
            "memory budget",
            format!(
                "is {budget} bytes, but one block of each model, the parts outside the blocks and one sequence of \
                 {seq} tokens need {need_one} bytes ({weights} of weights, {} of activations and scratch); raise \
                 it to at least {need_one}",
                need_one - weights
            ),
        ));
    }
    let chunk = (((budget - fixed) / (per_token * seq)) as usize).clamp(1, sequences.max(1));
    Ok(Plan {
        chunk_sequences: chunk,
        chunks: sequences.div_ceil(chunk),
        peak_bytes: fixed + per_token * seq * chunk as u64,
        min_bytes: need_one,
    })
}

/// The blocks a pass needs for `sites` in a model of `layers` blocks.
fn blocks_needed(sites: &[Site], layers: usize) -> usize {
    sites
        .iter()
        .map(|s| match s {
            Site::Residual(l) => *l,
            Site::FinalNorm => layers,
        })
        .max()
        .unwrap_or(0)
}

/// Adds the moments of `x`, `y` (`[.., seq, d]` per sub-batch) at `moments[k]` for every `k` with `sites[k] == site`.
#[allow(clippy::too_many_arguments)]
fn record(
    site: Site,
    x: &[Tensor],
    y: &[Tensor],
    sites: &[Site],
    moments: &mut [CrossMoments],
    on: MomentsOn,
    names: (&str, &str),
    offset: usize,
    d: usize,
) -> Result<()> {
    for k in (0..sites.len()).filter(|&k| sites[k] == site) {
        let m = &mut moments[k];
        let mut at = offset;
        for (x, y) in x.iter().zip(y) {
            let n = x.elem_count() / d;
            if on == MomentsOn::Device && m.shifts_fixed() {
                let sums = shifted_sums(x, y, m.shifts(), n, d)?;
                if !sums.iter().all(|s| s.is_finite()) {
                    finite(&flat(x)?, names.0, site, d, at)?;
                    finite(&flat(y)?, names.1, site, d, at)?;
                }
                for s in &sums {
                    m.add_shifted_sums(s.rows, &s.u, &s.v, &s.uu, &s.vv, &s.uv)?;
                }
            } else {
                with_f32(x, |fx| {
                    with_f32(y, |fy| match m.update(fx, fy, n) {
                        Ok(()) => Ok(()),
                        // The update finds a non-finite value while it shifts the rows; the scans name the
                        // model, the site and the probe token (only after an error, so no pass reads them twice).
                        Err(e) => {
                            finite(fx, names.0, site, d, at)?;
                            finite(fy, names.1, site, d, at)?;
                            Err(e.into())
                        }
                    })
                })?;
            }
            at += n;
        }
    }
    Ok(())
}

/// [`crate::pair_stats::accumulate`] streamed block by block under `budget` bytes (see the module documentation).
/// `progress` is called after every block of every chunk (`done` counts them: chunks × blocks in all); returning
/// `false` stops with [`gauge_core::Error::Aborted`].
#[allow(clippy::too_many_arguments)]
pub fn accumulate_streamed(
    models: (&Model, &Model),
    names: (&str, &str),
    ids: &[u32],
    sites: &[Site],
    batching: Batching,
    moments: &mut [CrossMoments],
    budget: u64,
    mut progress: impl FnMut(Progress) -> bool,
) -> Result<Plan> {
    let (a, b) = models;
    check_run(models, names, ids, sites, batching, moments)?;
    let Batching { seq, batch } = batching;
    let rows: Vec<Vec<u32>> = ids.chunks(seq).map(<[u32]>::to_vec).collect();
    let plan = plan(models, rows.len(), batching, budget)?;
    let (d, layers) = (a.hidden_size(), a.num_layers());
    let needed = blocks_needed(sites, layers);
    let on = MomentsOn::for_device(a.device());
    let steps = plan.chunks * needed.max(1);
    let (mut done, mut tokens) = (0, 0);
    let (mut forward_seconds, mut stats_seconds) = (0.0, 0.0);
    let ctx = Context::new(seq, a.device());
    let aborted = || -> Error {
        gauge_core::Error::Aborted {
            what: "activation statistics".into(),
        }
        .into()
    };
    for chunk in rows.chunks(plan.chunk_sequences) {
        let t0 = Instant::now();
        let subs: Vec<Tensor> = chunk
            .chunks(batch)
            .map(|s| a.checked_ids(s, sites))
            .collect::<Result<_>>()?;
        // One read of each model's streamed table for all of the chunk's sub-batches, one table at a time.
        let embed = |m: &Model| -> Result<Vec<Tensor>> {
            crate::lazy::hold(|| subs.iter().map(|ids| m.blocks().embed(ids, &ctx)).collect())
        };
        let (mut ha, mut hb) = (embed(a)?, embed(b)?);
        forward_seconds += t0.elapsed().as_secs_f64();
        let n = chunk.len() * seq;
        let offset = tokens;
        let mut stats = |site: Site, ha: &[Tensor], hb: &[Tensor]| -> Result<f64> {
            let t = Instant::now();
            record(site, ha, hb, sites, moments, on, names, offset, d)?;
            Ok(t.elapsed().as_secs_f64())
        };
        stats_seconds += stats(Site::Residual(0), &ha, &hb)?;
        for l in 0..needed.min(layers) {
            let t = Instant::now();
            for (m, h) in [(a, &mut ha), (b, &mut hb)] {
                m.blocks().with_block(l, &mut |f| {
                    for x in h.iter_mut() {
                        *x = f(x, &ctx)?;
                    }
                    Ok(())
                })?;
            }
            forward_seconds += t.elapsed().as_secs_f64();
            stats_seconds += stats(Site::Residual(l + 1), &ha, &hb)?;
            done += 1;
            let finished = l + 1 == needed.min(layers) && !sites.contains(&Site::FinalNorm);
            let p = Progress {
                done,
                total: steps,
                tokens: tokens + if finished { n } else { 0 },
                forward_seconds,
                stats_seconds,
            };
            if !progress(p) {
                return Err(aborted());
            }
        }
        if sites.contains(&Site::FinalNorm) {
            let t = Instant::now();
            let norm = |m: &Model, h: &[Tensor]| -> Result<Vec<Tensor>> {
                h.iter().map(|x| m.blocks().final_norm(x)).collect()
            };
            let (na, nb) = (norm(a, &ha)?, norm(b, &hb)?);
            forward_seconds += t.elapsed().as_secs_f64();
            stats_seconds += stats(Site::FinalNorm, &na, &nb)?;
        }
        tokens += n;
        if needed == 0 {
            done += 1;
            if !progress(Progress {
                done,
                total: steps,
                tokens,
                forward_seconds,
                stats_seconds,
            }) {
                return Err(aborted());
            }
        }
    }
    Ok(plan)
}
