use super::*;
use crate::rng::SplitMix64;

/// Best objective over all injective maps of `n` rows into `m` columns, by exhaustive search.
fn brute_force(s: &[f32], n: usize, m: usize) -> f64 {
    fn go(s: &[f32], n: usize, m: usize, i: usize, used: &mut [bool]) -> f64 {
        if i == n {
            return 0.0;
        }
        let mut best = f64::NEG_INFINITY;
        for j in 0..m {
            if !used[j] {
                used[j] = true;
                best = best.max(s[i * m + j] as f64 + go(s, n, m, i + 1, used));
                used[j] = false;
            }
        }
        best
    }
    go(s, n, m, 0, &mut vec![false; m])
}

/// Uniform scores, or small integers (many ties) when `ties` is set.
fn random_scores(rng: &mut SplitMix64, n: usize, m: usize, ties: bool) -> Vec<f32> {
    (0..n * m)
        .map(|_| {
            if ties {
                rng.below(5) as f32 - 2.0
            } else {
                rng.next_f32() * 2.0 - 1.0
            }
        })
        .collect()
}

fn check_valid(a: &Assignment, s: &[f32], n: usize, m: usize) {
    assert_eq!(a.row_to_col.len(), n);
    let mut seen = vec![false; m];
    for &j in &a.row_to_col {
        assert!(
            !std::mem::replace(&mut seen[j as usize], true),
            "column {j} used twice"
        );
    }
    let obj = objective(s, m, &a.row_to_col);
    assert!((obj - a.objective).abs() < 1e-9, "{obj} vs {}", a.objective);
    let gap = a.dual_bound - a.objective;
    assert!(
        gap.abs() <= 1e-9 * (1.0 + a.objective.abs()) * n as f64,
        "dual gap {gap}"
    );
}

#[test]
fn matches_brute_force_on_small_problems() {
    let mut rng = SplitMix64::new(42);
    for trial in 0..600 {
        let n = 1 + rng.below(8) as usize;
        let m = n + if trial % 3 == 0 {
            rng.below(3) as usize
        } else {
            0
        };
        let s = random_scores(&mut rng, n, m, trial % 2 == 0);
        let best = brute_force(&s, n, m);
        for solver in [Solver::Jv, Solver::JvDense, Solver::Pathfinding] {
            let a = solve(&s, n, m, solver, None).unwrap();
            check_valid(&a, &s, n, m);
            assert!(
                (a.objective - best).abs() < 1e-6,
                "{solver:?} trial {trial} ({n}x{m}): {} vs brute force {best}",
                a.objective
            );
        }
    }
}

#[test]
fn agrees_with_pathfinding_up_to_300() {
    let mut rng = SplitMix64::new(7);
    for (k, n) in [10, 37, 64, 100, 180, 300].into_iter().enumerate() {
        for (ties, extra) in [(false, 0), (true, 0), (false, n / 3), (true, 5)] {
            let m = n + extra;
            let s = random_scores(&mut rng, n, m, ties);
            let pf = solve(&s, n, m, Solver::Pathfinding, None).unwrap();
            check_valid(&pf, &s, n, m);
            for solver in [Solver::Jv, Solver::JvDense] {
                let jv = solve(&s, n, m, solver, None).unwrap();
                check_valid(&jv, &s, n, m);
                assert!(
                    (jv.objective - pf.objective).abs() < 1e-9 * n as f64,
                    "{solver:?} case {k} n={n} m={m} ties={ties}: {} vs {}",
                    jv.objective,
                    pf.objective
                );
            }
        }
    }
}

#[test]
fn fast_path_certifies_distinct_argmaxes() {
    let n = 50;
    let mut rng = SplitMix64::new(3);
    let p = rng.permutation(n);
    let mut s: Vec<f32> = (0..n * n).map(|_| rng.next_f32() * 0.1).collect();
    for (i, &j) in p.iter().enumerate() {
        s[i * n + j as usize] = 1.0;
    }
    let a = solve(&s, n, n, Solver::Jv, None).unwrap();
    assert!(a.fast_path);
    assert_eq!(a.row_to_col, p);
    s[0] = 5.0;
    s[n] = 5.0;
    let a = solve(&s, n, n, Solver::Jv, None).unwrap();
    assert!(!a.fast_path);
    check_valid(&a, &s, n, n);
}

#[test]
fn rejects_bad_input_with_codes() {
    let code = |s: &[f32], n, m, solver| solve(s, n, m, solver, None).unwrap_err().code();
    for solver in [Solver::Jv, Solver::JvDense, Solver::Pathfinding] {
        assert_eq!(code(&[], 0, 0, solver), "EMPTY_INPUT");
        assert_eq!(code(&[1.0; 5], 2, 3, solver), "SHAPE_MISMATCH");
        assert_eq!(code(&[1.0; 6], 3, 2, solver), "ROWS_EXCEED_COLUMNS");
        assert_eq!(code(&[1.0, f32::NAN, 0.0, 1.0], 2, 2, solver), "NON_FINITE");
        assert_eq!(
            code(&[1.0, 0.0, f32::INFINITY, 1.0], 2, 2, solver),
            "NON_FINITE"
        );
    }
    let e = solve(
        &[0.0, 1.0, f32::NEG_INFINITY, 0.0, 1.0, 2.0],
        2,
        3,
        Solver::Jv,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("entry (0, 2)"), "{e}");
}

#[test]
fn honours_cancellation() {
    let flag = AtomicBool::new(true);
    let mut rng = SplitMix64::new(1);
    let s = random_scores(&mut rng, 64, 64, false);
    let e = solve(&s, 64, 64, Solver::Jv, Some(&flag)).unwrap_err();
    assert_eq!(e.code(), "ABORTED");
}

/// Every solver stops within 50 ms of the flag being raised mid-solve (100 ms here, for loaded CI machines), not
/// at the end of the solve or of a phase: `kuhn_munkres` needs seconds for 4096 x 4096, the dense `jv` path about
/// 250 ms (most of it in column reduction and augmenting row reduction), the sparse one about 130 ms.
#[test]
fn a_raised_flag_stops_every_solver_mid_solve() {
    use std::time::{Duration, Instant};
    let mut rng = SplitMix64::new(7);
    for (solver, n) in [
        (Solver::Pathfinding, 4096),
        (Solver::Jv, 4096),
        (Solver::JvDense, 4096),
    ] {
        let s = random_scores(&mut rng, n, n, false);
        let flag = AtomicBool::new(false);
        let raised = std::thread::scope(|scope| {
            let raiser = scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                flag.store(true, Ordering::Relaxed);
                Instant::now()
            });
            let e = solve(&s, n, n, solver, Some(&flag)).unwrap_err();
            assert_eq!(e.code(), "ABORTED", "{solver:?}");
            let stopped = Instant::now();
            stopped.saturating_duration_since(raiser.join().unwrap())
        });
        eprintln!("{solver:?}: stopped {raised:?} after the flag");
        assert!(
            raised < Duration::from_millis(100),
            "{solver:?} stopped {raised:?} after the flag"
        );
    }
}

#[test]
fn dual_bound_is_an_upper_bound_for_any_duals() {
    let mut rng = SplitMix64::new(11);
    let (n, m) = (6, 8);
    let s = random_scores(&mut rng, n, m, false);
    let best = brute_force(&s, n, m);
    for _ in 0..50 {
        let v: Vec<f64> = (0..m).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
        assert!(dual_bound(&s, n, m, &v) >= best - 1e-12);
    }
}
