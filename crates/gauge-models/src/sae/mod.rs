//! Sparse autoencoders on residual activations, in the SAELens layout (GAUGE.md §4): a directory with `cfg.json`
//! (`architecture`, `d_in`, `d_sae`, `hook_name`, `apply_b_dec_to_input`) and `sae_weights.safetensors` holding
//! `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]` and, for `jumprelu`, a
//! per-feature `threshold [d_sae]`.
//!
//! Encoding: `pre = (x - b_dec) W_enc + b_enc` (without `- b_dec` when `apply_b_dec_to_input` is false), features
//! `f = relu(pre)` (`standard`) or `pre · [pre > threshold]` (`jumprelu`); decoding: `x̂ = f W_dec + b_dec`.
//! [`Sae::evaluate`] reports the transfer metric of GAUGE.md §6, `NMSE = Σ‖x - x̂‖² / Σ‖x - mean(x)‖²`.
//! [`train`] fits a `standard` SAE to activations with the project's own loop (candle autograd, Adam).

mod train;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
pub use train::{train, SaeTrainOptions, SaeTrainReport};

/// The config file of a SAELens directory.
pub const SAE_CONFIG: &str = "cfg.json";
/// The weights file of a SAELens directory.
pub const SAE_WEIGHTS: &str = "sae_weights.safetensors";

/// The activation function of an SAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `relu(pre)`.
    Standard,
    /// `pre · [pre > threshold]`, with a per-feature threshold.
    JumpRelu,
}

/// An SAE in memory, `f32` on one device.
#[derive(Debug, Clone)]
pub struct Sae {
    /// `[d_in, d_sae]`.
    pub w_enc: Tensor,
    /// `[d_sae]`.
    pub b_enc: Tensor,
    /// `[d_sae, d_in]`.
    pub w_dec: Tensor,
    /// `[d_in]`.
    pub b_dec: Tensor,
    /// `[d_sae]`, for [`Architecture::JumpRelu`].
    pub threshold: Option<Tensor>,
    /// The activation function.
    pub architecture: Architecture,
    /// Whether `b_dec` is subtracted from the input before encoding.
    pub apply_b_dec_to_input: bool,
}

/// Reconstruction quality of an SAE on a set of activations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaeMetrics {
    /// `Σ‖x - x̂‖² / Σ‖x - mean(x)‖²` (GAUGE.md §6): 0 is perfect, 1 is no better than the mean.
    pub nmse: f64,
    /// Mean number of active features per token.
    pub l0: f64,
    /// Fraction of features never active on these activations.
    pub dead: f64,
    /// Rows evaluated.
    pub tokens: usize,
}

impl Sae {
    /// The input width `d_in`.
    pub fn d_in(&self) -> usize {
        self.b_dec.dims()[0]
    }

    /// The number of features `d_sae`.
    pub fn d_sae(&self) -> usize {
        self.b_enc.dims()[0]
    }

    /// Features `[n, d_sae]` of activations `x [n, d_in]`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let centred = if self.apply_b_dec_to_input {
            x.broadcast_sub(&self.b_dec)?
        } else {
            x.clone()
        };
        let pre = centred.matmul(&self.w_enc)?.broadcast_add(&self.b_enc)?;
        Ok(match (&self.architecture, &self.threshold) {
            (Architecture::JumpRelu, Some(t)) => {
                let mask = pre.broadcast_gt(t)?.to_dtype(DType::F32)?;
                (pre * mask)?
            }
            _ => pre.relu()?,
        })
    }

    /// Reconstructions `[n, d_in]` from features `[n, d_sae]`.
    pub fn decode(&self, f: &Tensor) -> Result<Tensor> {
        Ok(f.matmul(&self.w_dec)?.broadcast_add(&self.b_dec)?)
    }

    /// [`SaeMetrics`] of the SAE on the activations `x`, row-major `[n, d_in]`, in blocks of 4096 rows (sums in
    /// `f64`). `x` must be finite and its width `d_in`.
    pub fn evaluate(&self, x: &[f32], device: &Device) -> Result<SaeMetrics> {
        let d = self.d_in();
        let mean = checked_mean(x, d, "the SAE's d_in")?;
        let n = x.len() / d;
        let total: f64 = x
            .chunks_exact(d)
            .map(|row| {
                row.iter()
                    .zip(&mean)
                    .map(|(&v, m)| (v as f64 - m).powi(2))
                    .sum::<f64>()
            })
            .sum();
        let mut err = 0f64;
        let mut active = 0f64;
        let mut alive = vec![false; self.d_sae()];
        for block in x.chunks(4096 * d) {
            let rows = block.len() / d;
            let xb = Tensor::from_slice(block, (rows, d), device)?;
            let f = self.encode(&xb)?;
            let xhat = self.decode(&f)?;
            err += (xb - xhat)?
                .sqr()?
                .to_dtype(DType::F64)?
                .sum_all()?
                .to_scalar::<f64>()?;
            let on = f.gt(0f32)?.to_dtype(DType::F32)?;
            active += on.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
            for (a, c) in alive.iter_mut().zip(on.sum(0)?.to_vec1::<f32>()?) {
                *a |= c > 0.0;
            }
        }
        let dead = alive.iter().filter(|a| !**a).count() as f64 / alive.len() as f64;
        Ok(SaeMetrics {
            nmse: if total > 0.0 { err / total } else { f64::NAN },
            l0: active / n as f64,
            dead,
            tokens: n,
        })
    }

    /// Reads a SAELens directory onto `device`, checking the config against the tensors. Refused, naming the file:
    /// an architecture other than `standard` or `jumprelu`, a missing or misshapen tensor, a tensor the layout
    /// does not have.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg_path = dir.join(SAE_CONFIG);
        let cfg_file = cfg_path.display().to_string();
        let text = gauge_core::bounded::read_to_string(&cfg_path, gauge_core::bounded::JSON_LIMIT)?;
        let cfg: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::input(&cfg_file, format!("is not JSON: {e}")))?;
        let architecture = match cfg.get("architecture").and_then(|v| v.as_str()) {
            None | Some("standard") => Architecture::Standard,
            Some("jumprelu") => Architecture::JumpRelu,
            Some(other) => {
                return Err(Error::unsupported(
                    format!("{cfg_file}: architecture {other:?}"),
                    "SAEs are evaluated for the `standard` and `jumprelu` architectures",
                ))
            }
        };
        let apply_b_dec_to_input = cfg
            .get("apply_b_dec_to_input")
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        let field = |k: &str| {
            cfg.get(k)
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .ok_or_else(|| Error::input(&cfg_file, format!("has no whole-number {k}")))
        };
        let (d_in, d_sae) = (field("d_in")?, field("d_sae")?);
        let weights = dir.join(SAE_WEIGHTS);
        let wfile = weights.display().to_string();
        let bytes = std::fs::read(&weights).map_err(|e| gauge_core::Error::io(&weights, e))?;
        let header = gauge_core::checkpoint::parse_header(&bytes, &weights)?;
        let mut found: HashMap<String, Tensor> = HashMap::new();
        for view in &header.tensors {
            let name = view.name.clone();
            let expected: &[usize] = match name.as_str() {
                "W_enc" => &[d_in, d_sae],
                "W_dec" => &[d_sae, d_in],
                "b_dec" => &[d_in],
                "b_enc" | "threshold" => &[d_sae],
                other => {
                    return Err(Error::input(
                        format!("{wfile}: tensor {other:?}"),
                        "is not a tensor of a standard or jumprelu SAE (W_enc, b_enc, W_dec, b_dec, threshold)",
                    ))
                }
            };
            if view.shape != expected {
                return Err(Error::input(
                    format!("{wfile}: tensor {name:?}"),
                    format!(
                        "has shape {:?}, but cfg.json (d_in {d_in}, d_sae {d_sae}) implies {expected:?}",
                        view.shape
                    ),
                ));
            }
            let data = header.data(&bytes, view);
            let values = view_f32(view.dtype, data, &format!("{wfile}: tensor {name:?}"))?;
            found.insert(
                name,
                Tensor::from_vec(values, view.shape.as_slice(), device)?,
            );
        }
        let mut take = |k: &str| {
            found
                .remove(k)
                .ok_or_else(|| Error::input(&wfile, format!("has no tensor {k:?}")))
        };
        let threshold = match architecture {
            Architecture::JumpRelu => Some(take("threshold")?),
            Architecture::Standard => None,
        };
        Ok(Self {
            w_enc: take("W_enc")?,
            b_enc: take("b_enc")?,
            w_dec: take("W_dec")?,
            b_dec: take("b_dec")?,
            threshold,
            architecture,
            apply_b_dec_to_input,
        })
    }

    /// Writes the SAE as the new SAELens directory `out` (F32 weights, `cfg.json` with `hook_name` and `extra`
    /// fields merged in), through a temporary sibling renamed into place; an existing `out` is kept unless
    /// `overwrite`.
    pub fn save(
        &self,
        out: &Path,
        hook_name: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
        overwrite: bool,
    ) -> Result<()> {
        if out.exists() && !overwrite {
            return Err(gauge_core::Error::OutputExists { path: out.into() }.into());
        }
        let mut cfg = serde_json::json!({
            "architecture": match self.architecture {
                Architecture::Standard => "standard",
                Architecture::JumpRelu => "jumprelu",
            },
            "d_in": self.d_in(),
            "d_sae": self.d_sae(),
            "dtype": "float32",
            "hook_name": hook_name,
            "apply_b_dec_to_input": self.apply_b_dec_to_input,
            "normalize_activations": "none",
        });
        let map = cfg.as_object_mut().expect("an object");
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
        let mut tensors = vec![
            ("W_enc".to_string(), self.w_enc.clone()),
            ("b_enc".to_string(), self.b_enc.clone()),
            ("W_dec".to_string(), self.w_dec.clone()),
            ("b_dec".to_string(), self.b_dec.clone()),
        ];
        if let Some(t) = &self.threshold {
            tensors.push(("threshold".to_string(), t.clone()));
        }
        let tensors = tensors
            .into_iter()
            .map(|(n, t)| Ok((n, t.to_device(&Device::Cpu)?)))
            .collect::<Result<Vec<_>>>()?;
        let bytes = crate::train::adamw::f32_safetensors(&tensors, &HashMap::new())?;
        gauge_core::atomic::write_dir(out, overwrite, |tmp| -> Result<()> {
            gauge_core::atomic::write_file(&tmp.join(SAE_WEIGHTS), &bytes, false)?;
            let json = serde_json::to_vec_pretty(&cfg).expect("JSON");
            gauge_core::atomic::write_file(&tmp.join(SAE_CONFIG), &json, false)?;
            Ok(())
        })
    }
}

/// The values of an F32, F16 or BF16 tensor's bytes, widened exactly to `f32`.
fn view_f32(dtype: gauge_core::checkpoint::Dtype, data: &[u8], location: &str) -> Result<Vec<f32>> {
    use gauge_core::checkpoint::Dtype;
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| gauge_core::checkpoint::f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        other => {
            return Err(Error::input(
                location,
                format!(
                    "has dtype {}; SAE weights are F32, F16 or BF16",
                    other.as_str()
                ),
            ))
        }
    })
}

/// The column means of finite activations `x`, row-major `[n, d]` (`f64` sums), after checking them: `x` must be a
/// positive multiple of `d` long (`width` names `d` in the error) and every value finite.
pub(crate) fn checked_mean(x: &[f32], d: usize, width: &str) -> Result<Vec<f64>> {
    if d == 0 || x.is_empty() || !x.len().is_multiple_of(d) {
        return Err(Error::input(
            "activations",
            format!(
                "hold {} values, not a positive multiple of {width} = {d}",
                x.len()
            ),
        ));
    }
    if let Some(k) = gauge_core::finite::first_non_finite(x) {
        return Err(Error::input(
            "activations",
            format!(
                "value {k} (row {}, coordinate {}) is not finite",
                k / d,
                k % d
            ),
        ));
    }
    let n = x.len() / d;
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    Ok(mean)
}
