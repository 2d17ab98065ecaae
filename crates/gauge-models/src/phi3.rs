//! Phi-3 (`Phi3ForCausalLM`), as Hugging Face computes it: Llama's pre-norm blocks with a fused `qkv_proj`
//! (rows: the queries, then the keys, then the values) and a fused `gate_up_proj` (the gate half first:
//! `down(silu(gate) ⊙ up)`), partial rotary when `partial_rotary_factor` < 1, and a sliding window on every
//! layer when `sliding_window` is set. `longrope` (and every other scaled RoPE but `linear`/`llama3`) is refused.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::attention::{cached_mask, grouped_attention, split_heads};
use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{silu_mul, Kernels, Norm};
use crate::lazy::{Lazy, Table};
use crate::llama::{cached_rope, layer_windows, linear, output_head, Heads};
use crate::rope::{partial_rotary_factor, Rope, RopeSpec};

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
    input_norm: Norm,
    qkv: Linear,
    o: Linear,
    post_norm: Norm,
    gate_up: Linear,
    down: Linear,
    window: Option<usize>,
}

impl Block {
    fn new(vb: VarBuilder, h: &Hyper, layer: usize) -> Result<Self> {
        let hd = &h.heads;
        let d = hd.hidden;
        let qkv_rows = (hd.heads + 2 * hd.kv_heads) * hd.head_dim;
        let a = vb.pp("self_attn");
        let m = vb.pp("mlp");
        Ok(Self {
            input_norm: Norm::rms(d, h.eps, vb.pp("input_layernorm"))?,
            qkv: linear(&a, d, qkv_rows, "qkv_proj")?,
            o: linear(&a, hd.heads * hd.head_dim, d, "o_proj")?,
            post_norm: Norm::rms(d, h.eps, vb.pp("post_attention_layernorm"))?,
            gate_up: linear(&m, d, 2 * h.intermediate, "gate_up_proj")?,
            down: linear(&m, h.intermediate, d, "down_proj")?,
            window: h.windows[layer],
        })
    }

    fn attn(&self, x: &Tensor, h: &Hyper, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let hd = &h.heads;
        let qkv = self.qkv.forward(x)?;
        let (q_rows, kv_rows) = (hd.heads * hd.head_dim, hd.kv_heads * hd.head_dim);
        let q = split_heads(&qkv.narrow(2, 0, q_rows)?, hd.heads, hd.head_dim)?;
        let k = split_heads(&qkv.narrow(2, q_rows, kv_rows)?, hd.kv_heads, hd.head_dim)?;
        let v = split_heads(
            &qkv.narrow(2, q_rows + kv_rows, kv_rows)?,
            hd.kv_heads,
            hd.head_dim,
        )?;
        let (cos, sin) = cached_rope(rope, ctx)?;
        let q = rope.apply(&q, &cos, &sin, h.kernels)?;
        let k = rope.apply(&k, &cos, &sin, h.kernels)?;
        let mask = cached_mask(ctx, self.window)?;
        let scale = 1.0 / (hd.head_dim as f64).sqrt();
        let y = grouped_attention(&q, &k, &v, scale, &mask, None, h.kernels)?;
        Ok(self.o.forward(&y)?)
    }

    fn forward(&self, x: &Tensor, h: &Hyper, rope: &Rope, ctx: &Context) -> Result<Tensor> {
        let k = h.kernels;
        let x = (x + self.attn(&self.input_norm.forward(x, k)?, h, rope, ctx)?)?;
        let gu = self.gate_up.forward(&self.post_norm.forward(&x, k)?)?;
        let (gate, up) = (
            gu.narrow(2, 0, h.intermediate)?,
            gu.narrow(2, h.intermediate, h.intermediate)?,
        );
        let y = self.down.forward(&silu_mul(&gate, &up, k)?)?;
        Ok((&x + y)?)
    }
}

/// A Phi-3 causal language model.
pub(crate) struct Phi3 {
    embed: Table,
    blocks: Layers<Block>,
    norm: Norm,
    head: Lazy<Linear>,
    rope: Rope,
    hyper: Hyper,
}

impl Phi3 {
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
                "Phi-3 here runs silu",
            ));
        }
        let layers = c.usize("num_hidden_layers")?;
        let h = Hyper {
            heads: Heads::from_config(c)?,
            layers,
            intermediate: c.usize("intermediate_size")?,
            vocab: c.usize("vocab_size")?,
            eps: c.f64_or("rms_norm_eps", 1e-5)?,
            tied: c.bool_or("tie_word_embeddings", false)?,
            windows: layer_windows(c, layers, true)?,
            kernels,
        };
        let hd = h.heads.head_dim;
        let rot = (hd as f64 * partial_rotary_factor(c, 1.0)?) as usize;
        let rope = Rope::new(c, &RopeSpec::of(c, 10_000.0)?, hd, rot)?;
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

impl Blocks for Phi3 {
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
