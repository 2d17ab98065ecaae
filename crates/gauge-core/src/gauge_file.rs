//! The gauge file of GAUGE.md §2: safetensors with `perm` (I64, `[d]`), `sign` (I8, `[d]`) and metadata
//! `format = "gauge-transport/gauge"`, `version = "1"`, `group`, and optional `source`, `target`, `method`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::atomic;
use crate::error::{Error, Result};
use crate::gauge::{Gauge, Group};

/// The `format` metadata value of a gauge file.
pub const FORMAT: &str = "gauge-transport/gauge";
/// The `version` metadata value this crate writes and reads.
pub const VERSION: &str = "1";

/// Free-text provenance stored beside a gauge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GaugeMeta {
    /// The source chart (a checkpoint path or hash).
    pub source: Option<String>,
    /// The target chart.
    pub target: Option<String>,
    /// How the gauge was obtained (for example `marginalized`).
    pub method: Option<String>,
}

/// Serialises `gauge` and `meta` to gauge-file bytes.
pub fn to_bytes(gauge: &Gauge, meta: &GaugeMeta) -> Result<Vec<u8>> {
    let d = gauge.dim();
    let perm: Vec<u8> = gauge
        .perm()
        .iter()
        .flat_map(|&p| (p as i64).to_le_bytes())
        .collect();
    let sign: Vec<u8> = gauge.sign().iter().map(|&s| s as u8).collect();
    let internal = |e: safetensors::SafeTensorError| Error::invalid("gauge", e.to_string());
    let tensors = [
        (
            "perm",
            TensorView::new(Dtype::I64, vec![d], &perm).map_err(internal)?,
        ),
        (
            "sign",
            TensorView::new(Dtype::I8, vec![d], &sign).map_err(internal)?,
        ),
    ];
    let mut md = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("group".to_string(), gauge.group().as_str().to_string()),
    ]);
    for (key, value) in [
        ("source", &meta.source),
        ("target", &meta.target),
        ("method", &meta.method),
    ] {
        if let Some(v) = value {
            md.insert(key.to_string(), v.clone());
        }
    }
    safetensors::serialize(tensors, Some(md)).map_err(internal)
}

/// Parses gauge-file bytes; `path` only names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Gauge, GaugeMeta)> {
    let bad = |reason: String| Error::GaugeFile {
        path: path.into(),
        reason,
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Safetensors {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let md = header.metadata().clone().unwrap_or_default();
    match md.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(bad(format!(
                "metadata format is {other:?}, expected {FORMAT:?}"
            )))
        }
        None => return Err(bad(format!("metadata has no format (expected {FORMAT:?})"))),
    }
    match md.get("version").map(String::as_str) {
        Some(VERSION) => {}
        other => {
            return Err(bad(format!(
                "metadata version is {other:?}, this reader takes {VERSION:?}"
            )))
        }
    }
    let tensor = |name: &str, dtype: Dtype| {
        let t = st
            .tensor(name)
            .map_err(|_| bad(format!("no tensor {name:?}")))?;
        if t.dtype() != dtype || t.shape().len() != 1 {
            return Err(bad(format!(
                "tensor {name:?} is {:?} {:?}, expected {dtype:?} of rank 1",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t)
    };
    let perm_t = tensor("perm", Dtype::I64)?;
    let sign_t = tensor("sign", Dtype::I8)?;
    if let Some(extra) = st
        .names()
        .into_iter()
        .find(|n| *n != "perm" && *n != "sign")
    {
        return Err(bad(format!("unexpected tensor {extra:?}")));
    }
    let mut perm = Vec::with_capacity(perm_t.shape()[0]);
    for (i, chunk) in perm_t.data().chunks_exact(8).enumerate() {
        let p = i64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let p = u32::try_from(p).map_err(|_| Error::NotPermutation {
            what: path.display().to_string(),
            d: perm_t.shape()[0],
            detail: format!("perm[{i}] = {p} is out of range"),
        })?;
        perm.push(p);
    }
    let sign: Vec<i8> = sign_t.data().iter().map(|&b| b as i8).collect();
    let gauge = Gauge::from_parts(perm, sign, &path.display().to_string())?;
    if let Some(g) = md.get("group") {
        let declared = Group::parse(g)
            .ok_or_else(|| bad(format!("metadata group {g:?} is not Sd, ±Sd or Bd")))?;
        if !gauge.group().is_subgroup_of(declared) {
            return Err(bad(format!(
                "metadata says group {g} but the signs make it {}",
                gauge.group().as_str()
            )));
        }
    } else {
        return Err(bad("metadata has no group".into()));
    }
    let meta = GaugeMeta {
        source: md.get("source").cloned(),
        target: md.get("target").cloned(),
        method: md.get("method").cloned(),
    };
    Ok((gauge, meta))
}

/// Reads a gauge file, validating it fully.
pub fn read(path: &Path) -> Result<(Gauge, GaugeMeta)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, path)
}

/// Writes a gauge file atomically; an existing `path` is replaced only with `overwrite`.
pub fn write(path: &Path, gauge: &Gauge, meta: &GaugeMeta, overwrite: bool) -> Result<()> {
    atomic::write_file(path, &to_bytes(gauge, meta)?, overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gauge::RandomOptions;

    fn p() -> &'static Path {
        Path::new("g.safetensors")
    }

    #[test]
    fn round_trips_with_metadata() {
        let g = Gauge::random(33, &RandomOptions::default()).unwrap();
        let meta = GaugeMeta {
            source: Some("a".into()),
            target: None,
            method: Some("marginalized".into()),
        };
        let (back, back_meta) = from_bytes(&to_bytes(&g, &meta).unwrap(), p()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back_meta, meta);
    }

    fn raw(perm: &[i64], sign: &[i8], md: &[(&str, &str)]) -> Vec<u8> {
        let pb: Vec<u8> = perm.iter().flat_map(|p| p.to_le_bytes()).collect();
        let sb: Vec<u8> = sign.iter().map(|&s| s as u8).collect();
        let t = [
            (
                "perm",
                TensorView::new(Dtype::I64, vec![perm.len()], &pb).unwrap(),
            ),
            (
                "sign",
                TensorView::new(Dtype::I8, vec![sign.len()], &sb).unwrap(),
            ),
        ];
        let md = md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        safetensors::serialize(t, Some(md)).unwrap()
    }

    const OK: [(&str, &str); 3] = [("format", FORMAT), ("version", "1"), ("group", "Bd")];

    #[test]
    fn rejects_what_the_contract_forbids() {
        let code = |b: Vec<u8>| from_bytes(&b, p()).unwrap_err().code();
        assert!(from_bytes(&raw(&[1, 0], &[1, -1], &OK), p()).is_ok());
        assert_eq!(code(raw(&[1, 1], &[1, -1], &OK)), "GAUGE_NOT_PERMUTATION");
        assert_eq!(code(raw(&[-1, 0], &[1, -1], &OK)), "GAUGE_NOT_PERMUTATION");
        assert_eq!(code(raw(&[1, 0], &[1, 0], &OK)), "GAUGE_BAD_SIGN");
        assert_eq!(code(raw(&[1, 0, 2], &[1, 1], &OK)), "SHAPE_MISMATCH");
        assert_eq!(
            code(raw(
                &[1, 0],
                &[1, -1],
                &[("format", "x"), ("version", "1"), ("group", "Bd")]
            )),
            "GAUGE_FILE"
        );
        assert_eq!(
            code(raw(
                &[1, 0],
                &[1, -1],
                &[("format", FORMAT), ("version", "1"), ("group", "Sd")]
            )),
            "GAUGE_FILE"
        );
        assert_eq!(code(b"\x08\0\0\0\0\0\0\0{}".to_vec()), "SAFETENSORS_HEADER");
        assert_eq!(code(vec![0xff; 4]), "SAFETENSORS_HEADER");
        let e = from_bytes(&raw(&[1, 1], &[1, -1], &OK), p()).unwrap_err();
        assert!(e.to_string().contains("g.safetensors"), "{e}");
    }
}
