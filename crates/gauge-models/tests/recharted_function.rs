//! Proof of function for `apply` (GAUGE.md §2): for every fixture architecture, re-charting by a random gauge of
//! its group leaves the logits unchanged within 1e-4 and moves every hidden state to exactly `g·h`; a gauge outside
//! a LayerNorm model's group (written with `force`) changes the logits.

use std::path::{Path, PathBuf};

use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::Device;
use gauge_models::{Model, Site};

const TOL: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits and every site of a forward pass, flattened, with the model's d.
struct Run {
    logits: Vec<f32>,
    hidden: Vec<(Site, Vec<f32>)>,
    d: usize,
}

/// Forward on fixed ids.
fn run(dir: &Path) -> Run {
    let model = Model::load(dir, &Device::Cpu).expect("model loads");
    let ids: Vec<Vec<u32>> = vec![
        (0..7).map(|k| (k * 37 + 5) % 200).collect(),
        (0..7).map(|k| (k * 11 + 3) % 200).collect(),
    ];
    let sites = Site::all(model.num_layers());
    let out = model.forward_ids(&ids, &sites).expect("forward");
    let flat =
        |t: &gauge_models::candle_core::Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let hidden = sites
        .iter()
        .map(|&s| (s, flat(out.hidden(s).expect("site"))))
        .collect();
    Run {
        logits: flat(&out.logits),
        hidden,
        d: model.hidden_size(),
    }
}

fn check(name: &str, group: Group, expect_same: bool) {
    let dir = std::env::temp_dir().join(format!(
        "gt-recharted-{name}-{}-{}",
        group.as_str(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let Run { logits, hidden, d } = run(&fixture(name));
    let positive_fraction = if group == Group::Bd { 0.5 } else { 1.0 };
    let g = Gauge::random(
        d,
        &RandomOptions {
            seed: 21,
            positive_fraction,
            group,
        },
    )
    .unwrap();
    apply(
        &fixture(name),
        &g,
        &dir,
        ApplyOptions {
            force: !expect_same,
        },
    )
    .expect("apply");
    let Run {
        logits: logits2,
        hidden: hidden2,
        ..
    } = run(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let diff = max_abs_diff(&logits, &logits2);
    if !expect_same {
        assert!(
            diff > 1e-3,
            "{name}: a {} gauge should change the logits, max diff {diff}",
            group.as_str()
        );
        return;
    }
    assert!(
        diff <= TOL,
        "{name} under {}: logits moved by {diff}",
        group.as_str()
    );
    for ((site, h), (_, h2)) in hidden.iter().zip(&hidden2) {
        // Every site is [batch, seq, d] row-major: move the last axis.
        let moved = g.apply_axis(h, &[h.len() / d, d], 1, true).unwrap();
        let diff = max_abs_diff(&moved, h2);
        assert!(
            diff <= TOL,
            "{name} under {}: site {site:?} differs from g·h by {diff}",
            group.as_str()
        );
    }
}

#[test]
fn llama_is_invariant_under_signed_permutations() {
    check("tiny", Group::Bd, true);
    check("tiny-qwen2", Group::Bd, true);
}

#[test]
fn gpt2_is_invariant_under_pm_sd_and_not_under_bd() {
    check("tiny-gpt2", Group::PmSd, true);
    check("tiny-gpt2", Group::Bd, false);
}
