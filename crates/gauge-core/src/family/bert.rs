//! BERT (`BertModel`; names with or without the `bert.` prefix of the task heads' checkpoints): a post-LayerNorm
//! encoder, group `±Sd`. The residual chart is the LayerNorm output: `h_0 = LN(word + position + token_type)`,
//! `x = LN(h + attn(h))`, `h' = LN(x + mlp(x))`. Embeddings `embed`; every LayerNorm `gain` + `ln_bias`;
//! `query`/`key`/`value` and `intermediate.dense` `read` (biases `none`); `attention.output.dense` and
//! `output.dense` `write` with their biases; `pooler.dense` `read` (its bias `none`). There is no output head.

use super::{after_layer, Dim, Family, Layout, Norm, Role};

/// The BERT family.
pub(super) struct Bert;

const PREFIX: &str = "bert.";
const LAYER: &str = "encoder.layer.";

impl Family for Bert {
    fn name(&self) -> &'static str {
        "bert"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["BertModel"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["bert"]
    }
    fn norm(&self) -> Norm {
        Norm::LayerNorm
    }
    fn layout(&self) -> Layout {
        Layout {
            prefix: PREFIX,
            layer_prefix: LAYER,
            layers_key: "num_hidden_layers",
            model: &[
                "embeddings.word_embeddings.weight",
                "embeddings.position_embeddings.weight",
                "embeddings.token_type_embeddings.weight",
                "embeddings.LayerNorm.weight",
                "embeddings.LayerNorm.bias",
            ],
            block: &[
                "attention.self.query.weight",
                "attention.self.query.bias",
                "attention.self.key.weight",
                "attention.self.key.bias",
                "attention.self.value.weight",
                "attention.self.value.bias",
                "attention.output.dense.weight",
                "attention.output.dense.bias",
                "attention.output.LayerNorm.weight",
                "attention.output.LayerNorm.bias",
                "intermediate.dense.weight",
                "intermediate.dense.bias",
                "output.dense.weight",
                "output.dense.bias",
                "output.LayerNorm.weight",
                "output.LayerNorm.bias",
            ],
            head: "",
        }
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        use Dim::*;
        match name {
            "embeddings.word_embeddings.weight" => return Some(&[Vocab, Hidden]),
            "embeddings.position_embeddings.weight" => return Some(&[Positions, Hidden]),
            "embeddings.token_type_embeddings.weight" => return Some(&[TypeVocab, Hidden]),
            "embeddings.LayerNorm.weight" | "embeddings.LayerNorm.bias" => return Some(&[Hidden]),
            "pooler.dense.weight" => return Some(&[Hidden, Hidden]),
            "pooler.dense.bias" => return Some(&[Hidden]),
            _ => {}
        }
        Some(match after_layer(name, LAYER)? {
            "attention.self.query.weight"
            | "attention.self.key.weight"
            | "attention.self.value.weight"
            | "attention.output.dense.weight" => &[Hidden, Hidden],
            "intermediate.dense.weight" => &[Inner, Hidden],
            "intermediate.dense.bias" => &[Inner],
            "output.dense.weight" => &[Hidden, Inner],
            "attention.self.query.bias"
            | "attention.self.key.bias"
            | "attention.self.value.bias"
            | "attention.output.dense.bias"
            | "attention.output.LayerNorm.weight"
            | "attention.output.LayerNorm.bias"
            | "output.dense.bias"
            | "output.LayerNorm.weight"
            | "output.LayerNorm.bias" => &[Hidden],
            _ => return None,
        })
    }
    fn is_buffer(&self, name: &str) -> bool {
        name.ends_with("embeddings.position_ids") || name.ends_with("embeddings.token_type_ids")
    }
    fn role(&self, name: &str) -> Option<Role> {
        let name = name.strip_prefix(PREFIX).unwrap_or(name);
        match name {
            "embeddings.word_embeddings.weight"
            | "embeddings.position_embeddings.weight"
            | "embeddings.token_type_embeddings.weight" => return Some(Role::Embed),
            "embeddings.LayerNorm.weight" => return Some(Role::Gain),
            "embeddings.LayerNorm.bias" => return Some(Role::LnBias),
            "embeddings.position_ids" | "embeddings.token_type_ids" => return Some(Role::None),
            "pooler.dense.weight" => return Some(Role::Read { axis: 1 }),
            "pooler.dense.bias" => return Some(Role::None),
            _ => {}
        }
        Some(match after_layer(name, LAYER)? {
            "attention.self.query.weight"
            | "attention.self.key.weight"
            | "attention.self.value.weight"
            | "intermediate.dense.weight" => Role::Read { axis: 1 },
            "attention.self.query.bias"
            | "attention.self.key.bias"
            | "attention.self.value.bias"
            | "intermediate.dense.bias" => Role::None,
            "attention.output.dense.weight"
            | "attention.output.dense.bias"
            | "output.dense.weight"
            | "output.dense.bias" => Role::Write { axis: 0 },
            "attention.output.LayerNorm.weight" | "output.LayerNorm.weight" => Role::Gain,
            "attention.output.LayerNorm.bias" | "output.LayerNorm.bias" => Role::LnBias,
            _ => return None,
        })
    }
}
