//! The `Gauge` class: a signed permutation of the residual stream (GAUGE.md §2).

use std::path::Path;

use gauge_core::gauge_file::{self, GaugeMeta};
use gauge_core::{Group, RandomOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args::{dim, index, seed};
use crate::error::{sync, CResult, CodedError};

/// Options of `Gauge.random`.
#[napi(object)]
pub struct RandomGaugeOptions {
    /// Seed of the generator (an integer below 2^53).
    /// @default 0
    pub seed: Option<f64>,
    /// Fraction of +1 signs for a `Bd` gauge; exactly `round(p·d)` coordinates get +1.
    /// @default 0.5 for `Bd`, 1 for `Sd`
    pub positive_fraction: Option<f64>,
    /// Group to draw from: `Bd` (signed permutations), `Sd` (permutations) or `±Sd` (one global sign).
    /// @default 'Bd'
    pub group: Option<String>,
}

/// Provenance stored in a gauge file.
#[napi(object)]
pub struct GaugeMetadata {
    /// The source chart (a checkpoint path or hash).
    pub source: Option<String>,
    /// The target chart.
    pub target: Option<String>,
    /// How the gauge was obtained, for example `marginalized`.
    pub method: Option<String>,
}

/// Options of `Gauge.write`.
#[napi(object)]
pub struct WriteOptions {
    /// Replace an existing file. The write is atomic either way.
    /// @default false
    pub overwrite: Option<bool>,
}

/// Perm and signed accuracy of one gauge against another, over all d coordinates.
#[napi(object)]
pub struct GaugeAgreement {
    /// Fraction of coordinates sent to the same target coordinate.
    pub perm_accuracy: f64,
    /// Fraction sent to the same target coordinate with the same sign.
    pub signed_accuracy: f64,
}

/// A signed permutation `g` of d coordinates, mapping a source chart to a target chart:
/// `(g·x)[perm[i]] = sign[i] * x[i]`, i.e. the matrix `G[perm[i], i] = sign[i]`.
#[napi]
pub struct Gauge {
    pub(crate) inner: gauge_core::Gauge,
}

pub(crate) fn parse_group(s: &str) -> CResult<Group> {
    Group::parse(s)
        .ok_or_else(|| CodedError::invalid("group", format!("{s:?} is not one of Bd, Sd, ±Sd")))
}

#[napi]
impl Gauge {
    /// The identity gauge on `d` coordinates.
    #[napi(factory)]
    pub fn identity(env: Env, d: f64) -> Result<Gauge> {
        sync(&env, || {
            Ok(Gauge {
                inner: gauge_core::Gauge::identity(dim(d, "d")?)?,
            })
        })
    }

    /// A validated gauge from `perm` (a permutation of 0..d) and `sign` (each ±1). Throws
    /// `GAUGE_NOT_PERMUTATION`, `GAUGE_BAD_SIGN` or `SHAPE_MISMATCH`.
    #[napi(factory)]
    pub fn from_arrays(env: Env, perm: Uint32Array, sign: Int8Array) -> Result<Gauge> {
        sync(&env, || {
            Ok(Gauge {
                inner: gauge_core::Gauge::from_parts(perm.to_vec(), sign.to_vec(), "fromArrays")?,
            })
        })
    }

    /// A random gauge of `d` coordinates.
    #[napi(factory)]
    pub fn random(env: Env, d: f64, options: Option<RandomGaugeOptions>) -> Result<Gauge> {
        sync(&env, || {
            let o = options.unwrap_or(RandomGaugeOptions {
                seed: None,
                positive_fraction: None,
                group: None,
            });
            let group = parse_group(o.group.as_deref().unwrap_or("Bd"))?;
            let default_p = if group == Group::Bd { 0.5 } else { 1.0 };
            let opts = RandomOptions {
                seed: seed(o.seed)?,
                positive_fraction: o.positive_fraction.unwrap_or(default_p),
                group,
            };
            Ok(Gauge {
                inner: gauge_core::Gauge::random(dim(d, "d")?, &opts)?,
            })
        })
    }

    /// Reads and validates a gauge file (GAUGE.md §2).
    #[napi(factory)]
    pub fn read(env: Env, path: String) -> Result<Gauge> {
        sync(&env, || {
            Ok(Gauge {
                inner: gauge_file::read(Path::new(&path))?.0,
            })
        })
    }

    /// The metadata of a gauge file (`source`, `target`, `method`), validating the whole file.
    #[napi]
    pub fn read_metadata(env: Env, path: String) -> Result<GaugeMetadata> {
        sync(&env, || {
            let (_, m) = gauge_file::read(Path::new(&path))?;
            Ok(GaugeMetadata {
                source: m.source,
                target: m.target,
                method: m.method,
            })
        })
    }

    /// Writes the gauge file atomically (temporary file, then rename). Throws `OUTPUT_EXISTS` when `path` exists
    /// and `overwrite` is not set.
    #[napi]
    pub fn write(
        &self,
        env: Env,
        path: String,
        metadata: Option<GaugeMetadata>,
        options: Option<WriteOptions>,
    ) -> Result<()> {
        sync(&env, || {
            let meta = metadata
                .map(|m| GaugeMeta {
                    source: m.source,
                    target: m.target,
                    method: m.method,
                })
                .unwrap_or_default();
            let overwrite = options.and_then(|o| o.overwrite).unwrap_or(false);
            Ok(gauge_file::write(
                Path::new(&path),
                &self.inner,
                &meta,
                overwrite,
            )?)
        })
    }

    /// Number of coordinates.
    #[napi(getter)]
    pub fn d(&self) -> u32 {
        self.inner.dim() as u32
    }

    /// A copy of `perm`: `perm[i]` is the target coordinate of source coordinate `i`.
    #[napi(getter)]
    pub fn perm(&self) -> Uint32Array {
        Uint32Array::new(self.inner.perm().to_vec())
    }

    /// A copy of `sign`: each ±1.
    #[napi(getter)]
    pub fn sign(&self) -> Int8Array {
        Int8Array::new(self.inner.sign().to_vec())
    }

    /// `this ∘ first`: the gauge that applies `first`, then `this`.
    #[napi]
    pub fn compose(&self, env: Env, first: &Gauge) -> Result<Gauge> {
        sync(&env, || {
            Ok(Gauge {
                inner: self.inner.compose(&first.inner)?,
            })
        })
    }

    /// The inverse gauge (target chart back to source chart).
    #[napi]
    pub fn inverse(&self) -> Gauge {
        Gauge {
            inner: self.inner.inverse(),
        }
    }

    /// `|g|`: the same permutation with every sign +1.
    #[napi]
    pub fn abs(&self) -> Gauge {
        Gauge {
            inner: self.inner.abs(),
        }
    }

    /// The smallest group holding this gauge: `Sd`, `±Sd` or `Bd`.
    #[napi(ts_return_type = "'Sd' | '±Sd' | 'Bd'")]
    pub fn group(&self) -> &'static str {
        self.inner.group().as_str()
    }

    /// Whether both gauges have the same `perm` and `sign`.
    #[napi]
    pub fn equals(&self, other: &Gauge) -> bool {
        self.inner == other.inner
    }

    /// Perm and signed accuracy of this gauge against `truth` (GAUGE.md §2).
    #[napi]
    pub fn agreement(&self, env: Env, truth: &Gauge) -> Result<GaugeAgreement> {
        sync(&env, || {
            let a = self.inner.agreement(&truth.inner)?;
            Ok(GaugeAgreement {
                perm_accuracy: a.perm_accuracy,
                signed_accuracy: a.signed_accuracy,
            })
        })
    }

    /// `g·x` for a vector of length d.
    #[napi]
    pub fn apply_vector(&self, env: Env, x: Float32Array) -> Result<Float32Array> {
        sync(&env, || Ok(Float32Array::new(self.inner.apply_vector(&x)?)))
    }

    /// Moves a row-major tensor of `shape` along `axis` (of length d):
    /// `out[.., perm[i], ..] = sign[i] * x[.., i, ..]`; without signs when `signed` is false (`|g|`, for gains).
    #[napi]
    pub fn apply_axis(
        &self,
        env: Env,
        x: Float32Array,
        shape: Vec<f64>,
        axis: f64,
        signed: Option<bool>,
    ) -> Result<Float32Array> {
        sync(&env, || {
            let shape = shape
                .iter()
                .map(|&s| index(s, "shape"))
                .collect::<CResult<Vec<usize>>>()?;
            let axis = index(axis, "axis")?;
            let out = self
                .inner
                .apply_axis(&x, &shape, axis, signed.unwrap_or(true))?;
            Ok(Float32Array::new(out))
        })
    }
}
