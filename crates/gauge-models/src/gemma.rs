//! Gemma 2 (`Gemma2ForCausalLM`) and Gemma 3 text (`Gemma3ForCausalLM`), as Hugging Face computes them.
//!
//! - `h_0 = embed(ids) · √d` (the normalizer in the weights' dtype; `f32` here).
//! - Every RMSNorm scales by `1 + w` ([`Norm::rms_offset`]), the stored `w` being an offset.
//! - Sandwich blocks: `x = h + post_attention_norm(attn(input_norm(h)))`,
//!   `h' = x + post_feedforward_norm(mlp(pre_feedforward_norm(x)))`.
//! - Attention scaled by `query_pre_attn_scalar^-½`; Gemma 2 soft-caps the scores, `cap · tanh(s / cap)` with
//!   `attn_logit_softcapping`, before the mask; Gemma 3 applies per-head QK-norms (`1 + w`) before RoPE.
//! - Layers alternate between sliding-window and global attention (`layer_types`; older configs: Gemma 2's even
//!   layers slide, Gemma 3's every layer but each `sliding_window_pattern`-th). Gemma 3's sliding layers use
//!   their own RoPE base (`rope_local_base_freq`, or `rope_parameters.sliding_attention`); the global ones
//!   `rope_theta` with `rope_scaling` (or `rope_parameters.full_attention`).
//! - GeGLU MLP `down(gelu_tanh(gate(x)) ⊙ up(x))`; the head is tied to the embedding unless
//!   `tie_word_embeddings` is false; Gemma 2 soft-caps the logits with `final_logit_softcapping`.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Norm};
use crate::lazy::{Lazy, Table};
use crate::llama::{output_head, Attention, AttentionSettings, Heads, Mlp};
use crate::rope::{Rope, RopeSpec};

/// Which Gemma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// Gemma 2.
    Two,
    /// Gemma 3.
    Three,
}

/// The hyper-parameters the forward pass needs, from `config.json`.
struct Hyper {
    heads: Heads,
    layers: usize,
    intermediate: usize,
    vocab: usize,
    eps: f64,
    scale: f64,
    attn_softcap: Option<f64>,
    final_softcap: Option<f64>,
    /// Per layer: its window (sliding layers) or `None` (global).
    windows: Vec<Option<usize>>,
    tied: bool,
    version: Version,
    kernels: Kernels,
}

/// An optional positive number: absent or `null` is `None`.
fn optional(c: &Config, key: &str) -> Result<Option<f64>> {
    match c.get(key) {
        None => Ok(None),
        Some(_) => c.f64_or(key, 1.0).map(Some),
    }
}

impl Hyper {
    fn from_config(c: &Config, version: Version, kernels: Kernels) -> Result<Self> {
        let act = match c.get("hidden_activation") {
            Some(_) => c.str_or("hidden_activation", "gelu_pytorch_tanh")?,
            None => c.str_or("hidden_act", "gelu_pytorch_tanh")?,
        };
        if !matches!(act, "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast") {
            return Err(Error::unsupported(
                format!("hidden_activation {act:?}"),
                "Gemma here runs GeGLU with the tanh approximation (gelu_pytorch_tanh)",
            ));
        }
        let heads = Heads::with_default_head_dim(c, Some(256))?;
        let layers = c.usize("num_hidden_layers")?;
        let windows = match c.get("layer_types") {
            Some(_) => crate::llama::layer_windows(c, layers, false)?,
            None => {
                let w = c.usize("sliding_window")?;
                let pattern = match version {
                    Version::Two => 2,
                    Version::Three => c.usize_or("sliding_window_pattern", Some(6))?.unwrap_or(6),
                };
                (0..layers)
                    .map(|l| ((l + 1) % pattern != 0).then_some(w))
                    .collect()
            }
        };
        let pre_attn = c.f64_or("query_pre_attn_scalar", heads.head_dim as f64)?;
        Ok(Self {
            layers,
            intermediate: c.usize("intermediate_size")?,
            vocab: c.usize("vocab_size")?,
            eps: c.f64_or("rms_norm_eps", 1e-6)?,
            scale: 1.0 / pre_attn.sqrt(),
            attn_softcap: optional(c, "attn_logit_softcapping")?,
            final_softcap: optional(c, "final_logit_softcapping")?,
            windows,
            tied: c.bool_or("tie_word_embeddings", true)?,
            heads,
            version,
            kernels,
        })
    }

    fn norm(&self, width: usize, vb: VarBuilder) -> Result<Norm> {
        Ok(Norm::rms_offset(width, self.eps, 1.0, vb, self.kernels)?)
    }
}

/// The global and the sliding layers' rotary embeddings.
struct Ropes {
    global: Rope,
    local: Rope,
}

impl Ropes {
    fn new(c: &Config, h: &Hyper) -> Result<Self> {
        let hd = h.heads.head_dim;
        let per_type = c
            .get("rope_parameters")
            .filter(|p| p.get("full_attention").is_some() || p.get("sliding_attention").is_some());
        if let Some(p) = per_type {
            let spec = |kind: &str| -> Result<Rope> {
                let params = p
                    .get(kind)
                    .ok_or_else(|| c.reject("rope_parameters", format!("has no {kind:?} entry")))?;
                let theta = params
                    .get("rope_theta")
                    .and_then(|t| t.as_f64())
                    .filter(|t| t.is_finite() && *t > 0.0)
                    .ok_or_else(|| {
                        c.reject(
                            &format!("rope_parameters.{kind}.rope_theta"),
                            "is missing or not a positive number",
                        )
                    })?;
                let spec = RopeSpec {
                    key: format!("rope_parameters.{kind}"),
                    params: Some(params),
                    theta,
                };
                Rope::new(c, &spec, hd, hd)
            };
            return Ok(Self {
                global: spec("full_attention")?,
                local: spec("sliding_attention")?,
            });
        }
        let global = Rope::new(c, &RopeSpec::of(c, 10_000.0)?, hd, hd)?;
        let local = match h.version {
            Version::Two => global.clone(),
            Version::Three => {
                let spec = RopeSpec {
                    key: "rope_local_base_freq".into(),
                    params: None,
                    theta: c.f64_or("rope_local_base_freq", 10_000.0)?,
                };
                Rope::new(c, &spec, hd, hd)?
            }
        };
        Ok(Self { global, local })
    }
}

struct Block {
    input_norm: Norm,
    attn: Attention,
    post_attn_norm: Norm,
    pre_ff_norm: Norm,
    mlp: Mlp,
    post_ff_norm: Norm,
    sliding: bool,
    kernels: Kernels,
}

impl Block {
    fn new(vb: VarBuilder, h: &Hyper, layer: usize) -> Result<Self> {
        let d = h.heads.hidden;
        Ok(Self {
            input_norm: h.norm(d, vb.pp("input_layernorm"))?,
            attn: {
                let a = vb.pp("self_attn");
                let hd = h.heads.head_dim;
                let qk_norm = match h.version {
                    Version::Two => None,
                    Version::Three => {
                        Some((h.norm(hd, a.pp("q_norm"))?, h.norm(hd, a.pp("k_norm"))?))
                    }
                };
                let settings = AttentionSettings {
                    qk_norm,
                    window: h.windows[layer],
                    scale: h.scale,
                    softcap: h.attn_softcap,
                };
                Attention::new(&a, &h.heads, settings, h.kernels)?
            },
            post_attn_norm: h.norm(d, vb.pp("post_attention_layernorm"))?,
            pre_ff_norm: h.norm(d, vb.pp("pre_feedforward_layernorm"))?,
            mlp: Mlp::new(vb.pp("mlp"), d, h.intermediate, true, h.kernels)?,
            post_ff_norm: h.norm(d, vb.pp("post_feedforward_layernorm"))?,
            sliding: h.windows[layer].is_some(),
            kernels: h.kernels,
        })
    }

    fn forward(&self, h: &Tensor, ropes: &Ropes, ctx: &Context) -> Result<Tensor> {
        let k = self.kernels;
        let rope = if self.sliding {
            &ropes.local
        } else {
            &ropes.global
        };
        let a = self
            .attn
            .forward(&self.input_norm.forward(h, k)?, rope, ctx)?;
        let x = (h + self.post_attn_norm.forward(&a, k)?)?;
        let m = self.mlp.forward(&self.pre_ff_norm.forward(&x, k)?, k)?;
        Ok((&x + self.post_ff_norm.forward(&m, k)?)?)
    }
}

/// A Gemma 2 or Gemma 3 text model.
pub(crate) struct Gemma {
    embed: Table,
    blocks: Layers<Block>,
    norm: Norm,
    head: Lazy<Linear>,
    ropes: Ropes,
    hyper: Hyper,
}

impl Gemma {
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        c: &Config,
        k: Kernels,
        streamed: bool,
        version: Version,
    ) -> Result<Self> {
        let h = Hyper::from_config(c, version, k)?;
        let ropes = Ropes::new(c, &h)?;
        let m = vb.pp("model");
        let d = h.heads.hidden;
        let embed = Table::new(m.pp("embed_tokens"), h.vocab, d, streamed)?;
        let blocks = Layers::new(m.pp("layers"), h.layers, streamed, |vb, l| {
            Block::new(vb, &h, l)
        })?;
        let norm = h.norm(d, m.pp("norm"))?;
        let head = output_head(&vb, c, &embed, h.tied, (d, h.vocab), streamed)?;
        Ok(Self {
            embed,
            blocks,
            norm,
            head,
            ropes,
            hyper: h,
        })
    }
}

impl Blocks for Gemma {
    fn dims(&self) -> Dims {
        Dims {
            layers: self.hyper.layers,
            hidden: self.hyper.heads.hidden,
            vocab: self.hyper.vocab,
            max_positions: None,
        }
    }

    fn embed(&self, ids: &Tensor, _: &Context) -> Result<Tensor> {
        let normalizer = (self.hyper.heads.hidden as f64).sqrt() as f32 as f64;
        Ok((self.embed.forward(ids)? * normalizer)?)
    }

    fn with_block(&self, l: usize, run: RunBlock) -> Result<()> {
        self.blocks.with(
            l,
            |vb, l| Block::new(vb, &self.hyper, l),
            |b| run(&|h, ctx| b.forward(h, &self.ropes, ctx)),
        )
    }

    fn final_norm(&self, h: &Tensor) -> Result<Tensor> {
        Ok(self.norm.forward(h, self.hyper.kernels)?)
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let logits = self.head.forward(x)?;
        Ok(match self.hyper.final_softcap {
            Some(cap) => ((logits / cap)?.tanh()? * cap)?,
            None => logits,
        })
    }
}
