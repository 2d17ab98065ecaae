//! Tensor roles of GPT-2 (`GPT2LMHeadModel`; Conv1D weights stored `[in, out]`; names with or without the
//! `transformer.` prefix).

use super::{after_layer, Role};

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
