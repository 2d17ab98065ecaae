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

use crate::checkpoint::{header_bytes, Checkpoint, Dtype, TensorInfo};
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
    let (mut src, mut dst) = (Vec::new(), Vec::new());
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
        let io = |e| Error::io(&path, e);
        w.write_all(&header_bytes(&shard.header.tensors, &metadata))
            .map_err(io)?;
        let mut written = 0u64;
        for t in &shard.header.tensors {
            // Safetensors data is contiguous; gaps (allowed by some writers) are kept as zeros.
            if t.start > written {
                w.write_all(&vec![0u8; (t.start - written) as usize])
                    .map_err(io)?;
            }
            ckpt.read_bytes(k, t, &mut src)?;
            let role = roles[&t.name];
            let bytes: &[u8] = match role.action() {
                None => &src,
                Some((axis, signed)) => {
                    dst.resize(src.len(), 0);
                    move_axis(&src, &mut dst, t, axis, gauge, signed);
                    report.moved += 1;
                    &dst
                }
            };
            w.write_all(bytes).map_err(io)?;
            written = t.end;
            report.tensors += 1;
            report.bytes += bytes.len() as u64;
        }
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

/// `dst[.., perm[i], ..] = sign[i] * src[.., i, ..]` on raw little-endian float elements of `t`; a negative
/// sign flips the element's top (sign) bit, which negates any IEEE float exactly.
fn move_axis(src: &[u8], dst: &mut [u8], t: &TensorInfo, axis: usize, gauge: &Gauge, signed: bool) {
    let es = t.dtype.size();
    let d = t.shape[axis];
    let outer: usize = t.shape[..axis].iter().product();
    let inner: usize = t.shape[axis + 1..].iter().product();
    let block = inner * es;
    let (perm, sign) = (gauge.perm(), gauge.sign());
    debug_assert!(
        t.dtype.is_float() && matches!(t.dtype, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16)
    );
    for o in 0..outer {
        let base = o * d * block;
        if inner == 1 {
            // The residual axis is the last one: an element-wise gather within each row.
            let s_row = &src[base..base + d * es];
            let d_row = &mut dst[base..base + d * es];
            for i in 0..d {
                let p = perm[i] as usize;
                d_row[p * es..(p + 1) * es].copy_from_slice(&s_row[i * es..(i + 1) * es]);
                if signed && sign[i] < 0 {
                    d_row[p * es + es - 1] ^= 0x80;
                }
            }
        } else {
            for i in 0..d {
                let p = perm[i] as usize;
                let from = &src[base + i * block..base + (i + 1) * block];
                let to = &mut dst[base + p * block..base + (p + 1) * block];
                to.copy_from_slice(from);
                if signed && sign[i] < 0 {
                    for e in to.chunks_exact_mut(es) {
                        e[es - 1] ^= 0x80;
                    }
                }
            }
        }
    }
}
