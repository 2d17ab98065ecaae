//! `gauge-core`: the light, dependency-free heart of gauge-transport.
//!
//! It holds the gauge group of the residual stream (signed permutations, [`gauge`]), its file format
//! ([`gauge_file`]), exact linear assignment ([`assignment`]), sign-marginalized matching of correlation matrices
//! ([`matching`]), streaming correlation statistics ([`stats`]) and their multi-site, mergeable files
//! ([`stats_file`]), data-free weight cross moments ([`weight_moments`]) and `.npy` input ([`npy`]). Conventions
//! follow `GAUGE.md`: a gauge maps a source chart to a target chart, `(g·x)[perm[i]] = sign[i] * x[i]`.
#![deny(missing_docs)]

pub mod assignment;
pub mod atomic;
pub mod bounded;
pub mod canonical;
pub mod checkpoint;
pub mod error;
pub mod estimate;
pub mod family;
pub mod finite;
pub mod gauge;
pub mod gauge_file;
pub mod init;
pub mod inspect;
pub mod matching;
pub mod npy;
pub mod npz;
pub mod null;
pub mod owned;
pub mod perturb;
pub mod recharting;
pub mod rewrite;
pub mod rng;
pub mod rotation;
pub mod stats;
pub mod stats_file;
pub mod stream;
pub mod transport;
pub mod weight_moments;

pub use error::{Error, Result};
pub use gauge::{Agreement, Gauge, Group, RandomOptions};
