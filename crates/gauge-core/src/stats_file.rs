//! Pair statistics: the [`CrossMoments`] of several capture sites of two models on one probe, in one safetensors
//! file, so an alignment can be split across workers whose shards merge exactly.
//!
//! # File layout
//! For each site `S` (any non-empty name; dots are fine), `F64` tensors
//!
//! | tensor | shape | content |
//! |---|---|---|
//! | `S.n` | `[1]` | number of samples (an integer) |
//! | `S.shift_x`, `S.shift_y` | `[d1]`, `[d2]` | the shifts the sums are taken about (`f32` values) |
//! | `S.sum_x`, `S.sum_y` | `[d1]`, `[d2]` | `Σ(x − shift_x)`, `Σ(y − shift_y)` |
//! | `S.sum_xx`, `S.sum_yy` | `[d1]`, `[d2]` | `Σ(x − shift_x)²`, `Σ(y − shift_y)²` |
//! | `S.sum_xy` | `[d1, d2]` | `Σ(x − shift_x)(y − shift_y)ᵀ`, row-major |
//!
//! with the same `d1` (model A's width) and `d2` (model B's width) at every site, and `__metadata__` holding
//! `format = "gauge-transport/pair-stats"`, `version = "1"`, `sites` (a JSON list of the site names, in order) and
//! any free-text metadata of the caller. Keys starting with `model_a.` or `model_b.` identify the two models
//! (a path, a hash, a revision); shards merge only when those agree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::atomic;
use crate::checkpoint::{header_bytes, read_header, Dtype, TensorInfo};
use crate::error::{Error, Result};
use crate::stats::{CrossMoments, RawMoments};

/// The `format` metadata value of a pair-statistics file.
pub const FORMAT: &str = "gauge-transport/pair-stats";
/// The `version` metadata value this crate writes and reads.
pub const VERSION: &str = "1";
/// Metadata keys the file format owns; callers' metadata may not use them.
pub const RESERVED_KEYS: [&str; 3] = ["format", "version", "sites"];
/// Metadata key prefixes that identify the models; merging refuses shards that disagree on them.
pub const IDENTITY_PREFIXES: [&str; 2] = ["model_a.", "model_b."];

const FIELDS: [&str; 8] = [
    "n", "shift_x", "shift_y", "sum_x", "sum_y", "sum_xx", "sum_yy", "sum_xy",
];

/// Cross-moment statistics of two models at several capture sites, with free-text metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairStats {
    /// `(site name, moments)`, in file order. Every site has the same `(d1, d2)`.
    pub sites: Vec<(String, CrossMoments)>,
    /// Free-text metadata (model identities under `model_a.*` / `model_b.*`, the probe's description, ...).
    pub metadata: BTreeMap<String, String>,
}

impl PairStats {
    /// No sites yet, with `metadata`.
    pub fn new(metadata: BTreeMap<String, String>) -> Self {
        Self {
            sites: Vec::new(),
            metadata,
        }
    }

    /// The common `(d1, d2)` of the sites (`None` without sites), checking that the sites agree, their names are
    /// non-empty and distinct, and the metadata avoids [`RESERVED_KEYS`].
    pub fn dims(&self) -> Result<Option<(usize, usize)>> {
        if let Some(k) = RESERVED_KEYS
            .iter()
            .find(|k| self.metadata.contains_key(**k))
        {
            return Err(Error::invalid(
                "pair statistics metadata",
                format!("key {k:?} is reserved for the file format"),
            ));
        }
        let mut seen = HashSet::new();
        for (name, _) in &self.sites {
            if name.is_empty() || !seen.insert(name.as_str()) {
                return Err(Error::invalid(
                    "pair statistics sites",
                    format!("site name {name:?} is empty or repeated"),
                ));
            }
        }
        let Some((first, m0)) = self.sites.first() else {
            return Ok(None);
        };
        let dims = m0.dims();
        for (name, m) in &self.sites[1..] {
            if m.dims() != dims {
                return Err(Error::shape(
                    format!("pair statistics site {name:?}"),
                    format!("{} x {} like site {first:?}", dims.0, dims.1),
                    format!("{} x {}", m.dims().0, m.dims().1),
                ));
            }
        }
        Ok(Some(dims))
    }

    /// The moments of `site`, or an error listing the sites there are.
    pub fn site(&self, site: &str) -> Result<&CrossMoments> {
        self.sites
            .iter()
            .find(|(name, _)| name == site)
            .map(|(_, m)| m)
            .ok_or_else(|| {
                let names: Vec<&str> = self.sites.iter().map(|(n, _)| n.as_str()).collect();
                Error::invalid(
                    format!("site {site:?}"),
                    format!("not among the sites {names:?}"),
                )
            })
    }

    /// Pearson correlations `corr(x_i, y_j)` at `site`, `[d1, d2]` row-major `f32`. A coordinate with zero
    /// variance has correlation 0 in its whole row (a coordinate of model A) or column (of model B); see
    /// [`CrossMoments::correlation`].
    pub fn correlation(&self, site: &str) -> Result<Vec<f32>> {
        self.site(site)?.correlation()
    }

    /// Per-coordinate means of model A's (`[d1]`) and model B's (`[d2]`) activations at `site`.
    pub fn means(&self, site: &str) -> Result<(Vec<f64>, Vec<f64>)> {
        Ok(self.site(site)?.means())
    }

    /// Per-coordinate population standard deviations (divisor `n`) of both models' activations at `site`.
    pub fn stds(&self, site: &str) -> Result<(Vec<f64>, Vec<f64>)> {
        Ok(self.site(site)?.stds())
    }

    /// Number of samples at `site`.
    pub fn count(&self, site: &str) -> Result<u64> {
        Ok(self.site(site)?.count())
    }

    /// Writes the file atomically (temporary file, then rename); an existing `path` is replaced only with
    /// `overwrite`. Streams tensor by tensor: the file is never held in memory whole.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<()> {
        let dims = self.dims()?.unwrap_or((0, 0));
        let (d1, d2) = dims;
        let mut infos = Vec::with_capacity(self.sites.len() * FIELDS.len());
        let mut offset = 0u64;
        for (name, _) in &self.sites {
            for field in FIELDS {
                let shape = field_shape(field, d1, d2);
                let bytes = 8 * shape.iter().product::<usize>() as u64;
                infos.push(TensorInfo {
                    name: format!("{name}.{field}"),
                    dtype: Dtype::F64,
                    shape,
                    start: offset,
                    end: offset + bytes,
                });
                offset += bytes;
            }
        }
        let mut md: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let names: Vec<&str> = self.sites.iter().map(|(n, _)| n.as_str()).collect();
        md.insert("format".into(), FORMAT.into());
        md.insert("version".into(), VERSION.into());
        md.insert(
            "sites".into(),
            serde_json::to_string(&names).expect("a list of strings"),
        );
        let header = header_bytes(&infos, &md);
        atomic::write_with(path, overwrite, |w| {
            w.write_all(&header)?;
            for (_, m) in &self.sites {
                let raw = m.raw();
                write_f64(w, &[raw.n as f64])?;
                let shifts = |s: &[f32]| s.iter().map(|&v| v as f64).collect::<Vec<_>>();
                write_f64(w, &shifts(&raw.shift_x))?;
                write_f64(w, &shifts(&raw.shift_y))?;
                for v in [
                    &raw.sum_x,
                    &raw.sum_y,
                    &raw.sum_xx,
                    &raw.sum_yy,
                    &raw.sum_xy,
                ] {
                    write_f64(w, v)?;
                }
            }
            Ok(())
        })
    }

    /// Reads and validates a file written by [`PairStats::save`]. Errors name the file and, where one is at
    /// fault, the tensor: `SAFETENSORS_HEADER` for a malformed file, wrong metadata, a missing, extra or
    /// non-`F64` tensor; `SHAPE_MISMATCH` for a tensor of the wrong shape (including a site whose widths differ
    /// from the first site's); `INVALID_ARGUMENT` for a count that is not a non-negative integer or a shift that
    /// is not an `f32` value; `NON_FINITE` for a NaN or infinite sum.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Safetensors {
            path: path.into(),
            reason,
        };
        let header = read_header(path)?;
        let md = &header.metadata;
        match md.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            other => {
                return Err(bad(format!(
                    "metadata format is {other:?}, expected {FORMAT:?} (not a pair-statistics file)"
                )))
            }
        }
        match md.get("version").map(String::as_str) {
            Some(VERSION) => {}
            other => {
                return Err(bad(format!(
                    "metadata version is {other:?}, this reader takes {VERSION:?}"
                )))
            }
        }
        let sites_json = md
            .get("sites")
            .ok_or_else(|| bad("metadata has no sites list".into()))?;
        let names: Vec<String> = serde_json::from_str(sites_json)
            .map_err(|e| bad(format!("metadata sites is not a JSON list of strings: {e}")))?;
        let by_name: HashMap<&str, &TensorInfo> = header
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut expected = HashSet::new();
        for name in &names {
            if name.is_empty() || !expected.insert(format!("{name}.n")) {
                return Err(bad(format!(
                    "metadata sites names {name:?} twice or an empty site"
                )));
            }
            for field in FIELDS {
                expected.insert(format!("{name}.{field}"));
            }
        }
        if let Some(extra) = header.tensors.iter().find(|t| !expected.contains(&t.name)) {
            return Err(bad(format!(
                "tensor {:?} belongs to no site listed in the metadata",
                extra.name
            )));
        }
        let tensor = |name: &str| -> Result<&TensorInfo> {
            let t = by_name
                .get(name)
                .ok_or_else(|| bad(format!("no tensor {name:?}")))?;
            if t.dtype != Dtype::F64 {
                return Err(bad(format!(
                    "tensor {name:?} is {}, expected F64",
                    t.dtype.as_str()
                )));
            }
            Ok(t)
        };
        // The widths come from the first site's shifts; every tensor is then checked against them.
        let dims = match names.first() {
            None => (0, 0),
            Some(first) => {
                let len = |field: &str| -> Result<usize> {
                    let name = format!("{first}.{field}");
                    match tensor(&name)?.shape[..] {
                        [d] => Ok(d),
                        ref s => Err(Error::shape(
                            format!("{}: tensor {name:?}", path.display()),
                            "rank 1",
                            format!("{s:?}"),
                        )),
                    }
                };
                (len("shift_x")?, len("shift_y")?)
            }
        };
        let (d1, d2) = dims;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut bytes = Vec::new();
        let mut read = |name: &str| -> Result<Vec<f64>> {
            let t = tensor(name)?;
            let want = field_shape(name.rsplit('.').next().expect("a field"), d1, d2);
            if t.shape != want {
                return Err(Error::shape(
                    format!("{}: tensor {name:?}", path.display()),
                    format!("{want:?} (d1 = {d1}, d2 = {d2}, from the first site's shifts)"),
                    format!("{:?}", t.shape),
                ));
            }
            bytes.resize((t.end - t.start) as usize, 0);
            file.read_exact_at(&mut bytes, header.data_start + t.start)
                .map_err(|e| Error::io(path, e))?;
            let v: Vec<f64> = bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
                .collect();
            if let Some(k) = v.iter().position(|v| !v.is_finite()) {
                let cols = want.get(1).copied().unwrap_or(1);
                return Err(Error::NonFinite {
                    what: format!("{}: tensor {name:?}", path.display()),
                    row: k / cols,
                    col: k % cols,
                    value: v[k],
                });
            }
            Ok(v)
        };
        let mut sites = Vec::with_capacity(names.len());
        for name in &names {
            let tname = |field: &str| format!("{name}.{field}");
            let n = read(&tname("n"))?[0];
            if !(0.0..=2f64.powi(53)).contains(&n) || n.fract() != 0.0 {
                return Err(Error::invalid(
                    format!("{}: tensor {:?}", path.display(), tname("n")),
                    format!("count {n} is not a non-negative integer"),
                ));
            }
            let mut shift = |field: &str| -> Result<Vec<f32>> {
                let v = read(&tname(field))?;
                match v.iter().position(|&s| s as f32 as f64 != s) {
                    Some(k) => Err(Error::invalid(
                        format!("{}: tensor {:?}", path.display(), tname(field)),
                        format!("entry {k} = {} is not an f32 value", v[k]),
                    )),
                    None => Ok(v.into_iter().map(|s| s as f32).collect()),
                }
            };
            let (shift_x, shift_y) = (shift("shift_x")?, shift("shift_y")?);
            let raw = RawMoments {
                n: n as u64,
                shift_x,
                shift_y,
                sum_x: read(&tname("sum_x"))?,
                sum_y: read(&tname("sum_y"))?,
                sum_xx: read(&tname("sum_xx"))?,
                sum_yy: read(&tname("sum_yy"))?,
                sum_xy: read(&tname("sum_xy"))?,
            };
            let what = format!("{} site {name:?}", path.display());
            sites.push((name.clone(), CrossMoments::from_raw(d1, d2, raw, &what)?));
        }
        let metadata = md
            .iter()
            .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self { sites, metadata })
    }

    /// Adds a shard computed on disjoint samples: the moments of every site merge (exactly, see
    /// [`CrossMoments::merge`]). Refuses, changing nothing, when the sites differ, their widths differ, or the
    /// model identities (metadata keys starting with `model_a.` or `model_b.`) differ; the message names both
    /// shards' values. Other metadata: this shard's value wins, keys only the other has are added.
    pub fn merge(&mut self, other: &PairStats) -> Result<()> {
        let mine = self.dims()?;
        let theirs = other.dims()?;
        let mut problems = Vec::new();
        let identity_keys: BTreeMap<&str, ()> = self
            .metadata
            .keys()
            .chain(other.metadata.keys())
            .filter(|k| IDENTITY_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|k| (k.as_str(), ()))
            .collect();
        for key in identity_keys.keys() {
            let (a, b) = (self.metadata.get(*key), other.metadata.get(*key));
            if a != b {
                problems.push(format!(
                    "metadata {key} is {} here but {} in the other shard",
                    show(a),
                    show(b)
                ));
            }
        }
        let names =
            |s: &PairStats| -> Vec<String> { s.sites.iter().map(|(n, _)| n.clone()).collect() };
        let (a, b) = (names(self), names(other));
        let missing: Vec<&String> = b.iter().filter(|n| !a.contains(n)).collect();
        let extra: Vec<&String> = a.iter().filter(|n| !b.contains(n)).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "sites differ: only here {extra:?}, only in the other shard {missing:?}"
            ));
        }
        if !problems.is_empty() {
            return Err(Error::invalid("pair statistics merge", problems.join("; ")));
        }
        if mine != theirs {
            let show_dims = |d: Option<(usize, usize)>| {
                d.map_or("no sites".into(), |(a, b)| format!("{a} x {b}"))
            };
            return Err(Error::shape(
                "pair statistics merge",
                format!("{} (this shard)", show_dims(mine)),
                format!("{} (the other shard)", show_dims(theirs)),
            ));
        }
        for (name, m) in &mut self.sites {
            m.merge(other.site(name)?)?;
        }
        for (k, v) in &other.metadata {
            self.metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(())
    }
}

fn show(v: Option<&String>) -> String {
    v.map_or("absent".into(), |v| format!("{v:?}"))
}

fn field_shape(field: &str, d1: usize, d2: usize) -> Vec<usize> {
    match field {
        "n" => vec![1],
        "shift_x" | "sum_x" | "sum_xx" => vec![d1],
        "shift_y" | "sum_y" | "sum_yy" => vec![d2],
        "sum_xy" => vec![d1, d2],
        _ => unreachable!("not a field: {field}"),
    }
}

fn write_f64(w: &mut dyn Write, v: &[f64]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(8 * 8192);
    for chunk in v.chunks(8192) {
        buf.clear();
        for x in chunk {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gt-pairstats-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn data(n: usize, d1: usize, d2: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64::new(seed);
        let mut x = vec![0f32; n * d1];
        let mut y = vec![0f32; n * d2];
        rng.fill_normal(&mut x);
        rng.fill_normal(&mut y);
        for r in 0..n {
            x[r * d1] += 100.0;
            y[r * d2 + 1] = 3.0 - 2.0 * x[r * d1 + 2] + 0.1 * y[r * d2 + 1];
        }
        (x, y)
    }

    fn stats(rows: std::ops::Range<usize>, id_b: &str) -> PairStats {
        let (d1, d2) = (4, 3);
        let mut s = PairStats::new(BTreeMap::from([
            ("model_a.id".to_string(), "org/a@1".to_string()),
            ("model_b.id".to_string(), id_b.to_string()),
            ("probe".to_string(), format!("rows {rows:?}")),
        ]));
        for (k, site) in ["model.layers.0", "model.layers.1"].iter().enumerate() {
            let (x, y) = data(500, d1, d2, k as u64);
            let mut m = CrossMoments::new(d1, d2);
            let (a, b) = (rows.start, rows.end);
            m.update(&x[a * d1..b * d1], &y[a * d2..b * d2], b - a)
                .unwrap();
            s.sites.push((site.to_string(), m));
        }
        s
    }

    #[test]
    fn round_trips_and_refuses_to_overwrite() {
        let dir = dir();
        let path = dir.join("round.safetensors");
        let _ = std::fs::remove_file(&path);
        let s = stats(0..500, "org/b@2");
        s.save(&path, false).unwrap();
        let back = PairStats::load(&path).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.metadata["probe"], "rows 0..500");
        assert_eq!(
            back.correlation("model.layers.1").unwrap(),
            s.sites[1].1.correlation().unwrap()
        );
        assert_eq!(back.count("model.layers.0").unwrap(), 500);
        assert_eq!(back.means("model.layers.0").unwrap().0.len(), 4);
        assert_eq!(back.stds("model.layers.0").unwrap().1.len(), 3);
        let e = back.correlation("model.layers.7").unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(e.to_string().contains("model.layers.1"), "{e}");
        assert_eq!(s.save(&path, false).unwrap_err().code(), "OUTPUT_EXISTS");
        s.save(&path, true).unwrap();
        let mut reserved = s.clone();
        reserved.metadata.insert("sites".into(), "x".into());
        assert_eq!(
            reserved
                .save(&dir.join("r.safetensors"), true)
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
        let mut uneven = s.clone();
        uneven.sites[1].1 = CrossMoments::new(4, 5);
        assert_eq!(
            uneven
                .save(&dir.join("u.safetensors"), true)
                .unwrap_err()
                .code(),
            "SHAPE_MISMATCH"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merged_shards_equal_the_whole_and_mismatches_are_refused() {
        let whole = stats(0..500, "org/b@2");
        let mut merged = stats(0..123, "org/b@2");
        merged.merge(&stats(123..500, "org/b@2")).unwrap();
        // Gaussian data: the f32 block sums round differently per split (~1e-7 of σxσy); exactness of the merge algebra
        // itself is tested in `stats` on f32-exact data.
        for ((_, a), (_, b)) in merged.sites.iter().zip(&whole.sites) {
            assert_eq!(a.count(), b.count());
            for (p, q) in a.covariance().iter().zip(b.covariance()) {
                assert!((p - q).abs() < 1e-6 * (1.0 + q.abs()), "{p} vs {q}");
            }
        }
        assert_eq!(merged.metadata["probe"], "rows 0..123");
        let before = merged.clone();
        let e = merged.merge(&stats(0..10, "org/c@9")).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        let msg = e.to_string();
        assert!(
            msg.contains("model_b.id")
                && msg.contains("\"org/b@2\"")
                && msg.contains("\"org/c@9\""),
            "{msg}"
        );
        let mut other = stats(0..10, "org/b@2");
        other.metadata.remove("model_a.id");
        let e = merged.merge(&other).unwrap_err();
        assert!(e.to_string().contains("\"org/a@1\" here but absent"), "{e}");
        let mut other = stats(0..10, "org/b@2");
        other.sites[1].0 = "model.layers.9".into();
        let e = merged.merge(&other).unwrap_err();
        assert!(e.to_string().contains("model.layers.9"), "{e}");
        let mut other = stats(0..10, "org/b@2");
        for (_, m) in &mut other.sites {
            *m = CrossMoments::new(4, 4);
        }
        assert_eq!(merged.merge(&other).unwrap_err().code(), "SHAPE_MISMATCH");
        assert_eq!(merged, before);
    }

    /// Writes a file with the given tensors (all from `values`, cycled) and metadata.
    fn raw_file(
        path: &Path,
        tensors: &[(&str, Dtype, Vec<usize>)],
        md: &[(&str, &str)],
        values: &[f64],
    ) {
        let mut infos = Vec::new();
        let mut data = Vec::new();
        for (name, dtype, shape) in tensors {
            let count: usize = shape.iter().product();
            let start = data.len() as u64;
            for k in 0..count {
                let v = values[k % values.len()];
                match dtype {
                    Dtype::F64 => data.extend_from_slice(&v.to_le_bytes()),
                    _ => data.extend_from_slice(&(v as f32).to_le_bytes()),
                }
            }
            infos.push(TensorInfo {
                name: name.to_string(),
                dtype: *dtype,
                shape: shape.clone(),
                start,
                end: data.len() as u64,
            });
        }
        let md: HashMap<String, String> = md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut bytes = header_bytes(&infos, &md);
        bytes.extend_from_slice(&data);
        std::fs::write(path, bytes).unwrap();
    }

    fn site_tensors(site: &str, d1: usize, d2: usize) -> Vec<(String, Dtype, Vec<usize>)> {
        FIELDS
            .iter()
            .map(|f| (format!("{site}.{f}"), Dtype::F64, field_shape(f, d1, d2)))
            .collect()
    }

    #[test]
    fn load_rejects_broken_files_naming_file_and_tensor() {
        let dir = dir();
        let path = dir.join("broken.safetensors");
        let ok_md = [
            ("format", FORMAT),
            ("version", "1"),
            ("sites", r#"["a","b"]"#),
        ];
        let try_load =
            |tensors: Vec<(String, Dtype, Vec<usize>)>, md: &[(&str, &str)], values: &[f64]| {
                let t: Vec<(&str, Dtype, Vec<usize>)> = tensors
                    .iter()
                    .map(|(n, d, s)| (n.as_str(), *d, s.clone()))
                    .collect();
                raw_file(&path, &t, md, values);
                PairStats::load(&path)
            };
        let good = || {
            let mut t = site_tensors("a", 2, 3);
            t.extend(site_tensors("b", 2, 3));
            t
        };
        let loaded = try_load(good(), &ok_md, &[1.0]).unwrap();
        assert_eq!(loaded.sites.len(), 2);
        assert_eq!(loaded.count("b").unwrap(), 1);
        let expect = |r: Result<PairStats>, code: &str, needle: &str| {
            let e = r.unwrap_err();
            assert_eq!(e.code(), code, "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("broken.safetensors") && msg.contains(needle),
                "{msg}"
            );
        };
        // Inconsistent widths: site b's shift_y says 4.
        let mut t = good();
        t[8 + 2].2 = vec![4];
        expect(try_load(t, &ok_md, &[1.0]), "SHAPE_MISMATCH", "b.shift_y");
        let mut t = good();
        t[7].2 = vec![3, 2];
        expect(try_load(t, &ok_md, &[1.0]), "SHAPE_MISMATCH", "a.sum_xy");
        let mut t = good();
        t.remove(5);
        expect(
            try_load(t, &ok_md, &[1.0]),
            "SAFETENSORS_HEADER",
            "a.sum_xx",
        );
        let mut t = good();
        t[3].1 = Dtype::F32;
        expect(try_load(t, &ok_md, &[1.0]), "SAFETENSORS_HEADER", "a.sum_x");
        let mut t = good();
        t.push(("c.n".into(), Dtype::F64, vec![1]));
        expect(try_load(t, &ok_md, &[1.0]), "SAFETENSORS_HEADER", "c.n");
        expect(try_load(good(), &ok_md, &[0.1]), "INVALID_ARGUMENT", "a.n");
        expect(
            try_load(good(), &ok_md, &[1.0, 0.1]),
            "INVALID_ARGUMENT",
            "a.shift_x",
        );
        expect(
            try_load(good(), &ok_md, &[1.0, f64::NAN]),
            "NON_FINITE",
            "a.shift_x",
        );
        expect(
            try_load(
                good(),
                &[("format", "gauge-transport/gauge"), ("version", "1")],
                &[1.0],
            ),
            "SAFETENSORS_HEADER",
            "format",
        );
        std::fs::write(&path, b"not safetensors at all").unwrap();
        expect(PairStats::load(&path), "SAFETENSORS_HEADER", "header");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
