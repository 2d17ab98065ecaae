//! A candle `VarBuilder` over a validated [`Checkpoint`]: each tensor is read (as `f32`, whatever its stored float
//! dtype) when a sub-block asks for it, and its stored shape is checked against the one the block expects before
//! any data is read. Tensors no block asks for (buffers such as GPT-2's `attn.bias`) are never read.

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use gauge_core::checkpoint::Checkpoint;

struct CheckpointBackend {
    ckpt: Checkpoint,
}

impl CheckpointBackend {
    fn shape_of(&self, name: &str) -> candle_core::Result<Shape> {
        let (_, info) =
            self.ckpt
                .find(name)
                .ok_or_else(|| candle_core::Error::CannotFindTensor {
                    path: format!("{name} (in {})", self.ckpt.dir.display()),
                })?;
        Ok(Shape::from(info.shape.clone()))
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
        let stored = self.shape_of(name)?;
        if stored != s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("tensor {name} in {}", self.ckpt.dir.display()),
                expected: s,
                got: stored,
            });
        }
        self.get_unchecked(name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let shape = self.shape_of(name)?;
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
