//! Hooks that let the test suite prove the boundary's guarantees: a Rust panic, synchronous or on the thread
//! pool, reaches JavaScript as an `INTERNAL_PANIC` error and never aborts the Node process.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{sync, CResult};
use crate::job::Job;

fn boom() -> CResult<bool> {
    panic!("deliberate panic raised by the self-test hook")
}

/// Panics inside the addon on the calling thread; throws `INTERNAL_PANIC`. For tests only.
#[napi(js_name = "__panicSelfTestSync")]
pub fn panic_self_test_sync(env: Env) -> Result<bool> {
    sync(&env, boom)
}

/// Panics inside the addon on the libuv thread pool; rejects with `INTERNAL_PANIC`. For tests only.
#[napi(js_name = "__panicSelfTest", ts_return_type = "Promise<boolean>")]
pub fn panic_self_test() -> AsyncTask<Job<bool>> {
    AsyncTask::new(Job::new(boom))
}
