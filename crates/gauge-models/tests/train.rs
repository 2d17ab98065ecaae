//! The trainer against PyTorch: three AdamW steps of each fixture model (with a learning-rate schedule and
//! gradient clipping) give the losses, gradient norms, parameters and AdamW moments that `torch.optim.AdamW` on the
//! transformers model gives (`scripts/fixtures/train_torch.py`). Also: the differentiable kernels compute the
//! fused forward pass, runs are deterministic, a save and resume continues the same trajectory, and bad optimizer
//! state is refused naming the file and tensor.

use std::path::{Path, PathBuf};

use gauge_models::candle_core::{DType, Device, Tensor};
use gauge_models::train::run::{run, RunOptions, Schedule};
use gauge_models::train::{AdamWConfig, Trainer, OPTIMIZER_FILE};
use gauge_models::Model;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gt-train-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Reference {
    tensors: Vec<(String, Tensor)>,
    lrs: Vec<f64>,
    clip: f64,
    config: AdamWConfig,
}

impl Reference {
    fn load(name: &str) -> Self {
        let path = fixture(name).join("train_reference.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap();
        let tensors = gauge_models::candle_core::safetensors::load(&path, &Device::Cpu)
            .unwrap()
            .into_iter()
            .collect();
        let betas: Vec<f64> = serde_json::from_str(&meta["betas"]).unwrap();
        Self {
            tensors,
            lrs: serde_json::from_str(&meta["lrs"]).unwrap(),
            clip: meta["clip"].parse().unwrap(),
            config: AdamWConfig {
                lr: 0.0,
                beta1: betas[0],
                beta2: betas[1],
                eps: meta["eps"].parse().unwrap(),
                weight_decay: meta["weight_decay"].parse().unwrap(),
            },
        }
    }

    fn get(&self, key: &str) -> &Tensor {
        &self.tensors.iter().find(|(k, _)| k == key).unwrap().1
    }

    fn batch(&self, k: usize) -> Vec<Vec<u32>> {
        self.get(&format!("batch.{k}"))
            .to_dtype(DType::U32)
            .unwrap()
            .to_vec2::<u32>()
            .unwrap()
    }

    fn f64s(&self, key: &str) -> Vec<f64> {
        self.get(key).to_vec1::<f64>().unwrap()
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn check_against_torch(name: &str) {
    let r = Reference::load(name);
    let mut t = Trainer::open(&fixture(name), &Device::Cpu, r.config, false).unwrap();
    let losses = r.f64s("losses");
    let norms = r.f64s("grad_norms");
    for (k, &lr) in r.lrs.iter().enumerate() {
        let clip = (k > 0).then_some(r.clip);
        let step = t.step(&r.batch(k), lr, clip).unwrap();
        assert!(
            (step.loss - losses[k]).abs() < 2e-5,
            "{name} step {k}: loss {} vs torch {}",
            step.loss,
            losses[k]
        );
        assert!(
            (step.grad_norm - norms[k]).abs() < 1e-4 * norms[k].max(1.0),
            "{name} step {k}: grad norm {} vs torch {}",
            step.grad_norm,
            norms[k]
        );
    }
    let mut checked = 0;
    for (key, want) in &r.tensors {
        let Some(param) = key.strip_prefix("param.") else {
            continue;
        };
        let rows = want.dims()[0];
        let (_, var) = t
            .params()
            .iter()
            .find(|(n, _)| n == param)
            .unwrap_or_else(|| panic!("{name}: no parameter {param}"));
        let got = var.as_tensor().narrow(0, 0, rows).unwrap();
        // Where a gradient is zero up to rounding (a key bias, whose gradient vanishes exactly because softmax
        // ignores a shift shared by all keys), AdamW's first update is lr · g / (|g| + eps) with g pure rounding
        // noise, in PyTorch as here: those entries are compared only through the loss. `v` marks them.
        let v = r.get(&format!("exp_avg_sq.{param}"));
        let exact_zero = v.eq(0f32).unwrap().to_dtype(DType::F32).unwrap();
        let above = v.ge(1e-14).unwrap().to_dtype(DType::F32).unwrap();
        let signal = (above + exact_zero).unwrap();
        let d = max_abs_diff(&(&got * &signal).unwrap(), &(want * &signal).unwrap());
        let kept =
            signal.sum_all().unwrap().to_scalar::<f32>().unwrap() / signal.elem_count() as f32;
        assert!(d < 2e-5, "{name}: {param} differs from torch by {d}");
        assert!(
            kept > 0.6,
            "{name}: {param}: only {kept} of the entries have a gradient above rounding"
        );
        let m = &t.optimizer.state[param];
        for (what, ours) in [("exp_avg", &m.exp_avg), ("exp_avg_sq", &m.exp_avg_sq)] {
            // Moments follow the gradient itself, noise included, so they are compared everywhere.
            let theirs = r.get(&format!("{what}.{param}"));
            let scale = theirs
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let d = max_abs_diff(&ours.narrow(0, 0, rows).unwrap(), theirs);
            assert!(
                d <= 1e-4 * scale,
                "{name}: {what} of {param} differs by {d} (scale {scale})"
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "{name}: only {checked} parameters checked");
    assert_eq!(t.optimizer.step, 3);
}

#[test]
fn three_adamw_steps_match_pytorch_on_llama() {
    check_against_torch("tiny");
}

#[test]
fn three_adamw_steps_match_pytorch_on_qwen2() {
    check_against_torch("tiny-qwen2");
}

#[test]
fn three_adamw_steps_match_pytorch_on_gpt2() {
    check_against_torch("tiny-gpt2");
}

#[test]
fn differentiable_kernels_compute_the_fused_forward_pass() {
    for name in ["tiny", "tiny-qwen2", "tiny-gpt2"] {
        let fused = Model::load(&fixture(name), &Device::Cpu).unwrap();
        let t = Trainer::open(&fixture(name), &Device::Cpu, AdamWConfig::default(), false).unwrap();
        let ids = vec![vec![1u32, 5, 9, 200, 3, 7, 11, 2]; 2];
        let a = fused.forward_ids(&ids, &[]).unwrap().logits;
        let b = t.model().forward_ids(&ids, &[]).unwrap().logits;
        let d = max_abs_diff(&a, &b);
        assert!(
            d < 1e-5,
            "{name}: fused and differentiable logits differ by {d}"
        );
    }
}

#[test]
fn after_updates_the_trained_model_is_the_saved_checkpoint() {
    // Every weight the forward pass uses must be the trained variable itself, not a copy made at load time.
    let dir = temp("stale");
    for name in ["tiny", "tiny-qwen2", "tiny-gpt2"] {
        let mut t =
            Trainer::open(&fixture(name), &Device::Cpu, AdamWConfig::default(), false).unwrap();
        let ids = vec![vec![1u32, 5, 9, 200, 3, 7, 11, 2]; 2];
        for _ in 0..2 {
            t.step(&ids, 1e-2, None).unwrap();
        }
        let out = dir.join(name);
        t.save(&out, &serde_json::json!({})).unwrap();
        let fresh = Model::load(&out, &Device::Cpu).unwrap();
        let a = fresh.forward_ids(&ids, &[]).unwrap().logits;
        let b = t.model().forward_ids(&ids, &[]).unwrap().logits;
        let d = max_abs_diff(&a, &b);
        assert!(
            d < 1e-5,
            "{name}: the trainer's model and its saved checkpoint differ by {d}"
        );
        let start = Model::load(&fixture(name), &Device::Cpu).unwrap();
        let moved = max_abs_diff(&start.forward_ids(&ids, &[]).unwrap().logits, &a);
        assert!(
            moved > 1e-2,
            "{name}: two steps at lr 1e-2 moved the logits by only {moved}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn options(steps: u64) -> RunOptions {
    RunOptions {
        steps,
        batch: 2,
        seq: 8,
        adamw: AdamWConfig {
            lr: 3e-3,
            ..AdamWConfig::default()
        },
        warmup: 1,
        schedule: Schedule::Cosine,
        clip: Some(1.0),
        save_every: 2,
        seed: 4,
        resume: false,
    }
}

#[test]
fn runs_are_deterministic_and_save_checkpoints_with_optimizer_state() {
    let dir = temp("det");
    let ids: Vec<u32> = (0..400u32).map(|k| (k * 37 + k / 7) % 256).collect();
    let a = run(
        &fixture("tiny"),
        &ids,
        &dir.join("a"),
        &options(3),
        &Device::Cpu,
        |_| true,
    )
    .unwrap();
    let b = run(
        &fixture("tiny"),
        &ids,
        &dir.join("b"),
        &options(3),
        &Device::Cpu,
        |_| true,
    )
    .unwrap();
    assert_eq!(a.losses, b.losses);
    let steps: Vec<u64> = a.checkpoints.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, vec![2, 3]);
    for file in ["model.safetensors", OPTIMIZER_FILE] {
        let x = std::fs::read(dir.join("a/step-000003").join(file)).unwrap();
        let y = std::fs::read(dir.join("b/step-000003").join(file)).unwrap();
        assert!(x == y, "{file} differs between two runs with the same seed");
    }
    // The saved checkpoint loads for inference and has moved from the start.
    let before = Model::load(&fixture("tiny"), &Device::Cpu).unwrap();
    let after = Model::load(&dir.join("a/step-000003"), &Device::Cpu).unwrap();
    let row = vec![ids[..8].to_vec()];
    let d = max_abs_diff(
        &before.forward_ids(&row, &[]).unwrap().logits,
        &after.forward_ids(&row, &[]).unwrap().logits,
    );
    assert!(d > 1e-3, "training did not change the model ({d})");
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("a/train_log.json")).unwrap()).unwrap();
    assert_eq!(log["losses"].as_array().unwrap().len(), 3);
    // An existing output directory is never written into.
    let e = run(
        &fixture("tiny"),
        &ids,
        &dir.join("a"),
        &options(1),
        &Device::Cpu,
        |_| true,
    )
    .unwrap_err();
    assert_eq!(e.code(), "OUTPUT_EXISTS", "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_saved_and_resumed_run_continues_the_same_trajectory() {
    let dir = temp("resume");
    let r = Reference::load("tiny");
    let config = AdamWConfig {
        lr: 1e-2,
        ..r.config
    };
    let mut straight = Trainer::open(&fixture("tiny"), &Device::Cpu, config, false).unwrap();
    let mut first = Trainer::open(&fixture("tiny"), &Device::Cpu, config, false).unwrap();
    for k in 0..2 {
        straight.step(&r.batch(k), 1e-2, None).unwrap();
        first.step(&r.batch(k), 1e-2, None).unwrap();
    }
    first
        .save(&dir.join("half"), &serde_json::json!({}))
        .unwrap();
    let mut resumed = Trainer::open(&dir.join("half"), &Device::Cpu, config, true).unwrap();
    assert_eq!(resumed.optimizer.step, 2);
    let a = straight.step(&r.batch(2), 1e-2, None).unwrap();
    let b = resumed.step(&r.batch(2), 1e-2, None).unwrap();
    assert_eq!(a.loss, b.loss);
    for ((n, x), (m, y)) in straight.params().iter().zip(resumed.params()) {
        assert_eq!(n, m);
        assert_eq!(max_abs_diff(x.as_tensor(), y.as_tensor()), 0.0, "{n}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_optimizer_state_is_refused_naming_the_file_and_tensor() {
    let dir = temp("bad");
    let mut t = Trainer::open(
        &fixture("tiny"),
        &Device::Cpu,
        AdamWConfig::default(),
        false,
    )
    .unwrap();
    t.step(&[vec![1, 2, 3, 4]], 1e-3, None).unwrap();
    t.save(&dir.join("ok"), &serde_json::json!({})).unwrap();
    let state = dir.join("ok").join(OPTIMIZER_FILE);
    let bytes = std::fs::read(&state).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone();
    // Rewrite the state without one parameter's moments, or with one of the wrong shape.
    let rewrite = |drop: &str, reshape: Option<&str>| {
        let kept: Vec<(String, safetensors::tensor::TensorView)> = st
            .tensors()
            .into_iter()
            .filter(|(n, _)| !n.starts_with(drop) || drop.is_empty())
            .collect();
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = kept
            .iter()
            .map(|(n, v)| (n.clone(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        if let Some(target) = reshape {
            let e = owned.iter_mut().find(|(n, _, _)| n == target).unwrap();
            let numel: usize = e.1.iter().product();
            e.1 = vec![numel];
        }
        let views: Vec<_> = owned
            .iter()
            .map(|(n, s, d)| {
                let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d);
                (n.clone(), v.unwrap())
            })
            .collect();
        std::fs::write(&state, safetensors::serialize(views, meta.clone()).unwrap()).unwrap();
    };
    rewrite("model.norm.weight.", None);
    let e = Trainer::open(&dir.join("ok"), &Device::Cpu, AdamWConfig::default(), true)
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains(OPTIMIZER_FILE) && msg.contains("model.norm.weight"),
        "{msg}"
    );
    rewrite("", Some("model.layers.0.mlp.up_proj.weight.exp_avg"));
    let e = Trainer::open(&dir.join("ok"), &Device::Cpu, AdamWConfig::default(), true)
        .err()
        .unwrap();
    assert!(e.to_string().contains("has shape [8192]"), "{e}");
    std::fs::remove_file(&state).unwrap();
    let e = Trainer::open(&dir.join("ok"), &Device::Cpu, AdamWConfig::default(), true)
        .err()
        .unwrap();
    assert!(e.to_string().contains("is missing"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_raised_flag_stops_a_step_before_its_update() {
    let mut t = Trainer::open(
        &fixture("tiny"),
        &Device::Cpu,
        AdamWConfig::default(),
        false,
    )
    .unwrap();
    let rows = [vec![1, 2, 3, 4]];
    let before = t.loss(&rows).unwrap();
    let up = std::sync::atomic::AtomicBool::new(true);
    let e = t
        .step_cancellable(&rows, 1e-2, None, Some(&up))
        .unwrap_err();
    assert_eq!(e.code(), "ABORTED");
    assert!(e.to_string().contains("training"), "{e}");
    // Nothing was applied: the same loss, and step 0 still to come.
    assert_eq!(t.loss(&rows).unwrap(), before);
    assert_eq!(t.optimizer.step, 0);
    let down = std::sync::atomic::AtomicBool::new(false);
    t.step_cancellable(&rows, 1e-2, None, Some(&down)).unwrap();
    assert_eq!(t.optimizer.step, 1);
    assert_ne!(t.loss(&rows).unwrap(), before);
}
