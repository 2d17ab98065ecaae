//! The streamed, exact movement of tensors by a gauge, below both re-charting (`crate::recharting`, whole
//! checkpoints) and transport (`crate::transport`, the tools: optimizer state, SAEs, steering files): a shard is
//! read block by block from its memory map, every float tensor gathered along its residual axis with the sign bit
//! flipped where the gauge is negative (`kernel.rs`), on a few threads with bounded memory (`shard.rs`), and
//! written with aligned, unbuffered writes where the platform allows (`sink.rs`).

pub(crate) mod kernel;
pub(crate) mod shard;
mod sink;

use std::path::Path;

use crate::error::{Error, Result};
use crate::gauge::Gauge;

/// Writes the safetensors file `input` to `out` with every tensor moved by `gauge` as `action` says (`None`:
/// copied; `Some((axis, signed))`: moved along `axis`, with signs or as `|g|`), streaming through the same
/// kernel as [`crate::recharting::apply`], with `metadata` added to the input's. `action` sees every tensor before anything is
/// written and may refuse one; a moving tensor must be a float with length `d` on its axis (checked here, naming
/// the file and tensor). Written to a temporary sibling and renamed: an existing `out` is an error unless
/// `overwrite`, and `out` may not be `input`. Returns the number of tensors moved.
pub fn rewrite_file(
    input: &Path,
    out: &Path,
    gauge: &Gauge,
    metadata: &[(String, String)],
    overwrite: bool,
    action: impl Fn(&crate::checkpoint::TensorInfo) -> Result<Option<(usize, bool)>>,
) -> Result<usize> {
    let header = crate::checkpoint::read_header(input)?;
    let d = gauge.dim();
    let mut moves = Vec::with_capacity(header.tensors.len());
    let mut moved = 0;
    for t in &header.tensors {
        let a = action(t)?;
        if let Some((axis, _)) = a {
            let where_ = format!("{}: tensor {:?}", input.display(), t.name);
            if axis >= t.shape.len() || t.shape[axis] != d {
                return Err(Error::shape(
                    where_,
                    format!("length {d} (the gauge's d) on axis {axis}"),
                    format!("shape {:?}", t.shape),
                ));
            }
            if !t.dtype.is_float() {
                return Err(Error::invalid(
                    where_,
                    format!(
                        "has dtype {}, but a moving tensor must be a float",
                        t.dtype.as_str()
                    ),
                ));
            }
            moved += 1;
        }
        moves.push(kernel::Move::new(t, a));
    }
    if let (Ok(a), Ok(b)) = (input.canonicalize(), out.canonicalize()) {
        if a == b {
            return Err(Error::invalid(
                out.display().to_string(),
                "is the input file; refusing to write over it",
            ));
        }
    }
    if !overwrite && out.exists() {
        return Err(Error::OutputExists { path: out.into() });
    }
    let mut meta = header.metadata.clone();
    for (k, v) in metadata {
        meta.insert(k.clone(), v.clone());
    }
    let bytes = crate::checkpoint::header_bytes(&header.tensors, &meta);
    let shard = crate::checkpoint::Shard {
        path: input.to_path_buf(),
        header,
    };
    crate::atomic::write_path(out, overwrite, |tmp| {
        shard::write_shard(
            &shard,
            &bytes,
            &moves,
            &kernel::Tables::new(gauge),
            tmp,
            shard::Tuning::default(),
        )
    })?;
    Ok(moved)
}
