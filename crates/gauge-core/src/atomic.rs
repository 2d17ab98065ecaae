//! Writes that never leave a half-written file behind and never replace a file the caller did not allow.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory, then renames it into place.
///
/// With `overwrite = false` an existing `path` is an [`Error::OutputExists`] and is left untouched. On any error
/// the temporary file is removed, so `path` is either its old self or the complete new file.
pub fn write_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_with(path, overwrite, |w| w.write_all(bytes))
}

/// [`write_file`] for content produced piece by piece: `fill` writes it into a buffered writer, so a large file
/// need not exist in memory first. Same guarantees as [`write_file`].
pub fn write_with(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    if !overwrite && path.exists() {
        return Err(Error::OutputExists { path: path.into() });
    }
    let tmp = temp_sibling(path);
    // Errors name the caller's path: the temporary file is an implementation detail.
    let result = (|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })()
    .map_err(|e| Error::io(path, e))
    .and_then(|()| {
        if !overwrite && path.exists() {
            return Err(Error::OutputExists { path: path.into() });
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.tmp-<pid>-<nanos>`: hidden, unique per process and call, on the same filesystem as `path`.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp_name = format!(".{name}.tmp-{}-{nanos}", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
        _ => PathBuf::from(tmp_name),
    }
}

/// Renames the complete directory `tmp` to `out`. An existing `out` is an [`Error::OutputExists`] unless
/// `overwrite`; then it is moved aside first and removed only after the new one is in place, so `out` is at
/// every moment the old or the new directory.
pub fn replace_dir(tmp: &Path, out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() {
        if !overwrite {
            return Err(Error::OutputExists { path: out.into() });
        }
        let old = temp_sibling(out);
        std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
        if let Err(e) = std::fs::rename(tmp, out) {
            let _ = std::fs::rename(&old, out);
            return Err(Error::io(out, e));
        }
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        return Ok(());
    }
    std::fs::rename(tmp, out).map_err(|e| Error::io(out, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_overwrite_and_leaves_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("gt-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.bin");
        write_file(&path, b"one", false).unwrap();
        let e = write_file(&path, b"two", false).unwrap_err();
        assert_eq!(e.code(), "OUTPUT_EXISTS");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_file(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let e = write_file(&dir.join("missing/x.bin"), b"x", false).unwrap_err();
        assert_eq!(e.code(), "IO");
        assert!(e.to_string().contains("missing/x.bin:"), "{e}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
