//! `Model`: a checkpoint loaded for forward passes (candle; the CPU unless a device is named), with logits and
//! residual-stream hidden states.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gauge_models::candle_core::{Device, Tensor};
use gauge_models::Site;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::integer;
use crate::error::{sync, CResult, CodedError};
use crate::job::{abort_flag, Job};

/// A model loaded for forward passes. Every call runs off the event loop; one model may serve concurrent calls.
#[napi]
pub struct Model {
    pub(crate) inner: Arc<gauge_models::Model>,
    path: String,
}

/// Options of `Model.load`.
#[napi(object)]
pub struct LoadOptions {
    /// `cpu`, `cuda`, `cuda:N`, `metal` or `metal:N`; an accelerator needs a build with the `cuda` or `metal`
    /// feature.
    /// @default 'cpu'
    pub device: Option<String>,
    /// Keep only the embeddings, final norm and head in memory and read each block from the checkpoint when a pass
    /// reaches it (for models larger than memory; same function).
    /// @default false
    pub streamed: Option<bool>,
}

/// A model's weights in memory, in bytes of `f32`.
#[napi(object)]
pub struct Footprint {
    /// The whole model.
    pub total: f64,
    /// The largest block.
    pub block: f64,
    /// The largest embedding table or untied head (read on each use when streamed).
    pub table: f64,
    /// What a streamed model keeps at all times (norms and other small tensors).
    pub kept: f64,
}

/// Options of `Model.forward`.
#[napi(object)]
pub struct ForwardOptions {
    /// Number of sequences; `ids.length` must be `batch · seq`.
    /// @default 1
    pub batch: Option<u32>,
    /// Hidden-state sites to return: `"h_0"` (embeddings) to `"h_L"` (after the last block), and `"final_norm"`.
    /// @default []
    pub sites: Option<Vec<String>>,
    /// `"all"` (`[batch, seq, vocab]`), `"last"` (`[batch, vocab]`, the last position of each sequence) or
    /// `"none"`.
    /// @default 'all'
    pub logits: Option<String>,
    /// A vector added to the residual stream at one site, at every position, before anything downstream reads
    /// it (activation steering).
    pub steer: Option<SteerOptions>,
}

/// An intervention of `ForwardOptions.steer`: `scale · vector` added at `site`.
#[napi(object)]
pub struct SteerOptions {
    /// The site: `"h_0"` … `"h_L"` or `"final_norm"`.
    pub site: String,
    /// The vector, length d, in this model's chart.
    pub vector: Float32Array,
    /// Its multiplier.
    /// @default 1
    pub scale: Option<f64>,
}

/// One hidden state, row-major `[batch, seq, d]`.
#[napi(object)]
pub struct HiddenState {
    /// The site, as named in `ForwardOptions.sites`.
    pub site: String,
    /// Row-major `[batch, seq, d]`.
    pub values: Float32Array,
}

/// The result of `Model.forward`.
#[napi(object)]
pub struct ForwardResult {
    /// Row-major logits (`[batch, seq, vocab]` or `[batch, vocab]`), absent with `logits: "none"`.
    pub logits: Option<Float32Array>,
    /// The requested sites, in the order asked for.
    pub hidden: Vec<HiddenState>,
    /// Sequences.
    pub batch: u32,
    /// Tokens per sequence.
    pub seq: u32,
    /// Vocabulary size.
    pub vocab: u32,
    /// Residual width.
    pub d: u32,
}

/// Options of `Model.siteStates`.
#[napi(object)]
pub struct SiteStatesOptions {
    /// The length of every sequence `ids` holds, in order; they must sum to `ids.length`.
    /// @default [ids.length] (one sequence)
    pub lengths: Option<Vec<u32>>,
    /// Consecutive sequences of one length run at most this many at a time.
    /// @default 8
    pub batch: Option<u32>,
}

/// Options of `Model.lastLogits`.
#[napi(object)]
pub struct LastLogitsOptions {
    /// The length of every sequence `ids` holds, in order; they must sum to `ids.length`.
    /// @default [ids.length] (one sequence)
    pub lengths: Option<Vec<u32>>,
    /// Consecutive sequences of one length run at most this many at a time.
    /// @default 8
    pub batch: Option<u32>,
    /// A vector added to the residual stream at one site, as in `ForwardOptions.steer`.
    pub steer: Option<SteerOptions>,
}

/// Parses `"h_3"` or `"final_norm"`.
pub fn parse_site(s: &str) -> CResult<Site> {
    if s == "final_norm" {
        return Ok(Site::FinalNorm);
    }
    s.strip_prefix("h_")
        .and_then(|l| l.parse::<usize>().ok())
        .map(Site::Residual)
        .ok_or_else(|| {
            CodedError::invalid(
                "sites",
                format!("{s:?} is not a site: use \"h_0\" … \"h_L\" or \"final_norm\""),
            )
        })
}

fn to_f32(t: &Tensor) -> CResult<Float32Array> {
    let v: Vec<f32> = t
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .map_err(gauge_models::Error::from)?;
    Ok(Float32Array::new(v))
}

/// The most ids one `generate` call makes (each is a forward pass over all ids before it).
const MAX_GENERATED: u64 = 1 << 20;

fn check_abort(flag: &AtomicBool, what: &str) -> CResult<()> {
    if flag.load(Ordering::Relaxed) {
        return Err(gauge_core::Error::Aborted { what: what.into() }.into());
    }
    Ok(())
}

/// Cuts `ids` into sequences of `lengths` (one sequence when absent); the lengths must sum to `ids.len()`.
fn sequences(ids: &[u32], lengths: Option<Vec<u32>>) -> CResult<Vec<Vec<u32>>> {
    let lengths = lengths.unwrap_or_else(|| vec![ids.len() as u32]);
    let total: u64 = lengths.iter().map(|&n| n as u64).sum();
    if total != ids.len() as u64 {
        return Err(CodedError::invalid(
            "lengths",
            format!("sum to {total}, but ids holds {} ids", ids.len()),
        ));
    }
    let mut at = 0;
    Ok(lengths
        .iter()
        .map(|&n| {
            let s = ids[at..at + n as usize].to_vec();
            at += n as usize;
            s
        })
        .collect())
}

/// `steer` as the model crate's [`gauge_models::Steer`].
fn to_steer(s: Option<(String, Vec<f32>, f64)>) -> CResult<Option<gauge_models::Steer>> {
    s.map(|(site, vector, scale)| {
        Ok(gauge_models::Steer {
            site: parse_site(&site)?,
            vector,
            scale: scale as f32,
        })
    })
    .transpose()
}

/// Splits `ids` (`batch · seq` ids) into `batch` rows.
fn rows(ids: &[u32], batch: u32) -> CResult<Vec<Vec<u32>>> {
    let batch = batch as usize;
    if batch == 0 || ids.is_empty() || !ids.len().is_multiple_of(batch) {
        return Err(CodedError::invalid(
            "ids",
            format!(
                "holds {} ids, which is not a positive multiple of batch = {batch}",
                ids.len()
            ),
        ));
    }
    Ok(ids.chunks(ids.len() / batch).map(<[u32]>::to_vec).collect())
}

#[napi]
impl Model {
    /// Loads a Hugging Face checkpoint directory (or a GGUF file) for forward passes on the CPU, or on the device
    /// `options.device` names. Off the event loop.
    #[napi(ts_return_type = "Promise<Model>")]
    pub fn load(path: String, options: Option<LoadOptions>) -> AsyncTask<Job<Model>> {
        AsyncTask::new(Job::new(move || {
            let (device, streamed) = match options {
                Some(o) => (o.device, o.streamed.unwrap_or(false)),
                None => (None, false),
            };
            let device = match device {
                Some(name) => gauge_models::device::device(&name, "device")?,
                None => Device::Cpu,
            };
            let inner = if streamed {
                gauge_models::Model::load_streamed(Path::new(&path), &device)?
            } else {
                gauge_models::Model::load(Path::new(&path), &device)?
            };
            Ok(Model {
                inner: Arc::new(inner),
                path,
            })
        }))
    }

    /// Whether its blocks are streamed from the checkpoint (`LoadOptions.streamed`).
    #[napi(getter)]
    pub fn streamed(&self) -> bool {
        self.inner.is_streamed()
    }

    /// The family (`llama`, `qwen2`, `gemma3`, `bert`, …).
    #[napi(getter)]
    pub fn architecture(&self) -> String {
        self.inner.architecture().into()
    }

    /// Bytes of its weights as `f32` (`total`, the largest `block` and embedding `table`, what a streamed model
    /// keeps at all times), when its config describes its shape.
    #[napi(getter)]
    pub fn footprint(&self) -> Option<Footprint> {
        self.inner.footprint().map(|f| Footprint {
            total: f.total_bytes as f64,
            block: f.block_bytes as f64,
            table: f.table_bytes as f64,
            kept: f.kept_bytes as f64,
        })
    }

    /// The device it runs on: `cpu`, `cuda:N` or `metal:N`.
    #[napi(getter)]
    pub fn device(&self) -> String {
        match self.inner.device().location() {
            gauge_models::candle_core::DeviceLocation::Cpu => "cpu".into(),
            gauge_models::candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            gauge_models::candle_core::DeviceLocation::Metal { gpu_id } => {
                format!("metal:{gpu_id}")
            }
        }
    }

    /// The path it was loaded from.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Residual width d.
    #[napi(getter)]
    pub fn d(&self) -> u32 {
        self.inner.hidden_size() as u32
    }

    /// Number of blocks L.
    #[napi(getter)]
    pub fn layers(&self) -> u32 {
        self.inner.num_layers() as u32
    }

    /// Vocabulary size.
    #[napi(getter)]
    pub fn vocab(&self) -> u32 {
        self.inner.vocab_size() as u32
    }

    /// The longest sequence the model runs, where it has a hard limit (GPT-2's `n_positions`); `null` for RoPE
    /// models.
    #[napi(getter)]
    pub fn max_positions(&self) -> Option<u32> {
        self.inner.max_positions().map(|n| n as u32)
    }

    /// Runs `batch` sequences of equal length (`ids` row-major `[batch, seq]`) and returns logits and the hidden
    /// states at `sites`. Off the event loop; `signal` rejects it with `ABORTED` if aborted before it settles (a
    /// pass that has started runs to its end first).
    #[napi(
        ts_args_type = "ids: Uint32Array, options?: ForwardOptions | undefined | null, signal?: AbortSignal | undefined | null",
        ts_return_type = "Promise<ForwardResult>"
    )]
    pub fn forward(
        &self,
        env: Env,
        ids: Uint32Array,
        options: Option<ForwardOptions>,
        signal: Option<Object>,
    ) -> Result<AsyncTask<Job<ForwardResult>>> {
        let (batch, sites, logits, steer) = match options {
            Some(o) => (o.batch, o.sites, o.logits, o.steer),
            None => (None, None, None, None),
        };
        let steer = steer.map(|s| (s.site, s.vector.to_vec(), s.scale.unwrap_or(1.0)));
        let flag = abort_flag(&env, signal)?;
        let model = self.inner.clone();
        let ids = ids.to_vec();
        let job = Job::abortable(flag, "forward", move || {
            let names = sites.unwrap_or_default();
            let sites = names
                .iter()
                .map(|s| parse_site(s))
                .collect::<CResult<Vec<_>>>()?;
            let mode = logits.unwrap_or_else(|| "all".into());
            if !["all", "last", "none"].contains(&mode.as_str()) {
                return Err(CodedError::invalid(
                    "logits",
                    format!("{mode:?} is not one of \"all\", \"last\", \"none\""),
                ));
            }
            let rows = rows(&ids, batch.unwrap_or(1))?;
            let (b, seq) = (rows.len(), rows[0].len());
            let steer = to_steer(steer)?;
            let (logits, out_hidden) = if mode == "none" {
                (
                    None,
                    model.hidden_states_steered(&rows, &sites, steer.as_ref())?,
                )
            } else {
                let out = model.forward_ids_steered(&rows, &sites, steer.as_ref())?;
                let logits = match mode.as_str() {
                    "all" => to_f32(&out.logits)?,
                    _ => to_f32(
                        &out.logits
                            .narrow(1, seq - 1, 1)
                            .map_err(gauge_models::Error::from)?,
                    )?,
                };
                (Some(logits), out.hidden)
            };
            let hidden = names
                .into_iter()
                .zip(&out_hidden)
                .map(|(site, (_, t))| {
                    Ok(HiddenState {
                        site,
                        values: to_f32(t)?,
                    })
                })
                .collect::<CResult<Vec<_>>>()?;
            Ok(ForwardResult {
                logits,
                hidden,
                batch: b as u32,
                seq: seq as u32,
                vocab: model.vocab_size() as u32,
                d: model.hidden_size() as u32,
            })
        });
        Ok(AsyncTask::new(job))
    }

    /// The hidden states at `sites` of every token of a probe, one row-major `[ids.length, d]` matrix per site in
    /// the order of `sites`: the sequences that `options.lengths` cuts `ids` into run block-major, so a streamed
    /// model reads each block it needs once per call rather than once per batch (same values as `forward` batch by
    /// batch). Off the event loop; `signal` aborts it between blocks.
    #[napi(
        ts_args_type = "ids: Uint32Array, sites: string[], options?: SiteStatesOptions | undefined | null, signal?: AbortSignal | undefined | null",
        ts_return_type = "Promise<Float32Array[]>"
    )]
    pub fn site_states(
        &self,
        env: Env,
        ids: Uint32Array,
        sites: Vec<String>,
        options: Option<SiteStatesOptions>,
        signal: Option<Object>,
    ) -> Result<AsyncTask<Job<Vec<Float32Array>>>> {
        let (lengths, batch) = match options {
            Some(o) => (o.lengths, o.batch),
            None => (None, None),
        };
        let flag = abort_flag(&env, signal)?;
        let model = self.inner.clone();
        let ids = ids.to_vec();
        let job = Job::abortable(flag.clone(), "siteStates", move || {
            let sites = sites
                .iter()
                .map(|s| parse_site(s))
                .collect::<CResult<Vec<_>>>()?;
            let sequences = sequences(&ids, lengths)?;
            let states = gauge_models::site_states::site_states(
                &model,
                &sequences,
                &sites,
                batch.unwrap_or(8) as usize,
                |_, _| !flag.load(Ordering::Relaxed),
            )?;
            Ok(states.into_iter().map(Float32Array::new).collect())
        });
        Ok(AsyncTask::new(job))
    }

    /// The logits at the last position of every sequence that `options.lengths` cuts `ids` into, row-major
    /// `[sequences, vocab]`, with `options.steer` added on the way: one block-major pass (a streamed model reads
    /// each block once per call), the head applied to the last positions only (the values of `forward` with
    /// `logits: 'last'`, up to the rounding of another GEMM shape). Off the event loop; `signal` aborts it between
    /// blocks.
    #[napi(
        ts_args_type = "ids: Uint32Array, options?: LastLogitsOptions | undefined | null, signal?: AbortSignal | undefined | null",
        ts_return_type = "Promise<Float32Array>"
    )]
    pub fn last_logits(
        &self,
        env: Env,
        ids: Uint32Array,
        options: Option<LastLogitsOptions>,
        signal: Option<Object>,
    ) -> Result<AsyncTask<Job<Float32Array>>> {
        let (lengths, batch, steer_o) = match options {
            Some(o) => (o.lengths, o.batch, o.steer),
            None => (None, None, None),
        };
        let steer_o = steer_o.map(|s| (s.site, s.vector.to_vec(), s.scale.unwrap_or(1.0)));
        let flag = abort_flag(&env, signal)?;
        let model = self.inner.clone();
        let ids = ids.to_vec();
        let job = Job::abortable(flag.clone(), "lastLogits", move || {
            let sequences = sequences(&ids, lengths)?;
            let steer = to_steer(steer_o)?;
            let logits = gauge_models::site_states::last_logits(
                &model,
                &sequences,
                batch.unwrap_or(8) as usize,
                steer.as_ref(),
                |_, _| !flag.load(Ordering::Relaxed),
            )?;
            Ok(Float32Array::new(logits))
        });
        Ok(AsyncTask::new(job))
    }

    /// Perplexity of one sequence of ids (at least two): `exp` of the mean next-token negative log-likelihood.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn perplexity(&self, ids: Uint32Array) -> AsyncTask<Job<f64>> {
        let model = self.inner.clone();
        let ids = ids.to_vec();
        AsyncTask::new(Job::new(move || Ok(model.perplexity(&ids)?)))
    }

    /// Greedy continuation: the `maxTokens` ids that follow `ids`, each the most likely given all before it.
    /// `maxTokens` is a whole number in `[0, 2^20]`, and with `ids` at most the model's positions where it has a
    /// limit (`maxPositions`); anything else throws `INVALID_ARGUMENT`. Off the event loop; `signal` stops it
    /// between tokens (`ABORTED`).
    #[napi(
        ts_args_type = "ids: Uint32Array, maxTokens: number, signal?: AbortSignal | undefined | null",
        ts_return_type = "Promise<Uint32Array>"
    )]
    pub fn generate(
        &self,
        env: Env,
        ids: Uint32Array,
        max_tokens: f64,
        signal: Option<Object>,
    ) -> Result<AsyncTask<Job<Uint32Array>>> {
        let steps = sync(&env, || {
            let steps = integer(max_tokens, "maxTokens", 0, MAX_GENERATED)? as usize;
            if let Some(limit) = self.inner.max_positions() {
                if ids.len().saturating_add(steps) > limit {
                    return Err(CodedError::invalid(
                        "maxTokens",
                        format!(
                            "{steps} tokens after {} ids exceed the model's {limit} positions",
                            ids.len()
                        ),
                    ));
                }
            }
            Ok(steps)
        })?;
        let flag = abort_flag(&env, signal)?;
        let model = self.inner.clone();
        let mut ids = ids.to_vec();
        let job = Job::abortable(flag.clone(), "generate", move || {
            let start = ids.len();
            for _ in 0..steps {
                check_abort(&flag, "generate")?;
                let next = model.greedy_next(&ids)?;
                ids.push(next);
            }
            Ok(Uint32Array::new(ids[start..].to_vec()))
        });
        Ok(AsyncTask::new(job))
    }
}
