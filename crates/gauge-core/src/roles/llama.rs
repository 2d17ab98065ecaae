//! Tensor roles of the Llama family (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`).

use super::{after_layer, Role};

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
