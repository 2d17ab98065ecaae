//! Writes one re-charted shard. The output file is cut into fixed blocks. Filler threads (one per core) take
//! them in order and make each straight in a staging buffer (header, zero gaps, moved tensor bytes); writer
//! threads write finished blocks at their offsets and hand the buffers back. A small pool of buffers bounds how
//! far filling runs ahead, so the moves and the disk stay busy at once.
//!
//! The input is one read-only map of the shard: each block populates the input pages it reads in one call, and
//! pages that no unwritten block reads any more are unmapped again (they stay in the page cache). Resident
//! memory is the buffer pool plus about as much input (a whole slab for a tensor moved along its first axis),
//! not the shard.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use super::kernel::{Move, Tables};
use super::sink::{staging_buffer, Sink, ALIGN};
use crate::checkpoint::Shard;
use crate::error::{Error, Result};

/// How a shard is written (tests shrink the blocks and force the buffered path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Bytes per block (a multiple of [`ALIGN`] for direct writes).
    pub block: usize,
    /// Threads making blocks.
    pub fillers: usize,
    /// Threads writing them.
    pub writers: usize,
    /// Staging buffers of `block` bytes beyond one per thread.
    pub spare: usize,
    /// Write with `O_DIRECT` where the filesystem allows it.
    pub direct: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            block: 8 << 20,
            fillers: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
            writers: 2,
            spare: 2,
            direct: true,
        }
    }
}

/// One contiguous piece of the output file.
struct Segment<'a> {
    /// File offsets `start..end`.
    start: u64,
    end: u64,
    what: Piece<'a>,
}

enum Piece<'a> {
    /// The new header.
    Header(&'a [u8]),
    /// Zeros between tensors (kept as the input had them).
    Zeros,
    /// A tensor: its source bytes' offset in the input file, and its move.
    Tensor { src: usize, mv: Move },
}

/// Writes shard `shard` re-charted to `path` with `header` (the new header bytes) and `moves` (one per tensor,
/// in data order), durably. Returns the data bytes written (gaps included, header excluded).
pub(crate) fn write_shard(
    shard: &Shard,
    header: &[u8],
    moves: &[Move],
    tables: &Tables,
    path: &Path,
    tuning: Tuning,
) -> Result<u64> {
    let io = |e: std::io::Error| Error::io(path, e);
    let input = File::open(&shard.path).map_err(|e| Error::io(&shard.path, e))?;
    // SAFETY: a read-only map of a checkpoint this process only reads; a concurrent truncation by another
    // process could fault, as with any reader of a memory-mapped file.
    let map = unsafe { memmap2::Mmap::map(&input) }.map_err(|e| Error::io(&shard.path, e))?;
    let in_data = shard.header.data_start as usize;
    let out_data = header.len() as u64;

    let mut segments = vec![Segment {
        start: 0,
        end: out_data,
        what: Piece::Header(header),
    }];
    let mut data_end = 0u64;
    for (t, &mv) in shard.header.tensors.iter().zip(moves) {
        if t.start > data_end {
            segments.push(Segment {
                start: out_data + data_end,
                end: out_data + t.start,
                what: Piece::Zeros,
            });
        }
        segments.push(Segment {
            start: out_data + t.start,
            end: out_data + t.end,
            what: Piece::Tensor {
                src: in_data + t.start as usize,
                mv,
            },
        });
        data_end = t.end;
    }
    let total = out_data + data_end;

    let sink = Sink::create(path, tuning.direct).map_err(io)?;
    let block = if sink.direct() {
        tuning.block.next_multiple_of(ALIGN)
    } else {
        tuning.block.max(1)
    };
    let blocks = total.div_ceil(block as u64) as usize;
    // need[k]: the lowest input offset that block k or any later block reads.
    let mut need = vec![map.len(); blocks + 1];
    for k in (0..blocks).rev() {
        let lo = reads(&segments, k, block, total)
            .map(|(a, _)| a)
            .unwrap_or(map.len());
        need[k] = lo.min(need[k + 1]);
    }

    let next = AtomicUsize::new(0);
    let allocated = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let progress = Mutex::new(Progress {
        done: vec![false; blocks],
        low: 0,
        released: 0,
    });
    let fillers = tuning.fillers.clamp(1, blocks.max(1));
    let writers = tuning.writers.clamp(1, blocks.max(1));
    let pool = fillers + writers + tuning.spare;
    let (free_tx, free_rx) = mpsc::channel::<memmap2::MmapMut>();
    let (full_tx, full_rx) = mpsc::channel::<(usize, memmap2::MmapMut, usize)>();
    let (free_rx, full_rx) = (Mutex::new(free_rx), Mutex::new(full_rx));
    let write_error = Mutex::new(None);
    let direct = sink.direct();
    let sink_ref = &sink;
    std::thread::scope(|scope| {
        for _ in 0..writers {
            let free_tx = free_tx.clone();
            let (sink, full_rx, failed, write_error, progress, map, need) = (
                sink_ref,
                &full_rx,
                &failed,
                &write_error,
                &progress,
                &map,
                &need,
            );
            scope.spawn(move || {
                loop {
                    let msg = full_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((k, buf, written)) = msg else { break };
                    if !failed.load(Ordering::Relaxed) {
                        match sink.write_at(&buf[..written], k as u64 * block as u64) {
                            Ok(()) => release(progress, map, need, k),
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                write_error
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(e);
                            }
                        }
                    }
                    // Back to the fillers; they are gone once the queue is closed and drained.
                    let _ = free_tx.send(buf);
                }
            });
        }
        drop(free_tx);
        let mut fill_errors = vec![];
        let handles: Vec<_> = (0..fillers)
            .map(|_| {
                let full_tx = full_tx.clone();
                let (next, allocated, failed, free_rx, segments, map) =
                    (&next, &allocated, &failed, &free_rx, &segments, &map);
                scope.spawn(move || -> Result<()> {
                    let r = (|| loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= blocks || failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let free = free_rx.lock().unwrap_or_else(|e| e.into_inner()).try_recv();
                        let mut buf = match free {
                            Ok(buf) => buf,
                            Err(_) if allocated.fetch_add(1, Ordering::Relaxed) < pool => {
                                staging_buffer(block).map_err(io)?
                            }
                            Err(_) => {
                                match free_rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                                    Ok(buf) => buf,
                                    Err(_) => return Ok(()), // the writers stopped on an error
                                }
                            }
                        };
                        let start = k as u64 * block as u64;
                        let len = (total - start).min(block as u64) as usize;
                        let written = if direct {
                            len.next_multiple_of(ALIGN)
                        } else {
                            len
                        };
                        if let Some((a, b)) = reads(segments, k, block, total) {
                            populate(map, a, b);
                        }
                        fill(segments, map, tables, start, &mut buf[..len]);
                        buf[len..written].fill(0);
                        if full_tx.send((k, buf, written)).is_err() {
                            return Ok(());
                        }
                    })();
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        drop(full_tx);
        for h in handles {
            if let Err(e) = h.join().expect("a shard filler does not panic") {
                fill_errors.push(e);
            }
        }
        fill_errors.into_iter().next().map_or(Ok(()), Err)
    })?;
    if let Some(e) = write_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(io(e));
    }
    sink.finish(total).map_err(io)?;
    Ok(data_end)
}

/// The first segment that ends after `offset`.
fn first_segment(segments: &[Segment], offset: u64) -> usize {
    segments.partition_point(|s| s.end <= offset)
}

/// The input bytes block `k` reads (absolute file offsets), if any.
fn reads(segments: &[Segment], k: usize, block: usize, total: u64) -> Option<(usize, usize)> {
    let (start, end) = (
        k as u64 * block as u64,
        ((k + 1) as u64 * block as u64).min(total),
    );
    let mut range: Option<(usize, usize)> = None;
    for s in &segments[first_segment(segments, start)..] {
        if s.start >= end {
            break;
        }
        if let Piece::Tensor { src, mv } = s.what {
            let (lo, hi) = (start.max(s.start), end.min(s.end));
            let (a, b) = mv.source_range(
                (lo - s.start) as usize,
                (hi - s.start) as usize,
                (s.end - s.start) as usize,
            );
            let (a, b) = (src + a, src + b);
            range = Some(range.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
    }
    range
}

/// Makes output bytes `start..start + buf.len()`.
fn fill(segments: &[Segment], map: &[u8], tables: &Tables, start: u64, buf: &mut [u8]) {
    let end = start + buf.len() as u64;
    for s in &segments[first_segment(segments, start)..] {
        if s.start >= end {
            break;
        }
        let (lo, hi) = (start.max(s.start), end.min(s.end));
        let dst = &mut buf[(lo - start) as usize..(hi - start) as usize];
        let at = (lo - s.start) as usize;
        match s.what {
            Piece::Header(h) => dst.copy_from_slice(&h[at..at + dst.len()]),
            Piece::Zeros => dst.fill(0),
            Piece::Tensor { src, mv } => {
                let len = (s.end - s.start) as usize;
                mv.fill(tables, &map[src..src + len], dst, at);
            }
        }
    }
}

/// Input pages `a..b` in one call rather than a fault per page (a hint: errors are ignored).
fn populate(map: &memmap2::Mmap, a: usize, b: usize) {
    #[cfg(target_os = "linux")]
    let _ = map.advise_range(memmap2::Advice::PopulateRead, a, b - a);
    #[cfg(not(target_os = "linux"))]
    let _ = (map, a, b);
}

struct Progress {
    done: Vec<bool>,
    /// Blocks before `low` are all written.
    low: usize,
    /// Input before this (page-aligned) offset is unmapped.
    released: usize,
}

/// Marks block `k` written and unmaps the input that no unwritten block reads.
fn release(progress: &Mutex<Progress>, map: &memmap2::Mmap, need: &[usize], k: usize) {
    let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
    p.done[k] = true;
    while p.low < p.done.len() && p.done[p.low] {
        p.low += 1;
    }
    let upto = need[p.low] / ALIGN * ALIGN;
    if upto > p.released {
        #[cfg(unix)]
        // SAFETY: a shared read-only file map: dropping its pages only unmaps them (the page cache keeps
        // them), and no block still to be written reads below `need[low]`.
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                p.released,
                upto - p.released,
            )
        };
        p.released = upto;
    }
}
