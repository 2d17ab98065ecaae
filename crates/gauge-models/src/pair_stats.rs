//! Paired activation statistics (GAUGE.md §5): two models run on the same token ids, and at every requested site the
//! streaming cross-moments of their hidden states `h_A`, `h_B` (`[tokens, d]` each) are accumulated, batch by
//! batch. Memory is one batch of activations plus the moments (`d × d` `f64` per site), whatever the probe length.
//!
//! Where the products are formed ([`MomentsOn`]): on the CPU the activations go to the project's GEMM
//! ([`CrossMoments::update`]); on an accelerator the shifted block products `Σuvᵀ` and the sums are computed where
//! the activations already are (candle ops, `f32`), and only `d × d` results cross to the host to be folded into
//! the `f64` totals ([`CrossMoments::add_shifted_sums`]). The first 2048 rows, which fix the shifts, always take
//! the host path.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use gauge_core::stats::{CrossMoments, FOLD_ROWS};

use crate::error::{Error, Result};
use crate::{Model, Site};

/// How the probe is cut into forward passes.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Tokens per sequence (the context length).
    pub seq: usize,
    /// Sequences per forward pass.
    pub batch: usize,
}

/// Where the cross-moment products are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MomentsOn {
    /// Activations are copied to the host and multiplied by the project's GEMM (the fastest path on the CPU).
    Host,
    /// On the models' device, once the shifts are fixed: only `d × d` sums cross to the host.
    Device,
}

impl MomentsOn {
    /// [`MomentsOn::Host`] for the CPU, [`MomentsOn::Device`] for an accelerator.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            MomentsOn::Host
        } else {
            MomentsOn::Device
        }
    }
}

/// Progress after each forward pass of both models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Forward passes done (of each model).
    pub done: usize,
    /// Forward passes in all.
    pub total: usize,
    /// Tokens accumulated so far.
    pub tokens: usize,
    /// Seconds spent so far in the forward passes of both models.
    pub forward_seconds: f64,
    /// Seconds spent so far accumulating statistics (the cross-moment GEMMs).
    pub stats_seconds: f64,
}

/// Checks that `a` and `b` can be compared coordinate by coordinate: same architecture family, same residual width
/// and the same vocabulary size (the probe's ids must mean the same tokens to both).
pub fn check_pair(a: &Model, b: &Model, names: (&str, &str)) -> Result<()> {
    let differ = |what: &str, x: String, y: String| {
        Error::input(
            "models",
            format!(
                "{} has {what} {x} but {} has {what} {y}; a gauge relates two checkpoints of one architecture and \
                 shape",
                names.0, names.1
            ),
        )
    };
    if a.architecture() != b.architecture() {
        return Err(differ(
            "architecture",
            a.architecture().into(),
            b.architecture().into(),
        ));
    }
    if a.hidden_size() != b.hidden_size() {
        return Err(differ(
            "residual width d =",
            a.hidden_size().to_string(),
            b.hidden_size().to_string(),
        ));
    }
    if a.vocab_size() != b.vocab_size() {
        return Err(differ(
            "a vocabulary of",
            a.vocab_size().to_string(),
            format!(
                "{} (the same probe ids would name different tokens; re-tokenize the probe per model or align \
                 checkpoints that share a tokenizer)",
                b.vocab_size()
            ),
        ));
    }
    Ok(())
}

/// Runs `a` and `b` on `ids` (whole sequences of `batching.seq` ids; a trailing partial sequence is an error) and
/// adds the cross-moments of their hidden states at `sites[k]` into `moments[k]` (`x` from `a`, `y` from `b`).
/// `progress` is called after every batch; returning `false` stops early with [`gauge_core::Error::Aborted`].
/// A non-finite activation stops with an error naming the model, the site, the token and the coordinate.
/// The products are formed where [`MomentsOn::for_device`] says for the models' device.
pub fn accumulate(
    models: (&Model, &Model),
    names: (&str, &str),
    ids: &[u32],
    sites: &[Site],
    batching: Batching,
    moments: &mut [CrossMoments],
    progress: impl FnMut(Progress) -> bool,
) -> Result<()> {
    let on = MomentsOn::for_device(models.0.device());
    accumulate_on(models, names, ids, sites, batching, moments, on, progress)
}

/// [`accumulate`] with the products formed on `on` (either works on any device; `Device` on the CPU runs candle's
/// matmul, which is how its arithmetic is tested without an accelerator).
#[allow(clippy::too_many_arguments)]
pub fn accumulate_on(
    models: (&Model, &Model),
    names: (&str, &str),
    ids: &[u32],
    sites: &[Site],
    batching: Batching,
    moments: &mut [CrossMoments],
    on: MomentsOn,
    mut progress: impl FnMut(Progress) -> bool,
) -> Result<()> {
    let (a, b) = models;
    let Batching { seq, batch } = batching;
    check_run(models, names, ids, sites, batching, moments)?;
    let d = a.hidden_size();
    let rows: Vec<Vec<u32>> = ids.chunks(seq).map(<[u32]>::to_vec).collect();
    let total = rows.len().div_ceil(batch);
    let mut tokens = 0;
    let (mut forward_seconds, mut stats_seconds) = (0.0, 0.0);
    for (done, chunk) in rows.chunks(batch).enumerate() {
        let t0 = Instant::now();
        let out_a = a.hidden_states(chunk, sites)?;
        let out_b = b.hidden_states(chunk, sites)?;
        let t1 = Instant::now();
        forward_seconds += (t1 - t0).as_secs_f64();
        let n = chunk.len() * seq;
        // Every site is checked before any is updated, so an error leaves `moments` as it was.
        if on == MomentsOn::Device && moments.iter().all(CrossMoments::shifts_fixed) {
            let mut all = Vec::with_capacity(sites.len());
            for (k, &site) in sites.iter().enumerate() {
                let (x, y) = (&out_a[k].1, &out_b[k].1);
                let sums = shifted_sums(x, y, moments[k].shifts(), n, d)?;
                if !sums.iter().all(BlockSums::is_finite) {
                    // Find the value on the host to name it (the error path only).
                    finite(&flat(x)?, names.0, site, d, tokens)?;
                    finite(&flat(y)?, names.1, site, d, tokens)?;
                }
                all.push(sums);
            }
            for (m, sums) in moments.iter_mut().zip(&all) {
                for s in sums {
                    m.add_shifted_sums(s.rows, &s.u, &s.v, &s.uu, &s.vv, &s.uv)?;
                }
            }
        } else {
            for (k, &site) in sites.iter().enumerate() {
                with_f32(&out_a[k].1, |x| finite(x, names.0, site, d, tokens))?;
                with_f32(&out_b[k].1, |y| finite(y, names.1, site, d, tokens))?;
            }
            for (k, m) in moments.iter_mut().enumerate() {
                with_f32(&out_a[k].1, |x| {
                    with_f32(&out_b[k].1, |y| Ok(m.update(x, y, n)?))
                })?;
            }
        }
        stats_seconds += t1.elapsed().as_secs_f64();
        tokens += n;
        if !progress(Progress {
            done: done + 1,
            total,
            tokens,
            forward_seconds,
            stats_seconds,
        }) {
            return Err(gauge_core::Error::Aborted {
                what: "activation statistics".into(),
            }
            .into());
        }
    }
    Ok(())
}

/// The checks every statistics pass makes before running: the models form a pair on one device, the batching is
/// positive, the probe is whole sequences, and there is one accumulator per site.
pub(crate) fn check_run(
    models: (&Model, &Model),
    names: (&str, &str),
    ids: &[u32],
    sites: &[Site],
    batching: Batching,
    moments: &[CrossMoments],
) -> Result<()> {
    let (a, b) = models;
    check_pair(a, b, names)?;
    if !a.device().same_device(b.device()) {
        return Err(Error::input(
            "models",
            format!(
                "{} is on {:?} but {} is on {:?}; load both on one device",
                names.0,
                a.device().location(),
                names.1,
                b.device().location()
            ),
        ));
    }
    let Batching { seq, batch } = batching;
    if seq == 0 || batch == 0 {
        return Err(Error::input("batching", "seq and batch must be positive"));
    }
    if ids.is_empty() {
        return Err(Error::input("probe", "is empty"));
    }
    if !ids.len().is_multiple_of(seq) {
        return Err(Error::input(
            "probe",
            format!(
                "holds {} ids, not a whole number of sequences of {seq}",
                ids.len()
            ),
        ));
    }
    if moments.len() != sites.len() {
        return Err(Error::input(
            "moments",
            format!("{} accumulators for {} sites", moments.len(), sites.len()),
        ));
    }
    Ok(())
}

/// Sums of one block of at most [`FOLD_ROWS`] rows about the shifts, brought to the host.
pub(crate) struct BlockSums {
    pub(crate) rows: usize,
    pub(crate) u: Vec<f64>,
    pub(crate) v: Vec<f64>,
    pub(crate) uu: Vec<f64>,
    pub(crate) vv: Vec<f64>,
    pub(crate) uv: Vec<f32>,
}

impl BlockSums {
    pub(crate) fn is_finite(&self) -> bool {
        [&self.u, &self.v, &self.uu, &self.vv]
            .iter()
            .all(|s| s.iter().all(|v| v.is_finite()))
            && self.uv.iter().all(|v| v.is_finite())
    }
}

/// The sums of `x`, `y` (`[.., .., d]` on any device, `rows` rows in all) about `shifts`, computed on their device
/// in blocks of at most [`FOLD_ROWS`] rows: `Σu`, `Σu²`, `Σv`, `Σv²` (`f32` on the device, `f64` here) and
/// `Σuvᵀ` (`[d, d]`).
pub(crate) fn shifted_sums(
    x: &Tensor,
    y: &Tensor,
    shifts: (&[f32], &[f32]),
    rows: usize,
    d: usize,
) -> Result<Vec<BlockSums>> {
    let dev = x.device();
    let u = x
        .reshape((rows, d))?
        .broadcast_sub(&Tensor::from_slice(shifts.0, (1, d), dev)?)?;
    let v = y
        .reshape((rows, d))?
        .broadcast_sub(&Tensor::from_slice(shifts.1, (1, d), dev)?)?;
    let sums = |t: &Tensor| -> Result<Vec<f64>> {
        Ok(t.sum(0)?
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?)
    };
    let mut out = Vec::new();
    for start in (0..rows).step_by(FOLD_ROWS) {
        let r = FOLD_ROWS.min(rows - start);
        let (ub, vb) = (u.narrow(0, start, r)?, v.narrow(0, start, r)?);
        out.push(BlockSums {
            rows: r,
            u: sums(&ub)?,
            v: sums(&vb)?,
            uu: sums(&ub.sqr()?)?,
            vv: sums(&vb.sqr()?)?,
            uv: ub
                .t()?
                .matmul(&vb)?
                .flatten_all()?
                .to_device(&Device::Cpu)?
                .to_vec1::<f32>()?,
        });
    }
    Ok(out)
}

pub(crate) fn flat(t: &candle_core::Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Calls `f` with the entries of `t` in row-major order: borrowed from a contiguous `f32` tensor on the CPU (the
/// activations of a CPU pass: no copy), copied ([`flat`]) otherwise.
pub(crate) fn with_f32<R>(
    t: &candle_core::Tensor,
    f: impl FnOnce(&[f32]) -> Result<R>,
) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        {
            return f(&v[start..end]);
        }
    }
    f(&flat(t)?)
}

pub(crate) fn finite(x: &[f32], model: &str, site: Site, d: usize, offset: usize) -> Result<()> {
    match gauge_core::finite::first_non_finite(x) {
        None => Ok(()),
        Some(k) => Err(Error::input(
            format!("activations of {model} at {site}"),
            format!(
                "{} at probe token {} coordinate {}: the model overflows or is corrupt at this layer; stopping",
                x[k],
                offset + k / d,
                k % d
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn a_non_finite_activation_is_named_by_token_and_coordinate() {
        assert!(finite(&[1.5; 37], "A", Site::Residual(3), 1, 0).is_ok());
        let e = finite(&[0.0, 1.0, f32::NAN, 2.0], "A", Site::Residual(3), 2, 10).unwrap_err();
        assert!(e.to_string().contains("probe token 11 coordinate 0"), "{e}");
    }

    #[test]
    fn with_f32_borrows_contiguous_tensors_and_copies_the_rest() -> Result<()> {
        let t = Tensor::arange(0f32, 12.0, &Device::Cpu)?.reshape((3, 4))?;
        let want: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(with_f32(&t, |v| Ok(v.to_vec()))?, want);
        // A narrowed view starts at an offset of its storage.
        let rows = t.narrow(0, 1, 2)?;
        assert_eq!(with_f32(&rows, |v| Ok(v.to_vec()))?, want[4..].to_vec());
        // A transposed view is not contiguous: its entries in row-major order are copied.
        let tt = t.t()?;
        let theirs: Vec<f32> = tt.flatten_all()?.to_vec1()?;
        assert_eq!(with_f32(&tt, |v| Ok(v.to_vec()))?, theirs);
        Ok(())
    }
}
