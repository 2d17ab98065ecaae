//! Tensor roles of the Llama family (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`).

use super::{after_layer, Dim, Layout, Role};

/// Names and counts of a Llama-family checkpoint.
pub(super) const LAYOUT: Layout = Layout {
    prefix: "",
    layer_prefix: "model.layers.",
    layers_key: "num_hidden_layers",
    model: &["model.embed_tokens.weight", "model.norm.weight"],
    block: &[
        "input_layernorm.weight",
        "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight",
        "self_attn.o_proj.weight",
        "post_attention_layernorm.weight",
        "mlp.gate_proj.weight",
        "mlp.up_proj.weight",
        "mlp.down_proj.weight",
    ],
    head: "lm_head.weight",
};

/// The shape a parameter must have, in terms of the config's dimensions; `None` for buffers.
pub(super) fn shape(name: &str) -> Option<&'static [Dim]> {
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

pub(super) fn role(name: &str) -> Option<Role> {
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
