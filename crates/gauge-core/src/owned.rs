//! Owned copies of large inputs, made across the thread pool.
//!
//! An asynchronous call must own its inputs: the caller may change or free its buffers as soon as the call has
//! returned. The copy is therefore made on the caller's thread before the work is handed off, and for the
//! gigabyte inputs of a statistics call (two `[65536, 2048]` matrices are 1 GiB) that copy is time the caller
//! waits (in Node, the event loop). Fresh memory is also faulted in page by page as the copy first writes it, so
//! a single thread spends most of that time in the kernel. [`copy`] splits a large copy between the caller and a
//! few scoped threads of its own (not the rayon pool's, which may be busy with another call's work and would
//! make the caller wait for it).

/// Inputs below this many bytes are copied by the calling thread alone.
const PARALLEL_BYTES: usize = 8 << 20;

/// The most threads a copy uses, the caller included: memory bandwidth is saturated well before more help.
const MAX_THREADS: usize = 4;

/// `src` as a new vector, equal to `src.to_vec()`; copied by up to [`MAX_THREADS`] threads (as many as the machine
/// has cores) when it is at least 8 MiB.
pub fn copy<T: Copy + Send + Sync>(src: &[T]) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    if std::mem::size_of_val(src) < PARALLEL_BYTES || threads < 2 {
        return src.to_vec();
    }
    let n = src.len();
    let mut out: Vec<T> = Vec::with_capacity(n);
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = out.spare_capacity_mut()[..n]
            .chunks_mut(chunk)
            .zip(src.chunks(chunk));
        let (mine_dst, mine_src) = parts.next().expect("n > 0");
        for (dst, s) in parts {
            scope.spawn(move || write(dst, s));
        }
        write(mine_dst, mine_src);
    });
    // SAFETY: all `n` elements were written above (the chunks cover `..n`, and the scope joined every thread).
    unsafe { out.set_len(n) };
    out
}

/// Copies `src` into the uninitialized `dst` of the same length.
fn write<T: Copy>(dst: &mut [std::mem::MaybeUninit<T>], src: &[T]) {
    assert_eq!(dst.len(), src.len());
    // SAFETY: equal lengths (checked), `T: Copy`, and `dst` is memory of its own that `src` cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<T>(), src.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_to_vec_at_every_size() {
        // Below the threshold, at it, and above it with a partial last chunk.
        for n in [
            0usize,
            1,
            1000,
            PARALLEL_BYTES / 4 - 1,
            PARALLEL_BYTES / 4,
            PARALLEL_BYTES + 7,
        ] {
            let src: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(2654435761)).collect();
            assert_eq!(copy(&src), src, "{n} values");
        }
        let bytes: Vec<u8> = (0..PARALLEL_BYTES + 3).map(|i| (i % 251) as u8).collect();
        assert_eq!(copy(&bytes), bytes);
    }
}
