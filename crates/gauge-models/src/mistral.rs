//! Mistral (`MistralForCausalLM`): Llama's blocks with a sliding attention window on every layer
//! (`sliding_window`; query `i` sees keys `i - window < j <= i`).

use candle_nn::VarBuilder;

use crate::blocks::Blocks;
use crate::config::Config;
use crate::error::Result;
use crate::kernels::Kernels;
use crate::llama::{Llama, Options};

/// Builds a Mistral model.
pub(crate) fn load(
    vb: VarBuilder<'static>,
    c: &Config,
    k: Kernels,
    streamed: bool,
) -> Result<Box<dyn Blocks>> {
    let options = Options {
        window_by_default: true,
        ..Options::default()
    };
    Ok(Box::new(Llama::new(vb, c, k, streamed, options)?))
}
