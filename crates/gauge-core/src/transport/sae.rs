//! Sparse autoencoders in the layouts users have (SAELens, EleutherAI sparsify, Gemma Scope; see [`SaeLayout`]).
//! SAELens: a directory with `cfg.json` (`d_in`, `d_sae`, `hook_name`) and
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

/// How a tensor moves: `Some((axis, signed))`, or `None` for unchanged.
type Move = Option<(usize, bool)>;

/// The on-disk layouts read, each a directory with one weights file; found by which weights file it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaeLayout {
    /// SAELens: `cfg.json` (`d_in`, `d_sae`, `hook_name`) + `sae_weights.safetensors` (`W_enc [d_in, d_sae]`,
    /// `b_enc`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`, per-feature extras).
    SaeLens,
    /// EleutherAI sparsify: `cfg.json` (`d_in`, `num_latents`, ...) + `sae.safetensors` (`encoder.weight [L, d_in]`,
    /// `encoder.bias [L]`, `W_dec [L, d_in]`, `b_dec [d_in]`). A skip connection (`W_skip`) is refused.
    Sparsify,
    /// Gemma Scope: `params.safetensors` (`W_enc`/`w_enc [d_in, L]`, `W_dec`/`w_dec [L, d_in]`, `b_enc [L]`,
    /// `b_dec [d_in]`, `threshold [L]`), no config: `d_in` is read from `b_dec`.
    GemmaScope,
    /// Gemma Scope as released: the same arrays in `params.npz` (`numpy.savez`, float32), written back as `.npz`.
    GemmaScopeNpz,
}

impl SaeLayout {
    /// The layout of directory `input`, by the weights file it holds.
    pub fn detect(input: &Path) -> Result<Self> {
        for (file, layout) in [
            (SAE_WEIGHTS, SaeLayout::SaeLens),
            ("sae.safetensors", SaeLayout::Sparsify),
            ("params.safetensors", SaeLayout::GemmaScope),
            ("params.npz", SaeLayout::GemmaScopeNpz),
        ] {
            if input.join(file).is_file() {
                return Ok(layout);
            }
        }
        Err(Error::invalid(
            input.display().to_string(),
            "holds no SAE weights: expected cfg.json + sae_weights.safetensors (SAELens), cfg.json + \
             sae.safetensors (EleutherAI sparsify) or params.safetensors / params.npz (Gemma Scope)",
        ))
    }

    /// The weights file of this layout.
    pub fn weights(self) -> &'static str {
        match self {
            SaeLayout::SaeLens => SAE_WEIGHTS,
            SaeLayout::Sparsify => "sae.safetensors",
            SaeLayout::GemmaScope => "params.safetensors",
            SaeLayout::GemmaScopeNpz => "params.npz",
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            SaeLayout::SaeLens => "SAELens",
            SaeLayout::Sparsify => "EleutherAI sparsify",
            SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz => "Gemma Scope",
        }
    }

    /// How tensor `name` moves: its expected shape (`D` the residual width, `L` the features, 0 any) and its action
    /// (`Some((axis, signed))` or `None` for unchanged). `None` overall: not a tensor of this layout.
    fn rule(self, name: &str, d: usize, l: usize) -> Option<(Vec<usize>, Move)> {
        let moves = |shape: Vec<usize>, axis: usize| Some((shape, Some((axis, true))));
        let stays = |shape: Vec<usize>| Some((shape, None));
        match (self, name) {
            (SaeLayout::SaeLens, "W_enc") => moves(vec![d, l], 0),
            (SaeLayout::SaeLens, "W_dec") => moves(vec![l, d], 1),
            (SaeLayout::SaeLens, "b_dec") => moves(vec![d], 0),
            (SaeLayout::SaeLens, n) if PER_FEATURE.contains(&n) => stays(vec![l]),
            (SaeLayout::Sparsify, "encoder.weight") => moves(vec![l, d], 1),
            (SaeLayout::Sparsify, "W_dec") => moves(vec![l, d], 1),
            (SaeLayout::Sparsify, "b_dec") => moves(vec![d], 0),
            (SaeLayout::Sparsify, "encoder.bias") => stays(vec![l]),
            (SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz, "W_enc" | "w_enc") => {
                moves(vec![d, l], 0)
            }
            (SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz, "W_dec" | "w_dec") => {
                moves(vec![l, d], 1)
            }
            (SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz, "b_dec") => moves(vec![d], 0),
            (SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz, "b_enc" | "threshold") => {
                stays(vec![l])
            }
            _ => None,
        }
    }

    /// The tensor names this layout knows, for refusals.
    fn known(self) -> String {
        match self {
            SaeLayout::SaeLens => format!(
                "W_enc, W_dec, b_dec move; {} do not",
                PER_FEATURE.join(", ")
            ),
            SaeLayout::Sparsify => {
                "encoder.weight, W_dec, b_dec move; encoder.bias does not".into()
            }
            SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz => {
                "W_enc, W_dec, b_dec move; b_enc, threshold do not".into()
            }
        }
    }
}

/// Writes the SAE directory `input` (made for checkpoint `A`, in any [`SaeLayout`]) moved by `gauge: A -> B` into
/// the new directory `out`, in the same layout; other files of the directory are copied.
pub fn transport_sae(
    input: &Path,
    out: &Path,
    gauge: &Gauge,
    opts: SaeOptions,
) -> Result<SaeReport> {
    let layout = SaeLayout::detect(input)?;
    if layout == SaeLayout::GemmaScopeNpz {
        return transport_npz(input, out, gauge, opts);
    }
    let weights = input.join(layout.weights());
    let header = crate::checkpoint::read_header(&weights)?;
    let cfg_path = input.join(SAE_CONFIG);
    let cfg: serde_json::Value = if layout == SaeLayout::GemmaScope && !cfg_path.is_file() {
        serde_json::Value::Null
    } else {
        let text = crate::bounded::read_to_string(&cfg_path, crate::bounded::JSON_LIMIT)?;
        serde_json::from_str(&text).map_err(|e| {
            Error::invalid(cfg_path.display().to_string(), format!("is not JSON: {e}"))
        })?
    };
    let field = |k: &str| cfg.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
    let tensor_len = |name: &str, axis: usize| {
        header
            .tensors
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.shape.get(axis).copied())
    };
    // The residual width: the config's d_in, or for Gemma Scope (no config) the length of b_dec.
    let (d_in, d_where) = match layout {
        SaeLayout::GemmaScope if cfg.is_null() => (
            tensor_len("b_dec", 0),
            format!("{}: tensor \"b_dec\"", weights.display()),
        ),
        _ => (field("d_in"), format!("{}: d_in", cfg_path.display())),
    };
    let d_in = d_in.ok_or_else(|| {
        Error::invalid(
            d_where.clone(),
            format!("is missing: a {} SAE states its input width", layout.name()),
        )
    })?;
    if d_in != gauge.dim() {
        return Err(Error::shape(
            d_where,
            format!(
                "{} (the gauge's d, the model's residual width)",
                gauge.dim()
            ),
            format!("{d_in}"),
        ));
    }
    let hook = hook_name(&cfg);
    if layout == SaeLayout::GemmaScope {
        refuse_gemma_scope_attention(input)?;
    }
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
    // The features: the config's, else the decoder's first axis.
    let d_sae = field("d_sae")
        .or_else(|| field("num_latents"))
        .or_else(|| ["W_dec", "w_dec"].iter().find_map(|n| tensor_len(n, 0)));
    for required in match layout {
        SaeLayout::SaeLens => &["W_enc", "W_dec", "b_dec"][..],
        SaeLayout::Sparsify => &["encoder.weight", "W_dec", "b_dec"][..],
        SaeLayout::GemmaScope | SaeLayout::GemmaScopeNpz => &["b_dec"][..],
    } {
        if !header.tensors.iter().any(|t| t.name == *required) {
            return Err(Error::invalid(
                weights.display().to_string(),
                format!(
                    "has no tensor {required:?}, which a {} SAE needs",
                    layout.name()
                ),
            ));
        }
    }
    crate::atomic::write_dir(out, opts.overwrite, |tmp| {
        let moved = crate::stream::rewrite_file(
            &weights,
            &tmp.join(layout.weights()),
            gauge,
            &super::provenance(gauge, input, "sae"),
            false,
            |t| {
                let where_ = || format!("{}: tensor {:?}", weights.display(), t.name);
                let (shape, action) = layout.rule(&t.name, d_in, d_sae.unwrap_or(0)).ok_or_else(|| {
                    Error::invalid(
                        where_(),
                        format!(
                            "{:?} is not a tensor of the {} layout ({}); refusing to guess how it moves",
                            t.name,
                            layout.name(),
                            layout.known()
                        ),
                    )
                })?;
                let fits = shape == [0]
                    || (t.shape.len() == shape.len()
                        && t.shape.iter().zip(&shape).all(|(&a, &b)| b == 0 || a == b));
                if !fits {
                    return Err(Error::shape(
                        where_(),
                        format!("shape {shape:?} (0: any)"),
                        format!("{:?}", t.shape),
                    ));
                }
                Ok(action)
            },
        )?;
        copy_side_files(input, tmp, layout.weights())?;
        Ok(SaeReport {
            d_in,
            d_sae,
            hook_name: hook.clone(),
            moved,
            unchanged: header.tensors.len() - moved,
            out: out.into(),
        })
    })
}

/// [`transport_sae`] for Gemma Scope's `params.npz`: every array read (float32), moved by the layout's rule, and
/// written back as `.npz` with the same names and order; other files copied.
fn transport_npz(input: &Path, out: &Path, gauge: &Gauge, opts: SaeOptions) -> Result<SaeReport> {
    let layout = SaeLayout::GemmaScopeNpz;
    let file = input.join(layout.weights());
    refuse_gemma_scope_attention(input)?;
    // The archive is read whole (the arrays are moved in memory): at most 16 GiB, about a 1M-feature SAE at d = 4096.
    let bytes = crate::bounded::read(&file, 16 << 30)?;
    let members = crate::npz::parse(&bytes, &file)?;
    let find = |n: &str| members.iter().find(|(m, _)| m == n).map(|(_, a)| a);
    let b_dec = find("b_dec").ok_or_else(|| {
        Error::invalid(
            file.display().to_string(),
            "has no b_dec, which a Gemma Scope SAE needs",
        )
    })?;
    let d_in = b_dec.shape.first().copied().unwrap_or(0);
    let d_where = format!("{}: b_dec", file.display());
    if b_dec.shape.len() != 1 || d_in != gauge.dim() {
        return Err(Error::shape(
            d_where,
            format!(
                "[{}] (the gauge's d, the model's residual width)",
                gauge.dim()
            ),
            format!("{:?}", b_dec.shape),
        ));
    }
    let d_sae = ["W_dec", "w_dec"]
        .iter()
        .find_map(|n| find(n))
        .and_then(|a| a.shape.first().copied());
    let mut moved = 0;
    let mut written = Vec::with_capacity(members.len());
    for (name, array) in &members {
        let where_ = format!("{}: {name}", file.display());
        let (shape, action) = layout.rule(name, d_in, d_sae.unwrap_or(0)).ok_or_else(|| {
            Error::invalid(
                where_.clone(),
                format!("is not an array of the Gemma Scope layout ({}); refusing to guess how it moves", layout.known()),
            )
        })?;
        let fits = array.shape.len() == shape.len()
            && array
                .shape
                .iter()
                .zip(&shape)
                .all(|(&a, &b)| b == 0 || a == b);
        if !fits {
            return Err(Error::shape(
                where_,
                format!("shape {shape:?} (0: any)"),
                format!("{:?}", array.shape),
            ));
        }
        let data = array.clone().into_f32(&file)?;
        let data = match action {
            Some((axis, signed)) => {
                moved += 1;
                gauge.apply_axis(&data, &array.shape, axis, signed)?
            }
            None => data,
        };
        written.push((name.clone(), data, array.shape.clone()));
    }
    let npz = crate::npz::to_bytes(&written)?;
    crate::atomic::write_dir(out, opts.overwrite, |tmp| {
        crate::atomic::write_file(&tmp.join(layout.weights()), &npz, false)?;
        copy_side_files(input, tmp, layout.weights())?;
        Ok(SaeReport {
            d_in,
            d_sae,
            hook_name: None,
            moved,
            unchanged: members.len() - moved,
            out: out.into(),
        })
    })
}

/// Gemma Scope names its site by its repository, not a config: its attention SAEs (`-att`) read the heads' outputs
/// before the output projection, another chart.
fn refuse_gemma_scope_attention(input: &Path) -> Result<()> {
    if input.to_string_lossy().contains("-att") {
        return Err(Error::invalid(
            input.display().to_string(),
            "is a Gemma Scope attention SAE (its path says -att): it reads the attention heads' outputs before the \
             output projection, a chart the residual gauge does not act on",
        ));
    }
    Ok(())
}

/// Copies every file of the SAE directory `input` but its weights file into `tmp`.
fn copy_side_files(input: &Path, tmp: &Path, weights: &str) -> Result<()> {
    for entry in std::fs::read_dir(input).map_err(|e| Error::io(input, e))? {
        let entry = entry.map_err(|e| Error::io(input, e))?;
        let path = entry.path();
        if path.is_file() && entry.file_name() != weights {
            std::fs::copy(&path, tmp.join(entry.file_name())).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
