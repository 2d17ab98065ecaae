//! A candle `VarBuilder` over a GGUF file, so a GGUF loads without converting it on disk: each tensor is
//! asked for by its Hugging Face name, found under its llama.cpp name (the inverse of [`gguf::hf_name`]), and
//! dequantized to `f32` on demand exactly as [`gguf::convert`] does (Llama Q/K rows unpermuted, Gemma 3 norm weights unshifted), so a GGUF and its
//! converted directory load to bit-identical weights. Its stored shape (outer-first) is checked against the one
//! the block expects before any data is read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::error::Result;
use crate::gguf::{self, gguf_err, GgufLlama};

struct GgufBackend {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    content: Content,
    shape: GgufLlama,
    /// Hugging Face name to GGUF name.
    names: HashMap<String, String>,
}

impl GgufBackend {
    fn gguf_name(&self, name: &str) -> candle_core::Result<&str> {
        self.names.get(name).map(String::as_str).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: format!("{name} (in {})", self.path.display()),
            }
        })
    }

    fn shape_of(&self, name: &str) -> candle_core::Result<Shape> {
        let g = self.gguf_name(name)?;
        Ok(self.content.tensor_infos[g].shape.clone())
    }
}

impl SimpleBackend for GgufBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let stored = self.shape_of(name)?;
        if stored != s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!(
                    "tensor {name} ({} in {})",
                    self.gguf_name(name)?,
                    self.path.display()
                ),
                expected: s,
                got: stored,
            });
        }
        self.get_unchecked(name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let g = self.gguf_name(name)?;
        let mut file = self
            .file
            .lock()
            .map_err(|_| candle_core::Error::Msg("a GGUF reader panicked".into()))?;
        let t = gguf::dequantize(&mut file, &self.content, &self.path, &self.shape, g)
            .map_err(candle_core::Error::wrap)?;
        t.to_device(dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }
}

/// A `VarBuilder` reading the Llama GGUF at `path` (header already read into `content`, shape from its
/// metadata) as `f32` onto `device`, by Hugging Face names. A tensor no GGUF-to-Hugging-Face rule covers is an
/// error naming it, as in [`gguf::convert`].
pub(crate) fn var_builder(
    path: &Path,
    file: std::fs::File,
    content: Content,
    shape: GgufLlama,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    let mut names = HashMap::with_capacity(content.tensor_infos.len());
    for g in content.tensor_infos.keys() {
        let hf = gguf::hf_name(shape.arch, g).ok_or_else(|| {
            gguf_err(
                path,
                format!("tensor {g:?}: no GGUF-to-Hugging-Face rule covers this name"),
            )
        })?;
        names.insert(hf, g.clone());
    }
    let backend = GgufBackend {
        path: path.into(),
        file: Mutex::new(file),
        content,
        shape,
        names,
    };
    Ok(VarBuilder::from_backend(
        Box::new(backend),
        DType::F32,
        device.clone(),
    ))
}
