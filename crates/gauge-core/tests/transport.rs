//! Transport of tools (GAUGE.md §4): SAEs, steering vectors and AdamW state move by their rules, exactly; a
//! transported SAE reconstructs `g·x` as `g·x̂`; moving back by `g⁻¹` restores the bytes; bad input is refused
//! naming the file, tensor or argument.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gauge_core::checkpoint::{Checkpoint, Dtype};
use gauge_core::init::{write_random, ModelShape};
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::rng::SplitMix64;
use gauge_core::transport::optimizer::transport_optimizer;
use gauge_core::transport::sae::{transport_sae, SaeOptions};
use gauge_core::transport::steering::transport_steering_file;
use gauge_core::{Gauge, Group, RandomOptions};
use safetensors::tensor::TensorView;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gt-transport-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn gauge(d: usize, seed: u64) -> Gauge {
    Gauge::random(
        d,
        &RandomOptions {
            seed,
            positive_fraction: 0.5,
            group: Group::Bd,
        },
    )
    .unwrap()
}

fn randn(n: usize, rng: &mut SplitMix64) -> Vec<f32> {
    (0..n)
        .map(|_| rng.below(2001) as f32 / 1000.0 - 1.0)
        .collect()
}

fn write_f32(
    path: &Path,
    tensors: &[(&str, Vec<usize>, Vec<f32>)],
    metadata: Option<HashMap<String, String>>,
) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.to_string(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

fn read_f32(path: &Path) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, t)| {
            let v = t
                .data()
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (n, (t.shape().to_vec(), v))
        })
        .collect()
}

/// A standard SAE of `d_in = 8`, `d_sae = 5` on `hook`.
fn sae_dir(dir: &Path, hook: &str, d_in: usize, extra: Option<&str>) -> HashMap<String, Vec<f32>> {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = SplitMix64::new(4);
    let (d, f) = (8, 5);
    let t = vec![
        ("W_enc", vec![d, f], randn(d * f, &mut rng)),
        ("b_enc", vec![f], randn(f, &mut rng)),
        ("W_dec", vec![f, d], randn(f * d, &mut rng)),
        ("b_dec", vec![d], randn(d, &mut rng)),
        ("threshold", vec![f], randn(f, &mut rng)),
    ];
    let mut all = t.clone();
    if let Some(name) = extra {
        all.push((name, vec![f], randn(f, &mut rng)));
    }
    write_f32(&dir.join("sae_weights.safetensors"), &all, None);
    std::fs::write(
        dir.join("cfg.json"),
        format!(
            r#"{{"d_in": {d_in}, "d_sae": {f}, "hook_name": "{hook}", "architecture": "standard"}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("sparsity.safetensors"), b"side file").unwrap();
    t.into_iter().map(|(n, _, v)| (n.to_string(), v)).collect()
}

/// `x̂ = W_decᵀ relu(W_encᵀ (x − b_dec) + b_enc) + b_dec` for one `x` of length 8.
fn reconstruct(w: &HashMap<String, (Vec<usize>, Vec<f32>)>, x: &[f32]) -> Vec<f32> {
    let (d, f) = (8, 5);
    let (we, be, wd, bd) = (&w["W_enc"].1, &w["b_enc"].1, &w["W_dec"].1, &w["b_dec"].1);
    let acts: Vec<f32> = (0..f)
        .map(|k| ((0..d).map(|i| (x[i] - bd[i]) * we[i * f + k]).sum::<f32>() + be[k]).max(0.0))
        .collect();
    (0..d)
        .map(|i| (0..f).map(|k| acts[k] * wd[k * d + i]).sum::<f32>() + bd[i])
        .collect()
}

#[test]
fn an_sae_moves_by_its_rule_reconstructs_in_the_new_chart_and_moves_back() {
    let dir = tmp("sae");
    let orig = sae_dir(&dir.join("a"), "blocks.2.hook_resid_post", 8, None);
    let g = gauge(8, 1);
    let report = transport_sae(&dir.join("a"), &dir.join("b"), &g, SaeOptions::default()).unwrap();
    assert_eq!((report.moved, report.unchanged, report.d_in), (3, 2, 8));
    let w = read_f32(&dir.join("b/sae_weights.safetensors"));
    let (p, s) = (g.perm(), g.sign());
    for i in 0..8 {
        let (pi, si) = (p[i] as usize, s[i] as f32);
        for k in 0..5 {
            assert_eq!(w["W_enc"].1[pi * 5 + k], si * orig["W_enc"][i * 5 + k]);
            assert_eq!(w["W_dec"].1[k * 8 + pi], si * orig["W_dec"][k * 8 + i]);
        }
        assert_eq!(w["b_dec"].1[pi], si * orig["b_dec"][i]);
    }
    assert_eq!(w["b_enc"].1, orig["b_enc"]);
    assert_eq!(w["threshold"].1, orig["threshold"]);
    assert_eq!(
        std::fs::read(dir.join("b/sparsity.safetensors")).unwrap(),
        b"side file"
    );
    // x̂_B(g·x) = g·x̂_A(x).
    let a = read_f32(&dir.join("a/sae_weights.safetensors"));
    let x = randn(8, &mut SplitMix64::new(9));
    let gx = g.apply_vector(&x).unwrap();
    let want = g.apply_vector(&reconstruct(&a, &x)).unwrap();
    for (u, v) in reconstruct(&w, &gx).iter().zip(&want) {
        assert!((u - v).abs() < 1e-6, "{u} vs {v}");
    }
    // Back by g⁻¹: the original tensors.
    transport_sae(
        &dir.join("b"),
        &dir.join("c"),
        &g.inverse(),
        SaeOptions::default(),
    )
    .unwrap();
    let back = read_f32(&dir.join("c/sae_weights.safetensors"));
    for (n, v) in &orig {
        assert_eq!(&back[n].1, v, "{n}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_saes_are_refused_naming_the_file_and_what_is_wrong() {
    let dir = tmp("sae-bad");
    let g = gauge(8, 2);
    let err = |name: &str, hook: &str, d_in: usize, extra: Option<&str>| {
        sae_dir(&dir.join(name), hook, d_in, extra);
        transport_sae(
            &dir.join(name),
            &dir.join(format!("{name}-out")),
            &g,
            SaeOptions::default(),
        )
        .unwrap_err()
        .to_string()
    };
    let e = err("wide", "blocks.2.hook_resid_post", 16, None);
    assert!(
        e.contains("cfg.json") && e.contains("d_in") && e.contains("16"),
        "{e}"
    );
    let e = err("heads", "blocks.2.attn.hook_z", 8, None);
    assert!(
        e.contains("attention heads") && e.contains("residual gauge"),
        "{e}"
    );
    let e = err("neurons", "blocks.2.mlp.hook_post", 8, None);
    assert!(e.contains("MLP neurons"), "{e}");
    let e = err("unknown-site", "my.site", 8, None);
    assert!(e.contains("not a site known"), "{e}");
    let e = err(
        "unknown-tensor",
        "blocks.2.hook_resid_post",
        8,
        Some("mystery"),
    );
    assert!(
        e.contains("\"mystery\"") && e.contains("sae_weights.safetensors"),
        "{e}"
    );
    assert!(!dir.join("unknown-tensor-out").exists());
    // An existing output is kept.
    sae_dir(&dir.join("ok"), "blocks.2.hook_resid_post", 8, None);
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    std::fs::write(dir.join("taken/keep"), b"mine").unwrap();
    let e = transport_sae(
        &dir.join("ok"),
        &dir.join("taken"),
        &g,
        SaeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "OUTPUT_EXISTS");
    assert_eq!(std::fs::read(dir.join("taken/keep")).unwrap(), b"mine");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn steering_vectors_move_on_their_last_axis_and_other_lengths_are_refused() {
    let dir = tmp("steer");
    let mut rng = SplitMix64::new(3);
    let v = randn(16, &mut rng);
    write_f32(
        &dir.join("v.safetensors"),
        &[("sentiment", vec![2, 8], v.clone())],
        None,
    );
    let g = gauge(8, 5);
    assert_eq!(
        transport_steering_file(
            &dir.join("v.safetensors"),
            &dir.join("w.safetensors"),
            &g,
            false
        )
        .unwrap(),
        1
    );
    let w = read_f32(&dir.join("w.safetensors"));
    for r in 0..2 {
        assert_eq!(
            w["sentiment"].1[r * 8..(r + 1) * 8],
            g.apply_vector(&v[r * 8..(r + 1) * 8]).unwrap()[..]
        );
    }
    write_f32(
        &dir.join("n.safetensors"),
        &[("neurons", vec![32], randn(32, &mut rng))],
        None,
    );
    let e = transport_steering_file(
        &dir.join("n.safetensors"),
        &dir.join("n2.safetensors"),
        &g,
        false,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("\"neurons\"") && msg.contains("another chart"),
        "{msg}"
    );
    // Of length d, but named for attention heads (n_heads · d_head = d): refused by its name.
    write_f32(
        &dir.join("z.safetensors"),
        &[("blocks.2.attn.hook_z", vec![64], randn(64, &mut rng))],
        None,
    );
    let msg = transport_steering_file(
        &dir.join("z.safetensors"),
        &dir.join("z2.safetensors"),
        &g,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("hook_z") && msg.contains("attention heads"),
        "{msg}"
    );
    assert!(!dir.join("z2.safetensors").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adamw_state_moves_like_its_parameters_with_unsigned_second_moments() {
    let dir = tmp("adamw");
    let model = dir.join("model");
    write_random(&ModelShape::preset("tiny").unwrap(), &model, 3, Dtype::F32).unwrap();
    // State with exp_avg = θ and exp_avg_sq = θ²: after transport they must equal θ' and θ'² of apply(g, θ).
    let ckpt = Checkpoint::open(&model).unwrap();
    let mut entries = Vec::new();
    for (_, t) in ckpt.tensors() {
        let v = ckpt.read_f32(&t.name).unwrap();
        let sq: Vec<f32> = v.iter().map(|x| x * x).collect();
        entries.push((format!("{}.exp_avg", t.name), t.shape.clone(), v));
        entries.push((format!("{}.exp_avg_sq", t.name), t.shape.clone(), sq));
    }
    let meta: HashMap<String, String> = [("format", "gauge-transport/adamw"), ("step", "7")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let named: Vec<(&str, Vec<usize>, Vec<f32>)> = entries
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    let state = dir.join("optimizer.safetensors");
    write_f32(&state, &named, Some(meta.clone()));
    let g = gauge(64, 8);
    let out = dir.join("moved.safetensors");
    let r = transport_optimizer(&state, &out, &g, &model, false).unwrap();
    assert_eq!(r.parameters, ckpt.tensors().count());
    apply(&model, &g, &dir.join("model-g"), ApplyOptions::default()).unwrap();
    let moved_model = Checkpoint::open(&dir.join("model-g")).unwrap();
    let moved = read_f32(&out);
    let mut flipped = 0;
    for (_, t) in moved_model.tensors() {
        let theta = moved_model.read_f32(&t.name).unwrap();
        assert_eq!(moved[&format!("{}.exp_avg", t.name)].1, theta, "{}", t.name);
        let sq: Vec<f32> = theta.iter().map(|x| x * x).collect();
        assert_eq!(moved[&format!("{}.exp_avg_sq", t.name)].1, sq, "{}", t.name);
        flipped += usize::from(theta != ckpt.read_f32(&t.name).unwrap());
    }
    assert!(flipped > 5);
    let header = gauge_core::checkpoint::read_header(&out).unwrap();
    assert_eq!(header.metadata["step"], "7");

    // A negative (or NaN) second moment is corrupt state: refused, naming the tensor and the entry.
    let mut corrupt = named.clone();
    let (name, _, sq) = &mut corrupt[3];
    sq[5] = -0.25;
    let name = name.to_string();
    write_f32(&state, &corrupt, Some(meta.clone()));
    let e = transport_optimizer(&state, &dir.join("x.safetensors"), &g, &model, false).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    let text = e.to_string();
    assert!(
        text.contains(&format!("{name:?}")) && text.contains("entry 5 is -0.25"),
        "{text}"
    );
    corrupt[3].2[5] = f32::NAN;
    write_f32(&state, &corrupt, Some(meta.clone()));
    let e = transport_optimizer(&state, &dir.join("x.safetensors"), &g, &model, false).unwrap_err();
    assert!(e.to_string().contains("entry 5 is NaN"), "{e}");

    // A parameter without state, a foreign format and a gauge of the wrong d are refused.
    write_f32(&state, &named[2..], Some(meta));
    let e = transport_optimizer(&state, &dir.join("x.safetensors"), &g, &model, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lacks 2 entries") && e.contains(entries[0].0.as_str()),
        "{e}"
    );
    write_f32(&state, &named, None);
    let e = transport_optimizer(&state, &dir.join("x.safetensors"), &g, &model, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gauge-transport/adamw"), "{e}");
    let e = transport_optimizer(
        &state,
        &dir.join("x.safetensors"),
        &gauge(32, 1),
        &model,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("d = 64"), "{e}");
    assert!(!dir.join("x.safetensors").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An SAE of `d = 8`, `L = 5` in the sparsify or Gemma Scope layout; `(encoder [d, L] as x·W, b_enc, W_dec [L, d],
/// b_dec)` of it for the reconstruction.
fn other_layout(dir: &Path, layout: &str) -> HashMap<String, Vec<f32>> {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = SplitMix64::new(11);
    let (d, l) = (8, 5);
    let t = match layout {
        "sparsify" => vec![
            ("encoder.weight", vec![l, d], randn(l * d, &mut rng)),
            ("encoder.bias", vec![l], randn(l, &mut rng)),
            ("W_dec", vec![l, d], randn(l * d, &mut rng)),
            ("b_dec", vec![d], randn(d, &mut rng)),
        ],
        _ => vec![
            ("W_enc", vec![d, l], randn(d * l, &mut rng)),
            ("b_enc", vec![l], randn(l, &mut rng)),
            ("W_dec", vec![l, d], randn(l * d, &mut rng)),
            ("b_dec", vec![d], randn(d, &mut rng)),
            (
                "threshold",
                vec![l],
                randn(l, &mut rng).iter().map(|x| x.abs() * 0.1).collect(),
            ),
        ],
    };
    let file = if layout == "sparsify" {
        "sae.safetensors"
    } else {
        "params.safetensors"
    };
    write_f32(&dir.join(file), &t, None);
    if layout == "sparsify" {
        std::fs::write(
            dir.join("cfg.json"),
            r#"{"expansion_factor": 1, "normalize_decoder": true, "num_latents": 5, "k": 2, "d_in": 8}"#,
        )
        .unwrap();
    }
    t.into_iter().map(|(n, _, v)| (n.to_string(), v)).collect()
}

/// The reconstruction of `x` (length 8) by either layout: sparsify `W_decᵀ relu(E (x − b_dec) + b_E) + b_dec`,
/// Gemma Scope `W_decᵀ jumprelu(W_encᵀ x + b_enc) + b_dec`.
fn reconstruct_layout(
    w: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    x: &[f32],
    layout: &str,
) -> Vec<f32> {
    let (d, l) = (8, 5);
    let acts: Vec<f32> = (0..l)
        .map(|k| {
            if layout == "sparsify" {
                let (e, b, bd) = (&w["encoder.weight"].1, &w["encoder.bias"].1, &w["b_dec"].1);
                ((0..d).map(|i| e[k * d + i] * (x[i] - bd[i])).sum::<f32>() + b[k]).max(0.0)
            } else {
                let (e, b, th) = (&w["W_enc"].1, &w["b_enc"].1, &w["threshold"].1);
                let pre = (0..d).map(|i| x[i] * e[i * l + k]).sum::<f32>() + b[k];
                if pre > th[k] {
                    pre
                } else {
                    0.0
                }
            }
        })
        .collect();
    let (wd, bd) = (&w["W_dec"].1, &w["b_dec"].1);
    (0..d)
        .map(|i| (0..l).map(|k| acts[k] * wd[k * d + i]).sum::<f32>() + bd[i])
        .collect()
}

#[test]
fn sparsify_and_gemma_scope_saes_move_by_the_rule_and_back() {
    for layout in ["sparsify", "gemma-scope-2b-pt-res"] {
        let dir = tmp(&format!("sae-{layout}"));
        let orig = other_layout(&dir.join("a"), layout);
        let g = gauge(8, 2);
        let report =
            transport_sae(&dir.join("a"), &dir.join("b"), &g, SaeOptions::default()).unwrap();
        assert_eq!(
            (report.d_in, report.d_sae, report.moved),
            (8, Some(5), 3),
            "{layout}"
        );
        let file = if layout == "sparsify" {
            "sae.safetensors"
        } else {
            "params.safetensors"
        };
        let w = read_f32(&dir.join("b").join(file));
        let (p, s) = (g.perm(), g.sign());
        for i in 0..8 {
            let (pi, si) = (p[i] as usize, s[i] as f32);
            for k in 0..5 {
                if layout == "sparsify" {
                    assert_eq!(
                        w["encoder.weight"].1[k * 8 + pi],
                        si * orig["encoder.weight"][k * 8 + i]
                    );
                } else {
                    assert_eq!(w["W_enc"].1[pi * 5 + k], si * orig["W_enc"][i * 5 + k]);
                }
                assert_eq!(w["W_dec"].1[k * 8 + pi], si * orig["W_dec"][k * 8 + i]);
            }
            assert_eq!(w["b_dec"].1[pi], si * orig["b_dec"][i]);
        }
        // The SAE computes the same features in the new chart: x̂_B(g·x) = g·x̂_A(x).
        let a = read_f32(&dir.join("a").join(file));
        let x = randn(8, &mut SplitMix64::new(5));
        let want = g.apply_vector(&reconstruct_layout(&a, &x, layout)).unwrap();
        let got = reconstruct_layout(&w, &g.apply_vector(&x).unwrap(), layout);
        for (u, v) in got.iter().zip(&want) {
            assert!((u - v).abs() < 1e-5, "{layout}: {u} vs {v}");
        }
        transport_sae(
            &dir.join("b"),
            &dir.join("c"),
            &g.inverse(),
            SaeOptions::default(),
        )
        .unwrap();
        let back = read_f32(&dir.join("c").join(file));
        for (n, v) in &orig {
            assert_eq!(&back[n].1, v, "{layout}: {n}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn sae_layouts_refuse_what_they_do_not_know() {
    let dir = tmp("sae-layouts-bad");
    // A sparsify SAE with a skip connection, a Gemma Scope attention SAE, a broken .npz and an empty directory.
    let skip = dir.join("skip");
    let o = other_layout(&skip, "sparsify");
    let t = vec![
        ("encoder.weight", vec![5, 8], o["encoder.weight"].clone()),
        ("encoder.bias", vec![5], o["encoder.bias"].clone()),
        ("W_dec", vec![5, 8], o["W_dec"].clone()),
        ("b_dec", vec![8], o["b_dec"].clone()),
        ("W_skip", vec![8, 8], vec![0.0; 64]),
    ];
    write_f32(&skip.join("sae.safetensors"), &t, None);
    let e = transport_sae(&skip, &dir.join("o1"), &gauge(8, 1), SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"W_skip\" is not a tensor of the EleutherAI sparsify layout"),
        "{e}"
    );
    let att = dir.join("gemma-scope-2b-pt-att").join("layer_3");
    other_layout(&att, "gemma");
    let e = transport_sae(&att, &dir.join("o2"), &gauge(8, 1), SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Gemma Scope attention SAE"), "{e}");
    let npz = dir.join("npz");
    std::fs::create_dir_all(&npz).unwrap();
    std::fs::write(npz.join("params.npz"), b"PK").unwrap();
    let e = transport_sae(&npz, &dir.join("o3"), &gauge(8, 1), SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("params.npz") && e.contains("not a readable .npz archive"),
        "{e}"
    );
    let e = transport_sae(&dir, &dir.join("o4"), &gauge(8, 1), SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no SAE weights"), "{e}");
    // Another width is named at b_dec for Gemma Scope (no config).
    let gs = dir.join("gs");
    other_layout(&gs, "gemma");
    let e = transport_sae(&gs, &dir.join("o5"), &gauge(16, 1), SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("params.safetensors: tensor \"b_dec\""), "{e}");
    assert!(!dir.join("o1").exists() && !dir.join("o2").exists() && !dir.join("o5").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gemma_scope_npz_written_by_numpy_moves_by_the_rule_and_back() {
    use gauge_core::npz;
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma_scope/params.npz");
    let dir = tmp("npz");
    let input = dir.join("gemma-scope-2b-pt-res").join("layer_3");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(&fixture, input.join("params.npz")).unwrap();
    let read = |p: &Path| -> HashMap<String, (Vec<usize>, Vec<f32>)> {
        npz::parse(&std::fs::read(p).unwrap(), p)
            .unwrap()
            .into_iter()
            .map(|(n, a)| (n, (a.shape.clone(), a.into_f32(p).unwrap())))
            .collect()
    };
    let orig = read(&input.join("params.npz"));
    let g = gauge(8, 4);
    let r = transport_sae(&input, &dir.join("b"), &g, SaeOptions::default()).unwrap();
    assert_eq!((r.d_in, r.d_sae, r.moved, r.unchanged), (8, Some(5), 3, 2));
    let w = read(&dir.join("b/params.npz"));
    let (p, s) = (g.perm(), g.sign());
    for i in 0..8 {
        let (pi, si) = (p[i] as usize, s[i] as f32);
        for k in 0..5 {
            assert_eq!(w["W_enc"].1[pi * 5 + k], si * orig["W_enc"].1[i * 5 + k]);
            assert_eq!(w["W_dec"].1[k * 8 + pi], si * orig["W_dec"].1[k * 8 + i]);
        }
        assert_eq!(w["b_dec"].1[pi], si * orig["b_dec"].1[i]);
    }
    assert_eq!(w["b_enc"], orig["b_enc"]);
    assert_eq!(w["threshold"], orig["threshold"]);
    transport_sae(
        &dir.join("b"),
        &dir.join("c"),
        &g.inverse(),
        SaeOptions::default(),
    )
    .unwrap();
    assert_eq!(read(&dir.join("c/params.npz")), orig);
    // Another width, and an attention SAE, are refused with the reason.
    let e = transport_sae(&input, &dir.join("d"), &gauge(16, 1), SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("params.npz: b_dec"), "{e}");
    let att = dir.join("gemma-scope-2b-pt-att").join("layer_3");
    std::fs::create_dir_all(&att).unwrap();
    std::fs::copy(&fixture, att.join("params.npz")).unwrap();
    let e = transport_sae(&att, &dir.join("e"), &g, SaeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("attention SAE"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
