//! llama.cpp control vectors (fixture written by llama.cpp's gguf-py, `scripts/fixtures/control_vector_gguf.py`):
//! transported by a gauge, every direction equals `g·v` computed here from GAUGE.md §2 (`out[perm[i]] =
//! sign[i]·v[i]`), every metadata key and tensor is kept, the round trip by `g` then `g⁻¹` gives the input's values
//! back, and what is not a control vector is refused with the reason.

use std::path::{Path, PathBuf};

use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::quantized::gguf_file::{self, Content, Value};
use gauge_models::candle_core::quantized::{GgmlDType, QTensor};
use gauge_models::candle_core::{DType, Device, Tensor};
use gauge_models::control_vector::transport;

const D: usize = 64;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/control_vector/control.gguf")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gt-cv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(path: &Path) -> (Content, Vec<(String, Vec<f32>)>) {
    let mut f = std::fs::File::open(path).unwrap();
    let c = Content::read(&mut f).unwrap();
    let mut names: Vec<_> = c.tensor_infos.keys().cloned().collect();
    names.sort();
    let tensors = names
        .into_iter()
        .map(|n| {
            let t = c.tensor(&mut f, &n, &Device::Cpu).unwrap();
            let v: Vec<f32> = t.dequantize(&Device::Cpu).unwrap().to_vec1().unwrap();
            (n, v)
        })
        .collect();
    (c, tensors)
}

fn gauge(seed: u64) -> Gauge {
    Gauge::random(
        D,
        &RandomOptions {
            seed,
            positive_fraction: 0.5,
            group: Group::Bd,
        },
    )
    .unwrap()
}

#[test]
fn directions_move_as_steering_vectors_and_everything_else_is_kept() {
    let dir = scratch("move");
    let g = gauge(3);
    let out = dir.join("moved.gguf");
    let r = transport(&fixture(), &g, &out, false).unwrap();
    assert_eq!(r.layers, vec![1, 2, 3]);
    assert_eq!(r.model_hint.as_deref(), Some("llama"));
    let (c0, t0) = read(&fixture());
    let (c1, t1) = read(&out);
    // Every metadata key, with its value.
    let mut k0: Vec<_> = c0.metadata.keys().collect();
    let mut k1: Vec<_> = c1.metadata.keys().collect();
    k0.sort();
    k1.sort();
    assert_eq!(k0, k1);
    for k in k0 {
        assert_eq!(
            format!("{:?}", c0.metadata[k]),
            format!("{:?}", c1.metadata[k]),
            "{k}"
        );
    }
    assert!(
        matches!(&c1.metadata["general.architecture"], Value::String(s) if s == "controlvector")
    );
    // Every direction is g·v, by the definition.
    assert_eq!(t0.len(), 3);
    for ((n0, v), (n1, w)) in t0.iter().zip(&t1) {
        assert_eq!(n0, n1);
        let mut want = vec![0f32; D];
        for i in 0..D {
            want[g.perm()[i] as usize] = g.sign()[i] as f32 * v[i];
        }
        assert_eq!(w, &want, "{n0}");
    }
    // Back by the inverse: the input's values exactly.
    let back = dir.join("back.gguf");
    transport(&out, &g.inverse(), &back, false).unwrap();
    let (_, t2) = read(&back);
    assert_eq!(t0, t2);
    // An existing output is kept unless overwrite.
    let e = transport(&fixture(), &g, &out, false).unwrap_err();
    assert_eq!(e.code(), "OUTPUT_EXISTS");
    transport(&fixture(), &g, &out, true).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_is_not_a_control_vector_of_this_width_is_refused_with_the_reason() {
    let dir = scratch("bad");
    // Another width.
    let e = transport(
        &fixture(),
        &Gauge::identity(32).unwrap(),
        &dir.join("x.gguf"),
        false,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH");
    assert!(e.to_string().contains("direction.1"), "{e}");
    // Another architecture, and a tensor that is not a direction.
    let write = |path: &Path, arch: &str, name: &str| {
        let t = QTensor::quantize(
            &Tensor::zeros(D, DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap();
        let arch = Value::String(arch.into());
        let mut f = std::fs::File::create(path).unwrap();
        gguf_file::write(&mut f, &[("general.architecture", &arch)], &[(name, &t)]).unwrap();
    };
    let model = dir.join("model.gguf");
    write(&model, "llama", "direction.1");
    let e = transport(&model, &gauge(1), &dir.join("y.gguf"), false).unwrap_err();
    assert!(
        e.to_string()
            .contains("has general.architecture \"llama\", not \"controlvector\""),
        "{e}"
    );
    let extra = dir.join("extra.gguf");
    write(&extra, "controlvector", "token_embd.weight");
    let e = transport(&extra, &gauge(1), &dir.join("y.gguf"), false).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"token_embd.weight\": is not a direction.N"),
        "{e}"
    );
    // Not a GGUF at all.
    let junk = dir.join("junk.gguf");
    std::fs::write(&junk, b"not a gguf").unwrap();
    assert!(transport(&junk, &gauge(1), &dir.join("z.gguf"), false).is_err());
    assert!(!dir.join("x.gguf").exists() && !dir.join("z.gguf").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
