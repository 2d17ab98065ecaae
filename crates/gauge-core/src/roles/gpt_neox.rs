//! Tensor roles of GPT-NeoX (`GPTNeoXForCausalLM`, the Pythia suite).

use super::{after_layer, Role};

pub(super) fn role(name: &str) -> Option<Role> {
    match name {
        "gpt_neox.embed_in.weight" => return Some(Role::Embed),
        "gpt_neox.final_layer_norm.weight" => return Some(Role::Gain),
        "gpt_neox.final_layer_norm.bias" => return Some(Role::LnBias),
        "embed_out.weight" => return Some(Role::Read { axis: 1 }),
        _ => {}
    }
    Some(match after_layer(name, "gpt_neox.layers.")? {
        "input_layernorm.weight" | "post_attention_layernorm.weight" => Role::Gain,
        "input_layernorm.bias" | "post_attention_layernorm.bias" => Role::LnBias,
        "attention.query_key_value.weight" | "mlp.dense_h_to_4h.weight" => Role::Read { axis: 1 },
        "attention.query_key_value.bias" | "mlp.dense_h_to_4h.bias" => Role::None,
        "attention.dense.weight" | "mlp.dense_4h_to_h.weight" => Role::Write { axis: 0 },
        "attention.dense.bias" | "mlp.dense_4h_to_h.bias" => Role::Write { axis: 0 },
        "attention.rotary_emb.inv_freq" | "attention.bias" | "attention.masked_bias" => Role::None,
        _ => return None,
    })
}
