//! The output file of one shard: blocks written at their offsets from several threads, then made durable.
//!
//! Where the filesystem allows it (Linux), the file is opened with `O_DIRECT`: blocks go from the aligned
//! staging buffers to the disk without a copy into the page cache, so the CPU is left to the moves and the final
//! `fsync` has only metadata and the device cache to flush. Elsewhere, or where `O_DIRECT` is refused, it is an
//! ordinary buffered file.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Offsets, lengths and buffer addresses of direct writes are multiples of this (a page; every logical block
/// size in common use divides it).
pub(crate) const ALIGN: usize = 4096;

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
const O_DIRECT: Option<i32> = Some(0o40000);
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: Option<i32> = Some(0o200000);
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm"
    )
)))]
const O_DIRECT: Option<i32> = None;

/// A shard's output file.
pub(crate) struct Sink {
    file: File,
    direct: bool,
}

impl Sink {
    /// Creates (or truncates) `path`, with `O_DIRECT` when `want_direct` and the filesystem takes an aligned
    /// direct write (tried once at offset 0, which the first block overwrites).
    pub(crate) fn create(path: &Path, want_direct: bool) -> std::io::Result<Sink> {
        if let (true, Some(flag)) = (want_direct, O_DIRECT) {
            if let Ok(file) = open(path, flag) {
                let probe = staging_buffer(ALIGN)?;
                if write_all_at(&file, &probe, 0).is_ok() {
                    return Ok(Sink { file, direct: true });
                }
            }
        }
        Ok(Sink {
            file: open(path, 0)?,
            direct: false,
        })
    }

    /// Whether writes must be aligned to [`ALIGN`] (offset, length and buffer).
    pub(crate) fn direct(&self) -> bool {
        self.direct
    }

    /// Writes `buf` at `offset`.
    pub(crate) fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        debug_assert!(
            !self.direct
                || (offset.is_multiple_of(ALIGN as u64)
                    && buf.len().is_multiple_of(ALIGN)
                    && (buf.as_ptr() as usize).is_multiple_of(ALIGN))
        );
        write_all_at(&self.file, buf, offset)
    }

    /// Cuts the file to `len` bytes (direct writes of the last block are padded) and makes data and metadata
    /// durable.
    pub(crate) fn finish(self, len: u64) -> std::io::Result<()> {
        if self.file.metadata()?.len() != len {
            self.file.set_len(len)?;
        }
        self.file.sync_all()
    }
}

fn open(path: &Path, flags: i32) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(flags);
    }
    #[cfg(not(unix))]
    let _ = flags;
    o.open(path)
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(buf)
}

/// A zeroed staging buffer for direct writes: an anonymous map, so page-aligned, and backed by huge pages where
/// the kernel allows (fewer pages to fault in, and to pin on every direct write). Nothing is touched until used.
pub(crate) fn staging_buffer(len: usize) -> std::io::Result<memmap2::MmapMut> {
    let buf = memmap2::MmapMut::map_anon(len.max(1))?;
    #[cfg(target_os = "linux")]
    let _ = buf.advise(memmap2::Advice::HugePage);
    Ok(buf)
}
