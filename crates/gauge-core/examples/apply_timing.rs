//! Times `apply` on a checkpoint.
//!
//! - `apply_timing MODEL GAUGE OUT`: one `apply`, with its time and this process's peak RSS.
//! - `apply_timing --bench DIR [REPS]`: writes a random TinyLlama-1.1B-shaped bf16 checkpoint and a random gauge
//!   under `DIR`, then times, side by side for `REPS` rounds, `cp` of its weights file, `cp` then `sync`, and
//!   `apply` (run as a child process, so each has its own peak RSS); prints the medians and removes `DIR`.
//! - `apply_timing --make DIR`: only writes that checkpoint (`DIR/model`) and gauge (`DIR/g.safetensors`).
//!
//! Run with `cargo run --release -p gauge-core --example apply_timing -- ...`.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use gauge_core::checkpoint::Dtype;
use gauge_core::gauge::{Gauge, RandomOptions};
use gauge_core::gauge_file::{self, GaugeMeta};
use gauge_core::init::{write_random, ModelShape};

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn sh(cmd: &str) {
    let ok = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(ok.success(), "{cmd} failed");
}

/// Writes `DIR/model` and `DIR/g.safetensors`.
fn make(dir: &Path) {
    std::fs::create_dir_all(dir).expect("work dir");
    let model = dir.join("model");
    let shape = ModelShape::preset("tinyllama-1.1b").expect("preset");
    write_random(&shape, &model, 1, Dtype::BF16).expect("write_random");
    let gauge = dir.join("g.safetensors");
    let g = Gauge::random(
        shape.hidden,
        &RandomOptions {
            seed: 2,
            ..Default::default()
        },
    )
    .expect("gauge");
    gauge_file::write(&gauge, &g, &GaugeMeta::default(), true).expect("gauge file");
}

fn bench(dir: &Path, reps: usize) {
    make(dir);
    let model = dir.join("model");
    let gauge = dir.join("g.safetensors");
    let file = model.join("model.safetensors");
    let bytes = std::fs::metadata(&file).expect("weights").len() as f64;
    let exe = std::env::current_exe().expect("exe");
    let (mut cp, mut cp_sync, mut apply) = (vec![], vec![], vec![]);
    let mut rss = 0u64;
    for r in 0..reps {
        let copy = dir.join("copy.safetensors");
        let (f, c) = (file.display(), copy.display());
        cp.push(timed(|| sh(&format!("cp '{f}' '{c}'"))));
        std::fs::remove_file(&copy).expect("rm copy");
        sh("sync");
        cp_sync.push(timed(|| sh(&format!("cp '{f}' '{c}' && sync"))));
        std::fs::remove_file(&copy).expect("rm copy");
        sh("sync");
        let out = dir.join("out");
        let o = Command::new(&exe)
            .arg(&model)
            .arg(&gauge)
            .arg(&out)
            .output()
            .expect("apply child");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut it = line.split_whitespace();
        let secs: f64 = it.next().and_then(|s| s.parse().ok()).expect("seconds");
        let child_rss: u64 = it.next().and_then(|s| s.parse().ok()).expect("rss");
        apply.push(secs);
        rss = rss.max(child_rss);
        std::fs::remove_dir_all(&out).expect("rm out");
        sh("sync");
        println!(
            "rep {}: cp {:.2} s, cp+sync {:.2} s, apply {secs:.2} s, peak RSS {} MiB",
            r + 1,
            cp[r],
            cp_sync[r],
            child_rss >> 20
        );
    }
    let (cp, cp_sync, apply) = (median(cp), median(cp_sync), median(apply));
    println!(
        "median of {reps}: cp {cp:.2} s ({:.2} GB/s), cp+sync {cp_sync:.2} s ({:.2} GB/s), apply {apply:.2} s \
         ({:.2} GB/s); apply/cp {:.2}x, apply/(cp+sync) {:.2}x; peak RSS {} MiB",
        bytes / cp / 1e9,
        bytes / cp_sync / 1e9,
        bytes / apply / 1e9,
        cp / apply,
        cp_sync / apply,
        rss >> 20
    );
    std::fs::remove_dir_all(dir).expect("rm work dir");
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("--bench") {
        let reps = a.get(3).map_or(5, |r| r.parse().expect("REPS"));
        return bench(Path::new(&a[2]), reps);
    }
    if a.get(1).map(String::as_str) == Some("--make") {
        return make(Path::new(&a[2]));
    }
    let (g, _) = gauge_file::read(Path::new(&a[2])).expect("gauge file");
    let t = Instant::now();
    let r = gauge_core::recharting::apply(a[1].as_ref(), &g, a[3].as_ref(), Default::default())
        .expect("apply");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{secs} {} {} tensors, {} bytes",
        peak_rss_bytes(),
        r.tensors,
        r.bytes
    );
}
