//! Hugging Face checkpoint directories: `config.json` with `model.safetensors` or shards listed in
//! `model.safetensors.index.json`. Headers are read and validated up front; tensor data is read on demand, one
//! tensor at a time, so memory stays bounded by the largest tensor.

mod header;
mod validate;

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub use header::{header_bytes, parse_header, read_header, Dtype, Header, TensorInfo};

use crate::error::{Error, Result};
use crate::family::Architecture;

/// The name of a single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The name of the shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// One safetensors file of a checkpoint.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Its path.
    pub path: PathBuf,
    /// Its validated header.
    pub header: Header,
}

/// An opened checkpoint directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: serde_json::Value,
    /// The architecture named by the config.
    pub arch: Architecture,
    /// The safetensors files, in the order of the index (or the single file).
    pub shards: Vec<Shard>,
}

impl Checkpoint {
    /// Opens and validates a checkpoint directory.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::invalid(
                dir.display().to_string(),
                "is not a checkpoint directory (expected config.json and model.safetensors)",
            ));
        }
        let config_path = dir.join("config.json");
        let text = crate::bounded::read_to_string(&config_path, crate::bounded::JSON_LIMIT)?;
        let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                config_path.display().to_string(),
                format!("is not JSON: {e}"),
            )
        })?;
        check_config(&config, &config_path)?;
        let arch = Architecture::from_config(&config).map_err(|e| match e {
            Error::InvalidArgument { reason, .. } => {
                Error::invalid(config_path.display().to_string(), reason)
            }
            other => other,
        })?;
        let index_path = dir.join(INDEX_FILE);
        let shards = if index_path.exists() {
            open_shards(dir, &index_path)?
        } else {
            let path = dir.join(SINGLE_FILE);
            if !path.exists() {
                return Err(Error::invalid(
                    dir.display().to_string(),
                    format!("has neither {SINGLE_FILE} nor {INDEX_FILE}"),
                ));
            }
            vec![Shard {
                header: read_header(&path)?,
                path,
            }]
        };
        let ckpt = Self {
            dir: dir.into(),
            config,
            arch,
            shards,
        };
        ckpt.hidden_size()?;
        validate::check(&ckpt)?;
        Ok(ckpt)
    }

    /// The residual width `d` from the config (`hidden_size`, or `n_embd` for GPT-2).
    pub fn hidden_size(&self) -> Result<usize> {
        let key = self.arch.hidden_key();
        self.config
            .get(key)
            .and_then(|v| v.as_u64())
            .filter(|&v| v > 0)
            .map(|v| v as usize)
            .ok_or_else(|| {
                Error::invalid(
                    self.dir.join("config.json").display().to_string(),
                    format!("has no positive integer {key:?}"),
                )
            })
    }

    /// Every tensor with the index of its shard.
    pub fn tensors(&self) -> impl Iterator<Item = (usize, &TensorInfo)> {
        self.shards
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.header.tensors.iter().map(move |t| (k, t)))
    }

    /// Finds a tensor by name.
    pub fn find(&self, name: &str) -> Option<(usize, &TensorInfo)> {
        self.tensors().find(|(_, t)| t.name == name)
    }

    /// Reads the raw little-endian bytes of tensor `t` of shard `shard` into `buf` (resized to fit).
    pub fn read_bytes(&self, shard: usize, t: &TensorInfo, buf: &mut Vec<u8>) -> Result<()> {
        let s = &self.shards[shard];
        buf.resize((t.end - t.start) as usize, 0);
        let f = File::open(&s.path).map_err(|e| Error::io(&s.path, e))?;
        f.read_exact_at(buf, s.header.data_start + t.start)
            .map_err(|e| Error::io(&s.path, e))
    }

    /// Reads a floating-point tensor as `f32`.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let (shard, t) = self.float_tensor(name)?;
        self.read_f32_at(shard, t, 0, t.shape.iter().product())
    }

    /// Reads `count` entries of a floating-point tensor as `f32`, starting at entry `start` (row-major), so that a
    /// large tensor can be read in bounded slices.
    pub fn read_f32_range(&self, name: &str, start: usize, count: usize) -> Result<Vec<f32>> {
        let (shard, t) = self.float_tensor(name)?;
        self.read_f32_at(shard, t, start, count)
    }

    /// [`Checkpoint::read_f32_range`] of the float tensor `t` of shard `shard`, found by [`Checkpoint::float_tensor`].
    fn read_f32_at(
        &self,
        shard: usize,
        t: &TensorInfo,
        start: usize,
        count: usize,
    ) -> Result<Vec<f32>> {
        let name = &t.name;
        let size = t.dtype.size();
        let len: usize = t.shape.iter().product();
        if start.checked_add(count).is_none_or(|end| end > len) {
            return Err(Error::invalid(
                self.shards[shard].path.display().to_string(),
                format!("tensor {name:?} has {len} entries; entries {start}..{start}+{count} are outside it"),
            ));
        }
        let s = &self.shards[shard];
        let f = File::open(&s.path).map_err(|e| Error::io(&s.path, e))?;
        let offset = s.header.data_start + t.start + (start * size) as u64;
        if t.dtype == Dtype::F32 && cfg!(target_endian = "little") {
            // Stored as this machine's `f32`: read straight into the result, without a byte buffer and a pass.
            let mut out = vec![0f32; count];
            // SAFETY: the byte view covers exactly `out`'s initialized memory, and every bit pattern is an `f32`.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), count * size)
            };
            f.read_exact_at(bytes, offset)
                .map_err(|e| Error::io(&s.path, e))?;
            return Ok(out);
        }
        let mut buf = vec![0u8; count * size];
        f.read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io(&s.path, e))?;
        Ok(match t.dtype {
            Dtype::F32 => buf
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::BF16 => buf
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            Dtype::F16 => buf
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            _ => buf
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
        })
    }

    /// The tensor `name` with its shard, when it exists and has a float dtype (F32, F16, BF16 or F64).
    fn float_tensor(&self, name: &str) -> Result<(usize, &TensorInfo)> {
        let (shard, t) = self.find(name).ok_or_else(|| {
            Error::invalid(
                self.dir.display().to_string(),
                format!("has no tensor {name:?}"),
            )
        })?;
        match t.dtype {
            Dtype::F32 | Dtype::BF16 | Dtype::F16 | Dtype::F64 => Ok((shard, t)),
            other => Err(Error::invalid(
                self.shards[shard].path.display().to_string(),
                format!(
                    "tensor {name:?} has dtype {}, expected a float (F32, F16, BF16 or F64)",
                    other.as_str()
                ),
            )),
        }
    }
}

/// IEEE half to single precision, exactly.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            sign | ((127 - 15 - shift + 1) << 23) | ((f << (shift + 13)) & 0x7f_ffff)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The size keys of a Hugging Face config, each a positive whole number when present.
const SIZE_KEYS: &[&str] = &[
    "hidden_size",
    "n_embd",
    "d_model",
    "vocab_size",
    "intermediate_size",
    "n_inner",
    "num_hidden_layers",
    "n_layer",
    "num_attention_heads",
    "n_head",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "n_positions",
];

/// The epsilon keys of the norms, each a finite positive number when present.
const EPS_KEYS: &[&str] = &[
    "rms_norm_eps",
    "layer_norm_eps",
    "layer_norm_epsilon",
    "norm_epsilon",
];

/// Refuses a config whose sizes cannot describe a model: a size key that is present but not a positive whole
/// number, attention heads that do not divide the width (without an explicit `head_dim`) or key/value heads that do
/// not divide the heads, and a norm epsilon that is not a finite positive number. Each refusal names the key.
fn check_config(config: &serde_json::Value, path: &Path) -> Result<()> {
    let bad =
        |key: &str, reason: String| Error::invalid(format!("{}: {key}", path.display()), reason);
    let Some(obj) = config.as_object() else {
        return Err(Error::invalid(
            path.display().to_string(),
            "is not a JSON object",
        ));
    };
    let size = |k: &str| obj.get(k).and_then(|v| v.as_u64()).filter(|&v| v > 0);
    for &k in SIZE_KEYS {
        if let Some(v) = obj.get(k) {
            if !v.is_null() && size(k).is_none() {
                return Err(bad(k, format!("is {v}, not a positive whole number")));
            }
        }
    }
    for &k in EPS_KEYS {
        if let Some(v) = obj.get(k) {
            if !v.as_f64().is_some_and(|e| e.is_finite() && e > 0.0) {
                return Err(bad(k, format!("is {v}, not a finite positive number")));
            }
        }
    }
    let hidden = ["hidden_size", "n_embd", "d_model"]
        .iter()
        .find_map(|k| size(k));
    let heads = size("num_attention_heads").or_else(|| size("n_head"));
    if let (Some(h), Some(n), None) = (hidden, heads, size("head_dim")) {
        if h % n != 0 {
            return Err(bad(
                "num_attention_heads",
                format!("{n} heads do not divide the width {h} (and there is no head_dim)"),
            ));
        }
    }
    if let (Some(n), Some(kv)) = (heads, size("num_key_value_heads")) {
        if n % kv != 0 {
            return Err(bad(
                "num_key_value_heads",
                format!("{kv} key/value heads do not divide the {n} attention heads"),
            ));
        }
    }
    Ok(())
}

fn open_shards(dir: &Path, index_path: &Path) -> Result<Vec<Shard>> {
    let bad = |reason: String| Error::invalid(index_path.display().to_string(), reason);
    let text = crate::bounded::read_to_string(index_path, crate::bounded::JSON_LIMIT)?;
    let index: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("has no weight_map object".into()))?;
    let mut files: Vec<String> = Vec::new();
    let mut expected: HashMap<String, String> = HashMap::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| bad(format!("weight_map[{name:?}] is not a file name")))?;
        if file.contains('/') || file.contains("..") {
            return Err(bad(format!(
                "weight_map[{name:?}] = {file:?} leaves the directory"
            )));
        }
        if !files.iter().any(|f| f == file) {
            files.push(file.to_string());
        }
        expected.insert(name.clone(), file.to_string());
    }
    files.sort();
    let mut shards = Vec::with_capacity(files.len());
    for file in &files {
        let path = dir.join(file);
        if !path.exists() {
            return Err(Error::mismatch(
                &path,
                format!("is a shard named in {INDEX_FILE} but does not exist"),
            ));
        }
        if !path.is_file() {
            return Err(Error::mismatch(
                &path,
                format!("is a shard named in {INDEX_FILE} but is not a file"),
            ));
        }
        let header = read_header(&path)?;
        for t in &header.tensors {
            match expected.get(&t.name) {
                Some(f) if f == file => {}
                Some(f) => {
                    return Err(Error::mismatch(
                        &path,
                        format!("holds tensor {:?} that {INDEX_FILE} places in {f}", t.name),
                    ))
                }
                None => {
                    return Err(Error::mismatch(
                        &path,
                        format!("holds tensor {:?} that {INDEX_FILE} does not list", t.name),
                    ))
                }
            }
        }
        shards.push(Shard { path, header });
    }
    let mut names: Vec<(&String, &String)> = expected.iter().collect();
    names.sort();
    for (name, file) in names {
        let Some(shard) = shards.iter().find(|s| s.path == dir.join(file)) else {
            return Err(bad(format!(
                "weight_map[{name:?}] = {file:?} is not a shard file"
            )));
        };
        if !shard.header.tensors.iter().any(|t| &t.name == name) {
            return Err(Error::mismatch(
                &shard.path,
                format!("lacks tensor {name:?} that {INDEX_FILE} places there"),
            ));
        }
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }
}
