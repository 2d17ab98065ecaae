//! Qwen3 (`Qwen3ForCausalLM`): Llama's tensors plus per-head QK-norms `q_norm`, `k_norm` `[head_dim]`, which act
//! on heads, not on the residual stream (role `none`).

use super::llama::{decoder_config, decoder_layout, decoder_role, decoder_shape, qk_norm};
use super::{Dim, Family, Layout, Norm, Role};
use crate::init::ModelShape;

/// The Qwen3 family.
pub(super) struct Qwen3;

const BLOCK: &[&str] = &[
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.q_norm.weight",
    "self_attn.k_norm.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
];

impl Family for Qwen3 {
    fn name(&self) -> &'static str {
        "qwen3"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["Qwen3ForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["qwen3"]
    }
    fn norm(&self) -> Norm {
        Norm::RmsNorm
    }
    fn default_head_dim(&self) -> Option<usize> {
        Some(128)
    }
    fn layout(&self) -> Layout {
        decoder_layout(BLOCK)
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        if qk_norm(name) {
            return Some(&[Dim::HeadDim]);
        }
        decoder_shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        if qk_norm(name) {
            return Some(Role::None);
        }
        decoder_role(name)
    }
    fn init_config(&self, s: &ModelShape) -> Option<serde_json::Value> {
        let mut c = decoder_config(s, "Qwen3ForCausalLM", "qwen3");
        c["head_dim"] = s.head_dim().into();
        Some(c)
    }
}
