//! AdamW (Loshchilov and Hutter) with PyTorch's `torch.optim.AdamW` semantics, written here so that its state can
//! be read, written and moved by a gauge (GAUGE.md §4).
//!
//! For a parameter `θ` with gradient `g` at step `t` (counted from 1):
//! `θ ← θ · (1 − lr · λ)`; `m ← β₁ m + (1 − β₁) g`; `v ← β₂ v + (1 − β₂) g²`;
//! `θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)`.
//! Every operation is elementwise, so a signed permutation of the coordinates commutes with the update when `m`
//! moves like `θ` and `v` like `|θ|`.
//!
//! State file (safetensors, F32): for each parameter `P`, `P.exp_avg` and `P.exp_avg_sq` of `P`'s shape; metadata
//! `format = "gauge-transport/adamw"`, `step`, `lr`, `betas` (`"β₁,β₂"`), `eps`, `weight_decay`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use std::cell::RefCell;

use candle_core::{CpuStorage, DType, Device, InplaceOp1, InplaceOp2, Layout, Tensor, Var};
use rayon::prelude::*;

use crate::cpu_fused::contiguous_f32;

use crate::error::{Error, Result};

/// The metadata value of `format` in an optimizer-state file.
pub const FORMAT: &str = "gauge-transport/adamw";

/// AdamW hyper-parameters (PyTorch's defaults except `weight_decay`, which is 0.1 as in most LLM recipes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate (the peak, under a schedule).
    pub lr: f64,
    /// Decay of the first moment `β₁`.
    pub beta1: f64,
    /// Decay of the second moment `β₂`.
    pub beta2: f64,
    /// `ε` added to `√v̂`.
    pub eps: f64,
    /// Decoupled weight decay `λ` (applied to every parameter, as `torch.optim.AdamW` does to what it is given).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

impl AdamWConfig {
    /// Rejects values PyTorch would reject (`lr < 0`, `eps < 0`, betas outside `[0, 1)`, `weight_decay < 0`).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64, why: &str| Err(Error::input(what, format!("{v} {why}")));
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return bad("lr", self.lr, "is not a finite number >= 0");
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(name, b, "is outside [0, 1)");
            }
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return bad("eps", self.eps, "is not a finite number >= 0");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(
                "weight_decay",
                self.weight_decay,
                "is not a finite number >= 0",
            );
        }
        Ok(())
    }
}

/// First and second moments of one parameter.
#[derive(Clone, Debug)]
pub struct Moments {
    /// `m` (PyTorch `exp_avg`), the parameter's shape.
    pub exp_avg: Tensor,
    /// `v` (PyTorch `exp_avg_sq`), the parameter's shape.
    pub exp_avg_sq: Tensor,
}

/// AdamW over named parameters; `step` counts the updates done so far.
#[derive(Debug)]
pub struct AdamW {
    /// Hyper-parameters.
    pub config: AdamWConfig,
    /// Updates done (PyTorch's `step`).
    pub step: u64,
    /// Per parameter name; created at zero on a parameter's first update.
    pub state: BTreeMap<String, Moments>,
}

impl AdamW {
    /// A fresh optimizer (step 0, no state).
    pub fn new(config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            step: 0,
            state: BTreeMap::new(),
        })
    }

    /// One update of every parameter in `params` from its gradient in `grads` (same order), each gradient first
    /// multiplied by `grad_scale` (1 without clipping); `lr` overrides the configured rate for this step (a
    /// schedule). Parameters without a gradient are left alone, as in PyTorch.
    ///
    /// Contiguous `f32` tensors on the CPU take one fused pass over `θ`, `g`, `m` and `v`; elsewhere the update
    /// is composed from tensor operations (about fourteen passes, each allocating a tensor of the parameter's size).
    pub fn update(
        &mut self,
        params: &[(String, Var)],
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        grad_scale: f64,
    ) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        for (name, var) in params {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let theta = var.as_tensor();
            if fusable_update(theta, g, self.state.get(name)) {
                let k = FusedCoefficients::new(&c, lr, t, grad_scale);
                let moments = fused_update(theta, g, self.state.remove(name), &k)?;
                self.state.insert(name.clone(), moments);
                continue;
            }
            let (next, moments) =
                composed_update(theta, g, self.state.get(name), &c, lr, t, grad_scale)?;
            var.set(&next)?;
            self.state.insert(name.clone(), moments);
        }
        Ok(())
    }

    /// The state as safetensors bytes in the GAUGE.md §4 layout.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let (tensors, metadata) = self.tensors_and_metadata();
        f32_safetensors(&tensors, &metadata)
    }

    /// The state's tensors by file name, and the file's metadata.
    fn tensors_and_metadata(&self) -> (Vec<(String, Tensor)>, HashMap<String, String>) {
        let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.state.len());
        for (name, m) in &self.state {
            tensors.push((format!("{name}.exp_avg"), m.exp_avg.clone()));
            tensors.push((format!("{name}.exp_avg_sq"), m.exp_avg_sq.clone()));
        }
        let c = self.config;
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("step".to_string(), self.step.to_string()),
            ("lr".to_string(), c.lr.to_string()),
            ("betas".to_string(), format!("{},{}", c.beta1, c.beta2)),
            ("eps".to_string(), c.eps.to_string()),
            ("weight_decay".to_string(), c.weight_decay.to_string()),
        ]);
        (tensors, metadata)
    }

    /// Writes the state to `path` atomically.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<()> {
        let (tensors, metadata) = self.tensors_and_metadata();
        write_f32_safetensors(path, &tensors, &metadata, overwrite)
    }

    /// Reads a state file written by [`AdamW::save`] (or the PyTorch converter), checking that every parameter in
    /// `params` has both moments with its shape and that no entry names an unknown parameter. The hyper-parameters
    /// and step come from the file's metadata.
    pub fn load(path: &Path, params: &[(String, Var)], device: &Device) -> Result<Self> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| gauge_core::Error::io(path, e))?;
        let bad = |reason: String| Error::input(file.clone(), reason);
        let header = gauge_core::checkpoint::parse_header(&bytes, path)?;
        let meta = &header.metadata;
        let key = |k: &str| -> Result<&String> {
            meta.get(k).ok_or_else(|| {
                bad(format!(
                    "metadata has no {k:?} (expected the GAUGE.md §4 layout)"
                ))
            })
        };
        if key("format")? != FORMAT {
            return Err(bad(format!(
                "metadata format is {:?}, not {FORMAT:?}",
                meta["format"]
            )));
        }
        let num = |k: &str| -> Result<f64> {
            let v = key(k)?;
            v.parse()
                .map_err(|_| bad(format!("metadata {k} = {v:?} is not a number")))
        };
        let betas: Vec<f64> = key("betas")?
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                bad(format!(
                    "metadata betas = {:?} is not \"b1,b2\"",
                    meta["betas"]
                ))
            })?;
        if betas.len() != 2 {
            return Err(bad(format!(
                "metadata betas = {:?} is not \"b1,b2\"",
                meta["betas"]
            )));
        }
        let config = AdamWConfig {
            lr: num("lr")?,
            beta1: betas[0],
            beta2: betas[1],
            eps: num("eps")?,
            weight_decay: num("weight_decay")?,
        };
        let step = key("step")?.parse::<u64>().map_err(|_| {
            bad(format!(
                "metadata step = {:?} is not a whole number",
                meta["step"]
            ))
        })?;
        let known: std::collections::HashSet<&str> =
            params.iter().map(|(n, _)| n.as_str()).collect();
        for t in &header.tensors {
            let name = &t.name;
            let base = name
                .strip_suffix(".exp_avg_sq")
                .or_else(|| name.strip_suffix(".exp_avg"))
                .ok_or_else(|| {
                    bad(format!(
                        "tensor {name:?} is neither P.exp_avg nor P.exp_avg_sq"
                    ))
                })?;
            if !known.contains(base) {
                return Err(bad(format!(
                    "tensor {name:?} is the state of {base:?}, which the model does not have"
                )));
            }
        }
        let mut state = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, var) in params {
            let read = |suffix: &str| -> Result<Option<Tensor>> {
                let key = format!("{name}.{suffix}");
                let Some(view) = header.find(&key) else {
                    return Ok(None);
                };
                if view.dtype != gauge_core::checkpoint::Dtype::F32 {
                    return Err(bad(format!(
                        "tensor {key:?} is {}, expected F32",
                        view.dtype.as_str()
                    )));
                }
                if view.shape != var.dims() {
                    return Err(bad(format!(
                        "tensor {key:?} has shape {:?} but the parameter has {:?}",
                        view.shape,
                        var.dims()
                    )));
                }
                let values: Vec<f32> = header
                    .data(&bytes, view)
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Ok(Some(Tensor::from_vec(
                    values,
                    view.shape.as_slice(),
                    device,
                )?))
            };
            match (read("exp_avg")?, read("exp_avg_sq")?) {
                (Some(exp_avg), Some(exp_avg_sq)) => {
                    state.insert(
                        name.clone(),
                        Moments {
                            exp_avg,
                            exp_avg_sq,
                        },
                    );
                }
                _ => missing.push(name.clone()),
            }
        }
        if step > 0 && !missing.is_empty() {
            let shown: Vec<_> = missing.iter().take(4).collect();
            return Err(bad(format!(
                "no exp_avg/exp_avg_sq for {} of the model's {} parameters (e.g. {:?}); a resumed run needs them all",
                missing.len(),
                params.len(),
                shown
            )));
        }
        config.validate().map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            config,
            step,
            state,
        })
    }
}

/// A safetensors file of `tensors` as F32, in the given order, with `metadata` (keys sorted, so equal inputs give
/// equal bytes), in memory. [`write_f32_safetensors`] writes the same bytes to a file without holding them.
pub(crate) fn f32_safetensors(
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
) -> Result<Vec<u8>> {
    let tensors = cpu_f32(tensors)?;
    let mut out = Vec::new();
    write_f32_into(&mut out, &tensors, metadata).expect("writing to memory");
    Ok(out)
}

/// [`f32_safetensors`] written to `path` (atomically: complete or absent) one tensor at a time, so that memory
/// holds no copy of the data (a converted copy of a tensor that is not a contiguous F32 CPU tensor).
pub(crate) fn write_f32_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
    overwrite: bool,
) -> Result<()> {
    let tensors = cpu_f32(tensors)?;
    Ok(gauge_core::atomic::write_with(path, overwrite, |w| {
        write_f32_into(w, &tensors, metadata)
    })?)
}

/// Each tensor as a contiguous F32 CPU tensor (the same tensor where it is one already).
fn cpu_f32(tensors: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
    tensors
        .iter()
        .map(|(n, t)| {
            let t = t
                .to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?
                .contiguous()?;
            Ok((n.clone(), t))
        })
        .collect()
}

/// The header, then each tensor's little-endian F32 data, into `w`; `tensors` are contiguous F32 CPU tensors.
fn write_f32_into(
    w: &mut dyn std::io::Write,
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
) -> std::io::Result<()> {
    use gauge_core::checkpoint::{header_bytes, Dtype, TensorInfo};
    let mut infos = Vec::with_capacity(tensors.len());
    let mut end = 0u64;
    for (name, t) in tensors {
        let start = end;
        end += 4 * t.elem_count() as u64;
        infos.push(TensorInfo {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: t.dims().to_vec(),
            start,
            end,
        });
    }
    w.write_all(&header_bytes(&infos, metadata))?;
    /// Values converted per write: 1 MiB of bytes.
    const BLOCK: usize = 1 << 18;
    let mut bytes = Vec::with_capacity(4 * BLOCK);
    for (_, t) in tensors {
        with_cpu_f32(t, |values| -> std::io::Result<()> {
            for block in values.chunks(BLOCK) {
                bytes.clear();
                bytes.extend(block.iter().flat_map(|x| x.to_le_bytes()));
                w.write_all(&bytes)?;
            }
            Ok(())
        })
        .expect("a contiguous F32 CPU tensor")?;
    }
    Ok(())
}

/// The update of one parameter from tensor operations (any device or layout): the next `θ` and moments.
fn composed_update(
    theta: &Tensor,
    g: &Tensor,
    previous: Option<&Moments>,
    c: &AdamWConfig,
    lr: f64,
    step: i32,
    grad_scale: f64,
) -> Result<(Tensor, Moments)> {
    let bc1 = 1.0 - c.beta1.powi(step);
    let bc2_sqrt = (1.0 - c.beta2.powi(step)).sqrt();
    let g = if grad_scale == 1.0 {
        g.clone()
    } else {
        (g * grad_scale)?
    };
    let moments = match previous {
        Some(m) => m.clone(),
        None => Moments {
            exp_avg: theta.zeros_like()?,
            exp_avg_sq: theta.zeros_like()?,
        },
    };
    let m = ((moments.exp_avg * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
    let v = ((moments.exp_avg_sq * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let decayed = (theta * (1.0 - lr * c.weight_decay))?;
    let denom = ((v.sqrt()? / bc2_sqrt)? + c.eps)?;
    let next = (decayed - ((&m / &denom)? * (lr / bc1))?)?;
    Ok((
        next,
        Moments {
            exp_avg: m,
            exp_avg_sq: v,
        },
    ))
}

/// The scalars of one fused AdamW update, in `f32` as the tensors are.
struct FusedCoefficients {
    grad_scale: f32,
    beta1: f32,
    beta2: f32,
    /// `1 − lr · λ`.
    decay: f32,
    /// `√(1 − β₂ᵗ)`.
    bc2_sqrt: f32,
    eps: f32,
    /// `lr / (1 − β₁ᵗ)`.
    step_size: f32,
}

impl FusedCoefficients {
    fn new(c: &AdamWConfig, lr: f64, step: i32, grad_scale: f64) -> Self {
        Self {
            grad_scale: grad_scale as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            decay: (1.0 - lr * c.weight_decay) as f32,
            bc2_sqrt: (1.0 - c.beta2.powi(step)).sqrt() as f32,
            eps: c.eps as f32,
            step_size: (lr / (1.0 - c.beta1.powi(step))) as f32,
        }
    }
}

/// Runs `f` on the elements of `t` when it is a contiguous `f32` tensor on the CPU (no copy), else `None`.
pub(crate) fn with_cpu_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    let (start, end) = layout.contiguous_offsets()?;
    match &*storage {
        candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)) => Some(f(&v[start..end])),
        _ => None,
    }
}

/// Whether `t` is a contiguous `f32` tensor on the CPU with `n` elements (what the in-place update reads).
fn fusable(t: &Tensor, n: usize) -> bool {
    t.device().is_cpu()
        && t.dtype() == DType::F32
        && t.elem_count() == n
        && t.layout().is_contiguous()
}

/// Elements per task of the in-place passes: large enough to amortize scheduling, small enough to share.
const CHUNK: usize = 1 << 16;

/// The whole update of one parameter in one parallel pass over `θ`, `m`, `v` and `g`, with the arithmetic of
/// [`composed_update`] in `f32`: `m ← β₁ m + (1 − β₁) s g`, `v ← β₂ v + (1 − β₂) (s g)²`, then
/// `θ ← θ (1 − lr λ) − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`. Each of `θ`, `m` and `v` is borrowed for
/// writing by its own in-place op, the three nested: [`ThetaPass`] holds `θ` and `g`, [`MomentPass`] `m`,
/// [`SecondMomentPass`] `v`, which runs the loop.
struct ThetaPass<'a> {
    k: &'a FusedCoefficients,
    m: &'a Tensor,
    v: &'a Tensor,
}

impl InplaceOp2 for ThetaPass<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        g: &CpuStorage,
        g_l: &Layout,
    ) -> candle_core::Result<()> {
        let theta = crate::cpu_fused::contiguous_f32_mut(dst, dst_l, self.name(), "parameter")?;
        let g = contiguous_f32(g, g_l, self.name(), "gradient")?;
        self.m.inplace_op1(&MomentPass {
            k: self.k,
            theta: RefCell::new(Some(theta)),
            g,
            v: self.v,
        })
    }
}

struct MomentPass<'a, 'b> {
    k: &'a FusedCoefficients,
    theta: RefCell<Option<&'b mut [f32]>>,
    g: &'b [f32],
    v: &'a Tensor,
}

impl InplaceOp1 for MomentPass<'_, '_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> candle_core::Result<()> {
        let m = crate::cpu_fused::contiguous_f32_mut(s, l, self.name(), "m")?;
        self.v.inplace_op1(&SecondMomentPass {
            k: self.k,
            theta: RefCell::new(self.theta.borrow_mut().take()),
            m: RefCell::new(Some(m)),
            g: self.g,
        })
    }
}

struct SecondMomentPass<'a, 'b> {
    k: &'a FusedCoefficients,
    theta: RefCell<Option<&'b mut [f32]>>,
    m: RefCell<Option<&'b mut [f32]>>,
    g: &'b [f32],
}

impl InplaceOp1 for SecondMomentPass<'_, '_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> candle_core::Result<()> {
        let v = crate::cpu_fused::contiguous_f32_mut(s, l, self.name(), "v")?;
        let (Some(theta), Some(m)) = (self.theta.borrow_mut().take(), self.m.borrow_mut().take())
        else {
            candle_core::bail!("adamw: the pass ran twice");
        };
        let g = self.g;
        if theta.len() != g.len() || m.len() != g.len() || v.len() != g.len() {
            candle_core::bail!("adamw: parameter, moments and gradient differ in size");
        }
        let k = self.k;
        let (b1, b2, s) = (k.beta1, k.beta2, k.grad_scale);
        theta
            .par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((theta, m), v), g)| {
                for (((t, m), v), &g) in theta.iter_mut().zip(m).zip(v).zip(g) {
                    let gi = g * s;
                    *m = *m * b1 + gi * (1.0 - b1);
                    *v = *v * b2 + gi * gi * (1.0 - b2);
                    *t = *t * k.decay - *m / (v.sqrt() / k.bc2_sqrt + k.eps) * k.step_size;
                }
            });
        Ok(())
    }
}

/// Whether [`fused_update`] applies: `θ`, `g` and the moments (if any) are contiguous `f32` CPU tensors of one size.
fn fusable_update(theta: &Tensor, g: &Tensor, previous: Option<&Moments>) -> bool {
    let n = theta.elem_count();
    fusable(theta, n)
        && fusable(g, n)
        && previous.is_none_or(|p| fusable(&p.exp_avg, n) && fusable(&p.exp_avg_sq, n))
}

/// The update of one parameter in place (where [`fusable_update`] holds), in one parallel pass over memory
/// ([`ThetaPass`]) and no allocation after the first step. `previous` is the parameter's state, `None` on its
/// first update (the moments start at zero); the updated state is returned.
fn fused_update(
    theta: &Tensor,
    g: &Tensor,
    previous: Option<Moments>,
    k: &FusedCoefficients,
) -> Result<Moments> {
    let moments = match previous {
        Some(p) => p,
        None => Moments {
            exp_avg: theta.zeros_like()?,
            exp_avg_sq: theta.zeros_like()?,
        },
    };
    theta.inplace_op2(
        g,
        &ThetaPass {
            k,
            m: &moments.exp_avg,
            v: &moments.exp_avg_sq,
        },
    )?;
    Ok(moments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
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

    #[test]
    fn a_file_written_tensor_by_tensor_has_the_bytes_made_in_memory() {
        let dev = Device::Cpu;
        let tensors = vec![
            (
                "b".to_string(),
                Tensor::randn(0f32, 1.0, (3, 300_000), &dev).unwrap(),
            ),
            (
                "a".to_string(),
                Tensor::randn(0f32, 1.0, (5, 7), &dev).unwrap().t().unwrap(),
            ),
            ("c".to_string(), Tensor::ones(4, DType::F64, &dev).unwrap()),
        ];
        let metadata = HashMap::from([("k".to_string(), "v".to_string())]);
        let dir = std::env::temp_dir().join(format!("gt-f32-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.safetensors");
        write_f32_safetensors(&path, &tensors, &metadata, false).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(bytes, f32_safetensors(&tensors, &metadata).unwrap());
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let a = st.tensor("a").unwrap();
        assert_eq!(a.shape(), &[7, 5]);
        let want: Vec<f32> = tensors[1].1.flatten_all().unwrap().to_vec1().unwrap();
        let got: Vec<f32> = a
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            got, want,
            "a strided tensor is written in its logical order"
        );
    }

    /// The fused pass computes what the tensor operations compute, on a first and a later step, with a
    /// clipping scale; a strided gradient is not taken by the fused pass.
    #[test]
    fn fused_update_equals_composed_operations() {
        let dev = Device::Cpu;
        let c = AdamWConfig {
            lr: 3e-3,
            weight_decay: 0.1,
            ..Default::default()
        };
        let (lr, scale) = (2e-3, 0.37);
        // One small tensor and one spanning several tasks of the parallel passes, with a partial last one.
        for shape in [(7, 5), (3, CHUNK + 17)] {
            let start = Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
            let theta = start.copy().unwrap();
            let mut composed = start.clone();
            let mut fused_state: Option<Moments> = None;
            let mut composed_state: Option<Moments> = None;
            for step in 1..=3 {
                let g = Tensor::randn(0f32, 0.1, shape, &dev).unwrap();
                assert!(fusable_update(&theta, &g, fused_state.as_ref()));
                let k = FusedCoefficients::new(&c, lr, step, scale);
                let fm = fused_update(&theta, &g, fused_state.take(), &k).unwrap();
                let (next, cm) =
                    composed_update(&composed, &g, composed_state.as_ref(), &c, lr, step, scale)
                        .unwrap();
                assert!(max_diff(&theta, &next) < 1e-6, "θ at step {step}");
                assert!(
                    max_diff(&fm.exp_avg, &cm.exp_avg) < 1e-7,
                    "m at step {step}"
                );
                assert!(
                    max_diff(&fm.exp_avg_sq, &cm.exp_avg_sq) < 1e-9,
                    "v at step {step}"
                );
                composed = next;
                fused_state = Some(fm);
                composed_state = Some(cm);
            }
            assert!(
                max_diff(&theta, &start) > 1e-4,
                "the updates move θ in place"
            );
        }
        let theta = Tensor::randn(0f32, 1.0, (7, 5), &dev).unwrap();
        let strided = Tensor::randn(0f32, 1.0, (5, 7), &dev).unwrap().t().unwrap();
        assert!(
            !fusable_update(&theta, &strided, None),
            "a strided gradient is composed"
        );
        let f64_grad = strided.t().unwrap().to_dtype(DType::F64).unwrap();
        assert!(!fusable_update(&theta, &f64_grad, None));
    }
}
