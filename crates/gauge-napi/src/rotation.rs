//! `rotateCheckpoint`: the control of the symmetry experiment, a random rotation of the residual stream.

use std::path::Path;

use gauge_core::rotation::{random_orthogonal, rotate};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::seed;
use crate::error::CodedError;
use crate::job::Job;

/// Options of `rotateCheckpoint`.
#[napi(object)]
pub struct RotateOptions {
    /// Seed of the Haar-random rotation.
    /// @default 0
    pub seed: Option<f64>,
    /// Must be `true`: a rotation is not a symmetry of a model with per-channel norm gains, so the result computes
    /// a different function. It exists for experiments.
    pub force: Option<bool>,
}

/// Writes `model` with its residual stream rotated by a seeded Haar-random orthogonal matrix (every residual
/// vector `v ↦ R v`, gains unchanged) into the new directory `out`; resolves to the number of tensors rotated.
/// Refused unless `force` is set, because the result is not equivalent to the input. Off the event loop.
#[napi(ts_return_type = "Promise<number>")]
pub fn rotate_checkpoint(
    model: String,
    out: String,
    options: Option<RotateOptions>,
) -> AsyncTask<Job<u32>> {
    let (s, force) = options.map_or((None, None), |o| (o.seed, o.force));
    AsyncTask::new(Job::new(move || {
        if force != Some(true) {
            return Err(CodedError::invalid(
                "force",
                "a rotation of the residual stream is not a symmetry of a normalised model with per-channel \
                 gains (R·diag(γ)·Rᵀ is not diagonal), so the result computes a different function; pass \
                 force: true to write it for an experiment",
            ));
        }
        let seed = seed(s)?;
        let d = gauge_core::checkpoint::Checkpoint::open(Path::new(&model))?.hidden_size()?;
        let r = random_orthogonal(d, seed);
        Ok(rotate(Path::new(&model), &r, Path::new(&out))? as u32)
    }))
}
