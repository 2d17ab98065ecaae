//! GGUF conversion: a Llama checkpoint written as GGUF the way llama.cpp's converter lays it out (its names, its
//! Q/K row permutation, dims inner-first) converts back to the same tensors and the same function.

use std::path::{Path, PathBuf};

use gauge_core::checkpoint::Checkpoint;
use gauge_models::candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use gauge_models::candle_core::{Device, Tensor};
use gauge_models::gguf::{convert, permute_rows};
use gauge_models::{Model, Site};

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
    let md: Vec<(&str, gguf_file::Value)> = vec![
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
    let md_refs: Vec<(&str, &gguf_file::Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(out).unwrap();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
}

fn logits(dir: &Path) -> Vec<f32> {
    let model = Model::load(dir, &Device::Cpu).unwrap();
    let ids = vec![(0..6u32).map(|k| (k * 29 + 7) % 200).collect::<Vec<_>>()];
    let out = model.forward_ids(&ids, &[Site::FinalNorm]).unwrap();
    out.logits.flatten_all().unwrap().to_vec1().unwrap()
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
