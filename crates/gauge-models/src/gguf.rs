//! GGUF checkpoints (llama.cpp) of the Llama architecture, converted to Hugging Face directories so that every
//! other part of the project (roles, `apply`, the forward pass) reads one format.
//!
//! Names map as GAUGE.md §3 lists them (`token_embd` to `model.embed_tokens`, `blk.N.attn_q` to
//! `model.layers.N.self_attn.q_proj`, ...). Tensors are dequantized to `f32` (F32, F16, Q4_0, Q4_1, Q8_0 and Q6_K;
//! others are refused, naming the tensor). llama.cpp's converter permutes the rows of `attn_q` and `attn_k` within
//! each head for its RoPE layout (`reshape(heads, 2, head_dim / 2, d).swapaxes(1, 2)`); that touches head
//! dimensions only, never the residual axis, and is undone here so the Hugging Face forward pass applies.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use gauge_core::checkpoint::{header_bytes, Dtype, TensorInfo, SINGLE_FILE};

use crate::error::{Error, Result};
use crate::tokenizer::{gguf_has_tokenizer, Tokenizer, TOKENIZER_FILE};

/// The quantisations this converter dequantizes.
const SUPPORTED: &[GgmlDType] = &[
    GgmlDType::F32,
    GgmlDType::F16,
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q8_0,
    GgmlDType::Q6K,
];

/// The shape of a Llama GGUF, from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufLlama {
    /// Residual width.
    pub hidden: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Vocabulary size (rows of `token_embd`).
    pub vocab: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// Context length.
    pub context: usize,
    /// Whether the output head is the token embedding (no `output.weight`).
    pub tied: bool,
}

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// An error about the GGUF file `path`, naming it.
pub(crate) fn gguf_err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Core(gauge_core::Error::InvalidArgument {
        what: path.display().to_string(),
        reason: reason.to_string(),
    })
}

fn meta_u(content: &Content, path: &Path, key: &str) -> Result<usize> {
    let v = content
        .metadata
        .get(key)
        .ok_or_else(|| gguf_err(path, format!("GGUF metadata lacks {key:?}")))?;
    v.to_u32()
        .map(|x| x as usize)
        .or_else(|_| v.to_u64().map(|x| x as usize))
        .map_err(|_| gguf_err(path, format!("GGUF metadata {key:?} is not an integer")))
}

fn meta_f(content: &Content, key: &str) -> Option<f64> {
    content
        .metadata
        .get(key)
        .and_then(|v: &Value| v.to_f32().ok())
        .map(|x| x as f64)
}

/// Reads the Llama shape from a GGUF's metadata. Other architectures are refused.
pub fn read_shape(content: &Content, path: &Path) -> Result<GgufLlama> {
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if arch != "llama" {
        return Err(Error::unsupported(
            format!("{}: GGUF architecture {arch:?}", path.display()),
            "only general.architecture = llama is converted",
        ));
    }
    let embed = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| gguf_err(path, "has no token_embd.weight"))?;
    let &[vocab, width] = embed.shape.dims() else {
        return Err(gguf_err(
            path,
            format!(
                "tensor \"token_embd.weight\" has shape {:?}, expected [vocab, d]",
                embed.shape.dims()
            ),
        ));
    };
    let heads = meta_u(content, path, "llama.attention.head_count")?;
    let shape = GgufLlama {
        hidden: meta_u(content, path, "llama.embedding_length")?,
        layers: meta_u(content, path, "llama.block_count")?,
        heads,
        kv_heads: meta_u(content, path, "llama.attention.head_count_kv").unwrap_or(heads),
        intermediate: meta_u(content, path, "llama.feed_forward_length")?,
        vocab,
        rms_eps: meta_f(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
        rope_theta: meta_f(content, "llama.rope.freq_base").unwrap_or(10000.0),
        context: meta_u(content, path, "llama.context_length").unwrap_or(2048),
        tied: !content.tensor_infos.contains_key("output.weight"),
    };
    check_shape(content, path, &shape, width)?;
    check_extents(content, path)?;
    Ok(shape)
}

/// The metadata against the tensors: positive head counts that split `d` into heads of even size, the embedding
/// width, the number of blocks, and the rows of every `attn_q` / `attn_k`.
fn check_shape(content: &Content, path: &Path, s: &GgufLlama, width: usize) -> Result<()> {
    for (key, n) in [
        ("llama.attention.head_count", s.heads),
        ("llama.attention.head_count_kv", s.kv_heads),
    ] {
        if n == 0 {
            return Err(gguf_err(
                path,
                format!("metadata {key} is 0; it must be positive"),
            ));
        }
    }
    if width != s.hidden {
        return Err(gguf_err(
            path,
            format!(
                "metadata llama.embedding_length = {} but tensor \"token_embd.weight\" is {} wide",
                s.hidden, width
            ),
        ));
    }
    let blocks = content
        .tensor_infos
        .keys()
        .filter_map(|n| {
            n.strip_prefix("blk.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    if blocks != s.layers {
        let what = if blocks < s.layers {
            format!(
                "there are no tensors of block {} (blk.{}.*)",
                blocks, blocks
            )
        } else {
            format!(
                "it holds tensors of block {} (blk.{}.*)",
                blocks - 1,
                blocks - 1
            )
        };
        return Err(gguf_err(
            path,
            format!("metadata llama.block_count = {} but {what}", s.layers),
        ));
    }
    let head_dim = s.hidden / s.heads;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    // Query projections first: a wrong head_count shows there before it shows in the key projections.
    names.sort_by_key(|n| (n.ends_with("attn_k.weight"), n.as_str()));
    for name in names {
        let info = &content.tensor_infos[name];
        let (key, heads) = if name.ends_with("attn_q.weight") {
            ("llama.attention.head_count", s.heads)
        } else if name.ends_with("attn_k.weight") {
            ("llama.attention.head_count_kv", s.kv_heads)
        } else {
            continue;
        };
        let rows = info.shape.dims().first().copied().unwrap_or(0);
        if !s.hidden.is_multiple_of(s.heads)
            || !head_dim.is_multiple_of(2)
            || rows != heads * head_dim
        {
            return Err(gguf_err(
                path,
                format!(
                    "tensor {name:?} has {rows} rows, which {key} = {heads} does not split into heads of \
                     head_dim = llama.embedding_length / llama.attention.head_count = {} / {} (an even size)",
                    s.hidden, s.heads
                ),
            ));
        }
    }
    Ok(())
}

/// Every tensor's element count fits in memory arithmetic and its bytes lie inside the file.
fn check_extents(content: &Content, path: &Path) -> Result<()> {
    let len = std::fs::metadata(path)
        .map_err(|e| gauge_core::Error::Io {
            path: path.into(),
            source: e,
        })?
        .len();
    for (name, info) in &content.tensor_infos {
        let elems = info
            .shape
            .dims()
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = elems.and_then(|n| {
            let block = info.ggml_dtype.block_size();
            (n % block == 0).then(|| (n / block).checked_mul(info.ggml_dtype.type_size()))?
        });
        let end = bytes.and_then(|b| {
            (content.tensor_data_offset)
                .checked_add(info.offset)?
                .checked_add(b as u64)
        });
        match end {
            Some(end) if end <= len => {}
            _ => {
                return Err(gguf_err(
                    path,
                    format!(
                        "tensor {name:?} of shape {:?} ({:?}) does not fit in the {len}-byte file",
                        info.shape.dims(),
                        info.ggml_dtype
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// Whether `path` is a GGUF file, by its magic bytes (whatever its extension). A directory or a missing path is
/// not; a file that cannot be opened is an I/O error naming it.
pub fn is_gguf(path: &Path) -> Result<bool> {
    if !path.is_file() {
        return Ok(false);
    }
    let mut file = File::open(path).map_err(|e| gauge_core::Error::Io {
        path: path.into(),
        source: e,
    })?;
    let mut magic = [0u8; 4];
    Ok(file.read_exact(&mut magic).is_ok() && magic == GGUF_MAGIC)
}

/// Opens the GGUF at `path` and reads its header (metadata and tensor infos, no tensor data).
pub(crate) fn open(path: &Path) -> Result<(File, Content)> {
    let mut file = File::open(path).map_err(|e| gauge_core::Error::Io {
        path: path.into(),
        source: e,
    })?;
    let content = Content::read(&mut file)
        .map_err(|e| gguf_err(path, format!("not a readable GGUF file: {e}")))?;
    Ok((file, content))
}

/// The Hugging Face `config.json` of a Llama GGUF's shape: what [`convert`] writes, and what
/// [`crate::Model::load`] reads a GGUF with.
pub fn config_json(s: &GgufLlama) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": s.hidden,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads,
        "intermediate_size": s.intermediate,
        "vocab_size": s.vocab,
        "max_position_embeddings": s.context,
        "rms_norm_eps": s.rms_eps,
        "rope_theta": s.rope_theta,
        "hidden_act": "silu",
        "tie_word_embeddings": s.tied,
    })
}

/// The llama.cpp name of a quantisation (`Q4_1`, `Q6_K`, `F32`).
pub fn dtype_name(dtype: GgmlDType) -> String {
    match dtype {
        GgmlDType::Q2K => "Q2_K".into(),
        GgmlDType::Q3K => "Q3_K".into(),
        GgmlDType::Q4K => "Q4_K".into(),
        GgmlDType::Q5K => "Q5_K".into(),
        GgmlDType::Q6K => "Q6_K".into(),
        GgmlDType::Q8K => "Q8_K".into(),
        other => format!("{other:?}"),
    }
}

/// Reads the GGUF tensor `name` from `file` and dequantizes it to `f32` in Hugging Face layout: dims
/// outer-first, Q/K rows back in the Hugging Face order ([`unpermute_rows`]). Refuses quantisations outside
/// the supported list, naming the tensor.
pub(crate) fn dequantize(
    file: &mut File,
    content: &Content,
    path: &Path,
    shape: &GgufLlama,
    name: &str,
) -> Result<Tensor> {
    let info = content
        .tensor_infos
        .get(name)
        .ok_or_else(|| gguf_err(path, format!("has no tensor {name:?}")))?;
    if !SUPPORTED.contains(&info.ggml_dtype) {
        return Err(Error::unsupported(
            format!(
                "{}: tensor {name:?} in {}",
                path.display(),
                dtype_name(info.ggml_dtype)
            ),
            "supported quantisations: F32, F16, Q4_0, Q4_1, Q8_0, Q6_K",
        ));
    }
    let q = content
        .tensor(file, name, &Device::Cpu)
        .map_err(|e| gguf_err(path, format!("tensor {name:?}: {e}")))?;
    let t = q.dequantize(&Device::Cpu)?;
    if name.ends_with("attn_q.weight") {
        unpermute_rows(&t, shape.heads)
    } else if name.ends_with("attn_k.weight") {
        unpermute_rows(&t, shape.kv_heads)
    } else {
        Ok(t)
    }
}

/// The Hugging Face name of a GGUF tensor, or `None` for names no rule covers.
pub fn hf_name(name: &str) -> Option<String> {
    let simple = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(s) = simple {
        return Some(s.to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    layer.parse::<usize>().ok()?;
    let hf = match tail {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}"))
}

/// Undoes llama.cpp's per-head row permutation of a `[heads * head_dim, d]` Q or K weight.
pub fn unpermute_rows(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let hd = rows / heads;
    Ok(w.reshape((heads, hd / 2, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))?)
}

/// llama.cpp's permutation itself (the inverse of [`unpermute_rows`]), for writing test files.
pub fn permute_rows(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let hd = rows / heads;
    Ok(w.reshape((heads, 2, hd / 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))?)
}

/// Converts the Llama GGUF at `gguf` into a new Hugging Face directory `out` (`config.json`, `model.safetensors`
/// in F32, and `tokenizer.json` when the GGUF carries `tokenizer.ggml.*` metadata), through a temporary sibling
/// renamed at the end. Returns the shape read from the metadata. A tokenizer the file describes but this crate
/// cannot build fails the conversion rather than being left out silently.
pub fn convert(gguf: &Path, out: &Path) -> Result<GgufLlama> {
    if out.exists() {
        return Err(Error::Core(gauge_core::Error::OutputExists {
            path: out.into(),
        }));
    }
    let (mut file, content) = open(gguf)?;
    let shape = read_shape(&content, gguf)?;
    let tokenizer = gguf_has_tokenizer(&content)
        .then(|| Tokenizer::from_gguf(&content, gguf))
        .transpose()?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(names.len());
    for name in names {
        let hf = hf_name(name).ok_or_else(|| {
            gguf_err(
                gguf,
                format!("tensor {name:?}: no GGUF-to-Hugging-Face rule covers this name"),
            )
        })?;
        let t = dequantize(&mut file, &content, gguf, &shape, name)?;
        let dims = t.dims().to_vec();
        let values: Vec<f32> = t.flatten_all()?.to_vec1()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((hf, dims, bytes));
    }
    let tmp = gauge_core::atomic::temp_sibling(out);
    std::fs::create_dir_all(&tmp).map_err(|e| gauge_core::Error::Io {
        path: tmp.clone(),
        source: e,
    })?;
    let result = write_dir(&tmp, gguf, &shape, &tensors)
        .and_then(|()| match &tokenizer {
            Some(t) => t.save(&tmp.join(TOKENIZER_FILE)),
            None => Ok(()),
        })
        .and_then(|()| {
            std::fs::rename(&tmp, out).map_err(|e| {
                Error::Core(gauge_core::Error::Io {
                    path: out.into(),
                    source: e,
                })
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| shape)
}

fn write_dir(
    dir: &Path,
    gguf: &Path,
    s: &GgufLlama,
    tensors: &[(String, Vec<usize>, Vec<u8>)],
) -> Result<()> {
    let io = |p: &Path, e| {
        Error::Core(gauge_core::Error::Io {
            path: p.into(),
            source: e,
        })
    };
    let config = config_json(s);
    let config_path = dir.join("config.json");
    std::fs::write(
        &config_path,
        serde_json::to_string_pretty(&config).expect("JSON"),
    )
    .map_err(|e| io(&config_path, e))?;
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0u64;
    for (name, shape, bytes) in tensors {
        infos.push(TensorInfo {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: shape.clone(),
            start: offset,
            end: offset + bytes.len() as u64,
        });
        offset += bytes.len() as u64;
    }
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "gauge_transport.converted_from".to_string(),
            gguf.display().to_string(),
        ),
    ]);
    let path = dir.join(SINGLE_FILE);
    let mut f = std::io::BufWriter::new(File::create(&path).map_err(|e| io(&path, e))?);
    f.write_all(&header_bytes(&infos, &metadata))
        .map_err(|e| io(&path, e))?;
    for (_, _, bytes) in tensors {
        f.write_all(bytes).map_err(|e| io(&path, e))?;
    }
    let f = f.into_inner().map_err(|e| io(&path, e.into_error()))?;
    f.sync_all().map_err(|e| io(&path, e))?;
    Ok(())
}
