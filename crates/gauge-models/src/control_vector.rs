//! llama.cpp control vectors: a GGUF with `general.architecture = "controlvector"`, `controlvector.model_hint`,
//! `controlvector.layer_count`, and one F32 tensor `direction.N` of length `d` per steered layer.
//!
//! **Layer convention.** llama.cpp adds `direction.N` to the output of its block `N - 1` (0-based), that is after
//! the `N`-th block counting from 1; `N` starts at 1 (a `direction.0` is never applied). In this project's site
//! names that is the residual stream `h_N` (`h_0` is the embeddings' output, `h_l` the residual after block `l`
//! counting from 1). Every direction lives in the residual chart, so it moves as a steering vector: `v' = g·v`
//! (GAUGE.md §4).
//!
//! Transport keeps every metadata key with its type and value, and every tensor in its order; only the direction
//! values change. A tensor that is not a direction, a direction that is not F32 of length `d`, or another
//! architecture is refused with the reason rather than guessed at.

use std::io::Cursor;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use gauge_core::gauge::Gauge;

use crate::error::{Error, Result};
use crate::gguf::{gguf_err, open};

/// `general.architecture` of a control vector.
pub const ARCHITECTURE: &str = "controlvector";

/// What [`transport`] moved.
#[derive(Clone, Debug)]
pub struct ControlVectorReport {
    /// The layers `N` of the `direction.N` tensors, in file order.
    pub layers: Vec<usize>,
    /// The residual width.
    pub d: usize,
    /// `controlvector.model_hint`, if the file has one.
    pub model_hint: Option<String>,
}

/// The layer `N` of a tensor named `direction.N` (`N >= 1`).
fn direction_layer(name: &str) -> Option<usize> {
    let n: usize = name.strip_prefix("direction.")?.parse().ok()?;
    (n >= 1).then_some(n)
}

/// Moves the control vector `input` by `gauge` into the new GGUF `out` (atomic; an existing `out` is
/// `OUTPUT_EXISTS` unless `overwrite`). See the module docs for the layer convention and what is refused.
pub fn transport(
    input: &Path,
    gauge: &Gauge,
    out: &Path,
    overwrite: bool,
) -> Result<ControlVectorReport> {
    let (mut file, content) = open(input)?;
    match content.metadata.get("general.architecture") {
        Some(Value::String(a)) if a == ARCHITECTURE => {}
        Some(Value::String(a)) => {
            return Err(gguf_err(
                input,
                format!("has general.architecture {a:?}, not {ARCHITECTURE:?}: not a llama.cpp control vector"),
            ))
        }
        _ => return Err(gguf_err(input, "has no general.architecture string: not a llama.cpp control vector")),
    }
    if let Some(v) = content.metadata.get("general.alignment") {
        if v.to_u64().ok() != Some(gguf_file::DEFAULT_ALIGNMENT) {
            return Err(gguf_err(
                input,
                format!(
                    "has general.alignment {v:?}; only the default of {} is written back",
                    gguf_file::DEFAULT_ALIGNMENT
                ),
            ));
        }
    }
    let d = gauge.dim();
    // The file's tensor order: candle keeps infos in a map, so order them by their offsets in the data section.
    let mut names: Vec<(&String, u64)> = content
        .tensor_infos
        .iter()
        .map(|(n, t)| (n, t.offset))
        .collect();
    names.sort_by_key(|&(n, offset)| (offset, n.clone()));
    if names.is_empty() {
        return Err(gguf_err(
            input,
            "has no tensors: a control vector has one direction.N per layer",
        ));
    }
    let mut layers = Vec::with_capacity(names.len());
    let mut moved: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for (name, _) in names {
        let info = &content.tensor_infos[name];
        let where_ = || format!("{}: tensor {name:?}", input.display());
        let invalid = |reason: String| {
            Error::Core(gauge_core::Error::InvalidArgument {
                what: where_(),
                reason,
            })
        };
        let layer = direction_layer(name).ok_or_else(|| {
            invalid("is not a direction.N (N >= 1) tensor of a control vector; refusing to guess how it moves".into())
        })?;
        if info.ggml_dtype != GgmlDType::F32 {
            return Err(invalid(format!(
                "has type {:?}, but control-vector directions are F32",
                info.ggml_dtype
            )));
        }
        if info.shape.dims() != [d] {
            return Err(Error::Core(gauge_core::Error::ShapeMismatch {
                what: where_(),
                expected: format!("[{d}] (the gauge's d)"),
                got: format!("{:?}", info.shape.dims()),
            }));
        }
        let t = content
            .tensor(&mut file, name, &Device::Cpu)
            .map_err(|e| gguf_err(input, format!("tensor {name:?}: {e}")))?;
        let v: Vec<f32> = t.dequantize(&Device::Cpu)?.to_vec1()?;
        let g_v = gauge.apply_vector(&v)?;
        let q = QTensor::quantize(&Tensor::from_vec(g_v, d, &Device::Cpu)?, GgmlDType::F32)?;
        layers.push(layer);
        moved.push((name.clone(), q));
    }
    if let Some(count) = content.metadata.get("controlvector.layer_count") {
        let count = count
            .to_u64()
            .map_err(|_| gguf_err(input, "controlvector.layer_count is not an integer"))?
            as usize;
        if let Some(&top) = layers.iter().max() {
            if top > count {
                return Err(gguf_err(
                    input,
                    format!("has direction.{top}, beyond controlvector.layer_count = {count}"),
                ));
            }
        }
    }
    let model_hint = match content.metadata.get("controlvector.model_hint") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    // Metadata in a stable order (candle reads it into a map), every key and value as read.
    let mut keys: Vec<&String> = content.metadata.keys().collect();
    keys.sort();
    let metadata: Vec<(&str, &Value)> = keys
        .iter()
        .map(|k| (k.as_str(), &content.metadata[*k]))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = moved.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut bytes = Cursor::new(Vec::new());
    gguf_file::write(&mut bytes, &metadata, &tensors)?;
    gauge_core::atomic::write_file(out, bytes.get_ref(), overwrite)?;
    Ok(ControlVectorReport {
        layers,
        d,
        model_hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_names() {
        assert_eq!(direction_layer("direction.1"), Some(1));
        assert_eq!(direction_layer("direction.30"), Some(30));
        assert_eq!(direction_layer("direction.0"), None);
        assert_eq!(direction_layer("direction.x"), None);
        assert_eq!(direction_layer("output.weight"), None);
    }
}
