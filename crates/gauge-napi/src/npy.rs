//! `.npy` input and output for score and correlation matrices.

use std::path::Path;

use gauge_core::npy;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::sync;

/// A floating-point matrix read from a `.npy` file, converted to `f32`.
#[napi(object)]
pub struct NpyMatrix {
    /// Row-major data.
    pub data: Float32Array,
    /// Number of rows.
    pub rows: u32,
    /// Number of columns.
    pub cols: u32,
}

/// Reads a 2-D float32 or float64 `.npy` file as a row-major `Float32Array`; with `vectors`, a 1-D `[d]` file is
/// read too, as one row. Throws `NPY_FORMAT` for malformed files and `NPY_DTYPE` for other dtypes, naming the file.
#[napi]
pub fn read_npy_matrix(env: Env, path: String, vectors: Option<bool>) -> Result<NpyMatrix> {
    sync(&env, || {
        let (data, rows, cols) = if vectors.unwrap_or(false) {
            npy::read_vectors_f32(Path::new(&path))?
        } else {
            npy::read_matrix_f32(Path::new(&path))?
        };
        Ok(NpyMatrix {
            data: Float32Array::new(data),
            rows: rows as u32,
            cols: cols as u32,
        })
    })
}

/// Writes a row-major float32 array of `shape` to a `.npy` file atomically; `OUTPUT_EXISTS` unless `overwrite`.
#[napi]
pub fn write_npy(
    env: Env,
    path: String,
    data: Float32Array,
    shape: Vec<u32>,
    overwrite: Option<bool>,
) -> Result<()> {
    sync(&env, || {
        let shape: Vec<usize> = shape.into_iter().map(|s| s as usize).collect();
        Ok(npy::write_f32(
            Path::new(&path),
            &data,
            &shape,
            overwrite.unwrap_or(false),
        )?)
    })
}
