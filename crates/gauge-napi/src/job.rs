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

/// The `AbortSignal` for napi's `AsyncTask` and a cancellation flag for the computation, raised when `signal`
/// aborts (also while the job runs) and raised from the start when it had already aborted before the call.
pub fn abort_parts(
    env: &Env,
    signal: Option<Object>,
) -> Result<(Option<AbortSignal>, Arc<AtomicBool>)> {
    let flag = Arc::new(AtomicBool::new(false));
    let Some(obj) = signal else {
        return Ok((None, flag));
    };
    let aborted: Option<bool> = obj.get_named_property("aborted").ok();
    // SAFETY: `obj` is a live value of this env; `from_napi_value` checks it is an AbortSignal-like object.
    let signal = unsafe { AbortSignal::from_napi_value(env.raw(), obj.raw())? };
    let raised = flag.clone();
    signal.on_abort(move || raised.store(true, Ordering::Relaxed));
    if aborted == Some(true) {
        flag.store(true, Ordering::Relaxed);
    }
    Ok((Some(signal), flag))
}

/// A progress callback callable from the job's thread: non-blocking, weak (it does not keep Node alive), with the
/// value passed as the single argument.
pub type ProgressFn<P> =
    napi::threadsafe_function::ThreadsafeFunction<P, (), P, Status, false, true>;

/// The thread-safe form of an optional JavaScript progress callback.
pub fn progress_fn<P>(f: Option<Function<P, ()>>) -> Result<Option<ProgressFn<P>>>
where
    P: JsValuesTupleIntoVec + 'static,
{
    f.map(|f| {
        f.build_threadsafe_function()
            .callee_handled::<false>()
            .weak::<true>()
            .build()
    })
    .transpose()
}
