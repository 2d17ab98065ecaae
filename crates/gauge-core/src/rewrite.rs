//! Value-level rewrites of a checkpoint for experiments (rotations, noise): every tensor is read as `f32`, may be
//! replaced, and is written back in its own dtype into one `model.safetensors` of a new directory, streamed tensor
//! by tensor through a temporary sibling renamed at the end. Side files (config, generation config, tokenizer) are
//! copied. The exact, bit-level re-charting by a gauge is [`crate::recharting`], not this.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::checkpoint::{header_bytes, Checkpoint, Dtype, TensorInfo, SINGLE_FILE};
use crate::error::{Error, Result};
use crate::family::Role;
use crate::init::f32_to_bf16;

/// One tensor offered to the rewrite callback.
pub struct Tensor<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its shape.
    pub shape: &'a [usize],
    /// Its role in the residual chart.
    pub role: Role,
    /// Where it lives, for error messages: `"<file>: tensor \"<name>\""`.
    pub location: String,
}

/// Rewrites `input` into the new directory `out`. `f` gets every tensor with its values (row-major `f32`) and
/// returns `Some(values)` (same length) to replace them or `None` to copy the tensor unchanged. Float tensors
/// must be F32 or BF16 to be replaced. Returns the number of tensors replaced.
pub fn rewrite(
    input: &Path,
    out: &Path,
    metadata: HashMap<String, String>,
    mut f: impl FnMut(&Tensor, Vec<f32>) -> Result<Option<Vec<f32>>>,
) -> Result<usize> {
    let ckpt = Checkpoint::open(input)?;
    if out.exists() {
        return Err(Error::OutputExists { path: out.into() });
    }
    // Same dtypes and shapes, so every offset is known before anything is written.
    let mut infos = Vec::new();
    let mut offset = 0u64;
    for (_, t) in ckpt.tensors() {
        let len = t.end - t.start;
        infos.push(TensorInfo {
            start: offset,
            end: offset + len,
            ..t.clone()
        });
        offset += len;
    }
    crate::atomic::write_dir(out, false, |tmp| {
        write(&ckpt, tmp, &infos, metadata, &mut f)
    })
}

fn write(
    ckpt: &Checkpoint,
    dir: &Path,
    infos: &[TensorInfo],
    metadata: HashMap<String, String>,
    f: &mut impl FnMut(&Tensor, Vec<f32>) -> Result<Option<Vec<f32>>>,
) -> Result<usize> {
    copy_side_files(ckpt, dir)?;
    let path = dir.join(SINGLE_FILE);
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w = BufWriter::with_capacity(1 << 22, file);
    let mut metadata = metadata;
    metadata
        .entry("format".into())
        .or_insert_with(|| "pt".into());
    w.write_all(&header_bytes(infos, &metadata))
        .map_err(|e| Error::io(&path, e))?;
    let mut bytes = Vec::new();
    let mut replaced = 0;
    for (shard, t) in ckpt.tensors() {
        let location = format!("{}: tensor {:?}", ckpt.shards[shard].path.display(), t.name);
        let role = ckpt
            .arch
            .role(&t.name)
            .map_err(|e| Error::invalid(&location, e.to_string()))?;
        let new = if t.dtype.is_float() {
            let view = Tensor {
                name: &t.name,
                shape: &t.shape,
                role,
                location: location.clone(),
            };
            f(&view, ckpt.read_f32(&t.name)?)?
        } else {
            None
        };
        match new {
            None => {
                ckpt.read_bytes(shard, t, &mut bytes)?;
            }
            Some(values) => {
                if values.len() != t.shape.iter().product::<usize>() {
                    return Err(Error::shape(
                        location,
                        format!("{} values", t.shape.iter().product::<usize>()),
                        format!("{} values", values.len()),
                    ));
                }
                bytes.clear();
                match t.dtype {
                    Dtype::F32 => bytes.extend(values.iter().flat_map(|v| v.to_le_bytes())),
                    Dtype::BF16 => {
                        bytes.extend(values.iter().flat_map(|&v| f32_to_bf16(v).to_le_bytes()))
                    }
                    other => {
                        return Err(Error::invalid(
                            location,
                            format!(
                                "has dtype {}; rewrites write F32 and BF16 only",
                                other.as_str()
                            ),
                        ))
                    }
                }
                replaced += 1;
            }
        }
        w.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&path, e))?;
    Ok(replaced)
}

fn copy_side_files(ckpt: &Checkpoint, dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(&ckpt.dir).map_err(|e| Error::io(&ckpt.dir, e))? {
        let entry = entry.map_err(|e| Error::io(&ckpt.dir, e))?;
        let name = entry.file_name();
        let keep = name.to_str().is_some_and(|n| {
            n == "config.json"
                || n == "generation_config.json"
                || n.starts_with("tokenizer")
                || n == "special_tokens_map.json"
                || n == "vocab.json"
                || n == "merges.txt"
        });
        if keep {
            std::fs::copy(entry.path(), dir.join(&name)).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}
