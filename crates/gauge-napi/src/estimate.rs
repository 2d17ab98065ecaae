//! `estimateGauge`: paired statistics to a gauge with its diagnostics in one call off the event loop (the core's
//! `estimate`: per-site correlations, pooling, an optional prior, matching, per-site estimates, every method on
//! request). No per-site `d × d` matrix crosses to JavaScript unless `keepMatrix` asks for the pooled one.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use gauge_core::estimate::{estimate, EstimateOptions, Pool};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::assignment::{method, solver};
use crate::error::{CResult, CodedError};
use crate::gauge::Gauge;
use crate::job::{abort_flag, Job};
use crate::pair_stats::{Inner, PairStats};

/// Options of `estimateGauge`.
#[napi(object)]
pub struct EstimateGaugeOptions {
    /// `marginalized`, `signed` or `permutation`.
    /// @default 'marginalized'
    pub method: Option<String>,
    /// `signed-sum` or `per-layer`.
    /// @default 'signed-sum'
    pub pool: Option<String>,
    /// Statistics whose mean correlation is added to the pooled matrix before matching (e.g. `weightPairStats`).
    pub prior: Option<ClassInstance<'static, PairStats>>,
    /// Scale of the prior.
    /// @default 1
    pub prior_weight: Option<f64>,
    /// Also estimate with every method (`byMethod`).
    /// @default false
    pub all_methods: Option<bool>,
    /// Return the pooled matrix, row-major `d x d`.
    /// @default false
    pub keep_matrix: Option<bool>,
    /// `jv`, `jv-dense` or `pathfinding`.
    /// @default 'jv'
    pub solver: Option<String>,
    /// Draws of the null of the confidence (B's coordinates shuffled; at most 1000, 0 for none).
    /// @default 8
    pub null_draws: Option<u32>,
}

/// The null of a matching's confidence: the same matching with B's coordinates shuffled, afresh for every
/// coordinate of A (GAUGE.md §5). An estimate is reliable when its matched fraction (confidence above 0) exceeds
/// `bound`.
#[napi(object, object_from_js = false)]
pub struct ConfidenceNull {
    /// The matched fraction of every draw.
    pub fractions: Vec<f64>,
    /// The draws' mean plus three standard deviations, and at least their maximum and 0.5.
    pub bound: f64,
}

impl From<gauge_core::null::NullBound> for ConfidenceNull {
    fn from(n: gauge_core::null::NullBound) -> Self {
        Self {
            fractions: n.fractions.iter().map(|&m| m as f64).collect(),
            bound: n.bound as f64,
        }
    }
}

/// One site's own estimate.
#[napi(object, object_from_js = false)]
pub struct SiteEstimate {
    /// The site (`h_l`, `final_norm`).
    pub site: String,
    /// Its estimate.
    pub gauge: Gauge,
}

/// One method's estimate.
#[napi(object, object_from_js = false)]
pub struct MethodEstimate {
    /// `marginalized`, `signed` or `permutation`.
    pub method: String,
    /// Its estimate.
    pub gauge: Gauge,
}

/// The result of `estimateGauge`.
#[napi(object, object_from_js = false)]
pub struct GaugeEstimate {
    /// The estimate A -> B.
    pub gauge: Gauge,
    /// Per source coordinate: the pooled matching's margin over the best alternative in its row and column.
    pub confidence: Float32Array,
    /// The null of `confidence` (absent with `nullDraws: 0` or `d = 1`).
    pub null: Option<ConfidenceNull>,
    /// Per site: its own marginalized estimate.
    pub per_site: Vec<SiteEstimate>,
    /// With `allMethods`: every method's estimate.
    pub by_method: Vec<MethodEstimate>,
    /// With `keepMatrix`: the pooled correlation matrix.
    pub matrix: Option<Float32Array>,
    /// Residual width.
    pub d: u32,
}

struct Owned {
    stats: Arc<Mutex<Inner>>,
    prior: Option<Arc<Mutex<Inner>>>,
    weight: f32,
    method: Option<String>,
    pool: Option<String>,
    solver: Option<String>,
    all: bool,
    keep: bool,
    null_draws: usize,
}

fn run(o: &Owned, flag: &AtomicBool) -> CResult<GaugeEstimate> {
    let pool_name = o.pool.as_deref().unwrap_or("signed-sum");
    let pool = Pool::parse(pool_name).ok_or_else(|| {
        CodedError::invalid(
            "pool",
            format!("{pool_name:?} is not one of signed-sum, per-layer"),
        )
    })?;
    let stats = o.stats.lock().unwrap_or_else(|e| e.into_inner());
    // The same statistics as their own prior would lock twice: read them once.
    let prior_guard = match &o.prior {
        Some(p) if !Arc::ptr_eq(p, &o.stats) => Some(p.lock().unwrap_or_else(|e| e.into_inner())),
        _ => None,
    };
    let prior = match (&o.prior, &prior_guard) {
        (Some(_), Some(g)) => Some((&g.core, o.weight)),
        (Some(_), None) => Some((&stats.core, o.weight)),
        (None, _) => None,
    };
    let e = estimate(
        &stats.core,
        EstimateOptions {
            method: method(o.method.as_deref())?,
            pool,
            prior,
            all_methods: o.all,
            keep_matrix: o.keep,
            solver: solver(o.solver.as_deref())?,
            null_draws: o.null_draws,
        },
        Some(flag),
    )?;
    Ok(GaugeEstimate {
        d: e.d as u32,
        confidence: Float32Array::new(e.confidence),
        null: e.null.map(ConfidenceNull::from),
        per_site: e
            .per_site
            .into_iter()
            .map(|(site, g)| SiteEstimate {
                site,
                gauge: Gauge { inner: g },
            })
            .collect(),
        by_method: e
            .by_method
            .into_iter()
            .map(|(m, g)| MethodEstimate {
                method: m.as_str().into(),
                gauge: Gauge { inner: g },
            })
            .collect(),
        matrix: e.matrix.map(Float32Array::new),
        gauge: Gauge { inner: e.gauge },
    })
}

/// Estimates the gauge A -> B from paired statistics: per-site correlations pooled (`signed-sum` or `per-layer`
/// consensus), an optional prior added, matched exactly; with per-site estimates and, on request, every method's
/// estimate and the pooled matrix. Off the event loop; `signal` aborts it, also mid-solve (`ABORTED`).
#[napi(
    ts_args_type = "stats: PairStats, options?: EstimateGaugeOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<GaugeEstimate>"
)]
pub fn estimate_gauge(
    env: Env,
    stats: &PairStats,
    options: Option<EstimateGaugeOptions>,
    signal: Option<Object>,
) -> Result<AsyncTask<Job<GaugeEstimate>>> {
    let flag = abort_flag(&env, signal)?;
    let o = options.unwrap_or(EstimateGaugeOptions {
        method: None,
        pool: None,
        prior: None,
        prior_weight: None,
        all_methods: None,
        keep_matrix: None,
        solver: None,
        null_draws: None,
    });
    let owned = Owned {
        stats: stats.inner.clone(),
        prior: o.prior.as_ref().map(|p| p.inner.clone()),
        weight: o.prior_weight.unwrap_or(1.0) as f32,
        method: o.method,
        pool: o.pool,
        solver: o.solver,
        all: o.all_methods.unwrap_or(false),
        keep: o.keep_matrix.unwrap_or(false),
        null_draws: o
            .null_draws
            .map_or(gauge_core::null::DEFAULT_DRAWS, |n| n as usize),
    };
    let job = Job::abortable(flag.clone(), "estimateGauge", move || run(&owned, &flag));
    Ok(AsyncTask::new(job))
}
