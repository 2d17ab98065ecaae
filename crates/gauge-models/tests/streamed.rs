//! Block-streamed models and statistics: a model whose blocks are loaded only when a pass reaches them computes the
//! same function as the resident one, and the paired statistics streamed block by block under a memory budget
//! (cut into several chunks) equal the batch-by-batch ones within float rounding. A budget too small for one block
//! is an error naming the bytes needed; a `false` from the progress callback aborts.

use std::path::{Path, PathBuf};

use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::stats::CrossMoments;
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::Device;
use gauge_models::pair_stats::{accumulate, Batching};
use gauge_models::streamed_stats::{accumulate_streamed, plan};
use gauge_models::{Model, Site};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn probe(n: usize, vocab: usize) -> Vec<u32> {
    let mut rng = gauge_core::rng::SplitMix64::new(17);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

/// A re-charted copy of fixture `name` under a random gauge of `group`, in a fresh directory.
fn recharted(name: &str, group: Group) -> PathBuf {
    let out = std::env::temp_dir().join(format!("gt-streamed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let d = Model::load(&fixture(name), &Device::Cpu)
        .unwrap()
        .hidden_size();
    let g = Gauge::random(
        d,
        &RandomOptions {
            seed: 5,
            positive_fraction: 0.5,
            group,
        },
    )
    .unwrap();
    apply(&fixture(name), &g, &out, ApplyOptions::default()).unwrap();
    out
}

#[test]
fn a_streamed_model_computes_the_same_function() {
    for name in ["tiny", "tiny-gemma3", "tiny-gpt-neox", "tiny-gpt2"] {
        let whole = Model::load(&fixture(name), &Device::Cpu).unwrap();
        let streamed = Model::load_streamed(&fixture(name), &Device::Cpu).unwrap();
        assert!(streamed.is_streamed() && !whole.is_streamed());
        let ids = vec![probe(7, whole.vocab_size()); 2];
        let sites = Site::all(whole.num_layers());
        let (x, y) = (
            whole.forward_ids(&ids, &sites).unwrap(),
            streamed.forward_ids(&ids, &sites).unwrap(),
        );
        let same = |a: &gauge_models::candle_core::Tensor,
                    b: &gauge_models::candle_core::Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                == 0.0
        };
        assert!(same(&x.logits, &y.logits), "{name}: logits");
        for ((s, a), (_, b)) in x.hidden.iter().zip(&y.hidden) {
            assert!(same(a, b), "{name}: {s}");
        }
    }
}

#[test]
fn streamed_statistics_equal_the_batched_ones() {
    for (name, group) in [
        ("tiny", Group::Bd),
        ("tiny-gemma3", Group::Bd),
        ("tiny-bert", Group::PmSd),
    ] {
        let b_dir = recharted(name, group);
        let (a, b) = (
            Model::load(&fixture(name), &Device::Cpu).unwrap(),
            Model::load(&b_dir, &Device::Cpu).unwrap(),
        );
        let (sa, sb) = (
            Model::load_streamed(&fixture(name), &Device::Cpu).unwrap(),
            Model::load_streamed(&b_dir, &Device::Cpu).unwrap(),
        );
        let d = a.hidden_size();
        let sites = Site::all(a.num_layers());
        let ids = probe(8 * 40, a.vocab_size());
        let batching = Batching { seq: 8, batch: 4 };
        let fresh =
            || -> Vec<CrossMoments> { sites.iter().map(|_| CrossMoments::new(d, d)).collect() };
        let mut whole = fresh();
        accumulate(
            (&a, &b),
            ("A", "B"),
            &ids,
            &sites,
            batching,
            &mut whole,
            |_| true,
        )
        .unwrap();
        // A budget that fits about a third of the probe: three chunks, each through every block once.
        let all = plan((&sa, &sb), 40, batching, u64::MAX).unwrap();
        let budget = all.min_bytes + (all.peak_bytes - all.min_bytes) / 3;
        let mut streamed = fresh();
        let mut calls = 0;
        let p = accumulate_streamed(
            (&sa, &sb),
            ("A", "B"),
            &ids,
            &sites,
            batching,
            &mut streamed,
            budget,
            |_| {
                calls += 1;
                true
            },
        )
        .unwrap();
        assert_eq!(p.chunks, 3, "{name}: {p:?}");
        assert_eq!(calls, 3 * a.num_layers(), "{name}");
        assert!(p.peak_bytes <= budget);
        for ((s, x), y) in sites.iter().zip(&whole).zip(&streamed) {
            assert_eq!(x.count(), y.count(), "{name} {s}");
            let (cx, cy) = (x.correlation().unwrap(), y.correlation().unwrap());
            let gap = cx
                .iter()
                .zip(&cy)
                .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(gap < 1e-5, "{name} {s}: correlations differ by {gap}");
        }
        std::fs::remove_dir_all(&b_dir).unwrap();
    }
}

#[test]
fn a_budget_below_one_block_is_refused_naming_the_bytes_and_an_abort_stops() {
    let a = Model::load_streamed(&fixture("tiny"), &Device::Cpu).unwrap();
    let sites = [Site::Residual(2)];
    let batching = Batching { seq: 8, batch: 2 };
    let need = plan((&a, &a), 4, batching, u64::MAX).unwrap().min_bytes;
    let mut m = vec![CrossMoments::new(64, 64)];
    let ids = probe(32, 256);
    let e = accumulate_streamed(
        (&a, &a),
        ("A", "B"),
        &ids,
        &sites,
        batching,
        &mut m,
        need - 1,
        |_| true,
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains(&format!("at least {need}")), "{e}");
    let e = accumulate_streamed(
        (&a, &a),
        ("A", "B"),
        &ids,
        &sites,
        batching,
        &mut m,
        need,
        |_| false,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ABORTED");
}
