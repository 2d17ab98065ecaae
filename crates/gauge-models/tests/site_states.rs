//! The block-major passes of one model: `site_states` gives the same values as the batch-by-batch `hidden_states`
//! on the same sub-batches, bit for bit, for resident and streamed models and sequences of mixed lengths, and
//! within rounding of one-sequence passes; `last_logits` gives `forward_steered`'s last-position logits, steered or
//! not; bad input is `INVALID_ARGUMENT` naming the argument, and a `false` from the progress callback aborts.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::Device;
use gauge_models::site_states::{last_logits, site_states};
use gauge_models::{Model, Site, Steer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn probe(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = gauge_core::rng::SplitMix64::new(seed);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

fn flat(m: &Model, rows: &[Vec<u32>], site: Site) -> Vec<f32> {
    let h = m.hidden_states(rows, &[site]).unwrap();
    h[0].1.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn equals_the_batch_by_batch_pass_on_mixed_lengths() {
    // Lengths 5, 5, 5, 7, 3, 3 with batch 2 form the sub-batches [5, 5], [5], [7], [3, 3].
    let lengths = [5, 5, 5, 7, 3, 3];
    let groups: [&[usize]; 4] = [&[0, 1], &[2], &[3], &[4, 5]];
    for name in ["tiny", "tiny-gemma3", "tiny-gpt2"] {
        for streamed in [false, true] {
            let m = if streamed {
                Model::load_streamed(&fixture(name), &Device::Cpu).unwrap()
            } else {
                Model::load(&fixture(name), &Device::Cpu).unwrap()
            };
            let seqs: Vec<Vec<u32>> = lengths
                .iter()
                .enumerate()
                .map(|(k, &n)| probe(n, m.vocab_size(), k as u64))
                .collect();
            let layers = m.num_layers();
            for site in [
                Site::Residual(0),
                Site::Residual(1),
                Site::Residual(layers),
                Site::FinalNorm,
            ] {
                let mut calls = 0;
                let got = site_states(&m, &seqs, &[site], 2, |done, total| {
                    calls += 1;
                    assert!(done <= total);
                    true
                })
                .unwrap()
                .remove(0);
                let want: Vec<f32> = groups
                    .iter()
                    .flat_map(|g| {
                        let rows: Vec<Vec<u32>> = g.iter().map(|&k| seqs[k].clone()).collect();
                        flat(&m, &rows, site)
                    })
                    .collect();
                assert_eq!(got, want, "{name} (streamed: {streamed}) at {site}");
                let needed = match site {
                    Site::Residual(l) => l,
                    Site::FinalNorm => layers,
                };
                assert_eq!(
                    calls,
                    needed + 1,
                    "{name} at {site}: progress after the embedding and each block"
                );
                // One sequence at a time: the same values up to the rounding of another batch shape.
                let single: Vec<f32> = seqs
                    .iter()
                    .flat_map(|s| flat(&m, std::slice::from_ref(s), site))
                    .collect();
                let worst = got
                    .iter()
                    .zip(&single)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-4, "{name} at {site}: {worst}");
            }
        }
    }
}

#[test]
fn many_sites_in_one_pass_are_each_site_alone() {
    let m = Model::load_streamed(&fixture("tiny"), &Device::Cpu).unwrap();
    let seqs: Vec<Vec<u32>> = (0..5).map(|k| probe(8, m.vocab_size(), 30 + k)).collect();
    let sites = [
        Site::FinalNorm,
        Site::Residual(1),
        Site::Residual(0),
        Site::Residual(1),
    ];
    let all = site_states(&m, &seqs, &sites, 3, |_, _| true).unwrap();
    assert_eq!(all.len(), sites.len());
    for (site, got) in sites.iter().zip(&all) {
        let alone = site_states(&m, &seqs, &[*site], 3, |_, _| true)
            .unwrap()
            .remove(0);
        assert_eq!(got, &alone, "{site}");
    }
}

#[test]
fn bad_input_names_the_argument_and_false_aborts() {
    let m = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let ok = vec![probe(4, m.vocab_size(), 1)];
    let err = |seqs: &[Vec<u32>], site: Site, batch: usize| {
        site_states(&m, seqs, &[site], batch, |_, _| true).unwrap_err()
    };
    for (e, what) in [
        (err(&[], Site::Residual(1), 1), "sequences"),
        (err(&[vec![]], Site::Residual(1), 1), "sequences"),
        (err(&ok, Site::Residual(1), 0), "batch"),
        (err(&ok, Site::Residual(99), 1), "sites"),
        (err(&[vec![u32::MAX]], Site::Residual(1), 1), "ids"),
    ] {
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
        assert!(e.to_string().contains(what), "{e} should name {what}");
    }
    let e = site_states(&m, &ok, &[], 1, |_, _| true).unwrap_err();
    assert!(e.to_string().contains("sites"), "{e}");
    let e = site_states(&m, &ok, &[Site::Residual(2)], 1, |done, _| done < 2).unwrap_err();
    assert_eq!(e.code(), "ABORTED");
}

#[test]
fn last_logits_are_the_forward_pass_last_position_steered_or_not() {
    let lengths = [6, 6, 4, 9];
    for name in ["tiny", "tiny-gemma3"] {
        for streamed in [false, true] {
            let m = if streamed {
                Model::load_streamed(&fixture(name), &Device::Cpu).unwrap()
            } else {
                Model::load(&fixture(name), &Device::Cpu).unwrap()
            };
            let (d, vocab) = (m.hidden_size(), m.vocab_size());
            let seqs: Vec<Vec<u32>> = lengths
                .iter()
                .enumerate()
                .map(|(k, &n)| probe(n, vocab, 10 + k as u64))
                .collect();
            let vector: Vec<f32> = (0..d).map(|j| ((j * 7 % 5) as f32 - 2.0) * 0.3).collect();
            for steer in [
                None,
                Some(Steer {
                    site: Site::Residual(1),
                    vector: vector.clone(),
                    scale: 2.0,
                }),
                Some(Steer {
                    site: Site::FinalNorm,
                    vector: vector.clone(),
                    scale: -1.0,
                }),
            ] {
                let got = last_logits(&m, &seqs, 2, steer.as_ref(), |_, _| true).unwrap();
                assert_eq!(got.len(), seqs.len() * vocab);
                for (k, s) in seqs.iter().enumerate() {
                    let out = m
                        .forward_ids_steered(std::slice::from_ref(s), &[], steer.as_ref())
                        .unwrap();
                    let all = out.logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let want = &all[(s.len() - 1) * vocab..];
                    let worst = got[k * vocab..(k + 1) * vocab]
                        .iter()
                        .zip(want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(
                        worst < 1e-4,
                        "{name} (streamed: {streamed}) sequence {k}, steer {:?}: {worst}",
                        steer.as_ref().map(|s| s.site)
                    );
                }
            }
            let bad = Steer {
                site: Site::Residual(1),
                vector: vec![1.0; d + 1],
                scale: 1.0,
            };
            let e = last_logits(&m, &seqs, 2, Some(&bad), |_, _| true).unwrap_err();
            assert!(e.to_string().contains("steer.vector"), "{e}");
        }
    }
}
