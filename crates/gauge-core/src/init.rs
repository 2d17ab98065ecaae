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
use crate::rng::SplitMix64;
use crate::roles::Architecture;

/// The shape of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelShape {
    /// Architecture.
    pub arch: Architecture,
    /// Residual width `d`.
    pub hidden: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention); equal to `heads` for GPT-2.
    pub kv_heads: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Maximum positions (GPT-2's learned position embeddings; RoPE models' context).
    pub max_positions: usize,
    /// Whether the output head shares the token embedding.
    pub tied: bool,
    /// Whether q, k and v projections have biases (Qwen2).
    pub qkv_bias: bool,
}

impl ModelShape {
    /// A named preset: `tiny` (a small Llama), `tiny-qwen2`, `tiny-gpt2`, `smollm2-135m`, `tinyllama-1.1b`,
    /// `qwen2.5-0.5b`.
    pub fn preset(name: &str) -> Option<Self> {
        let llama = |hidden, layers, heads, kv_heads, intermediate, vocab, tied| ModelShape {
            arch: Architecture::Llama,
            hidden,
            layers,
            heads,
            kv_heads,
            intermediate,
            vocab,
            max_positions: 2048,
            tied,
            qkv_bias: false,
        };
        Some(match name {
            "tiny" => llama(64, 2, 4, 2, 128, 256, false),
            "tiny-qwen2" => ModelShape {
                qkv_bias: true,
                ..llama(64, 2, 4, 2, 128, 256, true)
            },
            "tiny-gpt2" => ModelShape {
                arch: Architecture::Gpt2,
                max_positions: 128,
                qkv_bias: true,
                ..llama(64, 2, 4, 4, 256, 256, true)
            },
            "smollm2-135m" => llama(576, 30, 9, 3, 1536, 49152, true),
            "tinyllama-1.1b" => llama(2048, 22, 32, 4, 5632, 32000, false),
            "qwen2.5-0.5b" => ModelShape {
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

    /// Reads the shape from a Hugging Face `config.json`.
    pub fn from_config(config: &serde_json::Value) -> Result<Self> {
        let arch = Architecture::from_config(config)?;
        let get = |k: &str| -> Result<usize> {
            config
                .get(k)
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .ok_or_else(|| Error::invalid("config.json", format!("has no integer {k:?}")))
        };
        let qwen = config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            == Some("Qwen2ForCausalLM")
            || config.get("model_type").and_then(|m| m.as_str()) == Some("qwen2");
        let tied = config
            .get("tie_word_embeddings")
            .and_then(|t| t.as_bool())
            .unwrap_or(arch == Architecture::Gpt2);
        Ok(match arch {
            Architecture::Gpt2 => ModelShape {
                arch,
                hidden: get("n_embd")?,
                layers: get("n_layer")?,
                heads: get("n_head")?,
                kv_heads: get("n_head")?,
                intermediate: config
                    .get("n_inner")
                    .and_then(|v| v.as_u64())
                    .map(|v| v as usize)
                    .unwrap_or(4 * get("n_embd")?),
                vocab: get("vocab_size")?,
                max_positions: get("n_positions")?,
                tied: true,
                qkv_bias: true,
            },
            _ => ModelShape {
                arch,
                hidden: get("hidden_size")?,
                layers: get("num_hidden_layers")?,
                heads: get("num_attention_heads")?,
                kv_heads: get("num_key_value_heads").or_else(|_| get("num_attention_heads"))?,
                intermediate: get("intermediate_size")?,
                vocab: get("vocab_size")?,
                max_positions: get("max_position_embeddings").unwrap_or(2048),
                tied,
                qkv_bias: qwen,
            },
        })
    }

    /// The Hugging Face `config.json` for this shape.
    pub fn config(&self) -> serde_json::Value {
        match self.arch {
            Architecture::Gpt2 => serde_json::json!({
                "architectures": ["GPT2LMHeadModel"],
                "model_type": "gpt2",
                "n_embd": self.hidden,
                "n_layer": self.layers,
                "n_head": self.heads,
                "n_inner": self.intermediate,
                "n_positions": self.max_positions,
                "n_ctx": self.max_positions,
                "vocab_size": self.vocab,
                "layer_norm_epsilon": 1e-5,
                "activation_function": "gelu_new",
                "bos_token_id": self.vocab - 1,
                "eos_token_id": self.vocab - 1,
                "tie_word_embeddings": true,
            }),
            _ => {
                let (arch, model_type) = if self.qkv_bias {
                    ("Qwen2ForCausalLM", "qwen2")
                } else {
                    ("LlamaForCausalLM", "llama")
                };
                serde_json::json!({
                    "architectures": [arch],
                    "model_type": model_type,
                    "hidden_size": self.hidden,
                    "num_hidden_layers": self.layers,
                    "num_attention_heads": self.heads,
                    "num_key_value_heads": self.kv_heads,
                    "intermediate_size": self.intermediate,
                    "vocab_size": self.vocab,
                    "max_position_embeddings": self.max_positions,
                    "rms_norm_eps": 1e-5,
                    "rope_theta": 10000.0,
                    "hidden_act": "silu",
                    "tie_word_embeddings": self.tied,
                })
            }
        }
    }

    /// Every tensor `(name, shape, kind)` in file order.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Init)> {
        let (d, ff, v) = (self.hidden, self.intermediate, self.vocab);
        let mut t = Vec::new();
        let mut push = |n: String, s: Vec<usize>, k: Init| t.push((n, s, k));
        match self.arch {
            Architecture::Gpt2 => {
                push("transformer.wte.weight".into(), vec![v, d], Init::Weight);
                push(
                    "transformer.wpe.weight".into(),
                    vec![self.max_positions, d],
                    Init::Weight,
                );
                for l in 0..self.layers {
                    let p = format!("transformer.h.{l}.");
                    for ln in ["ln_1", "ln_2"] {
                        push(format!("{p}{ln}.weight"), vec![d], Init::Gain);
                        push(format!("{p}{ln}.bias"), vec![d], Init::Bias);
                    }
                    push(
                        format!("{p}attn.c_attn.weight"),
                        vec![d, 3 * d],
                        Init::Weight,
                    );
                    push(format!("{p}attn.c_attn.bias"), vec![3 * d], Init::Bias);
                    push(format!("{p}attn.c_proj.weight"), vec![d, d], Init::Weight);
                    push(format!("{p}attn.c_proj.bias"), vec![d], Init::Bias);
                    push(format!("{p}mlp.c_fc.weight"), vec![d, ff], Init::Weight);
                    push(format!("{p}mlp.c_fc.bias"), vec![ff], Init::Bias);
                    push(format!("{p}mlp.c_proj.weight"), vec![ff, d], Init::Weight);
                    push(format!("{p}mlp.c_proj.bias"), vec![d], Init::Bias);
                }
                push("transformer.ln_f.weight".into(), vec![d], Init::Gain);
                push("transformer.ln_f.bias".into(), vec![d], Init::Bias);
            }
            _ => {
                let hd = d / self.heads;
                let kv = self.kv_heads * hd;
                push("model.embed_tokens.weight".into(), vec![v, d], Init::Weight);
                for l in 0..self.layers {
                    let p = format!("model.layers.{l}.");
                    push(format!("{p}input_layernorm.weight"), vec![d], Init::Gain);
                    for (n, rows) in [("q_proj", d), ("k_proj", kv), ("v_proj", kv)] {
                        push(
                            format!("{p}self_attn.{n}.weight"),
                            vec![rows, d],
                            Init::Weight,
                        );
                        if self.qkv_bias {
                            push(format!("{p}self_attn.{n}.bias"), vec![rows], Init::Bias);
                        }
                    }
                    push(
                        format!("{p}self_attn.o_proj.weight"),
                        vec![d, d],
                        Init::Weight,
                    );
                    push(
                        format!("{p}post_attention_layernorm.weight"),
                        vec![d],
                        Init::Gain,
                    );
                    push(
                        format!("{p}mlp.gate_proj.weight"),
                        vec![ff, d],
                        Init::Weight,
                    );
                    push(format!("{p}mlp.up_proj.weight"), vec![ff, d], Init::Weight);
                    push(
                        format!("{p}mlp.down_proj.weight"),
                        vec![d, ff],
                        Init::Weight,
                    );
                }
                push("model.norm.weight".into(), vec![d], Init::Gain);
                if !self.tied {
                    push("lm_head.weight".into(), vec![v, d], Init::Weight);
                }
            }
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
        || !shape.hidden.is_multiple_of(shape.heads)
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
    if out.exists() {
        return Err(Error::OutputExists { path: out.into() });
    }
    let tmp = crate::atomic::temp_sibling(out);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = write_into(shape, &tmp, seed, dtype).and_then(|bytes| {
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        Ok(bytes)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_into(shape: &ModelShape, dir: &Path, seed: u64, dtype: Dtype) -> Result<u64> {
    let config_path = dir.join("config.json");
    let config = serde_json::to_string_pretty(&shape.config()).expect("JSON");
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
