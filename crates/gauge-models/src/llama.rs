//! The Llama family (`LlamaForCausalLM`) as Hugging Face computes it, and the decoders that reuse its blocks
//! (Mistral, Qwen2, Qwen3: `mistral.rs`, `qwen2.rs`, `qwen3.rs` set [`Options`]).
//!
//! Pre-norm blocks `x = h + attn(rms(h))`, `h' = x + mlp(rms(x))` with RMSNorm (per-channel gain, `rms_norm_eps`),
//! grouped-query attention with rotary position embeddings ([`crate::rope`]: `rope_theta`, `rope_scaling` /
//! `rope_parameters` of type `linear` or `llama3`, Hugging Face's half-split layout), `head_dim` overrides,
//! optional q/k/v (and o) biases (Qwen2, `attention_bias`), per-head QK-norms (Qwen3), a sliding attention window
//! (Mistral's `sliding_window`, Qwen2/3's `use_sliding_window`, or per layer from `layer_types`), a SwiGLU MLP
//! `down(silu(gate(x)) ⊙ up(x))`, a final RMSNorm and an output head that is `lm_head.weight` or, when
//! `tie_word_embeddings` is true, the token embedding.
//!
//! Not run (an [`Error::Unsupported`] rather than a silently different function): other rotary scalings and
//! activations other than SiLU.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::attention::{cached_mask, grouped_attention, split_heads};
use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{silu_mul, Kernels, Norm};
use crate::lazy::{head, Lazy, Table};
use crate::rope::{Rope, RopeSpec};

/// What the families built on Llama's blocks change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Per-head RMSNorms `q_norm`, `k_norm` `[head_dim]` on queries and keys before RoPE (Qwen3).
    pub qk_norm: bool,
    /// `head_dim` when the config has none (Qwen3: 128), instead of `hidden / heads`.
    pub head_dim: Option<usize>,
    /// Every layer uses `sliding_window` when the config has one (Mistral), unless `layer_types` says otherwise.
    pub window_by_default: bool,
}

/// The attention hyper-parameters every Llama-style decoder reads from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Heads {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl Heads {
    /// `hidden_size`, `num_attention_heads`, `num_key_value_heads` (default: the heads) and `head_dim` (default
    /// `hidden_size / num_attention_heads`), checked for consistency.
    pub(crate) fn from_config(c: &Config) -> Result<Self> {
        Self::with_default_head_dim(c, None)
    }

    /// [`Heads::from_config`] where an absent `head_dim` is `default` rather than `hidden / heads` (Transformers'
    /// Qwen3 and Gemma classes default to 128 and 256).
    pub(crate) fn with_default_head_dim(c: &Config, default: Option<usize>) -> Result<Self> {
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
        let head_dim = match c.usize_or("head_dim", default)? {
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
        Ok(Self {
            hidden,
            heads,
            kv_heads,
            head_dim,
        })
    }
}

/// The attention window of each of `layers` layers: from `layer_types` (`sliding_attention` layers use
/// `sliding_window`) when the config has it; else every layer when `by_default` or `use_sliding_window` is true
/// (Qwen2/3: the layers from `max_window_layers` on), else none.
pub(crate) fn layer_windows(
    c: &Config,
    layers: usize,
    by_default: bool,
) -> Result<Vec<Option<usize>>> {
    let window = c.usize_or("sliding_window", None)?;
    if let Some(types) = c.get("layer_types") {
        let types = types
            .as_array()
            .filter(|t| t.len() == layers)
            .ok_or_else(|| {
                c.reject(
                    "layer_types",
                    format!("is not a list of {layers} layer types"),
                )
            })?;
        return types
            .iter()
            .enumerate()
            .map(|(l, t)| match t.as_str() {
                Some("full_attention") => Ok(None),
                Some("sliding_attention") => window.map(Some).ok_or_else(|| {
                    c.reject(
                        "sliding_window",
                        format!("is missing, but layer {l} is a sliding_attention layer"),
                    )
                }),
                _ => Err(c.reject(
                    "layer_types",
                    format!(
                        "entry {l} is {t}, expected \"full_attention\" or \"sliding_attention\""
                    ),
                )),
            })
            .collect();
    }
    let Some(w) = window else {
        return Ok(vec![None; layers]);
    };
    if by_default && c.get("use_sliding_window").is_none() {
        return Ok(vec![Some(w); layers]);
    }
    if !c.bool_or("use_sliding_window", false)? {
        return Ok(vec![None; layers]);
    }
    let from = c.usize_or("max_window_layers", Some(0))?.unwrap_or(0);
    Ok((0..layers).map(|l| (l >= from).then_some(w)).collect())
}

/// The hyper-parameters the forward pass needs, from `config.json`.
#[derive(Debug, Clone)]
struct Hyper {
    heads: Heads,
    layers: usize,
    intermediate: usize,
    vocab: usize,
    rms_norm_eps: f64,
    tied: bool,
    windows: Vec<Option<usize>>,
    options: Options,
    kernels: Kernels,
}

impl Hyper {
    fn from_config(c: &Config, options: Options, kernels: Kernels) -> Result<Self> {
        let act = c.str_or("hidden_act", "silu")?;
        if !matches!(act, "silu" | "swish") {
            return Err(Error::unsupported(
                format!("hidden_act {act:?}"),
                "the Llama family here runs SwiGLU (silu)",
            ));
        }
        let layers = c.usize("num_hidden_layers")?;
        Ok(Self {
            heads: Heads::with_default_head_dim(c, options.head_dim)?,
            layers,
            intermediate: c.usize("intermediate_size")?,
            vocab: c.usize("vocab_size")?,
            rms_norm_eps: c.f64_or("rms_norm_eps", 1e-6)?,
            tied: c.bool_or("tie_word_embeddings", false)?,
            windows: layer_windows(c, layers, options.window_by_default)?,
            options,
            kernels,
        })
    }
}

/// A `Linear` `[out, in]` named `name` under `vb`, with its bias when the checkpoint has one.
pub(crate) fn linear(vb: &VarBuilder, in_dim: usize, out_dim: usize, name: &str) -> Result<Linear> {
    let bias = vb.contains_tensor(&format!("{name}.bias"));
    Ok(candle_nn::linear_b(in_dim, out_dim, bias, vb.pp(name))?.into())
}

/// The output head: `lm_head.weight`, or the token embedding when `tied`; a config error naming
/// `tie_word_embeddings` when an untied checkpoint has no head. Read on each use when `streamed`.
pub(crate) fn output_head(
    vb: &VarBuilder<'static>,
    c: &Config,
    embed: &Table,
    tied: bool,
    dims: (usize, usize),
    streamed: bool,
) -> Result<Lazy<Linear>> {
    if tied {
        return embed.tied_head();
    }
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
    head(vb.pp("lm_head"), dims.0, dims.1, streamed)
}

/// `(cos, sin)` of `rope` for the sequences of `ctx`, computed once per context.
pub(crate) fn cached_rope(rope: &Rope, ctx: &Context) -> Result<(Tensor, Tensor)> {
    let key = rope.key();
    let cos = ctx.cached(&format!("{key}:cos"), || {
        Ok(rope.cos_sin(ctx.seq, &ctx.device)?.0)
    })?;
    let sin = ctx.cached(&format!("{key}:sin"), || {
        Ok(rope.cos_sin(ctx.seq, &ctx.device)?.1)
    })?;
    Ok((cos, sin))
}

/// What differs between the grouped-query attentions of the Llama-style decoders.
pub(crate) struct AttentionSettings {
    /// Per-head norms of queries and keys before RoPE (Qwen3, Gemma 3).
    pub qk_norm: Option<(Norm, Norm)>,
    /// The sliding window of this layer, if any.
    pub window: Option<usize>,
    /// The scale of `q kᵀ` (`head_dim^-½`; Gemma: `query_pre_attn_scalar^-½`).
    pub scale: f64,
    /// `cap · tanh(s / cap)` on the scores (Gemma 2).
    pub softcap: Option<f64>,
}

/// The q, k and v projections: three products, or for inference one over their stacked weights (one pass over
/// the input and a wider product; `GAUGE_TRANSPORT_CPU_FUSED=0` keeps three).
enum Qkv {
    Separate {
        q: Linear,
        k: Linear,
        v: Linear,
    },
    /// Weights `[(heads + 2 · kv_heads) · head_dim, hidden]`: q's rows, then k's, then v's.
    Stacked(Linear),
}

/// Grouped-query self-attention with q/k/v/o projections under `vb` (`q_proj`, …; biases when present).
pub(crate) struct Attention {
    qkv: Qkv,
    o: Linear,
    heads: Heads,
    settings: AttentionSettings,
    kernels: Kernels,
}

impl Attention {
    pub(crate) fn new(
        vb: &VarBuilder,
        heads: &Heads,
        settings: AttentionSettings,
        kernels: Kernels,
    ) -> Result<Self> {
        let (q_dim, kv_dim) = (
            heads.heads * heads.head_dim,
            heads.kv_heads * heads.head_dim,
        );
        let qkv = if Linear::stacks(kernels) {
            let parts = [("q_proj", q_dim), ("k_proj", kv_dim), ("v_proj", kv_dim)];
            // Lazily: each part is read when the stack takes it.
            let each = parts
                .into_iter()
                .map(|(name, out)| linear(vb, heads.hidden, out, name));
            Qkv::Stacked(Linear::stacked(each, q_dim + 2 * kv_dim)?)
        } else {
            Qkv::Separate {
                q: linear(vb, heads.hidden, q_dim, "q_proj")?,
                k: linear(vb, heads.hidden, kv_dim, "k_proj")?,
                v: linear(vb, heads.hidden, kv_dim, "v_proj")?,
            }
        };
        Ok(Self {
            qkv,
            o: linear(vb, q_dim, heads.hidden, "o_proj")?,
            heads: heads.clone(),
            settings,
            kernels,
        })
    }

    /// `[batch, seq, hidden]` in and out.
    pub(crate) fn forward(&self, x: &Tensor, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let (h, s, k) = (&self.heads, &self.settings, self.kernels);
        let (mut q, mut kk, v) = match &self.qkv {
            Qkv::Separate { q, k, v } => (
                split_heads(&q.forward(x)?, h.heads, h.head_dim)?,
                split_heads(&k.forward(x)?, h.kv_heads, h.head_dim)?,
                split_heads(&v.forward(x)?, h.kv_heads, h.head_dim)?,
            ),
            Qkv::Stacked(l) => {
                let y = l.forward(x)?;
                let (b, seq, _) = y.dims3()?;
                let y = y.reshape((b, seq, h.heads + 2 * h.kv_heads, h.head_dim))?;
                // `[batch, seq, n, head_dim]` heads `from..from + n` to `[batch, n, seq, head_dim]`.
                let part = |from: usize, n: usize| -> Result<Tensor> {
                    Ok(y.narrow(2, from, n)?.transpose(1, 2)?.contiguous()?)
                };
                (
                    part(0, h.heads)?,
                    part(h.heads, h.kv_heads)?,
                    part(h.heads + h.kv_heads, h.kv_heads)?,
                )
            }
        };
        if let Some((qn, kn)) = &s.qk_norm {
            q = qn.forward(&q, k)?;
            kk = kn.forward(&kk, k)?;
        }
        let (cos, sin) = cached_rope(rope, ctx)?;
        let q = rope.apply(&q, &cos, &sin, k)?;
        let kk = rope.apply(&kk, &cos, &sin, k)?;
        let mask = cached_mask(ctx, s.window)?;
        let y = grouped_attention(&q, &kk, &v, s.scale, &mask, s.softcap, k)?;
        Ok(self.o.forward(&y)?)
    }
}

/// The gate and up projections: two products, or for inference one over their stacked weights
/// (`GAUGE_TRANSPORT_CPU_FUSED=0` keeps two).
enum GateUp {
    Separate {
        gate: Linear,
        up: Linear,
    },
    /// Weights `[2 · inner, hidden]`: gate's rows, then up's.
    Stacked(Linear),
}

/// The SwiGLU MLP `down(act(gate(x)) ⊙ up(x))`; `act` is SiLU here, tanh-GELU in Gemma.
pub(crate) struct Mlp {
    gate_up: GateUp,
    down: Linear,
    inner: usize,
    gelu: bool,
}

impl Mlp {
    /// SiLU when `gelu` is false, the tanh approximation of GELU when true; the gate and up projections stacked
    /// when `k` is [`Kernels::Fused`] (inference).
    pub(crate) fn new(
        vb: VarBuilder,
        hidden: usize,
        inner: usize,
        gelu: bool,
        k: Kernels,
    ) -> Result<Self> {
        let gate_up = if Linear::stacks(k) {
            let each = ["gate_proj", "up_proj"]
                .into_iter()
                .map(|name| linear(&vb, hidden, inner, name));
            GateUp::Stacked(Linear::stacked(each, 2 * inner)?)
        } else {
            GateUp::Separate {
                gate: linear(&vb, hidden, inner, "gate_proj")?,
                up: linear(&vb, hidden, inner, "up_proj")?,
            }
        };
        Ok(Self {
            gate_up,
            down: linear(&vb, inner, hidden, "down_proj")?,
            inner,
            gelu,
        })
    }

    /// `[batch, seq, hidden]` in and out.
    pub(crate) fn forward(&self, x: &Tensor, k: Kernels) -> Result<Tensor> {
        let a = match &self.gate_up {
            GateUp::Stacked(l) => {
                let gu = l.forward(x)?;
                if !self.gelu && crate::cpu_fused::applies(&gu) {
                    crate::cpu_fused::silu_mul_halves(&gu)?
                } else {
                    let last = gu.rank() - 1;
                    let g = gu.narrow(last, 0, self.inner)?;
                    let u = gu.narrow(last, self.inner, self.inner)?;
                    self.activate(&g, &u, k)?
                }
            }
            GateUp::Separate { gate, up } => {
                self.activate(&gate.forward(x)?, &up.forward(x)?, k)?
            }
        };
        Ok(self.down.forward(&a)?)
    }

    /// `act(g) ⊙ u`.
    fn activate(&self, g: &Tensor, u: &Tensor, k: Kernels) -> Result<Tensor> {
        Ok(if self.gelu {
            (g.gelu()? * u)?
        } else {
            silu_mul(g, u, k)?
        })
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
    /// Block `layer`, from its tensors under `vb` (`model.layers.{layer}`).
    fn new(vb: VarBuilder, h: &Hyper, layer: usize) -> Result<Self> {
        let d = h.heads.hidden;
        Ok(Self {
            input_norm: Norm::rms(d, h.rms_norm_eps, vb.pp("input_layernorm"))?,
            attn: {
                let a = vb.pp("self_attn");
                let hd = h.heads.head_dim;
                let qk_norm = if h.options.qk_norm {
                    Some((
                        Norm::rms(hd, h.rms_norm_eps, a.pp("q_norm"))?,
                        Norm::rms(hd, h.rms_norm_eps, a.pp("k_norm"))?,
                    ))
                } else {
                    None
                };
                let settings = AttentionSettings {
                    qk_norm,
                    window: h.windows[layer],
                    scale: 1.0 / (hd as f64).sqrt(),
                    softcap: None,
                };
                Attention::new(&a, &h.heads, settings, h.kernels)?
            },
            post_norm: Norm::rms(d, h.rms_norm_eps, vb.pp("post_attention_layernorm"))?,
            mlp: Mlp::new(vb.pp("mlp"), d, h.intermediate, false, h.kernels)?,
            kernels: h.kernels,
        })
    }

    /// The residual stream `h_{l-1}` `[batch, seq, hidden]` to `h_l`.
    fn forward(&self, h: &Tensor, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let k = self.kernels;
        let x = (h + self
            .attn
            .forward(&self.input_norm.forward(h, k)?, rope, ctx)?)?;
        Ok((&x + self.mlp.forward(&self.post_norm.forward(&x, k)?, k)?)?)
    }
}

/// A Llama-family causal language model.
pub(crate) struct Llama {
    embed: Table,
    blocks: Layers<Block>,
    norm: Norm,
    head: Lazy<Linear>,
    rope: Rope,
    hyper: Hyper,
}

impl Llama {
    /// Builds the model from a checkpoint's tensors (`model.*`, `lm_head.weight`) and its `config.json`.
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        c: &Config,
        kernels: Kernels,
        streamed: bool,
        options: Options,
    ) -> Result<Self> {
        let h = Hyper::from_config(c, options, kernels)?;
        let rope = Rope::new(
            c,
            &RopeSpec::of(c, 10_000.0)?,
            h.heads.head_dim,
            h.heads.head_dim,
        )?;
        let m = vb.pp("model");
        let d = h.heads.hidden;
        let embed = Table::new(m.pp("embed_tokens"), h.vocab, d, streamed)?;
        let blocks = Layers::new(m.pp("layers"), h.layers, streamed, |vb, l| {
            Block::new(vb, &h, l)
        })?;
        let norm = Norm::rms(d, h.rms_norm_eps, m.pp("norm"))?;
        let head = output_head(&vb, c, &embed, h.tied, (d, h.vocab), streamed)?;
        Ok(Self {
            embed,
            blocks,
            norm,
            head,
            rope,
            hyper: h,
        })
    }
}

impl Blocks for Llama {
    fn dims(&self) -> Dims {
        Dims {
            layers: self.hyper.layers,
            hidden: self.hyper.heads.hidden,
            vocab: self.hyper.vocab,
            max_positions: None,
        }
    }

    fn embed(&self, ids: &Tensor, _: &Context) -> Result<Tensor> {
        self.embed.forward(ids)
    }

    fn with_block(&self, l: usize, run: RunBlock) -> Result<()> {
        self.blocks.with(
            l,
            |vb, l| Block::new(vb, &self.hyper, l),
            |b| run(&|h, ctx| b.forward(h, &self.rope, ctx)),
        )
    }

    fn final_norm(&self, h: &Tensor) -> Result<Tensor> {
        Ok(self.norm.forward(h, self.hyper.kernels)?)
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(x)
    }
}
