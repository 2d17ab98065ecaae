//! Moving coordinate-indexed tools between charts (GAUGE.md §4): a tool made for checkpoint `A` is rewritten for
//! checkpoint `B` with the gauge `g: A -> B` (`h_B ≈ g·h_A`).
//!
//! | object | rule |
//! |---|---|
//! | steering vector `v` (residual site) | `v' = g·v` (the last axis) |
//! | SAE (SAELens) | `W_enc` axis 0 and `W_dec` axis 1 signed, `b_dec` signed; per-feature tensors unchanged |
//! | AdamW state | `exp_avg` moves like its parameter; `exp_avg_sq` like its parameter under `|g|` |
//!
//! Only objects in the residual chart move with the residual gauge; [`site`] tells residual hook names from the
//! sites of other charts (MLP neurons, attention heads) and explains the refusal. Every writer streams tensors
//! through the re-charting kernel (exact: a gather and a sign-bit flip, any float dtype) into a temporary sibling
//! that is renamed into place.

pub mod merge;
pub mod optimizer;
pub mod sae;
pub mod site;
pub mod steering;

/// Metadata entries recording a transport in a written safetensors file.
pub(crate) fn provenance(
    gauge: &crate::Gauge,
    source: &std::path::Path,
    what: &str,
) -> Vec<(String, String)> {
    vec![
        ("gauge_transport.transported".into(), what.into()),
        (
            "gauge_transport.group".into(),
            gauge.group().as_str().into(),
        ),
        (
            "gauge_transport.source".into(),
            source.display().to_string(),
        ),
    ]
}
