//! Exact maximum-weight linear assignment on dense `f32` score matrices.
//!
//! `scores` is row-major `[n, m]` with `n <= m`; a solution assigns every row its own column and maximises
//! `Σ_i scores[i, col[i]]`. Two solvers return the same optimum:
//!
//! - [`Solver::Jv`] (default): the project's shortest-augmenting-path solver in the style of Jonker and Volgenant
//!   (1987) with `f64` duals. After a certificate fast path (when the row argmaxes are all distinct, that
//!   matching is optimal, found in one pass over the matrix), it solves the problem restricted to the 16 largest
//!   entries of each row and prices the dense matrix until no row has a better column ([`sparse`]); if that does
//!   not settle it, the dense solver takes over.
//! - [`Solver::JvDense`]: the dense solver alone: column reduction, reduction transfer and augmenting row
//!   reduction for square problems, then Dijkstra over all columns per free row. `O(n² m)` worst case.
//! - [`Solver::Pathfinding`]: a reference path through `pathfinding::kuhn_munkres` on exactly scaled integers,
//!   `O(n² m)`, slower; its input is validated here because the crate panics on `n > m` and never ends on NaN.
//!
//! Both report a *dual bound*: `Σ_i max_j (s_ij - v_j) + Σ_j v_j` for column duals `v` (`v >= 0` when `n < m`),
//! an upper bound on every assignment's objective by LP duality. `dual_bound - objective` (≈ 0 up to rounding)
//! certifies optimality without trusting the solver.
//!
//! ```
//! use gauge_core::assignment::{solve, Solver};
//!
//! // [[5, 1], [2, 9]]: each row takes its best column.
//! let scores = [5.0, 1.0, 2.0, 9.0];
//! let a = solve(&scores, 2, 2, Solver::Jv, None)?;
//! assert_eq!(a.row_to_col, vec![0, 1]);
//! assert_eq!(a.objective, 14.0);
//! // [[5, 4], [9, 1]]: both rows prefer column 0; the optimum gives it to row 1, since 4 + 9 > 5 + 1.
//! let s = [5.0, 4.0, 9.0, 1.0];
//! let b = solve(&s, 2, 2, Solver::Jv, None)?;
//! assert_eq!((b.row_to_col.clone(), b.objective), (vec![1, 0], 13.0));
//! assert!((b.dual_bound - b.objective).abs() < 1e-12);
//! # Ok::<(), gauge_core::Error>(())
//! ```

mod jv;
mod kernels;
mod reference;
mod sparse;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Which algorithm solves the assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Solver {
    /// The project's Jonker-Volgenant style solver on sparse candidates with dense pricing (default).
    #[default]
    Jv,
    /// The same solver on the dense matrix from the start.
    JvDense,
    /// `pathfinding::kuhn_munkres`, the reference.
    Pathfinding,
}

impl Solver {
    /// Parses `jv`, `jv-dense` or `pathfinding`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jv" => Some(Solver::Jv),
            "jv-dense" => Some(Solver::JvDense),
            "pathfinding" => Some(Solver::Pathfinding),
            _ => None,
        }
    }
}

/// An optimal assignment with its certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// `row_to_col[i]` is the column of row `i`; distinct, each `< m`.
    pub row_to_col: Vec<u32>,
    /// `Σ_i scores[i, row_to_col[i]]`, accumulated in `f64`.
    pub objective: f64,
    /// An upper bound on the objective of any assignment (LP duality); equals `objective` up to rounding.
    pub dual_bound: f64,
    /// Whether the certificate fast path (distinct row argmaxes) settled the problem.
    pub fast_path: bool,
    /// Which path produced it: `certificate`, `sparse`, `dense` or `pathfinding`.
    pub path: &'static str,
}

/// A cooperative cancellation flag, polled between augmentations.
pub type Cancel<'a> = Option<&'a AtomicBool>;

/// `ABORTED` once the caller has raised `cancel`.
pub fn check_cancel(cancel: Cancel<'_>) -> Result<()> {
    if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(Error::Aborted {
            what: "assignment".into(),
        });
    }
    Ok(())
}

/// Polls a cancel flag once every band of rows of a row-major matrix `m` wide: about 2^18 entries a band, well
/// under a millisecond of any pass, so that an abort lands within milliseconds of a pass over a `[d, d]` matrix
/// at any `d`.
#[derive(Clone, Copy)]
pub struct RowPoll<'a> {
    cancel: Cancel<'a>,
    every: usize,
}

impl<'a> RowPoll<'a> {
    /// Entries of a band between polls.
    const BAND: usize = 1 << 18;

    /// Polls `cancel` in bands of rows `m` wide.
    pub fn new(cancel: Cancel<'a>, m: usize) -> Self {
        Self {
            cancel,
            every: (Self::BAND / m.max(1)).max(1),
        }
    }

    /// `ABORTED` when row `i` starts a band and the flag is raised.
    #[inline]
    pub fn row(&self, i: usize) -> Result<()> {
        if i.is_multiple_of(self.every) {
            check_cancel(self.cancel)?;
        }
        Ok(())
    }
}

/// Solves `max Σ_i scores[i, col[i]]` over injective `col`. `scores` is row-major `[n, m]`, `n <= m`.
///
/// # Errors
/// `EMPTY_INPUT` for `n == 0`, `SHAPE_MISMATCH` when `scores.len() != n * m`, `ROWS_EXCEED_COLUMNS` for `n > m`,
/// `NON_FINITE` for NaN or ±Inf anywhere, `ABORTED` when `cancel` is raised.
pub fn solve(
    scores: &[f32],
    n: usize,
    m: usize,
    solver: Solver,
    cancel: Cancel<'_>,
) -> Result<Assignment> {
    validate_polled(scores, n, m, "scores", cancel)?;
    let poll = RowPoll::new(cancel, m);
    if let Some(a) = certificate(scores, n, m, poll)? {
        return Ok(a);
    }
    // The sparse solver's last pricing pass is the dual bound's pass; the others need one more.
    let (row_to_col, dual_bound, path) = match solver {
        Solver::Jv => match sparse::solve(scores, n, m, cancel)? {
            Some((x, bound)) => (x, bound, "sparse"),
            None => dense(
                jv::solve(scores, n, m, cancel)?,
                scores,
                n,
                m,
                "dense",
                poll,
            )?,
        },
        Solver::JvDense => dense(
            jv::solve(scores, n, m, cancel)?,
            scores,
            n,
            m,
            "dense",
            poll,
        )?,
        Solver::Pathfinding => dense(
            reference::solve(scores, n, m, cancel)?,
            scores,
            n,
            m,
            "pathfinding",
            poll,
        )?,
    };
    let objective = objective(scores, m, &row_to_col);
    Ok(Assignment {
        row_to_col,
        objective,
        dual_bound,
        fast_path: false,
        path,
    })
}

/// An assignment with column duals, and the dual bound they give.
fn dense(
    (row_to_col, duals): (Vec<u32>, Vec<f64>),
    scores: &[f32],
    n: usize,
    m: usize,
    path: &'static str,
    poll: RowPoll<'_>,
) -> Result<(Vec<u32>, f64, &'static str)> {
    let bound = dual_bound_polled(scores, n, m, &duals, poll)?;
    Ok((row_to_col, bound, path))
}

/// Checks shape, emptiness and finiteness; `what` names the argument in errors.
pub fn validate(scores: &[f32], n: usize, m: usize, what: &str) -> Result<()> {
    validate_polled(scores, n, m, what, None)
}

/// [`validate`], polling `cancel` between bands of rows.
fn validate_polled(
    scores: &[f32],
    n: usize,
    m: usize,
    what: &str,
    cancel: Cancel<'_>,
) -> Result<()> {
    if n == 0 || m == 0 {
        return Err(Error::Empty {
            what: format!("{what} ({n} x {m})"),
        });
    }
    if n.checked_mul(m) != Some(scores.len()) {
        return Err(Error::shape(
            what,
            format!("{n} x {m} = {} entries", n.saturating_mul(m)),
            format!("{} entries", scores.len()),
        ));
    }
    if n > m {
        return Err(Error::RowsExceedColumns {
            what: what.into(),
            rows: n,
            cols: m,
        });
    }
    let poll = RowPoll::new(cancel, m);
    let band = poll.every * m;
    for (b, block) in scores.chunks(band).enumerate() {
        poll.row(b * poll.every)?;
        if let Some(k) = crate::finite::first_non_finite(block) {
            let k = b * band + k;
            return Err(Error::NonFinite {
                what: what.into(),
                row: k / m,
                col: k % m,
                value: scores[k] as f64,
            });
        }
    }
    Ok(())
}

/// The fast path: if every row's (first) argmax is a different column, that matching is optimal with all column
/// duals zero. One pass over the matrix.
fn certificate(
    scores: &[f32],
    n: usize,
    m: usize,
    poll: RowPoll<'_>,
) -> Result<Option<Assignment>> {
    let mut taken = vec![false; m];
    let mut row_to_col = Vec::with_capacity(n);
    let mut objective = 0f64;
    for (i, row) in scores.chunks_exact(m).enumerate() {
        poll.row(i)?;
        let (j, best) = argmax(row);
        if std::mem::replace(&mut taken[j], true) {
            return Ok(None);
        }
        row_to_col.push(j as u32);
        objective += best as f64;
    }
    Ok(Some(Assignment {
        row_to_col,
        objective,
        dual_bound: objective,
        fast_path: true,
        path: "certificate",
    }))
}

/// First index of the maximum of a non-empty, NaN-free row.
pub(crate) fn argmax(row: &[f32]) -> (usize, f32) {
    let mut best = (0, row[0]);
    for (j, &x) in row.iter().enumerate().skip(1) {
        if x > best.1 {
            best = (j, x);
        }
    }
    best
}

/// `Σ_i scores[i, row_to_col[i]]` in `f64`.
pub fn objective(scores: &[f32], m: usize, row_to_col: &[u32]) -> f64 {
    row_to_col
        .iter()
        .enumerate()
        .map(|(i, &j)| scores[i * m + j as usize] as f64)
        .sum()
}

/// `Σ_i max_j (s_ij - v_j) + Σ_j v_j` for column duals `v` of the maximisation, clamped to `v >= 0` when `n < m`
/// (the column constraints are then inequalities). A valid upper bound for any `v`; tight for optimal duals.
pub fn dual_bound(scores: &[f32], n: usize, m: usize, v: &[f64]) -> f64 {
    // Without a flag nothing can abort it; +inf would still be a valid bound.
    dual_bound_polled(scores, n, m, v, RowPoll::new(None, m)).unwrap_or(f64::INFINITY)
}

/// [`dual_bound`], polling between bands of rows.
fn dual_bound_polled(
    scores: &[f32],
    n: usize,
    m: usize,
    v: &[f64],
    poll: RowPoll<'_>,
) -> Result<f64> {
    let v: Vec<f64> = if n < m {
        v.iter().map(|&x| x.max(0.0)).collect()
    } else {
        v.to_vec()
    };
    let mut rows = 0f64;
    for (i, row) in scores.chunks_exact(m).enumerate() {
        poll.row(i)?;
        rows += kernels::max_minus(row, &v);
    }
    Ok(rows + v.iter().sum::<f64>())
}

#[cfg(test)]
mod tests;
