//! The gauge file of GAUGE.md §2: safetensors with `perm` (I64, `[d]`), `sign` (I8, `[d]`) and metadata
//! `format = "gauge-transport/gauge"`, `version = "1"`, `group`, and optional `source`, `target`, `method`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

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
    let header = crate::checkpoint::parse_header(bytes, path)?;
    let md = &header.metadata;
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
    let tensor = |name: &str, dtype: crate::checkpoint::Dtype| {
        let t = header
            .find(name)
            .ok_or_else(|| bad(format!("no tensor {name:?}")))?;
        if t.dtype != dtype || t.shape.len() != 1 {
            return Err(bad(format!(
                "tensor {name:?} is {} {:?}, expected {} of rank 1",
                t.dtype.as_str(),
                t.shape,
                dtype.as_str()
            )));
        }
        Ok(t)
    };
    let perm_t = tensor("perm", crate::checkpoint::Dtype::I64)?;
    let sign_t = tensor("sign", crate::checkpoint::Dtype::I8)?;
    if let Some(extra) = header
        .tensors
        .iter()
        .find(|t| t.name != "perm" && t.name != "sign")
    {
        return Err(bad(format!("unexpected tensor {:?}", extra.name)));
    }
    let mut perm = Vec::with_capacity(perm_t.shape[0]);
    for (i, chunk) in header.data(bytes, perm_t).chunks_exact(8).enumerate() {
        let p = i64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let p = u32::try_from(p).map_err(|_| Error::NotPermutation {
            what: path.display().to_string(),
            d: perm_t.shape[0],
            detail: format!("perm[{i}] = {p} is out of range"),
        })?;
        perm.push(p);
    }
    let sign: Vec<i8> = header
        .data(bytes, sign_t)
        .iter()
        .map(|&b| b as i8)
        .collect();
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

/// The largest safetensors header a gauge file may have (the format's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// Reads a gauge file, validating it fully. Its size is bounded before the data is read: by the header length
/// in its first 8 bytes (at most 100 MB) plus the 9 bytes per coordinate of the widest gauge
/// ([`crate::gauge::MAX_DIM`]), so that a device or an oversized file is refused at once.
pub fn read(path: &Path) -> Result<(Gauge, GaugeMeta)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::Safetensors {
        path: path.into(),
        reason,
    };
    let mut len8 = [0u8; 8];
    file.read_exact(&mut len8).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad("shorter than the 8-byte header length".into()),
        _ => Error::io(path, e),
    })?;
    let n = u64::from_le_bytes(len8);
    // The smallest header is `{}`.
    if !(2..=MAX_HEADER).contains(&n) {
        return Err(bad(format!(
            "the first 8 bytes give a header length of {n}, not one of 2 to {MAX_HEADER} bytes"
        )));
    }
    let limit = 8 + n + 9 * crate::gauge::MAX_DIM as u64;
    let bytes = crate::bounded::read_from(file, path, limit, len8.to_vec())?;
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

    #[test]
    fn read_bounds_the_file_before_reading_it() {
        let dir = std::env::temp_dir().join(format!("gt-gauge-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("g.safetensors");
        std::fs::write(&good, raw(&[1, 0], &[1, -1], &OK)).unwrap();
        assert_eq!(read(&good).unwrap().0.perm(), &[1, 0]);
        // A header length beyond the format's limit, or a file longer than its header allows for the widest
        // gauge, is refused without reading the rest.
        let huge_header = dir.join("huge-header.safetensors");
        std::fs::write(&huge_header, u64::MAX.to_le_bytes()).unwrap();
        let e = read(&huge_header).unwrap_err();
        assert_eq!(e.code(), "SAFETENSORS_HEADER");
        assert!(e.to_string().contains("huge-header.safetensors"), "{e}");
        let long = dir.join("long.safetensors");
        let f = std::fs::File::create(&long).unwrap();
        let mut bytes = raw(&[1, 0], &[1, -1], &OK);
        bytes.truncate(8);
        std::io::Write::write_all(&mut &f, &bytes).unwrap();
        f.set_len(1 << 34).unwrap();
        let e = read(&long).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(e.to_string().contains("17179869184 bytes"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        #[cfg(unix)]
        {
            let t = std::time::Instant::now();
            let e = read(Path::new("/dev/zero")).unwrap_err();
            assert_eq!(e.code(), "SAFETENSORS_HEADER", "{e}");
            assert!(t.elapsed() < std::time::Duration::from_secs(1));
        }
    }
}
