//! Rotations of the residual stream (`gauge_core::rotation`): with constant RMSNorm gains a rotation is an exact
//! symmetry (logits unchanged, hidden states `R·h`), which proves the rotation is written correctly; with generic
//! gains (every fixture) it changes the function, which is the paper's point that `Bd`, not `O(d)`, is the gauge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gauge_core::checkpoint::{header_bytes, Checkpoint, Dtype, TensorInfo, SINGLE_FILE};
use gauge_core::family::Role;
use gauge_core::rotation::{random_orthogonal, rotate};
use gauge_models::candle_core::Device;
use gauge_models::{Model, Site};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gt-rotation-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Logits, every site's hidden state and d.
type Run = (Vec<f32>, Vec<(Site, Vec<f32>)>, usize);

fn forward(dir: &Path) -> Run {
    let model = Model::load(dir, &Device::Cpu).unwrap();
    let ids: Vec<Vec<u32>> = vec![(0..6).map(|k| (k * 29 + 7) % 200).collect()];
    let sites = Site::all(model.num_layers());
    let out = model.forward_ids(&ids, &sites).unwrap();
    let flat = |t: &gauge_models::candle_core::Tensor| t.flatten_all().unwrap().to_vec1().unwrap();
    let hidden = sites
        .iter()
        .map(|&s| (s, flat(out.hidden(s).unwrap())))
        .collect();
    (flat(&out.logits), hidden, model.hidden_size())
}

/// A copy of the F32 checkpoint `src` whose norm gains are all 1 (the `O(d)` case).
fn with_unit_gains(src: &Path, out: &Path) {
    let ckpt = Checkpoint::open(src).unwrap();
    let mut infos = Vec::new();
    let mut data = Vec::new();
    let mut offset = 0u64;
    for (_, t) in ckpt.tensors() {
        assert_eq!(t.dtype, Dtype::F32);
        let mut x = ckpt.read_f32(&t.name).unwrap();
        if ckpt.arch.role(&t.name).unwrap() == Role::Gain {
            x.iter_mut().for_each(|v| *v = 1.0);
        }
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        infos.push(TensorInfo {
            name: t.name.clone(),
            dtype: Dtype::F32,
            shape: t.shape.clone(),
            start: offset,
            end: offset + bytes.len() as u64,
        });
        offset += bytes.len() as u64;
        data.extend(bytes);
    }
    std::fs::create_dir_all(out).unwrap();
    std::fs::copy(src.join("config.json"), out.join("config.json")).unwrap();
    let mut file = header_bytes(&infos, &HashMap::new());
    file.extend(data);
    std::fs::write(out.join(SINGLE_FILE), file).unwrap();
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_rotation_is_exact_when_the_gains_are_constant() {
    for name in ["tiny", "tiny-qwen2"] {
        let base = scratch(&format!("{name}-unit"));
        let rotated = scratch(&format!("{name}-unit-rot"));
        with_unit_gains(&fixture(name), &base);
        let (logits, hidden, d) = forward(&base);
        let r = random_orthogonal(d, 11);
        rotate(&base, &r, &rotated).unwrap();
        let (logits2, hidden2, _) = forward(&rotated);
        let scale = logits.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = max_abs_diff(&logits, &logits2);
        assert!(
            diff < 1e-4 * scale.max(1.0),
            "{name}: logits moved by {diff}"
        );
        for ((site, h), (_, h2)) in hidden.iter().zip(&hidden2) {
            // h2 = R h for every token.
            for (tok, row) in h.chunks(d).enumerate() {
                for i in 0..d {
                    let want: f64 = (0..d).map(|k| r[i * d + k] * row[k] as f64).sum();
                    let got = h2[tok * d + i] as f64;
                    assert!(
                        (got - want).abs() < 1e-3 * (1.0 + want.abs()),
                        "{name} {site}: token {tok} coordinate {i}: {got} vs {want}"
                    );
                }
            }
        }
        std::fs::remove_dir_all(&base).unwrap();
        std::fs::remove_dir_all(&rotated).unwrap();
    }
}

#[test]
fn a_rotation_changes_the_function_of_every_fixture() {
    for name in ["tiny", "tiny-qwen2", "tiny-gpt2"] {
        let rotated = scratch(&format!("{name}-rot"));
        let (logits, _, d) = forward(&fixture(name));
        rotate(&fixture(name), &random_orthogonal(d, 3), &rotated).unwrap();
        let (logits2, _, _) = forward(&rotated);
        let diff = max_abs_diff(&logits, &logits2);
        assert!(
            diff > 1e-2,
            "{name}: a rotation left the logits within {diff}"
        );
        std::fs::remove_dir_all(&rotated).unwrap();
    }
}

#[test]
fn rotate_refuses_a_wrong_size_and_an_existing_output() {
    let out = scratch("refuse");
    let err = rotate(&fixture("tiny"), &[1.0; 4], &out).unwrap_err();
    assert_eq!(err.code(), "SHAPE_MISMATCH", "{err}");
    std::fs::create_dir_all(&out).unwrap();
    let d = Checkpoint::open(&fixture("tiny"))
        .unwrap()
        .hidden_size()
        .unwrap();
    let err = rotate(&fixture("tiny"), &random_orthogonal(d, 1), &out).unwrap_err();
    assert_eq!(err.code(), "OUTPUT_EXISTS", "{err}");
    std::fs::remove_dir_all(&out).unwrap();
}
