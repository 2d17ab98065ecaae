//! Random checkpoints with generic norm gains, for tests and benchmarks (`gauge-transport init`).
//!
//! Writes a Hugging Face directory (`config.json`, `model.safetensors`) tensor by tensor, so a checkpoint of any
//! size needs memory for one tensor only. Weights are `N(0, 0.02²)`; gains are `1 + 0.1·N(0, 1)` (generic, so
//! the RMSNorm gauge group is exactly the signed permutations); LayerNorm biases `0.02·N(0, 1)`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::checkpoint::{header_bytes, Dtype, TensorInfo, SINGLE_FILE};
use crate::error::{Error, Result};
use crate::family::{Architecture, Dim, Role};
use crate::rng::SplitMix64;

/// The typed shape of a model: what `config.json` says about its tensors, parsed once by its family
/// ([`crate::family::Family::model_shape`]) and shared by validation, `inspect` and `init`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelShape {
    /// The family.
    pub arch: Architecture,
    /// Residual width `d`.
    pub hidden: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention); equal to `heads` for GPT-2.
    pub kv_heads: usize,
    /// The width of one head when the config overrides `hidden / heads` (`head_dim`).
    pub head_dim: Option<usize>,
    /// MLP width.
    pub intermediate: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Maximum positions (GPT-2's learned position embeddings; RoPE models' context).
    pub max_positions: usize,
    /// Whether the output head shares the token embedding.
    pub tied: bool,
    /// Whether q, k and v projections have biases (Qwen2; a Llama shape with biases is written as Qwen2).
    pub qkv_bias: bool,
}

impl ModelShape {
    /// A named preset: `tiny` (a small Llama), `tiny-qwen2`, `tiny-gpt2`, `smollm2-135m`, `tinyllama-1.1b`,
    /// `qwen2.5-0.5b`.
    pub fn preset(name: &str) -> Option<Self> {
        let llama = |hidden, layers, heads, kv_heads, intermediate, vocab, tied| ModelShape {
            arch: Architecture::LLAMA,
            hidden,
            layers,
            heads,
            kv_heads,
            head_dim: None,
            intermediate,
            vocab,
            max_positions: 2048,
            tied,
            qkv_bias: false,
        };
        Some(match name {
            "tiny" => llama(64, 2, 4, 2, 128, 256, false),
            "tiny-qwen2" => ModelShape {
                arch: Architecture::QWEN2,
                qkv_bias: true,
                ..llama(64, 2, 4, 2, 128, 256, true)
            },
            "tiny-gpt2" => ModelShape {
                arch: Architecture::GPT2,
                max_positions: 128,
                qkv_bias: true,
                ..llama(64, 2, 4, 4, 256, 256, true)
            },
            "smollm2-135m" => llama(576, 30, 9, 3, 1536, 49152, true),
            "tinyllama-1.1b" => llama(2048, 22, 32, 4, 5632, 32000, false),
            "qwen2.5-0.5b" => ModelShape {
                arch: Architecture::QWEN2,
                qkv_bias: true,
                ..llama(896, 24, 14, 2, 4864, 151936, true)
            },
            _ => return None,
        })
    }

    /// The names of the presets.
    pub const PRESETS: &'static [&'static str] = &[
        "tiny",
        "tiny-qwen2",
        "tiny-gpt2",
        "smollm2-135m",
        "tinyllama-1.1b",
        "qwen2.5-0.5b",
    ];

    /// Reads the shape from a Hugging Face `config.json`, as its family does.
    pub fn from_config(config: &serde_json::Value) -> Result<Self> {
        Architecture::from_config(config)?
            .family()
            .model_shape(config)
    }

    /// The shape of a family whose config uses Hugging Face's usual keys (`hidden_size`, `num_hidden_layers`,
    /// `num_attention_heads`, `num_key_value_heads`, `head_dim`, `intermediate_size`, `vocab_size`,
    /// `max_position_embeddings`, `tie_word_embeddings`).
    pub fn standard(arch: Architecture, config: &serde_json::Value) -> Result<Self> {
        let get = |k: &str| -> Result<usize> {
            crate::family::dims::positive(config, k).ok_or_else(|| {
                Error::invalid("config.json", format!("has no positive integer {k:?}"))
            })
        };
        let heads = get("num_attention_heads")?;
        let head_dim = crate::family::dims::positive(config, "head_dim");
        let hidden = get("hidden_size")?;
        Ok(ModelShape {
            arch,
            hidden,
            layers: get("num_hidden_layers")?,
            heads,
            kv_heads: get("num_key_value_heads").unwrap_or(heads),
            head_dim: head_dim.filter(|&hd| hd * heads != hidden),
            intermediate: get("intermediate_size")?,
            vocab: get("vocab_size")?,
            max_positions: get("max_position_embeddings").unwrap_or(2048),
            tied: config
                .get("tie_word_embeddings")
                .and_then(|t| t.as_bool())
                .unwrap_or(arch.family().tied_by_default()),
            qkv_bias: arch == Architecture::QWEN2,
        })
    }

    /// The family `init` writes: a Llama shape with q, k and v biases is a Qwen2 model.
    fn family(&self) -> Architecture {
        if self.arch == Architecture::LLAMA && self.qkv_bias {
            Architecture::QWEN2
        } else {
            self.arch
        }
    }

    /// The width of one attention head: `head_dim` when set, else `hidden / heads`.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden / self.heads.max(1))
    }

    /// The length of dimension `dim` in this shape.
    pub fn dim(&self, dim: Dim) -> usize {
        let hd = self.head_dim();
        match dim {
            Dim::Hidden => self.hidden,
            Dim::Hidden3 => 3 * self.hidden,
            Dim::Vocab => self.vocab,
            Dim::Inner => self.intermediate,
            Dim::Inner2 => 2 * self.intermediate,
            Dim::Positions => self.max_positions,
            Dim::TypeVocab => 2,
            Dim::HeadDim => hd,
            Dim::QRows => self.heads * hd,
            Dim::KvRows => self.kv_heads * hd,
            Dim::QkvRows => (self.heads + 2 * self.kv_heads) * hd,
        }
    }

    /// The Hugging Face `config.json` `init` writes for this shape; an error for families `init` does not write.
    pub fn config(&self) -> Result<serde_json::Value> {
        let arch = self.family();
        arch.family().init_config(self).ok_or_else(|| {
            Error::invalid(
                "model shape",
                format!(
                    "init does not write {} checkpoints (it writes llama, mistral, qwen2, qwen3 and gpt2)",
                    arch.name()
                ),
            )
        })
    }

    /// Every tensor `(name, shape, kind)` in file order: the embeddings, the blocks, the model's other tensors,
    /// then the output head when untied; each block in its family's [`crate::family::Layout`] order.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Init)> {
        let arch = self.family();
        let layout = arch.layout();
        let f = arch.family();
        let mut t = Vec::new();
        let mut push = |name: &str| {
            let full = format!("{}{name}", layout.prefix);
            let shape = f
                .shape(name)
                .expect("every layout tensor has a shape")
                .iter()
                .map(|&d| self.dim(d))
                .collect();
            let init = match f.role(&full) {
                Some(Role::Gain) => Init::Gain,
                Some(Role::LnBias) => Init::Bias,
                _ if name.ends_with(".bias") => Init::Bias,
                _ => Init::Weight,
            };
            t.push((full, shape, init));
        };
        let (embeds, rest): (Vec<&str>, Vec<&str>) = layout
            .model
            .iter()
            .partition(|n| f.role(&format!("{}{n}", layout.prefix)) == Some(Role::Embed));
        embeds.iter().for_each(|n| push(n));
        for l in 0..self.layers {
            for b in layout.block {
                push(&format!("{}{l}.{b}", layout.layer_prefix));
            }
        }
        rest.iter().for_each(|n| push(n));
        if !self.tied && !layout.head.is_empty() {
            let shape = f
                .shape(layout.head)
                .expect("the head has a shape")
                .iter()
                .map(|&d| self.dim(d))
                .collect();
            t.push((layout.head.to_string(), shape, Init::Weight));
        }
        t
    }

    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.tensors()
            .iter()
            .map(|(_, s, _)| s.iter().product::<usize>())
            .sum()
    }
}

/// How a tensor is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// `N(0, 0.02²)`.
    Weight,
    /// `1 + 0.1·N(0, 1)`: a generic norm gain.
    Gain,
    /// `0.02·N(0, 1)`.
    Bias,
}

/// Writes a random checkpoint of `shape` into the new directory `out` (through a temporary sibling).
pub fn write_random(shape: &ModelShape, out: &Path, seed: u64, dtype: Dtype) -> Result<u64> {
    if !matches!(dtype, Dtype::F32 | Dtype::BF16) {
        return Err(Error::invalid(
            "dtype",
            format!("{} is not one of F32, BF16", dtype.as_str()),
        ));
    }
    if shape.heads == 0
        || shape.kv_heads == 0
        || (shape.head_dim.is_none() && !shape.hidden.is_multiple_of(shape.heads))
        || !shape.heads.is_multiple_of(shape.kv_heads)
    {
        return Err(Error::invalid(
            "model shape",
            format!(
                "hidden {} must divide into {} heads, and heads into {} key/value heads",
                shape.hidden, shape.heads, shape.kv_heads
            ),
        ));
    }
    // Refuse a shape no disk holds before writing anything: 1 TiB is room for a 70B model in F32 (280 GB).
    const MAX_BYTES: u128 = 1 << 40;
    let bytes = shape.tensors().iter().try_fold(0u128, |acc, (_, dims, _)| {
        let n = dims
            .iter()
            .try_fold(1u128, |a, &b| a.checked_mul(b as u128))?;
        acc.checked_add(n.checked_mul(dtype.size() as u128)?)
    });
    match bytes {
        Some(b) if b <= MAX_BYTES => {}
        b => {
            return Err(Error::invalid(
                "model shape",
                format!(
                "needs {} of {} weights; init writes at most 1 TiB (a 70B model in F32 is 280 GB)",
                b.map_or("more than 2^128 bytes".into(), |b| format!(
                    "{:.1} TiB",
                    b as f64 / (1u64 << 40) as f64
                )),
                dtype.as_str()
            ),
            ))
        }
    }
    crate::atomic::write_dir(out, false, |tmp| write_into(shape, tmp, seed, dtype))
}

fn write_into(shape: &ModelShape, dir: &Path, seed: u64, dtype: Dtype) -> Result<u64> {
    let config_path = dir.join("config.json");
    let config = serde_json::to_string_pretty(&shape.config()?).expect("JSON");
    std::fs::write(&config_path, config).map_err(|e| Error::io(&config_path, e))?;
    let tensors = shape.tensors();
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0u64;
    for (name, s, _) in &tensors {
        let bytes = (s.iter().product::<usize>() * dtype.size()) as u64;
        infos.push(TensorInfo {
            name: name.clone(),
            dtype,
            shape: s.clone(),
            start: offset,
            end: offset + bytes,
        });
        offset += bytes;
    }
    let path = dir.join(SINGLE_FILE);
    let io = |e| Error::io(&path, e);
    let file = File::create(&path).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 22, file);
    let metadata = std::collections::HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("gauge_transport.init_seed".to_string(), seed.to_string()),
    ]);
    w.write_all(&header_bytes(&infos, &metadata)).map_err(io)?;
    let mut rng = SplitMix64::new(seed);
    let mut values = Vec::new();
    let mut bytes = Vec::new();
    for (_, s, init) in &tensors {
        values.resize(s.iter().product(), 0f32);
        rng.fill_normal(&mut values);
        let (scale, shift) = match init {
            Init::Weight => (0.02, 0.0),
            Init::Gain => (0.1, 1.0),
            Init::Bias => (0.02, 0.0),
        };
        bytes.clear();
        for x in &values {
            let x = x * scale + shift;
            match dtype {
                Dtype::F32 => bytes.extend_from_slice(&x.to_le_bytes()),
                _ => bytes.extend_from_slice(&f32_to_bf16(x).to_le_bytes()),
            }
        }
        w.write_all(&bytes).map_err(io)?;
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(offset)
}

/// Rounds to the nearest bfloat16 (ties to even); NaN stays NaN.
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x40;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    ((bits + round) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;

    #[test]
    fn presets_write_openable_checkpoints_with_generic_gains() {
        for preset in ["tiny", "tiny-qwen2", "tiny-gpt2"] {
            let dir = std::env::temp_dir().join(format!("gt-init-{preset}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let shape = ModelShape::preset(preset).unwrap();
            write_random(&shape, &dir, 3, Dtype::F32).unwrap();
            let ckpt = Checkpoint::open(&dir).unwrap();
            assert_eq!(
                ModelShape::from_config(&ckpt.config).unwrap(),
                shape,
                "{preset}"
            );
            for (_, t) in ckpt.tensors() {
                assert!(ckpt.arch.role(&t.name).is_ok(), "{}", t.name);
            }
            assert!(crate::recharting::continuous_gauge_reason(&ckpt)
                .unwrap()
                .is_none());
            assert_eq!(
                write_random(&shape, &dir, 3, Dtype::F32)
                    .unwrap_err()
                    .code(),
                "OUTPUT_EXISTS"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn bf16_rounding() {
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        assert_eq!(f32_to_bf16(-2.0), 0xc000);
        // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even gives 1.
        assert_eq!(f32_to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        assert_eq!(f32_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
    }
}
