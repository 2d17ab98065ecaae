//! Paired statistics (GAUGE.md §5) on the tiny fixtures: a model against its re-charted copy gives a correlation
//! matrix from which the marginalized matching recovers the gauge exactly; the head-free pass records the same
//! hidden states as the full forward pass; mismatched models are refused.

use std::path::{Path, PathBuf};

use gauge_core::assignment::Solver;
use gauge_core::matching::{match_gauge, Method};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::stats::CrossMoments;
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::Device;
use gauge_models::pair_stats::{accumulate, accumulate_on, Batching, MomentsOn};
use gauge_models::{Model, Site};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn probe(n: usize, vocab: usize) -> Vec<u32> {
    let mut rng = gauge_core::rng::SplitMix64::new(5);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

#[test]
fn hidden_states_equal_the_full_forward_pass() {
    let m = Model::load(&fixture("tiny-qwen2"), &Device::Cpu).unwrap();
    let ids = vec![probe(9, m.vocab_size()), probe(9, m.vocab_size())];
    let sites = [Site::Residual(1), Site::Residual(0)];
    let full = m.forward_ids(&ids, &sites).unwrap();
    let part = m.hidden_states(&ids, &sites).unwrap();
    for ((s, a), (t, b)) in full.hidden.iter().zip(&part) {
        assert_eq!(s, t);
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }
}

#[test]
fn statistics_of_a_recharted_copy_recover_its_gauge() {
    for (name, group) in [("tiny", Group::Bd), ("tiny-gpt2", Group::PmSd)] {
        let out = std::env::temp_dir().join(format!("gt-pair-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let a = Model::load(&fixture(name), &Device::Cpu).unwrap();
        let d = a.hidden_size();
        let g = Gauge::random(
            d,
            &RandomOptions {
                seed: 3,
                positive_fraction: 0.5,
                group,
            },
        )
        .unwrap();
        apply(&fixture(name), &g, &out, ApplyOptions::default()).unwrap();
        let b = Model::load(&out, &Device::Cpu).unwrap();
        let sites = Site::all(a.num_layers());
        let mut moments: Vec<_> = sites.iter().map(|_| CrossMoments::new(d, d)).collect();
        let mut calls = 0;
        accumulate(
            (&a, &b),
            ("A", "B"),
            &probe(16 * 32, a.vocab_size()),
            &sites,
            Batching { seq: 32, batch: 4 },
            &mut moments,
            |p| {
                calls += 1;
                assert_eq!((p.done, p.total, p.tokens), (calls, 4, calls * 128));
                assert!(p.forward_seconds > 0.0 && p.stats_seconds > 0.0);
                true
            },
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
        assert_eq!(acc.signed_accuracy, 1.0, "{name}: {acc:?}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn mismatched_models_and_probes_are_refused() {
    let a = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let b = Model::load(&fixture("tiny-gpt2"), &Device::Cpu).unwrap();
    let sites = [Site::Residual(1)];
    let mut m = vec![CrossMoments::new(a.hidden_size(), a.hidden_size())];
    let batching = Batching { seq: 4, batch: 2 };
    let e = accumulate(
        (&a, &b),
        ("A", "B"),
        &[1; 8],
        &sites,
        batching,
        &mut m,
        |_| true,
    )
    .unwrap_err();
    assert!(e.to_string().contains("architecture"), "{e}");
    let e = accumulate((&a, &a), ("A", "A"), &[], &sites, batching, &mut m, |_| {
        true
    })
    .unwrap_err();
    assert!(e.to_string().contains("probe: is empty"), "{e}");
    let e = accumulate(
        (&a, &a),
        ("A", "A"),
        &[1; 7],
        &sites,
        batching,
        &mut m,
        |_| true,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("not a whole number of sequences of 4"),
        "{e}"
    );
    let e = accumulate(
        (&a, &a),
        ("A", "A"),
        &[u32::MAX; 8],
        &sites,
        batching,
        &mut m,
        |_| true,
    )
    .unwrap_err();
    assert!(e.to_string().contains("outside the vocabulary"), "{e}");
    let e = accumulate(
        (&a, &a),
        ("A", "A"),
        &[1; 8],
        &sites,
        batching,
        &mut m,
        |_| false,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ABORTED");
}

/// A copy of `tiny` whose layer-1 MLP writes 1e38-sized values: finite weights that overflow the residual
/// stream from `h_2` on.
fn overflowing_copy(dir: &Path) -> PathBuf {
    let src = fixture("tiny");
    let out = dir.join("overflow");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(src.join("config.json"), out.join("config.json")).unwrap();
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        let mut data = view.data().to_vec();
        if name == "model.layers.1.mlp.down_proj.weight" {
            for chunk in data.chunks_exact_mut(4) {
                chunk.copy_from_slice(&1e38f32.to_le_bytes());
            }
        }
        owned.push((name, view.shape().to_vec(), data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, s, d)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d);
            (n.clone(), v.unwrap())
        })
        .collect();
    safetensors::serialize_to_file(views, None, &out.join("model.safetensors")).unwrap();
    out
}

/// Runs `pass` on the tiny fixture (as `A`) against its overflowing copy (as `B`, loaded streamed when `streamed`)
/// at `h_1` and `h_2` on 16 probe tokens, checks that the error names B, `h_2`, the token and the coordinate, and
/// returns the moments as the error left them.
fn stops_on_overflow(
    name: &str,
    streamed: bool,
    pass: impl FnOnce(
        (&Model, &Model),
        &[u32],
        &[Site],
        Batching,
        &mut [CrossMoments],
    ) -> gauge_models::Result<()>,
) -> Vec<CrossMoments> {
    let tmp = std::env::temp_dir().join(format!("gt-overflow-{name}-{}", std::process::id()));
    let path = overflowing_copy(&tmp);
    let a = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let b = if streamed {
        Model::load_streamed(&path, &Device::Cpu).unwrap()
    } else {
        Model::load(&path, &Device::Cpu).unwrap()
    };
    let sites = [Site::Residual(1), Site::Residual(2)];
    let mut m: Vec<_> = sites.iter().map(|_| CrossMoments::new(64, 64)).collect();
    let ids = probe(16, a.vocab_size());
    let e = pass(
        (&a, &b),
        &ids,
        &sites,
        Batching { seq: 8, batch: 2 },
        &mut m,
    )
    .unwrap_err();
    std::fs::remove_dir_all(&tmp).unwrap();
    let msg = e.to_string();
    assert!(msg.contains("activations of B at h_2"), "{msg}");
    assert!(msg.contains("probe token 0 coordinate"), "{msg}");
    assert!(msg.contains("stopping"), "{msg}");
    m
}

#[test]
fn non_finite_activations_stop_with_the_model_site_token_and_coordinate() {
    let m = stops_on_overflow("whole", false, |models, ids, sites, batching, m| {
        accumulate(models, ("A", "B"), ids, sites, batching, m, |_| true)
    });
    // h_1 is still finite, yet nothing was accumulated: every site is checked before any is updated.
    assert_eq!(m[0].count(), 0);
}

/// The accelerator path (block products and sums formed by candle ops where the activations are, folded on the
/// host) computes the statistics the host GEMM path computes; on the CPU both can run, so its arithmetic is tested
/// here without an accelerator. 6144 tokens: the first 2048 fix the shifts on the host, the rest take the path.
#[test]
fn device_moments_equal_host_moments() {
    let out = std::env::temp_dir().join(format!("gt-device-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let g = Gauge::random(
        64,
        &RandomOptions {
            seed: 9,
            positive_fraction: 0.5,
            group: Group::Bd,
        },
    )
    .unwrap();
    apply(&fixture("tiny"), &g, &out, ApplyOptions::default()).unwrap();
    let a = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let b = Model::load(&out, &Device::Cpu).unwrap();
    let sites = Site::all(a.num_layers());
    let ids = probe(6144, a.vocab_size());
    let run = |on| {
        let mut m: Vec<_> = sites.iter().map(|_| CrossMoments::new(64, 64)).collect();
        let batching = Batching { seq: 64, batch: 8 };
        accumulate_on(
            (&a, &b),
            ("A", "B"),
            &ids,
            &sites,
            batching,
            &mut m,
            on,
            |_| true,
        )
        .unwrap();
        m
    };
    let (host, device) = (run(MomentsOn::Host), run(MomentsOn::Device));
    std::fs::remove_dir_all(&out).unwrap();
    for (h, dv) in host.iter().zip(&device) {
        assert_eq!(h.count(), 6144);
        assert_eq!(dv.count(), 6144);
        let (hc, dc) = (h.correlation().unwrap(), dv.correlation().unwrap());
        let worst = hc
            .iter()
            .zip(&dc)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "correlations differ by {worst}");
        let (hm, dm) = (h.means(), dv.means());
        for (x, y) in hm.0.iter().zip(&dm.0) {
            assert!((x - y).abs() < 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
        }
    }
    let c = device[1].correlation().unwrap();
    // The statistics still carry the gauge: the matched entries are the strongest of their rows.
    let strongest = (0..64)
        .filter(|&i| {
            let j = g.perm()[i] as usize;
            (0..64).all(|k| c[i * 64 + k].abs() <= c[i * 64 + j].abs())
        })
        .count();
    assert!(strongest >= 60, "{strongest} of 64 rows peak at the gauge");
}

/// On the accelerator path a non-finite activation is named as on the host path, and nothing is accumulated.
#[test]
fn device_moments_stop_on_non_finite_activations() {
    let tmp = std::env::temp_dir().join(format!("gt-overflow-dev-{}", std::process::id()));
    let path = overflowing_copy(&tmp);
    let a = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let b = Model::load(&path, &Device::Cpu).unwrap();
    let sites = [Site::Residual(1), Site::Residual(2)];
    let mut m: Vec<_> = sites.iter().map(|_| CrossMoments::new(64, 64)).collect();
    let batching = Batching { seq: 64, batch: 8 };
    // Fix the shifts with clean activations (A against itself), then feed the overflowing B.
    let ids = probe(2048, a.vocab_size());
    accumulate_on(
        (&a, &a),
        ("A", "A"),
        &ids,
        &sites,
        batching,
        &mut m,
        MomentsOn::Device,
        |_| true,
    )
    .unwrap();
    assert!(m.iter().all(CrossMoments::shifts_fixed));
    let e = accumulate_on(
        (&a, &b),
        ("A", "B"),
        &ids[..512],
        &sites,
        batching,
        &mut m,
        MomentsOn::Device,
        |_| true,
    )
    .unwrap_err();
    std::fs::remove_dir_all(&tmp).unwrap();
    let msg = e.to_string();
    assert!(msg.contains("activations of B at h_2"), "{msg}");
    assert!(msg.contains("stopping"), "{msg}");
    assert_eq!(m[0].count(), 2048);
    assert_eq!(m[1].count(), 2048);
}

/// The streamed pass (the one `align` and `stats` run with a memory budget) names a non-finite activation as the
/// whole-model pass does; it finds it while updating the moments, so no scan reads the activations first.
#[test]
fn streamed_pass_names_non_finite_activations() {
    stops_on_overflow("streamed", true, |models, ids, sites, batching, m| {
        let names = ("A", "B");
        gauge_models::streamed_stats::accumulate_streamed(
            models,
            names,
            ids,
            sites,
            batching,
            m,
            u64::MAX,
            |_| true,
        )
        .map(|_| ())
    });
}
