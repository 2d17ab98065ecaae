//! Tokenizers against transformers: `fixtures/tokenizer_reference.json` (written by
//! `scripts/fixtures/tokenizer_transformers.py`) holds the ids transformers gives a dozen varied strings with
//! SmolLM2's GGUF tokenizer and all-MiniLM-L6-v2's `tokenizer.json`, with and without special tokens, and their
//! decodes, and the same for a small SentencePiece vocabulary the script writes as a GGUF (its metadata is in
//! the fixture, so that test needs no model files); every list must be reproduced exactly. The SmolLM2 ids of `fixtures/smollm2_ids.json` must come back
//! from the texts of `scripts/checks/smollm2_ids.py`. Gemma 3 270M's GGUF tokenizer must give the ids and decodes
//! transformers gives the short strings of `fixtures/gemma3_ids.json` (written by `scripts/checks/gemma3_ids.py`),
//! and the ids of that script's paragraph and prompt; its space runs must be `▁`-spelled BPE pieces. The model
//! files are never committed (`python3 scripts/fetch_models.py` fetches them); without them these tests say so and
//! skip.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::quantized::gguf_file::{self, Value};
use gauge_models::{load_tokenizer, Tokenizer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models() -> PathBuf {
    root().join(".cache/models")
}

fn reference() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Checks `tok` against the reference cases of `name`.
fn check_against_reference(tok: &Tokenizer, name: &str) {
    let r = reference();
    let texts = r["texts"].as_array().unwrap();
    let t = &r["tokenizers"][name];
    assert_eq!(tok.vocab_size() as u64, t["vocab_size"].as_u64().unwrap());
    for (text, case) in texts.iter().zip(t["cases"].as_array().unwrap()) {
        let text = text.as_str().unwrap();
        let (plain, special) = (ids(&case["ids"]), ids(&case["ids_special"]));
        assert_eq!(tok.encode(text, false).unwrap(), plain, "{name}: {text:?}");
        assert_eq!(
            tok.encode(text, true).unwrap(),
            special,
            "{name} (special): {text:?}"
        );
        assert_eq!(
            tok.decode(&plain).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{name}: decode of {text:?}"
        );
        assert_eq!(
            tok.decode(&special).unwrap(),
            case["decoded_special"].as_str().unwrap(),
            "{name}: decode (special) of {text:?}"
        );
    }
}

/// Saves `tok`, reads it back, and checks the copy encodes every reference text the same.
fn check_save_round_trip(tok: &Tokenizer, tag: &str) {
    let dir = std::env::temp_dir().join(format!("gt-tok-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    tok.save(&path).unwrap();
    let back = Tokenizer::from_file(&path).unwrap();
    for text in reference()["texts"].as_array().unwrap() {
        let text = text.as_str().unwrap();
        assert_eq!(
            back.encode(text, true).unwrap(),
            tok.encode(text, true).unwrap(),
            "{tag}: {text:?}"
        );
    }
    // Saved atomically: nothing but the file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn smollm2() -> Option<PathBuf> {
    let p = models().join("smollm2-135m-gguf/SmolLM2-135M-Instruct.Q4_1.gguf");
    p.exists().then_some(p)
}

/// The string literals assigned to `name` in a Python script (`NAME = "..."` or `NAME = ("..." "...")`).
fn python_string(script: &str, name: &str) -> String {
    let start = script.find(&format!("\n{name} = ")).unwrap() + name.len() + 4;
    let rest = &script[start..];
    let end = if rest.starts_with('(') {
        rest.find("\n)").unwrap()
    } else {
        rest.find('\n').unwrap()
    };
    rest[..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .concat()
}

#[test]
fn smollm2_gguf_tokenizer_matches_transformers() {
    let Some(path) = smollm2() else {
        eprintln!("SKIPPED smollm2_gguf_tokenizer_matches_transformers: SmolLM2 GGUF not found; run `python3 scripts/fetch_models.py`");
        return;
    };
    let tok = Tokenizer::from_gguf_file(&path).unwrap();
    check_against_reference(&tok, "smollm2");
    check_save_round_trip(&tok, "smollm2");
    let via = load_tokenizer(&path).unwrap().unwrap();
    assert_eq!(
        via.encode("In 1984", true).unwrap(),
        tok.encode("In 1984", true).unwrap()
    );
}

#[test]
fn smollm2_fixture_ids_come_back_from_the_script_texts() {
    let Some(path) = smollm2() else {
        eprintln!("SKIPPED smollm2_fixture_ids_come_back_from_the_script_texts: SmolLM2 GGUF not found; run `python3 scripts/fetch_models.py`");
        return;
    };
    let script = std::fs::read_to_string(root().join("scripts/checks/smollm2_ids.py")).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_ids.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tok = Tokenizer::from_gguf_file(&path).unwrap();
    for (key, name) in [("text", "TEXT"), ("prompt", "PROMPT")] {
        let text = python_string(&script, name);
        assert!(text.len() > 10, "{name}: {text:?}");
        assert_eq!(
            tok.encode(&text, true).unwrap(),
            ids(&fixture[key]),
            "{name}"
        );
    }
}

fn gemma3() -> Option<PathBuf> {
    let p = models().join("gemma3-270m-gguf/gemma-3-270m-q4_k_m.gguf");
    p.exists().then_some(p)
}

#[test]
fn gemma3_gguf_tokenizer_matches_transformers() {
    let Some(path) = gemma3() else {
        eprintln!("SKIPPED gemma3_gguf_tokenizer_matches_transformers: Gemma 3 270M GGUF not found; run `python3 scripts/fetch_models.py`");
        return;
    };
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3_ids.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let reference = &fixture["tokenizer"];
    let tok = load_tokenizer(&path)
        .unwrap()
        .expect("the GGUF carries a tokenizer");
    assert_eq!(
        tok.vocab_size() as u64,
        reference["vocab_size"].as_u64().unwrap()
    );
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let (plain, special) = (ids(&case["ids"]), ids(&case["ids_special"]));
        assert_eq!(tok.encode(text, false).unwrap(), plain, "gemma3: {text:?}");
        assert_eq!(
            tok.encode(text, true).unwrap(),
            special,
            "gemma3 (special): {text:?}"
        );
        assert_eq!(
            tok.decode(&plain).unwrap(),
            case["decoded"].as_str().unwrap(),
            "gemma3: decode of {text:?}"
        );
        assert_eq!(
            tok.decode(&special).unwrap(),
            case["decoded_special"].as_str().unwrap(),
            "gemma3: decode (special) of {text:?}"
        );
    }
    // The space runs (ids 138..=167) are BPE pieces spelled with `▁`, as transformers re-spells them, not added
    // tokens matched whole in the raw text.
    for n in 2..=31 {
        let run = "▁".repeat(n);
        assert_eq!(tok.inner().token_to_id(&run), Some(136 + n as u32), "{run}");
        assert_eq!(tok.inner().token_to_id(&" ".repeat(n)), None, "{n} spaces");
    }
    // BOS and no EOS, as the fixture records.
    let bos = reference["bos_id"].as_u64().unwrap() as u32;
    assert!(reference["adds_bos"].as_bool().unwrap() && !reference["adds_eos"].as_bool().unwrap());
    let script = std::fs::read_to_string(root().join("scripts/checks/gemma3_ids.py")).unwrap();
    for (key, name) in [("text", "TEXT"), ("prompt", "PROMPT")] {
        let text = python_string(&script, name);
        assert!(text.len() > 10, "{name}: {text:?}");
        let want = ids(&fixture[key]);
        assert_eq!(want[0], bos, "{name}");
        assert_eq!(tok.encode(&text, true).unwrap(), want, "gemma3: {name}");
        assert_eq!(
            tok.decode(&want[1..]).unwrap(),
            text,
            "gemma3: decode of {name}"
        );
    }
}

#[test]
fn minilm_tokenizer_json_matches_transformers() {
    let dir = models().join("all-minilm-l6-v2");
    if !dir.join("tokenizer.json").exists() {
        eprintln!("SKIPPED minilm_tokenizer_json_matches_transformers: all-MiniLM-L6-v2 not found; run `python3 scripts/fetch_models.py`");
        return;
    }
    let tok = Tokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    check_against_reference(&tok, "all_minilm_l6_v2");
    check_save_round_trip(&tok, "minilm");
    let via = load_tokenizer(&dir).unwrap().unwrap();
    assert_eq!(via.source(), dir.join("tokenizer.json"));
}

#[test]
fn missing_and_broken_tokenizer_files_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("gt-tok-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("nope.json");
    let e = Tokenizer::from_file(&missing).unwrap_err();
    assert_eq!(e.code(), "IO");
    assert!(e.to_string().contains("nope.json"), "{e}");
    let junk = dir.join("tokenizer.json");
    std::fs::write(&junk, "{\"not\": \"a tokenizer\"}").unwrap();
    let e = Tokenizer::from_file(&junk).unwrap_err();
    assert!(e.to_string().contains("tokenizer.json"), "{e}");
    // A directory with a broken tokenizer.json is an error; one without any has no tokenizer.
    assert!(load_tokenizer(&dir).is_err());
    std::fs::remove_file(&junk).unwrap();
    assert!(load_tokenizer(&dir).unwrap().is_none());
    let e = load_tokenizer(&dir.join("absent")).unwrap_err();
    assert_eq!(e.code(), "IO");
    assert!(e.to_string().contains("absent"), "{e}");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let e = load_tokenizer(&text).unwrap_err();
    assert!(
        e.to_string().contains("notes.txt") && e.to_string().contains("GGUF"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sentencepiece_gguf_tokenizer_matches_transformers() {
    let r = reference();
    let m = &r["tokenizers"]["sentencepiece"]["gguf_metadata"];
    let list = |k: &str| m[k].as_array().unwrap().clone();
    let tokens = Value::Array(
        list("tokens")
            .iter()
            .map(|t| Value::String(t.as_str().unwrap().into()))
            .collect(),
    );
    let scores = Value::Array(
        list("scores")
            .iter()
            .map(|x| Value::F32(x.as_f64().unwrap() as f32))
            .collect(),
    );
    let types = Value::Array(
        list("token_type")
            .iter()
            .map(|x| Value::I32(x.as_i64().unwrap() as i32))
            .collect(),
    );
    let id = |k: &str| Value::U32(m[k].as_u64().unwrap() as u32);
    let md = [
        ("general.architecture", Value::String("llama".into())),
        ("tokenizer.ggml.model", Value::String("llama".into())),
        ("tokenizer.ggml.tokens", tokens),
        ("tokenizer.ggml.scores", scores),
        ("tokenizer.ggml.token_type", types),
        ("tokenizer.ggml.bos_token_id", id("bos")),
        ("tokenizer.ggml.eos_token_id", id("eos")),
        ("tokenizer.ggml.unknown_token_id", id("unk")),
    ];
    let dir = std::env::temp_dir().join(format!("gt-tok-sp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sp.gguf");
    let refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &refs, &[]).unwrap();
    let tok = Tokenizer::from_gguf_file(&path).unwrap();
    check_against_reference(&tok, "sentencepiece");
    check_save_round_trip(&tok, "sentencepiece");
    std::fs::remove_dir_all(&dir).unwrap();
}
