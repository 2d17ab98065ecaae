//! BERT (`BertModel`, with or without the `bert.` prefix of task checkpoints), as Hugging Face computes it: a
//! post-LayerNorm encoder with bidirectional attention.
//!
//! `h_0 = LN(word[ids] + position[0..seq] + token_type[0])` (token type 0 for every position),
//! `x = LN(h + out(attn(h)))`, `h' = LN(x + down(act(up(x))))` with `hidden_act` (`gelu`: exact). The residual
//! chart is the LayerNorm output. BERT has no final norm (the final-norm site is `h_L`) and no output head:
//! asking for logits is an [`Error::Unsupported`]. Only `absolute` position embeddings are run.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::linear::Linear;

use crate::attention::{attention, merge_heads, split_heads};
use crate::blocks::{Blocks, Context, Dims, Layers, RunBlock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Norm};
use crate::lazy::Table;

struct Hyper {
    hidden: usize,
    layers: usize,
    heads: usize,
    intermediate: usize,
    vocab: usize,
    positions: usize,
    eps: f64,
    exact_gelu: bool,
    kernels: Kernels,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

impl Layer {
    fn new(vb: VarBuilder, h: &Hyper) -> Result<Self> {
        let d = h.hidden;
        let a = vb.pp("attention");
        let lin =
            |vb: VarBuilder, i, o| -> Result<Linear> { Ok(candle_nn::linear(i, o, vb)?.into()) };
        Ok(Self {
            q: lin(a.pp("self.query"), d, d)?,
            k: lin(a.pp("self.key"), d, d)?,
            v: lin(a.pp("self.value"), d, d)?,
            out: lin(a.pp("output.dense"), d, d)?,
            attn_norm: Norm::layer(d, h.eps, a.pp("output.LayerNorm"))?,
            up: lin(vb.pp("intermediate.dense"), d, h.intermediate)?,
            down: lin(vb.pp("output.dense"), h.intermediate, d)?,
            out_norm: Norm::layer(d, h.eps, vb.pp("output.LayerNorm"))?,
        })
    }

    fn forward(&self, x: &Tensor, h: &Hyper) -> Result<Tensor> {
        let (k, hd) = (h.kernels, h.hidden / h.heads);
        let q = split_heads(&self.q.forward(x)?, h.heads, hd)?;
        let kk = split_heads(&self.k.forward(x)?, h.heads, hd)?;
        let v = split_heads(&self.v.forward(x)?, h.heads, hd)?;
        let y = attention(&q, &kk, &v, 1.0 / (hd as f64).sqrt(), None, None, k)?;
        let a = self
            .attn_norm
            .forward(&(x + self.out.forward(&merge_heads(&y)?)?)?, k)?;
        let u = self.up.forward(&a)?;
        let u = if h.exact_gelu {
            u.gelu_erf()?
        } else {
            u.gelu()?
        };
        Ok(self.out_norm.forward(&(&a + self.down.forward(&u)?)?, k)?)
    }
}

/// A BERT encoder.
pub(crate) struct Bert {
    word: Table,
    position: Table,
    token_type: Tensor,
    embed_norm: Norm,
    layers: Layers<Layer>,
    hyper: Hyper,
}

impl Bert {
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        c: &Config,
        kernels: Kernels,
        streamed: bool,
    ) -> Result<Self> {
        let kind = c.str_or("position_embedding_type", "absolute")?;
        if kind != "absolute" {
            return Err(Error::unsupported(
                format!("position_embedding_type {kind:?}"),
                "BERT here runs absolute position embeddings",
            ));
        }
        let act = c.str_or("hidden_act", "gelu")?;
        let exact_gelu = match act {
            "gelu" => true,
            "gelu_new" | "gelu_pytorch_tanh" => false,
            other => {
                return Err(Error::unsupported(
                    format!("hidden_act {other:?}"),
                    "BERT here runs gelu or gelu_new",
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
            positions: c.usize("max_position_embeddings")?,
            eps: c.f64_or("layer_norm_eps", 1e-12)?,
            exact_gelu,
            kernels,
        };
        let types = c.usize_or("type_vocab_size", Some(2))?.unwrap_or(2);
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let e = vb.pp("embeddings");
        let word = Table::new(e.pp("word_embeddings"), h.vocab, hidden, streamed)?;
        let position = Table::new(e.pp("position_embeddings"), h.positions, hidden, streamed)?;
        let token_type = e
            .pp("token_type_embeddings")
            .get((types, hidden), "weight")?
            .narrow(0, 0, 1)?;
        let embed_norm = Norm::layer(hidden, h.eps, e.pp("LayerNorm"))?;
        let layers = Layers::new(vb.pp("encoder.layer"), h.layers, streamed, |vb, _| {
            Layer::new(vb, &h)
        })?;
        Ok(Self {
            word,
            position,
            token_type,
            embed_norm,
            layers,
            hyper: h,
        })
    }
}

impl Blocks for Bert {
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
                    "has {seq} positions, more than the model's max_position_embeddings = {}",
                    self.hyper.positions
                ),
            ));
        }
        Ok(())
    }

    fn embed(&self, ids: &Tensor, ctx: &Context) -> Result<Tensor> {
        let positions = Tensor::arange(0u32, ctx.seq as u32, &ctx.device)?;
        let e = self
            .word
            .forward(ids)?
            .broadcast_add(&self.position.forward(&positions)?)?
            .broadcast_add(&self.token_type)?;
        Ok(self.embed_norm.forward(&e, self.hyper.kernels)?)
    }

    fn with_block(&self, l: usize, run: RunBlock) -> Result<()> {
        self.layers.with(
            l,
            |vb, _| Layer::new(vb, &self.hyper),
            |b| run(&|h, _| b.forward(h, &self.hyper)),
        )
    }

    fn final_norm(&self, h: &Tensor) -> Result<Tensor> {
        Ok(h.clone())
    }

    fn head(&self, _: &Tensor) -> Result<Tensor> {
        Err(Error::unsupported(
            "logits of a BertModel",
            "an encoder without a language-model head has hidden states only (ask for no logits)",
        ))
    }
}
