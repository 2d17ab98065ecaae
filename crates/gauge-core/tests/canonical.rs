//! The canonical chart: for generic gains, `c(h·θ) ∘ h = c(θ)` for random gauges `h` of the model's group (every
//! re-charted copy lands in one chart); equal gains are reported and ordered by the embedding; a model whose gains
//! are all constant (gauge group O(d)) has no canonical chart.

use std::collections::HashMap;
use std::path::PathBuf;

use gauge_core::canonical::canonical_gauge;
use gauge_core::checkpoint::Dtype;
use gauge_core::family::Role;
use gauge_core::init::{write_random, ModelShape};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::{Gauge, Group, RandomOptions};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gt-canonical-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn every_recharted_copy_has_the_same_canonical_chart() {
    for (preset, group) in [
        ("tiny", Group::Bd),
        ("tiny-qwen2", Group::Bd),
        ("tiny-gpt2", Group::PmSd),
    ] {
        let dir = tmp(preset);
        let model = dir.join("model");
        write_random(&ModelShape::preset(preset).unwrap(), &model, 5, Dtype::F32).unwrap();
        let c = canonical_gauge(&model, 1e-9).unwrap();
        assert_eq!((c.gain_ties, c.ties), (0, 0), "{preset}");
        assert_eq!(c.weak_signs, 0, "{preset}");
        for seed in 0..4 {
            let h = Gauge::random(
                64,
                &RandomOptions {
                    seed,
                    positive_fraction: 0.5,
                    group,
                },
            )
            .unwrap();
            let moved = dir.join(format!("moved-{seed}"));
            apply(&model, &h, &moved, ApplyOptions::default()).unwrap();
            let c2 = canonical_gauge(&moved, 1e-9).unwrap();
            assert_eq!(
                c2.gauge.compose(&h).unwrap(),
                c.gauge,
                "{preset} seed {seed}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn equal_gains_are_ordered_by_the_embedding_and_reported() {
    let dir = tmp("ties");
    let model = dir.join("model");
    write_random(&ModelShape::preset("tiny").unwrap(), &model, 5, Dtype::F32).unwrap();
    let flat = dir.join("flat");
    gauge_core::rewrite::rewrite(&model, &flat, HashMap::new(), |t, v| {
        // Half the coordinates get gain 1 in every norm: tied means, told apart by the embedding only.
        Ok((t.role == Role::Gain).then(|| {
            v.iter()
                .enumerate()
                .map(|(i, &x)| if i < 32 { 1.0 } else { x })
                .collect()
        }))
    })
    .unwrap();
    let c = canonical_gauge(&flat, 1e-9).unwrap();
    assert_eq!(c.gain_ties, 31);
    assert_eq!(c.min_gain_gap, 0.0);
    // The embedding norms still separate the coordinates: the chart is the same for every re-charted copy.
    assert_eq!(c.ties, 0);
    let h = Gauge::random(
        64,
        &RandomOptions {
            seed: 9,
            positive_fraction: 0.5,
            group: Group::Bd,
        },
    )
    .unwrap();
    apply(&flat, &h, &dir.join("flat-moved"), ApplyOptions::default()).unwrap();
    let c2 = canonical_gauge(&dir.join("flat-moved"), 1e-9).unwrap();
    assert_eq!(c2.gauge.compose(&h).unwrap(), c.gauge);

    let constant = dir.join("constant");
    gauge_core::rewrite::rewrite(&model, &constant, HashMap::new(), |t, v| {
        Ok((t.role == Role::Gain).then(|| vec![1.0; v.len()]))
    })
    .unwrap();
    let e = canonical_gauge(&constant, 1e-9).unwrap_err().to_string();
    assert!(
        e.contains("O(d)") && e.contains("no canonical chart"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
