//! Known answers: the candle forward passes against Hugging Face transformers.
//!
//! The references in `tests/fixtures/<name>/reference.safetensors` come from
//! `scripts/fixtures/forward_transformers.py` (transformers 5.23, torch 2.15, float32, CPU, eager attention; the
//! versions are in each file's metadata), run on the checkpoints beside them, which `gauge-transport init` wrote.
//! Regenerate both with `python3 scripts/fixtures/forward_transformers.py`.
//!
//! Site mapping (GAUGE.md §3): transformers' `hidden_states[i]` is `h_i` for `i < L` and the final norm's output for
//! `i = L` (the script asserts this against the model's own modules); `last_block_output` is `h_L`, captured
//! there with a forward hook on the last block.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gauge_models::candle_core::{Device, Tensor};
use gauge_models::{Model, Site};

/// Max abs difference allowed on logits and on every hidden state.
const TOL: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The tensors of a reference file: name to (shape, values as f32; ids widened from i64).
struct Reference {
    tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Reference {
    fn open(dir: &Path) -> Self {
        let bytes = std::fs::read(dir.join("reference.safetensors")).expect("reference file");
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f64> = match view.dtype() {
                safetensors::Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Self { tensors }
    }

    fn get(&self, name: &str) -> &(Vec<usize>, Vec<f64>) {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("reference lacks {name}"))
    }

    fn ids(&self) -> Vec<Vec<u32>> {
        let (shape, values) = self.get("input_ids");
        values
            .chunks(shape[1])
            .map(|row| row.iter().map(|&i| i as u32).collect())
            .collect()
    }
}

fn max_abs_diff(what: &str, got: &Tensor, want: &(Vec<usize>, Vec<f64>)) -> f32 {
    assert_eq!(got.dims(), want.0.as_slice(), "{what}: shape");
    let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    got.iter()
        .zip(&want.1)
        .map(|(&g, &w)| (g as f64 - w).abs() as f32)
        .fold(0.0, f32::max)
}

/// Runs fixture `dir` and returns `(what, max abs difference)` for the logits and every site.
fn compare(dir: &Path, reference: &Reference) -> Vec<(String, f32)> {
    let model = Model::load(dir, &Device::Cpu).expect("fixture loads");
    let layers = model.num_layers();
    let hf = Site::hf_hidden_states(layers);
    let mut sites = hf.clone();
    sites.push(Site::Residual(layers));
    // Encoders without a language-model head (BERT) have hidden states only.
    let (hidden, mut diffs) = if reference.tensors.contains_key("logits") {
        let out = model
            .forward_ids(&reference.ids(), &sites)
            .expect("forward");
        let d = max_abs_diff("logits", &out.logits, reference.get("logits"));
        (out.hidden, vec![("logits".to_string(), d)])
    } else {
        let hidden = model
            .hidden_states(&reference.ids(), &sites)
            .expect("forward");
        (hidden, vec![])
    };
    let find = |s: Site| &hidden.iter().find(|(x, _)| *x == s).unwrap().1;
    for (i, site) in hf.iter().enumerate() {
        let name = format!("hidden_states.{i}");
        let got = find(*site);
        diffs.push((
            format!("{site} ({name})"),
            max_abs_diff(&name, got, reference.get(&name)),
        ));
    }
    let got = find(Site::Residual(layers));
    diffs.push((
        format!("h_{layers} (last_block_output)"),
        max_abs_diff("last_block_output", got, reference.get("last_block_output")),
    ));
    diffs
}

fn assert_matches_transformers(name: &str) {
    let dir = fixture(name);
    let reference = Reference::open(&dir);
    let diffs = compare(&dir, &reference);
    for (what, d) in &diffs {
        println!("{name} {what}: max abs diff {d:.3e}");
    }
    let bad: Vec<_> = diffs
        .iter()
        .filter(|(_, d)| d.is_nan() || *d > TOL)
        .collect();
    assert!(bad.is_empty(), "{name}: beyond {TOL:e}: {bad:?}");
}

#[test]
fn llama_gqa_untied_matches_transformers() {
    assert_matches_transformers("tiny");
}

#[test]
fn qwen2_gqa_tied_qkv_bias_matches_transformers() {
    assert_matches_transformers("tiny-qwen2");
}

#[test]
fn gpt2_tied_matches_transformers() {
    assert_matches_transformers("tiny-gpt2");
}

// The fixtures below come from `scripts/fixtures/families_transformers.py`: models built by transformers'
// own classes from a config, with seeded generic weights (see its docstring for what each one exercises and how
// far each plausible slip moves the logits).

#[test]
fn llama3_rope_scaling_and_head_dim_override_match_transformers() {
    assert_matches_transformers("tiny-llama3");
}

#[test]
fn llama_linear_rope_scaling_matches_transformers() {
    assert_matches_transformers("tiny-llama-linear");
}

#[test]
fn mistral_sliding_window_shorter_than_the_sequence_matches_transformers() {
    assert_matches_transformers("tiny-mistral");
}

#[test]
fn qwen3_qk_norm_matches_transformers() {
    assert_matches_transformers("tiny-qwen3");
}

#[test]
fn gemma2_matches_transformers() {
    assert_matches_transformers("tiny-gemma2");
}

#[test]
fn gemma3_matches_transformers() {
    assert_matches_transformers("tiny-gemma3");
}

#[test]
fn phi3_fused_projections_match_transformers() {
    assert_matches_transformers("tiny-phi3");
}

#[test]
fn olmo2_matches_transformers() {
    assert_matches_transformers("tiny-olmo2");
}

#[test]
fn gpt_neox_parallel_residual_partial_rotary_matches_transformers() {
    assert_matches_transformers("tiny-gpt-neox");
}

#[test]
fn bert_matches_transformers() {
    assert_matches_transformers("tiny-bert");
}

/// The window matters: without it the Mistral fixture computes another function, and the comparison sees it.
#[test]
fn a_missing_sliding_window_is_detected() {
    let d = logits_diff_with_config("tiny-mistral", "sliding_window", serde_json::Value::Null);
    assert!(d > 100.0 * TOL, "no window: logits moved by only {d:e}");
}

/// Llama 3's frequency scaling matters: with the default rotary embedding the logits move.
#[test]
fn a_missing_llama3_rope_scaling_is_detected() {
    let d = logits_diff_with_config("tiny-llama3", "rope_scaling", serde_json::Value::Null);
    assert!(
        d > 100.0 * TOL,
        "no llama3 scaling: logits moved by only {d:e}"
    );
}

/// Unknown rotary scalings are refused by name, never approximated.
#[test]
fn an_unknown_rope_scaling_is_refused_by_name() {
    let dir = with_config(
        "tiny-llama3",
        "rope_scaling",
        serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
    );
    let e = Model::load(&dir, &Device::Cpu).err().expect("refused");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.to_string().contains("\"yarn\""), "{e}");
}

/// BERT has no output head: logits are refused with a reason, hidden states are not.
#[test]
fn bert_logits_are_refused() {
    let model = Model::load(&fixture("tiny-bert"), &Device::Cpu).unwrap();
    let e = model.forward_ids(&[vec![1, 2, 3]], &[]).unwrap_err();
    assert!(e.to_string().contains("BertModel"), "{e}");
}

/// A copy of fixture `name` whose `config.json` sets `key` to `value` (same weights), in a fresh temporary directory.
fn with_config(name: &str, key: &str, value: serde_json::Value) -> PathBuf {
    let src = fixture(name);
    let dir =
        std::env::temp_dir().join(format!("gauge-models-{name}-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    assert_ne!(config[key], value, "{name}: {key} already is {value}");
    config[key] = value;
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

/// The largest logit difference against `name`'s reference when its config sets `key` to `value`.
fn logits_diff_with_config(name: &str, key: &str, value: serde_json::Value) -> f32 {
    let dir = with_config(name, key, value);
    let diffs = compare(&dir, &Reference::open(&fixture(name)));
    std::fs::remove_dir_all(&dir).unwrap();
    diffs[0].1
}

/// The comparison can fail: the Qwen2 fixture's config names a RoPE base of 1e6; with the default 1e4 the same
/// weights compute a different function, and the comparison must see it.
#[test]
fn a_wrong_rope_base_is_detected() {
    let d = logits_diff_with_config("tiny-qwen2", "rope_theta", 10_000.0.into());
    assert!(
        d > 100.0 * TOL,
        "RoPE base 1e4 instead of 1e6: logits moved by only {d:e}"
    );
}

/// The GPT-2 fixture's activations are large enough to tell exact gelu from the tanh approximation (`gelu_new`).
#[test]
fn exact_gelu_instead_of_gelu_new_is_detected() {
    let d = logits_diff_with_config("tiny-gpt2", "activation_function", "gelu".into());
    assert!(
        d > 2.0 * TOL,
        "exact gelu instead of gelu_new: logits moved by only {d:e}"
    );
}

/// A key a family needs, missing from its config, is an error naming the file and the key.
#[test]
fn a_missing_config_key_is_named() {
    for (name, key) in [
        ("tiny-gemma3", "intermediate_size"),
        ("tiny-phi3", "num_attention_heads"),
        ("tiny-bert", "max_position_embeddings"),
    ] {
        let dir = with_config(name, key, serde_json::Value::Null);
        let e = Model::load(&dir, &Device::Cpu).err().expect("refused");
        std::fs::remove_dir_all(&dir).unwrap();
        let text = e.to_string();
        assert!(
            text.contains("config.json") && text.contains(key),
            "{name}: {text}"
        );
    }
}

/// Phi-3's `longrope` is not implemented: refused by name rather than run as the default rotary embedding.
#[test]
fn phi3_longrope_is_refused_by_name() {
    let scaling =
        serde_json::json!({"type": "longrope", "short_factor": [1.0], "long_factor": [1.0]});
    let dir = with_config("tiny-phi3", "rope_scaling", scaling);
    let e = Model::load(&dir, &Device::Cpu).err().expect("refused");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.code(), "MODEL_UNSUPPORTED");
    assert!(e.to_string().contains("\"longrope\""), "{e}");
}
