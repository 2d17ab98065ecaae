//! The checks a GPU machine runs (`scripts/gpu-check.sh`, with the `cuda` feature): SmolLM2-135M on the
//! accelerator against the CPU (logits and every hidden state within 1e-3 of the largest value), the paired
//! statistics formed on the device against the host's, streamed against whole statistics on the device, the gauge
//! of a re-charted pair recovered on the device, and forward tokens/s on both. Prints one JSON object.
//!
//! `cargo run --release -p gauge-models --features cuda --example gpu_check -- <SmolLM2 GGUF> [device]`

use std::path::Path;
use std::time::Instant;

use gauge_core::assignment::Solver;
use gauge_core::matching::{match_gauge, Method};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::stats::CrossMoments;
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::{Device, Tensor};
use gauge_models::pair_stats::{accumulate_on, Batching, MomentsOn};
use gauge_models::streamed_stats::accumulate_streamed;
use gauge_models::{Model, Site};

fn ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = gauge_core::rng::SplitMix64::new(seed);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

fn rel_gap(a: &Tensor, b: &Tensor) -> f32 {
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-30);
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn pooled(moments: &[CrossMoments], d: usize) -> Vec<f32> {
    let mut p = vec![0f32; d * d];
    for m in moments {
        for (x, c) in p.iter_mut().zip(m.correlation().unwrap()) {
            *x += c;
        }
    }
    p
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let gguf = Path::new(
        args.get(1)
            .ok_or("usage: gpu_check <SmolLM2 GGUF> [device]")?,
    );
    let device =
        gauge_models::device::device(args.get(2).map_or("cuda", String::as_str), "device")?;
    let cpu = Model::load(gguf, &Device::Cpu)?;
    let gpu = Model::load(gguf, &device)?;
    let sites = Site::all(cpu.num_layers());
    let batch = vec![ids(128, cpu.vocab_size(), 1), ids(128, cpu.vocab_size(), 2)];
    let (c, g) = (
        cpu.forward_ids(&batch, &sites)?,
        gpu.forward_ids(&batch, &sites)?,
    );
    let logits_gap = rel_gap(&c.logits, &g.logits.to_device(&Device::Cpu)?);
    let hidden_gap = c
        .hidden
        .iter()
        .zip(&g.hidden)
        .map(|((_, x), (_, y))| rel_gap(x, &y.to_device(&Device::Cpu).unwrap()))
        .fold(0f32, f32::max);

    // A re-charted copy, aligned from statistics formed on the device and on the host.
    let dir = std::env::temp_dir().join(format!("gt-gpu-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a_dir = dir.join("A");
    gauge_models::gguf::convert(gguf, &a_dir)?;
    let d = cpu.hidden_size();
    let truth = Gauge::random(
        d,
        &RandomOptions {
            seed: 7,
            positive_fraction: 0.5,
            group: Group::Bd,
        },
    )?;
    apply(&a_dir, &truth, &dir.join("B"), ApplyOptions::default())?;
    let (a, b) = (
        Model::load(&a_dir, &device)?,
        Model::load(&dir.join("B"), &device)?,
    );
    let probe = ids(256 * 32, cpu.vocab_size(), 3);
    let batching = Batching { seq: 256, batch: 8 };
    let fresh = || -> Vec<CrossMoments> { sites.iter().map(|_| CrossMoments::new(d, d)).collect() };
    let mut on_device = fresh();
    let t = Instant::now();
    accumulate_on(
        (&a, &b),
        ("A", "B"),
        &probe,
        &sites,
        batching,
        &mut on_device,
        MomentsOn::Device,
        |_| true,
    )?;
    let device_seconds = t.elapsed().as_secs_f64();
    let mut on_host = fresh();
    accumulate_on(
        (&a, &b),
        ("A", "B"),
        &probe,
        &sites,
        batching,
        &mut on_host,
        MomentsOn::Host,
        |_| true,
    )?;
    let (sa, sb) = (
        Model::load_streamed(&a_dir, &device)?,
        Model::load_streamed(&dir.join("B"), &device)?,
    );
    let mut streamed = fresh();
    accumulate_streamed(
        (&sa, &sb),
        ("A", "B"),
        &probe,
        &sites,
        batching,
        &mut streamed,
        4 << 30,
        |_| true,
    )?;
    let gap = |x: &[CrossMoments], y: &[CrossMoments]| {
        let (p, q) = (pooled(x, d), pooled(y, d));
        p.iter()
            .zip(&q)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()))
    };
    let est = match_gauge(
        &pooled(&on_device, d),
        d,
        Method::Marginalized,
        Solver::Jv,
        None,
    )?;
    let acc = est.gauge.agreement(&truth)?;

    // Forward throughput: one batch of 8 × 256 tokens, best of three, on each device.
    let rows: Vec<Vec<u32>> = probe.chunks(256).take(8).map(<[u32]>::to_vec).collect();
    let speed = |m: &Model| -> f64 {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            m.hidden_states(&rows, &[Site::FinalNorm]).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        (8 * 256) as f64 / best
    };
    let report = serde_json::json!({
        "device": format!("{:?}", device.location()),
        "forward_logits_relative_gap": logits_gap,
        "forward_hidden_relative_gap": hidden_gap,
        "moments_device_vs_host_max_gap": gap(&on_device, &on_host),
        "moments_streamed_vs_whole_max_gap": gap(&streamed, &on_device),
        "statistics_seconds_on_device": device_seconds,
        "align_signed_accuracy": acc.signed_accuracy,
        "tokens_per_second": { "device": speed(&a), "cpu": speed(&cpu) },
    });
    std::fs::remove_dir_all(&dir)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    let ok = logits_gap <= 1e-3 && hidden_gap <= 1e-3 && acc.signed_accuracy == 1.0;
    if !ok {
        return Err("gpu check failed".into());
    }
    Ok(())
}
