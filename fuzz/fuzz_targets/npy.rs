//! `.npy` arrays (probes, correlation matrices, steering vectors): any bytes give an array whose data matches its
//! shape, or a typed error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gauge_core::npy::parse(data, std::path::Path::new("fuzz.npy"));
});
