//! Times the assignment solver on one seeded matrix: `cargo run --release --example solve_timing -- 4096 0.2`
//! (`sigma` omitted or `uniform` for uniform scores). For profiling; the benchmark with peers is
//! `npm run bench -- assignment`.

use gauge_core::assignment::{solve, Solver};
use gauge_core::rng::SplitMix64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2048);
    let sigma: Option<f32> = args.get(2).and_then(|s| s.parse().ok());
    let mut rng = SplitMix64::new(7);
    let scores: Vec<f32> = match sigma {
        None => (0..n * n).map(|_| rng.next_f32()).collect(),
        Some(s) => {
            let perm = rng.permutation(n);
            let mut z = vec![0f32; n * n];
            rng.fill_normal(&mut z);
            for i in 0..n {
                for j in 0..n {
                    let d = if perm[i] as usize == j { 0.8 } else { 0.0 };
                    z[i * n + j] = (d + s * z[i * n + j]).abs();
                }
            }
            z
        }
    };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let solver = std::env::var("SOLVER")
            .ok()
            .and_then(|s| Solver::parse(&s))
            .unwrap_or_default();
        let a = solve(&scores, n, n, solver, None).expect("valid input");
        println!(
            "n={n} sigma={sigma:?}: {:.3} s, objective {:.6}, gap {:.2e}, path {}",
            t.elapsed().as_secs_f64(),
            a.objective,
            a.dual_bound - a.objective,
            a.path
        );
    }
}
