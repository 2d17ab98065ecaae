//! Writes that never leave a half-written file behind and never replace a file the caller did not allow.
//!
//! Every output of the project, file or directory, is written through here:
//!
//! 1. a temporary sibling `dir/.name.tmp-<pid>-<nanos>` is filled (same filesystem as the output, hidden, unique per
//!    process and call);
//! 2. it is renamed into place; a file written without `overwrite` is *linked* into place instead, which fails
//!    atomically when another writer got there first, so two concurrent writers to one path end in
//!    [`Error::OutputExists`] for the loser rather than one silently replacing the other;
//! 3. on any error the temporary is removed, so the output is its old self or the complete new one.
//!
//! Temporaries carry the id of the process that made them. A process killed mid-write leaves its temporary behind;
//! the next write to the same output reclaims every temporary of that output whose process is gone
//! ([`reclaim`]). Liveness is read from `/proc`; where there is none, temporaries are kept (never a live one lost).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory, then moves it into place.
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
    write_path(path, overwrite, |tmp| -> Result<()> {
        // Errors name the caller's path: the temporary file is an implementation detail.
        (|| {
            let mut w = std::io::BufWriter::new(std::fs::File::create(tmp)?);
            fill(&mut w)?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()
        })()
        .map_err(|e| Error::io(path, e))
    })
}

/// A file at `path` written by `fill`, which gets the temporary path to create and fill (for writers that open
/// their own file, such as the streamed re-charting of a shard). Same guarantees as [`write_file`]; `fill`'s
/// result is returned once the file is in place.
pub fn write_path<T, E: From<Error>>(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&Path) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    if !overwrite && path.exists() {
        return Err(Error::OutputExists { path: path.into() }.into());
    }
    reclaim(path);
    let tmp = temp_sibling(path);
    let result = fill(&tmp).and_then(|value| {
        place_file(&tmp, path, overwrite)?;
        Ok(value)
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Moves the complete file `tmp` to `path`. Without `overwrite` it is hard-linked, which fails if `path` appeared
/// meanwhile (the caller removes `tmp`); filesystems without hard links fall back to a checked rename.
fn place_file(tmp: &Path, path: &Path, overwrite: bool) -> Result<()> {
    if overwrite {
        return std::fs::rename(tmp, path).map_err(|e| Error::io(path, e));
    }
    match std::fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::OutputExists { path: path.into() })
        }
        Err(_) => {
            if path.exists() {
                return Err(Error::OutputExists { path: path.into() });
            }
            std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))
        }
    }
}

/// A new directory at `out`, filled by `fill` in a temporary sibling and renamed into place.
///
/// An existing `out` is an [`Error::OutputExists`] unless it is an empty directory or `overwrite` is set; with
/// `overwrite` the old directory is moved aside and removed only after the new one is in place, so `out` is at
/// every moment the old or the complete new directory. A concurrent writer that puts its directory at `out`
/// first turns this one's rename into [`Error::OutputExists`]. On any error the temporary is removed.
pub fn write_dir<T, E: From<Error>>(
    out: &Path,
    overwrite: bool,
    fill: impl FnOnce(&Path) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    if out.exists() && !overwrite && !is_empty_dir(out)? {
        return Err(Error::OutputExists { path: out.into() }.into());
    }
    reclaim(out);
    let tmp = temp_sibling(out);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(out, e))?;
    let result = fill(&tmp).and_then(|value| {
        replace_dir(&tmp, out, overwrite)?;
        sync_parent(out)?;
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn is_empty_dir(p: &Path) -> Result<bool> {
    Ok(p.is_dir()
        && std::fs::read_dir(p)
            .map_err(|e| Error::io(p, e))?
            .next()
            .is_none())
}

/// `dir/.name.tmp-<pid>-<nanos>`: hidden, unique per process and call, on the same filesystem as `path`.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp_name = format!("{}{}-{nanos}", temp_prefix(path), std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
        _ => PathBuf::from(tmp_name),
    }
}

/// The name every temporary of `path` starts with: `.name.tmp-`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    format!(".{name}.tmp-")
}

/// Removes the temporaries of `path` left by processes that are gone (killed mid-write); returns how many. Those
/// of live processes, this one included, are kept. Best effort: a temporary that cannot be removed stays.
pub fn reclaim(path: &Path) -> usize {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = temp_prefix(path);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let p = entry.path();
        let gone = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether process `pid` exists. Without `/proc` (not Linux) every process counts as alive.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

/// Renames the complete directory `tmp` to `out`. An existing `out` is an [`Error::OutputExists`] unless
/// `overwrite` or it is empty; with `overwrite` it is moved aside first and removed only after the new one is in
/// place, so `out` is at every moment the old or the new directory.
pub fn replace_dir(tmp: &Path, out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() {
        if is_empty_dir(out)? {
            std::fs::remove_dir(out).map_err(|e| Error::io(out, e))?;
        } else if !overwrite {
            return Err(Error::OutputExists { path: out.into() });
        } else {
            let old = temp_sibling(out);
            std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
            if let Err(e) = std::fs::rename(tmp, out) {
                let _ = std::fs::rename(&old, out);
                return Err(Error::io(out, e));
            }
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
            return Ok(());
        }
    }
    std::fs::rename(tmp, out).map_err(|e| {
        // Another writer's directory arrived between the check and the rename.
        if out.exists() {
            Error::OutputExists { path: out.into() }
        } else {
            Error::io(out, e)
        }
    })
}

/// Makes the entry of `path` in its directory durable (a no-op where directories cannot be opened as files).
pub fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    std::fs::File::open(parent)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(parent, e))?;
    #[cfg(not(unix))]
    let _ = parent;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gt-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn refuses_to_overwrite_and_leaves_no_temporaries() {
        let dir = scratch("file");
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

    #[test]
    fn a_file_that_appears_during_the_write_is_not_replaced() {
        let dir = scratch("race");
        let path = dir.join("g.bin");
        let e = write_path(&path, false, |tmp| -> Result<()> {
            std::fs::write(tmp, b"mine").unwrap();
            // Another writer finishes first.
            std::fs::write(&path, b"theirs").unwrap();
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.code(), "OUTPUT_EXISTS");
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "the temporary is gone"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directories_are_complete_or_absent_and_concurrent_writers_get_output_exists() {
        let dir = scratch("dir");
        let out = dir.join("model");
        // A failing fill leaves nothing.
        let e = write_dir(&out, false, |tmp| -> Result<()> {
            std::fs::write(tmp.join("half"), b"x").unwrap();
            Err(Error::invalid("fill", "failed"))
        })
        .unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // An empty directory is filled; a full one is refused, then replaced with overwrite.
        std::fs::create_dir(&out).unwrap();
        write_dir(&out, false, |tmp| {
            std::fs::write(tmp.join("a"), b"1").map_err(|e| Error::io(tmp, e))
        })
        .unwrap();
        let e = write_dir(&out, false, |_| Ok::<_, Error>(())).unwrap_err();
        assert_eq!(e.code(), "OUTPUT_EXISTS");
        write_dir(&out, true, |tmp| {
            std::fs::write(tmp.join("b"), b"2").map_err(|e| Error::io(tmp, e))
        })
        .unwrap();
        assert!(out.join("b").exists() && !out.join("a").exists());
        // A writer that loses the race to another gets OUTPUT_EXISTS, and the winner's directory stays.
        let other = dir.join("other");
        let e = write_dir(&other, false, |tmp| -> Result<()> {
            std::fs::write(tmp.join("mine"), b"m").unwrap();
            std::fs::create_dir(&other).unwrap();
            std::fs::write(other.join("theirs"), b"t").unwrap();
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.code(), "OUTPUT_EXISTS");
        assert!(other.join("theirs").exists() && !other.join("mine").exists());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporaries left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporaries_of_dead_processes_are_reclaimed_and_live_ones_kept() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let dir = scratch("reclaim");
        let out = dir.join("model");
        // A process id that cannot be alive: above the kernel's pid_max ceiling (2^22).
        let dead = dir.join(".model.tmp-4194400-123");
        std::fs::create_dir_all(dead.join("inner")).unwrap();
        let dead_file = dir.join(".model.tmp-4194401-5");
        std::fs::write(&dead_file, b"x").unwrap();
        // This process's and PID 1's are alive; another output's temporary is not ours to touch.
        let live = dir.join(".model.tmp-1-7");
        std::fs::create_dir(&live).unwrap();
        let unrelated = dir.join(".other.tmp-4194400-1");
        std::fs::create_dir(&unrelated).unwrap();
        write_dir(&out, false, |_| Ok::<_, Error>(())).unwrap();
        assert!(!dead.exists() && !dead_file.exists());
        assert!(live.exists() && unrelated.exists() && out.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
