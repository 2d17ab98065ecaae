//! Bad checkpoints on the forward path: `Model::load` refuses corrupt safetensors, broken shard indexes,
//! config.json that disagrees with the tensors, unknown architectures and tensor names with the core's codes and
//! messages naming the file and the tensor; GGUF files of another architecture, an unsupported quantisation,
//! truncated or lacking metadata are refused by `convert` the same way. Nothing panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gauge_core::checkpoint::{
    header_bytes, Checkpoint, Dtype, TensorInfo, INDEX_FILE, SINGLE_FILE,
};
use gauge_core::init::ModelShape;
use gauge_core::rng::SplitMix64;
use gauge_models::candle_core::quantized::GgmlDType;
use gauge_models::candle_core::Device;
use gauge_models::gguf::convert;
use gauge_models::{Error, Model};
use serde_json::{json, Value};

/// A fresh temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "gm-bad-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts the code and that the message contains every needle.
#[track_caller]
fn check(e: &Error, code: &str, needles: &[&str]) {
    let msg = e.to_string();
    assert_eq!(e.code(), code, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "message lacks {n:?}: {msg}");
    }
}

#[track_caller]
fn load_err(dir: &Path) -> Error {
    match Model::load(dir, &Device::Cpu) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e,
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of fixture `name` in `dir/to` with `edit` applied to its config.
fn fixture_with_config(dir: &Dir, name: &str, to: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let (src, dst) = (fixture(name), dir.join(to));
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join(SINGLE_FILE), dst.join(SINGLE_FILE)).unwrap();
    let mut c: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(dst.join("config.json"), c.to_string()).unwrap();
    dst
}

type Spec = (String, Vec<usize>);

/// The config and tensors of a `gauge_core` preset (`tiny` has the shapes of the `tiny` fixture).
fn specs(preset: &str) -> (Value, Vec<Spec>) {
    let s = ModelShape::preset(preset).unwrap();
    let t = s.tensors().into_iter().map(|(n, s, _)| (n, s)).collect();
    (s.config().unwrap(), t)
}

/// Safetensors bytes of `tensors` with small random values.
fn safetensors(tensors: &[Spec]) -> Vec<u8> {
    let mut rng = SplitMix64::new(1);
    let (mut infos, mut data) = (Vec::new(), Vec::new());
    for (name, shape) in tensors {
        let mut v = vec![0f32; shape.iter().product()];
        rng.fill_normal(&mut v);
        let start = data.len() as u64;
        data.extend(v.iter().flat_map(|x| (1.0 + 0.1 * x).to_le_bytes()));
        infos.push(TensorInfo {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: shape.clone(),
            start,
            end: data.len() as u64,
        });
    }
    let mut bytes = header_bytes(&infos, &HashMap::new());
    bytes.extend_from_slice(&data);
    bytes
}

fn write(dir: &Dir, name: &str, config: &Value, tensors: &[Spec]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("config.json"), config.to_string()).unwrap();
    std::fs::write(p.join(SINGLE_FILE), safetensors(tensors)).unwrap();
    p
}

const EMBED: &str = "model.embed_tokens.weight";
const Q0: &str = "model.layers.0.self_attn.q_proj.weight";

#[test]
fn the_fixtures_and_presets_used_here_load() {
    let dir = Dir::new("ok");
    Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let (config, t) = specs("tiny");
    Model::load(&write(&dir, "tiny", &config, &t), &Device::Cpu).unwrap();
}

// Corrupt safetensors and shard indexes reach the caller with the core's codes.

#[test]
fn corrupt_safetensors_are_refused_by_load() {
    let dir = Dir::new("st");
    // Header length past the end of the file.
    let ck = fixture_with_config(&dir, "tiny", "hlen", |_| {});
    let f = ck.join(SINGLE_FILE);
    let mut bytes = std::fs::read(&f).unwrap();
    let len = bytes.len() as u64;
    bytes[..8].copy_from_slice(&(len + 1).to_le_bytes());
    std::fs::write(&f, &bytes).unwrap();
    check(
        &load_err(&ck),
        "SAFETENSORS_HEADER",
        &[&f.display().to_string(), "header length", "past the end"],
    );
    // Truncated data.
    let ck = fixture_with_config(&dir, "tiny", "cut", |_| {});
    let f = ck.join(SINGLE_FILE);
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 1]).unwrap();
    check(
        &load_err(&ck),
        "SAFETENSORS_HEADER",
        &[&f.display().to_string(), "truncated"],
    );
    // Trailing bytes no tensor owns.
    let ck = fixture_with_config(&dir, "tiny", "tail", |_| {});
    let f = ck.join(SINGLE_FILE);
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(&[0; 16]);
    std::fs::write(&f, &bytes).unwrap();
    check(
        &load_err(&ck),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "belong to no tensor"],
    );
}

#[test]
fn a_missing_shard_is_refused_by_load() {
    let dir = Dir::new("shard");
    let (config, t) = specs("tiny");
    let ck = dir.join("m");
    std::fs::create_dir_all(&ck).unwrap();
    std::fs::write(ck.join("config.json"), config.to_string()).unwrap();
    let mut map = serde_json::Map::new();
    for (file, part) in [("a.safetensors", &t[..5]), ("b.safetensors", &t[5..])] {
        std::fs::write(ck.join(file), safetensors(part)).unwrap();
        for (n, _) in part {
            map.insert(n.clone(), file.into());
        }
    }
    std::fs::write(
        ck.join(INDEX_FILE),
        json!({ "weight_map": map }).to_string(),
    )
    .unwrap();
    Model::load(&ck, &Device::Cpu).unwrap();
    std::fs::remove_file(ck.join("b.safetensors")).unwrap();
    check(
        &load_err(&ck),
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join("b.safetensors").display().to_string(),
            INDEX_FILE,
            "does not exist",
        ],
    );
}

// config.json against the tensors.

#[test]
fn hidden_size_that_disagrees_with_the_embedding() {
    let dir = Dir::new("hidden");
    let ck = fixture_with_config(&dir, "tiny", "m", |c| c["hidden_size"] = 32.into());
    check(
        &load_err(&ck),
        "SHAPE_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            EMBED,
            "hidden_size = 32 (config.json)",
            "got shape [256, 64]",
        ],
    );
    let ck = fixture_with_config(&dir, "tiny-gpt2", "gpt2", |c| c["n_embd"] = 128.into());
    check(
        &load_err(&ck),
        "SHAPE_MISMATCH",
        &[SINGLE_FILE, "transformer.wte.weight", "n_embd = 128"],
    );
}

#[test]
fn layer_count_that_disagrees_with_the_tensors() {
    let dir = Dir::new("layers");
    // The config counts a block the tensors lack.
    let ck = fixture_with_config(&dir, "tiny", "more", |c| c["num_hidden_layers"] = 3.into());
    check(
        &load_err(&ck),
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "has no tensors of block 2",
            "model.layers.2.input_layernorm.weight",
            "num_hidden_layers = 3",
        ],
    );
    // The tensors hold a block the config does not count (the forward would silently skip it).
    let ck = fixture_with_config(&dir, "tiny", "fewer", |c| c["num_hidden_layers"] = 1.into());
    check(
        &load_err(&ck),
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "holds tensor \"model.layers.1.",
            "num_hidden_layers = 1",
        ],
    );
    let ck = fixture_with_config(&dir, "tiny-gpt2", "gpt2", |c| c["n_layer"] = 1.into());
    check(
        &load_err(&ck),
        "CHECKPOINT_MISMATCH",
        &[SINGLE_FILE, "\"transformer.h.1.", "n_layer = 1"],
    );
}

#[test]
fn vocab_size_that_disagrees_with_the_embedding_rows() {
    let dir = Dir::new("vocab");
    let ck = fixture_with_config(&dir, "tiny-qwen2", "m", |c| c["vocab_size"] = 200.into());
    check(
        &load_err(&ck),
        "SHAPE_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            EMBED,
            "vocab_size = 200 (config.json)",
        ],
    );
}

#[test]
fn a_weight_whose_shape_disagrees_with_the_config() {
    let dir = Dir::new("shape");
    let (config, mut t) = specs("tiny");
    t.iter_mut().find(|(n, _)| n == Q0).unwrap().1 = vec![48, 64];
    let ck = write(&dir, "q", &config, &t);
    check(
        &load_err(&ck),
        "SHAPE_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            Q0,
            "num_attention_heads 4 × head_dim 16",
            "got shape [48, 64]",
        ],
    );
    // A config that changes the head count changes the expected rows.
    let ck = fixture_with_config(&dir, "tiny", "heads", |c| {
        c["num_attention_heads"] = 8.into()
    });
    check(
        &load_err(&ck),
        "SHAPE_MISMATCH",
        &[
            SINGLE_FILE,
            "model.layers.0.self_attn.k_proj.weight",
            "head_dim 8",
        ],
    );
}

#[test]
fn an_untied_config_without_an_output_head() {
    let dir = Dir::new("head");
    // tie_word_embeddings absent: Llama's default is untied, so lm_head.weight is needed.
    let (mut config, mut t) = specs("tiny");
    config
        .as_object_mut()
        .unwrap()
        .remove("tie_word_embeddings");
    t.retain(|(n, _)| n != "lm_head.weight");
    let ck = write(&dir, "m", &config, &t);
    check(
        &load_err(&ck),
        "MODEL_CONFIG",
        &[
            &ck.join("config.json").display().to_string(),
            "tie_word_embeddings",
            "not set",
            "lm_head.weight",
        ],
    );
    // Said explicitly, the core refuses it already.
    config["tie_word_embeddings"] = false.into();
    let ck = write(&dir, "explicit", &config, &t);
    check(
        &load_err(&ck),
        "CHECKPOINT_MISMATCH",
        &[SINGLE_FILE, "lm_head.weight", "tie_word_embeddings = false"],
    );
}

#[test]
fn a_config_missing_what_the_forward_needs() {
    let dir = Dir::new("cfg");
    let ck = fixture_with_config(&dir, "tiny", "m", |c| {
        c.as_object_mut().unwrap().remove("intermediate_size");
    });
    check(
        &load_err(&ck),
        "MODEL_CONFIG",
        &[
            &ck.join("config.json").display().to_string(),
            "intermediate_size",
            "missing",
        ],
    );
}

// Unknown architectures and tensor names.

#[test]
fn unknown_architecture() {
    let dir = Dir::new("arch");
    let ck = fixture_with_config(&dir, "tiny", "m", |c| {
        c.as_object_mut().unwrap().remove("architectures");
        c["model_type"] = "mamba".into();
    });
    check(
        &load_err(&ck),
        "INVALID_ARGUMENT",
        &[
            &ck.join("config.json").display().to_string(),
            "model_type \"mamba\" is not a supported architecture",
        ],
    );
}

#[test]
fn unknown_tensor_name() {
    let dir = Dir::new("stray");
    let (config, mut t) = specs("tiny");
    t.push(("model.layers.0.foo.weight".into(), vec![64]));
    let ck = write(&dir, "m", &config, &t);
    check(
        &load_err(&ck),
        "INVALID_ARGUMENT",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "\"model.layers.0.foo.weight\"",
            "no llama rule",
        ],
    );
}

// GGUF, written byte by byte (GGUF v3) so that any metadata, shape or quantisation can be produced.

enum Kv {
    Str(String),
    U32(u32),
    F32(f32),
}

struct GTensor {
    name: String,
    /// Outer dimension first, as candle and Hugging Face write shapes.
    dims: Vec<u64>,
    /// The ggml type id.
    dtype: u32,
    data: Vec<u8>,
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn pad32(b: &mut Vec<u8>) {
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
}

/// The bytes of a GGUF file, the offset where its tensor infos end and the one where its tensor data starts.
fn gguf_bytes(kv: &[(&str, Kv)], tensors: &[GTensor]) -> (Vec<u8>, usize, usize) {
    let mut b = Vec::new();
    b.extend_from_slice(&0x4655_4747u32.to_le_bytes());
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    b.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        put_str(&mut b, k);
        match v {
            Kv::Str(s) => {
                b.extend_from_slice(&8u32.to_le_bytes());
                put_str(&mut b, s);
            }
            Kv::U32(x) => {
                b.extend_from_slice(&4u32.to_le_bytes());
                b.extend_from_slice(&x.to_le_bytes());
            }
            Kv::F32(x) => {
                b.extend_from_slice(&6u32.to_le_bytes());
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    let mut offset = 0u64;
    for t in tensors {
        put_str(&mut b, &t.name);
        b.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in t.dims.iter().rev() {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&t.dtype.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        offset += (t.data.len() as u64).div_ceil(32) * 32;
    }
    let infos_end = b.len();
    pad32(&mut b);
    let data_start = b.len();
    for t in tensors {
        b.extend_from_slice(&t.data);
        pad32(&mut b);
    }
    (b, infos_end, data_start)
}

fn gguf_name(hf: &str) -> String {
    let simple = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, g)) = simple.iter().find(|(h, _)| *h == hf) {
        return g.to_string();
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (layer, tail) = rest.split_once('.').unwrap();
    let g = match tail {
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        other => panic!("no GGUF name for {other}"),
    };
    format!("blk.{layer}.{g}")
}

/// The `tiny` fixture as a Llama GGUF in F32: its metadata and tensors, for editing.
fn tiny_gguf() -> (Vec<(&'static str, Kv)>, Vec<GTensor>) {
    let ckpt = Checkpoint::open(&fixture("tiny")).unwrap();
    let tensors = ckpt
        .tensors()
        .map(|(_, t)| GTensor {
            name: gguf_name(&t.name),
            dims: t.shape.iter().map(|&d| d as u64).collect(),
            dtype: 0,
            data: ckpt
                .read_f32(&t.name)
                .unwrap()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        })
        .collect();
    let kv = vec![
        ("general.architecture", Kv::Str("llama".into())),
        ("llama.embedding_length", Kv::U32(64)),
        ("llama.block_count", Kv::U32(2)),
        ("llama.attention.head_count", Kv::U32(4)),
        ("llama.attention.head_count_kv", Kv::U32(2)),
        ("llama.feed_forward_length", Kv::U32(128)),
        ("llama.context_length", Kv::U32(2048)),
        ("llama.attention.layer_norm_rms_epsilon", Kv::F32(1e-5)),
        ("llama.rope.freq_base", Kv::F32(10000.0)),
    ];
    (kv, tensors)
}

fn set(kv: &mut Vec<(&'static str, Kv)>, key: &'static str, v: Kv) {
    kv.retain(|(k, _)| *k != key);
    kv.push((key, v));
}

/// Writes a GGUF into `dir/name.gguf`, converts it into `dir/name` and returns the error; no output is left.
#[track_caller]
fn convert_err(dir: &Dir, name: &str, bytes: &[u8]) -> (PathBuf, Error) {
    let gguf = dir.join(&format!("{name}.gguf"));
    std::fs::write(&gguf, bytes).unwrap();
    let out = dir.join(name);
    let e = convert(&gguf, &out).expect_err("converted");
    assert!(!out.exists());
    (gguf, e)
}

#[test]
fn a_valid_gguf_written_here_converts_and_loads() {
    let dir = Dir::new("gguf-ok");
    let (kv, t) = tiny_gguf();
    let gguf = dir.join("ok.gguf");
    std::fs::write(&gguf, gguf_bytes(&kv, &t).0).unwrap();
    convert(&gguf, &dir.join("ok")).unwrap();
    Model::load(&dir.join("ok"), &Device::Cpu).unwrap();
}

#[test]
fn gguf_of_an_unsupported_architecture() {
    let dir = Dir::new("gguf-arch");
    let (mut kv, t) = tiny_gguf();
    set(&mut kv, "general.architecture", Kv::Str("falcon".into()));
    let (gguf, e) = convert_err(&dir, "falcon", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "MODEL_UNSUPPORTED",
        &[
            &gguf.display().to_string(),
            "GGUF architecture \"falcon\"",
            "general.architecture llama and gemma3 are read",
        ],
    );
}

/// Every quantisation candle dequantizes is read (here whole blocks of zeros, which dequantize to zeros); one it
/// does not (Q8_1, an intermediate format of llama.cpp's dot products) is refused, naming the tensor and the list.
#[test]
fn gguf_quantisations_are_read_or_refused_by_name() {
    let dir = Dir::new("gguf-quant");
    let with = |dtype: GgmlDType, id: u32| {
        // A 256 × 256 MLP weight (whole k-quant blocks), zeros: a valid tensor of that type.
        let (kv, mut t) = tiny_gguf();
        let bytes = 256 * 256 / dtype.block_size() * dtype.type_size();
        t.retain(|x| x.name != "blk.0.ffn_down.weight");
        t.push(GTensor {
            name: "blk.0.ffn_down.weight".into(),
            dims: vec![256, 256],
            dtype: id,
            data: vec![0; bytes],
        });
        gguf_bytes(&kv, &t).0
    };
    for (dtype, id) in [
        (GgmlDType::Q2K, 10),
        (GgmlDType::Q3K, 11),
        (GgmlDType::Q4K, 12),
        (GgmlDType::Q5K, 13),
        (GgmlDType::Q5_0, 6),
        (GgmlDType::Q5_1, 7),
        (GgmlDType::BF16, 30),
    ] {
        let gguf = dir.join(&format!("{dtype:?}.gguf"));
        std::fs::write(&gguf, with(dtype, id)).unwrap();
        let out = dir.join(&format!("{dtype:?}"));
        convert(&gguf, &out).unwrap_or_else(|e| panic!("{dtype:?}: {e}"));
        // The 256 × 256 stand-in does not fit the config's MLP, so the file is read as plain safetensors.
        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let w = st.tensor("model.layers.0.mlp.down_proj.weight").unwrap();
        assert_eq!(w.shape(), [256, 256], "{dtype:?}");
        let zero = w
            .data()
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes(c.try_into().unwrap()) == 0.0);
        assert!(zero, "{dtype:?}");
    }
    let (gguf, e) = convert_err(&dir, "Q8_1", &with(GgmlDType::Q8_1, 9));
    check(
        &e,
        "MODEL_UNSUPPORTED",
        &[
            &gguf.display().to_string(),
            "tensor \"blk.0.ffn_down.weight\"",
            "Q8_1",
            "supported quantisations: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K",
        ],
    );
}

#[test]
fn truncated_gguf() {
    let dir = Dir::new("gguf-cut");
    let (kv, t) = tiny_gguf();
    let (bytes, infos_end, data_start) = gguf_bytes(&kv, &t);
    // In the magic, the counts, the metadata, the last tensor info, the first tensor's data and the last byte.
    for cut in [
        0,
        3,
        12,
        30,
        200,
        infos_end - 3,
        data_start + 1000,
        bytes.len() - 1,
    ] {
        let (gguf, e) = convert_err(&dir, &format!("cut{cut}"), &bytes[..cut]);
        let needles: &[&str] = if cut >= infos_end {
            &["tensor \"", "does not fit in the"]
        } else {
            &["not a readable GGUF file"]
        };
        check(&e, "INVALID_ARGUMENT", needles);
        assert!(e.to_string().contains(&gguf.display().to_string()), "{e}");
    }
}

#[test]
fn gguf_missing_required_metadata() {
    let dir = Dir::new("gguf-meta");
    for key in [
        "llama.embedding_length",
        "llama.block_count",
        "llama.attention.head_count",
        "llama.feed_forward_length",
    ] {
        let (mut kv, t) = tiny_gguf();
        kv.retain(|(k, _)| *k != key);
        let (gguf, e) = convert_err(&dir, key, &gguf_bytes(&kv, &t).0);
        check(
            &e,
            "INVALID_ARGUMENT",
            &[
                &gguf.display().to_string(),
                &format!("GGUF metadata lacks {key:?}"),
            ],
        );
    }
    let (mut kv, t) = tiny_gguf();
    set(&mut kv, "llama.block_count", Kv::Str("two".into()));
    let (_, e) = convert_err(&dir, "type", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "INVALID_ARGUMENT",
        &["\"llama.block_count\" is not an integer"],
    );
    let (mut kv, t) = tiny_gguf();
    kv.retain(|(k, _)| *k != "general.architecture");
    let (gguf, e) = convert_err(&dir, "noarch", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "MODEL_UNSUPPORTED",
        &[&gguf.display().to_string(), "general.architecture"],
    );
    let (kv, mut t) = tiny_gguf();
    t.retain(|x| x.name != "token_embd.weight");
    let (gguf, e) = convert_err(&dir, "noembd", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "INVALID_ARGUMENT",
        &[&gguf.display().to_string(), "has no token_embd.weight"],
    );
}

#[test]
fn gguf_tensor_name_without_a_rule() {
    let dir = Dir::new("gguf-name");
    let (kv, mut t) = tiny_gguf();
    t.push(GTensor {
        name: "blk.0.attn_q.bias".into(),
        dims: vec![64],
        dtype: 0,
        data: vec![0; 256],
    });
    let (gguf, e) = convert_err(&dir, "bias", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "INVALID_ARGUMENT",
        &[
            &gguf.display().to_string(),
            "tensor \"blk.0.attn_q.bias\"",
            "no GGUF-to-Hugging-Face rule",
        ],
    );
}

/// Metadata that disagrees with the tensors is converted today, but the result is refused when opened.
#[test]
fn gguf_metadata_that_disagrees_with_the_tensors_is_refused_downstream() {
    let dir = Dir::new("gguf-disagree");
    let (mut kv, t) = tiny_gguf();
    set(&mut kv, "llama.embedding_length", Kv::U32(32));
    let gguf = dir.join("wide.gguf");
    std::fs::write(&gguf, gguf_bytes(&kv, &t).0).unwrap();
    let out = dir.join("wide");
    if convert(&gguf, &out).is_ok() {
        check(
            &load_err(&out),
            "SHAPE_MISMATCH",
            &[
                &out.join(SINGLE_FILE).display().to_string(),
                EMBED,
                "hidden_size = 32",
            ],
        );
    }
}

#[test]
fn gguf_metadata_that_disagrees_with_the_tensors_is_refused_by_convert() {
    let dir = Dir::new("gguf-disagree-convert");
    for (key, value, tensor) in [
        ("llama.embedding_length", 32, "token_embd.weight"),
        ("llama.block_count", 3, "blk.2"),
    ] {
        let (mut kv, t) = tiny_gguf();
        set(&mut kv, key, Kv::U32(value));
        let (gguf, e) = convert_err(&dir, key, &gguf_bytes(&kv, &t).0);
        let msg = e.to_string();
        assert!(msg.contains(&gguf.display().to_string()), "{msg}");
        assert!(msg.contains(key) && msg.contains(tensor), "{msg}");
    }
}

#[test]
fn gguf_with_zero_heads_is_an_error_not_a_panic() {
    let dir = Dir::new("gguf-zero-heads");
    for key in [
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
    ] {
        let (mut kv, t) = tiny_gguf();
        set(&mut kv, key, Kv::U32(0));
        let (gguf, e) = convert_err(&dir, key, &gguf_bytes(&kv, &t).0);
        check(&e, "INVALID_ARGUMENT", &[&gguf.display().to_string(), key]);
    }
}

#[test]
fn gguf_head_count_that_does_not_fit_the_rows_names_file_and_tensor() {
    let dir = Dir::new("gguf-heads");
    let (mut kv, t) = tiny_gguf();
    set(&mut kv, "llama.attention.head_count", Kv::U32(3));
    let (gguf, e) = convert_err(&dir, "heads3", &gguf_bytes(&kv, &t).0);
    let msg = e.to_string();
    assert!(msg.contains(&gguf.display().to_string()), "{msg}");
    assert!(msg.contains("blk.0.attn_q.weight"), "{msg}");
    assert!(msg.contains("llama.attention.head_count"), "{msg}");
}

#[test]
fn gguf_embedding_without_dimensions_is_an_error_not_a_panic() {
    let dir = Dir::new("gguf-scalar");
    let (kv, mut t) = tiny_gguf();
    let e = t
        .iter_mut()
        .find(|x| x.name == "token_embd.weight")
        .unwrap();
    e.dims = vec![];
    e.data = vec![0; 4];
    let (gguf, e) = convert_err(&dir, "scalar", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "INVALID_ARGUMENT",
        &[&gguf.display().to_string(), "token_embd.weight"],
    );
}

#[test]
fn gguf_tensor_with_overflowing_dims_is_an_error_not_a_panic() {
    let dir = Dir::new("gguf-overflow");
    let (kv, mut t) = tiny_gguf();
    let e = t
        .iter_mut()
        .find(|x| x.name == "blk.0.ffn_up.weight")
        .unwrap();
    e.dims = vec![1 << 33, 1 << 33];
    let (gguf, e) = convert_err(&dir, "overflow", &gguf_bytes(&kv, &t).0);
    check(
        &e,
        "INVALID_ARGUMENT",
        &[&gguf.display().to_string(), "blk.0.ffn_up.weight"],
    );
}

#[test]
fn sequences_whose_attention_cannot_be_allocated_are_refused_before_running() {
    let m = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    // 1 x 2^20 tokens: 2^40 attention scores per head, 4 TiB of f32.
    let ids = gauge_models::candle_core::Tensor::zeros(
        (1, 1 << 20),
        gauge_models::candle_core::DType::U32,
        &Device::Cpu,
    )
    .unwrap();
    let e = m.forward(&ids, &[]).unwrap_err();
    check(
        &e,
        "INVALID_ARGUMENT",
        &[
            "ids",
            "1048576 tokens",
            "attention scores",
            "shorter sequences",
        ],
    );
}
