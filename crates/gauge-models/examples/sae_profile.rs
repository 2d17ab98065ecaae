//! Times an SAE fit of the shape the `sae` experiment fits on SmolLM2 (`d = 576`, `4 × d` features, batches of 512)
//! on seeded synthetic activations, and reports the peak resident memory:
//! `cargo run --release -p gauge-models --example sae_profile -- [steps] [n] [d] [expansion]`.
use std::time::Instant;

use gauge_core::rng::SplitMix64;
use gauge_models::candle_core::Device;
use gauge_models::sae::{train, SaeTrainOptions};

fn peak_rss_gib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1048576.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let steps = args.first().copied().unwrap_or(200);
    let n = args.get(1).copied().unwrap_or(16384);
    let d = args.get(2).copied().unwrap_or(576);
    let expansion = args.get(3).copied().unwrap_or(4);
    // Sparse non-negative codes over a random dictionary, plus noise: data an SAE can fit.
    let mut rng = SplitMix64::new(7);
    let atoms = 2 * d;
    let mut dict = vec![0f32; atoms * d];
    rng.fill_normal(&mut dict);
    let mut x = vec![0f32; n * d];
    rng.fill_normal(&mut x);
    for row in x.chunks_exact_mut(d) {
        row.iter_mut().for_each(|v| *v *= 0.05);
        for _ in 0..8 {
            let a = rng.below(atoms as u64) as usize;
            let c = rng.next_f64() as f32;
            for (v, w) in row.iter_mut().zip(&dict[a * d..(a + 1) * d]) {
                *v += c * w;
            }
        }
    }
    let opts = SaeTrainOptions {
        d_sae: expansion * d,
        l1: 0.01,
        steps,
        ..SaeTrainOptions::default()
    };
    let t0 = Instant::now();
    let (_, report) = train(&x, d, &opts, &Device::Cpu)?;
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{steps} steps of {} x {d} -> {}: {s:.2} s ({:.1} ms/step), loss {:.4} -> {:.4}, peak RSS {:.2} GiB",
        opts.batch,
        opts.d_sae,
        1e3 * s / steps as f64,
        report.losses[0],
        report.losses[steps - 1],
        peak_rss_gib()
    );
    Ok(())
}
