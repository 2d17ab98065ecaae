//! Every family's gauge, end to end on its fixture (the transformers-built ones of
//! `scripts/fixtures/families_transformers.py` and the `init` ones of `forward_transformers.py`):
//!
//! - `inspect` names the family and reports its group (`Bd` for RMSNorm families, `±Sd` for LayerNorm ones);
//! - re-charting by a random gauge of that group keeps the logits and moves every hidden state, `h' = g·h`;
//! - a per-coordinate sign flip (`Bd`, forced) on a LayerNorm family changes the function;
//! - paired statistics of the model and its re-charted copy, matched with sign marginalization, recover the
//!   hidden gauge exactly.
//!
//! `scripts/checks/recharting_transformers.py` checks the same re-charted copies in transformers itself.

use std::path::{Path, PathBuf};

use gauge_core::assignment::Solver;
use gauge_core::matching::{match_gauge, Method};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::stats::CrossMoments;
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::{Device, Tensor};
use gauge_models::pair_stats::{accumulate, Batching};
use gauge_models::{Model, Site};

/// `(fixture, family, group)`.
const FAMILIES: &[(&str, &str, &str)] = &[
    ("tiny", "llama", "Bd"),
    ("tiny-llama3", "llama", "Bd"),
    ("tiny-llama-linear", "llama", "Bd"),
    ("tiny-mistral", "mistral", "Bd"),
    ("tiny-qwen2", "qwen2", "Bd"),
    ("tiny-qwen3", "qwen3", "Bd"),
    ("tiny-gemma2", "gemma2", "Bd"),
    ("tiny-gemma3", "gemma3", "Bd"),
    ("tiny-phi3", "phi3", "Bd"),
    ("tiny-olmo2", "olmo2", "Bd"),
    ("tiny-gpt2", "gpt2", "±Sd"),
    ("tiny-gpt-neox", "gpt_neox", "±Sd"),
    ("tiny-bert", "bert", "±Sd"),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scratch(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gt-families-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn group(name: &str) -> Group {
    match name {
        "Bd" => Group::Bd,
        _ => Group::PmSd,
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn probe(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = gauge_core::rng::SplitMix64::new(seed);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

/// The largest `|b - g·a|` over `[.., d]` rows, relative to the largest `|a|`.
fn moved_gap(a: &Tensor, b: &Tensor, g: &Gauge) -> f32 {
    let (a, b) = (values(a), values(b));
    let d = g.dim();
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
    let mut worst = 0f32;
    for (ra, rb) in a.chunks(d).zip(b.chunks(d)) {
        let moved = g.apply_vector(ra).unwrap();
        for (x, y) in moved.iter().zip(rb) {
            worst = worst.max((x - y).abs());
        }
    }
    worst / scale
}

/// Runs `m` on `ids`, logits when it has a head.
fn run(m: &Model, ids: &[Vec<u32>], sites: &[Site]) -> (Option<Vec<f32>>, Vec<(Site, Tensor)>) {
    match m.forward_ids(ids, sites) {
        Ok(out) => (Some(values(&out.logits)), out.hidden),
        Err(_) => (None, m.hidden_states(ids, sites).unwrap()),
    }
}

#[test]
fn every_family_is_inspected_recharted_and_aligned_in_its_group() {
    for &(name, family, grp) in FAMILIES {
        let info = gauge_core::inspect::inspect(&fixture(name)).unwrap();
        assert_eq!(
            (info.architecture.as_str(), info.group),
            (family, grp),
            "{name}"
        );

        let a = Model::load(&fixture(name), &Device::Cpu).unwrap();
        let d = a.hidden_size();
        let g = Gauge::random(
            d,
            &RandomOptions {
                seed: 7,
                positive_fraction: 0.5,
                group: group(grp),
            },
        )
        .unwrap();
        let out = scratch(name);
        apply(&fixture(name), &g, &out, ApplyOptions::default()).unwrap();
        let b = Model::load(&out, &Device::Cpu).unwrap();
        let sites = Site::all(a.num_layers());
        let ids = vec![probe(7, a.vocab_size(), 1), probe(7, a.vocab_size(), 2)];
        let (la, ha) = run(&a, &ids, &sites);
        let (lb, hb) = run(&b, &ids, &sites);
        if let (Some(la), Some(lb)) = (&la, &lb) {
            let scale = la.iter().fold(0f32, |m, x| m.max(x.abs()));
            let gap = la
                .iter()
                .zip(lb)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                gap <= 1e-4 * scale,
                "{name}: logits moved by {gap} under a {grp} gauge"
            );
        }
        for ((s, x), (_, y)) in ha.iter().zip(&hb) {
            let gap = moved_gap(x, y, &g);
            assert!(gap <= 1e-4, "{name}: {s} is not g·h (relative gap {gap})");
        }

        let mut moments: Vec<_> = sites.iter().map(|_| CrossMoments::new(d, d)).collect();
        let tokens = probe(64 * 8, a.vocab_size(), 3);
        accumulate(
            (&a, &b),
            ("A", "B"),
            &tokens,
            &sites,
            Batching { seq: 8, batch: 8 },
            &mut moments,
            |_| true,
        )
        .unwrap();
        let mut pooled = vec![0f32; d * d];
        for m in &moments {
            for (p, c) in pooled.iter_mut().zip(m.correlation().unwrap()) {
                *p += c;
            }
        }
        let est = match_gauge(&pooled, d, Method::Marginalized, Solver::Jv, None).unwrap();
        let acc = est.gauge.agreement(&g).unwrap();
        println!(
            "{name}: {grp} gauge recovered, signed accuracy {}",
            acc.signed_accuracy
        );
        assert_eq!(acc.signed_accuracy, 1.0, "{name}: {acc:?}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// Flipping single coordinates is not a symmetry of a LayerNorm model: forced, it changes the function.
#[test]
fn sign_flips_break_layernorm_families() {
    for &(name, _, grp) in FAMILIES.iter().filter(|f| f.2 == "±Sd") {
        let a = Model::load(&fixture(name), &Device::Cpu).unwrap();
        let g = Gauge::random(
            a.hidden_size(),
            &RandomOptions {
                seed: 9,
                positive_fraction: 0.5,
                group: Group::Bd,
            },
        )
        .unwrap();
        let out = scratch(&format!("{name}-bd"));
        let e = apply(&fixture(name), &g, &out, ApplyOptions::default()).unwrap_err();
        assert!(e.to_string().contains("LayerNorm"), "{name} ({grp}): {e}");
        apply(&fixture(name), &g, &out, ApplyOptions { force: true }).unwrap();
        let b = Model::load(&out, &Device::Cpu).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        let sites = [Site::Residual(a.num_layers())];
        let ids = vec![probe(7, a.vocab_size(), 4)];
        let (_, ha) = run(&a, &ids, &sites);
        let (_, hb) = run(&b, &ids, &sites);
        let gap = moved_gap(&ha[0].1, &hb[0].1, &g);
        assert!(gap > 1e-2, "{name}: a Bd gauge left h_L = g·h (gap {gap})");
    }
}
