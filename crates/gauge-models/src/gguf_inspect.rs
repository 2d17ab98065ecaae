//! `inspect` for a GGUF file: the report `gauge_core::inspect::inspect` gives for a checkpoint directory,
//! read from the GGUF's header without dequantizing anything but the norm gains.
//!
//! Differences that follow from the format: `dtypes` are the GGUF quantisations present (llama.cpp's names,
//! `F32`, `Q4_1`, `Q6_K`, ...), `shards` is 1, and `parameters` counts the elements of every tensor as stored.
//! The architecture, shape, gain statistics, group and `continuous_reason` are what inspecting the directory
//! [`crate::gguf::convert`] writes would give, by the same `gauge_core` rules.

use std::collections::BTreeSet;
use std::path::Path;

use gauge_core::family::{Norm, Role};
use gauge_core::init::ModelShape;
use gauge_core::inspect::{constant_gains_reason, gauge_of_gains, Inspection};

use crate::error::Result;
use crate::gguf::{self, gguf_err};

/// Describes the GGUF file at `path` (see the module documentation for what differs from a directory's
/// report).
pub fn inspect(path: &Path) -> Result<Inspection> {
    let (mut file, content) = gguf::open(path)?;
    let shape = gguf::read_shape(&content, path)?;
    let config = gguf::config_json(&shape);
    let arch = shape.arch.family();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    // The order `convert` writes tensors in, so gain statistics are summed as for the converted directory.
    names.sort();
    let mut dtypes = BTreeSet::new();
    let mut parameters = 0u64;
    let mut gains = Vec::new();
    for g in names {
        let info = &content.tensor_infos[g];
        let hf = gguf::hf_name(shape.arch, g).ok_or_else(|| {
            gguf_err(
                path,
                format!("tensor {g:?}: no GGUF-to-Hugging-Face rule covers this name"),
            )
        })?;
        dtypes.insert(gguf::dtype_name(info.ggml_dtype));
        parameters += info.shape.elem_count() as u64;
        if arch.role(&hf)? == Role::Gain {
            let t = gguf::dequantize(&mut file, &content, path, &shape, g)?;
            let offset = arch.gain_offset();
            gains.push(
                t.flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .map(|w| w + offset)
                    .collect(),
            );
        }
    }
    let continuous_reason = constant_gains_reason(arch.norm(), &gains);
    let (gains, group) = gauge_of_gains(arch.norm(), &gains, continuous_reason.is_some());
    Ok(Inspection {
        architecture: arch.name().to_string(),
        class: config["architectures"][0].as_str().map(String::from),
        shape: ModelShape::from_config(&config).ok(),
        d: shape.hidden,
        dtypes: dtypes.into_iter().collect(),
        parameters,
        shards: 1,
        norm: match arch.norm() {
            Norm::RmsNorm => "RMSNorm",
            Norm::LayerNorm => "LayerNorm",
        },
        gains,
        group,
        continuous_reason,
    })
}
