//! `apply(g, θ)`: rewrites a checkpoint into the chart `g` maps to (GAUGE.md §2-3). The result's hidden states
//! are exactly `g·h` and its outputs equal the input's.
//!
//! It streams tensor by tensor (peak memory about twice the largest tensor), keeps the input's sharding, dtypes
//! and tensor offsets, and is exact: moving a float tensor is a gather plus, for negative signs, a flip of the
//! sign bit. Output goes to a temporary sibling directory renamed into place at the end; the input and any
//! existing non-empty directory are never written over.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint::{header_bytes, Checkpoint, TensorInfo};
use crate::error::{Error, Result};
use crate::gauge::Gauge;
use crate::gauge_file::{self, GaugeMeta};
use crate::roles::{Norm, Role};

/// The name of the gauge file written beside the re-charted weights.
pub const GAUGE_FILE: &str = "gauge.safetensors";

/// Options of [`apply`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Write a gauge outside the model's symmetry group anyway (the result then computes a different function),
    /// or re-chart a model whose gauge is continuous. For experiments.
    pub force: bool,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    /// Tensors written.
    pub tensors: usize,
    /// Tensors that moved (role other than `none`).
    pub moved: usize,
    /// Tensor bytes written.
    pub bytes: u64,
    /// Safetensors files written.
    pub shards: usize,
    /// The output directory.
    pub out: PathBuf,
}

/// Why a model's per-coordinate gauge is not the signed-permutation group: all norm gains equal (a fresh
/// initialisation, or gains folded into the next weights), so any rotation is a symmetry and coordinates carry
/// no identity. `None` when the gains are generic or the model is not an RMSNorm model.
pub fn continuous_gauge_reason(ckpt: &Checkpoint) -> Result<Option<String>> {
    if ckpt.arch.norm() != Norm::RmsNorm {
        return Ok(None);
    }
    let mut gains = 0;
    for (_, t) in ckpt.tensors() {
        if ckpt.arch.role(&t.name)? != Role::Gain {
            continue;
        }
        gains += 1;
        let g = ckpt.read_f32(&t.name)?;
        if g.iter().any(|&x| x != g[0]) {
            return Ok(None);
        }
    }
    Ok(Some(format!(
        "all {gains} RMSNorm gain vectors are constant, so every rotation of the residual stream is a symmetry \
         (gauge group O(d)): coordinates have no identity and coordinate transport is ill-posed"
    )))
}

/// Writes `apply(gauge, input)` to `out`.
pub fn apply(input: &Path, gauge: &Gauge, out: &Path, opts: ApplyOptions) -> Result<ApplyReport> {
    let ckpt = Checkpoint::open(input)?;
    let d = ckpt.hidden_size()?;
    if gauge.dim() != d {
        return Err(Error::shape(
            "gauge",
            format!("d = {d} (hidden size of {})", input.display()),
            format!("d = {}", gauge.dim()),
        ));
    }
    if !opts.force && !gauge.group().is_subgroup_of(ckpt.arch.group()) {
        return Err(Error::invalid(
            "gauge",
            format!(
                "is in group {} but {} is a LayerNorm model, whose gauge group is ±Sd: flipping single \
                 coordinates does not commute with mean subtraction, so the result would compute a different \
                 function (pass force to write it anyway)",
                gauge.group().as_str(),
                input.display()
            ),
        ));
    }
    if !opts.force {
        if let Some(reason) = continuous_gauge_reason(&ckpt)? {
            return Err(Error::invalid(
                input.display().to_string(),
                format!("{reason} (pass force to re-chart it anyway)"),
            ));
        }
    }
    let roles = plan(&ckpt, d)?;
    check_output(input, out)?;
    let tmp = crate::atomic::temp_sibling(out);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = write_all(&ckpt, gauge, &roles, &tmp, out).and_then(|mut report| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(|e| Error::io(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        report.out = out.into();
        Ok(report)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// The role of every tensor, with its residual axis checked against `d`, before anything is written.
fn plan(ckpt: &Checkpoint, d: usize) -> Result<HashMap<String, Role>> {
    let mut roles = HashMap::new();
    for (shard, t) in ckpt.tensors() {
        let role = ckpt.arch.role(&t.name).map_err(|e| {
            Error::invalid(ckpt.shards[shard].path.display().to_string(), e.to_string())
        })?;
        if let Some((axis, _)) = role.action() {
            let where_ = format!("{}: tensor {:?}", ckpt.shards[shard].path.display(), t.name);
            if axis >= t.shape.len() || t.shape[axis] != d {
                return Err(Error::shape(
                    where_,
                    format!("length {d} on axis {axis} (its {} role)", role.name()),
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
        }
        roles.insert(t.name.clone(), role);
    }
    Ok(roles)
}

fn check_output(input: &Path, out: &Path) -> Result<()> {
    let same = match (input.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::invalid(
            out.display().to_string(),
            "is the input checkpoint; refusing to write over it",
        ));
    }
    if out.exists() {
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .map_err(|e| Error::io(out, e))?
                .next()
                .is_none();
        if !empty {
            return Err(Error::OutputExists { path: out.into() });
        }
    }
    Ok(())
}

fn write_all(
    ckpt: &Checkpoint,
    gauge: &Gauge,
    roles: &HashMap<String, Role>,
    tmp: &Path,
    out: &Path,
) -> Result<ApplyReport> {
    let gauge_bytes = gauge_file::to_bytes(
        gauge,
        &GaugeMeta {
            source: Some(ckpt.dir.display().to_string()),
            target: Some(out.display().to_string()),
            method: None,
        },
    )?;
    let mut report = ApplyReport {
        tensors: 0,
        moved: 0,
        bytes: 0,
        shards: ckpt.shards.len(),
        out: tmp.into(),
    };
    for (k, shard) in ckpt.shards.iter().enumerate() {
        let name = shard.path.file_name().expect("a shard is a file");
        let path = tmp.join(name);
        let mut metadata = shard.header.metadata.clone();
        metadata.insert("gauge_transport.gauge_file".into(), GAUGE_FILE.into());
        metadata.insert(
            "gauge_transport.group".into(),
            gauge.group().as_str().into(),
        );
        metadata.insert(
            "gauge_transport.source".into(),
            ckpt.dir.display().to_string(),
        );
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = BufWriter::with_capacity(1 << 22, file);
        w.write_all(&header_bytes(&shard.header.tensors, &metadata))
            .map_err(|e| Error::io(&path, e))?;
        let (moved, bytes) = stream_tensors(ckpt, k, gauge, roles, &mut w, &path)?;
        report.tensors += shard.header.tensors.len();
        report.moved += moved;
        report.bytes += bytes;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
    }
    copy_side_files(ckpt, tmp)?;
    let gauge_path = tmp.join(GAUGE_FILE);
    std::fs::write(&gauge_path, gauge_bytes).map_err(|e| Error::io(&gauge_path, e))?;
    Ok(report)
}

/// What the mover hands the writer.
enum Chunk {
    /// Moved tensor bytes.
    Owned(Vec<u8>),
    /// A tensor that does not move, written straight from its map.
    Mapped(memmap2::Mmap),
    /// Zero bytes for a gap between tensors (kept as the input had them).
    Zeros(usize),
}

/// Moves and writes the tensors of shard `k` in data order. Each tensor is mapped on its own with its pages
/// populated in one call (far cheaper than a page fault per 4 KiB), gathered into an output buffer in a single
/// pass and unmapped, while a second thread writes the previous buffer, so the disk stays busy and memory holds
/// about two tensors. Returns the number of moved tensors and the bytes written.
fn stream_tensors(
    ckpt: &Checkpoint,
    k: usize,
    gauge: &Gauge,
    roles: &HashMap<String, Role>,
    w: &mut BufWriter<File>,
    path: &Path,
) -> Result<(usize, u64)> {
    let shard = &ckpt.shards[k];
    let file = File::open(&shard.path).map_err(|e| Error::io(&shard.path, e))?;
    let map_tensor = |t: &TensorInfo| -> Result<memmap2::Mmap> {
        // SAFETY: a read-only map of a checkpoint this process only reads; a concurrent truncation by another
        // process could fault, as with any reader of a memory-mapped file.
        unsafe {
            memmap2::MmapOptions::new()
                .offset(shard.header.data_start + t.start)
                .len((t.end - t.start) as usize)
                .populate()
                .map(&file)
        }
        .map_err(|e| Error::io(&shard.path, e))
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(0);
    // Written buffers come back for reuse, so their pages are faulted in once, not once per tensor.
    let (pool_tx, pool_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<u64> {
            let mut bytes = 0u64;
            for chunk in rx {
                let written = match chunk {
                    Chunk::Owned(buf) => {
                        let r = w.write_all(&buf).map(|()| buf.len());
                        let _ = pool_tx.try_send(buf);
                        r
                    }
                    Chunk::Mapped(map) => w.write_all(&map).map(|()| map.len()),
                    Chunk::Zeros(n) => w.write_all(&vec![0u8; n]).map(|()| n),
                };
                bytes += written.map_err(|e| Error::io(path, e))? as u64;
            }
            Ok(bytes)
        });
        let produced = (|| -> Result<usize> {
            let mut moved = 0;
            let mut end = 0u64;
            for t in &shard.header.tensors {
                if t.start > end && tx.send(Chunk::Zeros((t.start - end) as usize)).is_err() {
                    break;
                }
                end = t.end;
                let map = map_tensor(t)?;
                let chunk = match roles[&t.name].action() {
                    None => Chunk::Mapped(map),
                    Some((axis, signed)) => {
                        let mut buf = pool_rx.try_recv().unwrap_or_default();
                        // Every byte is overwritten by the move; resizing only grows a reused buffer.
                        buf.resize(map.len(), 0);
                        move_axis(&map, &mut buf, t, axis, gauge, signed);
                        moved += 1;
                        Chunk::Owned(buf)
                    }
                };
                if tx.send(chunk).is_err() {
                    break; // the writer failed; its error is returned below
                }
            }
            Ok(moved)
        })();
        drop(tx);
        let bytes = writer.join().expect("the writer thread does not panic")?;
        Ok((produced?, bytes))
    })
}

/// Copies every regular file beside the weights (config, tokenizer, generation config, and the shard index,
/// verbatim: tensor names and files are unchanged).
fn copy_side_files(ckpt: &Checkpoint, tmp: &Path) -> Result<()> {
    let shard_names: Vec<_> = ckpt
        .shards
        .iter()
        .filter_map(|s| s.path.file_name())
        .collect();
    for entry in std::fs::read_dir(&ckpt.dir).map_err(|e| Error::io(&ckpt.dir, e))? {
        let entry = entry.map_err(|e| Error::io(&ckpt.dir, e))?;
        let name = entry.file_name();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || shard_names.contains(&name.as_os_str()) || name == GAUGE_FILE {
            continue;
        }
        let to = tmp.join(&name);
        std::fs::copy(entry.path(), &to).map_err(|e| Error::io(entry.path(), e))?;
    }
    Ok(())
}

/// `dst[.., perm[i], ..] = sign[i] * src[.., i, ..]` on the raw little-endian float elements of `t`; a negative
/// sign flips the element's top (sign) bit, which negates any IEEE float exactly.
fn move_axis(src: &[u8], dst: &mut [u8], t: &TensorInfo, axis: usize, gauge: &Gauge, signed: bool) {
    let d = t.shape[axis];
    let inner: usize = t.shape[axis + 1..].iter().product();
    debug_assert!(t.dtype.is_float());
    match t.dtype.size() {
        2 => move_typed::<u16>(src, dst, d, inner, gauge, signed, 0x8000),
        4 => move_typed::<u32>(src, dst, d, inner, gauge, signed, 0x8000_0000),
        _ => move_typed::<u64>(src, dst, d, inner, gauge, signed, 1 << 63),
    }
}

/// An unsigned integer as wide as a float element: its top bit is the float's sign.
trait Element: Copy + Default + PartialEq + std::ops::BitXor<Output = Self> {
    fn read(b: &[u8]) -> Self;
    fn write(self, b: &mut [u8]);
}

macro_rules! element {
    ($t:ty) => {
        impl Element for $t {
            fn read(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("element width"))
            }
            fn write(self, b: &mut [u8]) {
                b.copy_from_slice(&self.to_le_bytes());
            }
        }
    };
}
element!(u16);
element!(u32);
element!(u64);

/// The typed kernel of [`move_axis`]. When the residual axis is the last one, every output row is gathered from
/// its input row with per-coordinate XOR masks (the sign bit or zero), on aligned typed slices when the buffers
/// allow it. Otherwise whole blocks of `inner` elements move, flipped where the sign is negative.
#[allow(clippy::too_many_arguments)]
fn move_typed<T: Element>(
    src: &[u8],
    dst: &mut [u8],
    d: usize,
    inner: usize,
    gauge: &Gauge,
    signed: bool,
    top: T,
) {
    let es = std::mem::size_of::<T>();
    let masks: Vec<T> = gauge
        .sign()
        .iter()
        .map(|&s| if signed && s < 0 { top } else { T::default() })
        .collect();
    if inner == 1 {
        let inv = gauge.inverse();
        let inv_perm = inv.perm();
        let inv_masks: Vec<T> = inv_perm.iter().map(|&i| masks[i as usize]).collect();
        // SAFETY: T is a plain unsigned integer, valid for every bit pattern; `align_to` yields only the
        // correctly aligned middle part, and is used only when there is nothing before or after it.
        let (sh, s_typed, st) = unsafe { src.align_to::<T>() };
        let (dh, d_typed, dt) = unsafe { dst.align_to_mut::<T>() };
        let aligned = sh.is_empty() && st.is_empty() && dh.is_empty() && dt.is_empty();
        if aligned && cfg!(target_endian = "little") {
            for (s_row, d_row) in s_typed.chunks_exact(d).zip(d_typed.chunks_exact_mut(d)) {
                for ((out, &i), &m) in d_row.iter_mut().zip(inv_perm).zip(&inv_masks) {
                    *out = s_row[i as usize] ^ m;
                }
            }
            return;
        }
        for (s_row, d_row) in src.chunks_exact(d * es).zip(dst.chunks_exact_mut(d * es)) {
            for ((out, &i), &m) in d_row.chunks_exact_mut(es).zip(inv_perm).zip(&inv_masks) {
                let i = i as usize;
                (T::read(&s_row[i * es..(i + 1) * es]) ^ m).write(out);
            }
        }
        return;
    }
    let block = inner * es;
    let perm = gauge.perm();
    for (s_slab, d_slab) in src
        .chunks_exact(d * block)
        .zip(dst.chunks_exact_mut(d * block))
    {
        for i in 0..d {
            let p = perm[i] as usize;
            let to = &mut d_slab[p * block..(p + 1) * block];
            to.copy_from_slice(&s_slab[i * block..(i + 1) * block]);
            if masks[i] != T::default() {
                for e in to.chunks_exact_mut(es) {
                    (T::read(e) ^ masks[i]).write(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Dtype;
    use crate::gauge::RandomOptions;

    /// The byte-wise fallback (misaligned buffers) and the typed path agree with the f32 reference.
    #[test]
    fn misaligned_buffers_take_the_byte_path_with_the_same_result() {
        let d = 6;
        let g = Gauge::random(
            d,
            &RandomOptions {
                seed: 3,
                ..Default::default()
            },
        )
        .unwrap();
        let values: Vec<f32> = (0..3 * d).map(|i| i as f32 - 4.5).collect();
        let t = TensorInfo {
            name: "x".into(),
            dtype: Dtype::F32,
            shape: vec![3, d],
            start: 0,
            end: 12 * d as u64,
        };
        let want: Vec<u8> = g
            .apply_axis(&values, &[3, d], 1, true)
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        for shift in [0, 1] {
            let mut src = vec![0u8; bytes.len() + 1];
            src[shift..shift + bytes.len()].copy_from_slice(&bytes);
            let mut dst = vec![0u8; bytes.len() + 1];
            move_axis(
                &src[shift..shift + bytes.len()],
                &mut dst[shift..shift + bytes.len()],
                &t,
                1,
                &g,
                true,
            );
            assert_eq!(&dst[shift..shift + bytes.len()], &want[..], "shift {shift}");
        }
    }
}
