//! Mistral (`MistralForCausalLM`): Llama's tensors; its forward adds a sliding attention window.

use super::llama::{decoder_config, decoder_layout, decoder_role, decoder_shape, BLOCK};
use super::{Dim, Family, Layout, Norm, Role};
use crate::init::ModelShape;

/// The Mistral family.
pub(super) struct Mistral;

impl Family for Mistral {
    fn name(&self) -> &'static str {
        "mistral"
    }
    fn classes(&self) -> &'static [&'static str] {
        &["MistralForCausalLM"]
    }
    fn model_types(&self) -> &'static [&'static str] {
        &["mistral"]
    }
    fn norm(&self) -> Norm {
        Norm::RmsNorm
    }
    fn layout(&self) -> Layout {
        decoder_layout(BLOCK)
    }
    fn shape(&self, name: &str) -> Option<&'static [Dim]> {
        decoder_shape(name)
    }
    fn role(&self, name: &str) -> Option<Role> {
        decoder_role(name)
    }
    fn init_config(&self, s: &ModelShape) -> Option<serde_json::Value> {
        Some(decoder_config(s, "MistralForCausalLM", "mistral"))
    }
}
