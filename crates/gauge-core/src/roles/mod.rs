//! How every tensor of a checkpoint moves under a residual-stream gauge (GAUGE.md §3).
//!
//! Each tensor has exactly one [`Role`]; a tensor whose name no rule of its architecture covers is an error,
//! never silently copied. One architecture per file.

mod gpt2;
mod gpt_neox;
mod llama;

use crate::error::{Error, Result};
use crate::gauge::Group;

/// The role of one tensor with respect to the residual chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Consumes the residual stream (or its normalised copy); `d` lies on `axis`. Moves signed.
    Read {
        /// The residual axis.
        axis: usize,
    },
    /// Produces into the residual stream; `d` lies on `axis` (a writer's bias `[d]` has axis 0). Moves signed.
    Write {
        /// The residual axis.
        axis: usize,
    },
    /// Rows are residual vectors (`[V, d]` token or `[P, d]` position embeddings): axis 1, signed.
    Embed,
    /// A norm's per-channel scale `[d]`: permuted, never signed.
    Gain,
    /// A LayerNorm's bias `[d]`: axis 0, signed; only legal for `Sd` and `±Sd` gauges.
    LnBias,
    /// Does not touch the residual chart.
    None,
}

impl Role {
    /// `(axis, signed)` for roles that move, `None` for [`Role::None`].
    pub fn action(self) -> Option<(usize, bool)> {
        match self {
            Role::Read { axis } | Role::Write { axis } => Some((axis, true)),
            Role::Embed => Some((1, true)),
            Role::Gain => Some((0, false)),
            Role::LnBias => Some((0, true)),
            Role::None => None,
        }
    }

    /// A short name for reports: `read`, `write`, `embed`, `gain`, `ln_bias` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read { .. } => "read",
            Role::Write { .. } => "write",
            Role::Embed => "embed",
            Role::Gain => "gain",
            Role::LnBias => "ln_bias",
            Role::None => "none",
        }
    }
}

/// A dimension of a parameter's shape, named after the config entry that fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dim {
    /// The residual width (`hidden_size`, GPT-2's `n_embd`).
    Hidden,
    /// Three residual widths: a fused query, key and value projection.
    Hidden3,
    /// The vocabulary (`vocab_size`).
    Vocab,
    /// The MLP width (`intermediate_size`, GPT-2's `n_inner`).
    Inner,
    /// Learned positions (GPT-2's `n_positions`).
    Positions,
    /// Query rows: `num_attention_heads × head_dim`.
    QRows,
    /// Key or value rows: `num_key_value_heads × head_dim`.
    KvRows,
}

/// The tensors a checkpoint of an architecture must hold, by name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// An optional prefix of every name other than the head (GPT-2's `transformer.`), stripped before matching.
    pub prefix: &'static str,
    /// The prefix of block tensors, followed by the block index and a dot.
    pub layer_prefix: &'static str,
    /// The config entry counting the blocks.
    pub layers_key: &'static str,
    /// Tensors outside the blocks that every checkpoint has.
    pub model: &'static [&'static str],
    /// Tensors every block has, after `layer_prefix` and the index.
    pub block: &'static [&'static str],
    /// The output head, required when `tie_word_embeddings` is false.
    pub head: &'static str,
}

/// The architectures whose tensor roles are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM` (RMSNorm with per-channel gains).
    Llama,
    /// `GPT2LMHeadModel` (LayerNorm, Conv1D weights stored `[in, out]`).
    Gpt2,
    /// `GPTNeoXForCausalLM` (Pythia; LayerNorm).
    GptNeoX,
}

/// The normalisation of an architecture, which decides its gauge group (GAUGE.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// RMSNorm with per-channel gains: gauge group `Bd` (when the gains are generic).
    RmsNorm,
    /// LayerNorm: gauge group `±Sd`.
    LayerNorm,
}

impl Architecture {
    /// Recognises an architecture from a Hugging Face `config.json` (`architectures[0]`, else `model_type`).
    pub fn from_config(config: &serde_json::Value) -> Result<Self> {
        let arch = config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str());
        let model_type = config.get("model_type").and_then(|m| m.as_str());
        match (arch, model_type) {
            (Some("LlamaForCausalLM" | "MistralForCausalLM" | "Qwen2ForCausalLM"), _) => {
                Ok(Self::Llama)
            }
            (Some("GPT2LMHeadModel" | "GPT2Model"), _) => Ok(Self::Gpt2),
            (Some("GPTNeoXForCausalLM" | "GPTNeoXModel"), _) => Ok(Self::GptNeoX),
            (None, Some("llama" | "mistral" | "qwen2")) => Ok(Self::Llama),
            (None, Some("gpt2")) => Ok(Self::Gpt2),
            (None, Some("gpt_neox")) => Ok(Self::GptNeoX),
            _ => {
                let found = match (arch, model_type) {
                    (Some(a), _) => format!("architectures[0] {a:?} is not a supported architecture"),
                    (None, Some(m)) => format!(
                        "model_type {m:?} is not a supported architecture (and there is no architectures list)"
                    ),
                    (None, None) => "names no architecture (neither architectures nor model_type)".into(),
                };
                Err(Error::invalid(
                    "config.json",
                    format!(
                        "{found}; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM \
                         (model_type llama, mistral, qwen2), GPT2LMHeadModel (gpt2), GPTNeoXForCausalLM (gpt_neox)"
                    ),
                ))
            }
        }
    }

    /// The normalisation, hence the gauge group.
    pub fn norm(self) -> Norm {
        match self {
            Architecture::Llama => Norm::RmsNorm,
            Architecture::Gpt2 | Architecture::GptNeoX => Norm::LayerNorm,
        }
    }

    /// The largest gauge group under which this architecture's function is invariant (given generic gains).
    pub fn group(self) -> Group {
        match self.norm() {
            Norm::RmsNorm => Group::Bd,
            Norm::LayerNorm => Group::PmSd,
        }
    }

    /// A short name: `llama`, `gpt2` or `gpt_neox`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Gpt2 => "gpt2",
            Architecture::GptNeoX => "gpt_neox",
        }
    }

    /// The tensors a checkpoint of this architecture must hold.
    pub(crate) fn layout(self) -> Layout {
        match self {
            Architecture::Llama => llama::LAYOUT,
            Architecture::Gpt2 => gpt2::LAYOUT,
            Architecture::GptNeoX => gpt_neox::LAYOUT,
        }
    }

    /// The shape parameter `name` must have (after [`Layout::prefix`] is stripped), or `None` for buffers and
    /// names no rule covers.
    pub(crate) fn expected_shape(self, name: &str) -> Option<&'static [Dim]> {
        match self {
            Architecture::Llama => llama::shape(name),
            Architecture::Gpt2 => gpt2::shape(name),
            Architecture::GptNeoX => gpt_neox::shape(name),
        }
    }

    /// The role of tensor `name`, or an error naming it when no rule covers it.
    pub fn role(self, name: &str) -> Result<Role> {
        let role = match self {
            Architecture::Llama => llama::role(name),
            Architecture::Gpt2 => gpt2::role(name),
            Architecture::GptNeoX => gpt_neox::role(name),
        };
        role.ok_or_else(|| {
            Error::invalid(
                format!("tensor {name:?}"),
                format!(
                    "no {} rule covers this tensor name; refusing to guess its role",
                    self.name()
                ),
            )
        })
    }
}

/// `rest` after `prefix` and one decimal layer index and a dot: `layers.12.mlp` -> `Some("mlp")`.
pub(crate) fn after_layer<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    let dot = rest.find('.')?;
    rest[..dot]
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then_some(())?;
    (dot > 0).then(|| &rest[dot + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_roles_follow_the_contract() {
        let a = Architecture::Llama;
        assert_eq!(a.role("model.embed_tokens.weight").unwrap(), Role::Embed);
        assert_eq!(
            a.role("model.layers.3.input_layernorm.weight").unwrap(),
            Role::Gain
        );
        assert_eq!(
            a.role("model.layers.3.post_attention_layernorm.weight")
                .unwrap(),
            Role::Gain
        );
        assert_eq!(a.role("model.norm.weight").unwrap(), Role::Gain);
        for p in ["q_proj", "k_proj", "v_proj"] {
            assert_eq!(
                a.role(&format!("model.layers.0.self_attn.{p}.weight"))
                    .unwrap(),
                Role::Read { axis: 1 }
            );
            assert_eq!(
                a.role(&format!("model.layers.0.self_attn.{p}.bias"))
                    .unwrap(),
                Role::None
            );
        }
        assert_eq!(
            a.role("model.layers.11.self_attn.o_proj.weight").unwrap(),
            Role::Write { axis: 0 }
        );
        assert_eq!(
            a.role("model.layers.11.mlp.gate_proj.weight").unwrap(),
            Role::Read { axis: 1 }
        );
        assert_eq!(
            a.role("model.layers.11.mlp.up_proj.weight").unwrap(),
            Role::Read { axis: 1 }
        );
        assert_eq!(
            a.role("model.layers.11.mlp.down_proj.weight").unwrap(),
            Role::Write { axis: 0 }
        );
        assert_eq!(a.role("lm_head.weight").unwrap(), Role::Read { axis: 1 });
        let e = a.role("model.layers.0.mlp.experts.0.weight").unwrap_err();
        assert!(
            e.to_string()
                .contains("model.layers.0.mlp.experts.0.weight"),
            "{e}"
        );
        assert!(a.role("model.layers.x.mlp.up_proj.weight").is_err());
    }

    #[test]
    fn gpt2_roles_follow_the_contract() {
        let a = Architecture::Gpt2;
        for prefix in ["", "transformer."] {
            let r = |s: &str| a.role(&format!("{prefix}{s}")).unwrap();
            assert_eq!(r("wte.weight"), Role::Embed);
            assert_eq!(r("wpe.weight"), Role::Embed);
            assert_eq!(r("h.0.ln_1.weight"), Role::Gain);
            assert_eq!(r("h.0.ln_1.bias"), Role::LnBias);
            assert_eq!(r("ln_f.bias"), Role::LnBias);
            assert_eq!(r("h.0.attn.c_attn.weight"), Role::Read { axis: 0 });
            assert_eq!(r("h.0.attn.c_attn.bias"), Role::None);
            assert_eq!(r("h.0.attn.c_proj.weight"), Role::Write { axis: 1 });
            assert_eq!(r("h.0.attn.c_proj.bias"), Role::Write { axis: 0 });
            assert_eq!(r("h.0.mlp.c_fc.weight"), Role::Read { axis: 0 });
            assert_eq!(r("h.0.mlp.c_fc.bias"), Role::None);
            assert_eq!(r("h.0.mlp.c_proj.weight"), Role::Write { axis: 1 });
            assert_eq!(r("h.0.mlp.c_proj.bias"), Role::Write { axis: 0 });
            assert_eq!(r("h.0.attn.bias"), Role::None);
        }
        assert_eq!(a.role("lm_head.weight").unwrap(), Role::Read { axis: 1 });
    }

    #[test]
    fn gpt_neox_roles_follow_the_contract() {
        let a = Architecture::GptNeoX;
        let r = |s: &str| a.role(s).unwrap();
        assert_eq!(r("gpt_neox.embed_in.weight"), Role::Embed);
        assert_eq!(r("gpt_neox.layers.2.input_layernorm.weight"), Role::Gain);
        assert_eq!(
            r("gpt_neox.layers.2.post_attention_layernorm.bias"),
            Role::LnBias
        );
        assert_eq!(r("gpt_neox.final_layer_norm.bias"), Role::LnBias);
        assert_eq!(
            r("gpt_neox.layers.2.attention.query_key_value.weight"),
            Role::Read { axis: 1 }
        );
        assert_eq!(
            r("gpt_neox.layers.2.attention.query_key_value.bias"),
            Role::None
        );
        assert_eq!(
            r("gpt_neox.layers.2.attention.dense.weight"),
            Role::Write { axis: 0 }
        );
        assert_eq!(
            r("gpt_neox.layers.2.attention.dense.bias"),
            Role::Write { axis: 0 }
        );
        assert_eq!(
            r("gpt_neox.layers.2.mlp.dense_h_to_4h.weight"),
            Role::Read { axis: 1 }
        );
        assert_eq!(
            r("gpt_neox.layers.2.mlp.dense_4h_to_h.bias"),
            Role::Write { axis: 0 }
        );
        assert_eq!(r("embed_out.weight"), Role::Read { axis: 1 });
    }

    #[test]
    fn architectures_from_config() {
        let c = |s: &str| Architecture::from_config(&serde_json::from_str(s).unwrap());
        assert_eq!(
            c(r#"{"architectures": ["Qwen2ForCausalLM"]}"#).unwrap(),
            Architecture::Llama
        );
        assert_eq!(c(r#"{"model_type": "gpt2"}"#).unwrap(), Architecture::Gpt2);
        assert_eq!(
            c(r#"{"architectures": ["BertModel"]}"#).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(Architecture::Llama.group(), Group::Bd);
        assert_eq!(Architecture::Gpt2.group(), Group::PmSd);
    }
}
