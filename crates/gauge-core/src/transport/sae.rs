//! Sparse autoencoders in the SAELens layout: a directory with `cfg.json` (`d_in`, `d_sae`, `hook_name`) and
//! `sae_weights.safetensors` holding `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae, d_in]`,
//! `b_dec [d_in]`, and per-feature extras (`threshold`, `log_threshold`, gated SAEs' `r_mag`, `b_mag`, `b_gate`).
//!
//! Rule (GAUGE.md §4): `W_enc` moves on axis 0 and `W_dec` on axis 1, both signed; `b_dec` moves signed; the
//! per-feature tensors are unchanged. Then for `x_B = g·x_A` the transported SAE computes the same features and
//! `x̂_B = g·x̂_A`, so its reconstruction error in `B` equals the original's in `A`.

use std::path::{Path, PathBuf};

use super::site::{site_chart, SiteChart};
use crate::error::{Error, Result};
use crate::gauge::Gauge;

/// The weights file of a SAELens directory.
pub const SAE_WEIGHTS: &str = "sae_weights.safetensors";
/// The config file of a SAELens directory.
pub const SAE_CONFIG: &str = "cfg.json";

const PER_FEATURE: &[&str] = &[
    "b_enc",
    "threshold",
    "log_threshold",
    "r_mag",
    "b_mag",
    "b_gate",
    "scaling_factor",
];

/// Options of [`transport_sae`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SaeOptions {
    /// Transport an SAE whose `hook_name` is not known to be a residual site (see [`super::site`]).
    pub allow_unknown_site: bool,
    /// Replace an existing output directory.
    pub overwrite: bool,
}

/// What [`transport_sae`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct SaeReport {
    /// `d_in` (the residual width).
    pub d_in: usize,
    /// `d_sae` (features), when the config gives it.
    pub d_sae: Option<usize>,
    /// The hook the SAE reads, when the config names it.
    pub hook_name: Option<String>,
    /// Tensors moved by the gauge.
    pub moved: usize,
    /// Tensors copied unchanged (per-feature).
    pub unchanged: usize,
    /// The written directory.
    pub out: PathBuf,
}

/// The `hook_name` of a SAELens config (top level, `hook_point` in old configs, or under `metadata`).
fn hook_name(cfg: &serde_json::Value) -> Option<String> {
    ["hook_name", "hook_point"]
        .iter()
        .find_map(|k| {
            cfg.get(*k)
                .or_else(|| cfg.get("metadata").and_then(|m| m.get(*k)))
        })
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// Writes the SAE directory `input` (made for checkpoint `A`) moved by `gauge: A -> B` into the new directory `out`.
pub fn transport_sae(
    input: &Path,
    out: &Path,
    gauge: &Gauge,
    opts: SaeOptions,
) -> Result<SaeReport> {
    let cfg_path = input.join(SAE_CONFIG);
    let text = crate::bounded::read_to_string(&cfg_path, crate::bounded::JSON_LIMIT)?;
    let cfg: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(cfg_path.display().to_string(), format!("is not JSON: {e}")))?;
    let field = |k: &str| cfg.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
    let d_in = field("d_in").ok_or_else(|| {
        Error::invalid(
            cfg_path.display().to_string(),
            "has no whole-number d_in (the SAE's input width)",
        )
    })?;
    if d_in != gauge.dim() {
        return Err(Error::shape(
            format!("{}: d_in", cfg_path.display()),
            format!(
                "{} (the gauge's d, the model's residual width)",
                gauge.dim()
            ),
            format!("{d_in}"),
        ));
    }
    let hook = hook_name(&cfg);
    match hook.as_deref().map(site_chart) {
        Some(SiteChart::Other(reason)) => {
            return Err(Error::invalid(
                cfg_path.display().to_string(),
                format!("hook_name {reason}; only SAEs on residual-stream sites move with the residual gauge"),
            ))
        }
        Some(SiteChart::Unknown) if !opts.allow_unknown_site => {
            return Err(Error::invalid(
                cfg_path.display().to_string(),
                format!(
                    "hook_name {:?} is not a site known to be in the residual chart (hook_resid_pre/mid/post, \
                     hook_mlp_out, hook_attn_out, a block output); allow unknown sites to transport it anyway",
                    hook.as_deref().unwrap_or_default()
                ),
            ))
        }
        _ => {}
    }
    let weights = input.join(SAE_WEIGHTS);
    if !weights.is_file() {
        return Err(Error::invalid(
            weights.display().to_string(),
            "is missing (SAELens layout: cfg.json + sae_weights.safetensors)",
        ));
    }
    if out.exists() && !opts.overwrite {
        return Err(Error::OutputExists { path: out.into() });
    }
    let d_sae = field("d_sae");
    crate::atomic::write_dir(out, opts.overwrite, |tmp| {
        let mut unchanged = 0;
        let moved = crate::stream::rewrite_file(
            &weights,
            &tmp.join(SAE_WEIGHTS),
            gauge,
            &super::provenance(gauge, input, "sae"),
            false,
            |t| {
                let where_ = || format!("{}: tensor {:?}", weights.display(), t.name);
                let want = |shape: Vec<usize>| -> Result<()> {
                    let fits = t.shape.len() == shape.len()
                        && t.shape.iter().zip(&shape).all(|(&a, &b)| b == 0 || a == b);
                    if fits {
                        Ok(())
                    } else {
                        Err(Error::shape(
                            where_(),
                            format!("shape {shape:?} (0: any)"),
                            format!("{:?}", t.shape),
                        ))
                    }
                };
                let ds = d_sae.unwrap_or(0);
                match t.name.as_str() {
                    "W_enc" => want(vec![d_in, ds]).map(|()| Some((0, true))),
                    "W_dec" => want(vec![ds, d_in]).map(|()| Some((1, true))),
                    "b_dec" => want(vec![d_in]).map(|()| Some((0, true))),
                    n if PER_FEATURE.contains(&n) => Ok(None),
                    n => Err(Error::invalid(
                        where_(),
                        format!(
                            "{n:?} is not a tensor of the SAELens layout (W_enc, W_dec, b_dec move; {} do not); \
                             refusing to guess how it moves",
                            PER_FEATURE.join(", ")
                        ),
                    )),
                }
            },
        )?;
        for entry in std::fs::read_dir(input).map_err(|e| Error::io(input, e))? {
            let entry = entry.map_err(|e| Error::io(input, e))?;
            let path = entry.path();
            if path.is_file() && entry.file_name() != SAE_WEIGHTS {
                std::fs::copy(&path, tmp.join(entry.file_name()))
                    .map_err(|e| Error::io(&path, e))?;
            }
        }
        let header = crate::checkpoint::read_header(&weights)?;
        unchanged += header.tensors.len() - moved;
        Ok(SaeReport {
            d_in,
            d_sae,
            hook_name: hook.clone(),
            moved,
            unchanged,
            out: out.into(),
        })
    })
}
