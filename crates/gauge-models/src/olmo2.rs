//! OLMo 2 (`Olmo2ForCausalLM`), as Hugging Face computes it: no pre-norms; `x = h + post_attention_norm(attn(h))`,
//! `h' = x + post_feedforward_norm(mlp(x))`. The QK-norms are RMSNorms over the whole query and key projections
//! (`q_norm` `[heads · head_dim]`, `k_norm` `[kv_heads · head_dim]`), applied before the heads split and RoPE.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::attention::{cached_mask, grouped_attention, split_heads};
use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Norm};
use crate::lazy::{Lazy, Table};
use crate::llama::{cached_rope, layer_windows, linear, output_head, Heads, Mlp};
use crate::rope::{Rope, RopeSpec};

struct Hyper {
    heads: Heads,
    layers: usize,
    intermediate: usize,
    vocab: usize,
    eps: f64,
    tied: bool,
    windows: Vec<Option<usize>>,
    kernels: Kernels,
}

struct Block {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Norm,
    k_norm: Norm,
    post_attn_norm: Norm,
    mlp: Mlp,
    post_ff_norm: Norm,
    window: Option<usize>,
}

impl Block {
    fn new(vb: VarBuilder, h: &Hyper, layer: usize) -> Result<Self> {
        let hd = &h.heads;
        let d = hd.hidden;
        let (q_dim, kv_dim) = (hd.heads * hd.head_dim, hd.kv_heads * hd.head_dim);
        let a = vb.pp("self_attn");
        Ok(Self {
            q: linear(&a, d, q_dim, "q_proj")?,
            k: linear(&a, d, kv_dim, "k_proj")?,
            v: linear(&a, d, kv_dim, "v_proj")?,
            o: linear(&a, q_dim, d, "o_proj")?,
            q_norm: Norm::rms(q_dim, h.eps, a.pp("q_norm"))?,
            k_norm: Norm::rms(kv_dim, h.eps, a.pp("k_norm"))?,
            post_attn_norm: Norm::rms(d, h.eps, vb.pp("post_attention_layernorm"))?,
            mlp: Mlp::new(vb.pp("mlp"), d, h.intermediate, false, h.kernels)?,
            post_ff_norm: Norm::rms(d, h.eps, vb.pp("post_feedforward_layernorm"))?,
            window: h.windows[layer],
        })
    }

    fn attn(&self, x: &Tensor, h: &Hyper, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let (hd, k) = (&h.heads, h.kernels);
        let q = split_heads(
            &self.q_norm.forward(&self.q.forward(x)?, k)?,
            hd.heads,
            hd.head_dim,
        )?;
        let kk = split_heads(
            &self.k_norm.forward(&self.k.forward(x)?, k)?,
            hd.kv_heads,
            hd.head_dim,
        )?;
        let v = split_heads(&self.v.forward(x)?, hd.kv_heads, hd.head_dim)?;
        let (cos, sin) = cached_rope(rope, ctx)?;
        let q = rope.apply(&q, &cos, &sin, k)?;
        let kk = rope.apply(&kk, &cos, &sin, k)?;
        let mask = cached_mask(ctx, self.window)?;
        let scale = 1.0 / (hd.head_dim as f64).sqrt();
        let y = grouped_attention(&q, &kk, &v, scale, &mask, None, k)?;
        Ok(self.o.forward(&y)?)
    }

    fn forward(&self, x: &Tensor, h: &Hyper, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let k = h.kernels;
        let x = (x + self
            .post_attn_norm
            .forward(&self.attn(x, h, rope, ctx)?, k)?)?;
        Ok((&x + self.post_ff_norm.forward(&self.mlp.forward(&x, k)?, k)?)?)
    }
}

/// An OLMo 2 causal language model.
pub(crate) struct Olmo2 {
    embed: Table,
    blocks: Layers<Block>,
    norm: Norm,
    head: Lazy<Linear>,
    rope: Rope,
    hyper: Hyper,
}

impl Olmo2 {
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        c: &Config,
        kernels: Kernels,
        streamed: bool,
    ) -> Result<Self> {
        let act = c.str_or("hidden_act", "silu")?;
        if !matches!(act, "silu" | "swish") {
            return Err(Error::unsupported(
                format!("hidden_act {act:?}"),
                "OLMo 2 here runs silu",
            ));
        }
        let layers = c.usize("num_hidden_layers")?;
        let h = Hyper {
            heads: Heads::from_config(c)?,
            layers,
            intermediate: c.usize("intermediate_size")?,
            vocab: c.usize("vocab_size")?,
            eps: c.f64_or("rms_norm_eps", 1e-6)?,
            tied: c.bool_or("tie_word_embeddings", false)?,
            windows: layer_windows(c, layers, false)?,
            kernels,
        };
        let hd = h.heads.head_dim;
        let rope = Rope::new(c, &RopeSpec::of(c, 10_000.0)?, hd, hd)?;
        let m = vb.pp("model");
        let d = h.heads.hidden;
        let embed = Table::new(m.pp("embed_tokens"), h.vocab, d, streamed)?;
        let blocks = Layers::new(m.pp("layers"), layers, streamed, |vb, l| {
            Block::new(vb, &h, l)
        })?;
        let norm = Norm::rms(d, h.eps, m.pp("norm"))?;
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

impl Blocks for Olmo2 {
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
