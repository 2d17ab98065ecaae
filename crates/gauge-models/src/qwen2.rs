//! Qwen2 (`Qwen2ForCausalLM`): Llama's blocks with q, k and v biases, and a sliding window on the layers from
//! `max_window_layers` on when `use_sliding_window` is true.

use candle_nn::VarBuilder;

use crate::blocks::Blocks;
use crate::config::Config;
use crate::error::Result;
use crate::kernels::Kernels;
use crate::llama::{Llama, Options};

/// Builds a Qwen2 model.
pub(crate) fn load(
    vb: VarBuilder<'static>,
    c: &Config,
    k: Kernels,
    streamed: bool,
) -> Result<Box<dyn Blocks>> {
    Ok(Box::new(Llama::new(
        vb,
        c,
        k,
        streamed,
        Options::default(),
    )?))
}
