//! AdamW state in the GAUGE.md §4 layout (`P.exp_avg`, `P.exp_avg_sq` for each parameter `P`, metadata
//! `format = "gauge-transport/adamw"`, `step`, …): `exp_avg` moves exactly like its parameter (the parameter's
//! role in the model's architecture), `exp_avg_sq` like its parameter under `|g|` (no signs: it is a mean of
//! squares); `step` and the hyper-parameters are kept. Then resuming `apply(g, θ)` with the moved state follows
//! `g·` the original run, update for update, because every AdamW operation is elementwise.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::checkpoint::{f16_to_f32, read_header, Checkpoint, Dtype, Header};
use crate::error::{Error, Result};
use crate::gauge::Gauge;

/// The `format` metadata value of an optimizer-state file.
pub const ADAMW_FORMAT: &str = "gauge-transport/adamw";

/// What [`transport_optimizer`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerReport {
    /// Parameters whose state was written.
    pub parameters: usize,
    /// Tensors moved (the rest belong to parameters outside the residual chart).
    pub moved: usize,
}

/// Writes the optimizer state `input` of a run of the checkpoint `model` (a Hugging Face directory, for the
/// parameters' roles and shapes) moved by `gauge` to `out`. Refused, naming the file and entry: another `format`,
/// an entry that is not `P.exp_avg` / `P.exp_avg_sq`, a parameter the model lacks or of another shape, a
/// parameter of the model without state, an `exp_avg_sq` entry that is negative or NaN, a gauge outside the
/// model's group (signs on a LayerNorm model).
pub fn transport_optimizer(
    input: &Path,
    out: &Path,
    gauge: &Gauge,
    model: &Path,
    overwrite: bool,
) -> Result<OptimizerReport> {
    let ckpt = Checkpoint::open(model)?;
    let d = ckpt.hidden_size()?;
    if gauge.dim() != d {
        return Err(Error::shape(
            "gauge",
            format!("d = {d} (hidden size of {})", model.display()),
            format!("d = {}", gauge.dim()),
        ));
    }
    if !gauge.group().is_subgroup_of(ckpt.arch.group()) {
        return Err(Error::invalid(
            "gauge",
            format!(
                "is in group {} but {} is a LayerNorm model (group ±Sd): its parameters cannot move by single \
                 sign flips, so neither can their optimizer state",
                gauge.group().as_str(),
                model.display()
            ),
        ));
    }
    move_state(&ckpt, input, out, gauge, overwrite)
}

/// [`transport_optimizer`] for an opened checkpoint, without the group check ([`crate::recharting::apply`] moves a
/// checkpoint's own state file with it, also when forced outside the group).
pub(crate) fn move_state(
    ckpt: &Checkpoint,
    input: &Path,
    out: &Path,
    gauge: &Gauge,
    overwrite: bool,
) -> Result<OptimizerReport> {
    let model = &ckpt.dir;
    let header = read_header(input)?;
    let file = input.display().to_string();
    match header.metadata.get("format").map(String::as_str) {
        Some(ADAMW_FORMAT) => {}
        other => {
            return Err(Error::invalid(
                file,
                format!(
                    "has format {other:?}, not {ADAMW_FORMAT:?} (GAUGE.md §4; PyTorch optimizer.state_dict() files \
                     convert with scripts/convert_torch_optimizer.py)"
                ),
            ))
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &header.tensors {
        let (param, _) = split(&t.name).ok_or_else(|| {
            Error::invalid(
                format!("{file}: tensor {:?}", t.name),
                "is not named <parameter>.exp_avg or <parameter>.exp_avg_sq",
            )
        })?;
        let (_, p) = ckpt.find(param).ok_or_else(|| {
            Error::invalid(
                format!("{file}: tensor {:?}", t.name),
                format!(
                    "is state of {param:?}, which {} does not have",
                    model.display()
                ),
            )
        })?;
        if p.shape != t.shape {
            return Err(Error::shape(
                format!("{file}: tensor {:?}", t.name),
                format!("the shape of {param:?}, {:?}", p.shape),
                format!("{:?}", t.shape),
            ));
        }
        seen.insert(t.name.clone());
    }
    let missing: Vec<String> = ckpt
        .tensors()
        .map(|(_, t)| &t.name)
        .filter(|n| !ckpt.arch.family().is_buffer(n))
        .flat_map(|n| [format!("{n}.exp_avg"), format!("{n}.exp_avg_sq")])
        .filter(|n| !seen.contains(n))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<_> = missing.iter().take(4).cloned().collect();
        return Err(Error::invalid(
            file,
            format!(
                "lacks {} entries for parameters of {}: {}{}",
                missing.len(),
                model.display(),
                shown.join(", "),
                if missing.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        ));
    }
    check_second_moments(input, &header)?;
    let moved = crate::stream::rewrite_file(
        input,
        out,
        gauge,
        &super::provenance(gauge, input, "adamw"),
        overwrite,
        |t| {
            let (param, squared) = split(&t.name).expect("checked above");
            let role = ckpt.arch.role(param)?;
            Ok(role
                .action()
                .map(|(axis, signed)| (axis, signed && !squared)))
        },
    )?;
    Ok(OptimizerReport {
        parameters: seen.len() / 2,
        moved,
    })
}

/// Bytes read at a time by [`check_second_moments`].
const CHECK_BLOCK: usize = 1 << 20;

/// Refuses an `exp_avg_sq` entry that is negative or NaN, naming the tensor, the entry and its value: a running
/// mean of squares is neither, and AdamW takes its square root, so such a state is corrupt, not one to move.
/// One read of those tensors, a megabyte at a time.
fn check_second_moments(input: &Path, header: &Header) -> Result<()> {
    let file = File::open(input).map_err(|e| Error::io(input, e))?;
    let mut buf = vec![0u8; CHECK_BLOCK];
    for t in header
        .tensors
        .iter()
        .filter(|t| t.name.ends_with(".exp_avg_sq"))
    {
        let what = format!("{}: tensor {:?}", input.display(), t.name);
        let decode: fn(&[u8]) -> f32 = match t.dtype {
            Dtype::F32 => |c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            Dtype::BF16 => |c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16),
            Dtype::F16 => |c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])),
            Dtype::F64 => |c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32,
            other => {
                return Err(Error::invalid(
                    what,
                    format!("has dtype {}, expected a float", other.as_str()),
                ))
            }
        };
        let size = t.dtype.size();
        let (mut offset, mut index) = (t.start, 0usize);
        while offset < t.end {
            // A whole number of elements per block (sizes are 2, 4 or 8).
            let n = CHECK_BLOCK.min((t.end - offset) as usize);
            file.read_exact_at(&mut buf[..n], header.data_start + offset)
                .map_err(|e| Error::io(input, e))?;
            if let Some((k, v)) = buf[..n]
                .chunks_exact(size)
                .map(decode)
                .enumerate()
                .find(|(_, v)| v.is_nan() || *v < 0.0)
            {
                return Err(Error::invalid(
                    what,
                    format!(
                        "entry {} is {v}, but a second moment (a mean of squares) is never negative or NaN",
                        index + k
                    ),
                ));
            }
            offset += n as u64;
            index += n / size;
        }
    }
    Ok(())
}

/// `P.exp_avg` -> `(P, false)`, `P.exp_avg_sq` -> `(P, true)`.
fn split(name: &str) -> Option<(&str, bool)> {
    if let Some(p) = name.strip_suffix(".exp_avg_sq") {
        Some((p, true))
    } else {
        name.strip_suffix(".exp_avg").map(|p| (p, false))
    }
}
