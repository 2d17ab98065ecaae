//! The null of a matching's confidence (GAUGE.md §5): how well the same matching does when B's coordinates
//! correspond to nothing in A.
//!
//! The statistic is the fraction of coordinates matched above their best alternative: confidence (the margin of
//! [`crate::matching::margins`]) above 0. A gauge shared by the charts puts nearly every coordinate there.
//!
//! A draw shuffles every row of the `[d, d]` correlation matrix independently: B's coordinates are shuffled, afresh
//! for every coordinate of A. Each row keeps its own entries (their scale, their tails, even one strong partner),
//! so the noise level of the statistics (token count, probe redundancy, outlier coordinates) is the data's own; what
//! goes is the one-to-one structure that a gauge produces. The draw is matched by the same method and solver and its
//! statistic recorded. Rows that keep a strong partner still win where their column has no stronger claimant, so for
//! a related pair the null sits near one half; for unrelated statistics the observed value is one more draw.
//!
//! The bound is the mean of the draws plus [`Z`] standard deviations, and at least their maximum and one half: an
//! estimate is reliable when most of its coordinates are matched, and more of them than uncorrelated coordinates
//! would be. The fractions of `d` coordinates vary little between draws, so a few draws pin the bound; under a
//! normal null, a value above it happens by chance with probability about 1e-3.
//!
//! Cost: `draws` exact assignments of `[d, d]` matrices without structure (the solver's hardest case), run in
//! parallel.

use rayon::prelude::*;

use crate::assignment::{self, Cancel, Solver};
use crate::error::{Error, Result};
use crate::matching::{match_gauge, Method};
use crate::rng::SplitMix64;

/// Draws of the null unless the caller asks otherwise.
pub const DEFAULT_DRAWS: usize = 8;

/// Standard deviations above the null's mean.
pub const Z: f32 = 3.0;

/// The seed of the first draw: the null is deterministic for given statistics.
const SEED: u64 = 0x6e75_6c6c;

/// The null distribution of the matched fraction, and the bound an estimate must exceed.
#[derive(Debug, Clone, PartialEq)]
pub struct NullBound {
    /// The matched fraction ([`matched_fraction`]) of every draw.
    pub fractions: Vec<f32>,
    /// `max(mean + Z·sd, max, 0.5)` of `fractions`.
    pub bound: f32,
}

/// The fraction of coordinates whose confidence is above 0: matched above their best alternative.
pub fn matched_fraction(confidence: &[f32]) -> f32 {
    confidence.iter().filter(|&&c| c > 0.0).count() as f32 / confidence.len().max(1) as f32
}

/// `c` (`[d, d]`, row-major) with every row's entries in an independent random order; `cancel` is polled once a
/// row (a 4096 x 4096 shuffle takes a tenth of a second or more).
fn shuffled_rows(
    c: &[f32],
    d: usize,
    rng: &mut SplitMix64,
    cancel: Cancel<'_>,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(c.len());
    for src in c.chunks_exact(d) {
        assignment::check_cancel(cancel)?;
        let start = out.len();
        out.extend_from_slice(src);
        let row = &mut out[start..];
        for i in (1..d).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            row.swap(i, j);
        }
    }
    Ok(out)
}

/// The null of matching `c` (`[d, d]`, row-major) by `method` (see the module documentation). `None` when
/// `draws = 0` or `d < 2` (one coordinate has no alternative to beat).
///
/// # Errors
/// `SHAPE_MISMATCH` if `c.len() != d * d`; `INVALID_ARGUMENT` for more than 1,000 draws; `ABORTED` when cancelled.
pub fn null_bound(
    c: &[f32],
    d: usize,
    method: Method,
    draws: usize,
    solver: Solver,
    cancel: Cancel<'_>,
) -> Result<Option<NullBound>> {
    if d.checked_mul(d) != Some(c.len()) {
        return Err(Error::shape(
            "correlation matrix",
            format!("{d} x {d} = {} entries", d.saturating_mul(d)),
            format!("{} entries", c.len()),
        ));
    }
    if draws > 1000 {
        return Err(Error::invalid(
            "nullDraws",
            format!("{draws} is more than 1000"),
        ));
    }
    if draws == 0 || d < 2 {
        return Ok(None);
    }
    let fractions = (0..draws)
        .into_par_iter()
        .map(|k| {
            let mut rng = SplitMix64::new(SEED.wrapping_add(k as u64));
            let s = shuffled_rows(c, d, &mut rng, cancel)?;
            let m = match_gauge(&s, d, method, solver, cancel)?;
            Ok(matched_fraction(&m.confidence))
        })
        .collect::<Result<Vec<f32>>>()?;
    let n = fractions.len() as f32;
    let mean = fractions.iter().sum::<f32>() / n;
    let var = fractions.iter().map(|m| (m - mean).powi(2)).sum::<f32>() / (n - 1.0).max(1.0);
    let max = fractions.iter().copied().fold(0.5, f32::max);
    Ok(Some(NullBound {
        bound: (mean + Z * var.sqrt()).max(max),
        fractions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gauge::{Gauge, Group, RandomOptions};

    /// `C[i, perm[i]] = sign[i] * rho` over uniform noise of half-width `noise`.
    fn planted(d: usize, rho: f32, noise: f32, seed: u64) -> Vec<f32> {
        let g = Gauge::random(
            d,
            &RandomOptions {
                seed,
                positive_fraction: 0.5,
                group: Group::Bd,
            },
        )
        .unwrap();
        let mut rng = SplitMix64::new(seed + 1);
        let mut c: Vec<f32> = (0..d * d)
            .map(|_| (rng.next_f32() - 0.5) * 2.0 * noise)
            .collect();
        if rho > 0.0 {
            for i in 0..d {
                c[i * d + g.perm()[i] as usize] = g.sign()[i] as f32 * rho;
            }
        }
        c
    }

    fn observed(c: &[f32], d: usize) -> f32 {
        matched_fraction(
            &match_gauge(c, d, Method::Marginalized, Solver::Jv, None)
                .unwrap()
                .confidence,
        )
    }

    #[test]
    fn a_planted_gauge_clears_the_null_and_pure_noise_does_not() {
        let d = 96;
        let related = planted(d, 0.5, 0.2, 3);
        let nb = null_bound(&related, d, Method::Marginalized, 8, Solver::Jv, None)
            .unwrap()
            .unwrap();
        assert_eq!(nb.fractions.len(), 8);
        assert!(observed(&related, d) > nb.bound + 0.1, "{nb:?}");
        // Noise alone: the observed fraction is one more draw of the same distribution.
        for seed in [5, 7, 9] {
            let noise = planted(d, 0.0, 0.2, seed);
            let nb = null_bound(&noise, d, Method::Marginalized, 8, Solver::Jv, None)
                .unwrap()
                .unwrap();
            assert!(observed(&noise, d) <= nb.bound, "seed {seed}: {nb:?}");
        }
    }

    #[test]
    fn a_weak_gauge_buried_in_noise_fails_and_a_moderate_one_passes() {
        let d = 128;
        // A planted 0.3 over noise of half-width 0.2 beats every alternative; at 0.12 most coordinates lose.
        let weak = planted(d, 0.12, 0.2, 11);
        let nb = null_bound(&weak, d, Method::Marginalized, 8, Solver::Jv, None)
            .unwrap()
            .unwrap();
        assert!(observed(&weak, d) <= nb.bound, "{nb:?}");
        let moderate = planted(d, 0.3, 0.2, 11);
        let nb = null_bound(&moderate, d, Method::Marginalized, 8, Solver::Jv, None)
            .unwrap()
            .unwrap();
        assert!(observed(&moderate, d) > nb.bound, "{nb:?}");
    }

    #[test]
    fn deterministic_bounded_and_checked() {
        let c = planted(32, 0.5, 0.2, 1);
        let a = null_bound(&c, 32, Method::Signed, 4, Solver::Jv, None).unwrap();
        assert_eq!(
            a,
            null_bound(&c, 32, Method::Signed, 4, Solver::Jv, None).unwrap()
        );
        assert!(null_bound(&c, 32, Method::Signed, 0, Solver::Jv, None)
            .unwrap()
            .is_none());
        assert!(null_bound(&[1.0], 1, Method::Signed, 4, Solver::Jv, None)
            .unwrap()
            .is_none());
        let e = null_bound(&c, 31, Method::Signed, 4, Solver::Jv, None).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
        let e = null_bound(&c, 32, Method::Signed, 1001, Solver::Jv, None).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        let stop = std::sync::atomic::AtomicBool::new(true);
        let e = null_bound(&c, 32, Method::Signed, 4, Solver::Jv, Some(&stop)).unwrap_err();
        assert_eq!(e.code(), "ABORTED");
        assert_eq!(matched_fraction(&[0.3, 0.0, -0.1, 0.2]), 0.5);
    }
}
