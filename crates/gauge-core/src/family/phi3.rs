//! Phi-3 (`Phi3ForCausalLM`): Llama's norms with a fused `qkv_proj` `[(heads + 2 kv_heads) · head_dim, d]` and a
//! fused `gate_up_proj` `[2 · intermediate, d]`; both read the stream over the whole fused matrix (axis 1).

use super::llama::decoder_layout;
use super::{after_layer, Dim, Family, Layout, Norm, Role};

/// The Phi-3 family.
pub(super) struct Phi3;

const BLOCK: &[&str] = &[
    "input_layernorm.weight",
    "self_attn.qkv_proj.weight",
    "self_attn.o_proj.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_up_proj.weight",
    "mlp.down_proj.weight",
];

impl Family for Phi3 {
    fn name(&self) -> &'static str {
        "phi3"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["Phi3ForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["phi3"]
    }
    fn norm(&self) -> Norm {
        Norm::RmsNorm
    }
    fn layout(&self) -> Layout {
        decoder_layout(BLOCK)
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        use Dim::*;
        match name {
            "model.embed_tokens.weight" | "lm_head.weight" => return Some(&[Vocab, Hidden]),
            "model.norm.weight" => return Some(&[Hidden]),
            _ => {}
        }
        Some(match after_layer(name, "model.layers.")? {
            "input_layernorm.weight" | "post_attention_layernorm.weight" => &[Hidden],
            "self_attn.qkv_proj.weight" => &[QkvRows, Hidden],
            "self_attn.o_proj.weight" => &[Hidden, QRows],
            "mlp.gate_up_proj.weight" => &[Inner2, Hidden],
            "mlp.down_proj.weight" => &[Hidden, Inner],
            _ => return None,
        })
    }
    fn role(&self, name: &str) -> Option<Role> {
        match name {
            "model.embed_tokens.weight" => return Some(Role::Embed),
            "model.norm.weight" => return Some(Role::Gain),
            "lm_head.weight" => return Some(Role::Read { axis: 1 }),
            _ => {}
        }
        Some(match after_layer(name, "model.layers.")? {
            "input_layernorm.weight" | "post_attention_layernorm.weight" => Role::Gain,
            "self_attn.qkv_proj.weight" | "mlp.gate_up_proj.weight" => Role::Read { axis: 1 },
            "self_attn.o_proj.weight" | "mlp.down_proj.weight" => Role::Write { axis: 0 },
            "self_attn.rotary_emb.inv_freq" => Role::None,
            _ => return None,
        })
    }
}
