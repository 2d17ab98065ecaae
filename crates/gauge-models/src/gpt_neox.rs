//! GPT-NeoX (`GPTNeoXForCausalLM`, the Pythia suite), as Hugging Face computes it.
//!
//! `h_0 = embed_in[ids]`; with `use_parallel_residual` (the default) `h' = h + attn(LN_1(h)) + mlp(LN_2(h))`, else
//! `x = h + attn(LN_1(h))`, `h' = x + mlp(LN_2(x))`. The fused `query_key_value` is interleaved per head (head
//! `j`'s rows `3·hd·j ..`: its query, key, then value); partial rotary rotates the first
//! `partial_rotary_factor · head_dim` dimensions of each head (`rotary_pct`, default 0.25; base `rope_theta` or
//! `rotary_emb_base`); the MLP is `dense_4h_to_h(act(dense_h_to_4h(x)))`; `final_layer_norm`; head `embed_out`.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::attention::{attention, cached_mask, merge_heads};
use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Norm};
use crate::lazy::{head, Lazy, Table};
use crate::llama::cached_rope;
use crate::rope::{partial_rotary_factor, Rope, RopeSpec};

struct Hyper {
    hidden: usize,
    layers: usize,
    heads: usize,
    intermediate: usize,
    vocab: usize,
    eps: f64,
    parallel: bool,
    exact_gelu: bool,
    tied: bool,
    kernels: Kernels,
}

struct Layer {
    ln_1: Norm,
    ln_2: Norm,
    qkv: Linear,
    dense: Linear,
    up: Linear,
    down: Linear,
}

impl Layer {
    fn new(vb: VarBuilder, h: &Hyper) -> Result<Self> {
        let d = h.hidden;
        let lin = |vb: VarBuilder, i, o| -> Result<Linear> {
            let bias = vb.contains_tensor("bias");
            Ok(candle_nn::linear_b(i, o, bias, vb)?.into())
        };
        Ok(Self {
            ln_1: Norm::layer(d, h.eps, vb.pp("input_layernorm"))?,
            ln_2: Norm::layer(d, h.eps, vb.pp("post_attention_layernorm"))?,
            qkv: lin(vb.pp("attention.query_key_value"), d, 3 * d)?,
            dense: lin(vb.pp("attention.dense"), d, d)?,
            up: lin(vb.pp("mlp.dense_h_to_4h"), d, h.intermediate)?,
            down: lin(vb.pp("mlp.dense_4h_to_h"), h.intermediate, d)?,
        })
    }

    fn attn(&self, x: &Tensor, h: &Hyper, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let hd = h.hidden / h.heads;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, s, h.heads, 3 * hd))?
            .transpose(1, 2)?;
        let part = |k: usize| -> Result<Tensor> { Ok(qkv.narrow(3, k * hd, hd)?.contiguous()?) };
        let (cos, sin) = cached_rope(rope, ctx)?;
        let q = rope.apply(&part(0)?, &cos, &sin, h.kernels)?;
        let k = rope.apply(&part(1)?, &cos, &sin, h.kernels)?;
        let v = part(2)?;
        let mask = cached_mask(ctx, None)?;
        let y = attention(
            &q,
            &k,
            &v,
            1.0 / (hd as f64).sqrt(),
            Some(&mask),
            None,
            h.kernels,
        )?;
        Ok(self.dense.forward(&merge_heads(&y)?)?)
    }

    fn mlp(&self, x: &Tensor, h: &Hyper) -> Result<Tensor> {
        let u = self.up.forward(x)?;
        let u = if h.exact_gelu {
            u.gelu_erf()?
        } else {
            u.gelu()?
        };
        Ok(self.down.forward(&u)?)
    }

    fn forward(&self, x: &Tensor, h: &Hyper, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let k = h.kernels;
        let a = self.attn(&self.ln_1.forward(x, k)?, h, rope, ctx)?;
        if h.parallel {
            let m = self.mlp(&self.ln_2.forward(x, k)?, h)?;
            return Ok(((x + a)? + m)?);
        }
        let y = (x + a)?;
        Ok((&y + self.mlp(&self.ln_2.forward(&y, k)?, h)?)?)
    }
}

/// A GPT-NeoX causal language model.
pub(crate) struct GptNeoX {
    embed: Table,
    layers: Layers<Layer>,
    norm: Norm,
    head: Lazy<Linear>,
    rope: Rope,
    hyper: Hyper,
}

impl GptNeoX {
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        c: &Config,
        kernels: Kernels,
        streamed: bool,
    ) -> Result<Self> {
        let act = c.str_or("hidden_act", "gelu")?;
        let exact_gelu = match act {
            "gelu" => true,
            "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" => false,
            other => {
                return Err(Error::unsupported(
                    format!("hidden_act {other:?}"),
                    "GPT-NeoX here runs gelu or gelu_new",
                ))
            }
        };
        let hidden = c.usize("hidden_size")?;
        let heads = c.usize("num_attention_heads")?;
        if hidden % heads != 0 {
            return Err(c.reject(
                "num_attention_heads",
                format!("{heads} does not divide hidden_size = {hidden}"),
            ));
        }
        let h = Hyper {
            hidden,
            layers: c.usize("num_hidden_layers")?,
            heads,
            intermediate: c.usize("intermediate_size")?,
            vocab: c.usize("vocab_size")?,
            eps: c.f64_or("layer_norm_eps", 1e-5)?,
            parallel: c.bool_or("use_parallel_residual", true)?,
            exact_gelu,
            tied: c.bool_or("tie_word_embeddings", false)?,
            kernels,
        };
        let hd = hidden / heads;
        let rot = (hd as f64 * partial_rotary_factor(c, 0.25)?) as usize;
        let mut spec = RopeSpec::of(c, 10_000.0)?;
        if c.get("rope_parameters").is_none() && c.get("rope_theta").is_none() {
            spec.theta = c.f64_or("rotary_emb_base", 10_000.0)?;
        }
        let rope = Rope::new(c, &spec, hd, rot)?;
        let m = vb.pp("gpt_neox");
        let embed = Table::new(m.pp("embed_in"), h.vocab, hidden, streamed)?;
        let layers = Layers::new(m.pp("layers"), h.layers, streamed, |vb, _| {
            Layer::new(vb, &h)
        })?;
        let norm = Norm::layer(hidden, h.eps, m.pp("final_layer_norm"))?;
        let head = if h.tied {
            embed.tied_head()?
        } else {
            head(vb.pp("embed_out"), hidden, h.vocab, streamed)?
        };
        Ok(Self {
            embed,
            layers,
            norm,
            head,
            rope,
            hyper: h,
        })
    }
}

impl Blocks for GptNeoX {
    fn dims(&self) -> Dims {
        Dims {
            layers: self.hyper.layers,
            hidden: self.hyper.hidden,
            vocab: self.hyper.vocab,
            max_positions: None,
        }
    }

    fn embed(&self, ids: &Tensor, _: &Context) -> Result<Tensor> {
        self.embed.forward(ids)
    }

    fn with_block(&self, l: usize, run: RunBlock) -> Result<()> {
        self.layers.with(
            l,
            |vb, _| Layer::new(vb, &self.hyper),
            |b| run(&|h, ctx| b.forward(h, &self.hyper, &self.rope, ctx)),
        )
    }

    fn final_norm(&self, h: &Tensor) -> Result<Tensor> {
        Ok(self.norm.forward(h, self.hyper.kernels)?)
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(x)
    }
}
