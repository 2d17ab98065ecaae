//! Merges across charts (GAUGE.md §4): merging a re-charted sibling under the inverse of its gauge is the plain
//! coordinate-wise average of the parents (or their task arithmetic against a base); `apply` moves the optimizer
//! state saved beside a checkpoint instead of copying it; mismatched checkpoints are refused naming both.

use std::path::PathBuf;

use gauge_core::checkpoint::{Checkpoint, Dtype};
use gauge_core::init::{write_random, ModelShape};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::transport::merge::{merge, MergeOptions};
use gauge_core::{Gauge, Group, RandomOptions};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gt-merge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn gauge(seed: u64, group: Group) -> Gauge {
    let positive_fraction = if group == Group::Bd { 0.5 } else { 1.0 };
    Gauge::random(
        64,
        &RandomOptions {
            seed,
            positive_fraction,
            group,
        },
    )
    .unwrap()
}

#[test]
fn merging_a_recharted_sibling_under_its_gauge_averages_the_parents() {
    let dir = tmp("average");
    let shape = ModelShape::preset("tiny").unwrap();
    let (a, b0, b) = (dir.join("a"), dir.join("b0"), dir.join("b"));
    write_random(&shape, &a, 1, Dtype::F32).unwrap();
    write_random(&shape, &b0, 2, Dtype::F32).unwrap();
    let g = gauge(3, Group::Bd);
    apply(&b0, &g, &b, ApplyOptions::default()).unwrap();

    let out = dir.join("merged");
    let opts = MergeOptions {
        weight: 0.25,
        base: None,
    };
    let r = merge(&a, &b, &g.inverse(), &out, &opts).unwrap();
    let (ca, cb, cm) = (
        Checkpoint::open(&a).unwrap(),
        Checkpoint::open(&b0).unwrap(),
        Checkpoint::open(&out).unwrap(),
    );
    assert_eq!(r.tensors, ca.tensors().count());
    // Every tensor of a Llama without biases reads or writes the residual stream.
    assert_eq!(r.moved, r.tensors);
    for (_, t) in ca.tensors() {
        let (x, y, m) = (
            ca.read_f32(&t.name).unwrap(),
            cb.read_f32(&t.name).unwrap(),
            cm.read_f32(&t.name).unwrap(),
        );
        for k in 0..x.len() {
            let want = 0.75 * x[k] + 0.25 * y[k];
            assert!(
                (m[k] - want).abs() <= 1e-6,
                "{} [{k}]: {} vs {want}",
                t.name,
                m[k]
            );
        }
    }

    // Task arithmetic against A itself as the base: θ_A + α (θ_B0 - θ_A).
    let ta = dir.join("task");
    let opts = MergeOptions {
        weight: 1.0,
        base: Some(a.clone()),
    };
    merge(&a, &b, &g.inverse(), &ta, &opts).unwrap();
    let ct = Checkpoint::open(&ta).unwrap();
    for (_, t) in cb.tensors() {
        let (y, m) = (cb.read_f32(&t.name).unwrap(), ct.read_f32(&t.name).unwrap());
        assert!(
            y.iter().zip(&m).all(|(p, q)| (p - q).abs() <= 1e-6),
            "{}",
            t.name
        );
    }

    // An existing output is kept.
    let e = merge(&a, &b, &g.inverse(), &out, &MergeOptions::default()).unwrap_err();
    assert_eq!(e.code(), "OUTPUT_EXISTS");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mismatched_checkpoints_and_gauges_are_refused() {
    let dir = tmp("refused");
    let (a, gpt2, wide) = (dir.join("a"), dir.join("gpt2"), dir.join("wide"));
    write_random(&ModelShape::preset("tiny").unwrap(), &a, 1, Dtype::F32).unwrap();
    write_random(
        &ModelShape::preset("tiny-gpt2").unwrap(),
        &gpt2,
        1,
        Dtype::F32,
    )
    .unwrap();
    let mut shape = ModelShape::preset("tiny").unwrap();
    shape.intermediate *= 2;
    write_random(&shape, &wide, 1, Dtype::F32).unwrap();
    let g = gauge(1, Group::Bd);
    let opts = MergeOptions {
        weight: 0.5,
        base: None,
    };
    let e = merge(&a, &gpt2, &g, &dir.join("x"), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("different architectures"), "{e}");
    let e = merge(&a, &wide, &g, &dir.join("x"), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mlp") && e.contains("shape"), "{e}");
    let e = merge(&gpt2, &gpt2, &g, &dir.join("x"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("group Bd") && e.contains("single sign flips"),
        "{e}"
    );
    let ok = merge(&gpt2, &gpt2, &gauge(2, Group::Sd), &dir.join("sd"), &opts);
    assert!(ok.is_ok(), "{ok:?}");
    assert!(!dir.join("x").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
