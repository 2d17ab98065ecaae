//! Rotary position embeddings as Hugging Face computes them: the base `rope_theta`, the scaling types `linear`
//! and `llama3` (others are refused by name), and partial rotary (only the first `rot` dimensions of each head
//! rotate; GPT-NeoX, Phi). Half-split layout: `rotate_half` on the two halves of the rotated part.
//!
//! Configs name these two ways: Transformers 5 writes `rope_parameters: {rope_type, rope_theta, factor, …}`;
//! checkpoints on the hub (and older Transformers) write `rope_theta` and `rope_scaling: {rope_type | type,
//! factor, …}`. Both are read.

use candle_core::{Device, Tensor};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::{rope, Kernels};

/// The rotary frequencies of one kind of attention layer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rope {
    /// `inv_freq[i]` for `i < rot / 2`, after scaling.
    inv_freq: Vec<f64>,
    /// The rotated dimensions of a head (even, at most `head_dim`).
    rot: usize,
}

/// The parameters of one rotary embedding: `rope_parameters` (or `rope_scaling`) and the base.
pub(crate) struct RopeSpec<'a> {
    /// The config key the parameters were read from, for messages.
    pub key: String,
    /// The scaling parameters (`rope_type`, `factor`, …), when any.
    pub params: Option<&'a serde_json::Value>,
    /// The base.
    pub theta: f64,
}

impl<'a> RopeSpec<'a> {
    /// The model-wide rotary embedding of `c`, scaled by `rope_scaling` (which wins, as in Transformers) or
    /// `rope_parameters`; the base is theirs (`rope_theta` inside them), else the top-level `rope_theta` (default
    /// `default_theta`).
    pub(crate) fn of(c: &Config<'a>, default_theta: f64) -> Result<Self> {
        // Transformers 5 folds an explicit `rope_scaling` into `rope_parameters`, and it wins over them.
        let (key, params) = match (c.get("rope_scaling"), c.get("rope_parameters")) {
            (Some(s), _) => ("rope_scaling", Some(s)),
            (None, Some(p)) => ("rope_parameters", Some(p)),
            (None, None) => ("rope_theta", None),
        };
        let theta_in = |holder: Option<&'a serde_json::Value>, name: &'static str| {
            holder.and_then(|p| p.get("rope_theta")).map(|t| (t, name))
        };
        let theta = match theta_in(params, key)
            .or_else(|| theta_in(c.get("rope_parameters"), "rope_parameters"))
        {
            Some((t, holder)) => positive(c, &format!("{holder}.rope_theta"), t)?,
            None => c.f64_or("rope_theta", default_theta)?,
        };
        Ok(Self {
            key: key.into(),
            params,
            theta,
        })
    }
}

/// The fraction of each head that rotates: `rope_parameters.partial_rotary_factor`, else `partial_rotary_factor`,
/// else GPT-NeoX's `rotary_pct`, else `default`.
pub(crate) fn partial_rotary_factor(c: &Config, default: f64) -> Result<f64> {
    if let Some(v) = c
        .get("rope_parameters")
        .and_then(|p| p.get("partial_rotary_factor"))
    {
        return positive(c, "rope_parameters.partial_rotary_factor", v);
    }
    match c.get("partial_rotary_factor") {
        Some(v) => positive(c, "partial_rotary_factor", v),
        None => c.f64_or("rotary_pct", default),
    }
}

fn positive(c: &Config, key: &str, v: &serde_json::Value) -> Result<f64> {
    v.as_f64()
        .filter(|t| t.is_finite() && *t > 0.0)
        .ok_or_else(|| c.reject(key, format!("is {v}, expected a positive number")))
}

impl Rope {
    /// The frequencies for heads of `head_dim`, rotating the first `rot` dimensions, from `spec`.
    pub(crate) fn new(c: &Config, spec: &RopeSpec, head_dim: usize, rot: usize) -> Result<Self> {
        if !rot.is_multiple_of(2) || rot == 0 || rot > head_dim {
            return Err(c.reject(
                "head_dim",
                format!(
                    "rotary embeddings rotate pairs: {rot} of {head_dim} dimensions cannot rotate"
                ),
            ));
        }
        let mut inv_freq: Vec<f64> = (0..rot / 2)
            .map(|i| 1.0 / spec.theta.powf((2 * i) as f64 / rot as f64))
            .collect();
        let Some(p) = spec.params else {
            return Ok(Self { inv_freq, rot });
        };
        let kind = p
            .get("rope_type")
            .or_else(|| p.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("default");
        let num = |name: &str| -> Result<f64> {
            let key = format!("{}.{name}", spec.key);
            match p.get(name) {
                Some(v) => positive(c, &key, v),
                None => Err(c.reject(&key, format!("is missing (rope type {kind:?} needs it)"))),
            }
        };
        match kind {
            "default" => {}
            "linear" => {
                let factor = num("factor")?;
                inv_freq.iter_mut().for_each(|f| *f /= factor);
            }
            "llama3" => {
                let factor = num("factor")?;
                let low = num("low_freq_factor")?;
                let high = num("high_freq_factor")?;
                let old = num("original_max_position_embeddings")?;
                if high <= low {
                    return Err(c.reject(
                        &format!("{}.high_freq_factor", spec.key),
                        format!("{high} is not above low_freq_factor {low}"),
                    ));
                }
                let (low_wavelen, high_wavelen) = (old / low, old / high);
                for f in &mut inv_freq {
                    let wavelen = 2.0 * std::f64::consts::PI / *f;
                    if wavelen > low_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_wavelen {
                        let smooth = (old / wavelen - low) / (high - low);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
            other => {
                return Err(Error::unsupported(
                    format!("{} of type {other:?}", spec.key),
                    "implemented rotary embeddings: default, linear, llama3",
                ))
            }
        }
        Ok(Self { inv_freq, rot })
    }

    /// `(cos, sin)` of the angles `position · inv_freq`, each `[seq, rot / 2]`.
    pub(crate) fn cos_sin(&self, seq: usize, device: &Device) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let angles: Vec<f64> = (0..seq)
            .flat_map(|p| self.inv_freq.iter().map(move |f| p as f64 * f))
            .collect();
        let cos: Vec<f32> = angles.iter().map(|a| a.cos() as f32).collect();
        let sin: Vec<f32> = angles.iter().map(|a| a.sin() as f32).collect();
        Ok((
            Tensor::from_vec(cos, (seq, half), device)?,
            Tensor::from_vec(sin, (seq, half), device)?,
        ))
    }

    /// Rotates `x` `[batch, heads, seq, head_dim]` (contiguous) by `(cos, sin)` from [`Rope::cos_sin`]; with
    /// partial rotary only the first `rot` dimensions, the rest pass through.
    pub(crate) fn apply(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        k: Kernels,
    ) -> Result<Tensor> {
        let head_dim = x.dim(3)?;
        if self.rot == head_dim {
            return Ok(rope(x, cos, sin, k)?);
        }
        let rotated = rope(&x.narrow(3, 0, self.rot)?.contiguous()?, cos, sin, k)?;
        let pass = x.narrow(3, self.rot, head_dim - self.rot)?;
        Ok(Tensor::cat(&[&rotated, &pass], 3)?.contiguous()?)
    }

    /// A key naming these frequencies in a [`crate::blocks::Context`] cache.
    pub(crate) fn key(&self) -> String {
        format!(
            "rope:{}:{:?}",
            self.rot,
            self.inv_freq.first().zip(self.inv_freq.last())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_divides_low_and_smooths_between() {
        let json = serde_json::json!({
            "rope_theta": 500000.0,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
        });
        let c = Config::new(&json, "config.json".into());
        let spec = RopeSpec::of(&c, 10_000.0).unwrap();
        let scaled = Rope::new(&c, &spec, 24, 24).unwrap();
        let plain = Rope::new(
            &c,
            &RopeSpec {
                params: None,
                ..spec
            },
            24,
            24,
        )
        .unwrap();
        let ratios: Vec<f64> = scaled
            .inv_freq
            .iter()
            .zip(&plain.inv_freq)
            .map(|(a, b)| a / b)
            .collect();
        assert!((ratios[0] - 1.0).abs() < 1e-12, "{ratios:?}");
        assert!((ratios.last().unwrap() - 0.125).abs() < 1e-12, "{ratios:?}");
        assert!(
            ratios.iter().any(|r| *r < 1.0 - 1e-9 && *r > 0.125 + 1e-9),
            "{ratios:?}"
        );
    }

    #[test]
    fn unknown_rope_types_are_refused_by_name() {
        let json = serde_json::json!({"rope_scaling": {"type": "yarn", "factor": 4.0}});
        let c = Config::new(&json, "config.json".into());
        let e = Rope::new(&c, &RopeSpec::of(&c, 1e4).unwrap(), 16, 16).unwrap_err();
        assert!(e.to_string().contains("\"yarn\""), "{e}");
        let json = serde_json::json!({"rope_parameters": {"rope_type": "linear"}});
        let c = Config::new(&json, "config.json".into());
        let e = Rope::new(&c, &RopeSpec::of(&c, 1e4).unwrap(), 16, 16).unwrap_err();
        assert!(e.to_string().contains("rope_parameters.factor"), "{e}");
    }
}
