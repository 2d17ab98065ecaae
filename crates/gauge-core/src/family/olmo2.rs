//! OLMo 2 (`Olmo2ForCausalLM`): no pre-norms; the attention and MLP outputs pass `post_attention_layernorm` and
//! `post_feedforward_layernorm` before they join the stream (residual gains), and QK-norms `q_norm`
//! `[heads · head_dim]`, `k_norm` `[kv_heads · head_dim]` act on the whole projections (role `none`).

use super::llama::{decoder_layout, decoder_role, decoder_shape};
use super::{after_layer, Dim, Family, Layout, Norm, Role};

/// The OLMo 2 family.
pub(super) struct Olmo2;

const BLOCK: &[&str] = &[
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.q_norm.weight",
    "self_attn.k_norm.weight",
    "post_attention_layernorm.weight",
    "post_feedforward_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
];

impl Family for Olmo2 {
    fn name(&self) -> &'static str {
        "olmo2"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["Olmo2ForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["olmo2"]
    }
    fn norm(&self) -> Norm {
        Norm::RmsNorm
    }
    fn layout(&self) -> Layout {
        decoder_layout(BLOCK)
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        match after_layer(name, "model.layers.") {
            Some("self_attn.q_norm.weight") => Some(&[Dim::QRows]),
            Some("self_attn.k_norm.weight") => Some(&[Dim::KvRows]),
            Some("post_feedforward_layernorm.weight") => Some(&[Dim::Hidden]),
            Some("input_layernorm.weight") => None,
            _ => decoder_shape(name),
        }
    }
    fn role(&self, name: &str) -> Option<Role> {
        match after_layer(name, "model.layers.") {
            Some("self_attn.q_norm.weight" | "self_attn.k_norm.weight") => Some(Role::None),
            Some("post_feedforward_layernorm.weight") => Some(Role::Gain),
            Some("input_layernorm.weight") => None,
            _ => decoder_role(name),
        }
    }
}
