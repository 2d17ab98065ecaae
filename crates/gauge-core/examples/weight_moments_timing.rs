//! Times `weight_cross_moments` on a random checkpoint of a preset shape (default `smollm2-135m`, F32) and a
//! re-charted copy: `cargo run --release -p gauge-core --example weight_moments_timing -- [PRESET] [WORKDIR]
//! [f32|bf16]`.
//! Writes two checkpoints under WORKDIR (default: the system temporary directory) and removes them afterwards.
use std::time::Instant;

use gauge_core::assignment::Solver;
use gauge_core::checkpoint::Dtype;
use gauge_core::init::{write_random, ModelShape};
use gauge_core::matching::{match_gauge, Method};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::weight_moments::{weight_cross_moments, WeightOptions};
use gauge_core::{Gauge, RandomOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let preset = args.get(1).map_or("smollm2-135m", String::as_str);
    let shape = ModelShape::preset(preset).expect("a preset name");
    let work = args
        .get(2)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from)
        .join(format!("gt-wmom-timing-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work directory");
    let (a, b) = (work.join("a"), work.join("b"));
    let t = Instant::now();
    let dtype = match args.get(3).map(String::as_str) {
        None | Some("f32") => Dtype::F32,
        Some("bf16") => Dtype::BF16,
        Some(other) => panic!("dtype {other:?} is not f32 or bf16"),
    };
    let bytes = write_random(&shape, &a, 1, dtype).expect("write_random");
    let truth = Gauge::random(shape.hidden, &RandomOptions::default()).expect("gauge");
    apply(&a, &truth, &b, ApplyOptions::default()).expect("apply");
    eprintln!(
        "{preset}: {} parameters, {bytes} bytes per checkpoint ({dtype:?}); written and re-charted in {:.2} s",
        shape.parameters(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let m = weight_cross_moments(&a, &b, WeightOptions::default()).expect("weight_cross_moments");
    let moments_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let c = m.correlation().expect("correlation");
    let g = match_gauge(&c, shape.hidden, Method::Marginalized, Solver::Jv, None)
        .expect("match")
        .gauge;
    let acc = g.agreement(&truth).expect("agreement");
    eprintln!(
        "weight_cross_moments: {moments_s:.2} s for {} samples of d = {}; correlation + matching {:.3} s; \
         signed accuracy {:.4}",
        m.count(),
        shape.hidden,
        t.elapsed().as_secs_f64(),
        acc.signed_accuracy
    );
    let _ = std::fs::remove_dir_all(&work);
}
