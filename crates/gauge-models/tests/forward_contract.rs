//! The contract of `Model::forward` beyond numerical agreement: site order, batching, causality, input
//! validation and refusing what is not implemented. Uses the committed fixtures of `transformers_reference.rs`.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::{Device, Tensor};
use gauge_models::{Model, Site};

const FIXTURES: [&str; 3] = ["tiny", "tiny-qwen2", "tiny-gpt2"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> Model {
    Model::load(&fixture(name), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

const IDS: [[u32; 5]; 2] = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]];

fn ids() -> Vec<Vec<u32>> {
    IDS.iter().map(|r| r.to_vec()).collect()
}

#[test]
fn sites_come_back_in_the_order_asked_with_shapes() {
    for name in FIXTURES {
        let m = load(name);
        let sites = [Site::FinalNorm, Site::Residual(2), Site::Residual(0)];
        let out = m.forward_ids(&ids(), &sites).unwrap();
        assert_eq!(out.logits.dims(), &[2, 5, m.vocab_size()]);
        let got: Vec<Site> = out.hidden.iter().map(|(s, _)| *s).collect();
        assert_eq!(got, sites);
        for (_, t) in &out.hidden {
            assert_eq!(t.dims(), &[2, 5, m.hidden_size()]);
        }
        assert!(m.forward_ids(&ids(), &[]).unwrap().hidden.is_empty());
    }
}

#[test]
fn a_batch_equals_its_rows_run_alone() {
    for name in FIXTURES {
        let m = load(name);
        let sites = Site::all(m.num_layers());
        let both = m.forward_ids(&ids(), &sites).unwrap();
        for (row, r) in IDS.iter().enumerate() {
            let alone = m.forward_ids(&[r.to_vec()], &sites).unwrap();
            let pairs = std::iter::once((&both.logits, &alone.logits)).chain(
                both.hidden
                    .iter()
                    .zip(&alone.hidden)
                    .map(|((_, a), (_, b))| (a, b)),
            );
            for (a, b) in pairs {
                let a = values(&a.get(row).unwrap());
                let b = values(b);
                let d = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max);
                assert!(d <= 1e-5, "{name} row {row}: batched differs by {d:e}");
            }
        }
    }
}

/// Changing the last token changes nothing at earlier positions (the mask is causal) but does change the last.
#[test]
fn attention_is_causal() {
    for name in FIXTURES {
        let m = load(name);
        let a = m.forward_ids(&[IDS[0].to_vec()], &[]).unwrap().logits;
        let mut changed = IDS[0].to_vec();
        changed[4] = 7;
        let b = m.forward_ids(&[changed], &[]).unwrap().logits;
        let early = |t: &Tensor| values(&t.narrow(1, 0, 4).unwrap());
        assert_eq!(early(&a), early(&b), "{name}: earlier positions moved");
        let last = |t: &Tensor| values(&t.narrow(1, 4, 1).unwrap());
        assert_ne!(
            last(&a),
            last(&b),
            "{name}: the changed position did not move"
        );
    }
}

#[test]
fn i64_ids_give_the_same_logits_as_u32() {
    let m = load("tiny");
    let flat: Vec<u32> = IDS.concat();
    let u = Tensor::from_vec(flat.clone(), (2, 5), &Device::Cpu).unwrap();
    let i = Tensor::from_vec(
        flat.iter().map(|&x| x as i64).collect::<Vec<_>>(),
        (2, 5),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(
        values(&m.forward(&u, &[]).unwrap().logits),
        values(&m.forward(&i, &[]).unwrap().logits)
    );
}

#[test]
fn bad_inputs_are_rejected_with_a_reason() {
    let m = load("tiny");
    let e = m.forward_ids(&[vec![1, 256]], &[]).err().unwrap();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("256"), "{e}");
    let e = m.forward_ids(&[vec![1, 2], vec![3]], &[]).err().unwrap();
    assert!(e.to_string().contains("equal length"), "{e}");
    let e = m.forward_ids(&[], &[]).err().unwrap();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = m.forward_ids(&ids(), &[Site::Residual(3)]).err().unwrap();
    assert!(e.to_string().contains("h_3"), "{e}");
    let neg = Tensor::from_vec(vec![-1i64, 2], (1, 2), &Device::Cpu).unwrap();
    assert_eq!(
        m.forward(&neg, &[]).err().unwrap().code(),
        "INVALID_ARGUMENT"
    );

    let gpt2 = load("tiny-gpt2");
    let e = gpt2.forward_ids(&[vec![1; 129]], &[]).err().unwrap();
    assert!(e.to_string().contains("n_positions"), "{e}");
}

/// A copy of fixture `name` with `edit` applied to its `config.json`, in a fresh temporary directory.
fn with_config(name: &str, tag: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let src = fixture(name);
    let dir =
        std::env::temp_dir().join(format!("gauge-models-{name}-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

#[test]
fn unimplemented_features_are_refused_not_approximated() {
    let cases = [
        (
            "tiny",
            "rope_scaling",
            serde_json::json!({"rope_type": "llama3", "factor": 8.0}),
            "rope_scaling",
        ),
        ("tiny", "hidden_act", "gelu".into(), "hidden_act"),
        (
            "tiny-gpt2",
            "activation_function",
            "quick_gelu".into(),
            "quick_gelu",
        ),
        (
            "tiny",
            "num_key_value_heads",
            3.into(),
            "num_key_value_heads",
        ),
    ];
    for (name, key, value, expect) in cases {
        let dir = with_config(name, key, |c| c[key] = value);
        let e = Model::load(&dir, &Device::Cpu).err().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.to_string().contains(expect), "{name}/{key}: {e}");
    }
}

/// Transformers 5 writes the RoPE base under `rope_parameters`; it must be read from there too.
#[test]
fn rope_parameters_of_transformers_5_are_read() {
    let m = load("tiny-qwen2");
    let want = values(&m.forward_ids(&ids(), &[]).unwrap().logits);
    let dir = with_config("tiny-qwen2", "rope-params", |c| {
        let theta = c["rope_theta"].take();
        c.as_object_mut().unwrap().remove("rope_theta");
        c["rope_parameters"] = serde_json::json!({"rope_type": "default", "rope_theta": theta});
    });
    let got = values(
        &Model::load(&dir, &Device::Cpu)
            .unwrap()
            .forward_ids(&ids(), &[])
            .unwrap()
            .logits,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(got, want);
}

/// A sliding window (Mistral) changes nothing while the sequence fits in it, and changes the later positions
/// once it does not (checked against transformers in `transformers_reference.rs`).
#[test]
fn sliding_windows_act_only_beyond_their_length() {
    let plain = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let dir = with_config("tiny", "window", |c| {
        c["model_type"] = "mistral".into();
        c["architectures"] = serde_json::json!(["MistralForCausalLM"]);
        c["sliding_window"] = 4.into();
    });
    let m = Model::load(&dir, &Device::Cpu).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let run = |m: &Model, n: usize| {
        values(
            &m.forward_ids(&[(1..=n as u32).collect()], &[])
                .unwrap()
                .logits,
        )
    };
    assert_eq!(run(&m, 4), run(&plain, 4));
    let (w, p) = (run(&m, 6), run(&plain, 6));
    let v = m.vocab_size();
    assert_eq!(w[..4 * v], p[..4 * v], "positions inside the window");
    assert_ne!(w[4 * v..], p[4 * v..], "positions past the window");
}
