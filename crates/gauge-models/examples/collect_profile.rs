//! Times the paired-statistics pass of a GGUF loaded twice, with the batching `align` uses (256 x 8), for profiling
//! (`perf record`): `cargo run --release -p gauge-models --example collect_profile -- <GGUF> [tokens]`.
use std::path::Path;
use std::time::Instant;

use gauge_core::stats::CrossMoments;
use gauge_models::candle_core::Device;
use gauge_models::pair_stats::{accumulate, Batching};
use gauge_models::{Model, Site};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let gguf = Path::new(&args[1]);
    let n: usize = args.get(2).map_or(2048, |s| s.parse().unwrap());
    let a = Model::load(gguf, &Device::Cpu)?;
    let b = Model::load(gguf, &Device::Cpu)?;
    let sites = Site::all(a.num_layers());
    let ids: Vec<u32> = (0..n)
        .map(|i| ((i * 7919 + 13) % a.vocab_size()) as u32)
        .collect();
    let d = a.hidden_size();
    let mut m: Vec<CrossMoments> = sites.iter().map(|_| CrossMoments::new(d, d)).collect();
    let t = Instant::now();
    let mut last = None;
    accumulate(
        (&a, &b),
        ("a", "b"),
        &ids,
        &sites,
        Batching { seq: 256, batch: 8 },
        &mut m,
        |p| {
            last = Some(p);
            true
        },
    )?;
    let s = t.elapsed().as_secs_f64();
    let p = last.unwrap();
    println!(
        "{n} tokens {s:.2}s {:.1} tok/s fwd {:.2}s stats {:.2}s",
        n as f64 / s,
        p.forward_seconds,
        p.stats_seconds
    );
    Ok(())
}
