//! The safetensors header parser (checkpoints, gauge files, optimizer state, SAE weights): any bytes give a
//! header whose every tensor span lies inside the file, or a typed error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = gauge_core::checkpoint::parse_header(data, std::path::Path::new("fuzz.safetensors")) {
        for t in &h.tensors {
            assert!(h.data_start + t.end <= data.len() as u64);
            let _ = h.data(data, t);
        }
    }
});
