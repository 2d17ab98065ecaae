//! Keeps a long-lived Node process's memory bounded across heavy calls on glibc Linux.
//!
//! glibc's allocator raises its mmap threshold each time a large block is freed (up to 32 MiB), after which tensor
//! buffers below that size come from per-thread arenas, and memory freed there stays mapped. A training
//! orchestrator that calls `train` or `collectPairStats` again and again in one process then grows by hundreds of
//! MiB per call. The remedy, a no-op elsewhere: `malloc_trim` after every job that ran long, which hands the freed
//! arena memory back. A fixed mmap threshold is available as an opt-in (see [`init`]).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
        fn malloc_trim(pad: usize) -> i32;
    }
    /// `M_MMAP_THRESHOLD` in glibc's `malloc.h`.
    const M_MMAP_THRESHOLD: i32 = -3;

    pub fn fix_threshold(bytes: i32) {
        // SAFETY: mallopt only sets an allocator parameter; any value is accepted or refused by glibc.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, bytes);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim releases free memory at the top of the heaps and in arenas; it is thread-safe.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Called once when the addon loads. The fixed threshold is opt-in (`GAUGE_TRANSPORT_MMAP_THRESHOLD=1` or a size
/// in bytes): it bounds memory without trimming, but maps and faults in every large buffer afresh, which made a
/// SmolLM2 training step half again as slow; the trim after each job bounds memory at no such cost.
pub fn init() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Ok(v) = std::env::var("GAUGE_TRANSPORT_MMAP_THRESHOLD") {
        let bytes = v.parse::<i32>().ok().filter(|&b| b > 1).unwrap_or(1 << 20);
        glibc::fix_threshold(bytes);
    }
}

/// Called after a job that ran for a while: hands freed memory back to the operating system.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}
