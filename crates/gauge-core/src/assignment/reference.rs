//! The reference solver: `pathfinding::kuhn_munkres` (Hungarian algorithm, `O(n² m)`) on scores scaled to
//! integers, with column duals recovered afterwards for the dual bound.
//!
//! Scaling by `2^k`, with `k` as large as `n · max|s| · 2^k < 2^61` allows, keeps every `f32` whose exponent is
//! within about 26 binades of the largest exact, so the integer optimum is the real one up to `n · 2^-k`.
//! The caller has validated the input: `kuhn_munkres` panics when `n > m` and does not terminate on NaN.
//!
//! `kuhn_munkres` has no way to stop early, so the cancellation flag is polled where it reads the weights
//! ([`Polled::at`], called `O(m)` times per step of its search): once the flag is raised, the next read unwinds
//! out of the crate with a private payload (no panic hook runs, nothing is printed), which [`solve`] turns into
//! `ABORTED`. This needs `panic = "unwind"`, the workspace's choice for every profile.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use pathfinding::kuhn_munkres::{kuhn_munkres, Weights};
use pathfinding::matrix::Matrix;

use super::{check_cancel, Cancel};
use crate::error::{Error, Result};

/// The weights of `kuhn_munkres`, with the cancellation flag checked on every read.
struct Polled<'a> {
    weights: Matrix<i64>,
    cancel: Cancel<'a>,
}

/// The unwinding payload of a cancelled solve.
struct Cancelled;

impl Weights<i64> for Polled<'_> {
    fn rows(&self) -> usize {
        self.weights.rows
    }

    fn columns(&self) -> usize {
        self.weights.columns
    }

    fn at(&self, row: usize, col: usize) -> i64 {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            // `resume_unwind` skips the panic hook: this is control flow, not a bug to report.
            panic::resume_unwind(Box::new(Cancelled));
        }
        self.weights[(row, col)]
    }

    fn neg(&self) -> Self {
        Self {
            weights: -self.weights.clone(),
            cancel: self.cancel,
        }
    }
}

pub(super) fn solve(
    scores: &[f32],
    n: usize,
    m: usize,
    cancel: Cancel<'_>,
) -> Result<(Vec<u32>, Vec<f64>)> {
    let max_abs = scores.iter().fold(0f32, |a, &s| a.max(s.abs())) as f64;
    let k = if max_abs > 0.0 {
        (61.0 - (n as f64).log2().ceil() - max_abs.log2().ceil()).floor() as i32
    } else {
        0
    };
    let scale = 2f64.powi(k);
    // Filling the `8 n m` bytes takes about 100 ms at 4096 x 4096, so it polls the flag too.
    let mut ints: Vec<i64> = Vec::with_capacity(scores.len());
    for (i, row) in scores.chunks_exact(m).enumerate() {
        if i.is_multiple_of(64) {
            check_cancel(cancel)?;
        }
        ints.extend(row.iter().map(|&s| (s as f64 * scale).round() as i64));
    }
    let weights = Polled {
        weights: Matrix::from_vec(n, m, ints)
            .map_err(|e| Error::invalid("scores", e.to_string()))?,
        cancel,
    };
    let cols = match panic::catch_unwind(AssertUnwindSafe(|| kuhn_munkres(&weights))) {
        Ok((_, cols)) => cols,
        Err(payload) if payload.is::<Cancelled>() => {
            return Err(Error::Aborted {
                what: "assignment".into(),
            })
        }
        Err(payload) => panic::resume_unwind(payload),
    };
    let row_to_col: Vec<u32> = cols.into_iter().map(|j| j as u32).collect();
    let duals = recover_duals(scores, n, m, &row_to_col, cancel)?;
    Ok((row_to_col, duals))
}

/// Column duals `v` for an assignment `x` of the maximisation: the largest solution of the difference
/// constraints `v_{x_i} <= v_j + s_{i,x_i} - s_ij` with `v = 0` on unassigned columns (Bellman-Ford, in-place
/// rounds of `O(n m)` until nothing changes, at most `n + 1` rounds). Optimality of `x` is exactly the absence of
/// negative cycles, so for an optimal `x` the rounds converge and the dual bound is tight.
fn recover_duals(
    scores: &[f32],
    n: usize,
    m: usize,
    x: &[u32],
    cancel: Cancel<'_>,
) -> Result<Vec<f64>> {
    let mut v = vec![if n < m { f64::INFINITY } else { 0.0 }; m];
    if n < m {
        let mut assigned = vec![false; m];
        for &j in x {
            assigned[j as usize] = true;
        }
        for (vj, a) in v.iter_mut().zip(assigned) {
            if !a {
                *vj = 0.0;
            }
        }
    }
    for _ in 0..=n {
        check_cancel(cancel)?;
        let mut changed = false;
        for (i, &xi) in x.iter().enumerate() {
            let row = &scores[i * m..(i + 1) * m];
            let own = row[xi as usize] as f64;
            let bound = row
                .iter()
                .zip(&v)
                .map(|(&s, &vj)| vj + own - s as f64)
                .fold(f64::INFINITY, f64::min);
            if bound < v[xi as usize] {
                v[xi as usize] = bound;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(v)
}
