//! NumPy `.npy` files (format versions 1-3): reading numeric arrays of the dtypes the project consumes and writing
//! `f32` arrays. Untrusted bytes: every length is checked before use.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::atomic;
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The element data of an array, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `<f4`
    F32(Vec<f32>),
    /// `<f8`
    F64(Vec<f64>),
    /// `<i4`
    I32(Vec<i32>),
    /// `<i8`
    I64(Vec<i64>),
}

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The elements in C order (Fortran-ordered files are transposed on read).
    pub data: NpyData,
}

impl NpyArray {
    /// The data as `f32`, converting `f64` (rounding) and rejecting integer dtypes; `path` names the file.
    pub fn into_f32(self, path: &Path) -> Result<Vec<f32>> {
        match self.data {
            NpyData::F32(v) => Ok(v),
            NpyData::F64(v) => Ok(v.into_iter().map(|x| x as f32).collect()),
            NpyData::I32(_) => Err(dtype_error(path, "<i4", "float32 or float64")),
            NpyData::I64(_) => Err(dtype_error(path, "<i8", "float32 or float64")),
        }
    }
}

fn dtype_error(path: &Path, dtype: &str, expected: &str) -> Error {
    Error::NpyDtype {
        path: path.into(),
        dtype: dtype.into(),
        expected: expected.into(),
    }
}

/// The longest `.npy` header read (numpy itself refuses headers over 10,000 bytes unless told otherwise).
const MAX_HEADER: usize = 1 << 20;

/// Reads a `.npy` file. Its header is read first, and the file's length checked against the data its shape and
/// dtype need before the data is read (a device, or a file longer than its header says, is refused at once).
pub fn read(path: &Path) -> Result<NpyArray> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    let mut fill = |bytes: &mut Vec<u8>, upto: usize| -> Result<()> {
        let more = upto.saturating_sub(bytes.len()) as u64;
        (&mut file)
            .take(more)
            .read_to_end(bytes)
            .map_err(|e| Error::io(path, e))
            .map(drop)
    };
    fill(&mut bytes, 12)?;
    let (header_len, start) = preamble(&bytes, path)?;
    if header_len > MAX_HEADER {
        return Err(Error::Npy {
            path: path.into(),
            reason: format!("header length {header_len} exceeds the {MAX_HEADER} bytes read"),
        });
    }
    fill(&mut bytes, start + header_len)?;
    let layout = layout(&bytes, path)?;
    let total = layout
        .end
        .checked_add(layout.needed)
        .ok_or_else(|| Error::Npy {
            path: path.into(),
            reason: format!("shape {:?} overflows", layout.shape),
        })?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?;
    if len.is_file() && len.len() != total as u64 {
        return Err(Error::Npy {
            path: path.into(),
            reason: format!(
                "shape {:?} of {} needs {} data bytes, the file has {}",
                layout.shape,
                layout.descr,
                layout.needed,
                len.len().saturating_sub(layout.end as u64)
            ),
        });
    }
    let bytes = crate::bounded::read_from(file, path, total as u64, bytes)?;
    parse(&bytes, path)
}

/// The header length and where the header starts, from the first 10 (version 1) or 12 bytes.
fn preamble(bytes: &[u8], path: &Path) -> Result<(usize, usize)> {
    let bad = |reason: String| Error::Npy {
        path: path.into(),
        reason,
    };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("missing the \\x93NUMPY magic string".into()));
    }
    match bytes[6] {
        1 => Ok((u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize)),
        2 | 3 if bytes.len() >= 12 => Ok((
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )),
        v => Err(bad(format!("unsupported format version {v}"))),
    }
}

/// What a `.npy` header says about the data that follows it.
struct Layout {
    shape: Vec<usize>,
    descr: String,
    kind: u8,
    size: usize,
    little: bool,
    fortran: bool,
    /// Offset of the first data byte.
    end: usize,
    /// Data bytes the shape and dtype need.
    needed: usize,
}

/// Parses the preamble and header of `.npy` bytes (the data need not be there).
fn layout(bytes: &[u8], path: &Path) -> Result<Layout> {
    let bad = |reason: String| Error::Npy {
        path: path.into(),
        reason,
    };
    let (header_len, start) = preamble(bytes, path)?;
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(format!(
                "header length {header_len} runs past the end of the file"
            ))
        })?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("header is not UTF-8".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad("header has no 'descr'".into()))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let fortran = match dict_value(header, "fortran_order").map(str::trim) {
        Some("False") => false,
        Some("True") => true,
        _ => return Err(bad("header has no valid 'fortran_order'".into())),
    };
    let shape = parse_shape(
        dict_value(header, "shape").ok_or_else(|| bad("header has no 'shape'".into()))?,
    )
    .ok_or_else(|| bad("header 'shape' is not a tuple of non-negative integers".into()))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let (kind, size, little) = match descr.as_bytes() {
        [order @ (b'<' | b'>' | b'|' | b'='), kind, rest @ ..] => {
            let size: usize = std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (*kind, size, *order != b'>')
        }
        _ => (0, 0, true),
    };
    let supported = matches!((kind, size), (b'f', 4) | (b'f', 8) | (b'i', 4) | (b'i', 8));
    if !supported {
        return Err(dtype_error(path, descr, "float32, float64, int32 or int64"));
    }
    let needed = count
        .checked_mul(size)
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    Ok(Layout {
        shape,
        descr: descr.to_string(),
        kind,
        size,
        little,
        fortran,
        end,
        needed,
    })
}

/// Parses `.npy` bytes; `path` names the source in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let Layout {
        shape,
        descr,
        kind,
        size,
        little,
        fortran,
        end,
        needed,
    } = layout(bytes, path)?;
    let body = &bytes[end..];
    if body.len() != needed {
        return Err(Error::Npy {
            path: path.into(),
            reason: format!(
                "shape {shape:?} of {descr} needs {needed} data bytes, the file has {}",
                body.len()
            ),
        });
    }
    macro_rules! decode {
        ($t:ty, $n:literal) => {{
            let mut v: Vec<$t> = body
                .chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().expect("exact chunks");
                    if little {
                        <$t>::from_le_bytes(a)
                    } else {
                        <$t>::from_be_bytes(a)
                    }
                })
                .collect();
            if fortran && shape.len() > 1 {
                v = to_c_order(&v, &shape);
            }
            v
        }};
    }
    let data = match (kind, size) {
        (b'f', 4) => NpyData::F32(decode!(f32, 4)),
        (b'f', 8) => NpyData::F64(decode!(f64, 8)),
        (b'i', 4) => NpyData::I32(decode!(i32, 4)),
        _ => NpyData::I64(decode!(i64, 8)),
    };
    Ok(NpyArray { shape, data })
}

/// Reads a `.npy` file as a 2-D `f32` matrix `(data, rows, cols)`.
pub fn read_matrix_f32(path: &Path) -> Result<(Vec<f32>, usize, usize)> {
    let a = read(path)?;
    let [rows, cols] = a.shape[..] else {
        return Err(Error::Npy {
            path: path.into(),
            reason: format!("expected a 2-D matrix, got shape {:?}", a.shape),
        });
    };
    Ok((a.into_f32(path)?, rows, cols))
}

/// Reads a `.npy` file of vectors as `f32` rows `(data, rows, cols)`: a 2-D `[k, d]` array, or a 1-D `[d]` array as
/// one row.
pub fn read_vectors_f32(path: &Path) -> Result<(Vec<f32>, usize, usize)> {
    let a = read(path)?;
    let (rows, cols) = match a.shape[..] {
        [d] => (1, d),
        [k, d] => (k, d),
        _ => {
            return Err(Error::Npy {
                path: path.into(),
                reason: format!(
                    "expected a vector [d] or vectors [k, d], got shape {:?}",
                    a.shape
                ),
            })
        }
    };
    Ok((a.into_f32(path)?, rows, cols))
}

/// Serialises a C-ordered `f32` array as `.npy` (format 1.0) bytes.
pub fn to_bytes_f32(data: &[f32], shape: &[usize]) -> Result<Vec<u8>> {
    let count: usize = shape.iter().product();
    if count != data.len() {
        return Err(Error::shape(
            "npy data",
            format!("{count} elements for shape {shape:?}"),
            format!("{} elements", data.len()),
        ));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending the header with a newline.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    Ok(out)
}

/// Writes a C-ordered `f32` array to `path` atomically.
pub fn write_f32(path: &Path, data: &[f32], shape: &[usize], overwrite: bool) -> Result<()> {
    atomic::write_file(path, &to_bytes_f32(data, shape)?, overwrite)
}

/// The raw text of `'key': value` in a Python dict literal, up to the next top-level comma or brace.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[pos + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (k, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..k]),
            _ => {}
        }
    }
    None
}

fn parse_shape(s: &str) -> Option<Vec<usize>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches('L').parse().ok())
        .collect()
}

/// Reorders column-major data of `shape` into row-major order.
fn to_c_order<T: Copy>(v: &[T], shape: &[usize]) -> Vec<T> {
    let rank = shape.len();
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; rank];
    // Column-major strides.
    let mut strides = vec![1usize; rank];
    for k in 1..rank {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    for _ in 0..v.len() {
        out.push(v[idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        for k in (0..rank).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("c.npy")
    }

    fn with_header(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn round_trips_f32() {
        let data = [1.0f32, -2.0, 3.5, 4.0, 5.0, 6.0];
        let bytes = to_bytes_f32(&data, &[2, 3]).unwrap();
        assert_eq!((bytes.len() - 24) % 64, 0);
        let a = parse(&bytes, p()).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::F32(data.to_vec()));
    }

    #[test]
    fn reads_f64_fortran_and_big_endian() {
        let body: Vec<u8> = [1.0f64, 3.0, 2.0, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let a = parse(&with_header("<f8", true, "(2, 2)", &body), p()).unwrap();
        assert_eq!(a.data, NpyData::F64(vec![1.0, 2.0, 3.0, 4.0]));
        let body: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|x| x.to_be_bytes()).collect();
        let a = parse(&with_header(">f4", false, "(2,)", &body), p()).unwrap();
        assert_eq!(a.data, NpyData::F32(vec![1.5, 2.5]));
    }

    #[test]
    fn rejects_bad_files_with_codes() {
        let code = |b: Vec<u8>| parse(&b, p()).unwrap_err().code();
        assert_eq!(code(b"not a npy file".to_vec()), "NPY_FORMAT");
        assert_eq!(
            code(with_header("<f4", false, "(2, 2)", &[0; 12])),
            "NPY_FORMAT"
        );
        assert_eq!(
            code(with_header("<f2", false, "(2,)", &[0; 4])),
            "NPY_DTYPE"
        );
        assert_eq!(
            code(with_header("|b1", false, "(2,)", &[0; 2])),
            "NPY_DTYPE"
        );
        assert_eq!(
            code(with_header("<c8", false, "(1,)", &[0; 8])),
            "NPY_DTYPE"
        );
        let mut truncated = with_header("<f4", false, "(1,)", &[0; 4]);
        truncated[8] = 0xff;
        assert_eq!(code(truncated), "NPY_FORMAT");
        let e = parse(&with_header("<u2", false, "(2,)", &[0; 4]), p()).unwrap_err();
        assert!(
            e.to_string().contains("c.npy") && e.to_string().contains("<u2"),
            "{e}"
        );
        let ints = parse(&with_header("<i4", false, "(1,)", &[1, 0, 0, 0]), p()).unwrap();
        assert_eq!(ints.into_f32(p()).unwrap_err().code(), "NPY_DTYPE");
    }

    #[test]
    fn read_checks_the_length_against_the_header_before_the_data() {
        let dir = std::env::temp_dir().join(format!("gt-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.npy");
        std::fs::write(&good, to_bytes_f32(&[1.0, 2.0], &[1, 2]).unwrap()).unwrap();
        assert_eq!(read_matrix_f32(&good).unwrap(), (vec![1.0, 2.0], 1, 2));
        // A header for 4 floats on a 16 GiB (sparse) file: refused by its length, not read.
        let long = dir.join("long.npy");
        let f = std::fs::File::create(&long).unwrap();
        std::io::Write::write_all(&mut &f, &with_header("<f4", false, "(2, 2)", &[])).unwrap();
        f.set_len(1 << 34).unwrap();
        let e = read(&long).unwrap_err();
        assert_eq!(e.code(), "NPY_FORMAT");
        assert!(
            e.to_string().contains("long.npy") && e.to_string().contains("needs 16 data bytes"),
            "{e}"
        );
        // A version-2 header length of 4 GiB is refused before it is read.
        let mut huge = with_header("<f4", false, "(1,)", &[0; 4]);
        huge[6] = 2;
        huge.splice(8..10, [0xff, 0xff, 0xff, 0xff]);
        let big_header = dir.join("big-header.npy");
        std::fs::write(&big_header, &huge).unwrap();
        assert!(read(&big_header)
            .unwrap_err()
            .to_string()
            .contains("exceeds"));
        std::fs::remove_dir_all(&dir).unwrap();
        #[cfg(unix)]
        assert_eq!(
            read(Path::new("/dev/zero")).unwrap_err().code(),
            "NPY_FORMAT"
        );
    }
}
