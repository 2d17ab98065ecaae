//! PyTorch optimizer state converted by `scripts/convert_torch_optimizer.py` (fixtures made by
//! `scripts/fixtures/optimizer_torch.py` from `torch.optim.AdamW` runs on transformers models): every moment lands
//! under the right parameter name (checked against `train_reference.safetensors`, the same run's moments recorded
//! by name in PyTorch), the project's trainer resumes from it, and it transports by a gauge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gauge_core::transport::optimizer::transport_optimizer;
use gauge_core::{Gauge, Group, RandomOptions};
use gauge_models::candle_core::Device;
use gauge_models::train::{AdamWConfig, Trainer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// F32 tensors by name (shape, values) and the metadata of a safetensors file.
type Tensors = (
    HashMap<String, (Vec<usize>, Vec<f32>)>,
    HashMap<String, String>,
);

fn read(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == safetensors::Dtype::F32)
        .map(|(n, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (n, (t.shape().to_vec(), v))
        })
        .collect();
    (tensors, meta.metadata().clone().unwrap_or_default())
}

#[test]
fn converted_torch_state_matches_the_moments_pytorch_recorded_by_name() {
    for name in ["tiny", "tiny-qwen2"] {
        let dir = fixture(name);
        let (state, meta) = read(&dir.join("torch_optimizer.safetensors"));
        let (reference, _) = read(&dir.join("train_reference.safetensors"));
        assert_eq!(meta["format"], "gauge-transport/adamw");
        assert_eq!(meta["step"], "3");
        let mut checked = 0;
        for (key, (_, want)) in &reference {
            for moment in ["exp_avg_sq", "exp_avg"] {
                let Some(param) = key.strip_prefix(&format!("{moment}.")) else {
                    continue;
                };
                let (_, got) = &state[&format!("{param}.{moment}")];
                // The reference keeps only the first rows of the embedding: compare that prefix.
                for (k, (a, b)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-7 + 1e-5 * b.abs(),
                        "{name}: {param}.{moment}[{k}]: {a} vs {b}"
                    );
                }
                checked += 1;
                break;
            }
        }
        assert!(checked >= 8, "{name}: only {checked} moments compared");
    }
}

#[test]
fn the_trainer_resumes_from_converted_state_and_it_transports() {
    for name in ["tiny", "tiny-qwen2"] {
        let src = fixture(name);
        let dir = std::env::temp_dir().join(format!("gt-torch-opt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        std::fs::copy(
            src.join("torch_optimizer.safetensors"),
            dir.join("optimizer.safetensors"),
        )
        .unwrap();
        let trainer = Trainer::open(&dir, &Device::Cpu, AdamWConfig::default(), true).unwrap();
        assert_eq!(trainer.optimizer.step, 3, "{name}");

        let g = Gauge::random(
            64,
            &RandomOptions {
                seed: 2,
                positive_fraction: 0.5,
                group: Group::Bd,
            },
        )
        .unwrap();
        let out = dir.join("moved.safetensors");
        let r =
            transport_optimizer(&dir.join("optimizer.safetensors"), &out, &g, &dir, false).unwrap();
        assert!(r.moved > 0 && r.parameters > 10, "{name}: {r:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
