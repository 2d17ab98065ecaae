//! Perplexity of token ids and a greedy continuation, for sanity checks of real checkpoints:
//! `cargo run --release -p gauge-models --example perplexity -- MODEL_DIR_OR_GGUF IDS_JSON`, where `IDS_JSON` holds
//! `{"text": [ids...], "prompt": [ids...]}` (tokenized by the model's own tokenizer). A `.gguf` path is
//! converted to a Hugging Face directory beside it first.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::Device;
use gauge_models::Model;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model_path, ids_path) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let dir = if model_path.extension().is_some_and(|e| e == "gguf") {
        let out = model_path.with_extension("hf");
        if !out.exists() {
            gauge_models::gguf::convert(&model_path, &out).expect("convert GGUF");
        }
        out
    } else {
        model_path
    };
    let ids: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ids_path).expect("ids file")).expect("JSON");
    let to_ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let model = Model::load(Path::new(&dir), &Device::Cpu).expect("model loads");
    let text = to_ids(&ids["text"]);
    let t = std::time::Instant::now();
    let ppl = model.perplexity(&text).expect("forward");
    println!(
        "perplexity {ppl:.2} over {} tokens ({:.2} s)",
        text.len() - 1,
        t.elapsed().as_secs_f64()
    );
    let mut prompt = to_ids(&ids["prompt"]);
    for _ in 0..12 {
        prompt.push(model.greedy_next(&prompt).expect("forward"));
    }
    println!("greedy ids {prompt:?}");
}
