//! Typed reads of `config.json` fields, with errors that name the file and the key.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A checkpoint's `config.json` and where it came from.
pub(crate) struct Config<'a> {
    json: &'a serde_json::Value,
    path: PathBuf,
}

impl<'a> Config<'a> {
    pub(crate) fn new(json: &'a serde_json::Value, path: PathBuf) -> Self {
        Self { json, path }
    }

    /// The whole `config.json`.
    pub(crate) fn json(&self) -> &'a serde_json::Value {
        self.json
    }

    fn bad(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The value at `key`, treating JSON `null` as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a serde_json::Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    /// A required positive integer.
    pub(crate) fn usize(&self, key: &str) -> Result<usize> {
        self.usize_or(key, None)?
            .ok_or_else(|| self.bad(key, "is missing (expected a positive integer)"))
    }

    /// An optional positive integer; `default` when absent.
    pub(crate) fn usize_or(&self, key: &str, default: Option<usize>) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.bad(key, format!("is {v}, expected a positive integer"))),
        }
    }

    /// An optional positive finite number; `default` when absent.
    pub(crate) fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| self.bad(key, format!("is {v}, expected a positive number"))),
        }
    }

    /// An optional boolean; `default` when absent.
    pub(crate) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.bad(key, format!("is {v}, expected true or false"))),
        }
    }

    /// An optional string; `default` when absent.
    pub(crate) fn str_or(&self, key: &str, default: &'a str) -> Result<&'a str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.bad(key, format!("is {v}, expected a string"))),
        }
    }

    /// Fails with a config error on `key`.
    pub(crate) fn reject(&self, key: &str, reason: impl Into<String>) -> Error {
        self.bad(key, reason)
    }
}
