//! Gemma 3, text only (`Gemma3ForCausalLM`, `model_type` `gemma3_text`): Gemma 2's tensors (offset gains
//! `1 + w`, sandwich norms, tied head) plus per-head QK-norms `q_norm`, `k_norm` `[head_dim]` (role `none`: they
//! act on heads). The multimodal `Gemma3ForConditionalGeneration` is not this family.

use super::gemma2::sandwich;
use super::llama::{decoder_layout, decoder_role, decoder_shape, qk_norm};
use super::{Dim, Family, Layout, Norm, Role};

/// The Gemma 3 family.
pub(super) struct Gemma3;

const BLOCK: &[&str] = &[
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.q_norm.weight",
    "self_attn.k_norm.weight",
    "post_attention_layernorm.weight",
    "pre_feedforward_layernorm.weight",
    "post_feedforward_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
];

impl Family for Gemma3 {
    fn name(&self) -> &'static str {
        "gemma3"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["Gemma3ForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["gemma3_text"]
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
        if qk_norm(name) {
            return Some(&[Dim::HeadDim]);
        }
        if sandwich(name) {
            return Some(&[Dim::Hidden]);
        }
        decoder_shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        if qk_norm(name) {
            return Some(Role::None);
        }
        if sandwich(name) {
            return Some(Role::Gain);
        }
        decoder_role(name)
    }
    fn tied_by_default(&self) -> bool {
        true
    }
}
