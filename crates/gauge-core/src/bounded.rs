//! Whole-file reads of untrusted inputs with a bound on their size.
//!
//! A path can name a device or a pipe that never ends (`--gauge /dev/zero`) or a file far larger than its format
//! allows; reading it whole before validating would take the machine's memory. Every read here stops at a
//! limit: a regular file longer than the limit is refused by its length before a byte is read, anything else
//! after `limit + 1` bytes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest JSON side file read whole (`config.json`, a shard index, an SAE's `cfg.json`): 64 MiB, a
/// hundred times the largest index of a published checkpoint.
pub const JSON_LIMIT: u64 = 64 << 20;

/// The bytes of `path`, at most `limit` of them; a longer input is `INVALID_ARGUMENT` naming the file, its size
/// and the limit, raised (for a regular file) before reading.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    read_from(file, path, limit, Vec::new())
}

/// [`read`] of a UTF-8 text file.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })
}

/// Appends the rest of `file` (at `path`) to `prefix`, the bytes already read from it, up to `limit` in all.
pub(crate) fn read_from(
    mut file: File,
    path: &Path,
    limit: u64,
    mut prefix: Vec<u8>,
) -> Result<Vec<u8>> {
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(path, Some(meta.len()), limit));
    }
    let have = prefix.len() as u64;
    (&mut file)
        .take((limit + 1).saturating_sub(have))
        .read_to_end(&mut prefix)
        .map_err(|e| Error::io(path, e))?;
    if prefix.len() as u64 > limit {
        return Err(too_large(path, None, limit));
    }
    Ok(prefix)
}

fn too_large(path: &Path, size: Option<u64>, limit: u64) -> Error {
    let size = size.map_or(String::new(), |n| format!("{n} bytes, "));
    Error::invalid(
        path.display().to_string(),
        format!("holds {size}more than the {limit} bytes this input may have; refusing to read it"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_under_it_read() {
        let dir = std::env::temp_dir().join(format!("gt-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ten.json");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read(&f, 10).unwrap(), b"0123456789");
        let e = read(&f, 9).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(
            e.to_string().contains("ten.json") && e.to_string().contains("10 bytes"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_stops_at_the_limit() {
        let e = read(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(e.to_string().contains("/dev/zero"), "{e}");
    }
}
