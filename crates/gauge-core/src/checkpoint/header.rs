//! Reading and validating a safetensors header without reading the tensor data.
//!
//! Layout: 8-byte little-endian header length `n`, `n` bytes of JSON (`name -> {dtype, shape, data_offsets}`
//! plus optional `__metadata__`), then the data. Offsets are relative to the end of the header. Every check names
//! the file and the tensor.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Headers larger than this are rejected before allocation (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Element types of safetensors files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// 64-bit float.
    F64,
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// 16-bit signed integer.
    I16,
    /// 8-bit signed integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean (one byte).
    Bool,
}

impl Dtype {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            "I16" => Dtype::I16,
            "I8" => Dtype::I8,
            "U8" => Dtype::U8,
            "BOOL" => Dtype::Bool,
            _ => return None,
        })
    }

    /// The name in safetensors headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::Bool => "BOOL",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// Whether the sign is the top bit of the element (IEEE-style floats), so `-x` is one bit flip.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16)
    }
}

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Start of its data relative to the end of the header.
    pub start: u64,
    /// End (exclusive) of its data relative to the end of the header.
    pub end: u64,
}

/// A parsed, validated header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Tensors in data order.
    pub tensors: Vec<TensorInfo>,
    /// The free-text `__metadata__`.
    pub metadata: HashMap<String, String>,
    /// File offset of the first data byte (8 + header length).
    pub data_start: u64,
}

/// Reads and validates the header of the safetensors file at `path`: every tensor has a known dtype, a shape
/// whose bytes equal its `data_offsets` span, and the spans tile the data exactly (no overlap, hole or tail).
/// This is the project's one safetensors header parser; [`parse_header`] is the same for a file already in memory.
pub fn read_header(path: &Path) -> Result<Header> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len8 = [0u8; 8];
    let n = header_len(f.read_exact(&mut len8).ok().map(|()| len8), file_len, path)?;
    let mut json = vec![0u8; n as usize];
    f.read_exact(&mut json).map_err(|e| Error::io(path, e))?;
    parse_json(&json, file_len, path)
}

/// [`read_header`] for the bytes of a whole safetensors file in memory; `path` only names it in errors.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
    let file_len = bytes.len() as u64;
    let len8 = bytes.get(..8).and_then(|b| b.try_into().ok());
    let n = header_len(len8, file_len, path)?;
    parse_json(&bytes[8..8 + n as usize], file_len, path)
}

impl Header {
    /// The tensor `name`, if the file has it.
    pub fn find(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The data bytes of `t` within `bytes`, the whole file this header was parsed from (offsets were checked).
    pub fn data<'a>(&self, bytes: &'a [u8], t: &TensorInfo) -> &'a [u8] {
        let start = (self.data_start + t.start) as usize;
        &bytes[start..start + (t.end - t.start) as usize]
    }
}

/// The header length from the first 8 bytes of a file of `file_len` bytes (`None`: the file is shorter than 8),
/// checked to fit in the file and under [`MAX_HEADER`].
fn header_len(len8: Option<[u8; 8]>, file_len: u64, path: &Path) -> Result<u64> {
    let bad = |reason: String| Error::Safetensors {
        path: path.into(),
        reason,
    };
    let n = u64::from_le_bytes(len8.ok_or_else(|| {
        bad(format!(
            "file of {file_len} bytes is too short for a header"
        ))
    })?);
    if n > MAX_HEADER || 8 + n > file_len {
        return Err(bad(format!(
            "header length {n} runs past the end of the {file_len}-byte file"
        )));
    }
    Ok(n)
}

/// Validates the header JSON of a file of `file_len` bytes (see [`read_header`]).
fn parse_json(json: &[u8], file_len: u64, path: &Path) -> Result<Header> {
    let bad = |reason: String| Error::Safetensors {
        path: path.into(),
        reason,
    };
    let n = json.len() as u64;
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let data_len = file_len - 8 - n;
    let mut metadata = HashMap::new();
    let mut tensors = Vec::with_capacity(obj.len());
    for (name, t) in obj {
        if name == "__metadata__" {
            let m = t
                .as_object()
                .ok_or_else(|| bad("__metadata__ is not an object".into()))?;
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(format!("__metadata__ value of {k:?} is not a string")))?;
                metadata.insert(k.clone(), v.to_string());
            }
            continue;
        }
        let tbad = |reason: &str| bad(format!("tensor {name:?}: {reason}"));
        let dtype_s = t
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| tbad("no dtype"))?;
        let dtype =
            Dtype::parse(dtype_s).ok_or_else(|| tbad(&format!("unsupported dtype {dtype_s:?}")))?;
        let shape: Vec<usize> = t
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| tbad("no shape"))?
            .iter()
            .map(|x| x.as_u64().map(|x| x as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| tbad("shape is not a list of non-negative integers"))?;
        let offsets: Vec<u64> = t
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .ok_or_else(|| tbad("no data_offsets"))?
            .iter()
            .map(|x| x.as_u64())
            .collect::<Option<_>>()
            .ok_or_else(|| tbad("data_offsets are not non-negative integers"))?;
        let [start, end] = offsets[..] else {
            return Err(tbad("data_offsets must be [start, end]"));
        };
        let elements = shape
            .iter()
            .try_fold(1u64, |a, &b| a.checked_mul(b as u64))
            .ok_or_else(|| tbad("shape overflows"))?;
        let bytes = elements
            .checked_mul(dtype.size() as u64)
            .ok_or_else(|| tbad("shape overflows"))?;
        if end < start {
            return Err(tbad(&format!(
                "data_offsets [{start}, {end}] begin after they end"
            )));
        }
        if end - start != bytes {
            return Err(tbad(&format!(
                "data_offsets [{start}, {end}] hold {} bytes, but dtype {dtype_s} with shape {shape:?} needs {bytes}",
                end - start
            )));
        }
        if end > data_len {
            return Err(tbad(&format!(
                "data_offsets end {end} is past the {data_len} data bytes of the file (truncated?)"
            )));
        }
        tensors.push(TensorInfo {
            name: name.clone(),
            dtype,
            shape,
            start,
            end,
        });
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    // The data must be indexed exactly: tensors back to back from offset 0 to the end of the file, with no
    // overlap, no hole and nothing after the last tensor (the format's rule, which keeps files from hiding
    // other content).
    let mut covered = 0u64;
    let mut last: Option<&TensorInfo> = None;
    for t in &tensors {
        if t.start < covered {
            let prev = last.map_or("(none)", |p| p.name.as_str());
            return Err(bad(format!(
                "tensors {prev:?} and {:?} overlap: {:?} starts at data offset {} before {prev:?} ends at {covered}",
                t.name, t.name, t.start
            )));
        }
        if t.start > covered {
            let after = last.map_or("the start of the data".to_string(), |p| {
                format!("tensor {:?}", p.name)
            });
            return Err(bad(format!(
                "data bytes {covered}..{} between {after} and tensor {:?} belong to no tensor \
                 (data_offsets must cover the data exactly)",
                t.start, t.name
            )));
        }
        covered = t.end;
        last = Some(t);
    }
    if covered != data_len {
        let after = last.map_or("the header".to_string(), |p| format!("tensor {:?}", p.name));
        return Err(bad(format!(
            "data bytes {covered}..{data_len} after {after} belong to no tensor \
             (data_offsets must cover the data exactly)"
        )));
    }
    Ok(Header {
        tensors,
        metadata,
        data_start: 8 + n,
    })
}

/// Serialises a header: tensors keep their offsets; the JSON is padded with spaces to a multiple of 8 bytes.
pub fn header_bytes(tensors: &[TensorInfo], metadata: &HashMap<String, String>) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    if !metadata.is_empty() {
        let mut keys: Vec<_> = metadata.keys().collect();
        keys.sort();
        let md: serde_json::Map<String, serde_json::Value> = keys
            .into_iter()
            .map(|k| (k.clone(), serde_json::Value::String(metadata[k].clone())))
            .collect();
        obj.insert("__metadata__".into(), serde_json::Value::Object(md));
    }
    for t in tensors {
        obj.insert(
            t.name.clone(),
            serde_json::json!({
                "dtype": t.dtype.as_str(),
                "shape": t.shape,
                "data_offsets": [t.start, t.end],
            }),
        );
    }
    let mut json =
        serde_json::to_vec(&serde_json::Value::Object(obj)).expect("JSON of strings and numbers");
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}
