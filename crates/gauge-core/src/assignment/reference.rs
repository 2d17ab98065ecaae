//! The reference solver: `pathfinding::kuhn_munkres` (Hungarian algorithm, `O(n² m)`) on scores scaled to
//! integers, with column duals recovered afterwards for the dual bound.
//!
//! Scaling by `2^k`, with `k` as large as `n · max|s| · 2^k < 2^61` allows, keeps every `f32` whose exponent is
//! within about 26 binades of the largest exact, so the integer optimum is the real one up to `n · 2^-k`.
//! The caller has validated the input: `kuhn_munkres` panics when `n > m` and does not terminate on NaN.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use super::{check_cancel, Cancel};
use crate::error::{Error, Result};

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
    let ints: Vec<i64> = scores
        .iter()
        .map(|&s| (s as f64 * scale).round() as i64)
        .collect();
    let weights =
        Matrix::from_vec(n, m, ints).map_err(|e| Error::invalid("scores", e.to_string()))?;
    let (_, cols) = kuhn_munkres(&weights);
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
