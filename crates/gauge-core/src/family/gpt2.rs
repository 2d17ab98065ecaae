//! Tensor roles of GPT-2 (`GPT2LMHeadModel`; Conv1D weights stored `[in, out]`; names with or without the
//! `transformer.` prefix).

use super::dims::positive;
use super::{after_layer, ConfigDims, Dim, Family, Layout, Norm, Role};
use crate::error::{Error, Result};
use crate::init::ModelShape;

/// The GPT-2 family.
pub(super) struct Gpt2;

/// Names and counts of a GPT-2 checkpoint, without the optional `transformer.` prefix.
const LAYOUT: Layout = Layout {
    prefix: "transformer.",
    layer_prefix: "h.",
    layers_key: "n_layer",
    model: &["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"],
    block: &[
        "ln_1.weight",
        "ln_1.bias",
        "ln_2.weight",
        "ln_2.bias",
        "attn.c_attn.weight",
        "attn.c_attn.bias",
        "attn.c_proj.weight",
        "attn.c_proj.bias",
        "mlp.c_fc.weight",
        "mlp.c_fc.bias",
        "mlp.c_proj.weight",
        "mlp.c_proj.bias",
    ],
    head: "lm_head.weight",
};

/// The shape a parameter must have (Conv1D weights are `[in, out]`), with the `transformer.` prefix stripped;
/// `None` for buffers.
fn shape(name: &str) -> Option<&'static [Dim]> {
    use Dim::*;
    match name {
        "wte.weight" | "lm_head.weight" => return Some(&[Vocab, Hidden]),
        "wpe.weight" => return Some(&[Positions, Hidden]),
        "ln_f.weight" | "ln_f.bias" => return Some(&[Hidden]),
        _ => {}
    }
    Some(match after_layer(name, "h.")? {
        "ln_1.weight" | "ln_1.bias" | "ln_2.weight" | "ln_2.bias" => &[Hidden],
        "attn.c_attn.weight" => &[Hidden, Hidden3],
        "attn.c_attn.bias" => &[Hidden3],
        "attn.c_proj.weight" => &[Hidden, Hidden],
        "attn.c_proj.bias" | "mlp.c_proj.bias" => &[Hidden],
        "mlp.c_fc.weight" => &[Hidden, Inner],
        "mlp.c_fc.bias" => &[Inner],
        "mlp.c_proj.weight" => &[Inner, Hidden],
        _ => return None,
    })
}

fn role(name: &str) -> Option<Role> {
    if name == "lm_head.weight" {
        return Some(Role::Read { axis: 1 });
    }
    let name = name.strip_prefix("transformer.").unwrap_or(name);
    match name {
        "wte.weight" | "wpe.weight" => return Some(Role::Embed),
        "ln_f.weight" => return Some(Role::Gain),
        "ln_f.bias" => return Some(Role::LnBias),
        _ => {}
    }
    Some(match after_layer(name, "h.")? {
        "ln_1.weight" | "ln_2.weight" => Role::Gain,
        "ln_1.bias" | "ln_2.bias" => Role::LnBias,
        "attn.c_attn.weight" | "mlp.c_fc.weight" => Role::Read { axis: 0 },
        "attn.c_attn.bias" | "mlp.c_fc.bias" => Role::None,
        "attn.c_proj.weight" | "mlp.c_proj.weight" => Role::Write { axis: 1 },
        "attn.c_proj.bias" | "mlp.c_proj.bias" => Role::Write { axis: 0 },
        "attn.bias" | "attn.masked_bias" => Role::None,
        _ => return None,
    })
}

impl Family for Gpt2 {
    fn name(&self) -> &'static str {
        "gpt2"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["GPT2LMHeadModel", "GPT2Model"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["gpt2"]
    }
    fn norm(&self) -> Norm {
        Norm::LayerNorm
    }
    fn layout(&self) -> Layout {
        LAYOUT
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        role(name)
    }
    fn hidden_key(&self) -> &'static str {
        "n_embd"
    }
    fn is_buffer(&self, name: &str) -> bool {
        (name.ends_with(".attn.bias") && name.contains(".h."))
            || name.ends_with(".attn.masked_bias")
    }
    fn tied_by_default(&self) -> bool {
        true
    }
    fn config_dims(&self, c: &serde_json::Value) -> ConfigDims {
        let mut me = ConfigDims::default();
        let hidden = positive(c, "n_embd");
        if let Some(h) = hidden {
            me.set(Dim::Hidden, h, format!("n_embd = {h}"));
            if let Some(h3) = h.checked_mul(3) {
                me.set(Dim::Hidden3, h3, format!("3 × n_embd = {h3}"));
            }
        }
        if let Some(v) = positive(c, "vocab_size") {
            me.set(Dim::Vocab, v, format!("vocab_size = {v}"));
        }
        if let Some(p) = positive(c, "n_positions") {
            me.set(Dim::Positions, p, format!("n_positions = {p}"));
        }
        match (positive(c, "n_inner"), hidden) {
            (Some(i), _) => me.set(Dim::Inner, i, format!("n_inner = {i}")),
            // Hugging Face's default when n_inner is null or absent.
            (None, Some(h)) if c.get("n_inner").is_none_or(|v| v.is_null()) => {
                if let Some(i) = h.checked_mul(4) {
                    me.set(
                        Dim::Inner,
                        i,
                        format!("4 × n_embd = {i}, as n_inner is not set"),
                    );
                }
            }
            _ => {}
        }
        me
    }
    fn label(&self, dim: Dim) -> &'static str {
        match dim {
            Dim::Hidden => "n_embd",
            Dim::Hidden3 => "3 × n_embd",
            Dim::Inner => "n_inner",
            Dim::Positions => "n_positions",
            other => other.standard_label(),
        }
    }
    fn model_shape(&self, config: &serde_json::Value) -> Result<ModelShape> {
        let get = |k: &str| {
            positive(config, k).ok_or_else(|| {
                Error::invalid("config.json", format!("has no positive integer {k:?}"))
            })
        };
        Ok(ModelShape {
            arch: super::Architecture::GPT2,
            hidden: get("n_embd")?,
            layers: get("n_layer")?,
            heads: get("n_head")?,
            kv_heads: get("n_head")?,
            head_dim: None,
            intermediate: positive(config, "n_inner").map_or_else(|| Ok(4 * get("n_embd")?), Ok)?,
            vocab: get("vocab_size")?,
            max_positions: get("n_positions")?,
            tied: true,
            qkv_bias: true,
        })
    }
    fn init_config(&self, s: &ModelShape) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "n_embd": s.hidden,
            "n_layer": s.layers,
            "n_head": s.heads,
            "n_inner": s.intermediate,
            "n_positions": s.max_positions,
            "n_ctx": s.max_positions,
            "vocab_size": s.vocab,
            "layer_norm_epsilon": 1e-5,
            "activation_function": "gelu_new",
            "bos_token_id": s.vocab - 1,
            "eos_token_id": s.vocab - 1,
            "tie_word_embeddings": true,
        }))
    }
}
