//! Weights outside the blocks that a streamed model reads only when a pass needs them: the token embedding table
//! (`[vocab, d]`, the largest tensor of most checkpoints) and an untied output head. A resident model builds them
//! once; a streamed one builds them on every use and drops them after, so that memory holds at most one such table
//! or one block at a time.

use candle_core::{Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::linear::Linear;

use crate::error::Result;

type Build<T> = Box<dyn Fn() -> Result<T> + Send + Sync>;

/// A value built once (resident) or on every use (streamed).
pub(crate) struct Lazy<T> {
    value: Option<T>,
    build: Build<T>,
}

impl<T> Lazy<T> {
    /// Builds now unless `streamed`.
    pub(crate) fn new(
        streamed: bool,
        build: impl Fn() -> Result<T> + Send + Sync + 'static,
    ) -> Result<Self> {
        let value = if streamed { None } else { Some(build()?) };
        Ok(Self {
            value,
            build: Box::new(build),
        })
    }

    /// Runs `f` on the value: the kept one, or one built for the call.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> Result<R>) -> Result<R> {
        match &self.value {
            Some(v) => f(v),
            None => f(&(self.build)()?),
        }
    }
}

/// A token (or position) embedding `[rows, d]` under `vb` (`weight`).
pub(crate) struct Table {
    lazy: Lazy<Embedding>,
    vb: VarBuilder<'static>,
    rows: usize,
    d: usize,
}

impl Table {
    pub(crate) fn new(
        vb: VarBuilder<'static>,
        rows: usize,
        d: usize,
        streamed: bool,
    ) -> Result<Self> {
        let source = vb.clone();
        let lazy = Lazy::new(streamed, move || {
            Ok(candle_nn::embedding(rows, d, source.clone())?)
        })?;
        Ok(Self { lazy, vb, rows, d })
    }

    /// The rows of `ids` (`[..]` of `U32`), `[.., d]`.
    pub(crate) fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.lazy
            .with(|e| Ok(crate::embedding::lookup(e.embeddings(), ids)?))
    }

    /// An output head that is this table (`tie_word_embeddings`): the kept tensor when resident, the table read
    /// again on each use when streamed.
    pub(crate) fn tied_head(&self) -> Result<Lazy<Linear>> {
        if let Some(e) = &self.lazy.value {
            let w = e.embeddings().clone();
            let keep = w.clone();
            return Ok(Lazy {
                value: Some(Linear::new(w, None)),
                build: Box::new(move || Ok(Linear::new(keep.clone(), None))),
            });
        }
        let (vb, rows, d) = (self.vb.clone(), self.rows, self.d);
        Lazy::new(true, move || {
            Ok(Linear::new(vb.get((rows, d), "weight")?, None))
        })
    }
}

/// An untied output head `[vocab, d]` (no bias) under `vb`.
pub(crate) fn head(
    vb: VarBuilder<'static>,
    d: usize,
    vocab: usize,
    streamed: bool,
) -> Result<Lazy<Linear>> {
    Lazy::new(streamed, move || {
        Ok(candle_nn::linear_no_bias(d, vocab, vb.clone())?.into())
    })
}

impl Lazy<Linear> {
    /// `x Wᵀ`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.with(|l| Ok(l.forward(x)?))
    }
}
