//! Gradient buffers that a training step's backward pass writes in place.
//!
//! candle's backward pass gives every gradient contribution a fresh tensor, then adds it into a zero tensor of the
//! parameter's size (`GradStore::or_insert`), so each step allocates, zeroes and adds over every weight; the tied
//! embedding of a small model (`[vocab, d]`, 113 MB for SmolLM2) goes through that twice, and the fresh buffers
//! above glibc's mmap threshold are faulted in page by page each time. A [`Sinks`] holds one persistent `f32`
//! buffer per parameter. While [`Sinks::scope`] runs a backward pass on a thread, the CPU kernels that produce a
//! parameter's gradient ([`crate::linear`]'s `∂W = gᵀ x`, the embedding's scatter) write or add it into the
//! parameter's buffer and give candle no gradient for it. The first writer of a step overwrites, later ones add
//! (a tied table gets the head's product, then the embedding's rows).
//!
//! Outside a scope, or for a tensor without a buffer (a view of a parameter, a frozen weight, another device),
//! the kernels return their gradient to candle as before.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, TensorId, Var};

struct Sink {
    /// The parameter, for the buffer's shape.
    param: Tensor,
    /// Allocated on the first write, so a step that never claims it costs nothing.
    grad: OnceLock<Tensor>,
    written: AtomicBool,
}

/// One gradient buffer per CPU `f32` parameter (see the module docs).
#[derive(Default)]
pub(crate) struct Sinks(HashMap<TensorId, Sink>);

thread_local! {
    static ACTIVE: RefCell<Option<Arc<Sinks>>> = const { RefCell::new(None) };
}

impl Sinks {
    /// A buffer for each of `params` that is a contiguous CPU `f32` tensor; the others keep candle's
    /// accumulation.
    pub(crate) fn for_params(params: &[(String, Var)]) -> Self {
        let map = params
            .iter()
            .map(|(_, v)| v.as_tensor())
            .filter(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
            .map(|t| {
                let sink = Sink {
                    param: t.clone(),
                    grad: OnceLock::new(),
                    written: AtomicBool::new(false),
                };
                (t.id(), sink)
            })
            .collect();
        Self(map)
    }

    /// Runs `f` (a backward pass) with every buffer unwritten and visible to the kernels on this thread.
    pub(crate) fn scope<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        for s in self.0.values() {
            s.written.store(false, Ordering::Relaxed);
        }
        struct Restore(Option<Arc<Sinks>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                ACTIVE.with(|a| *a.borrow_mut() = previous);
            }
        }
        let _restore = Restore(ACTIVE.with(|a| a.borrow_mut().replace(self.clone())));
        f()
    }

    /// Removes `t`'s gradient from `grads` and returns the whole of it, contiguous: the buffer written in the last
    /// scope, candle's gradient, or (a parameter also used through a view) their sum.
    pub(crate) fn take(&self, t: &Tensor, grads: &mut GradStore) -> Result<Option<Tensor>> {
        let g = match (self.written(t), grads.remove(t)) {
            (Some(a), Some(b)) => Some((a + b)?),
            (a, b) => a.or(b),
        };
        g.map(|g| g.contiguous()).transpose()
    }

    /// The gradient written for `t` in the last scope, if any kernel wrote one (the buffer itself, shared: it is
    /// overwritten by the next scope).
    pub(crate) fn written(&self, t: &Tensor) -> Option<Tensor> {
        self.0
            .get(&t.id())
            .filter(|s| s.written.load(Ordering::Relaxed))
            .and_then(|s| s.grad.get().cloned())
    }
}

/// The buffer of `t` in the active scope, with whether this is its first write of the scope (then the writer
/// overwrites it instead of adding); marks it written. `None` outside a scope or for a tensor without a buffer.
pub(crate) fn claim(t: &Tensor) -> Result<Option<(Tensor, bool)>> {
    let Some(sinks) = ACTIVE.with(|a| a.borrow().clone()) else {
        return Ok(None);
    };
    let Some(sink) = sinks.0.get(&t.id()) else {
        return Ok(None);
    };
    let grad = match sink.grad.get() {
        Some(g) => g.clone(),
        None => {
            let zeros = sink.param.zeros_like()?;
            sink.grad.get_or_init(|| zeros).clone()
        }
    };
    let first = !sink.written.swap(true, Ordering::Relaxed);
    Ok(Some((grad, first)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn claims_are_scoped_and_the_first_one_overwrites() {
        let var = Var::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
        let small = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
        let params = [
            ("w".to_string(), var.clone()),
            ("b".to_string(), small.clone()),
        ];
        let sinks = Arc::new(Sinks::for_params(&params[..1]));
        let claimed = |t: &Var| claim(t.as_tensor()).unwrap().map(|(_, first)| first);
        assert_eq!(claimed(&var), None, "no scope, no buffer");
        sinks.scope(|| {
            assert_eq!(claimed(&small), None, "not a parameter with a buffer");
            assert_eq!(claimed(&var), Some(true), "first write");
            assert_eq!(claimed(&var), Some(false), "second write adds");
        });
        assert_eq!(claimed(&var), None, "the scope ended");
        assert!(sinks.written(var.as_tensor()).is_some());
        sinks.scope(|| ());
        assert!(
            sinks.written(var.as_tensor()).is_none(),
            "a new scope starts unwritten"
        );
    }
}
