//! Tensor roles of GPT-NeoX (`GPTNeoXForCausalLM`, the Pythia suite).

use super::{after_layer, Dim, Family, Layout, Norm, Role};

/// The GPT-NeoX family.
pub(super) struct GptNeoX;

/// Names and counts of a GPT-NeoX checkpoint.
const LAYOUT: Layout = Layout {
    prefix: "",
    layer_prefix: "gpt_neox.layers.",
    layers_key: "num_hidden_layers",
    model: &[
        "gpt_neox.embed_in.weight",
        "gpt_neox.final_layer_norm.weight",
        "gpt_neox.final_layer_norm.bias",
    ],
    block: &[
        "input_layernorm.weight",
        "input_layernorm.bias",
        "attention.query_key_value.weight",
        "attention.query_key_value.bias",
        "attention.dense.weight",
        "attention.dense.bias",
        "post_attention_layernorm.weight",
        "post_attention_layernorm.bias",
        "mlp.dense_h_to_4h.weight",
        "mlp.dense_h_to_4h.bias",
        "mlp.dense_4h_to_h.weight",
        "mlp.dense_4h_to_h.bias",
    ],
    head: "embed_out.weight",
};

/// The shape a parameter must have; `None` for buffers.
fn shape(name: &str) -> Option<&'static [Dim]> {
    use Dim::*;
    match name {
        "gpt_neox.embed_in.weight" | "embed_out.weight" => return Some(&[Vocab, Hidden]),
        "gpt_neox.final_layer_norm.weight" | "gpt_neox.final_layer_norm.bias" => {
            return Some(&[Hidden])
        }
        _ => {}
    }
    Some(match after_layer(name, "gpt_neox.layers.")? {
        "input_layernorm.weight"
        | "input_layernorm.bias"
        | "post_attention_layernorm.weight"
        | "post_attention_layernorm.bias" => &[Hidden],
        "attention.query_key_value.weight" => &[Hidden3, Hidden],
        "attention.query_key_value.bias" => &[Hidden3],
        "attention.dense.weight" => &[Hidden, Hidden],
        "attention.dense.bias" | "mlp.dense_4h_to_h.bias" => &[Hidden],
        "mlp.dense_h_to_4h.weight" => &[Inner, Hidden],
        "mlp.dense_h_to_4h.bias" => &[Inner],
        "mlp.dense_4h_to_h.weight" => &[Hidden, Inner],
        _ => return None,
    })
}

fn role(name: &str) -> Option<Role> {
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

impl Family for GptNeoX {
    fn name(&self) -> &'static str {
        "gpt_neox"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["GPTNeoXForCausalLM", "GPTNeoXModel"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["gpt_neox"]
    }
    fn norm(&self) -> Norm {
        Norm::LayerNorm
    }
    fn layout(&self) -> Layout {
        LAYOUT
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        role(name)
    }
    fn is_buffer(&self, name: &str) -> bool {
        [
            ".rotary_emb.inv_freq",
            ".attention.bias",
            ".attention.masked_bias",
        ]
        .iter()
        .any(|b| name.ends_with(b))
    }
}
