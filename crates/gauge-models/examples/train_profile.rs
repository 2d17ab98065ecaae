//! Times the phases of AdamW training steps on a Hugging Face directory, and the resident memory after each, for
//! profiling (`perf record`): `cargo run --release -p gauge-models --example train_profile -- <DIR> [batch] [seq]
//! [steps]`.
use std::path::Path;
use std::time::Instant;

use gauge_models::candle_core::{Device, Tensor};
use gauge_models::train::{AdamWConfig, Trainer};

fn rss() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1048576.0
    };
    format!("rss {:.2} GiB peak {:.2} GiB", get("VmRSS:"), get("VmHWM:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(&args[1]);
    let batch: usize = args.get(2).map_or(2, |s| s.parse().unwrap());
    let seq: usize = args.get(3).map_or(128, |s| s.parse().unwrap());
    let steps: usize = args.get(4).map_or(4, |s| s.parse().unwrap());
    let cfg = AdamWConfig {
        lr: 1e-4,
        ..AdamWConfig::default()
    };
    let mut t = Trainer::open(dir, &Device::Cpu, cfg, false)?;
    println!("opened: {}", rss());
    let vocab = t.model().vocab_size();
    let rows: Vec<Vec<u32>> = (0..batch)
        .map(|b| {
            (0..seq)
                .map(|i| (((b * seq + i) * 7919 + 13) % vocab) as u32)
                .collect()
        })
        .collect();
    let phases = std::env::var("PHASES").map_or(true, |v| v != "0");
    for step in 0..steps {
        let t0 = Instant::now();
        if !phases {
            let r = t.step(&rows, 1e-4, Some(1.0))?;
            println!(
                "step {step}: {:.3}s loss {:.4} {}",
                t0.elapsed().as_secs_f64(),
                r.loss,
                rss()
            );
            continue;
        }
        let out = t.model().forward_ids(&rows, &[])?;
        let (b, s, v) = out.logits.dims3()?;
        let ids = Tensor::from_vec(rows.concat(), (b, s), &Device::Cpu)?;
        let pred = out.logits.narrow(1, 0, s - 1)?.reshape((b * (s - 1), v))?;
        let target = ids.narrow(1, 1, s - 1)?.flatten_all()?;
        let loss = candle_nn::loss::cross_entropy(&pred, &target)?;
        let _ = loss.to_scalar::<f32>()?;
        let t1 = Instant::now();
        println!(
            "  step {step} forward {:.3}s {}",
            (t1 - t0).as_secs_f64(),
            rss()
        );
        let grads = loss.backward()?;
        let t2 = Instant::now();
        println!(
            "  step {step} backward {:.3}s {}",
            (t2 - t1).as_secs_f64(),
            rss()
        );
        drop(grads);
        drop(loss);
        drop(out);
        let t3 = Instant::now();
        let r = t.step(&rows, 1e-4, Some(1.0))?;
        println!(
            "step {step}: full step {:.3}s loss {:.4} {}",
            t3.elapsed().as_secs_f64(),
            r.loss,
            rss()
        );
    }
    Ok(())
}
