//! GGUF conversion: a Llama checkpoint written as GGUF the way llama.cpp's converter lays it out (its names, its
//! Q/K row permutation, dims inner-first) converts back to the same tensors and the same function; loaded
//! directly, without conversion, it gives the same weights, logits and `inspect` report; a tokenizer in its
//! metadata is built and written as `tokenizer.json` by `convert`.

use std::path::{Path, PathBuf};

use gauge_core::checkpoint::Checkpoint;
use gauge_models::candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use gauge_models::candle_core::{Device, Tensor};
use gauge_models::gguf::{convert, permute_rows};
use gauge_models::gguf_inspect::inspect;
use gauge_models::{load_tokenizer, Model, Site};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn temp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gt-gguf-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn gguf_name(hf: &str) -> String {
    let map = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, g)) = map.iter().find(|(h, _)| *h == hf) {
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

/// Writes the Hugging Face checkpoint `dir` as a llama.cpp-style GGUF with matrices in `dtype`.
fn write_gguf(dir: &Path, out: &Path, dtype: GgmlDType) {
    write_gguf_with(dir, out, dtype, Vec::new());
}

/// [`write_gguf`] with `extra` metadata (a tokenizer's, say).
fn write_gguf_with(dir: &Path, out: &Path, dtype: GgmlDType, extra: Vec<(&str, gguf_file::Value)>) {
    let ckpt = Checkpoint::open(dir).unwrap();
    let c = &ckpt.config;
    let u = |k: &str| c[k].as_u64().unwrap() as u32;
    let (heads, kv_heads) = (u("num_attention_heads"), u("num_key_value_heads"));
    let mut qtensors = Vec::new();
    for (_, t) in ckpt.tensors() {
        let values = ckpt.read_f32(&t.name).unwrap();
        let mut x = Tensor::from_vec(values, t.shape.clone(), &Device::Cpu).unwrap();
        if t.name.ends_with("q_proj.weight") {
            x = permute_rows(&x, heads as usize).unwrap();
        } else if t.name.ends_with("k_proj.weight") {
            x = permute_rows(&x, kv_heads as usize).unwrap();
        }
        // Norm gains stay F32, as llama.cpp keeps them.
        let q = QTensor::quantize(
            &x,
            if t.shape.len() == 1 {
                GgmlDType::F32
            } else {
                dtype
            },
        )
        .unwrap();
        qtensors.push((gguf_name(&t.name), q));
    }
    let mut md: Vec<(&str, gguf_file::Value)> = vec![
        (
            "general.architecture",
            gguf_file::Value::String("llama".into()),
        ),
        (
            "llama.embedding_length",
            gguf_file::Value::U32(u("hidden_size")),
        ),
        (
            "llama.block_count",
            gguf_file::Value::U32(u("num_hidden_layers")),
        ),
        ("llama.attention.head_count", gguf_file::Value::U32(heads)),
        (
            "llama.attention.head_count_kv",
            gguf_file::Value::U32(kv_heads),
        ),
        (
            "llama.feed_forward_length",
            gguf_file::Value::U32(u("intermediate_size")),
        ),
        (
            "llama.context_length",
            gguf_file::Value::U32(u("max_position_embeddings")),
        ),
        (
            "llama.attention.layer_norm_rms_epsilon",
            gguf_file::Value::F32(c["rms_norm_eps"].as_f64().unwrap() as f32),
        ),
        (
            "llama.rope.freq_base",
            gguf_file::Value::F32(c["rope_theta"].as_f64().unwrap() as f32),
        ),
    ];
    md.extend(extra);
    let md_refs: Vec<(&str, &gguf_file::Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(out).unwrap();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
}

fn logits(dir: &Path) -> Vec<f32> {
    forward(dir).0
}

/// Logits and the `h_1` hidden state of a fixed input, flattened, from the model source `path`.
fn forward(path: &Path) -> (Vec<f32>, Vec<f32>) {
    let model = Model::load(path, &Device::Cpu).unwrap();
    let ids = vec![(0..6u32).map(|k| (k * 29 + 7) % 200).collect::<Vec<_>>()];
    let out = model
        .forward_ids(&ids, &[Site::Residual(1), Site::FinalNorm])
        .unwrap();
    let flat = |t: &gauge_models::candle_core::Tensor| t.flatten_all().unwrap().to_vec1().unwrap();
    (
        flat(&out.logits),
        flat(out.hidden(Site::Residual(1)).unwrap()),
    )
}

fn max_diff(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    x.iter()
        .zip(y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

#[test]
fn f32_gguf_converts_back_to_the_same_tensors_and_logits() {
    let dir = temp("f32");
    let gguf = dir.join("tiny.gguf");
    write_gguf(&fixture("tiny"), &gguf, GgmlDType::F32);
    let out = dir.join("hf");
    let shape = convert(&gguf, &out).unwrap();
    assert_eq!(
        (shape.layers, shape.heads, shape.kv_heads, shape.tied),
        (2, 4, 2, false)
    );
    let (a, b) = (
        Checkpoint::open(&fixture("tiny")).unwrap(),
        Checkpoint::open(&out).unwrap(),
    );
    for (_, t) in a.tensors() {
        assert_eq!(
            a.read_f32(&t.name).unwrap(),
            b.read_f32(&t.name).unwrap(),
            "{}",
            t.name
        );
    }
    let (x, y) = (logits(&fixture("tiny")), logits(&out));
    let diff = x
        .iter()
        .zip(&y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max);
    assert!(diff <= 1e-5, "logits differ by {diff}");
    assert_eq!(convert(&gguf, &out).unwrap_err().code(), "OUTPUT_EXISTS");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn q8_0_gguf_dequantizes_close_to_the_original() {
    let dir = temp("q8");
    let gguf = dir.join("tiny-q8.gguf");
    write_gguf(&fixture("tiny"), &gguf, GgmlDType::Q8_0);
    let out = dir.join("hf");
    convert(&gguf, &out).unwrap();
    let (x, y) = (logits(&fixture("tiny")), logits(&out));
    let scale = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = x
        .iter()
        .zip(&y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max);
    assert!(
        diff > 0.0 && diff < 0.05 * scale,
        "Q8_0 logits differ by {diff} (scale {scale})"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_gguf_files_are_clear_errors() {
    let dir = temp("bad");
    let junk = dir.join("junk.gguf");
    std::fs::write(&junk, b"definitely not gguf").unwrap();
    let e = convert(&junk, &dir.join("o1")).unwrap_err();
    assert!(e.to_string().contains("junk.gguf"), "{e}");
    let other = dir.join("gpt2.gguf");
    let q = QTensor::quantize(
        &Tensor::zeros((4, 4), gauge_models::candle_core::DType::F32, &Device::Cpu).unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let arch = gguf_file::Value::String("gpt2".into());
    gguf_file::write(
        &mut std::fs::File::create(&other).unwrap(),
        &[("general.architecture", &arch)],
        &[("token_embd.weight", &q)],
    )
    .unwrap();
    let e = convert(&other, &dir.join("o2")).unwrap_err();
    assert_eq!(e.code(), "MODEL_UNSUPPORTED");
    assert!(e.to_string().contains("gpt2"), "{e}");
    assert!(!dir.join("o1").exists() && !dir.join("o2").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A one-tensor GGUF with `metadata` and the tensors `names` (each 4 x 4 F32 zeros), as candle writes it (data
/// aligned to 32 bytes whatever the metadata says).
fn small_gguf(path: &Path, metadata: &[(&str, gguf_file::Value)], names: &[&str]) {
    let q = QTensor::quantize(
        &Tensor::zeros((4, 4), gauge_models::candle_core::DType::F32, &Device::Cpu).unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let arch = gguf_file::Value::String("llama".into());
    let mut md: Vec<(&str, &gguf_file::Value)> = vec![("general.architecture", &arch)];
    md.extend(metadata.iter().map(|(k, v)| (*k, v)));
    let tensors: Vec<(&str, &QTensor)> = names.iter().map(|n| (*n, &q)).collect();
    gguf_file::write(&mut std::fs::File::create(path).unwrap(), &md, &tensors).unwrap();
}

#[test]
fn an_alignment_that_is_not_a_power_of_two_is_an_error_naming_the_file() {
    let dir = temp("align");
    for (tag, value) in [
        ("zero", gguf_file::Value::U32(0)),
        ("three", gguf_file::Value::U32(3)),
        ("negative", gguf_file::Value::I32(-32)),
        ("u64", gguf_file::Value::U64(32)),
    ] {
        let file = dir.join(format!("align-{tag}.gguf"));
        small_gguf(
            &file,
            &[("general.alignment", value)],
            &["token_embd.weight"],
        );
        // candle divides by the alignment: 0 was a panic (a crash of the Node process through the addon).
        for e in [
            inspect(&file).unwrap_err(),
            convert(&file, &dir.join(format!("out-{tag}"))).unwrap_err(),
            Model::load(&file, &Device::Cpu).map(|_| ()).unwrap_err(),
        ] {
            let text = e.to_string();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{text}");
            assert!(text.contains(&format!("align-{tag}.gguf")), "{text}");
            assert!(text.contains("general.alignment"), "{text}");
        }
    }
    // A power of two other than the default is accepted by this check (the file's data happens to fit).
    let ok = dir.join("align-64.gguf");
    small_gguf(
        &ok,
        &[("general.alignment", gguf_file::Value::U32(64))],
        &["token_embd.weight"],
    );
    if let Err(e) = inspect(&ok) {
        assert!(!e.to_string().contains("general.alignment"), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duplicate_tensor_names_and_metadata_keys_are_refused_naming_them() {
    let dir = temp("dup");
    let file = dir.join("dup.gguf");
    small_gguf(
        &file,
        &[],
        &[
            "token_embd.weight",
            "output_norm.weight",
            "token_embd.weight",
        ],
    );
    let e = inspect(&file).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(
        text.contains("dup.gguf") && text.contains("\"token_embd.weight\" appears twice"),
        "{text}"
    );
    assert!(convert(&file, &dir.join("out")).is_err() && !dir.join("out").exists());
    let keys = dir.join("keys.gguf");
    small_gguf(
        &keys,
        &[
            ("llama.block_count", gguf_file::Value::U32(1)),
            ("llama.block_count", gguf_file::Value::U32(2)),
        ],
        &["token_embd.weight"],
    );
    let text = inspect(&keys).unwrap_err().to_string();
    assert!(
        text.contains("keys.gguf") && text.contains("\"llama.block_count\" appears twice"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A byte-level BPE tokenizer as llama.cpp writes it into a GGUF: the 256 byte tokens, three merges making
/// `Ġthe`, and `<|endoftext|>` as a control token, with SmolLM2's digit-splitting pre-tokenizer.
fn gpt2_tokenizer_metadata() -> Vec<(&'static str, gguf_file::Value)> {
    use gguf_file::Value;
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    let mut tokens: Vec<String> = (0..=255u8)
        .map(|b| {
            if printable(b) {
                (b as char).to_string()
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap().to_string()
            }
        })
        .collect();
    tokens.extend(["Ġt", "he", "Ġthe", "<|endoftext|>"].map(String::from));
    let mut types = vec![Value::I32(1); tokens.len()];
    types[tokens.len() - 1] = Value::I32(3);
    let strings = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    vec![
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        ("tokenizer.ggml.tokens", strings(tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        (
            "tokenizer.ggml.merges",
            strings(["Ġ t", "h e", "Ġt he"].map(String::from).to_vec()),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(259)),
        ("tokenizer.ggml.eos_token_id", Value::U32(259)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
    ]
}

#[test]
fn a_gguf_loads_directly_like_its_conversion() {
    let dir = temp("direct");
    for (tag, dtype) in [("f32", GgmlDType::F32), ("q8", GgmlDType::Q8_0)] {
        // No `.gguf` extension: the magic bytes say what the file is.
        let gguf = dir.join(format!("tiny-{tag}.bin"));
        write_gguf(&fixture("tiny"), &gguf, dtype);
        let out = dir.join(format!("hf-{tag}"));
        convert(&gguf, &out).unwrap();
        assert!(
            !out.join("tokenizer.json").exists(),
            "no tokenizer metadata, no tokenizer.json"
        );
        let (direct, converted) = (forward(&gguf), forward(&out));
        assert_eq!(max_diff(&direct.0, &converted.0), 0.0, "{tag} logits");
        assert_eq!(max_diff(&direct.1, &converted.1), 0.0, "{tag} h_1");
        if dtype == GgmlDType::F32 {
            assert!(max_diff(&direct.0, &logits(&fixture("tiny"))) <= 1e-5);
        }
        let (a, b) = (
            inspect(&gguf).unwrap(),
            gauge_core::inspect::inspect(&out).unwrap(),
        );
        assert_eq!(
            (
                &a.architecture,
                &a.class,
                &a.shape,
                a.d,
                a.parameters,
                a.norm
            ),
            (
                &b.architecture,
                &b.class,
                &b.shape,
                b.d,
                b.parameters,
                b.norm
            )
        );
        assert_eq!(
            (&a.gains, a.group, &a.continuous_reason),
            (&b.gains, b.group, &b.continuous_reason)
        );
        assert_eq!(a.group, "Bd");
        let want: Vec<String> = if dtype == GgmlDType::F32 {
            vec!["F32".into()]
        } else {
            vec!["F32".into(), "Q8_0".into()]
        };
        assert_eq!(a.dtypes, want);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_gguf_tokenizer_is_built_and_written_by_convert() {
    let dir = temp("tok");
    let gguf = dir.join("tiny.gguf");
    write_gguf_with(
        &fixture("tiny"),
        &gguf,
        GgmlDType::F32,
        gpt2_tokenizer_metadata(),
    );
    let tok = load_tokenizer(&gguf)
        .unwrap()
        .expect("the GGUF has a tokenizer");
    assert_eq!(tok.vocab_size(), 260);
    // ` the` is one merged token; digits are split one by one; BOS comes first when asked for.
    assert_eq!(tok.encode(" the", false).unwrap(), vec![258]);
    assert_eq!(
        tok.encode("the 42", true).unwrap(),
        vec![259, 116, 257, 32, 52, 50]
    );
    assert_eq!(
        tok.decode(&[259, 258, 32, 52]).unwrap(),
        "<|endoftext|> the 4"
    );
    assert_eq!(tok.encode("<|endoftext|>", false).unwrap(), vec![259]);
    let out = dir.join("hf");
    convert(&gguf, &out).unwrap();
    let saved = load_tokenizer(&out)
        .unwrap()
        .expect("convert writes tokenizer.json");
    assert_eq!(saved.source(), out.join("tokenizer.json"));
    for text in ["the 42", " the the", "naïve <|endoftext|> 東京\n"] {
        assert_eq!(
            saved.encode(text, true).unwrap(),
            tok.encode(text, true).unwrap()
        );
        assert_eq!(
            saved.encode(text, false).unwrap(),
            tok.encode(text, false).unwrap()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_gguf_tokenizers_are_named() {
    let dir = temp("badtok");
    let cases: [(&str, &str, &str); 2] = [
        ("tokenizer.ggml.model", "t5", "\"t5\""),
        ("tokenizer.ggml.pre", "deepseek-coder", "\"deepseek-coder\""),
    ];
    for (k, (key, value, named)) in cases.into_iter().enumerate() {
        let mut md = gpt2_tokenizer_metadata();
        md.retain(|(m, _)| *m != key);
        md.push((key, gguf_file::Value::String(value.into())));
        let gguf = dir.join(format!("t{k}.gguf"));
        write_gguf_with(&fixture("tiny"), &gguf, GgmlDType::F32, md);
        let e = load_tokenizer(&gguf).unwrap_err();
        assert_eq!(e.code(), "MODEL_UNSUPPORTED", "{e}");
        assert!(
            e.to_string().contains(named) && e.to_string().contains(&format!("t{k}.gguf")),
            "{e}"
        );
        // convert refuses rather than leaving the tokenizer out.
        assert_eq!(
            convert(&gguf, &dir.join(format!("o{k}")))
                .unwrap_err()
                .code(),
            "MODEL_UNSUPPORTED"
        );
        assert!(!dir.join(format!("o{k}")).exists());
        // The weights still load directly.
        Model::load(&gguf, &Device::Cpu).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
