//! Helpers of the crate's unit tests.

use candle_core::{Device, Tensor};

/// A tensor of `shape` with entries uniform in `[−scale, scale]`, from `seed`.
pub(crate) fn seeded(shape: &[usize], seed: u64, scale: f64) -> Tensor {
    let n = shape.iter().product();
    let mut rng = gauge_core::rng::SplitMix64::new(seed);
    let v: Vec<f32> = (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * scale) as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// The largest `|a − b|`.
pub(crate) fn gap(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
