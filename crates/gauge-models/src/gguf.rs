//! GGUF checkpoints (llama.cpp) of the Llama and Gemma 3 architectures (`general.architecture` `llama`,
//! `gemma3`), converted to Hugging Face directories so that every other part of the project (roles, `apply`, the
//! forward pass) reads one format.
//!
//! Names map as GAUGE.md §3 lists them (`token_embd` to `model.embed_tokens`, `blk.N.attn_q` to
//! `model.layers.N.self_attn.q_proj`, ...; Gemma 3's `ffn_norm` is its `pre_feedforward_layernorm`, and it adds
//! `post_attention_norm`, `post_ffw_norm`, `attn_q_norm`, `attn_k_norm`). Tensors are dequantized to `f32` by
//! candle (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K to Q8_K; others are refused,
//! naming the tensor). Two conventions of llama.cpp's converter are undone, so the Hugging Face forward pass
//! applies:
//! - for `llama`, it permutes the rows of `attn_q` and `attn_k` within each head for its RoPE layout
//!   (`reshape(heads, 2, head_dim / 2, d).swapaxes(1, 2)`); that touches head dimensions only, never the
//!   residual axis;
//! - for `gemma3`, it stores every norm weight as the gain `1 + w`; Hugging Face stores `w`, so 1 is subtracted
//!   (as Transformers' GGUF loader does). Settings the file does not carry are Gemma 3's defaults, as in
//!   Transformers' `Gemma3TextConfig` and llama.cpp: local RoPE base 10000, every sixth layer global,
//!   `query_pre_attn_scalar` = `head_dim`, no soft-capping, tanh-GELU.

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
    GgmlDType::BF16,
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q2K,
    GgmlDType::Q3K,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
    GgmlDType::Q8K,
];

/// The architectures a GGUF may have (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufArch {
    /// `llama` (Llama, SmolLM2, Mistral and others llama.cpp writes as Llama).
    Llama,
    /// `gemma3` (text).
    Gemma3,
}

impl GgufArch {
    /// The metadata prefix and `general.architecture` value.
    pub fn name(self) -> &'static str {
        match self {
            GgufArch::Llama => "llama",
            GgufArch::Gemma3 => "gemma3",
        }
    }

    /// The family of the converted checkpoint.
    pub fn family(self) -> gauge_core::family::Architecture {
        match self {
            GgufArch::Llama => gauge_core::family::Architecture::LLAMA,
            GgufArch::Gemma3 => gauge_core::family::Architecture::GEMMA3,
        }
    }
}

/// The shape of a GGUF model, from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufLlama {
    /// The architecture.
    pub arch: GgufArch,
    /// The width of one attention head (`attention.key_length`; `d / heads` when absent).
    pub head_dim: usize,
    /// Gemma 3's sliding attention window (`attention.sliding_window`).
    pub sliding_window: Option<usize>,
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

/// Reads the shape from a GGUF's metadata (`{arch}.embedding_length`, …). Architectures other than `llama` and
/// `gemma3` are refused.
pub fn read_shape(content: &Content, path: &Path) -> Result<GgufLlama> {
    let name = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    let arch = match name.as_str() {
        "llama" => GgufArch::Llama,
        "gemma3" => GgufArch::Gemma3,
        _ => {
            return Err(Error::unsupported(
                format!("{}: GGUF architecture {name:?}", path.display()),
                "general.architecture llama and gemma3 are read",
            ))
        }
    };
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
    let key = |k: &str| format!("{name}.{k}");
    let heads = meta_u(content, path, &key("attention.head_count"))?;
    let hidden = meta_u(content, path, &key("embedding_length"))?;
    let head_dim = match meta_u(content, path, &key("attention.key_length")) {
        Ok(hd) => hd,
        Err(_) if heads > 0 => hidden / heads,
        Err(e) => return Err(e),
    };
    let (default_eps, default_theta) = match arch {
        GgufArch::Llama => (1e-5, 10_000.0),
        GgufArch::Gemma3 => (1e-6, 1_000_000.0),
    };
    let shape = GgufLlama {
        arch,
        head_dim,
        sliding_window: meta_u(content, path, &key("attention.sliding_window")).ok(),
        hidden,
        layers: meta_u(content, path, &key("block_count"))?,
        heads,
        kv_heads: meta_u(content, path, &key("attention.head_count_kv")).unwrap_or(heads),
        intermediate: meta_u(content, path, &key("feed_forward_length"))?,
        vocab,
        rms_eps: meta_f(content, &key("attention.layer_norm_rms_epsilon")).unwrap_or(default_eps),
        rope_theta: meta_f(content, &key("rope.freq_base")).unwrap_or(default_theta),
        context: meta_u(content, path, &key("context_length")).unwrap_or(2048),
        tied: !content.tensor_infos.contains_key("output.weight"),
    };
    check_shape(content, path, &shape, width)?;
    check_extents(content, path)?;
    Ok(shape)
}

/// The metadata against the tensors: positive head counts that split `d` into heads of even size, the embedding
/// width, the number of blocks, and the rows of every `attn_q` / `attn_k`.
fn check_shape(content: &Content, path: &Path, s: &GgufLlama, width: usize) -> Result<()> {
    let a = s.arch.name();
    let (heads_key, kv_key) = (
        format!("{a}.attention.head_count"),
        format!("{a}.attention.head_count_kv"),
    );
    for (key, n) in [(&heads_key, s.heads), (&kv_key, s.kv_heads)] {
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
                "metadata {a}.embedding_length = {} but tensor \"token_embd.weight\" is {} wide",
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
            format!("metadata {a}.block_count = {} but {what}", s.layers),
        ));
    }
    let head_dim = s.head_dim;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    // Query projections first: a wrong head_count shows there before it shows in the key projections.
    names.sort_by_key(|n| (n.ends_with("attn_k.weight"), n.as_str()));
    for name in names {
        let info = &content.tensor_infos[name];
        let (key, heads) = if name.ends_with("attn_q.weight") {
            (&heads_key, s.heads)
        } else if name.ends_with("attn_k.weight") {
            (&kv_key, s.kv_heads)
        } else {
            continue;
        };
        let rows = info.shape.dims().first().copied().unwrap_or(0);
        let split = match s.arch {
            GgufArch::Llama => s.hidden.is_multiple_of(s.heads),
            GgufArch::Gemma3 => true,
        };
        if !split || !head_dim.is_multiple_of(2) || rows != heads * head_dim {
            let hd = match s.arch {
                GgufArch::Llama => format!(
                    "{a}.embedding_length / {a}.attention.head_count = {} / {}",
                    s.hidden, s.heads
                ),
                GgufArch::Gemma3 => format!("{a}.attention.key_length = {head_dim}"),
            };
            return Err(gguf_err(
                path,
                format!(
                    "tensor {name:?} has {rows} rows, which {key} = {heads} does not split into heads of \
                     head_dim = {hd} (an even size)"
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

/// Opens the GGUF at `path` and reads its header (metadata and tensor infos, no tensor data). A header candle
/// would misread (an alignment that is not a power of two, a duplicate tensor name or metadata key) is refused
/// first, naming the file and the entry (see [`crate::gguf_header`]).
pub(crate) fn open(path: &Path) -> Result<(File, Content)> {
    let mut file = File::open(path).map_err(|e| gauge_core::Error::Io {
        path: path.into(),
        source: e,
    })?;
    crate::gguf_header::check(path, &mut file)?;
    let content = Content::read(&mut file)
        .map_err(|e| gguf_err(path, format!("not a readable GGUF file: {e}")))?;
    Ok((file, content))
}

/// The Hugging Face `config.json` of a GGUF's shape: what [`convert`] writes, and what [`crate::Model::load`]
/// reads a GGUF with.
pub fn config_json(s: &GgufLlama) -> serde_json::Value {
    match s.arch {
        GgufArch::Llama => serde_json::json!({
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
        }),
        GgufArch::Gemma3 => {
            // Every sixth layer attends globally, the rest through the window (Gemma3TextConfig's default).
            let layer_types: Vec<&str> = (0..s.layers)
                .map(|l| {
                    if (l + 1) % 6 == 0 {
                        "full_attention"
                    } else {
                        "sliding_attention"
                    }
                })
                .collect();
            serde_json::json!({
                "architectures": ["Gemma3ForCausalLM"],
                "model_type": "gemma3_text",
                "hidden_size": s.hidden,
                "num_hidden_layers": s.layers,
                "num_attention_heads": s.heads,
                "num_key_value_heads": s.kv_heads,
                "head_dim": s.head_dim,
                "intermediate_size": s.intermediate,
                "vocab_size": s.vocab,
                "max_position_embeddings": s.context,
                "rms_norm_eps": s.rms_eps,
                "rope_theta": s.rope_theta,
                "rope_local_base_freq": 10_000.0,
                "sliding_window": s.sliding_window.unwrap_or(512),
                "layer_types": layer_types,
                "query_pre_attn_scalar": s.head_dim,
                "attn_logit_softcapping": null,
                "final_logit_softcapping": null,
                "hidden_activation": "gelu_pytorch_tanh",
                "tie_word_embeddings": s.tied,
            })
        }
    }
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
            "supported quantisations: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, \
             Q6_K, Q8_K",
        ));
    }
    let q = content
        .tensor(file, name, &Device::Cpu)
        .map_err(|e| gguf_err(path, format!("tensor {name:?}: {e}")))?;
    let t = q.dequantize(&Device::Cpu)?;
    match shape.arch {
        GgufArch::Llama if name.ends_with("attn_q.weight") => unpermute_rows(&t, shape.heads),
        GgufArch::Llama if name.ends_with("attn_k.weight") => unpermute_rows(&t, shape.kv_heads),
        GgufArch::Gemma3 if name.ends_with("norm.weight") => Ok((t - 1.0)?),
        _ => Ok(t),
    }
}

/// The Hugging Face name of a GGUF tensor of architecture `arch`, or `None` for names no rule covers.
pub fn hf_name(arch: GgufArch, name: &str) -> Option<String> {
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
    let hf = match (arch, tail) {
        (_, "attn_norm.weight") => "input_layernorm.weight",
        (GgufArch::Llama, "ffn_norm.weight") => "post_attention_layernorm.weight",
        (GgufArch::Gemma3, "ffn_norm.weight") => "pre_feedforward_layernorm.weight",
        (GgufArch::Gemma3, "post_attention_norm.weight") => "post_attention_layernorm.weight",
        (GgufArch::Gemma3, "post_ffw_norm.weight") => "post_feedforward_layernorm.weight",
        (GgufArch::Gemma3, "attn_q_norm.weight") => "self_attn.q_norm.weight",
        (GgufArch::Gemma3, "attn_k_norm.weight") => "self_attn.k_norm.weight",
        (_, "attn_q.weight") => "self_attn.q_proj.weight",
        (_, "attn_k.weight") => "self_attn.k_proj.weight",
        (_, "attn_v.weight") => "self_attn.v_proj.weight",
        (_, "attn_output.weight") => "self_attn.o_proj.weight",
        (_, "ffn_gate.weight") => "mlp.gate_proj.weight",
        (_, "ffn_up.weight") => "mlp.up_proj.weight",
        (_, "ffn_down.weight") => "mlp.down_proj.weight",
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

/// Converts the GGUF at `gguf` into a new Hugging Face directory `out` (`config.json`, `model.safetensors`
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
        let hf = hf_name(shape.arch, name).ok_or_else(|| {
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
    gauge_core::atomic::write_dir(out, false, |tmp| -> Result<()> {
        write_dir(tmp, gguf, &shape, &tensors)?;
        match &tokenizer {
            Some(t) => t.save(&tmp.join(TOKENIZER_FILE)),
            None => Ok(()),
        }
    })?;
    Ok(shape)
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
