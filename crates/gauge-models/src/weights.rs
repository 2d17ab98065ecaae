//! A candle `VarBuilder` over a validated [`Checkpoint`]: each tensor is read (as `f32`, whatever its stored float
//! dtype) when a sub-block asks for it, and its stored shape is checked against the one the block expects before
//! any data is read. Tensors no block asks for (buffers such as GPT-2's `attn.bias`) are never read.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use gauge_core::checkpoint::{Checkpoint, INDEX_FILE, SINGLE_FILE};

struct CheckpointBackend {
    ckpt: Checkpoint,
}

impl CheckpointBackend {
    /// The file that should hold every tensor: `model.safetensors`, or the index of a sharded checkpoint.
    fn weights_file(&self) -> PathBuf {
        let single = self.ckpt.dir.join(SINGLE_FILE);
        if self.ckpt.shards.len() == 1 && self.ckpt.shards[0].path == single {
            single
        } else {
            self.ckpt.dir.join(INDEX_FILE)
        }
    }

    /// The stored shape of `name` and the file holding it.
    fn shape_of(&self, name: &str) -> candle_core::Result<(Shape, &Path)> {
        let (shard, info) =
            self.ckpt
                .find(name)
                .ok_or_else(|| candle_core::Error::CannotFindTensor {
                    path: format!("{name:?} in {}", self.weights_file().display()),
                })?;
        Ok((
            Shape::from(info.shape.clone()),
            &self.ckpt.shards[shard].path,
        ))
    }
}

impl SimpleBackend for CheckpointBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let (stored, file) = self.shape_of(name)?;
        if stored != s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("{}: tensor {name:?} has the wrong shape", file.display()),
                expected: s,
                got: stored,
            });
        }
        self.get_unchecked(name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let (shape, _) = self.shape_of(name)?;
        let values = self.ckpt.read_f32(name).map_err(candle_core::Error::wrap)?;
        Tensor::from_vec(values, shape, dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.ckpt.find(name).is_some()
    }
}

/// A `VarBuilder` that reads `ckpt`'s tensors as `f32` onto `device`, by their Hugging Face names.
pub(crate) fn var_builder(ckpt: &Checkpoint, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(CheckpointBackend { ckpt: ckpt.clone() }),
        DType::F32,
        device.clone(),
    )
}
