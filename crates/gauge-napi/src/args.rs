//! Validation of numeric arguments: JavaScript numbers arrive as `f64`, and a fractional, negative or huge
//! value must be an `INVALID_ARGUMENT` naming the argument, never a silent truncation.

use crate::error::{CResult, CodedError};

/// An integer in `[min, max]` (both at most 2^53).
pub fn integer(x: f64, what: &str, min: u64, max: u64) -> CResult<u64> {
    if x.fract() != 0.0 || !(min as f64..=max as f64).contains(&x) {
        return Err(CodedError::invalid(
            what,
            format!("{x} is not an integer in [{min}, {max}]"),
        ));
    }
    Ok(x as u64)
}

/// A count or index below 2^32.
pub fn index(x: f64, what: &str) -> CResult<usize> {
    integer(x, what, 0, u32::MAX as u64).map(|v| v as usize)
}

/// A dimension: a positive integer below 2^32.
pub fn dim(x: f64, what: &str) -> CResult<usize> {
    integer(x, what, 1, u32::MAX as u64).map(|v| v as usize)
}

/// A seed: an integer in `[0, 2^53)`, 0 when absent.
pub fn seed(x: Option<f64>) -> CResult<u64> {
    integer(x.unwrap_or(0.0), "seed", 0, (1 << 53) - 1)
}
