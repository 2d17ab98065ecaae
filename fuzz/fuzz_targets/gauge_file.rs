//! Gauge files: any bytes give a valid signed permutation or a typed error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((g, _)) = gauge_core::gauge_file::from_bytes(data, std::path::Path::new("fuzz.safetensors")) {
        let d = g.dim();
        let mut seen = vec![false; d];
        for &p in g.perm() {
            assert!(!std::mem::replace(&mut seen[p as usize], true));
        }
    }
});
