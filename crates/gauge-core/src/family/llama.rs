//! The Llama family (`LlamaForCausalLM`): RMSNorm with per-channel gains, separate q/k/v/o projections (biases
//! with `attention_bias`), a SwiGLU MLP, and an `lm_head` unless tied. The decoder families built on the same
//! tensors (Mistral, Qwen2, Qwen3, Gemma, OLMo 2) reuse [`decoder_shape`] and [`decoder_role`].

use super::{after_layer, Dim, Family, Layout, Norm, Role};
use crate::init::ModelShape;

/// The Llama family.
pub(super) struct Llama;

/// Tensors of a Llama block, after `model.layers.N.`.
pub(super) const BLOCK: &[&str] = &[
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
];

/// The layout of a decoder whose blocks hold `block` under `model.layers.N.`.
pub(super) const fn decoder_layout(block: &'static [&'static str]) -> Layout {
    Layout {
        prefix: "",
        layer_prefix: "model.layers.",
        layers_key: "num_hidden_layers",
        model: &["model.embed_tokens.weight", "model.norm.weight"],
        block,
        head: "lm_head.weight",
    }
}

/// The shape of a tensor every Llama-style decoder names alike (`None` for any other name).
pub(super) fn decoder_shape(name: &str) -> Option<&'static [Dim]> {
    use Dim::*;
    match name {
        "model.embed_tokens.weight" | "lm_head.weight" => return Some(&[Vocab, Hidden]),
        "model.norm.weight" => return Some(&[Hidden]),
        _ => {}
    }
    Some(match after_layer(name, "model.layers.")? {
        "input_layernorm.weight" | "post_attention_layernorm.weight" => &[Hidden],
        "self_attn.q_proj.weight" => &[QRows, Hidden],
        "self_attn.q_proj.bias" => &[QRows],
        "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => &[KvRows, Hidden],
        "self_attn.k_proj.bias" | "self_attn.v_proj.bias" => &[KvRows],
        "self_attn.o_proj.weight" => &[Hidden, QRows],
        "self_attn.o_proj.bias" | "mlp.down_proj.bias" => &[Hidden],
        "mlp.gate_proj.weight" | "mlp.up_proj.weight" => &[Inner, Hidden],
        "mlp.down_proj.weight" => &[Hidden, Inner],
        _ => return None,
    })
}

/// The role of a tensor every Llama-style decoder names alike (`None` for any other name).
pub(super) fn decoder_role(name: &str) -> Option<Role> {
    match name {
        "model.embed_tokens.weight" => return Some(Role::Embed),
        "model.norm.weight" => return Some(Role::Gain),
        "lm_head.weight" => return Some(Role::Read { axis: 1 }),
        _ => {}
    }
    Some(match after_layer(name, "model.layers.")? {
        "input_layernorm.weight" | "post_attention_layernorm.weight" => Role::Gain,
        "self_attn.q_proj.weight" | "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => {
            Role::Read { axis: 1 }
        }
        "self_attn.q_proj.bias" | "self_attn.k_proj.bias" | "self_attn.v_proj.bias" => Role::None,
        "self_attn.rotary_emb.inv_freq" => Role::None,
        "self_attn.o_proj.weight" | "self_attn.o_proj.bias" => Role::Write { axis: 0 },
        "mlp.gate_proj.weight" | "mlp.up_proj.weight" => Role::Read { axis: 1 },
        "mlp.down_proj.weight" | "mlp.down_proj.bias" => Role::Write { axis: 0 },
        _ => return None,
    })
}

/// Whether `name` is a per-head QK-norm gain (`q_norm`, `k_norm` `[head_dim]`, Qwen3 and Gemma 3): it acts on heads,
/// not on the residual stream.
pub(super) fn qk_norm(name: &str) -> bool {
    matches!(
        after_layer(name, "model.layers."),
        Some("self_attn.q_norm.weight" | "self_attn.k_norm.weight")
    )
}

/// The `config.json` `init` writes for a Llama-style decoder named `class` / `model_type`.
pub(super) fn decoder_config(s: &ModelShape, class: &str, model_type: &str) -> serde_json::Value {
    let mut c = serde_json::json!({
        "architectures": [class],
        "model_type": model_type,
        "hidden_size": s.hidden,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads,
        "intermediate_size": s.intermediate,
        "vocab_size": s.vocab,
        "max_position_embeddings": s.max_positions,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": s.tied,
    });
    if let Some(hd) = s.head_dim {
        c["head_dim"] = hd.into();
    }
    c
}

impl Family for Llama {
    fn name(&self) -> &'static str {
        "llama"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["LlamaForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["llama"]
    }
    fn norm(&self) -> Norm {
        Norm::RmsNorm
    }
    fn layout(&self) -> Layout {
        decoder_layout(BLOCK)
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        decoder_shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        decoder_role(name)
    }
    fn init_config(&self, s: &ModelShape) -> Option<serde_json::Value> {
        let mut c = decoder_config(s, "LlamaForCausalLM", "llama");
        if s.qkv_bias {
            c["attention_bias"] = true.into();
        }
        Some(c)
    }
}
