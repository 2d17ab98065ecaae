//! The error type of `gauge-models`, with a stable machine-readable code per variant (like `gauge-core`'s).

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The checkpoint could not be opened or read (codes of `gauge-core`, e.g. `SAFETENSORS_HEADER`, `IO`).
    #[error(transparent)]
    Core(#[from] gauge_core::Error),
    /// A tensor operation failed inside candle: a missing tensor, a tensor of the wrong shape, a device error.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// `config.json` lacks a field the forward pass needs, or holds one of the wrong type.
    #[error("{path}: {key}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A model or a model feature that this crate does not run (rather than running it wrongly).
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// The feature, e.g. `rope_scaling` or an architecture.
        what: String,
        /// Why, and what is supported.
        reason: String,
    },
    /// Token ids or requested sites that do not fit the model.
    #[error("{what}: {reason}")]
    InvalidInput {
        /// The argument.
        what: String,
        /// Why it is rejected.
        reason: String,
    },
}

impl Error {
    /// The stable code of this error; a wrapped `gauge-core` error keeps its own code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Candle(_) => "MODEL_TENSOR",
            Error::Config { .. } => "MODEL_CONFIG",
            Error::Unsupported { .. } => "MODEL_UNSUPPORTED",
            Error::InvalidInput { .. } => "INVALID_ARGUMENT",
        }
    }

    pub(crate) fn unsupported(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn input(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
