//! Known-answer tests of the assignment solvers against SciPy.
//!
//! The known answers in `tests/fixtures/assignment_scipy.json` come from
//! `scipy.optimize.linear_sum_assignment(M, maximize=True)` (SciPy's LAPJV-style shortest augmenting path
//! solver; the version is recorded in the file), run by `scripts/fixtures/assignment_scipy.py`, which
//! regenerates the file with `python3 scripts/fixtures/assignment_scipy.py`. The matrices themselves are not
//! committed: both sides rebuild them from a seed with SplitMix64 (`gauge_core::rng`, re-implemented bit for bit
//! in the script), and the recorded checksum proves that this test rebuilt the same matrix SciPy solved.

use std::path::Path;

use gauge_core::assignment::{self, Solver};
use gauge_core::rng::SplitMix64;
use serde_json::Value;

/// Relative tolerance for checksums, objectives and the duality gap.
const REL_TOL: f64 = 1e-6;
/// `Solver::Pathfinding` is `O(n^3)` and slow; it only runs on cases this small.
const PATHFINDING_MAX_N: usize = 512;

#[derive(Debug)]
struct Case {
    kind: String,
    n: usize,
    m: usize,
    sigma: Option<f64>,
    seed: u64,
    checksum: f64,
    objective: f64,
    cols_head: Vec<u32>,
}

impl Case {
    fn name(&self) -> String {
        match self.sigma {
            Some(s) => format!(
                "{} sigma={s} {}x{} seed={}",
                self.kind, self.n, self.m, self.seed
            ),
            None => format!("{} {}x{} seed={}", self.kind, self.n, self.m, self.seed),
        }
    }

    /// Rebuilds the matrix exactly as `scripts/fixtures/assignment_scipy.py` does.
    fn matrix(&self) -> Vec<f32> {
        let mut rng = SplitMix64::new(self.seed);
        match self.kind.as_str() {
            "uniform" => (0..self.n * self.m).map(|_| rng.next_f32()).collect(),
            "near-permutation" => {
                assert_eq!(
                    self.n,
                    self.m,
                    "{}: near-permutation is square",
                    self.name()
                );
                let n = self.n;
                let p = rng.permutation(n);
                let mut z = vec![0f32; n * n];
                rng.fill_normal(&mut z);
                let s = self.sigma.expect("near-permutation has a sigma") as f32;
                let mut out = z;
                for (i, row) in out.chunks_exact_mut(n).enumerate() {
                    for (j, x) in row.iter_mut().enumerate() {
                        let d = if p[i] as usize == j { 0.8f32 } else { 0.0f32 };
                        // f32 product, then f32 sum, then abs: the order the script uses (no FMA).
                        let t = s * *x;
                        *x = (d + t).abs();
                    }
                }
                out
            }
            other => panic!("unknown kind {other:?}"),
        }
    }
}

fn load_cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assignment_scipy.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("fixture is valid JSON");
    let cases = doc["cases"].as_array().expect("fixture has cases");
    let cases: Vec<Case> = cases
        .iter()
        .map(|c| {
            let usize_of = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k}: {c}")) as usize;
            let f64_of = |k: &str| c[k].as_f64().unwrap_or_else(|| panic!("{k}: {c}"));
            Case {
                kind: c["kind"].as_str().expect("kind").to_owned(),
                n: usize_of("n"),
                m: usize_of("m"),
                sigma: c["sigma"].as_f64(),
                seed: c["seed"].as_u64().expect("seed"),
                checksum: f64_of("checksum"),
                objective: f64_of("objective"),
                cols_head: c["cols_head"]
                    .as_array()
                    .expect("cols_head")
                    .iter()
                    .map(|x| x.as_u64().expect("column") as u32)
                    .collect(),
            }
        })
        .collect();
    assert!(cases.len() >= 12, "fixture has {} cases", cases.len());
    cases
}

fn rel_diff(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

/// `Ok` when `got` is within `REL_TOL` of `want`, relative to `max(|want|, 1)`.
fn close(what: &str, got: f64, want: f64) -> Result<(), String> {
    let r = rel_diff(got, want);
    if r <= REL_TOL {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {got}, want {want} (relative difference {r:e})"
        ))
    }
}

/// Checks one solver's answer against SciPy's; `Err` describes the first disagreement.
fn check_against_scipy(
    case: &Case,
    scores: &[f32],
    a: &assignment::Assignment,
) -> Result<(), String> {
    let (n, m) = (case.n, case.m);
    if a.row_to_col.len() != n {
        return Err(format!("{} rows assigned, want {n}", a.row_to_col.len()));
    }
    let mut taken = vec![false; m];
    for &j in &a.row_to_col {
        if j as usize >= m || std::mem::replace(&mut taken[j as usize], true) {
            return Err(format!("column {j} out of range or used twice"));
        }
    }
    // Recompute the objective from the matrix rather than trusting the solver's own sum.
    let recomputed = assignment::objective(scores, m, &a.row_to_col);
    close("reported vs recomputed objective", a.objective, recomputed)?;
    close("objective vs scipy", recomputed, case.objective)?;
    // dual_bound >= objective up to rounding, and tight at the optimum.
    close("dual bound vs objective", a.dual_bound, a.objective)?;
    // With continuous random entries the optimum is unique with overwhelming probability, so the matching itself
    // must be SciPy's too (if a regenerated fixture ever hits an exact tie, relax this to the objective alone).
    let head = &a.row_to_col[..case.cols_head.len()];
    if head != case.cols_head.as_slice() {
        return Err(format!(
            "first columns {head:?}, scipy's {:?}",
            case.cols_head
        ));
    }
    Ok(())
}

/// Rebuilds every case's matrix and checks it against the fixture's checksum.
fn matrices() -> Vec<(Case, Vec<f32>)> {
    load_cases()
        .into_iter()
        .map(|case| {
            let scores = case.matrix();
            assert_eq!(scores.len(), case.n * case.m);
            let checksum: f64 = scores.iter().map(|&x| x as f64).sum();
            let r = rel_diff(checksum, case.checksum);
            eprintln!("{:<52} checksum relative difference {r:.1e}", case.name());
            if let Err(e) = close("checksum", checksum, case.checksum) {
                panic!(
                    "{}: the Rust generator does not rebuild the fixture's matrix: {e}",
                    case.name()
                );
            }
            (case, scores)
        })
        .collect()
}

fn run(solver: Solver, max_n: usize) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (case, scores) in matrices() {
        if case.n > max_n {
            continue;
        }
        let t = std::time::Instant::now();
        let a = assignment::solve(&scores, case.n, case.m, solver, None)
            .unwrap_or_else(|e| panic!("{} ({solver:?}): {e}", case.name()));
        let secs = t.elapsed().as_secs_f64();
        ran += 1;
        eprintln!(
            "{:<52} {solver:?}: objective {:.9} (scipy {:.9}), gap {:.1e}, fast path {}, {secs:.3}s",
            case.name(),
            a.objective,
            case.objective,
            a.dual_bound - a.objective,
            a.fast_path,
        );
        if let Err(e) = check_against_scipy(&case, &scores, &a) {
            failures.push(format!("{} ({solver:?}): {e}", case.name()));
        }
    }
    assert!(ran > 0, "no case ran for {solver:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn jv_matches_scipy() {
    run(Solver::Jv, usize::MAX);
}

#[test]
fn dense_jv_matches_scipy() {
    run(Solver::JvDense, usize::MAX);
}

#[test]
fn pathfinding_matches_scipy() {
    run(Solver::Pathfinding, PATHFINDING_MAX_N);
}

/// The comparison is not vacuous: a matching that differs from the optimum by one swap is rejected.
#[test]
fn a_suboptimal_matching_is_rejected() {
    let (case, scores) = matrices()
        .into_iter()
        .find(|(c, _)| c.kind == "uniform" && c.n == c.m && c.n <= 512)
        .expect("a small square uniform case");
    let mut a = assignment::solve(&scores, case.n, case.m, Solver::Jv, None).unwrap();
    check_against_scipy(&case, &scores, &a).unwrap();
    a.row_to_col.swap(0, 1);
    a.objective = assignment::objective(&scores, case.m, &a.row_to_col);
    let err = check_against_scipy(&case, &scores, &a).unwrap_err();
    assert!(err.contains("objective vs scipy"), "{err}");
}
