//! A background job for the libuv thread pool: runs a closure off the event loop, catches panics, and rejects
//! the Promise with a coded error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;

use crate::error::{guard, CResult, CodedError};

type Work<T> = Box<dyn FnOnce() -> CResult<T> + Send>;

/// A closure whose result resolves a Promise.
pub struct Job<T: Send + 'static> {
    work: Option<Work<T>>,
}

impl<T: Send + 'static> Job<T> {
    pub fn new(work: impl FnOnce() -> CResult<T> + Send + 'static) -> Self {
        Self {
            work: Some(Box::new(work)),
        }
    }
}

impl<T> Task for Job<T>
where
    T: Send + ToNapiValue + TypeName + 'static,
{
    type Output = CResult<T>;
    type JsValue = T;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self.work.take();
        Ok(guard(move || match work {
            Some(f) => f(),
            None => Err(CodedError::invalid("job", "computed twice")),
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|e| e.into_napi(&env))
    }
}

/// A cancellation flag raised when `signal` aborts, also while the job is already running.
pub fn cancel_flag(signal: Option<&AbortSignal>) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    if let Some(signal) = signal {
        let raised = flag.clone();
        signal.on_abort(move || raised.store(true, Ordering::Relaxed));
    }
    flag
}
