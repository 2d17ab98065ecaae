//! Qwen2 (`Qwen2ForCausalLM`): Llama's tensors with q, k and v biases in every block.

use super::llama::{decoder_config, decoder_layout, decoder_role, decoder_shape};
use super::{Dim, Family, Layout, Norm, Role};
use crate::init::ModelShape;

/// The Qwen2 family.
pub(super) struct Qwen2;

const BLOCK: &[&str] = &[
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.q_proj.bias",
    "self_attn.k_proj.weight",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.weight",
    "self_attn.v_proj.bias",
    "self_attn.o_proj.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
];

impl Family for Qwen2 {
    fn name(&self) -> &'static str {
        "qwen2"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["Qwen2ForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["qwen2"]
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
        Some(decoder_config(s, "Qwen2ForCausalLM", "qwen2"))
    }
}
