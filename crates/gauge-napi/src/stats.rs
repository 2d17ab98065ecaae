//! Correlation of paired activations and seeded synthetic data, for experiments and benchmarks.

use gauge_core::owned;
use gauge_core::rng::SplitMix64;
use gauge_core::stats::CrossMoments;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::{dim, index, seed};
use crate::error::{sync, CResult, CodedError};
use crate::job::Job;

/// The most samples `randomNormal` and `randomUniform` return: 2^30, 4 GiB of float32 (a larger count is far more
/// likely a mistake than a wish, and one the allocator might otherwise answer by ending the process).
const MAX_SAMPLES: u64 = 1 << 30;

/// Pearson correlations `C[i, j] = corr(x[:, i], y[:, j])` of row-major `x` (`[rows, dx]`) and `y`
/// (`[rows, dy]`), returned row-major `[dx, dy]`; blocks of f32 GEMM accumulated in f64. Off the event loop; `x`
/// and `y` are copied before the call returns. Rejects with `INVALID_ARGUMENT` for a size that is not a whole
/// number in range or a `dx x dy` matrix that cannot be allocated, and `SHAPE_MISMATCH` when the lengths are not
/// `rows · dx` and `rows · dy`, before allocating anything.
#[napi(ts_return_type = "Promise<Float32Array>")]
pub fn correlation(
    x: Float32Array,
    y: Float32Array,
    rows: f64,
    dx: f64,
    dy: f64,
) -> AsyncTask<Job<Float32Array>> {
    // The worker must not read the caller's buffers: JavaScript may write or transfer them meanwhile.
    let (x, y) = (owned::copy(&x), owned::copy(&y));
    AsyncTask::new(Job::new(move || {
        let (rows, dx, dy) = (index(rows, "rows")?, dim(dx, "dx")?, dim(dy, "dy")?);
        for (name, data, d) in [("x", &x, dx), ("y", &y, dy)] {
            if rows.checked_mul(d) != Some(data.len()) {
                return Err(gauge_core::Error::ShapeMismatch {
                    what: name.into(),
                    expected: format!("rows x {name}'s width = {rows} x {d} values"),
                    got: format!("{} values", data.len()),
                }
                .into());
            }
        }
        let mut m = CrossMoments::try_new(dx, dy)?;
        m.update(&x, &y, rows)?;
        Ok(Float32Array::new(m.correlation()?))
    }))
}

/// A sample count in `[0, 2^30]`.
fn samples(count: f64) -> CResult<usize> {
    crate::args::integer(count, "count", 0, MAX_SAMPLES).map(|n| n as usize)
}

/// `count` zeros, or `INVALID_ARGUMENT` when they cannot be allocated.
fn zeros(count: usize) -> CResult<Vec<f32>> {
    let mut out = Vec::new();
    out.try_reserve_exact(count).map_err(|_| {
        CodedError::invalid(
            "count",
            format!("{count} float32 values cannot be allocated"),
        )
    })?;
    out.resize(count, 0.0);
    Ok(out)
}

/// `count` (at most 2^30) standard normal samples from the seeded SplitMix64 stream (Box-Muller), as float32.
#[napi]
pub fn random_normal(env: Env, count: f64, seed_value: Option<f64>) -> Result<Float32Array> {
    sync(&env, || {
        let mut out = zeros(samples(count)?)?;
        SplitMix64::new(seed(seed_value)?).fill_normal(&mut out);
        Ok(Float32Array::new(out))
    })
}

/// `count` (at most 2^30) uniform samples on [0, 1) from the seeded SplitMix64 stream, as float32.
#[napi]
pub fn random_uniform(env: Env, count: f64, seed_value: Option<f64>) -> Result<Float32Array> {
    sync(&env, || {
        let mut out = zeros(samples(count)?)?;
        let mut rng = SplitMix64::new(seed(seed_value)?);
        out.iter_mut().for_each(|v| *v = rng.next_f32());
        Ok(Float32Array::new(out))
    })
}
