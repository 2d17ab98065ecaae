//! A pass over a GGUF header before candle reads it, refusing what candle would get wrong.
//!
//! candle's `Content::read` divides by `general.alignment` (a file with `0` panics), and keeps the last of
//! several tensors or metadata entries of one name (a file with a duplicate is silently read as another file).
//! This pass walks the same header (magic, counts, metadata, tensor infos; never tensor data), bounded by the
//! file's length at every length prefix, and refuses an alignment that is not a power of two (llama.cpp's rule)
//! or of a type candle ignores, and any duplicate name, naming the file and the entry. Everything else it leaves
//! to candle, whose errors say more.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::Result;
use crate::gguf::gguf_err;

/// Nesting of arrays in metadata beyond which the file is refused (candle's limit).
const MAX_DEPTH: usize = 64;
/// Dimensions of a tensor (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;

/// The header's alignment key.
const ALIGNMENT: &str = "general.alignment";

/// Checks the header of the GGUF `file` (at `path`), then rewinds the file for candle.
pub(crate) fn check(path: &Path, file: &mut File) -> Result<()> {
    let len = file
        .metadata()
        .map_err(|e| gauge_core::Error::io(path, e))?
        .len();
    let mut h = Header {
        r: BufReader::new(&*file),
        pos: 0,
        len,
        path,
        wide: true,
    };
    let outcome = h.walk();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| gauge_core::Error::io(path, e))?;
    outcome
}

/// A bounded reader of a GGUF header.
struct Header<'a, R> {
    r: BufReader<R>,
    pos: u64,
    len: u64,
    path: &'a Path,
    /// Version 2 and 3 lengths are `u64`; version 1's are `u32`.
    wide: bool,
}

impl<R: Read + Seek> Header<'_, R> {
    fn walk(&mut self) -> Result<()> {
        let mut magic = [0u8; 4];
        self.read(&mut magic)?;
        if &magic != b"GGUF" && &magic != b"FUGG" {
            // Not a GGUF at all: candle names the magic it found.
            return Ok(());
        }
        match self.u32()? {
            1 => self.wide = false,
            2 | 3 => {}
            // An unsupported version: candle names it.
            _ => return Ok(()),
        }
        let tensors = self.length()?;
        let entries = self.length()?;
        let mut keys = HashSet::new();
        for _ in 0..entries {
            let key = self.string()?;
            let kind = self.u32()?;
            if key == ALIGNMENT {
                self.alignment(kind)?;
            } else {
                self.skip_value(kind, 0)?;
            }
            if !keys.insert(key.clone()) {
                return Err(gguf_err(
                    self.path,
                    format!("metadata key {key:?} appears twice (GGUF keys must be unique)"),
                ));
            }
        }
        let mut names = HashSet::new();
        for _ in 0..tensors {
            let name = self.string()?;
            let dims = self.u32()?;
            if dims > MAX_DIMS {
                return Err(gguf_err(
                    self.path,
                    format!(
                        "tensor {name:?} has {dims} dimensions; GGUF allows at most {MAX_DIMS}"
                    ),
                ));
            }
            let width = if self.wide { 8 } else { 4 };
            // The dimensions, the ggml type (u32) and the data offset (u64).
            self.skip(dims as u64 * width + 4 + 8)?;
            if !names.insert(name.clone()) {
                return Err(gguf_err(
                    self.path,
                    format!("tensor {name:?} appears twice (GGUF tensor names must be unique)"),
                ));
            }
        }
        Ok(())
    }

    /// Reads the value of `general.alignment` and refuses 0, a value that is not a power of two, and a type
    /// candle would ignore for its default of 32.
    fn alignment(&mut self, kind: u32) -> Result<()> {
        let value: i64 = match kind {
            0 => self.bytes::<1>()?[0] as i64,
            1 => self.bytes::<1>()?[0] as i8 as i64,
            2 => u16::from_le_bytes(self.bytes()?) as i64,
            3 => i16::from_le_bytes(self.bytes()?) as i64,
            4 => u32::from_le_bytes(self.bytes()?) as i64,
            5 => i32::from_le_bytes(self.bytes()?) as i64,
            other => {
                return Err(gguf_err(
                    self.path,
                    format!(
                        "{ALIGNMENT} has value type {other}, not an integer of at most 32 bits \
                         (llama.cpp writes a uint32)"
                    ),
                ))
            }
        };
        if value <= 0 || (value & (value - 1)) != 0 {
            return Err(gguf_err(
                self.path,
                format!(
                    "{ALIGNMENT} = {value}; the alignment of tensor data must be a power of two"
                ),
            ));
        }
        Ok(())
    }

    fn skip_value(&mut self, kind: u32, depth: usize) -> Result<()> {
        match kind {
            8 => self.skip_string(),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(
                        self.malformed(format!("metadata arrays nest deeper than {MAX_DEPTH}"))
                    );
                }
                let inner = self.u32()?;
                let count = self.length()?;
                match scalar_size(inner) {
                    Some(size) => self.skip(count.saturating_mul(size)),
                    None => {
                        // Every element takes at least one byte, so a count beyond the file is refused at once.
                        if count > self.len.saturating_sub(self.pos) {
                            return Err(self.past_end());
                        }
                        (0..count).try_for_each(|_| self.skip_value(inner, depth + 1))
                    }
                }
            }
            kind => match scalar_size(kind) {
                Some(size) => self.skip(size),
                None => Err(self.malformed(format!("unknown metadata value type {kind}"))),
            },
        }
    }

    fn length(&mut self) -> Result<u64> {
        if self.wide {
            Ok(u64::from_le_bytes(self.bytes()?))
        } else {
            Ok(self.u32()? as u64)
        }
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn string(&mut self) -> Result<String> {
        let n = self.length()?;
        if n > self.len.saturating_sub(self.pos) {
            return Err(self.past_end());
        }
        let mut buf = vec![0u8; n as usize];
        self.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn skip_string(&mut self) -> Result<()> {
        let n = self.length()?;
        self.skip(n)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read(&mut b)?;
        Ok(b)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.len.saturating_sub(self.pos) {
            return Err(self.past_end());
        }
        self.r
            .read_exact(buf)
            .map_err(|e| gauge_core::Error::io(self.path, e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(self.past_end());
        }
        // `n` is at most the file's length, far below `i64::MAX`.
        self.r
            .seek_relative(n as i64)
            .map_err(|e| gauge_core::Error::io(self.path, e))?;
        self.pos += n;
        Ok(())
    }

    fn past_end(&self) -> crate::Error {
        self.malformed(format!(
            "the header runs past the end of the {}-byte file",
            self.len
        ))
    }

    fn malformed(&self, reason: String) -> crate::Error {
        gguf_err(self.path, format!("not a readable GGUF file: {reason}"))
    }
}

/// Bytes of one metadata value of a fixed-size type; `None` for strings, arrays and unknown types.
fn scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}
