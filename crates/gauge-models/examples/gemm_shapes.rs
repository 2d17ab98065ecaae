//! The sgemm the forward passes run on the CPU (candle's matmul, which calls the `gemm` crate), timed on given GEMM
//! shapes the way a linear layer calls it: `x [m, k] · wᵀ` with `w [n, k]` row-major, as `Linear::forward` does.
//! Best of `--reps` after a warm-up; prints JSON, GFLOP/s per shape and the FLOP-weighted mean, in the format of
//! `packages/research/peers/sgemm_roofline.py` (numpy's BLAS on the same shapes), so the two can be set side by side.
//!
//! `cargo run --release -p gauge-models --example gemm_shapes -- --m 2048 --shapes 576x1536,1536x576 [--reps 5]
//! [--layout nt|nn]` (`k x n` per shape; the thread count is `RAYON_NUM_THREADS`, as for the passes). `--layout nn`
//! times `x · w` with `w [k, n]` row-major instead (numpy's layout in the peer), to see what the weights' layout
//! costs.
use std::time::Instant;

use gauge_models::candle_core::{Device, Tensor};

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let m: usize = arg(&args, "--m").unwrap_or("2048").parse()?;
    let reps: usize = arg(&args, "--reps").unwrap_or("5").parse()?;
    let shapes = arg(&args, "--shapes").unwrap_or("576x1536,1536x576,576x576,576x192");
    let transposed = match arg(&args, "--layout").unwrap_or("nt") {
        "nt" => true,
        "nn" => false,
        other => return Err(format!("--layout: {other:?} is not nt or nn").into()),
    };
    let dev = Device::Cpu;
    let mut rows = Vec::new();
    let (mut flops, mut seconds) = (0.0f64, 0.0f64);
    for shape in shapes.split(',') {
        let (k, n) = shape
            .split_once('x')
            .ok_or_else(|| format!("--shapes: {shape:?} is not KxN"))?;
        let (k, n): (usize, usize) = (k.parse()?, n.parse()?);
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
        let w = if transposed {
            Tensor::randn(0f32, 1.0, (n, k), &dev)?.t()?
        } else {
            Tensor::randn(0f32, 1.0, (k, n), &dev)?
        };
        drop(x.matmul(&w)?); // warm-up
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            let y = x.matmul(&w)?;
            best = best.min(t.elapsed().as_secs_f64());
            drop(y);
        }
        let f = 2.0 * (m * k * n) as f64;
        flops += f;
        seconds += best;
        rows.push(format!(
            r#"{{"m":{m},"k":{k},"n":{n},"seconds":{best},"gflops":{}}}"#,
            f / best / 1e9
        ));
    }
    println!(
        r#"{{"threads":{},"layout":"{}","shapes":[{}],"gflops":{}}}"#,
        gauge_models::candle_core::utils::get_num_threads(),
        if transposed { "nt" } else { "nn" },
        rows.join(","),
        flops / seconds / 1e9
    );
    Ok(())
}
