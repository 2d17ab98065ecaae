//! Tensor roles of GPT-2 (`GPT2LMHeadModel`; Conv1D weights stored `[in, out]`; names with or without the
//! `transformer.` prefix).

use super::{after_layer, Dim, Layout, Role};

/// Names and counts of a GPT-2 checkpoint, without the optional `transformer.` prefix.
pub(super) const LAYOUT: Layout = Layout {
    prefix: "transformer.",
    layer_prefix: "h.",
    layers_key: "n_layer",
    model: &["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"],
    block: &[
        "ln_1.weight",
        "ln_1.bias",
        "attn.c_attn.weight",
        "attn.c_attn.bias",
        "attn.c_proj.weight",
        "attn.c_proj.bias",
        "ln_2.weight",
        "ln_2.bias",
        "mlp.c_fc.weight",
        "mlp.c_fc.bias",
        "mlp.c_proj.weight",
        "mlp.c_proj.bias",
    ],
    head: "lm_head.weight",
};

/// The shape a parameter must have (Conv1D weights are `[in, out]`), with the `transformer.` prefix stripped;
/// `None` for buffers.
pub(super) fn shape(name: &str) -> Option<&'static [Dim]> {
    use Dim::*;
    match name {
        "wte.weight" | "lm_head.weight" => return Some(&[Vocab, Hidden]),
        "wpe.weight" => return Some(&[Positions, Hidden]),
        "ln_f.weight" | "ln_f.bias" => return Some(&[Hidden]),
        _ => {}
    }
    Some(match after_layer(name, "h.")? {
        "ln_1.weight" | "ln_1.bias" | "ln_2.weight" | "ln_2.bias" => &[Hidden],
        "attn.c_attn.weight" => &[Hidden, Hidden3],
        "attn.c_attn.bias" => &[Hidden3],
        "attn.c_proj.weight" => &[Hidden, Hidden],
        "attn.c_proj.bias" | "mlp.c_proj.bias" => &[Hidden],
        "mlp.c_fc.weight" => &[Hidden, Inner],
        "mlp.c_fc.bias" => &[Inner],
        "mlp.c_proj.weight" => &[Inner, Hidden],
        _ => return None,
    })
}

pub(super) fn role(name: &str) -> Option<Role> {
    if name == "lm_head.weight" {
        return Some(Role::Read { axis: 1 });
    }
    let name = name.strip_prefix("transformer.").unwrap_or(name);
    match name {
        "wte.weight" | "wpe.weight" => return Some(Role::Embed),
        "ln_f.weight" => return Some(Role::Gain),
        "ln_f.bias" => return Some(Role::LnBias),
        _ => {}
    }
    Some(match after_layer(name, "h.")? {
        "ln_1.weight" | "ln_2.weight" => Role::Gain,
        "ln_1.bias" | "ln_2.bias" => Role::LnBias,
        "attn.c_attn.weight" | "mlp.c_fc.weight" => Role::Read { axis: 0 },
        "attn.c_attn.bias" | "mlp.c_fc.bias" => Role::None,
        "attn.c_proj.weight" | "mlp.c_proj.weight" => Role::Write { axis: 1 },
        "attn.c_proj.bias" | "mlp.c_proj.bias" => Role::Write { axis: 0 },
        "attn.bias" | "attn.masked_bias" => Role::None,
        _ => return None,
    })
}
