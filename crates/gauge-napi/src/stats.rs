//! Correlation of paired activations and seeded synthetic data, for experiments and benchmarks.

use gauge_core::rng::SplitMix64;
use gauge_core::stats::CrossMoments;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::{index, seed};
use crate::error::sync;
use crate::job::Job;

/// Pearson correlations `C[i, j] = corr(x[:, i], y[:, j])` of row-major `x` (`[rows, dx]`) and `y`
/// (`[rows, dy]`), returned row-major `[dx, dy]`; blocks of f32 GEMM accumulated in f64. Off the event loop.
#[napi(ts_return_type = "Promise<Float32Array>")]
pub fn correlation(
    x: Float32Array,
    y: Float32Array,
    rows: u32,
    dx: u32,
    dy: u32,
) -> AsyncTask<Job<Float32Array>> {
    AsyncTask::new(Job::new(move || {
        let mut m = CrossMoments::new(dx as usize, dy as usize);
        m.update(&x, &y, rows as usize)?;
        Ok(Float32Array::new(m.correlation()?))
    }))
}

/// `count` standard normal samples from the seeded SplitMix64 stream (Box-Muller), as float32.
#[napi]
pub fn random_normal(env: Env, count: f64, seed_value: Option<f64>) -> Result<Float32Array> {
    sync(&env, || {
        let mut out = vec![0f32; index(count, "count")?];
        SplitMix64::new(seed(seed_value)?).fill_normal(&mut out);
        Ok(Float32Array::new(out))
    })
}

/// `count` uniform samples on [0, 1) from the seeded SplitMix64 stream, as float32.
#[napi]
pub fn random_uniform(env: Env, count: f64, seed_value: Option<f64>) -> Result<Float32Array> {
    sync(&env, || {
        let count = index(count, "count")?;
        let mut rng = SplitMix64::new(seed(seed_value)?);
        Ok(Float32Array::new(
            (0..count).map(|_| rng.next_f32()).collect(),
        ))
    })
}
