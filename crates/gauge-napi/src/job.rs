//! A background job for the libuv thread pool: runs a closure off the event loop, catches panics, and rejects
//! the Promise with a coded error.
//!
//! Aborts and progress callbacks are the binding's, not napi's: a job that an `AbortSignal` aborts rejects with
//! `ABORTED` whenever the abort comes before the Promise settles (queued, running, or finished and waiting to
//! resolve), and a progress callback that throws rejects the Promise instead of reaching Node's
//! `uncaughtException`, which would end the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;

use crate::error::{guard, CResult, CodedError, CALLBACK_THREW};

type Work<T> = Box<dyn FnOnce() -> CResult<T> + Send>;

/// A closure whose result resolves a Promise.
pub struct Job<T: Send + 'static> {
    work: Option<Work<T>>,
    abort: Option<(Arc<AtomicBool>, &'static str)>,
}

impl<T: Send + 'static> Job<T> {
    pub fn new(work: impl FnOnce() -> CResult<T> + Send + 'static) -> Self {
        Self {
            work: Some(Box::new(work)),
            abort: None,
        }
    }

    /// A job that `flag` (from [`abort_flag`]) aborts: it rejects with `ABORTED` (naming `what`) when the flag is
    /// raised before it starts, or at any time before its Promise settles, even when the work itself finished.
    /// The work polls the flag itself while it runs.
    pub fn abortable(
        flag: Arc<AtomicBool>,
        what: &'static str,
        work: impl FnOnce() -> CResult<T> + Send + 'static,
    ) -> Self {
        Self {
            work: Some(Box::new(work)),
            abort: Some((flag, what)),
        }
    }

    /// `ABORTED` once the job's flag is raised.
    fn check_abort(&self) -> CResult<()> {
        match &self.abort {
            Some((flag, what)) if flag.load(Ordering::Relaxed) => Err(gauge_core::Error::Aborted {
                what: (*what).into(),
            }
            .into()),
            _ => Ok(()),
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
        if let Err(e) = self.check_abort() {
            return Ok(Err(e));
        }
        let work = self.work.take();
        let t0 = std::time::Instant::now();
        let out = guard(move || match work {
            Some(f) => f(),
            None => Err(CodedError::invalid("job", "computed twice")),
        });
        // A long job (training, statistics, a forward pass) freed large buffers: give them back to the system. After
        // an abort that happens on another thread, so that the trim (tens of milliseconds on a large heap) does
        // not delay the rejection the caller is waiting for.
        if t0.elapsed() > std::time::Duration::from_millis(200) {
            if matches!(&out, Err(e) if e.code == "ABORTED") {
                std::thread::spawn(crate::allocator::release);
            } else {
                crate::allocator::release();
            }
        }
        Ok(out)
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        // An abort that arrived after the work's last poll still wins: the caller asked for no result.
        self.check_abort()
            .and(output)
            .map_err(|e| e.into_napi(&env))
    }
}

/// A cancellation flag for a computation, raised when `signal` aborts (also while the job runs) and raised from
/// the start when it had already aborted before the call. The signal is not handed to napi's `AsyncTask`: its
/// cancellation of a queued job rejects with a generic `AbortError`, and a reused signal stops notifying later
/// calls once an earlier one completed. [`Job::abortable`] gives every abort the code `ABORTED`.
pub fn abort_flag(env: &Env, signal: Option<Object>) -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let Some(obj) = signal else {
        return Ok(flag);
    };
    let aborted: Option<bool> = obj.get_named_property("aborted").ok();
    // SAFETY: `obj` is a live value of this env; `from_napi_value` checks it is an AbortSignal-like object.
    let signal = unsafe { AbortSignal::from_napi_value(env.raw(), obj.raw())? };
    let raised = flag.clone();
    signal.on_abort(move || raised.store(true, Ordering::Relaxed));
    if aborted == Some(true) {
        flag.store(true, Ordering::Relaxed);
    }
    Ok(flag)
}

/// A progress callback callable from the job's thread: non-blocking, weak (it does not keep Node alive), with the
/// value passed as the single argument.
type ProgressFn<P> = napi::threadsafe_function::ThreadsafeFunction<P, (), P, Status, false, true>;

/// How long [`Progress::finish`] waits for calls still queued on the event loop.
const DELIVERY_WAIT: Duration = Duration::from_secs(2);

/// An optional JavaScript progress callback, called from the job's thread without blocking it.
///
/// The first exception the callback throws is kept instead of reaching `uncaughtException`; from then on
/// [`Progress::failed`] is true (the job's loop stops) and no more calls are made. [`Progress::finish`] waits
/// for the calls made so far to run (so every event has been delivered when the Promise settles) and turns a
/// kept exception into the job's error (`CALLBACK_THREW`, with its message).
pub struct Progress<P: JsValuesTupleIntoVec + 'static> {
    tsfn: Option<ProgressFn<P>>,
    what: &'static str,
    state: Arc<Delivery>,
}

#[derive(Default)]
struct Delivery {
    /// Calls queued and not yet run (or dropped).
    pending: Mutex<usize>,
    idle: Condvar,
    failed: AtomicBool,
    thrown: Mutex<Option<String>>,
}

/// Counts one queued call; dropped when the call has run or was discarded.
struct Pending(Arc<Delivery>);

impl Drop for Pending {
    fn drop(&mut self) {
        let mut n = self.0.pending.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        self.0.idle.notify_all();
    }
}

impl<P: JsValuesTupleIntoVec + 'static> Progress<P> {
    /// The thread-safe form of the optional callback `f`; `what` names it in errors (`onProgress`).
    pub fn new(f: Option<Function<P, ()>>, what: &'static str) -> Result<Self> {
        let tsfn = f
            .map(|f| {
                f.build_threadsafe_function()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build()
            })
            .transpose()?;
        Ok(Self {
            tsfn,
            what,
            state: Arc::default(),
        })
    }

    /// Queues a call with `value` (nothing when there is no callback or it has thrown).
    pub fn report(&self, value: P) {
        let Some(f) = &self.tsfn else { return };
        if self.failed() {
            return;
        }
        *self.state.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let pending = Pending(self.state.clone());
        f.call_with_return_value(
            value,
            ThreadsafeFunctionCallMode::NonBlocking,
            move |result: Result<()>, _env| {
                if let Err(e) = result {
                    let state = &pending.0;
                    let mut thrown = state.thrown.lock().unwrap_or_else(|e| e.into_inner());
                    thrown.get_or_insert(e.reason.clone());
                    state.failed.store(true, Ordering::Relaxed);
                }
                drop(pending);
                Ok(())
            },
        );
    }

    /// Whether the callback has thrown.
    pub fn failed(&self) -> bool {
        self.state.failed.load(Ordering::Relaxed)
    }

    /// Waits (up to two seconds) for the queued calls to run, then returns `result`, or `CALLBACK_THREW` when the
    /// callback threw.
    pub fn finish<T>(&self, result: CResult<T>) -> CResult<T> {
        let deadline = Instant::now() + DELIVERY_WAIT;
        let mut n = self.state.pending.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            n = self
                .state
                .idle
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(n);
        let thrown = self
            .state
            .thrown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match thrown {
            Some(reason) => Err(CodedError {
                code: CALLBACK_THREW,
                message: format!("{} threw: {reason}", self.what),
            }),
            None => result,
        }
    }
}
