//! Times `CrossMoments::update` alone on seeded `N x d` matrices, split into its parts (the update, then the
//! correlation), for profiling: `cargo run --release -p gauge-core --example moments_timing -- [N] [d] [rows per call]`.
use std::time::Instant;

use gauge_core::stats::CrossMoments;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let (n, d) = (arg(1, 65536), arg(2, 2048));
    let per_call = arg(3, n);
    // A cheap deterministic fill (not Gaussian; the GEMM's speed does not depend on the values).
    let fill = |seed: u32| -> Vec<f32> {
        (0..n * d)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                    / 16_777_216.0
                    - 0.5
            })
            .collect()
    };
    let (x, y) = (fill(1), fill(2));
    let flops = 2.0 * (n * d * d) as f64;
    for rep in 0..3 {
        let mut m = CrossMoments::new(d, d);
        let t = Instant::now();
        for (xs, ys) in x.chunks(per_call * d).zip(y.chunks(per_call * d)) {
            m.update(xs, ys, xs.len() / d).expect("update");
        }
        let u = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let c = m.correlation().expect("correlation");
        let s = t.elapsed().as_secs_f64();
        println!(
            "rep {rep}: update {u:.2} s ({:.1} GFLOP/s), correlation {s:.2} s; c[1] = {}",
            flops / u / 1e9,
            c[1]
        );
    }
}
