//! Qwen3 (`Qwen3ForCausalLM`): Llama's blocks with per-head RMSNorms `q_norm`, `k_norm` `[head_dim]` on queries
//! and keys before RoPE.

use candle_nn::VarBuilder;

use crate::blocks::Blocks;
use crate::config::Config;
use crate::error::Result;
use crate::kernels::Kernels;
use crate::llama::{Llama, Options};

/// Builds a Qwen3 model.
pub(crate) fn load(
    vb: VarBuilder<'static>,
    c: &Config,
    k: Kernels,
    streamed: bool,
) -> Result<Box<dyn Blocks>> {
    let options = Options {
        qk_norm: true,
        head_dim: Some(128),
        ..Options::default()
    };
    Ok(Box::new(Llama::new(vb, c, k, streamed, options)?))
}
