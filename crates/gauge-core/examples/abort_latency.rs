//! Abort latency of the whole estimate at width `d`: `cargo run --release --example abort_latency -- 4096 24`.
//! Statistics of one site with `y = x` on 64 seeded samples (align's d = 4096 responsiveness row has the same
//! shape). The estimate is run once to time it, then `points` more times, each aborted at an evenly spaced moment;
//! prints the latency from raising the flag to the return, and the largest. For profiling the polls; the
//! experiment with the event loop is `npm run experiment -- responsiveness`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gauge_core::estimate::{estimate, EstimateOptions};
use gauge_core::rng::SplitMix64;
use gauge_core::stats::CrossMoments;
use gauge_core::stats_file::PairStats;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let d: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(4096);
    let points: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(24);
    let rows = 64;
    let mut rng = SplitMix64::new(5);
    let mut x = vec![0f32; rows * d];
    rng.fill_normal(&mut x);
    let mut m = CrossMoments::new(d, d);
    m.update(&x, &x, rows).expect("moments");
    let mut stats = PairStats::new(BTreeMap::new());
    stats.sites.push(("h".into(), m));
    let stats = Arc::new(stats);
    let t = Instant::now();
    estimate(&stats, EstimateOptions::default(), None).expect("estimate");
    let total = t.elapsed();
    println!("d = {d}: estimate {:.0} ms", total.as_secs_f64() * 1e3);
    let mut worst = (0f64, 0f64);
    for k in 0..points {
        let at = total.mul_f64((k as f64 + 0.5) / points as f64);
        let flag = Arc::new(AtomicBool::new(false));
        let (s, f) = (stats.clone(), flag.clone());
        let h = std::thread::spawn(move || {
            let r = estimate(&s, EstimateOptions::default(), Some(&f));
            (r.is_err(), Instant::now())
        });
        std::thread::sleep(at);
        let raised = Instant::now();
        flag.store(true, Ordering::Relaxed);
        let (aborted, done) = h.join().expect("thread");
        let ms = done.saturating_duration_since(raised).as_secs_f64() * 1e3;
        println!(
            "abort at {:6.0} ms: {:6.1} ms{}",
            at.as_secs_f64() * 1e3,
            ms,
            if aborted { "" } else { " (finished)" }
        );
        if ms > worst.1 {
            worst = (at.as_secs_f64() * 1e3, ms);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("largest: {:.1} ms (abort at {:.0} ms)", worst.1, worst.0);
}
