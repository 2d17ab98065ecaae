//! `weight_cross_moments` on random checkpoints written here: a re-charted copy, perturbed a little, is matched back
//! to the true gauge from weights alone; checkpoints that cannot be paired are refused with errors naming both.

use std::path::{Path, PathBuf};

use gauge_core::assignment::Solver;
use gauge_core::checkpoint::Dtype;
use gauge_core::init::{write_random, ModelShape};
use gauge_core::matching::{match_gauge, Method};
use gauge_core::perturb::perturb;
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::weight_moments::{weight_cross_moments, WeightOptions};
use gauge_core::{Agreement, Gauge, Group, RandomOptions};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!("gt-wmom-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn preset(name: &str) -> ModelShape {
    ModelShape::preset(name).unwrap()
}

fn estimate(a: &Path, b: &Path, opts: WeightOptions) -> (Gauge, Vec<f32>) {
    let m = weight_cross_moments(a, b, opts).unwrap();
    let d = (m.correlation().unwrap().len() as f64).sqrt() as usize;
    let c = m.correlation().unwrap();
    let g = match_gauge(&c, d, Method::Marginalized, Solver::Jv, None)
        .unwrap()
        .gauge;
    (g, c)
}

/// Writes `preset`, re-charts it by a random gauge of `group` (forced where the model's group is smaller), perturbs
/// the result by `scale` (none for 0) and returns the agreement of the weight estimate with the true gauge.
fn recover(
    preset_name: &str,
    group: Group,
    scale: f64,
    seed: u64,
    opts: WeightOptions,
) -> Agreement {
    let dir = Dir::new(preset_name);
    let shape = preset(preset_name);
    let (a, b, noisy) = (dir.path("a"), dir.path("b"), dir.path("b-noisy"));
    write_random(&shape, &a, seed, Dtype::F32).unwrap();
    let truth = Gauge::random(
        shape.hidden,
        &RandomOptions {
            seed: seed + 100,
            positive_fraction: 0.5,
            group,
        },
    )
    .unwrap();
    let force = !group.is_subgroup_of(shape.arch.group());
    apply(&a, &truth, &b, ApplyOptions { force }).unwrap();
    let b = if scale > 0.0 {
        perturb(&b, &noisy, scale, seed + 200).unwrap();
        noisy
    } else {
        b
    };
    let (g, c) = estimate(&a, &b, opts);
    if scale == 0.0 {
        // Unperturbed, every matched pair is an exact copy up to sign.
        let d = shape.hidden;
        for i in 0..d {
            let want = truth.sign()[i] as f32;
            let got = c[i * d + truth.perm()[i] as usize];
            assert!(
                (got - want).abs() < 1e-4,
                "{preset_name}: C[{i}, perm] = {got}"
            );
        }
    }
    g.agreement(&truth).unwrap()
}

const CASES: &[(&str, Group)] = &[
    ("tiny", Group::Bd),
    ("tiny-qwen2", Group::Bd),
    ("tiny-gpt2", Group::PmSd),
    // Outside GPT-2's symmetry group (written with force), but the weights still move by it exactly.
    ("tiny-gpt2", Group::Bd),
];

#[test]
fn exact_rechart_is_recovered_exactly() {
    for &(name, group) in CASES {
        for opts in [
            WeightOptions::default(),
            WeightOptions {
                standardize_per_tensor: false,
            },
        ] {
            let acc = recover(name, group, 0.0, 1, opts);
            assert_eq!(acc.signed_accuracy, 1.0, "{name} {group:?} {opts:?}");
        }
    }
}

#[test]
fn small_perturbation_is_recovered_exactly_and_larger_ones_are_reported() {
    for &(name, group) in CASES {
        let acc = recover(name, group, 0.01, 2, WeightOptions::default());
        assert_eq!(
            acc.signed_accuracy, 1.0,
            "{name} {group:?} at scale 0.01: {acc:?}"
        );
        for scale in [0.3, 1.0, 3.0, 10.0] {
            let acc = recover(name, group, scale, 3, WeightOptions::default());
            eprintln!(
                "{name} ({}) at scale {scale}: perm accuracy {:.4}, signed accuracy {:.4}",
                group.as_str(),
                acc.perm_accuracy,
                acc.signed_accuracy
            );
            if scale == 0.3 {
                assert!(acc.signed_accuracy >= 0.95, "{name} at 0.3: {acc:?}");
            }
        }
    }
}

#[test]
fn a_bf16_checkpoint_is_read_and_recovered() {
    let dir = Dir::new("bf16");
    let (a, b) = (dir.path("a"), dir.path("b"));
    let shape = preset("tiny");
    write_random(&shape, &a, 7, Dtype::BF16).unwrap();
    let truth = Gauge::random(64, &RandomOptions::default()).unwrap();
    apply(&a, &truth, &b, ApplyOptions::default()).unwrap();
    let (g, _) = estimate(&a, &b, WeightOptions::default());
    assert_eq!(g, truth);
}

#[test]
fn moments_count_one_sample_per_residual_slice() {
    let dir = Dir::new("count");
    let a = dir.path("a");
    let shape = preset("tiny-gpt2");
    write_random(&shape, &a, 3, Dtype::F32).unwrap();
    let m = weight_cross_moments(&a, &a, WeightOptions::default()).unwrap();
    let (d, ff, v, p, l) = (
        shape.hidden,
        shape.intermediate,
        shape.vocab,
        shape.max_positions,
        shape.layers,
    );
    // wte, wpe; per block ln_1/ln_2 biases, c_attn [d, 3d], attn c_proj [d, d] + bias, c_fc [d, ff],
    // mlp c_proj [ff, d] + bias; ln_f bias.
    let per_block = 2 + 3 * d + d + 1 + ff + ff + 1;
    assert_eq!(m.count(), (v + p + l * per_block + 1) as u64);
    let c = m.correlation().unwrap();
    for i in 0..d {
        assert!(
            (c[i * d + i] - 1.0).abs() < 1e-5,
            "C[{i}, {i}] = {}",
            c[i * d + i]
        );
    }
}

#[test]
fn different_hidden_sizes_are_a_shape_mismatch_naming_both() {
    let dir = Dir::new("hidden");
    let (a, b) = (dir.path("a"), dir.path("b"));
    write_random(&preset("tiny"), &a, 1, Dtype::F32).unwrap();
    let narrow = ModelShape {
        hidden: 32,
        ..preset("tiny")
    };
    write_random(&narrow, &b, 1, Dtype::F32).unwrap();
    let e = weight_cross_moments(&a, &b, WeightOptions::default()).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH", "{e}");
    let msg = e.to_string();
    for needle in [a.to_str().unwrap(), b.to_str().unwrap(), "64", "32"] {
        assert!(msg.contains(needle), "{msg} lacks {needle}");
    }
}

#[test]
fn different_architectures_are_refused_naming_both() {
    let dir = Dir::new("arch");
    let (a, b) = (dir.path("a"), dir.path("b"));
    write_random(&preset("tiny"), &a, 1, Dtype::F32).unwrap();
    write_random(&preset("tiny-gpt2"), &b, 1, Dtype::F32).unwrap();
    let e = weight_cross_moments(&a, &b, WeightOptions::default()).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    let msg = e.to_string();
    for needle in [a.to_str().unwrap(), b.to_str().unwrap(), "llama", "gpt2"] {
        assert!(msg.contains(needle), "{msg} lacks {needle}");
    }
}

#[test]
fn different_tensors_or_shapes_are_refused_naming_the_tensor() {
    let dir = Dir::new("tensors");
    let (a, tied, wide, layers) = (
        dir.path("a"),
        dir.path("tied"),
        dir.path("wide"),
        dir.path("layers"),
    );
    write_random(&preset("tiny"), &a, 1, Dtype::F32).unwrap();
    // Same architecture and d, but the head is tied: lm_head.weight is missing from one side.
    let tied_shape = ModelShape {
        tied: true,
        ..preset("tiny")
    };
    write_random(&tied_shape, &tied, 1, Dtype::F32).unwrap();
    for (x, y) in [(&a, &tied), (&tied, &a)] {
        let e = weight_cross_moments(x, y, WeightOptions::default()).unwrap_err();
        assert_eq!(e.code(), "CHECKPOINT_MISMATCH", "{e}");
        let msg = e.to_string();
        assert!(msg.contains("lm_head.weight"), "{msg}");
        assert!(
            msg.contains(tied.to_str().unwrap()) && msg.contains(a.to_str().unwrap()),
            "{msg}"
        );
    }
    // A wider MLP: same names, different shapes.
    let wide_shape = ModelShape {
        intermediate: 96,
        ..preset("tiny")
    };
    write_random(&wide_shape, &wide, 1, Dtype::F32).unwrap();
    let e = weight_cross_moments(&a, &wide, WeightOptions::default()).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH", "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("mlp") && msg.contains("128") && msg.contains("96"),
        "{msg}"
    );
    // More blocks: tensors of a block the other lacks.
    let deep = ModelShape {
        layers: 3,
        ..preset("tiny")
    };
    write_random(&deep, &layers, 1, Dtype::F32).unwrap();
    let e = weight_cross_moments(&a, &layers, WeightOptions::default()).unwrap_err();
    assert_eq!(e.code(), "CHECKPOINT_MISMATCH", "{e}");
    assert!(e.to_string().contains("layers.2."), "{e}");
}

#[test]
fn a_missing_checkpoint_is_an_error() {
    let dir = Dir::new("missing");
    let a = dir.path("a");
    write_random(&preset("tiny"), &a, 1, Dtype::F32).unwrap();
    let e = weight_cross_moments(&a, &dir.path("nope"), WeightOptions::default()).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
}
