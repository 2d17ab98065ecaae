//! Training a checkpoint with next-token cross-entropy and the project's own [`AdamW`], so that checkpoints and
//! optimizer state can be saved in the GAUGE.md §4 layout at every step a run chooses.
//!
//! The model is built over trainable `f32` variables with the differentiable [`Kernels`]: the same function as the
//! fused forward pass, with gradients. Every tensor the model reads is a parameter (buffers a checkpoint may carry,
//! like GPT-2's causal-mask `attn.bias`, are not read and not saved). On the CPU, a run is deterministic for a seed.

pub mod adamw;
pub mod batches;
pub mod run;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use gauge_core::checkpoint::{Checkpoint, SINGLE_FILE};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::Model;
pub use adamw::{AdamW, AdamWConfig};

/// The optimizer-state file inside a saved checkpoint directory.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Reads each tensor the model asks for from the checkpoint and makes it a variable, keeping the list.
struct TrainableBackend {
    inner: VarBuilder<'static>,
    vars: Arc<Mutex<Vec<(String, Var)>>>,
}

impl TrainableBackend {
    /// Makes `t` a variable, records it under `name`, and returns the tensor the model will hold (the variable's).
    fn track(&self, name: &str, t: Tensor) -> candle_core::Result<Tensor> {
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.vars
            .lock()
            .expect("lock")
            .push((name.to_string(), var));
        Ok(out)
    }
}

impl SimpleBackend for TrainableBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.track(
            name,
            self.inner.get(s, name)?.to_dtype(dtype)?.to_device(dev)?,
        )
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.track(
            name,
            self.inner
                .get_unchecked_dtype(name, dtype)?
                .to_device(dev)?,
        )
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}

/// `Σ x²` in `f64`, by fixed blocks in parallel and then the blocks in order (the same bits whatever the threads).
/// Within a block, eight running sums over interleaved elements let the compiler vectorize the loop.
fn sum_of_squares(x: &[f32]) -> f64 {
    use rayon::prelude::*;
    const LANES: usize = 8;
    let block = |b: &[f32]| {
        let mut lanes = [0f64; LANES];
        let mut chunks = b.chunks_exact(LANES);
        for c in &mut chunks {
            for (s, &v) in lanes.iter_mut().zip(c) {
                *s += (v as f64) * (v as f64);
            }
        }
        let tail: f64 = chunks
            .remainder()
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum();
        lanes.iter().sum::<f64>() + tail
    };
    let blocks: Vec<f64> = x.par_chunks(1 << 16).map(block).collect();
    blocks.iter().sum()
}

/// Loss and gradient norm of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Mean next-token cross-entropy of the batch, before the update (nats).
    pub loss: f64,
    /// Global L2 norm of the gradient, before clipping.
    pub grad_norm: f64,
}

/// A model being trained: its parameters, the optimizer, and where it came from.
pub struct Trainer {
    model: Model,
    params: Vec<(String, Var)>,
    /// The optimizer; its `step` counts the updates since the run began (or since the resumed state began).
    pub optimizer: AdamW,
    /// The gradient buffers the CPU kernels write during a step's backward pass.
    sinks: Arc<crate::grad_sink::Sinks>,
    source: PathBuf,
    config: serde_json::Value,
}

impl Trainer {
    /// Opens the Hugging Face checkpoint directory `dir` for training on `device`. With `resume`, the optimizer
    /// state is read from `dir/optimizer.safetensors` (which must cover every parameter) and `adamw` only sets the
    /// learning rate; otherwise a fresh AdamW with `adamw`.
    pub fn open(dir: &Path, device: &Device, adamw: AdamWConfig, resume: bool) -> Result<Self> {
        if crate::gguf::is_gguf(dir)? {
            return Err(Error::input(
                dir.display().to_string(),
                "training reads a Hugging Face directory; convert the GGUF first (gauge-transport convert-gguf)",
            ));
        }
        let ckpt = Checkpoint::open(dir)?;
        let vars = Arc::new(Mutex::new(Vec::new()));
        let backend = TrainableBackend {
            inner: crate::weights::var_builder(&ckpt, device),
            vars: vars.clone(),
        };
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone());
        let config = Config::new(&ckpt.config, ckpt.dir.join("config.json"));
        let model = Model::build(
            ckpt.arch,
            &config,
            vb,
            device,
            Kernels::Differentiable,
            false,
        )?;
        let mut params = std::mem::take(&mut *vars.lock().expect("lock"));
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let optimizer = if resume {
            let path = dir.join(OPTIMIZER_FILE);
            if !path.exists() {
                return Err(Error::input(
                    path.display().to_string(),
                    "is missing: resuming needs the optimizer state saved with the checkpoint",
                ));
            }
            let mut o = AdamW::load(&path, &params, device)?;
            o.config.lr = adamw.lr;
            o
        } else {
            AdamW::new(adamw)?
        };
        let sinks = Arc::new(crate::grad_sink::Sinks::for_params(&params));
        Ok(Self {
            model,
            params,
            optimizer,
            sinks,
            source: dir.to_path_buf(),
            config: ckpt.config.clone(),
        })
    }

    /// The model (differentiable kernels, current parameters).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The parameters by Hugging Face name, sorted.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// Mean next-token cross-entropy over `rows` (equal lengths of at least 2), as a graph for backprop.
    fn loss_tensor(&self, rows: &[Vec<u32>]) -> Result<Tensor> {
        let seq = rows.first().map_or(0, |r| r.len());
        if seq < 2 {
            return Err(Error::input(
                "batch",
                "needs sequences of at least 2 tokens",
            ));
        }
        let out = self.model.forward_ids(rows, &[])?;
        let (b, s, v) = out.logits.dims3()?;
        if crate::cpu_fused::applies(&out.logits) {
            // Every position's logits as they are, the last of each sequence left out by its target.
            let targets: Vec<u32> = rows
                .iter()
                .flat_map(|r| r[1..].iter().copied().chain([crate::cpu_train::IGNORE]))
                .collect();
            let targets = Tensor::from_vec(targets, b * s, self.model.device())?;
            return Ok(crate::cpu_train::cross_entropy(&out.logits, &targets)?);
        }
        let ids = Tensor::from_vec(rows.concat(), (b, s), self.model.device())?;
        let pred = out.logits.narrow(1, 0, s - 1)?.reshape((b * (s - 1), v))?;
        let target = ids.narrow(1, 1, s - 1)?.flatten_all()?;
        Ok(candle_nn::loss::cross_entropy(&pred, &target)?)
    }

    /// The loss over `rows` without an update.
    pub fn loss(&self, rows: &[Vec<u32>]) -> Result<f64> {
        Ok(self.loss_tensor(rows)?.to_scalar::<f32>()? as f64)
    }

    /// One AdamW update on `rows` at learning rate `lr`, the gradient first scaled to global norm at most `clip`
    /// when given. Stops with an error, leaving the parameters as they were, when the loss or gradient is not
    /// finite.
    pub fn step(&mut self, rows: &[Vec<u32>], lr: f64, clip: Option<f64>) -> Result<StepReport> {
        self.step_cancellable(rows, lr, clip, None)
    }

    /// [`Trainer::step`], polling `cancel` after the forward pass and after the backward pass: a raised flag stops
    /// with `ABORTED` before the update, so the model and optimizer stay as they were after the previous step.
    pub fn step_cancellable(
        &mut self,
        rows: &[Vec<u32>],
        lr: f64,
        clip: Option<f64>,
        cancel: gauge_core::assignment::Cancel<'_>,
    ) -> Result<StepReport> {
        let stop = || -> Result<()> {
            if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(gauge_core::Error::Aborted {
                    what: "training".into(),
                }
                .into());
            }
            Ok(())
        };
        let loss = self.loss_tensor(rows)?;
        let loss_value = loss.to_scalar::<f32>()? as f64;
        stop()?;
        let mut grads = self.sinks.scope(|| loss.backward())?;
        drop(loss);
        stop()?;
        let mut sq = 0f64;
        for (_, var) in &self.params {
            // A parameter's gradient is in its buffer, or in candle's store, or (a parameter also used through a
            // view) in both. Gradients of transposed uses (`x · Wᵀ`) come back strided; the one contiguous copy
            // serves the norm and the fused update.
            if let Some(g) = self.sinks.take(var.as_tensor(), &mut grads)? {
                sq += match adamw::with_cpu_f32(&g, sum_of_squares) {
                    Some(s) => s,
                    None => g
                        .to_dtype(DType::F64)?
                        .sqr()?
                        .sum_all()?
                        .to_scalar::<f64>()?,
                };
                grads.insert(var.as_tensor(), g);
            }
        }
        let grad_norm = sq.sqrt();
        if !loss_value.is_finite() || !grad_norm.is_finite() {
            return Err(Error::input(
                format!("training step {}", self.optimizer.step + 1),
                format!("loss {loss_value}, gradient norm {grad_norm}: not finite; stopping"),
            ));
        }
        // As `torch.nn.utils.clip_grad_norm_`: scale by `clip / (‖g‖ + 1e-6)` when that is below 1.
        let scale = match clip {
            Some(c) if grad_norm > c => c / (grad_norm + 1e-6),
            _ => 1.0,
        };
        self.optimizer.update(&self.params, &grads, lr, scale)?;
        Ok(StepReport {
            loss: loss_value,
            grad_norm,
        })
    }

    /// Writes the model as a new Hugging Face directory `out` (`config.json`, `model.safetensors` in F32, the
    /// source's `tokenizer.json` if any) with the optimizer state (`optimizer.safetensors`) and `extra` as
    /// `trainer_state.json`. Written into a temporary sibling and renamed, so `out` is complete or absent; an
    /// existing `out` is an error.
    pub fn save(&self, out: &Path, extra: &serde_json::Value) -> Result<()> {
        if out.exists() {
            return Err(gauge_core::Error::OutputExists { path: out.into() }.into());
        }
        gauge_core::atomic::write_dir(out, false, |tmp| self.write_into(tmp, extra))
    }

    fn write_into(&self, dir: &Path, extra: &serde_json::Value) -> Result<()> {
        let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).expect("JSON");
        gauge_core::atomic::write_file(&dir.join("config.json"), &json(&self.config), false)?;
        let tokenizer = self.source.join("tokenizer.json");
        if tokenizer.exists() {
            let bytes =
                std::fs::read(&tokenizer).map_err(|e| gauge_core::Error::io(&tokenizer, e))?;
            gauge_core::atomic::write_file(&dir.join("tokenizer.json"), &bytes, false)?;
        }
        let tensors: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let metadata = std::collections::HashMap::from([
            ("format".to_string(), "pt".to_string()),
            (
                "gauge_transport.step".to_string(),
                self.optimizer.step.to_string(),
            ),
        ]);
        adamw::write_f32_safetensors(&dir.join(SINGLE_FILE), &tensors, &metadata, false)?;
        self.optimizer.save(&dir.join(OPTIMIZER_FILE), false)?;
        gauge_core::atomic::write_file(&dir.join("trainer_state.json"), &json(extra), false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sum_of_squares_matches_a_plain_sum() {
        // Several blocks, a partial last block and a tail shorter than the lanes.
        let x: Vec<f32> = (0..(3 << 16) + 13)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let plain: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let ours = super::sum_of_squares(&x);
        assert!((ours - plain).abs() <= 1e-12 * plain, "{ours} vs {plain}");
        assert_eq!(super::sum_of_squares(&[]), 0.0);
        assert_eq!(super::sum_of_squares(&[3.0]), 9.0);
    }
}
