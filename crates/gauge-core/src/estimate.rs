//! The one estimator: from paired statistics to a gauge with its diagnostics (GAUGE.md §5), in one call.
//!
//! Each site's correlation matrix `C_k` (`[d, d]`, rows A's coordinates, columns B's) comes from its streaming
//! moments. The residual gauge is one `g` for every layer, so the sites are pooled:
//! - [`Pool::SignedSum`]: `C = (1/K) Σ_k C_k` (signed: signs agree across layers under the true gauge), plus an
//!   optional prior `w · (1/K') Σ_k P_k` (the weights' correlations, or statistics of another probe), then matched;
//! - [`Pool::PerLayer`]: every site matched on its own (marginalized), then the consensus: an exact assignment on
//!   the number of sites voting for each pair, ties broken by the pooled `|C|`, each sign by majority vote.
//!
//! Per-site marginalized estimates are returned as a diagnostic (their agreement with the pooled estimate), and the
//! confidence of the pooled matching per coordinate, with its null ([`crate::null`]: the same matching on the pooled
//! matrix with B's coordinates shuffled), against which the estimate is judged reliable. Cost: `K` correlation matrices (`O(K d²)`), `K + 1` exact
//! assignments (`O(d³)` worst case each), plus the null's draws.

use crate::assignment::{self, Cancel, RowPoll, Solver};
use crate::error::{Error, Result};
use crate::gauge::Gauge;
use crate::matching::{match_gauge, Method};
use crate::null::{null_bound, NullBound, DEFAULT_DRAWS};
use crate::stats_file::PairStats;

/// How the sites are pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pool {
    /// Sum the signed per-site matrices, then match.
    #[default]
    SignedSum,
    /// Match every site, then take the consensus.
    PerLayer,
}

impl Pool {
    /// Parses `signed-sum` or `per-layer`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signed-sum" => Some(Pool::SignedSum),
            "per-layer" => Some(Pool::PerLayer),
            _ => None,
        }
    }
}

/// What to estimate.
#[derive(Debug, Clone, Copy)]
pub struct EstimateOptions<'a> {
    /// How signs enter the pooled matching.
    pub method: Method,
    /// How sites are pooled.
    pub pool: Pool,
    /// Added to the pooled matrix before matching, scaled by its weight: the mean correlation of its sites.
    pub prior: Option<(&'a PairStats, f32)>,
    /// Also estimate with every other method (for accuracy reports against a known gauge).
    pub all_methods: bool,
    /// Keep the pooled matrix in the result.
    pub keep_matrix: bool,
    /// The solver.
    pub solver: Solver,
    /// Draws of the null of the pooled matching's confidence (0: none).
    pub null_draws: usize,
}

impl Default for EstimateOptions<'_> {
    fn default() -> Self {
        Self {
            method: Method::Marginalized,
            pool: Pool::SignedSum,
            prior: None,
            all_methods: false,
            keep_matrix: false,
            solver: Solver::Jv,
            null_draws: DEFAULT_DRAWS,
        }
    }
}

/// A gauge estimated from statistics, with its diagnostics.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// The estimate A -> B.
    pub gauge: Gauge,
    /// Per source coordinate: the pooled matching's margin over the best alternative in its row and column.
    pub confidence: Vec<f32>,
    /// Per site, in order: its own marginalized estimate.
    pub per_site: Vec<(String, Gauge)>,
    /// With `all_methods`: the estimate of every method (`marginalized`, `signed`, `permutation`).
    pub by_method: Vec<(Method, Gauge)>,
    /// The null of `confidence` (`None` with `null_draws = 0` or `d = 1`).
    pub null: Option<NullBound>,
    /// With `keep_matrix`: the pooled matrix, row-major `[d, d]`.
    pub matrix: Option<Vec<f32>>,
    /// The residual width.
    pub d: usize,
}

/// The residual width of square statistics with at least one site.
fn width(stats: &PairStats, what: &str) -> Result<usize> {
    match stats.dims()? {
        Some((d, e)) if d == e => Ok(d),
        Some((d, e)) => Err(Error::shape(
            what,
            "a square d x d cross-moment matrix",
            format!("{d} x {e}"),
        )),
        None => Err(Error::Empty {
            what: format!("{what} (no sites)"),
        }),
    }
}

/// `(1/K) Σ_k corr(site k)` of `stats`.
fn mean_correlation(stats: &PairStats, cancel: Cancel<'_>) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let d = width(stats, "statistics")?;
    let poll = RowPoll::new(cancel, d);
    let mut pooled = vec![0f32; d * d];
    let mut per = Vec::with_capacity(stats.sites.len());
    for (_, m) in &stats.sites {
        let c = m.correlation_cancellable(cancel)?;
        for (i, (p, x)) in pooled
            .chunks_exact_mut(d.max(1))
            .zip(c.chunks_exact(d.max(1)))
            .enumerate()
        {
            poll.row(i)?;
            p.iter_mut().zip(x).for_each(|(p, x)| *p += x);
        }
        per.push(c);
    }
    let k = stats.sites.len() as f32;
    for (i, p) in pooled.chunks_exact_mut(d.max(1)).enumerate() {
        poll.row(i)?;
        p.iter_mut().for_each(|p| *p /= k);
    }
    Ok((pooled, per))
}

/// The consensus of per-site gauges (see the module documentation).
fn consensus(
    per_site: &[Gauge],
    pooled: &[f32],
    d: usize,
    method: Method,
    solver: Solver,
    cancel: Cancel<'_>,
) -> Result<Gauge> {
    let mut votes = vec![0f32; d * d];
    let mut sign_votes = vec![0f32; d * d];
    for g in per_site {
        for i in 0..d {
            let j = g.perm()[i] as usize;
            votes[i * d + j] += 1.0;
            sign_votes[i * d + j] += g.sign()[i] as f32;
        }
    }
    let poll = RowPoll::new(cancel, d);
    let mut max_abs = 0f32;
    for (i, row) in pooled.chunks_exact(d.max(1)).enumerate() {
        poll.row(i)?;
        max_abs = row.iter().fold(max_abs, |m, x| m.max(x.abs()));
    }
    // A vote outweighs any tie-break: the tie-break sums to less than 1 over a whole matching.
    let eps = if max_abs > 0.0 {
        0.5 / (d as f32 * max_abs)
    } else {
        0.0
    };
    let mut scores = votes;
    for (i, (s, p)) in scores
        .chunks_exact_mut(d.max(1))
        .zip(pooled.chunks_exact(d.max(1)))
        .enumerate()
    {
        poll.row(i)?;
        s.iter_mut().zip(p).for_each(|(v, p)| *v += eps * p.abs());
    }
    let a = assignment::solve(&scores, d, d, solver, cancel)?;
    let perm: Vec<u32> = a.row_to_col;
    let sign: Vec<i8> = perm
        .iter()
        .enumerate()
        .map(|(i, &j)| {
            let k = i * d + j as usize;
            if method != Method::Marginalized {
                1
            } else if sign_votes[k] != 0.0 {
                sign_votes[k].signum() as i8
            } else if pooled[k] < 0.0 {
                -1
            } else {
                1
            }
        })
        .collect();
    Gauge::from_parts(perm, sign, "consensus")
}

/// Estimates the gauge A -> B from `stats` (see the module documentation). `cancel` is polled between the
/// matrices and inside every assignment.
///
/// # Errors
/// `EMPTY_INPUT` for statistics without sites or tokens; a prior of another width is `SHAPE_MISMATCH`; a prior
/// weight that is negative or not finite is `INVALID_ARGUMENT`; `ABORTED` when cancelled.
pub fn estimate(stats: &PairStats, o: EstimateOptions<'_>, cancel: Cancel<'_>) -> Result<Estimate> {
    let d = width(stats, "statistics")?;
    let (mut pooled, per) = mean_correlation(stats, cancel)?;
    if let Some((prior, weight)) = o.prior {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::invalid(
                "priorWeight",
                format!("{weight} is not a finite number >= 0"),
            ));
        }
        let pd = width(prior, "prior")?;
        if pd != d {
            return Err(Error::shape(
                "prior",
                format!("d = {d}, as the statistics"),
                format!("d = {pd}"),
            ));
        }
        let (p, _) = mean_correlation(prior, cancel)?;
        let poll = RowPoll::new(cancel, d);
        for (i, (x, y)) in pooled
            .chunks_exact_mut(d.max(1))
            .zip(p.chunks_exact(d.max(1)))
            .enumerate()
        {
            poll.row(i)?;
            x.iter_mut().zip(y).for_each(|(x, y)| *x += weight * y);
        }
    }
    let mut per_site = Vec::with_capacity(per.len());
    for ((name, _), c) in stats.sites.iter().zip(&per) {
        let m = match_gauge(c, d, Method::Marginalized, o.solver, cancel)?;
        per_site.push((name.clone(), m.gauge));
    }
    drop(per);
    let site_gauges: Vec<Gauge> = per_site.iter().map(|(_, g)| g.clone()).collect();
    let pooled_match = |method: Method| -> Result<(Gauge, Vec<f32>)> {
        let m = match_gauge(&pooled, d, method, o.solver, cancel)?;
        let g = match o.pool {
            Pool::SignedSum => m.gauge,
            Pool::PerLayer => consensus(&site_gauges, &pooled, d, method, o.solver, cancel)?,
        };
        Ok((g, m.confidence))
    };
    let (gauge, confidence) = pooled_match(o.method)?;
    let mut by_method = Vec::new();
    if o.all_methods {
        for m in [Method::Marginalized, Method::Signed, Method::Permutation] {
            let g = if m == o.method {
                gauge.clone()
            } else {
                pooled_match(m)?.0
            };
            by_method.push((m, g));
        }
    }
    let null = null_bound(&pooled, d, o.method, o.null_draws, o.solver, cancel)?;
    Ok(Estimate {
        gauge,
        confidence,
        null,
        per_site,
        by_method,
        matrix: o.keep_matrix.then_some(pooled),
        d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gauge::RandomOptions;
    use crate::rng::SplitMix64;
    use crate::stats::CrossMoments;
    use crate::Group;

    /// Statistics of `x` (`[n, d]`, independent coordinates) against `y = g·x + noise` at `sites` sites.
    fn planted(d: usize, n: usize, sites: usize, g: &Gauge) -> PairStats {
        let mut rng = SplitMix64::new(3);
        let mut out = Vec::new();
        for k in 0..sites {
            let mut x = vec![0f32; n * d];
            rng.fill_normal(&mut x);
            let mut noise = vec![0f32; n * d];
            rng.fill_normal(&mut noise);
            let mut y = Vec::with_capacity(n * d);
            for (row, e) in x.chunks(d).zip(noise.chunks(d)) {
                let moved = g.apply_vector(row).unwrap();
                y.extend(moved.iter().zip(e).map(|(m, e)| m + 0.5 * e));
            }
            let mut m = CrossMoments::new(d, d);
            m.update(&x, &y, n).unwrap();
            out.push((format!("h_{k}"), m));
        }
        PairStats {
            sites: out,
            metadata: Default::default(),
        }
    }

    #[test]
    fn both_pools_recover_a_planted_gauge_and_report_every_method() {
        let d = 24;
        let g = Gauge::random(
            d,
            &RandomOptions {
                seed: 5,
                positive_fraction: 0.5,
                group: Group::Bd,
            },
        )
        .unwrap();
        let stats = planted(d, 400, 3, &g);
        for pool in [Pool::SignedSum, Pool::PerLayer] {
            let e = estimate(
                &stats,
                EstimateOptions {
                    pool,
                    all_methods: true,
                    keep_matrix: true,
                    ..Default::default()
                },
                None,
            )
            .unwrap();
            assert_eq!(
                e.gauge.agreement(&g).unwrap().signed_accuracy,
                1.0,
                "{pool:?}"
            );
            assert_eq!(e.per_site.len(), 3);
            assert!(e.confidence.iter().all(|c| *c > 0.0));
            let null = e.null.as_ref().unwrap();
            assert!(
                crate::null::matched_fraction(&e.confidence) > null.bound,
                "{null:?}"
            );
            assert_eq!(e.matrix.as_ref().unwrap().len(), d * d);
            let by = |m: Method| e.by_method.iter().find(|(x, _)| *x == m).unwrap().1.clone();
            let perm = by(Method::Permutation).agreement(&g).unwrap();
            assert_eq!(perm.perm_accuracy, 1.0);
            assert!(perm.signed_accuracy < 1.0);
            if pool == Pool::SignedSum {
                // The signed ceiling (GAUGE.md §5); the consensus takes its permutation from the per-site votes.
                assert!(by(Method::Signed).agreement(&g).unwrap().perm_accuracy < 1.0);
            }
        }
    }

    #[test]
    fn bad_priors_and_empty_statistics_are_refused() {
        let g = Gauge::identity(8).unwrap();
        let stats = planted(8, 50, 1, &g);
        let other = planted(6, 50, 1, &Gauge::identity(6).unwrap());
        let with = |p: &PairStats, w: f32| {
            estimate(
                &stats,
                EstimateOptions {
                    prior: Some((p, w)),
                    ..Default::default()
                },
                None,
            )
        };
        assert_eq!(with(&other, 1.0).unwrap_err().code(), "SHAPE_MISMATCH");
        assert_eq!(with(&stats, -1.0).unwrap_err().code(), "INVALID_ARGUMENT");
        assert!(with(&stats, 0.5).is_ok());
        let empty = PairStats {
            sites: vec![],
            metadata: Default::default(),
        };
        assert_eq!(
            estimate(&empty, EstimateOptions::default(), None)
                .unwrap_err()
                .code(),
            "EMPTY_INPUT"
        );
        let stop = std::sync::atomic::AtomicBool::new(true);
        assert_eq!(
            estimate(&stats, EstimateOptions::default(), Some(&stop))
                .unwrap_err()
                .code(),
            "ABORTED"
        );
    }
    /// An abort lands within 50 ms wherever it comes in a d = 4096 estimate (100 ms here, for loaded CI machines):
    /// in the correlation, the pooling, the matching and the null, each of which passes over 16M entries.
    #[test]
    fn an_abort_lands_promptly_anywhere_in_a_d_4096_estimate() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        let (d, rows) = (4096, 64);
        let mut x = vec![0f32; rows * d];
        SplitMix64::new(5).fill_normal(&mut x);
        let mut m = CrossMoments::new(d, d);
        m.update(&x, &x, rows).unwrap();
        let stats = PairStats {
            sites: vec![("h".into(), m)],
            metadata: Default::default(),
        };
        let t = Instant::now();
        estimate(&stats, EstimateOptions::default(), None).unwrap();
        let total = t.elapsed();
        for at in [Duration::from_millis(15), total / 3, total * 2 / 3] {
            let flag = AtomicBool::new(false);
            let late = std::thread::scope(|scope| {
                let raiser = scope.spawn(|| {
                    std::thread::sleep(at);
                    flag.store(true, Ordering::Relaxed);
                    Instant::now()
                });
                let r = estimate(&stats, EstimateOptions::default(), Some(&flag));
                let done = Instant::now();
                let raised = raiser.join().unwrap();
                match r {
                    Err(e) => assert_eq!(e.code(), "ABORTED"),
                    // A later run can be faster than the timed one: it may finish before a late flag, which is
                    // then nothing to abort. The first flag (15 ms in) must always land.
                    Ok(_) => {
                        assert!(
                            at > Duration::from_millis(15) && done <= raised,
                            "finished despite a flag {at:?} in"
                        );
                        return Duration::ZERO;
                    }
                }
                done.saturating_duration_since(raised)
            });
            assert!(
                late < Duration::from_millis(100),
                "aborted {at:?} into a {total:?} estimate, it stopped {late:?} after the flag"
            );
        }
    }
}
