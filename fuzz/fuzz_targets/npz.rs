//! `.npz` archives (Gemma Scope SAEs): any bytes give members whose data lies inside the file and passes its
//! CRC-32, or a typed error; never a panic or an allocation the file does not back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gauge_core::npz::parse(data, std::path::Path::new("fuzz.npz"));
});
