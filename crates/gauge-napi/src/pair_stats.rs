//! `PairStats` and `collectPairStats`: paired activation statistics of two models (GAUGE.md §5), accumulated off the
//! event loop with progress events, mergeable across shards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gauge_core::owned;
use gauge_core::stats::CrossMoments;
use gauge_models::pair_stats::{accumulate, Batching, Progress};
use gauge_models::streamed_stats::accumulate_streamed;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{sync, CResult, CodedError};
use crate::job::{abort_flag, Job, Progress as ProgressCallback};
use crate::model::{parse_site, Model};

/// Per-site cross-moments of two models' hidden states on the same probe, with string metadata (model paths,
/// probe description). Rows of every correlation matrix are model A's coordinates, columns model B's.
#[napi]
pub struct PairStats {
    pub(crate) inner: Arc<Mutex<Inner>>,
}

pub(crate) struct Inner {
    pub(crate) core: gauge_core::stats_file::PairStats,
}

impl PairStats {
    fn wrap(core: gauge_core::stats_file::PairStats) -> CResult<Self> {
        core.dims()?;
        Ok(PairStats {
            inner: Arc::new(Mutex::new(Inner { core })),
        })
    }
}

/// Options of `collectPairStats`.
#[napi(object)]
pub struct CollectOptions {
    /// Tokens per sequence; `ids.length` must be a multiple.
    pub seq: u32,
    /// Sequences per forward pass.
    /// @default 8
    pub batch: Option<u32>,
    /// Sites (`h_0` … `h_L`, `final_norm`).
    pub sites: Vec<String>,
    /// Free-text metadata stored with the statistics (e.g. `model_a.path`).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Stream the probe through both models block by block in chunks that fit this many bytes (weights held,
    /// activations and scratch); with streamed models (`LoadOptions.streamed`) memory holds one block of each.
    /// Unset: batch by batch through the whole models. Progress then counts blocks of chunks.
    pub memory_budget: Option<f64>,
}

/// Progress of `collectPairStats`, after each forward pass of both models.
#[napi(object)]
#[derive(Clone, Copy)]
pub struct StatsProgress {
    /// Forward passes done (of each model).
    pub done: u32,
    /// Forward passes in all.
    pub total: u32,
    /// Tokens accumulated.
    pub tokens: f64,
    /// Seconds so far, in all.
    pub seconds: f64,
    /// Seconds so far in the forward passes of both models.
    pub forward_seconds: f64,
    /// Seconds so far accumulating statistics.
    pub stats_seconds: f64,
}

fn locked(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `a` and `b` on `ids` and accumulates the cross-moments of their hidden states at every site. Rejects with a
/// coded error when the models differ in architecture, d or vocabulary, when the probe is empty or has ids outside
/// the vocabulary, or when an activation is not finite (naming the model, the site, the token and the coordinate).
/// `onProgress` is called after every forward pass (one that throws stops the collection, which rejects with
/// `CALLBACK_THREW` and its message); `signal` stops it between passes (`ABORTED`).
#[napi(
    ts_args_type = "a: Model, b: Model, ids: Uint32Array, options: CollectOptions, onProgress?: ((progress: StatsProgress) => void) | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<PairStats>"
)]
pub fn collect_pair_stats(
    env: Env,
    a: &Model,
    b: &Model,
    ids: Uint32Array,
    options: CollectOptions,
    on_progress: Option<Function<StatsProgress, ()>>,
    signal: Option<Object>,
) -> Result<AsyncTask<Job<PairStats>>> {
    let flag = abort_flag(&env, signal)?;
    let progress = ProgressCallback::new(on_progress, "onProgress")?;
    let (ma, mb) = (a.inner.clone(), b.inner.clone());
    let names = (
        format!("model A ({})", a.path()),
        format!("model B ({})", b.path()),
    );
    let ids = ids.to_vec();
    let job = Job::abortable(flag.clone(), "collectPairStats", move || {
        let result = collect(&ma, &mb, names, &ids, options, &progress, &flag);
        progress.finish(result)
    });
    Ok(AsyncTask::new(job))
}

/// The body of [`collect_pair_stats`], on the job's thread.
fn collect(
    ma: &gauge_models::Model,
    mb: &gauge_models::Model,
    names: (String, String),
    ids: &[u32],
    options: CollectOptions,
    progress: &ProgressCallback<StatsProgress>,
    flag: &AtomicBool,
) -> CResult<PairStats> {
    let sites = options
        .sites
        .iter()
        .map(|s| parse_site(s))
        .collect::<CResult<Vec<_>>>()?;
    if sites.is_empty() {
        return Err(CodedError::invalid("sites", "is empty"));
    }
    let d = ma.hidden_size();
    let mut moments: Vec<CrossMoments> = sites.iter().map(|_| CrossMoments::new(d, d)).collect();
    let start = Instant::now();
    let batching = Batching {
        seq: options.seq as usize,
        batch: options.batch.unwrap_or(8) as usize,
    };
    let report = |p: Progress| {
        progress.report(StatsProgress {
            done: p.done as u32,
            total: p.total as u32,
            tokens: p.tokens as f64,
            seconds: start.elapsed().as_secs_f64(),
            forward_seconds: p.forward_seconds,
            stats_seconds: p.stats_seconds,
        });
        !flag.load(Ordering::Relaxed) && !progress.failed()
    };
    let models = (ma, mb);
    let names = (names.0.as_str(), names.1.as_str());
    match options.memory_budget {
        None => accumulate(models, names, ids, &sites, batching, &mut moments, report)?,
        Some(b) => {
            let budget = crate::args::integer(b, "memoryBudget", 1, 1 << 53)?;
            accumulate_streamed(
                models,
                names,
                ids,
                &sites,
                batching,
                &mut moments,
                budget,
                report,
            )?;
        }
    }
    PairStats::wrap(gauge_core::stats_file::PairStats {
        sites: options.sites.into_iter().zip(moments).collect(),
        metadata: options.metadata.unwrap_or_default(),
    })
}

#[napi]
impl PairStats {
    /// The sites, in order.
    #[napi(getter)]
    pub fn sites(&self) -> Vec<String> {
        locked(&self.inner)
            .core
            .sites
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Residual width d.
    #[napi(getter)]
    pub fn d(&self) -> u32 {
        locked(&self.inner)
            .core
            .sites
            .first()
            .map_or(0, |(_, m)| m.dims().0 as u32)
    }

    /// Tokens accumulated (per site).
    #[napi(getter)]
    pub fn count(&self) -> f64 {
        locked(&self.inner)
            .core
            .sites
            .first()
            .map_or(0.0, |(_, m)| m.count() as f64)
    }

    /// The metadata given when the statistics were collected (merged shards keep the first's).
    #[napi(getter)]
    pub fn metadata(&self) -> BTreeMap<String, String> {
        locked(&self.inner).core.metadata.clone()
    }

    /// Pearson correlations `C[i, j] = corr(h_A[:, i], h_B[:, j])` at `site`, row-major `[d, d]`; a constant
    /// coordinate correlates 0 with everything.
    #[napi]
    pub fn correlation(&self, env: Env, site: String) -> Result<Float32Array> {
        sync(&env, || {
            Ok(Float32Array::new(
                locked(&self.inner).core.correlation(&site)?,
            ))
        })
    }

    /// Reads statistics saved by `save` (a safetensors file), checking every shape. Throws naming the file.
    #[napi(factory)]
    pub fn load(env: Env, path: String) -> Result<PairStats> {
        sync(&env, || {
            PairStats::wrap(gauge_core::stats_file::PairStats::load(
                std::path::Path::new(&path),
            )?)
        })
    }

    /// Writes the statistics as safetensors (F64 moments per site, metadata), atomically; an existing file is
    /// replaced only with `overwrite`.
    #[napi]
    pub fn save(&self, env: Env, path: String, overwrite: Option<bool>) -> Result<()> {
        sync(&env, || {
            Ok(locked(&self.inner)
                .core
                .save(std::path::Path::new(&path), overwrite.unwrap_or(false))?)
        })
    }

    /// Adds the statistics of `other` (another shard of the same probe design, same models and sites) into these.
    #[napi]
    pub fn merge(&self, env: Env, other: &PairStats) -> Result<()> {
        sync(&env, || {
            if Arc::ptr_eq(&self.inner, &other.inner) {
                return Err(CodedError::invalid(
                    "other",
                    "is this same object; merging it would count it twice",
                ));
            }
            let theirs = locked(&other.inner);
            let mut ours = locked(&self.inner);
            ours.core.merge(&theirs.core)?;
            Ok(())
        })
    }
}

/// Data-free statistics: the residual coordinates of checkpoints `a` and `b` (Hugging Face directories of one
/// architecture and shape) correlated through their weights — every slice across the residual axis of the readers,
/// writers and embeddings is one paired sample (gains are left out: they move without sign). One site, `weights`.
/// Meaningful for checkpoints that share an ancestor. Off the event loop.
#[napi(ts_return_type = "Promise<PairStats>")]
pub fn weight_pair_stats(a: String, b: String) -> AsyncTask<Job<PairStats>> {
    AsyncTask::new(Job::new(move || {
        let m = gauge_core::weight_moments::weight_cross_moments(
            std::path::Path::new(&a),
            std::path::Path::new(&b),
            gauge_core::weight_moments::WeightOptions::default(),
        )?;
        PairStats::wrap(gauge_core::stats_file::PairStats {
            sites: vec![("weights".into(), m)],
            metadata: BTreeMap::from([
                ("model_a.path".to_string(), a),
                ("model_b.path".to_string(), b),
                (
                    "probe.source".to_string(),
                    "weights (data-free)".to_string(),
                ),
            ]),
        })
    }))
}

/// Paired statistics of activations already in memory: site `k` of `a` and `b` (row-major `[tokens, d]` each)
/// accumulated into one site's cross-moments, as `collectPairStats` does from the models' passes. The arrays are
/// copied before the call returns. Off the event loop. Rejects with `SHAPE_MISMATCH` when an array does not have
/// `tokens x d` entries, `INVALID_ARGUMENT` when the three lists differ in length.
#[napi(ts_return_type = "Promise<PairStats>")]
pub fn pair_stats_from_activations(
    sites: Vec<String>,
    a: Vec<Float32Array>,
    b: Vec<Float32Array>,
    tokens: f64,
    d: f64,
) -> AsyncTask<Job<PairStats>> {
    let pairs: Vec<(String, Vec<f32>, Vec<f32>)> = sites
        .iter()
        .zip(&a)
        .zip(&b)
        .map(|((s, x), y)| (s.clone(), owned::copy(x), owned::copy(y)))
        .collect();
    let counts = (sites.len(), a.len(), b.len());
    AsyncTask::new(Job::new(move || {
        let tokens = crate::args::index(tokens, "tokens")?;
        let d = crate::args::index(d, "d")?;
        if counts.0 != counts.1 || counts.0 != counts.2 {
            return Err(CodedError::invalid(
                "pairStatsFromActivations",
                format!(
                    "{} sites but {} arrays for a and {} for b",
                    counts.0, counts.1, counts.2
                ),
            ));
        }
        let mut out = gauge_core::stats_file::PairStats::new(BTreeMap::new());
        for (site, x, y) in pairs {
            // Checked before the `d x d` moments are allocated.
            if tokens.checked_mul(d) != Some(x.len()) || x.len() != y.len() {
                return Err(gauge_core::Error::ShapeMismatch {
                    what: format!("activations at {site}"),
                    expected: format!("tokens x d = {tokens} x {d} entries in a and in b"),
                    got: format!("{} and {}", x.len(), y.len()),
                }
                .into());
            }
            let mut m = CrossMoments::new(d, d);
            m.update(&x, &y, tokens)?;
            out.sites.push((site, m));
        }
        PairStats::wrap(out)
    }))
}
