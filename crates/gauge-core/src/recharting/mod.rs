//! `apply(g, θ)`: rewrites a checkpoint into the chart `g` maps to (GAUGE.md §2-3). The result's hidden states
//! are exactly `g·h` and its outputs equal the input's.
//!
//! It streams each shard block by block on a few threads (memory: a few blocks plus the input slabs they read;
//! see `stream/shard.rs`), keeps the input's sharding, dtypes and tensor offsets, and is exact: moving a float tensor is
//! a gather plus, for negative signs, a flip of the sign bit (`stream/kernel.rs`). Output goes to a temporary sibling
//! directory, every file of which is fsynced, then the directory; it is renamed into place and the parent
//! directory fsynced. The input and any existing non-empty directory are never written over.

use crate::stream::{kernel, shard};

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::checkpoint::{header_bytes, Checkpoint};
use crate::error::{Error, Result};
use crate::family::{Norm, Role};
use crate::gauge::Gauge;
use crate::gauge_file::{self, GaugeMeta};

/// The name of the optimizer-state file saved beside a checkpoint's weights (GAUGE.md §4 layout).
pub const OPTIMIZER_STATE: &str = "optimizer.safetensors";

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
    apply_tuned(input, gauge, out, opts, shard::Tuning::default())
}

fn apply_tuned(
    input: &Path,
    gauge: &Gauge,
    out: &Path,
    opts: ApplyOptions,
    tuning: shard::Tuning,
) -> Result<ApplyReport> {
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
                 function (`--force`, or `force: true` in the API, writes it anyway)",
                gauge.group().as_str(),
                input.display()
            ),
        ));
    }
    if !opts.force {
        if let Some(reason) = continuous_gauge_reason(&ckpt)? {
            return Err(Error::invalid(
                input.display().to_string(),
                format!("{reason} (`--force`, or `force: true` in the API, re-charts it anyway)"),
            ));
        }
    }
    let roles = plan(&ckpt, d)?;
    check_output(input, out)?;
    let mut report = crate::atomic::write_dir(out, false, |tmp| {
        write_all(&ckpt, gauge, &roles, tmp, out, tuning)
    })?;
    report.out = out.into();
    Ok(report)
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

/// Refuses `out` when it is the input checkpoint or lies inside it (the rename would add a directory to the input),
/// or when it holds anything.
fn check_output(input: &Path, out: &Path) -> Result<()> {
    if let (Some(a), Some(b)) = (resolved(input), resolved(out)) {
        if a == b {
            return Err(Error::invalid(
                out.display().to_string(),
                "is the input checkpoint; refusing to write over it",
            ));
        }
        if b.starts_with(&a) {
            return Err(Error::invalid(
                out.display().to_string(),
                format!(
                    "is inside the input checkpoint {}; refusing to write into it (choose a directory outside it)",
                    input.display()
                ),
            ));
        }
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

/// `path` absolute, with symbolic links resolved, also when it does not exist yet: its nearest existing ancestor
/// is canonicalized and the rest appended (`..` taken lexically). `None` when even that fails.
fn resolved(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    let mut out = loop {
        if let Ok(c) = base.canonicalize() {
            break c;
        }
        rest.push(base.components().next_back()?);
        base = base.parent()?;
    };
    for c in rest.into_iter().rev() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out)
}

fn write_all(
    ckpt: &Checkpoint,
    gauge: &Gauge,
    roles: &HashMap<String, Role>,
    tmp: &Path,
    out: &Path,
    tuning: shard::Tuning,
) -> Result<ApplyReport> {
    let gauge_bytes = gauge_file::to_bytes(
        gauge,
        &GaugeMeta {
            source: Some(ckpt.dir.display().to_string()),
            target: Some(out.display().to_string()),
            method: None,
        },
    )?;
    let tables = kernel::Tables::new(gauge);
    let mut report = ApplyReport {
        tensors: 0,
        moved: 0,
        bytes: 0,
        shards: ckpt.shards.len(),
        out: tmp.into(),
    };
    for shard in &ckpt.shards {
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
        let header = header_bytes(&shard.header.tensors, &metadata);
        let moves: Vec<kernel::Move> = shard
            .header
            .tensors
            .iter()
            .map(|t| kernel::Move::new(t, roles[&t.name].action()))
            .collect();
        let bytes = shard::write_shard(shard, &header, &moves, &tables, &path, tuning)?;
        report.tensors += moves.len();
        report.moved += moves
            .iter()
            .filter(|m| !matches!(m, kernel::Move::Copy))
            .count();
        report.bytes += bytes;
    }
    copy_side_files(ckpt, gauge, tmp)?;
    let gauge_path = tmp.join(GAUGE_FILE);
    write_synced(&gauge_path, &gauge_bytes)?;
    sync_dir(tmp)?;
    Ok(report)
}

/// Copies every regular file beside the weights (config, tokenizer, generation config, and the shard index,
/// verbatim: tensor names and files are unchanged), durably. Optimizer state saved with the checkpoint
/// (`optimizer.safetensors`, GAUGE.md §4) is not copied but moved with the weights, so that training resumed from
/// the re-charted checkpoint follows the original run.
fn copy_side_files(ckpt: &Checkpoint, gauge: &Gauge, tmp: &Path) -> Result<()> {
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
        if name == OPTIMIZER_STATE {
            crate::transport::optimizer::move_state(ckpt, &entry.path(), &to, gauge, false)?;
            continue;
        }
        std::fs::copy(entry.path(), &to).map_err(|e| Error::io(entry.path(), e))?;
        File::open(&to)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&to, e))?;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Makes a directory's entries durable (a no-op where directories cannot be opened as files).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Dtype;
    use crate::gauge::RandomOptions;
    use crate::init::{write_random, ModelShape};

    /// Direct and buffered writes, at block sizes that cut tensors, elements and the header anywhere, with one
    /// or several workers, write the same bytes as the default.
    #[test]
    fn blocks_workers_and_write_modes_agree() {
        let dir = std::env::temp_dir().join(format!("gt-recharting-tuning-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = dir.join("model");
        let shape = ModelShape::preset("tiny").unwrap();
        for (dtype, tag) in [(Dtype::BF16, "bf16"), (Dtype::F32, "f32")] {
            let model = model.with_extension(tag);
            write_random(&shape, &model, 5, dtype).unwrap();
            let g = Gauge::random(
                shape.hidden,
                &RandomOptions {
                    seed: 4,
                    ..Default::default()
                },
            )
            .unwrap();
            let reference = dir.join(format!("ref-{tag}"));
            apply(&model, &g, &reference, ApplyOptions::default()).unwrap();
            let want = std::fs::read(reference.join("model.safetensors")).unwrap();
            let tunings = [
                (4096, 1, 1, true),
                (3 * 4096, 3, 2, true),
                (7, 2, 1, false),
                (4099, 3, 3, false),
                (1 << 20, 2, 2, false),
            ];
            for (k, (block, fillers, writers, direct)) in tunings.into_iter().enumerate() {
                let out = dir.join(format!("out-{tag}-{k}"));
                let tuning = shard::Tuning {
                    block,
                    fillers,
                    writers,
                    spare: k % 2,
                    direct,
                };
                let r = apply_tuned(&model, &g, &out, ApplyOptions::default(), tuning).unwrap();
                let got = std::fs::read(out.join("model.safetensors")).unwrap();
                assert!(got == want, "{tag} {tuning:?}");
                let header = 8 + u64::from_le_bytes(got[..8].try_into().unwrap());
                assert_eq!(header + r.bytes, got.len() as u64);
                assert!(out.join(GAUGE_FILE).exists() && out.join("config.json").exists());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
