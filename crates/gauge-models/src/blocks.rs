//! The block-level view of a model: every family exposes `embed(ids) -> h_0`, `block(l, h_{l}) -> h_{l+1}`,
//! `final_norm` and `head`, so a caller can run one block at a time. [`crate::Model`]'s whole-model forward is
//! a loop over it. Each family builds every block from a weight source on its own (`Block::new(vb, …, l)`), so a
//! block can be loaded when it is needed and dropped afterwards.
//!
//! Shapes: ids `[batch, seq]` (`U32`), hidden states `[batch, seq, d]`, logits `[batch, seq, vocab]`, all `f32`.

use std::cell::RefCell;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::Result;

/// What a model's blocks share for one batch of sequences of length `seq`: RoPE tables and attention masks,
/// computed on first use and reused by every block that asks for the same key.
pub struct Context {
    /// The sequence length.
    pub seq: usize,
    /// Where the batch lives.
    pub device: Device,
    cache: RefCell<Vec<(String, Tensor)>>,
}

impl Context {
    /// A context for sequences of `seq` positions on `device`.
    pub fn new(seq: usize, device: &Device) -> Self {
        Self {
            seq,
            device: device.clone(),
            cache: RefCell::new(Vec::new()),
        }
    }

    /// The tensor cached under `key`, made by `make` the first time.
    pub fn cached(&self, key: &str, make: impl FnOnce() -> Result<Tensor>) -> Result<Tensor> {
        if let Some((_, t)) = self.cache.borrow().iter().find(|(k, _)| k == key) {
            return Ok(t.clone());
        }
        let t = make()?;
        self.cache.borrow_mut().push((key.to_string(), t.clone()));
        Ok(t)
    }
}

/// The sizes of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// The number of blocks `L`.
    pub layers: usize,
    /// The residual width `d`.
    pub hidden: usize,
    /// The vocabulary size `V`.
    pub vocab: usize,
    /// The longest sequence the model can run, where it has a hard limit (learned positions).
    pub max_positions: Option<usize>,
}

/// What [`Blocks::with_block`] hands its caller: the loaded block, as a function `h_l -> h_{l+1}` to run on as many
/// inputs as needed while the block is held.
pub type RunBlock<'a> =
    &'a mut dyn FnMut(&dyn Fn(&Tensor, &Context) -> Result<Tensor>) -> Result<()>;

/// The blocks of a model: built once and kept (resident), or built from the weight source each time one is
/// needed and dropped afterwards (streamed), so that a streamed model holds one block at a time.
pub(crate) struct Layers<B> {
    resident: Vec<B>,
    /// The source of block `l` is `vb.pp(l)`.
    vb: VarBuilder<'static>,
}

impl<B> Layers<B> {
    /// `count` blocks under `vb` (`vb.pp(l)` for block `l`), built now unless `streamed`.
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        count: usize,
        streamed: bool,
        build: impl Fn(VarBuilder<'static>, usize) -> Result<B>,
    ) -> Result<Self> {
        let resident = if streamed {
            Vec::new()
        } else {
            (0..count)
                .map(|l| build(vb.pp(l.to_string()), l))
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Self { resident, vb })
    }

    /// Runs `f` on block `l`: the resident one, or one built by `build` and dropped when `f` returns.
    pub(crate) fn with<R>(
        &self,
        l: usize,
        build: impl FnOnce(VarBuilder<'static>, usize) -> Result<B>,
        f: impl FnOnce(&B) -> Result<R>,
    ) -> Result<R> {
        match self.resident.get(l) {
            Some(b) => f(b),
            None => f(&build(self.vb.pp(l.to_string()), l)?),
        }
    }
}

/// A model run block by block. Implemented once per family.
pub trait Blocks: Send + Sync {
    /// The model's sizes.
    fn dims(&self) -> Dims;

    /// Checks that sequences of `seq` positions can be run (learned positions, unsupported windows).
    fn check_seq(&self, _seq: usize) -> Result<()> {
        Ok(())
    }

    /// `h_0`, the embeddings output: ids `[batch, seq]` to `[batch, seq, d]`.
    fn embed(&self, ids: &Tensor, ctx: &Context) -> Result<Tensor>;

    /// Holds block `l` (`0 ≤ l < L`; loaded from the weight source when the model is streamed) while `run` uses
    /// it as `h_l -> h_{l+1}`, both `[batch, seq, d]`.
    fn with_block(&self, l: usize, run: RunBlock) -> Result<()>;

    /// Block `l` on one input: `h_l` to `h_{l+1}`.
    fn block(&self, l: usize, h: &Tensor, ctx: &Context) -> Result<Tensor> {
        let mut out = None;
        self.with_block(l, &mut |f| {
            out = Some(f(h, ctx)?);
            Ok(())
        })?;
        Ok(out.expect("with_block runs its block"))
    }

    /// The final norm `norm(h_L)` (an encoder without one returns `h_L`).
    fn final_norm(&self, h: &Tensor) -> Result<Tensor>;

    /// Logits `[batch, seq, vocab]` from the final norm's output; an error for models without an output head.
    fn head(&self, x: &Tensor) -> Result<Tensor>;
}
