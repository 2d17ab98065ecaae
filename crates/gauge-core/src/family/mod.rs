//! Model families: everything the core knows about one architecture, one file per family (GAUGE.md §1, §3).
//!
//! A family is a [`Family`]: the `config.json` names it answers to, its normalisation (hence its gauge group), the
//! tensors a checkpoint must hold and the shape of each in terms of the config's dimensions, the [`Role`] of every
//! tensor name, its buffers, and the `config.json` that `init` writes for it. Each tensor has exactly one role; a
//! tensor whose name no rule of its family covers is an error, never silently copied.
//!
//! Adding a family is one file here plus one line in [`FAMILIES`] (and its forward pass in `gauge-models`).
//! Families that reuse another's tensors (Mistral on Llama) delegate to it and stay small.

mod bert;
pub(crate) mod dims;
mod gemma2;
mod gemma3;
mod gpt2;
mod gpt_neox;
mod llama;
mod mistral;
mod olmo2;
mod phi3;
mod qwen2;
mod qwen3;

pub use dims::{ConfigDims, Dim};

use crate::error::{Error, Result};
use crate::gauge::Group;
use crate::init::ModelShape;

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

/// The tensors a checkpoint of an architecture must hold, by name.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
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
    /// The output head, required when `tie_word_embeddings` is false (empty for encoders without one).
    pub head: &'static str,
}

/// The normalisation of a family, which decides its gauge group (GAUGE.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// RMSNorm with per-channel gains: gauge group `Bd` (when the gains are generic).
    RmsNorm,
    /// LayerNorm: gauge group `±Sd`.
    LayerNorm,
}

/// Everything the core knows about one model family. Implemented by one unit struct per file.
pub trait Family: Sync + Send + 'static {
    /// A short name: `llama`, `gemma3`, `gpt2`, ….
    fn name(&self) -> &'static str;
    /// The `architectures[0]` class names of `config.json` this family reads.
    fn classes(&self) -> &'static [&'static str];
    /// The `model_type` values it reads when `architectures` is absent.
    fn model_types(&self) -> &'static [&'static str];
    /// The normalisation.
    fn norm(&self) -> Norm;
    /// What a stored norm weight `w` is offset by to give the gain: Gemma stores `w` and scales by `1 + w`
    /// (offset 1); everyone else stores the gain itself (offset 0). Group detection and gain statistics look at
    /// `offset + w`; re-charting permutes `w` without sign either way.
    fn gain_offset(&self) -> f32 {
        0.0
    }
    /// The tensors a checkpoint must hold.
    fn layout(&self) -> Layout;
    /// The shape parameter `name` must have (after [`Layout::prefix`] is stripped), or `None` for buffers and
    /// names no rule covers.
    fn shape(&self, name: &str) -> Option<&'static [Dim]>;
    /// The role of tensor `name` (with any prefix), or `None` when no rule covers it.
    fn role(&self, name: &str) -> Option<Role>;
    /// Whether tensor `name` is a buffer (a constant the model computes from its config, such as a causal mask or
    /// RoPE frequencies), which has no optimizer state.
    fn is_buffer(&self, name: &str) -> bool {
        name.ends_with(".rotary_emb.inv_freq")
    }
    /// The `config.json` key of the residual width.
    fn hidden_key(&self) -> &'static str {
        "hidden_size"
    }
    /// What `config.json` fixes about the tensors' dimensions (lenient: absent keys are left to the tensors).
    fn config_dims(&self, config: &serde_json::Value) -> ConfigDims {
        ConfigDims::standard(config, self.hidden_key(), self.default_head_dim())
    }
    /// `head_dim` when the config has none, where Transformers' class does not default it to
    /// `hidden / heads` (Qwen3: 128, Gemma: 256).
    fn default_head_dim(&self) -> Option<usize> {
        None
    }
    /// How the config names a dimension, for messages.
    fn label(&self, dim: Dim) -> &'static str {
        dim.standard_label()
    }
    /// Whether the output head is the token embedding when `tie_word_embeddings` is absent.
    fn tied_by_default(&self) -> bool {
        false
    }
    /// The typed shape of a checkpoint of this family, from its `config.json`.
    fn model_shape(&self, config: &serde_json::Value) -> Result<ModelShape> {
        ModelShape::standard(Architecture(family_static(self.name())), config)
    }
    /// The `config.json` that `init` writes for `shape`, or `None` when `init` does not write this family.
    fn init_config(&self, _shape: &ModelShape) -> Option<serde_json::Value> {
        None
    }
}

/// Every family, in the order `config.json` names are tried. One line per family.
pub static FAMILIES: &[&dyn Family] = &[
    &llama::Llama,
    &mistral::Mistral,
    &qwen2::Qwen2,
    &qwen3::Qwen3,
    &gemma2::Gemma2,
    &gemma3::Gemma3,
    &phi3::Phi3,
    &olmo2::Olmo2,
    &bert::Bert,
    &gpt2::Gpt2,
    &gpt_neox::GptNeoX,
];

fn family_static(name: &str) -> &'static dyn Family {
    *FAMILIES
        .iter()
        .find(|f| f.name() == name)
        .expect("every family is registered")
}

/// A handle on a registered [`Family`]: what a checkpoint's `config.json` names. Cheap to copy; compares by name.
#[derive(Clone, Copy)]
pub struct Architecture(&'static dyn Family);

impl PartialEq for Architecture {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for Architecture {}

impl std::fmt::Debug for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Architecture({})", self.name())
    }
}

impl Architecture {
    /// `LlamaForCausalLM`.
    pub const LLAMA: Self = Self(&llama::Llama);
    /// `MistralForCausalLM`.
    pub const MISTRAL: Self = Self(&mistral::Mistral);
    /// `Qwen2ForCausalLM`.
    pub const QWEN2: Self = Self(&qwen2::Qwen2);
    /// `Qwen3ForCausalLM`.
    pub const QWEN3: Self = Self(&qwen3::Qwen3);
    /// `Gemma2ForCausalLM`.
    pub const GEMMA2: Self = Self(&gemma2::Gemma2);
    /// `Gemma3ForCausalLM` (text).
    pub const GEMMA3: Self = Self(&gemma3::Gemma3);
    /// `Phi3ForCausalLM`.
    pub const PHI3: Self = Self(&phi3::Phi3);
    /// `Olmo2ForCausalLM`.
    pub const OLMO2: Self = Self(&olmo2::Olmo2);
    /// `BertModel`.
    pub const BERT: Self = Self(&bert::Bert);
    /// `GPT2LMHeadModel`.
    pub const GPT2: Self = Self(&gpt2::Gpt2);
    /// `GPTNeoXForCausalLM`.
    pub const GPT_NEOX: Self = Self(&gpt_neox::GptNeoX);

    /// The family by its short name ([`Family::name`]).
    pub fn by_name(name: &str) -> Option<Self> {
        FAMILIES.iter().find(|f| f.name() == name).map(|f| Self(*f))
    }

    /// The family behind the handle.
    pub fn family(self) -> &'static dyn Family {
        self.0
    }

    /// Recognises a family from a Hugging Face `config.json` (`architectures[0]`, else `model_type`).
    pub fn from_config(config: &serde_json::Value) -> Result<Self> {
        let arch = config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str());
        let model_type = config.get("model_type").and_then(|m| m.as_str());
        let found = match (arch, model_type) {
            (Some(a), _) => FAMILIES.iter().find(|f| f.classes().contains(&a)),
            (None, Some(m)) => FAMILIES.iter().find(|f| f.model_types().contains(&m)),
            (None, None) => None,
        };
        if let Some(f) = found {
            return Ok(Self(*f));
        }
        let found = match (arch, model_type) {
            (Some(a), _) => format!("architectures[0] {a:?} is not a supported architecture"),
            (None, Some(m)) => format!(
                "model_type {m:?} is not a supported architecture (and there is no architectures list)"
            ),
            (None, None) => "names no architecture (neither architectures nor model_type)".into(),
        };
        let supported: Vec<String> = FAMILIES
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.classes().join(", "),
                    f.model_types().join(", ")
                )
            })
            .collect();
        Err(Error::invalid(
            "config.json",
            format!("{found}; supported: {}", supported.join("; ")),
        ))
    }

    /// The normalisation, hence the gauge group.
    pub fn norm(self) -> Norm {
        self.0.norm()
    }

    /// See [`Family::gain_offset`].
    pub fn gain_offset(self) -> f32 {
        self.0.gain_offset()
    }

    /// The largest gauge group under which this family's function is invariant (given generic gains).
    pub fn group(self) -> Group {
        match self.norm() {
            Norm::RmsNorm => Group::Bd,
            Norm::LayerNorm => Group::PmSd,
        }
    }

    /// The family's short name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The `config.json` key of the residual width.
    pub fn hidden_key(self) -> &'static str {
        self.0.hidden_key()
    }

    /// The tensors a checkpoint of this family must hold.
    pub fn layout(self) -> Layout {
        self.0.layout()
    }

    /// See [`Family::shape`].
    pub fn expected_shape(self, name: &str) -> Option<&'static [Dim]> {
        self.0.shape(name)
    }

    /// The role of tensor `name`, or an error naming it when no rule covers it.
    pub fn role(self, name: &str) -> Result<Role> {
        self.0.role(name).ok_or_else(|| {
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
        let a = Architecture::LLAMA;
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
        let a = Architecture::GPT2;
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
        let a = Architecture::GPT_NEOX;
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
            Architecture::QWEN2
        );
        assert_eq!(
            c(r#"{"model_type": "gemma3_text"}"#).unwrap(),
            Architecture::GEMMA3
        );
        assert_eq!(
            c(r#"{"architectures": ["BertModel"]}"#).unwrap(),
            Architecture::BERT
        );
        assert_eq!(c(r#"{"model_type": "gpt2"}"#).unwrap(), Architecture::GPT2);
        assert_eq!(
            c(r#"{"architectures": ["T5ForConditionalGeneration"]}"#)
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(Architecture::LLAMA.group(), Group::Bd);
        assert_eq!(Architecture::GPT2.group(), Group::PmSd);
        assert_eq!(Architecture::BERT.group(), Group::PmSd);
        assert_eq!(Architecture::GEMMA2.group(), Group::Bd);
        // Every registered family is found by its own class and model_type names, and by name.
        for f in FAMILIES {
            for class in f.classes() {
                let json = serde_json::json!({ "architectures": [class] });
                assert_eq!(Architecture::from_config(&json).unwrap().name(), f.name());
            }
            for t in f.model_types() {
                let json = serde_json::json!({ "model_type": t });
                assert_eq!(Architecture::from_config(&json).unwrap().name(), f.name());
            }
            assert_eq!(Architecture::by_name(f.name()).unwrap().name(), f.name());
        }
    }

    #[test]
    fn every_layout_tensor_has_a_shape_and_a_role() {
        for f in FAMILIES {
            let l = f.layout();
            let names = l
                .model
                .iter()
                .map(|n| n.to_string())
                .chain(l.block.iter().map(|b| format!("{}0.{b}", l.layer_prefix)))
                .chain((!l.head.is_empty()).then(|| l.head.to_string()));
            for n in names {
                assert!(f.shape(&n).is_some(), "{}: {n} has no shape", f.name());
                let full = if n == l.head {
                    n.clone()
                } else {
                    format!("{}{n}", l.prefix)
                };
                assert!(f.role(&full).is_some(), "{}: {full} has no role", f.name());
                if l.prefix.is_empty() {
                    continue;
                }
                assert!(f.role(&n).is_some(), "{}: {n} has no role", f.name());
            }
        }
    }

    #[test]
    fn new_families_follow_the_contract() {
        let r = |a: Architecture, s: &str| a.role(s).unwrap();
        for a in [Architecture::GEMMA2, Architecture::GEMMA3] {
            for n in [
                "post_attention_layernorm",
                "pre_feedforward_layernorm",
                "post_feedforward_layernorm",
            ] {
                assert_eq!(r(a, &format!("model.layers.1.{n}.weight")), Role::Gain);
            }
            assert_eq!(a.gain_offset(), 1.0);
        }
        for a in [
            Architecture::QWEN3,
            Architecture::GEMMA3,
            Architecture::OLMO2,
        ] {
            assert_eq!(r(a, "model.layers.0.self_attn.q_norm.weight"), Role::None);
            assert_eq!(r(a, "model.layers.0.self_attn.k_norm.weight"), Role::None);
        }
        assert!(Architecture::LLAMA
            .role("model.layers.0.self_attn.q_norm.weight")
            .is_err());
        assert_eq!(
            r(
                Architecture::OLMO2,
                "model.layers.0.post_feedforward_layernorm.weight"
            ),
            Role::Gain
        );
        assert!(Architecture::OLMO2
            .role("model.layers.0.input_layernorm.weight")
            .is_err());
        let phi = Architecture::PHI3;
        assert_eq!(
            r(phi, "model.layers.0.self_attn.qkv_proj.weight"),
            Role::Read { axis: 1 }
        );
        assert_eq!(
            r(phi, "model.layers.0.mlp.gate_up_proj.weight"),
            Role::Read { axis: 1 }
        );
        assert_eq!(
            r(phi, "model.layers.0.mlp.down_proj.weight"),
            Role::Write { axis: 0 }
        );
        let bert = Architecture::BERT;
        for prefix in ["", "bert."] {
            let r = |s: &str| bert.role(&format!("{prefix}{s}")).unwrap();
            assert_eq!(r("embeddings.token_type_embeddings.weight"), Role::Embed);
            assert_eq!(r("embeddings.LayerNorm.bias"), Role::LnBias);
            assert_eq!(
                r("encoder.layer.3.attention.self.key.weight"),
                Role::Read { axis: 1 }
            );
            assert_eq!(r("encoder.layer.3.attention.self.key.bias"), Role::None);
            assert_eq!(
                r("encoder.layer.3.attention.output.dense.bias"),
                Role::Write { axis: 0 }
            );
            assert_eq!(r("encoder.layer.3.output.LayerNorm.weight"), Role::Gain);
            assert_eq!(
                r("encoder.layer.3.intermediate.dense.weight"),
                Role::Read { axis: 1 }
            );
            assert_eq!(r("pooler.dense.weight"), Role::Read { axis: 1 });
        }
        assert!(bert.family().is_buffer("embeddings.position_ids"));
        assert!(Architecture::GPT2
            .family()
            .is_buffer("transformer.h.0.attn.bias"));
        assert!(!Architecture::GPT2
            .family()
            .is_buffer("transformer.h.0.attn.c_attn.bias"));
    }
}
