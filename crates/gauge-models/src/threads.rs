//! The thread count of candle's CPU matrix products, fixed once per process.
//!
//! candle sizes every CPU matrix product by `RAYON_NUM_THREADS` or, when that is unset, by the machine's physical
//! cores, which on Linux it finds by opening and parsing `/proc/cpuinfo` again for every product
//! (`num_cpus::get_physical`): a file opened, read and parsed for every product, and a larger one the more cores
//! the host has. The count also ignores a container's CPU quota and the process's affinity mask. [`fix_thread_count`] sets `RAYON_NUM_THREADS`, when it is unset, to the CPUs this process may
//! use (`std::thread::available_parallelism`: affinity and cgroup quotas), so that a product reads one
//! environment variable instead, and rayon's pool (which reads the same variable) and candle's products agree.

/// The variable candle and rayon read.
const VAR: &str = "RAYON_NUM_THREADS";

/// Sets `RAYON_NUM_THREADS` to the CPUs this process may use when it is unset or empty, and returns the value it
/// set (`None` when the variable was already set, and left alone). Call it at start-up, before the process has
/// threads that read the environment (setting a variable races with reads on other threads); the Node addon calls
/// it when it loads.
pub fn fix_thread_count() -> Option<usize> {
    if std::env::var_os(VAR).is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::env::set_var(VAR, n.to_string());
    Some(n)
}
