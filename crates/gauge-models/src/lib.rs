//! `gauge-models`: forward passes of Hugging Face checkpoints with candle, returning logits and the hidden states
//! at the residual-stream sites of `GAUGE.md` §3.
//!
//! Sites: `h_0` is the embeddings output (GPT-2: token plus position embeddings), `h_l` the residual stream after
//! block `l` (`1 ≤ l ≤ L`), and the final norm's output `norm(h_L)`, which is what the logits read. Hugging Face's
//! `output_hidden_states` returns `h_0, …, h_{L-1}, norm(h_L)` (index `i < L` is `h_i`, index `L` is the final
//! norm), and never `h_L` itself; [`Site::hf_hidden_states`] lists that order.
//!
//! Weights are read from a validated [`gauge_core::checkpoint::Checkpoint`] as `f32` (BF16 and F16 checkpoints are
//! widened exactly), or straight from a Llama GGUF file, dequantized on demand exactly as [`gguf::convert`] would
//! (`gguf_weights.rs`), and the forward runs in `f32`: on the CPU by default, or on CUDA or Metal with the `cuda` and
//! `metal` cargo features (candle's). Attention is causal over whole sequences of equal length (no padding, no KV
//! cache). One architecture per file: `llama.rs` (Llama, Mistral, Qwen2: RMSNorm, grouped-query attention with
//! RoPE, SwiGLU, optional q/k/v biases, tied or untied head) and `gpt2.rs` (LayerNorm, Conv1D, learned positions,
//! `gelu_new`, tied head). Features they do not implement (RoPE scaling, sliding windows shorter than the
//! sequence, other activations) are refused with [`Error::Unsupported`], never approximated. [`Tokenizer`] turns
//! text into the ids the forward takes ([`load_tokenizer`] finds a model source's own).
#![deny(missing_docs)]

mod attention;
mod bert;
pub mod blocks;
mod config;
pub mod control_vector;
mod cpu_fused;
mod cpu_train;
mod cpu_train_attention;
pub mod device;
mod embedding;
pub mod error;
mod gemma;
pub mod gguf;
mod gguf_header;
pub mod gguf_inspect;
mod gguf_tokenizer;
mod gguf_weights;
mod gpt2;
mod gpt_neox;
mod grad_sink;
pub mod kernels;
mod lazy;
mod linear;
mod llama;
mod mistral;
mod olmo2;
pub mod pair_stats;
mod phi3;
mod qwen2;
mod qwen3;
mod rope;
pub mod sae;
pub mod site_states;
pub mod streamed_stats;
#[cfg(test)]
mod test_util;
pub mod threads;
pub mod tokenizer;
pub mod train;
mod weights;

use std::fmt;
use std::path::Path;

use blocks::{Blocks, Context};
use candle_core::{DType, Device, Tensor};
use gauge_core::checkpoint::Checkpoint;
use gauge_core::family::Architecture;
use kernels::Kernels;

pub use candle_core;
pub use error::{Error, Result};
pub use tokenizer::{load_tokenizer, Tokenizer};

/// A hidden-state site in the residual chart (`GAUGE.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    /// `h_l`: `h_0` is the embeddings output, `h_l` for `1 ≤ l ≤ L` the residual stream after block `l`.
    Residual(usize),
    /// The final norm's output `norm(h_L)`, the input of the output head.
    FinalNorm,
}

impl Site {
    /// Every site of a model with `layers` blocks: `h_0, …, h_L`, then the final norm.
    pub fn all(layers: usize) -> Vec<Site> {
        (0..=layers)
            .map(Site::Residual)
            .chain([Site::FinalNorm])
            .collect()
    }

    /// The sites of Hugging Face's `output_hidden_states`, in its order: index `i < layers` is `h_i`, index `layers`
    /// is the final norm's output.
    ///
    /// ```
    /// use gauge_models::Site;
    /// let sites = Site::hf_hidden_states(2);
    /// assert_eq!(sites, [Site::Residual(0), Site::Residual(1), Site::FinalNorm]);
    /// ```
    pub fn hf_hidden_states(layers: usize) -> Vec<Site> {
        (0..layers)
            .map(Site::Residual)
            .chain([Site::FinalNorm])
            .collect()
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Residual(l) => write!(f, "h_{l}"),
            Site::FinalNorm => f.write_str("final_norm"),
        }
    }
}

/// The result of a forward pass.
#[derive(Debug, Clone)]
pub struct Output {
    /// Logits `[batch, seq, vocab]`, `f32`.
    pub logits: Tensor,
    /// The requested sites, in the order asked for, each `[batch, seq, d]`, `f32`.
    pub hidden: Vec<(Site, Tensor)>,
}

impl Output {
    /// The hidden state at `site`, if it was requested.
    pub fn hidden(&self, site: Site) -> Option<&Tensor> {
        self.hidden.iter().find(|(s, _)| *s == site).map(|(_, t)| t)
    }
}

/// Hidden states by site, in the order asked for.
type Hidden = Vec<(Site, Tensor)>;

/// An intervention on the residual stream: `scale · vector` added to every position's hidden state at `site`,
/// before it is recorded and before anything downstream reads it (activation steering).
#[derive(Debug, Clone)]
pub struct Steer {
    /// Where the vector is added.
    pub site: Site,
    /// The vector, length `d`, in the model's own chart.
    pub vector: Vec<f32>,
    /// Its multiplier.
    pub scale: f32,
}

/// Collects the hidden states a caller asked for while a model runs, and applies a [`Steer`] on the way.
pub(crate) struct Recorder {
    sites: Vec<Site>,
    found: Vec<Option<Tensor>>,
    steer: Option<(Site, Tensor)>,
    /// Whether the caller wants logits; without them a model stops once every site is recorded.
    pub(crate) logits: bool,
}

impl Recorder {
    fn new(sites: &[Site], logits: bool) -> Self {
        Self {
            sites: sites.to_vec(),
            found: vec![None; sites.len()],
            steer: None,
            logits,
        }
    }

    /// The model's stream passes `site` with value `h`: adds the steering vector there, if any, and records it.
    pub(crate) fn visit(&mut self, site: Site, h: Tensor) -> Result<Tensor> {
        let h = match &self.steer {
            Some((s, v)) if *s == site => h.broadcast_add(v)?,
            _ => h,
        };
        self.record(site, &h);
        Ok(h)
    }

    /// Whether the model can stop here: no logits wanted and every requested site recorded.
    pub(crate) fn stop(&self) -> bool {
        !self.logits && self.found.iter().all(Option::is_some)
    }

    /// Keeps `t` for every request of `site`.
    pub(crate) fn record(&mut self, site: Site, t: &Tensor) {
        for (s, slot) in self.sites.iter().zip(&mut self.found) {
            if *s == site {
                *slot = Some(t.clone());
            }
        }
    }

    fn finish(self) -> Vec<(Site, Tensor)> {
        self.sites
            .into_iter()
            .zip(self.found)
            .map(|(s, t)| (s, t.expect("every model records every site")))
            .collect()
    }
}

/// A model's weights in memory (`f32`), from its config's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of the largest block.
    pub block_bytes: u64,
    /// Bytes of the embedding tables and the untied head (read on each use when streamed); the largest of them.
    pub table_bytes: u64,
    /// Bytes of what a streamed model keeps at all times (norms and other small tensors outside the blocks).
    pub kept_bytes: u64,
    /// Bytes of the whole model.
    pub total_bytes: u64,
}

impl Footprint {
    fn of(config: &serde_json::Value) -> Option<Self> {
        let shape = gauge_core::init::ModelShape::from_config(config).ok()?;
        let arch = shape.arch;
        let layout = arch.layout();
        let mut per_block = vec![0u64; shape.layers];
        let (mut total, mut table, mut kept) = (0u64, 0u64, 0u64);
        for (name, dims, _) in shape.tensors() {
            let bytes = 4 * dims.iter().product::<usize>() as u64;
            total += bytes;
            let rest = name.strip_prefix(layout.prefix).unwrap_or(&name);
            let block = rest
                .strip_prefix(layout.layer_prefix)
                .and_then(|r| r.split('.').next())
                .and_then(|i| i.parse::<usize>().ok());
            match block {
                Some(l) => per_block[l] += bytes,
                None if name == layout.head
                    || arch.role(&name).ok() == Some(gauge_core::family::Role::Embed) =>
                {
                    table = table.max(bytes)
                }
                None => kept += bytes,
            }
        }
        Some(Self {
            block_bytes: per_block.into_iter().max().unwrap_or(0),
            table_bytes: table,
            kept_bytes: kept,
            total_bytes: total,
        })
    }

    /// The most a pass holds of this model's weights at once: everything when resident; when streamed, what it
    /// keeps plus the larger of one block and one table.
    pub fn held_bytes(&self, streamed: bool) -> u64 {
        if streamed {
            self.kept_bytes + self.block_bytes.max(self.table_bytes)
        } else {
            self.total_bytes
        }
    }
}

/// Builds the forward pass of `arch`'s family, its blocks resident or (`s`, streamed) built when needed: one line
/// per family.
fn load_family(
    arch: Architecture,
    vb: candle_nn::VarBuilder<'static>,
    c: &config::Config,
    k: Kernels,
    s: bool,
) -> Result<Box<dyn Blocks>> {
    Ok(match arch.name() {
        "llama" => Box::new(llama::Llama::new(vb, c, k, s, Default::default())?),
        "mistral" => mistral::load(vb, c, k, s)?,
        "qwen2" => qwen2::load(vb, c, k, s)?,
        "qwen3" => qwen3::load(vb, c, k, s)?,
        "gemma2" => Box::new(gemma::Gemma::new(vb, c, k, s, gemma::Version::Two)?),
        "gemma3" => Box::new(gemma::Gemma::new(vb, c, k, s, gemma::Version::Three)?),
        "phi3" => Box::new(phi3::Phi3::new(vb, c, k, s)?),
        "olmo2" => Box::new(olmo2::Olmo2::new(vb, c, k, s)?),
        "bert" => Box::new(bert::Bert::new(vb, c, k, s)?),
        "gpt2" => Box::new(gpt2::Gpt2::new(vb, c, k, s)?),
        "gpt_neox" => Box::new(gpt_neox::GptNeoX::new(vb, c, k, s)?),
        other => {
            return Err(Error::unsupported(
                format!("the {other} family"),
                "gauge-models has no forward pass for it yet",
            ))
        }
    })
}

/// A causal language model loaded from a Hugging Face checkpoint directory or a Llama GGUF file.
///
/// ```
/// use gauge_models::candle_core::Device;
/// use gauge_models::{Model, Site};
///
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
/// let model = Model::load(&dir, &Device::Cpu)?;
/// let out = model.forward_ids(&[vec![1, 2, 3], vec![4, 5, 6]], &[Site::Residual(1), Site::FinalNorm])?;
/// assert_eq!(out.logits.dims(), &[2, 3, model.vocab_size()]);
/// assert_eq!(out.hidden(Site::Residual(1)).unwrap().dims(), &[2, 3, model.hidden_size()]);
/// # Ok::<(), gauge_models::Error>(())
/// ```
pub struct Model {
    inner: Box<dyn Blocks>,
    arch: Architecture,
    streamed: bool,
    footprint: Option<Footprint>,
    device: Device,
    layers: usize,
    hidden: usize,
    vocab: usize,
}

impl Model {
    /// Opens a model source and loads it onto `device`: a checkpoint directory (`config.json` with
    /// `model.safetensors` or shards), or a Llama or Gemma 3 GGUF file (recognised by its magic bytes, whatever its
    /// name), which is read directly, each tensor dequantized as [`gguf::convert`] would, with no conversion on
    /// disk. Every block is built now and kept.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, false)
    }

    /// [`Model::load`] with the blocks streamed: only the embeddings, the final norm and the head are kept; each
    /// block is read from the checkpoint (as `f32`, tensor by tensor) when a pass reaches it and dropped after, so
    /// memory holds one block whatever the depth. Same function as [`Model::load`].
    pub fn load_streamed(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, true)
    }

    fn load_with(path: &Path, device: &Device, streamed: bool) -> Result<Self> {
        if gguf::is_gguf(path)? {
            let (file, content) = gguf::open(path)?;
            let shape = gguf::read_shape(&content, path)?;
            let json = gguf::config_json(&shape);
            let config = config::Config::new(&json, path.to_path_buf());
            let arch = shape.arch.family();
            let vb = gguf_weights::var_builder(path, file, content, shape, device)?;
            return Self::build(arch, &config, vb, device, Kernels::Fused, streamed);
        }
        let ckpt = Checkpoint::open(path)?;
        let config = config::Config::new(&ckpt.config, ckpt.dir.join("config.json"));
        let vb = weights::var_builder(&ckpt, device);
        Self::build(ckpt.arch, &config, vb, device, Kernels::Fused, streamed)
    }

    /// Loads the GGUF at `path` onto `device`, with the `config.json` that [`gguf::convert`] would write
    /// ([`gguf::config_json`]); weights are identical to those of the converted directory.
    pub fn from_gguf(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, false)
    }

    /// Loads an opened checkpoint onto `device`; every weight is read once, as `f32`.
    pub fn from_checkpoint(ckpt: &Checkpoint, device: &Device) -> Result<Self> {
        let config = config::Config::new(&ckpt.config, ckpt.dir.join("config.json"));
        let vb = weights::var_builder(ckpt, device);
        Self::build(ckpt.arch, &config, vb, device, Kernels::Fused, false)
    }

    pub(crate) fn build(
        arch: Architecture,
        config: &config::Config,
        vb: candle_nn::VarBuilder<'static>,
        device: &Device,
        kernels: Kernels,
        streamed: bool,
    ) -> Result<Self> {
        let inner = load_family(arch, vb, config, kernels, streamed)?;
        let dims = inner.dims();
        Ok(Self {
            inner,
            arch,
            streamed,
            footprint: Footprint::of(config.json()),
            device: device.clone(),
            layers: dims.layers,
            hidden: dims.hidden,
            vocab: dims.vocab,
        })
    }

    /// Whether the blocks are streamed ([`Model::load_streamed`]).
    pub fn is_streamed(&self) -> bool {
        self.streamed
    }

    /// The weights' size in memory, as `f32`, when its config describes its shape.
    pub fn footprint(&self) -> Option<Footprint> {
        self.footprint
    }

    /// The family's short name (`llama`, `mistral`, `qwen2`, `gemma3`, `gpt2`, …).
    pub fn architecture(&self) -> &'static str {
        self.arch.name()
    }

    /// The model's blocks, to run one at a time (see [`blocks`]).
    pub fn blocks(&self) -> &dyn Blocks {
        self.inner.as_ref()
    }

    /// The number of blocks `L`.
    pub fn num_layers(&self) -> usize {
        self.layers
    }

    /// The residual width `d`.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The vocabulary size `V` (the logits' last axis).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// The longest sequence the model can run, where it has a hard limit: GPT-2's learned positions
    /// (`n_positions`). `None` for RoPE models, whose positions are computed for any length.
    pub fn max_positions(&self) -> Option<usize> {
        self.inner.dims().max_positions
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs token ids `[batch, seq]` (a `U32` or `I64` tensor) and returns logits `[batch, seq, vocab]` with the
    /// hidden states at `sites`, each `[batch, seq, d]`, in the order of `sites`.
    ///
    /// Every id must be below the vocabulary size, `sites` may name `h_0..=h_L` and the final norm.
    pub fn forward(&self, ids: &Tensor, sites: &[Site]) -> Result<Output> {
        self.forward_steered(ids, sites, None)
    }

    /// [`Model::forward`] with `steer` added to the residual stream on the way (see [`Steer`]); the vector must
    /// have length `d` and be finite, and its site must exist.
    pub fn forward_steered(
        &self,
        ids: &Tensor,
        sites: &[Site],
        steer: Option<&Steer>,
    ) -> Result<Output> {
        let ids = self.checked(ids, sites)?;
        if let Some(s) = steer {
            self.check_steer(s)?;
        }
        let (logits, hidden) = self.run(&ids, sites, true, steer)?;
        Ok(Output {
            logits: logits.expect("a model computes logits when asked"),
            hidden,
        })
    }

    fn run(
        &self,
        ids: &Tensor,
        sites: &[Site],
        logits: bool,
        steer: Option<&Steer>,
    ) -> Result<(Option<Tensor>, Hidden)> {
        let mut rec = Recorder::new(sites, logits);
        if let Some(s) = steer {
            let v: Vec<f32> = s.vector.iter().map(|x| x * s.scale).collect();
            rec.steer = Some((s.site, Tensor::from_vec(v, self.hidden, &self.device)?));
        }
        let logits = self.run_blocks(ids, &mut rec)?;
        Ok((logits, rec.finish()))
    }

    /// The whole-model forward as a loop over the blocks: records `h_0`, `h_l` after each block and the final
    /// norm's output, stopping after the last block a site needs when no logits are wanted.
    fn run_blocks(&self, ids: &Tensor, rec: &mut Recorder) -> Result<Option<Tensor>> {
        let (_, seq) = ids.dims2()?;
        let m = self.inner.as_ref();
        m.check_seq(seq)?;
        let ctx = Context::new(seq, ids.device());
        let mut h = rec.visit(Site::Residual(0), m.embed(ids, &ctx)?)?;
        if rec.stop() {
            return Ok(None);
        }
        for l in 0..self.layers {
            h = m.block(l, &h, &ctx)?;
            h = rec.visit(Site::Residual(l + 1), h)?;
            if rec.stop() {
                return Ok(None);
            }
        }
        let x = rec.visit(Site::FinalNorm, m.final_norm(&h)?)?;
        if !rec.logits {
            return Ok(None);
        }
        Ok(Some(m.head(&x)?))
    }

    /// Only the hidden states at `sites` of sequences of equal length (`batch` rows of `seq` ids): the pass stops
    /// after the last block a site needs and never computes the output head. Same checks as [`Model::forward`].
    pub fn hidden_states(&self, ids: &[Vec<u32>], sites: &[Site]) -> Result<Vec<(Site, Tensor)>> {
        self.hidden_states_steered(ids, sites, None)
    }

    /// [`Model::hidden_states`] with `steer` added on the way (see [`Steer`]): no output head is computed, so
    /// this also serves encoders without one.
    pub fn hidden_states_steered(
        &self,
        ids: &[Vec<u32>],
        sites: &[Site],
        steer: Option<&Steer>,
    ) -> Result<Vec<(Site, Tensor)>> {
        let ids = self.checked_ids(ids, sites)?;
        if let Some(s) = steer {
            self.check_steer(s)?;
        }
        Ok(self.run(&ids, sites, false, steer)?.1)
    }

    fn check_steer(&self, s: &Steer) -> Result<()> {
        if s.vector.len() != self.hidden {
            return Err(Error::input(
                "steer.vector",
                format!(
                    "has length {}, but a residual vector has the model's d = {}; a vector of another length \
                     lives in another chart (MLP neurons, attention heads), which is not the residual stream",
                    s.vector.len(),
                    self.hidden
                ),
            ));
        }
        if let Some(k) = s.vector.iter().position(|v| !v.is_finite()) {
            return Err(Error::input(
                "steer.vector",
                format!("entry {k} is not finite"),
            ));
        }
        if !s.scale.is_finite() {
            return Err(Error::input("steer.scale", "is not finite"));
        }
        if let Site::Residual(l) = s.site {
            if l > self.layers {
                return Err(Error::input(
                    "steer.site",
                    format!("h_{l} does not exist in a model of {} blocks", self.layers),
                ));
            }
        }
        Ok(())
    }

    /// `ids` as a `U32` tensor on the model's device, after checking its shape, dtype, vocabulary range and
    /// `sites`.
    fn checked(&self, ids: &Tensor, sites: &[Site]) -> Result<Tensor> {
        /// Entries of one head's attention scores that a forward pass allows: 2^31 (8 GiB of f32).
        const MAX_SCORES: u128 = 1 << 31;
        let (batch, seq) = ids.dims2().map_err(|_| {
            Error::input(
                "ids",
                format!("has shape {:?}, expected [batch, seq]", ids.dims()),
            )
        })?;
        if batch == 0 || seq == 0 {
            return Err(Error::input("ids", "is empty"));
        }
        // Attention holds a [batch, seq, seq] score matrix per head: refuse what cannot be allocated rather than
        // let the allocation end the process.
        let scores = (batch as u128) * (seq as u128) * (seq as u128);
        if scores > MAX_SCORES {
            return Err(Error::input(
                "ids",
                format!(
                    "is {batch} sequences of {seq} tokens, whose attention scores ({batch} x {seq}² per head, {:.1} GiB \
                     in f32) exceed the {} GiB this runs in; use shorter sequences or a smaller batch",
                    scores as f64 * 4.0 / (1u64 << 30) as f64,
                    (MAX_SCORES * 4) >> 30
                ),
            ));
        }
        let ids = match ids.dtype() {
            DType::U32 => ids.to_device(&self.device)?,
            DType::I64 => {
                let raw = ids.flatten_all()?.to_vec1::<i64>()?;
                let ids: Vec<u32> = raw
                    .iter()
                    .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
                    .collect();
                Tensor::from_vec(ids, (batch, seq), &self.device)?
            }
            other => {
                return Err(Error::input(
                    "ids",
                    format!("has dtype {other:?}, expected U32 or I64"),
                ))
            }
        };
        if let Some(&bad) = ids
            .flatten_all()?
            .to_vec1::<u32>()?
            .iter()
            .find(|&&i| i as usize >= self.vocab)
        {
            return Err(Error::input(
                "ids",
                format!("holds {bad}, outside the vocabulary of {}", self.vocab),
            ));
        }
        for site in sites {
            if let Site::Residual(l) = site {
                if *l > self.layers {
                    return Err(Error::input(
                        "sites",
                        format!("h_{l} does not exist in a model of {} blocks", self.layers),
                    ));
                }
            }
        }
        Ok(ids)
    }

    /// Rows of equal length as a checked `[batch, seq]` tensor.
    pub(crate) fn checked_ids(&self, ids: &[Vec<u32>], sites: &[Site]) -> Result<Tensor> {
        let seq = ids.first().map_or(0, Vec::len);
        if let Some((row, r)) = ids.iter().enumerate().find(|(_, r)| r.len() != seq) {
            return Err(Error::input(
                "ids",
                format!(
                    "row {row} has {} ids but row 0 has {seq}; sequences must have equal length",
                    r.len()
                ),
            ));
        }
        let flat: Vec<u32> = ids.concat();
        let t = Tensor::from_vec(flat, (ids.len(), seq), &self.device)?;
        self.checked(&t, sites)
    }

    /// [`Model::forward`] on token ids given as rows of equal length (`batch` rows of `seq` ids).
    pub fn forward_ids(&self, ids: &[Vec<u32>], sites: &[Site]) -> Result<Output> {
        self.forward_ids_steered(ids, sites, None)
    }

    /// [`Model::forward_steered`] on token ids given as rows of equal length.
    pub fn forward_ids_steered(
        &self,
        ids: &[Vec<u32>],
        sites: &[Site],
        steer: Option<&Steer>,
    ) -> Result<Output> {
        let t = self.checked_ids(ids, sites)?;
        self.forward_steered(&t, sites, steer)
    }

    /// Perplexity of one sequence: `exp` of the mean negative log-likelihood of each id given the ones before it.
    /// Needs at least two ids.
    pub fn perplexity(&self, ids: &[u32]) -> Result<f64> {
        if ids.len() < 2 {
            return Err(Error::input("ids", "perplexity needs at least two ids"));
        }
        let logits = self.forward_ids(&[ids.to_vec()], &[])?.logits.squeeze(0)?;
        let log_z = logits.exp()?.sum_keepdim(candle_core::D::Minus1)?.log()?;
        let log_p = logits.broadcast_sub(&log_z)?.to_vec2::<f32>()?;
        let nll: f64 = ids
            .windows(2)
            .zip(&log_p)
            .map(|(w, row)| -(row[w[1] as usize] as f64))
            .sum();
        Ok((nll / (ids.len() - 1) as f64).exp())
    }

    /// The most likely next id after `ids` (greedy decoding, first index on ties).
    pub fn greedy_next(&self, ids: &[u32]) -> Result<u32> {
        let last = self
            .forward_ids(&[ids.to_vec()], &[])?
            .logits
            .squeeze(0)?
            .to_vec2::<f32>()?;
        let last = last.last().ok_or_else(|| Error::input("ids", "is empty"))?;
        let (best, _) =
            last.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (k, &v)| if v > b.1 { (k, v) } else { b },
            );
        Ok(best as u32)
    }
}
