//! The Llama family (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`), as Hugging Face computes it.
//!
//! Pre-norm blocks `x = h + attn(rms(h))`, `h' = x + mlp(rms(x))` with RMSNorm (per-channel gain, `rms_norm_eps`),
//! grouped-query attention with rotary position embeddings (`rope_theta`; Hugging Face's half-split layout, i.e.
//! `rotate_half` on the two halves of each head), optional q/k/v (and o) biases (Qwen2), a SwiGLU MLP
//! `down(silu(gate(x)) ⊙ up(x))`, a final RMSNorm and an output head that is `lm_head.weight` or, when
//! `tie_word_embeddings` is true, the token embedding.
//!
//! Not run (an [`Error::Unsupported`] rather than a silently different function): `rope_scaling` other than the
//! default, activations other than SiLU, and sequences longer than an active sliding window.

use candle_core::{Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use crate::kernels::{rope, Kernels, Norm};

use crate::attention::{causal_attention, causal_mask};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::{Recorder, Site};

/// The hyper-parameters the forward pass needs, from `config.json`.
#[derive(Debug, Clone, PartialEq)]
struct Hyper {
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    intermediate: usize,
    vocab: usize,
    rms_norm_eps: f64,
    rope_theta: f64,
    tied: bool,
    sliding_window: Option<usize>,
    kernels: Kernels,
}

impl Hyper {
    fn from_config(c: &Config) -> Result<Self> {
        let hidden = c.usize("hidden_size")?;
        let heads = c.usize("num_attention_heads")?;
        let kv_heads = c
            .usize_or("num_key_value_heads", Some(heads))?
            .unwrap_or(heads);
        if heads % kv_heads != 0 {
            return Err(c.reject(
                "num_key_value_heads",
                format!("{kv_heads} does not divide num_attention_heads = {heads}"),
            ));
        }
        let head_dim = match c.usize_or("head_dim", None)? {
            Some(hd) => hd,
            None if hidden % heads == 0 => hidden / heads,
            None => {
                return Err(c.reject(
                    "num_attention_heads",
                    format!(
                        "{heads} does not divide hidden_size = {hidden} and no head_dim is given"
                    ),
                ))
            }
        };
        if head_dim % 2 != 0 {
            return Err(c.reject(
                "head_dim",
                format!("{head_dim} is odd; rotary embeddings rotate pairs"),
            ));
        }
        let act = c.str_or("hidden_act", "silu")?;
        if !matches!(act, "silu" | "swish") {
            return Err(Error::unsupported(
                format!("hidden_act {act:?}"),
                "the Llama family here runs SwiGLU (silu)",
            ));
        }
        Ok(Self {
            hidden,
            layers: c.usize("num_hidden_layers")?,
            heads,
            kv_heads,
            head_dim,
            intermediate: c.usize("intermediate_size")?,
            vocab: c.usize("vocab_size")?,
            rms_norm_eps: c.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta: rope_theta(c)?,
            tied: c.bool_or("tie_word_embeddings", false)?,
            sliding_window: sliding_window(c)?,
            kernels: Kernels::Fused,
        })
    }
}

/// The RoPE base. Transformers 5 writes `rope_parameters: {rope_type, rope_theta}`, older versions `rope_theta`
/// with an optional `rope_scaling`; only the default (unscaled) rotary embedding is run.
fn rope_theta(c: &Config) -> Result<f64> {
    let params = c.get("rope_parameters");
    for (key, scaling) in [
        ("rope_scaling", c.get("rope_scaling")),
        ("rope_parameters", params),
    ] {
        let Some(s) = scaling else { continue };
        let kind = s
            .get("rope_type")
            .or_else(|| s.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("default");
        if kind != "default" {
            return Err(Error::unsupported(
                format!("{key} of type {kind:?}"),
                "only the default rotary embedding is implemented",
            ));
        }
    }
    match params.and_then(|p| p.get("rope_theta")) {
        Some(t) => t
            .as_f64()
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or_else(|| {
                c.reject(
                    "rope_parameters.rope_theta",
                    format!("is {t}, expected a positive number"),
                )
            }),
        None => c.f64_or("rope_theta", 10_000.0),
    }
}

/// The attention window, when one is active: Mistral's `sliding_window`, or Qwen2's when `use_sliding_window`.
fn sliding_window(c: &Config) -> Result<Option<usize>> {
    let active = match c.get("use_sliding_window") {
        Some(_) => c.bool_or("use_sliding_window", false)?,
        None => c.str_or("model_type", "llama")? == "mistral",
    };
    if active {
        c.usize_or("sliding_window", None)
    } else {
        Ok(None)
    }
}

/// A `Linear` `[out, in]` named `name` under `vb`, with its bias when the checkpoint has one.
fn linear(vb: &VarBuilder, in_dim: usize, out_dim: usize, name: &str) -> Result<Linear> {
    let bias = vb.contains_tensor(&format!("{name}.bias"));
    Ok(candle_nn::linear_b(in_dim, out_dim, bias, vb.pp(name))?)
}

/// Rotary position embeddings: `inv_freq[i] = theta^(-2i / head_dim)` for `i < head_dim / 2`.
struct Rotary {
    inv_freq: Vec<f64>,
}

impl Rotary {
    fn new(h: &Hyper) -> Self {
        let inv_freq = (0..h.head_dim / 2)
            .map(|i| 1.0 / h.rope_theta.powf((2 * i) as f64 / h.head_dim as f64))
            .collect();
        Self { inv_freq }
    }

    /// `(cos, sin)` of the angles `position · inv_freq`, each `[seq, head_dim / 2]`.
    fn cos_sin(&self, seq: usize, device: &Device) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let angles: Vec<f64> = (0..seq)
            .flat_map(|p| self.inv_freq.iter().map(move |f| p as f64 * f))
            .collect();
        let cos: Vec<f32> = angles.iter().map(|a| a.cos() as f32).collect();
        let sin: Vec<f32> = angles.iter().map(|a| a.sin() as f32).collect();
        Ok((
            Tensor::from_vec(cos, (seq, half), device)?,
            Tensor::from_vec(sin, (seq, half), device)?,
        ))
    }
}

/// Grouped-query self-attention.
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    kernels: Kernels,
}

impl Attention {
    fn new(vb: VarBuilder, h: &Hyper) -> Result<Self> {
        let (q_dim, kv_dim) = (h.heads * h.head_dim, h.kv_heads * h.head_dim);
        Ok(Self {
            q: linear(&vb, h.hidden, q_dim, "q_proj")?,
            k: linear(&vb, h.hidden, kv_dim, "k_proj")?,
            v: linear(&vb, h.hidden, kv_dim, "v_proj")?,
            o: linear(&vb, q_dim, h.hidden, "o_proj")?,
            heads: h.heads,
            kv_heads: h.kv_heads,
            head_dim: h.head_dim,
            kernels: h.kernels,
        })
    }

    /// `[batch, seq, hidden]` in, `[batch, seq, hidden]` out; `cos`, `sin` `[seq, head_dim / 2]`, `mask` `[seq, seq]`.
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let heads = |proj: &Linear, n: usize| -> Result<Tensor> {
            Ok(proj
                .forward(x)?
                .reshape((b, s, n, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = rope(&heads(&self.q, self.heads)?, cos, sin, self.kernels)?;
        let k = rope(&heads(&self.k, self.kv_heads)?, cos, sin, self.kernels)?;
        let v = heads(&self.v, self.kv_heads)?;
        let rep = self.heads / self.kv_heads;
        let (k, v) = (repeat_kv(&k, rep)?, repeat_kv(&v, rep)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let y = causal_attention(&q, &k, &v, scale, mask, self.kernels)?;
        let y = y
            .transpose(1, 2)?
            .reshape((b, s, self.heads * self.head_dim))?;
        Ok(self.o.forward(&y)?)
    }
}

/// `[batch, kv_heads, seq, head_dim]` to `[batch, kv_heads · rep, seq, head_dim]`, query head `j` reading key/value
/// head `j / rep` (Hugging Face's `repeat_kv`).
fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, kv, s, hd) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .expand((b, kv, rep, s, hd))?
        .reshape((b, kv * rep, s, hd))?)
}

/// The SwiGLU MLP `down(silu(gate(x)) ⊙ up(x))`.
struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder, h: &Hyper) -> Result<Self> {
        Ok(Self {
            gate: linear(&vb, h.hidden, h.intermediate, "gate_proj")?,
            up: linear(&vb, h.hidden, h.intermediate, "up_proj")?,
            down: linear(&vb, h.intermediate, h.hidden, "down_proj")?,
        })
    }

    /// `[batch, seq, hidden]` in and out.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gated = (candle_nn::ops::silu(&self.gate.forward(x)?)? * self.up.forward(x)?)?;
        Ok(self.down.forward(&gated)?)
    }
}

/// One decoder block.
struct Block {
    input_norm: Norm,
    attn: Attention,
    post_norm: Norm,
    mlp: Mlp,
    kernels: Kernels,
}

impl Block {
    fn new(vb: VarBuilder, h: &Hyper) -> Result<Self> {
        Ok(Self {
            input_norm: Norm::rms(h.hidden, h.rms_norm_eps, vb.pp("input_layernorm"))?,
            attn: Attention::new(vb.pp("self_attn"), h)?,
            post_norm: Norm::rms(h.hidden, h.rms_norm_eps, vb.pp("post_attention_layernorm"))?,
            mlp: Mlp::new(vb.pp("mlp"), h)?,
            kernels: h.kernels,
        })
    }

    /// The residual stream `h_{l-1}` `[batch, seq, hidden]` to `h_l`.
    fn forward(&self, h: &Tensor, cos: &Tensor, sin: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let k = self.kernels;
        let x = (h + self
            .attn
            .forward(&self.input_norm.forward(h, k)?, cos, sin, mask)?)?;
        Ok((&x + self.mlp.forward(&self.post_norm.forward(&x, k)?)?)?)
    }
}

/// A Llama-family causal language model.
pub(crate) struct Llama {
    embed: Embedding,
    blocks: Vec<Block>,
    norm: Norm,
    head: Linear,
    rotary: Rotary,
    hyper: Hyper,
}

impl Llama {
    /// Builds the model from a checkpoint's tensors (`model.*`, `lm_head.weight`) and its `config.json`.
    pub(crate) fn new(vb: VarBuilder, c: &Config, kernels: Kernels) -> Result<Self> {
        let mut h = Hyper::from_config(c)?;
        h.kernels = kernels;
        let m = vb.pp("model");
        let embed = candle_nn::embedding(h.vocab, h.hidden, m.pp("embed_tokens"))?;
        let blocks = (0..h.layers)
            .map(|l| Block::new(m.pp(format!("layers.{l}")), &h))
            .collect::<Result<Vec<_>>>()?;
        let norm = Norm::rms(h.hidden, h.rms_norm_eps, m.pp("norm"))?;
        let head = if h.tied {
            Linear::new(embed.embeddings().clone(), None)
        } else {
            if !vb.contains_tensor("lm_head.weight") {
                let why = match c.get("tie_word_embeddings") {
                    Some(_) => "is false",
                    None => "is not set (false by default)",
                };
                return Err(c.reject(
                    "tie_word_embeddings",
                    format!(
                        "{why}, but the checkpoint has no output head \"lm_head.weight\" \
                         (set it to true if the head is the token embedding)"
                    ),
                ));
            }
            candle_nn::linear_no_bias(h.hidden, h.vocab, vb.pp("lm_head"))?
        };
        Ok(Self {
            embed,
            blocks,
            norm,
            head,
            rotary: Rotary::new(&h),
            hyper: h,
        })
    }

    /// The number of blocks `L`.
    pub(crate) fn num_layers(&self) -> usize {
        self.hyper.layers
    }

    /// The residual width `d`.
    pub(crate) fn hidden_size(&self) -> usize {
        self.hyper.hidden
    }

    /// The vocabulary size.
    pub(crate) fn vocab_size(&self) -> usize {
        self.hyper.vocab
    }

    /// Token ids `[batch, seq]` (`U32`, validated by the caller) to logits `[batch, seq, vocab]`, recording `h_0`
    /// (the token embeddings), `h_l` after each block and the final norm's output.
    pub(crate) fn forward(&self, ids: &Tensor, rec: &mut Recorder) -> Result<Option<Tensor>> {
        let (_, seq) = ids.dims2()?;
        if let Some(w) = self.hyper.sliding_window.filter(|&w| seq > w) {
            return Err(Error::unsupported(
                format!("a sequence of {seq} tokens"),
                format!("it exceeds the sliding window of {w} and windowed attention is not implemented"),
            ));
        }
        let device = ids.device();
        let mut h = self.embed.forward(ids)?;
        h = rec.visit(Site::Residual(0), h)?;
        if rec.stop() {
            return Ok(None);
        }
        let (cos, sin) = self.rotary.cos_sin(seq, device)?;
        let mask = causal_mask(seq, device)?;
        for (l, block) in self.blocks.iter().enumerate() {
            h = block.forward(&h, &cos, &sin, &mask)?;
            h = rec.visit(Site::Residual(l + 1), h)?;
            if rec.stop() {
                return Ok(None);
            }
        }
        let x = self.norm.forward(&h, self.hyper.kernels)?;
        let x = rec.visit(Site::FinalNorm, x)?;
        if !rec.logits {
            return Ok(None);
        }
        Ok(Some(self.head.forward(&x)?))
    }
}
