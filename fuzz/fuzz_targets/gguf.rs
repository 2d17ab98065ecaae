//! GGUF files (models, control vectors): any bytes are inspected (header checks, metadata, tensor infos) and read
//! as a control vector, or refused with a typed error; never a panic or an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = std::env::temp_dir().join(format!("gt-fuzz-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("in.gguf");
    std::fs::write(&file, data).unwrap();
    let _ = gauge_models::gguf_inspect::inspect(&file);
    let out = root.join("out.gguf");
    let _ = std::fs::remove_file(&out);
    let _ = gauge_models::control_vector::transport(&file, &gauge_core::Gauge::identity(4).unwrap(), &out, true);
});
