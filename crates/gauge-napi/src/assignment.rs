//! `solveAssignment` and `matchGauge`, each as a Promise (libuv thread pool, abortable) and a `*Sync` twin.

use std::sync::atomic::AtomicBool;

use gauge_core::assignment::{self, Solver};
use gauge_core::matching::{self, Method};
use gauge_core::null::null_bound;
use gauge_core::owned;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::index;
use crate::error::{sync, CResult, CodedError};
use crate::estimate::ConfidenceNull;
use crate::gauge::Gauge;
use crate::job::{abort_flag, Job};

/// Options of `solveAssignment`.
#[napi(object)]
pub struct AssignmentOptions {
    /// `jv` (the project's Jonker-Volgenant style solver: sparse candidates priced against the dense matrix, dense
    /// fallback), `jv-dense` (the dense solver alone) or `pathfinding` (the `kuhn_munkres` reference, O(n³)).
    /// @default 'jv'
    pub solver: Option<String>,
}

/// A maximum-weight assignment with its optimality certificate.
#[napi(object, object_from_js = false)]
pub struct AssignmentResult {
    /// `rowToCol[i]` is the column given to row `i`.
    pub row_to_col: Uint32Array,
    /// `Σ_i scores[i, rowToCol[i]]`.
    pub objective: f64,
    /// An upper bound on every assignment's objective (LP duality); equal to `objective` up to rounding.
    pub dual_bound: f64,
    /// Whether the row argmaxes were distinct, which certifies them optimal after one pass.
    pub fast_path: bool,
    /// Which path produced the result: `certificate`, `sparse`, `dense` or `pathfinding`.
    pub path: String,
}

/// Options of `matchGauge`.
#[napi(object)]
pub struct MatchOptions {
    /// `marginalized` (maximise Σ|C|, signs from C), `signed` (maximise ΣC, signs +1) or `permutation`
    /// (the marginalized permutation, signs forced to +1).
    /// @default 'marginalized'
    pub method: Option<String>,
    /// Assignment solver, as in `solveAssignment`.
    /// @default 'jv'
    pub solver: Option<String>,
    /// Draws of the null of the confidence (B's coordinates shuffled; at most 1000, 0 for none).
    /// @default 0
    pub null_draws: Option<u32>,
}

/// A gauge estimated from a correlation matrix.
#[napi(object, object_from_js = false)]
pub struct MatchResult {
    /// The estimate, mapping the rows' chart (A) to the columns' chart (B).
    pub gauge: Gauge,
    /// Per source coordinate: matched score minus the best alternative in its row and column.
    pub confidence: Float32Array,
    /// The maximised objective (Σ|C| or ΣC over the matching).
    pub objective: f64,
    /// The dual bound of that maximisation.
    pub dual_bound: f64,
    /// Whether the certificate fast path settled the assignment.
    pub fast_path: bool,
    /// With `nullDraws`: the null of `confidence`.
    pub null: Option<ConfidenceNull>,
}

pub(crate) fn solver(s: Option<&str>) -> CResult<Solver> {
    let s = s.unwrap_or("jv");
    Solver::parse(s).ok_or_else(|| {
        CodedError::invalid(
            "solver",
            format!("{s:?} is not one of jv, jv-dense, pathfinding"),
        )
    })
}

pub(crate) fn method(s: Option<&str>) -> CResult<Method> {
    let s = s.unwrap_or("marginalized");
    Method::parse(s).ok_or_else(|| {
        CodedError::invalid(
            "method",
            format!("{s:?} is not one of marginalized, signed, permutation"),
        )
    })
}

fn run_solve(
    scores: &[f32],
    n: f64,
    m: f64,
    o: Option<&str>,
    cancel: &AtomicBool,
) -> CResult<AssignmentResult> {
    let (n, m) = (index(n, "n")?, index(m, "m")?);
    let a = assignment::solve(scores, n, m, solver(o)?, Some(cancel))?;
    Ok(AssignmentResult {
        row_to_col: Uint32Array::new(a.row_to_col),
        objective: a.objective,
        dual_bound: a.dual_bound,
        fast_path: a.fast_path,
        path: a.path.to_string(),
    })
}

fn run_match(
    c: &[f32],
    d: f64,
    o: &MatchOptionsOwned,
    cancel: &AtomicBool,
) -> CResult<MatchResult> {
    let (d, method, solver) = (
        index(d, "d")?,
        method(o.method.as_deref())?,
        solver(o.solver.as_deref())?,
    );
    let m = matching::match_gauge(c, d, method, solver, Some(cancel))?;
    let null = null_bound(c, d, method, o.null_draws, solver, Some(cancel))?;
    Ok(MatchResult {
        gauge: Gauge { inner: m.gauge },
        confidence: Float32Array::new(m.confidence),
        objective: m.objective,
        dual_bound: m.dual_bound,
        fast_path: m.fast_path,
        null: null.map(ConfidenceNull::from),
    })
}

struct MatchOptionsOwned {
    method: Option<String>,
    solver: Option<String>,
    null_draws: usize,
}

impl From<Option<MatchOptions>> for MatchOptionsOwned {
    fn from(o: Option<MatchOptions>) -> Self {
        let o = o.unwrap_or(MatchOptions {
            method: None,
            solver: None,
            null_draws: None,
        });
        Self {
            method: o.method,
            solver: o.solver,
            null_draws: o.null_draws.unwrap_or(0) as usize,
        }
    }
}

/// Maximum-weight assignment on a row-major `n x m` score matrix (`n <= m`), blocking the calling thread.
/// Throws `SHAPE_MISMATCH`, `ROWS_EXCEED_COLUMNS`, `NON_FINITE` or `EMPTY_INPUT` on bad input.
#[napi]
pub fn solve_assignment_sync(
    env: Env,
    scores: Float32Array,
    n: f64,
    m: f64,
    options: Option<AssignmentOptions>,
) -> Result<AssignmentResult> {
    let s = options.and_then(|o| o.solver);
    sync(&env, || {
        run_solve(&scores, n, m, s.as_deref(), &AtomicBool::new(false))
    })
}

/// `solveAssignmentSync` on the libuv thread pool; `signal` aborts it, also mid-solve (code `ABORTED`). The scores
/// are copied before the call returns, so the caller may change or transfer the buffer at once.
#[napi(
    ts_args_type = "scores: Float32Array, n: number, m: number, options?: AssignmentOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<AssignmentResult>"
)]
pub fn solve_assignment(
    env: Env,
    scores: Float32Array,
    n: f64,
    m: f64,
    options: Option<AssignmentOptions>,
    signal: Option<Object>,
) -> Result<AsyncTask<Job<AssignmentResult>>> {
    let flag = abort_flag(&env, signal)?;
    let s = options.and_then(|o| o.solver);
    // The worker must not read the caller's buffer: JavaScript may write it, or transfer (detach) it, meanwhile.
    let scores = owned::copy(&scores);
    let job = Job::abortable(flag.clone(), "solveAssignment", move || {
        run_solve(&scores, n, m, s.as_deref(), &flag)
    });
    Ok(AsyncTask::new(job))
}

/// Estimates a gauge from a row-major `d x d` correlation matrix `C[i, j] = corr(h_A[:, i], h_B[:, j])`,
/// blocking the calling thread.
#[napi]
pub fn match_gauge_sync(
    env: Env,
    c: Float32Array,
    d: f64,
    options: Option<MatchOptions>,
) -> Result<MatchResult> {
    let o = MatchOptionsOwned::from(options);
    sync(&env, || run_match(&c, d, &o, &AtomicBool::new(false)))
}

/// `matchGaugeSync` on the libuv thread pool; `signal` aborts it, also mid-solve (code `ABORTED`). The matrix is
/// copied before the call returns, so the caller may change or transfer the buffer at once.
#[napi(
    ts_args_type = "c: Float32Array, d: number, options?: MatchOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<MatchResult>"
)]
pub fn match_gauge(
    env: Env,
    c: Float32Array,
    d: f64,
    options: Option<MatchOptions>,
    signal: Option<Object>,
) -> Result<AsyncTask<Job<MatchResult>>> {
    let flag = abort_flag(&env, signal)?;
    let o = MatchOptionsOwned::from(options);
    let c = owned::copy(&c);
    let job = Job::abortable(flag.clone(), "matchGauge", move || {
        run_match(&c, d, &o, &flag)
    });
    Ok(AsyncTask::new(job))
}
