//! `canonicalGauge`: gauge fixing from a checkpoint alone (gauge_core::canonical), off the event loop.

use std::path::Path;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::CodedError;
use crate::gauge::Gauge;
use crate::job::Job;

/// The canonical chart of a checkpoint and how well the checkpoint determines it.
#[napi(object, object_from_js = false)]
pub struct CanonicalChart {
    /// The gauge from the checkpoint's chart to the canonical chart: coordinates ordered by mean norm gain
    /// (descending), signs making each token-embedding column sum positive (one global sign on LayerNorm models).
    pub gauge: Gauge,
    /// Gain tensors averaged for the order.
    pub gain_tensors: u32,
    /// Adjacent coordinates (in gain order) whose gains are tied within the tolerance: their order hangs on a tiny
    /// gain difference or, where equal, on the embedding norms.
    pub gain_ties: u32,
    /// Of those, pairs whose embedding norms are tied too: their order is not determined by the checkpoint.
    pub ties: u32,
    /// The smallest gap between adjacent sorted gains, in units of the gains' standard deviation.
    pub min_gain_gap: f64,
    /// Coordinates whose sign statistic is within the tolerance of zero: their sign is arbitrary.
    pub weak_signs: u32,
    /// The embedding tensor the signs come from.
    pub sign_tensor: String,
}

/// The canonical chart of the Hugging Face checkpoint directory `dir` (gauge fixing from the checkpoint alone).
/// `tieTolerance` (default 1e-6) is relative: gaps between sorted gains below it times the gains' standard
/// deviation count as ties, embedding sums below it times their mean magnitude as weak signs.
#[napi(ts_return_type = "Promise<CanonicalChart>")]
pub fn canonical_gauge(dir: String, tie_tolerance: Option<f64>) -> AsyncTask<Job<CanonicalChart>> {
    AsyncTask::new(Job::new(move || {
        let tol = tie_tolerance.unwrap_or(1e-6);
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(CodedError::invalid(
                "tieTolerance",
                format!("{tol} is not a finite number >= 0"),
            ));
        }
        let c = gauge_core::canonical::canonical_gauge(Path::new(&dir), tol)?;
        Ok(CanonicalChart {
            gauge: Gauge { inner: c.gauge },
            gain_tensors: c.gain_tensors as u32,
            gain_ties: c.gain_ties as u32,
            ties: c.ties as u32,
            min_gain_gap: c.min_gain_gap,
            weak_signs: c.weak_signs as u32,
            sign_tensor: c.sign_tensor,
        })
    }))
}
