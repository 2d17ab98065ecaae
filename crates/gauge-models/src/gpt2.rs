//! GPT-2 (`GPT2LMHeadModel`, and `GPT2Model` checkpoints without the `transformer.` prefix), as Hugging Face
//! computes it.
//!
//! `h_0 = wte[ids] + wpe[positions]`; pre-norm blocks `x = h + attn(ln_1(h))`, `h' = x + mlp(ln_2(x))` with
//! LayerNorm (`layer_norm_epsilon`); Conv1D weights stored `[in, out]` (the transpose of a `Linear`); multi-head
//! attention scaled by `head_dim^-0.5` (and by `1 / (l + 1)` when `scale_attn_by_inverse_layer_idx`); an MLP
//! `c_proj(act(c_fc(x)))` with `activation_function` (`gelu_new`, the tanh approximation, by default); `ln_f`; and
//! an output head tied to `wte` (or `lm_head.weight` when `tie_word_embeddings` is false).

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::kernels::{Kernels, Norm};

use crate::attention::{cached_mask, causal_attention};
use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lazy::{Lazy, Table};
use crate::llama::output_head;

/// The MLP's activation (`activation_function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`: `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`.
    GeluTanh,
    /// `x Φ(x)` with the exact error function: `gelu`.
    GeluErf,
    /// `max(x, 0)`.
    Relu,
    /// `x σ(x)`.
    Silu,
}

impl Activation {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::GeluErf,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            other => {
                return Err(Error::unsupported(
                    format!("activation_function {other:?}"),
                    "supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu, silu",
                ))
            }
        })
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::GeluTanh => x.gelu()?,
            Activation::GeluErf => x.gelu_erf()?,
            Activation::Relu => x.relu()?,
            Activation::Silu => candle_nn::ops::silu(x)?,
        })
    }
}

/// The hyper-parameters the forward pass needs, from `config.json`.
#[derive(Debug, Clone, PartialEq)]
struct Hyper {
    hidden: usize,
    layers: usize,
    heads: usize,
    intermediate: usize,
    vocab: usize,
    positions: usize,
    eps: f64,
    activation: Activation,
    scale_attn_weights: bool,
    scale_by_inverse_layer: bool,
    tied: bool,
    kernels: Kernels,
}

impl Hyper {
    fn from_config(c: &Config) -> Result<Self> {
        let hidden = c.usize("n_embd")?;
        let heads = c.usize("n_head")?;
        if hidden % heads != 0 {
            return Err(c.reject(
                "n_head",
                format!("{heads} does not divide n_embd = {hidden}"),
            ));
        }
        if c.bool_or("add_cross_attention", false)? {
            return Err(Error::unsupported(
                "add_cross_attention",
                "only decoder-only GPT-2 is run",
            ));
        }
        Ok(Self {
            hidden,
            layers: c.usize("n_layer")?,
            heads,
            intermediate: c
                .usize_or("n_inner", Some(4 * hidden))?
                .unwrap_or(4 * hidden),
            vocab: c.usize("vocab_size")?,
            positions: c.usize("n_positions")?,
            eps: c.f64_or("layer_norm_epsilon", 1e-5)?,
            activation: Activation::parse(c.str_or("activation_function", "gelu_new")?)?,
            scale_attn_weights: c.bool_or("scale_attn_weights", true)?,
            scale_by_inverse_layer: c.bool_or("scale_attn_by_inverse_layer_idx", false)?,
            tied: c.bool_or("tie_word_embeddings", true)?,
            kernels: Kernels::Fused,
        })
    }
}

/// A Conv1D (weight `[in, out]`, bias `[out]`, `y = x W + b`) as a `Linear` with weight `Wᵀ` `[out, in]`: a
/// contiguous copy for inference, a view of the stored (trainable) tensor for training, so that updates reach it.
fn conv1d(vb: VarBuilder, in_dim: usize, out_dim: usize, kernels: Kernels) -> Result<Linear> {
    let w = vb.get((in_dim, out_dim), "weight")?.t()?;
    let w = match kernels {
        Kernels::Fused => w.contiguous()?,
        Kernels::Differentiable => w,
    };
    let b = vb.get(out_dim, "bias")?;
    Ok(Linear::new(w, Some(b)))
}

/// Multi-head causal self-attention with a fused `c_attn` (`[d, 3d]`: query, key, value) and `c_proj`.
struct Attention {
    c_attn: Linear,
    c_proj: Linear,
    heads: usize,
    head_dim: usize,
    scale: f64,
    kernels: Kernels,
}

impl Attention {
    fn new(vb: VarBuilder, h: &Hyper, layer: usize) -> Result<Self> {
        let head_dim = h.hidden / h.heads;
        let mut scale = 1.0;
        if h.scale_attn_weights {
            scale = 1.0 / (head_dim as f64).sqrt();
        }
        if h.scale_by_inverse_layer {
            scale /= (layer + 1) as f64;
        }
        Ok(Self {
            c_attn: conv1d(vb.pp("c_attn"), h.hidden, 3 * h.hidden, h.kernels)?,
            c_proj: conv1d(vb.pp("c_proj"), h.hidden, h.hidden, h.kernels)?,
            heads: h.heads,
            head_dim,
            scale,
            kernels: h.kernels,
        })
    }

    /// `[batch, seq, d]` in and out; `mask` `[seq, seq]`.
    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, s, d) = x.dims3()?;
        let qkv = self.c_attn.forward(x)?;
        let head = |k: usize| -> Result<Tensor> {
            Ok(qkv
                .narrow(2, k * d, d)?
                .reshape((b, s, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let y = causal_attention(&q, &k, &v, self.scale, mask, self.kernels)?;
        let y = y.transpose(1, 2)?.reshape((b, s, d))?;
        Ok(self.c_proj.forward(&y)?)
    }
}

/// The MLP `c_proj(act(c_fc(x)))`.
struct Mlp {
    c_fc: Linear,
    c_proj: Linear,
    activation: Activation,
}

impl Mlp {
    fn new(vb: VarBuilder, h: &Hyper) -> Result<Self> {
        Ok(Self {
            c_fc: conv1d(vb.pp("c_fc"), h.hidden, h.intermediate, h.kernels)?,
            c_proj: conv1d(vb.pp("c_proj"), h.intermediate, h.hidden, h.kernels)?,
            activation: h.activation,
        })
    }

    /// `[batch, seq, d]` in and out.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let a = self.activation.apply(&self.c_fc.forward(x)?)?;
        Ok(self.c_proj.forward(&a)?)
    }
}

/// One block.
struct Block {
    ln_1: Norm,
    attn: Attention,
    ln_2: Norm,
    mlp: Mlp,
    kernels: Kernels,
}

impl Block {
    fn new(vb: VarBuilder, h: &Hyper, layer: usize) -> Result<Self> {
        Ok(Self {
            ln_1: Norm::layer(h.hidden, h.eps, vb.pp("ln_1"))?,
            attn: Attention::new(vb.pp("attn"), h, layer)?,
            ln_2: Norm::layer(h.hidden, h.eps, vb.pp("ln_2"))?,
            mlp: Mlp::new(vb.pp("mlp"), h)?,
            kernels: h.kernels,
        })
    }

    /// The residual stream `h_{l-1}` `[batch, seq, d]` to `h_l`.
    fn forward(&self, h: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let k = self.kernels;
        let x = (h + self.attn.forward(&self.ln_1.forward(h, k)?, mask)?)?;
        Ok((&x + self.mlp.forward(&self.ln_2.forward(&x, k)?)?)?)
    }
}

/// A GPT-2 causal language model.
pub(crate) struct Gpt2 {
    wte: Table,
    wpe: Table,
    blocks: Layers<Block>,
    ln_f: Norm,
    head: Lazy<Linear>,
    hyper: Hyper,
}

impl Gpt2 {
    /// Builds the model from a checkpoint's tensors (`transformer.*`, or the same names without the prefix) and
    /// its `config.json`.
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        c: &Config,
        kernels: Kernels,
        streamed: bool,
    ) -> Result<Self> {
        let mut h = Hyper::from_config(c)?;
        h.kernels = kernels;
        let t = if vb.contains_tensor("transformer.wte.weight") {
            vb.pp("transformer")
        } else {
            vb.clone()
        };
        let wte = Table::new(t.pp("wte"), h.vocab, h.hidden, streamed)?;
        let wpe = Table::new(t.pp("wpe"), h.positions, h.hidden, streamed)?;
        let blocks = Layers::new(t.pp("h"), h.layers, streamed, |vb, l| Block::new(vb, &h, l))?;
        let ln_f = Norm::layer(h.hidden, h.eps, t.pp("ln_f"))?;
        let head = output_head(&vb, c, &wte, h.tied, (h.hidden, h.vocab), streamed)?;
        Ok(Self {
            wte,
            wpe,
            blocks,
            ln_f,
            head,
            hyper: h,
        })
    }
}

impl Blocks for Gpt2 {
    fn dims(&self) -> Dims {
        Dims {
            layers: self.hyper.layers,
            hidden: self.hyper.hidden,
            vocab: self.hyper.vocab,
            max_positions: Some(self.hyper.positions),
        }
    }

    fn check_seq(&self, seq: usize) -> Result<()> {
        if seq > self.hyper.positions {
            return Err(Error::input(
                "ids",
                format!(
                    "has {seq} positions, more than the model's n_positions = {}",
                    self.hyper.positions
                ),
            ));
        }
        Ok(())
    }

    /// Token plus position embeddings.
    fn embed(&self, ids: &Tensor, ctx: &Context) -> Result<Tensor> {
        let positions = Tensor::arange(0u32, ctx.seq as u32, &ctx.device)?;
        Ok(self
            .wte
            .forward(ids)?
            .broadcast_add(&self.wpe.forward(&positions)?)?)
    }

    fn with_block(&self, l: usize, run: RunBlock) -> Result<()> {
        self.blocks.with(
            l,
            |vb, l| Block::new(vb, &self.hyper, l),
            |b| run(&|h, ctx| b.forward(h, &cached_mask(ctx, None)?)),
        )
    }

    fn final_norm(&self, h: &Tensor) -> Result<Tensor> {
        Ok(self.ln_f.forward(h, self.hyper.kernels)?)
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(x)
    }
}
