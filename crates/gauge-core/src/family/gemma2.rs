//! Gemma 2 (`Gemma2ForCausalLM`). Every RMSNorm stores an offset `w` and scales by `1 + w`
//! ([`Family::gain_offset`] 1): role `gain` all the same (permute `w`, no sign). Sandwich norms: besides
//! `input_layernorm` and `pre_feedforward_layernorm`, the attention and MLP outputs pass `post_attention_layernorm`
//! and `post_feedforward_layernorm` before they join the stream; all four are residual gains. The head is tied.

use super::llama::{decoder_layout, decoder_role, decoder_shape};
use super::{after_layer, Dim, Family, Layout, Norm, Role};

/// The Gemma 2 family.
pub(super) struct Gemma2;

const BLOCK: &[&str] = &[
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "post_attention_layernorm.weight",
    "pre_feedforward_layernorm.weight",
    "post_feedforward_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
];

/// The sandwich norms Gemma adds to Llama's tensors: residual gains `[d]`.
pub(super) fn sandwich(name: &str) -> bool {
    matches!(
        after_layer(name, "model.layers."),
        Some("pre_feedforward_layernorm.weight" | "post_feedforward_layernorm.weight")
    )
}

impl Family for Gemma2 {
    fn name(&self) -> &'static str {
        "gemma2"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["Gemma2ForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["gemma2"]
    }
    fn norm(&self) -> Norm {
        Norm::RmsNorm
    }
    fn default_head_dim(&self) -> Option<usize> {
        Some(256)
    }
    fn gain_offset(&self) -> f32 {
        1.0
    }
    fn layout(&self) -> Layout {
        decoder_layout(BLOCK)
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        if sandwich(name) {
            return Some(&[Dim::Hidden]);
        }
        decoder_shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        if sandwich(name) {
            return Some(Role::Gain);
        }
        decoder_role(name)
    }
    fn tied_by_default(&self) -> bool {
        true
    }
}
