//! The one error type of the core, with a stable machine-readable code per variant.
//!
//! Codes cross the napi boundary unchanged (`err.code` in JavaScript), so they are part of the public API:
//! add new ones, never rename old ones.

use std::path::PathBuf;

/// Everything that can go wrong in `gauge-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `perm` is not a permutation of `0..d`.
    #[error("{what}: perm is not a permutation of 0..{d}: {detail}")]
    NotPermutation {
        /// The argument or file being validated.
        what: String,
        /// Length of the gauge.
        d: usize,
        /// Which entry is wrong.
        detail: String,
    },
    /// A sign entry other than +1 or -1.
    #[error("{what}: sign[{index}] = {value}, but every sign must be +1 or -1")]
    BadSign {
        /// The argument or file being validated.
        what: String,
        /// Position of the offending entry.
        index: usize,
        /// The offending value.
        value: i64,
    },
    /// Two objects that must share a dimension do not.
    #[error("{what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// The argument being checked.
        what: String,
        /// What the shape should have been.
        expected: String,
        /// What it was.
        got: String,
    },
    /// A score or activation is NaN or infinite.
    #[error("{what}: entry ({row}, {col}) is {value}; scores must be finite")]
    NonFinite {
        /// The argument being checked.
        what: String,
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// An input with no entries where at least one is required.
    #[error("{what} is empty")]
    Empty {
        /// The argument being checked.
        what: String,
    },
    /// An assignment problem with more rows than columns has no perfect matching of the rows.
    #[error("{what}: {rows} rows > {cols} columns; every row needs its own column (transpose the scores)")]
    RowsExceedColumns {
        /// The argument being checked.
        what: String,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// An argument outside its domain.
    #[error("{what}: {reason}")]
    InvalidArgument {
        /// The argument.
        what: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A gauge file that parses as safetensors but breaks the gauge file contract.
    #[error("{path}: not a gauge file: {reason}")]
    GaugeFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes that are not valid safetensors.
    #[error("{path}: invalid safetensors: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// The files of a checkpoint disagree with one another: `config.json` and the tensors (a block the config
    /// counts has no tensors, tensors of a block it does not count, a tensor the architecture requires is
    /// missing), or the shard index and the shards (a shard that does not exist, a tensor in another shard than
    /// the index says, a tensor the index does not list). Shapes that disagree with the config are
    /// [`Error::ShapeMismatch`].
    #[error("{path}: {reason}")]
    CheckpointMismatch {
        /// The file in which the disagreement shows (`config.json`, the index or a shard).
        path: PathBuf,
        /// What disagrees, naming the tensor.
        reason: String,
    },
    /// A malformed `.npy` file.
    #[error("{path}: invalid .npy: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A well-formed `.npy` file of a dtype this reader does not take.
    #[error("{path}: unsupported .npy dtype {dtype:?}; expected {expected}")]
    NpyDtype {
        /// The file.
        path: PathBuf,
        /// The dtype descriptor found.
        dtype: String,
        /// The dtypes accepted here.
        expected: String,
    },
    /// The output path exists and overwriting was not asked for.
    #[error(
        "{path}: already exists; refusing to overwrite it (choose another path, or pass `--overwrite` / `overwrite: true` where the command offers it)"
    )]
    OutputExists {
        /// The path.
        path: PathBuf,
    },
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The caller cancelled a long computation.
    #[error("{what} was aborted")]
    Aborted {
        /// The computation.
        what: String,
    },
}

impl Error {
    /// The stable code of this error, as seen by JavaScript callers in `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotPermutation { .. } => "GAUGE_NOT_PERMUTATION",
            Error::BadSign { .. } => "GAUGE_BAD_SIGN",
            Error::ShapeMismatch { .. } => "SHAPE_MISMATCH",
            Error::NonFinite { .. } => "NON_FINITE",
            Error::Empty { .. } => "EMPTY_INPUT",
            Error::RowsExceedColumns { .. } => "ROWS_EXCEED_COLUMNS",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::GaugeFile { .. } => "GAUGE_FILE",
            Error::Safetensors { .. } => "SAFETENSORS_HEADER",
            Error::CheckpointMismatch { .. } => "CHECKPOINT_MISMATCH",
            Error::Npy { .. } => "NPY_FORMAT",
            Error::NpyDtype { .. } => "NPY_DTYPE",
            Error::OutputExists { .. } => "OUTPUT_EXISTS",
            Error::Io { .. } => "IO",
            Error::Aborted { .. } => "ABORTED",
        }
    }

    /// An [`Error::Io`] naming `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn mismatch(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::CheckpointMismatch {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::ShapeMismatch {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}

/// `Result` with the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
