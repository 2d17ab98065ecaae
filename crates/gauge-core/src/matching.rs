//! Gauge estimation from a correlation matrix (GAUGE.md §5).
//!
//! `C[i, j] = corr(h_A[:, i], h_B[:, j])` is row-major `[d, d]`, rows indexing the source chart A and columns the
//! target chart B. The estimate maps A to B: `perm[i]` is the column matched to row `i`, so `h_B ≈ g·h_A`.

use crate::assignment::{self, Cancel, RowPoll, Solver};
use crate::error::{Error, Result};
use crate::gauge::Gauge;

/// How signs enter the matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Maximise `Σ |C[i, π(i)]|`, then `sign[i] = sign(C[i, π(i)])` (sign-marginalized Hungarian).
    #[default]
    Marginalized,
    /// Maximise `Σ C[i, π(i)]` with every sign +1: negatively matched pairs lose to unrelated ones.
    Signed,
    /// The marginalized permutation with every sign forced to +1 (what permutation-only tools recover).
    Permutation,
}

impl Method {
    /// Parses `marginalized`, `signed` or `permutation`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "marginalized" => Some(Method::Marginalized),
            "signed" => Some(Method::Signed),
            "permutation" => Some(Method::Permutation),
            _ => None,
        }
    }

    /// The name used on the command line and in gauge-file metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Marginalized => "marginalized",
            Method::Signed => "signed",
            Method::Permutation => "permutation",
        }
    }
}

/// A matched gauge with its diagnostics.
#[derive(Debug, Clone)]
pub struct Match {
    /// The estimated gauge A -> B.
    pub gauge: Gauge,
    /// Per source coordinate `i`: `S[i, π(i)]` minus the best alternative in row `i` and column `π(i)`, where `S`
    /// is the matrix the method maximises (`|C|` or `C`). Negative values mark coordinates the optimum matched
    /// against their own best local choice; `+inf` when `d = 1`.
    pub confidence: Vec<f32>,
    /// The solver's objective on `S`.
    pub objective: f64,
    /// The solver's dual bound on `S` (equal to `objective` at optimality, up to rounding).
    pub dual_bound: f64,
    /// Whether the certificate fast path settled the assignment.
    pub fast_path: bool,
}

/// Estimates a gauge from a `[d, d]` correlation matrix.
///
/// # Errors
/// `SHAPE_MISMATCH` if `c.len() != d * d`, `EMPTY_INPUT` for `d = 0`, `NON_FINITE` for NaN or ±Inf entries.
pub fn match_gauge(
    c: &[f32],
    d: usize,
    method: Method,
    solver: Solver,
    cancel: Cancel<'_>,
) -> Result<Match> {
    if d.checked_mul(d) != Some(c.len()) {
        return Err(Error::shape(
            "correlation matrix",
            format!("{d} x {d} = {} entries", d.saturating_mul(d)),
            format!("{} entries", c.len()),
        ));
    }
    let poll = RowPoll::new(cancel, d);
    let mut scores: Vec<f32> = Vec::with_capacity(c.len());
    for (i, row) in c.chunks_exact(d.max(1)).enumerate() {
        poll.row(i)?;
        match method {
            Method::Signed => scores.extend_from_slice(row),
            Method::Marginalized | Method::Permutation => {
                scores.extend(row.iter().map(|x| x.abs()))
            }
        }
    }
    let a = assignment::solve(&scores, d, d, solver, cancel)?;
    let sign: Vec<i8> = match method {
        Method::Marginalized => a
            .row_to_col
            .iter()
            .enumerate()
            .map(|(i, &j)| if c[i * d + j as usize] < 0.0 { -1 } else { 1 })
            .collect(),
        Method::Signed | Method::Permutation => vec![1; d],
    };
    let confidence = margins_polled(&scores, d, &a.row_to_col, poll)?;
    let gauge = Gauge::from_parts(a.row_to_col, sign, "matching")?;
    Ok(Match {
        gauge,
        confidence,
        objective: a.objective,
        dual_bound: a.dual_bound,
        fast_path: a.fast_path,
    })
}

/// `S[i, π(i)] - max(max_{j ≠ π(i)} S[i, j], max_{k ≠ i} S[k, π(i)])` for every row, in two passes over `S`.
pub fn margins(s: &[f32], d: usize, row_to_col: &[u32]) -> Vec<f32> {
    // Without a flag nothing can abort it.
    margins_polled(s, d, row_to_col, RowPoll::new(None, d)).unwrap_or_default()
}

/// [`margins`], polling between bands of rows.
fn margins_polled(s: &[f32], d: usize, row_to_col: &[u32], poll: RowPoll<'_>) -> Result<Vec<f32>> {
    // Largest and second-largest entry of every column, with the row of the largest.
    let mut col_top = vec![(f32::NEG_INFINITY, u32::MAX, f32::NEG_INFINITY); d];
    for (i, row) in s.chunks_exact(d.max(1)).enumerate() {
        poll.row(i)?;
        for (t, &x) in col_top.iter_mut().zip(row) {
            if x > t.2 {
                if x > t.0 {
                    *t = (x, i as u32, t.0);
                } else {
                    t.2 = x;
                }
            }
        }
    }
    s.chunks_exact(d.max(1))
        .zip(row_to_col)
        .enumerate()
        .map(|(i, (row, &j))| {
            poll.row(i)?;
            let j = j as usize;
            let row_alt = row
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != j)
                .map(|(_, &x)| x)
                .fold(f32::NEG_INFINITY, f32::max);
            let t = col_top[j];
            let col_alt = if t.1 == i as u32 { t.2 } else { t.0 };
            Ok(row[j] - row_alt.max(col_alt))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gauge::{Group, RandomOptions};

    /// `C[i, perm[i]] = sign[i] * rho` plus small off-diagonal noise: the correlation a true gauge produces.
    fn planted(g: &Gauge, rho: f32) -> Vec<f32> {
        let d = g.dim();
        let mut rng = crate::rng::SplitMix64::new(5);
        let mut c: Vec<f32> = (0..d * d).map(|_| (rng.next_f32() - 0.5) * 0.1).collect();
        for i in 0..d {
            c[i * d + g.perm()[i] as usize] = g.sign()[i] as f32 * rho;
        }
        c
    }

    #[test]
    fn marginalized_recovers_a_planted_signed_permutation() {
        let g = Gauge::random(
            64,
            &RandomOptions {
                seed: 2,
                positive_fraction: 0.5,
                group: Group::Bd,
            },
        )
        .unwrap();
        let m = match_gauge(
            &planted(&g, 0.9),
            64,
            Method::Marginalized,
            Solver::Jv,
            None,
        )
        .unwrap();
        assert_eq!(m.gauge, g);
        assert!(m.confidence.iter().all(|&c| c > 0.8));
        let p = match_gauge(&planted(&g, 0.9), 64, Method::Permutation, Solver::Jv, None).unwrap();
        assert_eq!(p.gauge, g.abs());
    }

    #[test]
    fn signed_matching_only_gets_the_positive_coordinates() {
        let g = Gauge::random(
            200,
            &RandomOptions {
                seed: 4,
                positive_fraction: 0.25,
                group: Group::Bd,
            },
        )
        .unwrap();
        let m = match_gauge(&planted(&g, 0.9), 200, Method::Signed, Solver::Jv, None).unwrap();
        let acc = m.gauge.agreement(&g).unwrap();
        assert!(
            acc.perm_accuracy >= 0.25 && acc.perm_accuracy < 0.3,
            "{acc:?}"
        );
    }

    #[test]
    fn margins_against_hand_computed_values() {
        // S = [[0.9, 0.2], [0.3, 0.8]], identity matching: row 0: 0.9 - max(0.2, 0.3); row 1: 0.8 - max(0.3, 0.2).
        let m = margins(&[0.9, 0.2, 0.3, 0.8], 2, &[0, 1]);
        assert!(
            (m[0] - 0.6).abs() < 1e-6 && (m[1] - 0.5).abs() < 1e-6,
            "{m:?}"
        );
    }

    #[test]
    fn rejects_a_non_square_matrix() {
        let e = match_gauge(&[0.0; 6], 2, Method::Marginalized, Solver::Jv, None).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
    }

    #[test]
    fn an_empty_matrix_is_empty_input_for_every_method() {
        for method in [Method::Marginalized, Method::Signed, Method::Permutation] {
            let e = match_gauge(&[], 0, method, Solver::Jv, None).unwrap_err();
            assert_eq!(e.code(), "EMPTY_INPUT", "{method:?}");
        }
        assert!(margins(&[], 0, &[]).is_empty());
    }
}
