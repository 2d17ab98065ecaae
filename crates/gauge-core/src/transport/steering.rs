//! Steering vectors (and any stack of residual vectors) in a safetensors file: every tensor's last axis is the
//! residual axis, moved signed: `v' = g·v` (GAUGE.md §4). A tensor whose last axis is not `d` is refused, naming
//! it: a vector on MLP neurons or attention heads lives in another chart (see [`super::site`]). So is a tensor of
//! length `d` whose name is a hook of another chart (`hook_z` of a model with `n_heads · d_head = d`, say): the
//! length alone would let it through.

use std::path::Path;

use crate::error::{Error, Result};
use crate::gauge::Gauge;

/// Writes the steering vectors in `input` moved by `gauge` to `out`; returns the number of tensors moved.
pub fn transport_steering_file(
    input: &Path,
    out: &Path,
    gauge: &Gauge,
    overwrite: bool,
) -> Result<usize> {
    let d = gauge.dim();
    crate::stream::rewrite_file(
        input,
        out,
        gauge,
        &super::provenance(gauge, input, "steering"),
        overwrite,
        |t| {
            if let super::site::SiteChart::Other(reason) = super::site::site_chart(&t.name) {
                return Err(Error::invalid(
                    format!("{}: tensor {:?}", input.display(), t.name),
                    format!("is named for a site outside the residual chart: {reason}"),
                ));
            }
            match t.shape.last() {
            Some(&n) if n == d => Ok(Some((t.shape.len() - 1, true))),
            _ => Err(Error::shape(
                format!("{}: tensor {:?}", input.display(), t.name),
                format!(
                    "a residual vector: last axis of length {d} (the model's d). A vector of another length lives \
                     in another chart (MLP neurons, attention heads), which the residual gauge cannot move"
                ),
                format!("shape {:?}", t.shape),
            )),
        }
        },
    )
}
