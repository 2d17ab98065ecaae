//! SAEs and steering: an SAE fitted to sparse synthetic data reconstructs it and survives a save/load round trip
//! in the SAELens layout; malformed SAE directories are refused naming the file and tensor; steering by `v` on a
//! model equals steering by `g·v` on its re-charted copy (GAUGE.md §4), for Llama and GPT-2 (with a `±Sd` gauge).

use std::path::{Path, PathBuf};

use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::rng::SplitMix64;
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::Device;
use gauge_models::sae::{self, Sae, SaeTrainOptions};
use gauge_models::{Model, Site, Steer};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gt-sae-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// `n` rows of width `d`, each a sum of 3 of `k` fixed random directions with positive random weights.
fn sparse_data(n: usize, d: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut dirs = vec![0f32; k * d];
    rng.fill_normal(&mut dirs);
    let mut x = vec![0f32; n * d];
    for row in x.chunks_exact_mut(d) {
        for _ in 0..3 {
            let f = rng.below(k as u64) as usize;
            let w = 0.5 + rng.next_f32();
            for (o, &v) in row.iter_mut().zip(&dirs[f * d..(f + 1) * d]) {
                *o += w * v;
            }
        }
    }
    x
}

#[test]
fn an_sae_fits_sparse_data_and_round_trips_through_the_saelens_layout() {
    let d = 16;
    let x = sparse_data(4096, d, 24, 1);
    let opts = SaeTrainOptions {
        d_sae: 48,
        l1: 3e-3,
        lr: 3e-3,
        steps: 1500,
        batch: 256,
        seed: 2,
    };
    let (model, report) = sae::train(&x, d, &opts, &Device::Cpu).unwrap();
    assert!(
        report.losses.last().unwrap() < &(report.losses[0] / 5.0),
        "{:?}",
        &report.losses[..3]
    );
    let m = model.evaluate(&x, &Device::Cpu).unwrap();
    assert!(m.nmse < 0.05, "{m:?}");
    assert!(m.l0 < 24.0, "{m:?}");

    let dir = tmp("round-trip");
    let out = dir.join("sae");
    model
        .save(&out, "blocks.0.hook_resid_post", &Default::default(), false)
        .unwrap();
    let back = Sae::load(&out, &Device::Cpu).unwrap();
    let m2 = back.evaluate(&x, &Device::Cpu).unwrap();
    assert!(
        (m2.nmse - m.nmse).abs() < 1e-9 && m2.l0 == m.l0,
        "{m:?} vs {m2:?}"
    );
    let e = model
        .save(&out, "h", &Default::default(), false)
        .unwrap_err();
    assert_eq!(e.code(), "OUTPUT_EXISTS");

    // A misshapen tensor, a foreign tensor, an unknown architecture: refused, naming the file and tensor.
    let cfg_path = out.join(sae::SAE_CONFIG);
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, cfg.replace("\"d_sae\": 48", "\"d_sae\": 40")).unwrap();
    let e = Sae::load(&out, &Device::Cpu).unwrap_err().to_string();
    assert!(
        e.contains("sae_weights.safetensors: tensor") && e.contains("d_sae 40"),
        "{e}"
    );
    std::fs::write(&cfg_path, cfg.replace("\"standard\"", "\"gated\"")).unwrap();
    let e = Sae::load(&out, &Device::Cpu).unwrap_err();
    assert_eq!(e.code(), "MODEL_UNSUPPORTED");
    assert!(e.to_string().contains("gated"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn steered_logits(dir: &Path, v: &[f32]) -> Vec<f32> {
    let model = Model::load(dir, &Device::Cpu).unwrap();
    let ids = vec![(0..9).map(|k| (k * 29 + 7) % 200).collect::<Vec<u32>>()];
    let steer = Steer {
        site: Site::Residual(1),
        vector: v.to_vec(),
        scale: 2.0,
    };
    model
        .forward_ids_steered(&ids, &[], Some(&steer))
        .unwrap()
        .logits
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn steering_commutes_with_the_gauge() {
    for (name, group) in [("tiny", Group::Bd), ("tiny-gpt2", Group::PmSd)] {
        let src = fixture(name);
        let d = Model::load(&src, &Device::Cpu).unwrap().hidden_size();
        let g = Gauge::random(
            d,
            &RandomOptions {
                seed: 4,
                positive_fraction: if group == Group::Bd { 0.5 } else { 0.0 },
                group,
            },
        )
        .unwrap();
        let dir = tmp(&format!("steer-{name}"));
        let moved = dir.join("moved");
        apply(&src, &g, &moved, ApplyOptions::default()).unwrap();
        let mut v = vec![0f32; d];
        SplitMix64::new(5).fill_normal(&mut v);
        let a = steered_logits(&src, &v);
        let b = steered_logits(&moved, &g.apply_vector(&v).unwrap());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{name}: {worst}");
        let unsteered = steered_logits(&src, &vec![0.0; d]);
        let moved_by = a
            .iter()
            .zip(&unsteered)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            moved_by > 1e-2,
            "{name}: steering changed the logits by only {moved_by}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_steering_vector_of_another_length_or_site_is_refused() {
    let model = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let ids = vec![vec![1u32, 2, 3]];
    let bad = |site, n| Steer {
        site,
        vector: vec![0.5; n],
        scale: 1.0,
    };
    let e = model
        .forward_ids_steered(&ids, &[], Some(&bad(Site::Residual(1), 256)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("length 256") && e.contains("d = 64"), "{e}");
    let e = model
        .forward_ids_steered(&ids, &[], Some(&bad(Site::Residual(9), 64)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("h_9 does not exist"), "{e}");
}
