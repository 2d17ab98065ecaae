//! Weights outside the blocks that a streamed model reads only when a pass needs them: the token embedding table
//! (`[vocab, d]`, the largest tensor of most checkpoints) and an untied output head. A resident model builds them
//! once; a streamed one builds them on every use and drops them after, so that memory holds at most one such table
//! or one block at a time. A pass that uses one several times in a row (every sub-batch of a chunk through the
//! embedding, every sub-batch's last positions through the head) runs those uses inside [`hold`], which builds
//! each value once for all of them.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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

    /// Runs `f` on the value: the kept one, the one built earlier in the enclosing [`hold`], or one built for the
    /// call.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> Result<R>) -> Result<R>
    where
        T: 'static,
    {
        if let Some(v) = &self.value {
            return f(v);
        }
        let key = self as *const Self as usize;
        let held = HELD.with(|h| h.borrow().as_ref().map(|m| m.get(&key).cloned()));
        match held {
            None => f(&(self.build)()?),
            Some(Some(v)) => f(v
                .downcast_ref::<T>()
                .expect("held under its own Lazy's address")),
            Some(None) => {
                let v = Rc::new((self.build)()?);
                HELD.with(|h| {
                    if let Some(m) = h.borrow_mut().as_mut() {
                        m.insert(key, v.clone() as Rc<dyn Any>);
                    }
                });
                f(&v)
            }
        }
    }
}

thread_local! {
    /// The values built inside the current [`hold`] on this thread, by the address of their [`Lazy`].
    static HELD: RefCell<Option<HashMap<usize, Rc<dyn Any>>>> = const { RefCell::new(None) };
}

/// Runs `f` with every streamed [`Lazy`] that it uses on this thread built at most once: a table or head that `f`
/// applies to several sub-batches is read from the checkpoint once, and dropped when `f` returns (or unwinds).
/// Nested calls share the outermost scope. The values are held by address, so `f` must not drop a [`Lazy`] it used.
pub(crate) fn hold<R>(f: impl FnOnce() -> R) -> R {
    /// Ends the scope it opened, on return and on unwinding alike.
    struct Scope(bool);
    impl Drop for Scope {
        fn drop(&mut self) {
            if self.0 {
                HELD.with(|h| *h.borrow_mut() = None);
            }
        }
    }
    let _scope = Scope(HELD.with(|h| {
        let mut h = h.borrow_mut();
        let outermost = h.is_none();
        if outermost {
            *h = Some(HashMap::new());
        }
        outermost
    }));
    f()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A streamed `Lazy` and the number of times it has been built.
    fn counted() -> (Lazy<usize>, Arc<AtomicUsize>) {
        let builds = Arc::new(AtomicUsize::new(0));
        let b = builds.clone();
        let lazy = Lazy::new(true, move || Ok(b.fetch_add(1, Ordering::Relaxed) + 1)).unwrap();
        (lazy, builds)
    }

    #[test]
    fn hold_builds_each_streamed_value_once_for_its_scope() {
        let (a, built_a) = counted();
        let (b, built_b) = counted();
        let use_ = |l: &Lazy<usize>| l.with(|v| Ok(*v)).unwrap();
        // Outside a scope, every use builds.
        assert_eq!((use_(&a), use_(&a)), (1, 2));
        // Inside, once per value, nested scopes included; `b` is held beside `a`.
        hold(|| {
            assert_eq!(use_(&a), 3);
            assert_eq!(use_(&b), 1);
            hold(|| assert_eq!((use_(&a), use_(&b)), (3, 1)));
            assert_eq!(use_(&a), 3);
        });
        assert_eq!(built_a.load(Ordering::Relaxed), 3);
        assert_eq!(built_b.load(Ordering::Relaxed), 1);
        // The scope ended, so the next use builds again, and a scope that unwinds ends too.
        assert_eq!(use_(&a), 4);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hold(|| {
                use_(&a);
                panic!("inside the scope");
            })
        }));
        assert!(unwound.is_err());
        assert_eq!(use_(&a), 6);
        // A resident value is the kept one, inside a scope or not.
        let r = Lazy::new(false, || Ok(7usize)).unwrap();
        assert_eq!((use_(&r), hold(|| use_(&r))), (7, 7));
    }
}
