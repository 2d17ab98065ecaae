//! Core errors become JavaScript `Error`s whose `code` property is the core's stable code.

use napi::bindgen_prelude::*;

/// The code of an error raised by a Rust panic that was caught at the boundary.
pub const PANIC: &str = "INTERNAL_PANIC";

/// The code of a rejection caused by a JavaScript callback (`onProgress`) that threw.
pub const CALLBACK_THREW: &str = "CALLBACK_THREW";

/// A JavaScript-bound error with a stable code.
#[derive(Debug)]
pub struct CodedError {
    pub code: &'static str,
    pub message: String,
}

impl From<gauge_core::Error> for CodedError {
    fn from(e: gauge_core::Error) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl CodedError {
    pub fn invalid(what: &str, reason: impl std::fmt::Display) -> Self {
        gauge_core::Error::InvalidArgument {
            what: what.into(),
            reason: reason.to_string(),
        }
        .into()
    }

    /// Builds the JS error object, `code` set, wrapped so napi throws or rejects with exactly that object.
    pub fn into_napi(self, env: &Env) -> Error {
        let base = Error::new(Status::GenericFailure, self.message.clone());
        match env.create_error(base) {
            Ok(mut obj) => match obj.set_named_property("code", self.code) {
                Ok(()) => Error::from(obj.to_unknown()),
                Err(e) => e,
            },
            Err(e) => e,
        }
    }
}

/// `Result` of the binding's internals.
pub type CResult<T> = std::result::Result<T, CodedError>;

/// Runs `f`, turning a panic into an `INTERNAL_PANIC` error.
pub fn guard<T>(f: impl FnOnce() -> CResult<T>) -> CResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(CodedError {
            code: PANIC,
            message: format!("internal error (a bug in gauge-transport, please report it): {what}"),
        })
    })
}

/// Runs `f` under [`guard`] and converts an error for throwing from a synchronous export.
pub fn sync<T>(env: &Env, f: impl FnOnce() -> CResult<T>) -> Result<T> {
    guard(f).map_err(|e| e.into_napi(env))
}

impl From<gauge_models::Error> for CodedError {
    fn from(e: gauge_models::Error) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}
