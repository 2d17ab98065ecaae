//! SAE directories: the fuzzed bytes are the `cfg.json` of a small valid SAELens SAE (d_in 4, d_sae 2); transport
//! by the identity either writes an SAE or refuses with a typed error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn weights() -> &'static [u8] {
    static W: OnceLock<Vec<u8>> = OnceLock::new();
    W.get_or_init(|| {
        let f32s = |n: usize| vec![0u8; 4 * n];
        let (we, be, wd, bd) = (f32s(8), f32s(2), f32s(8), f32s(4));
        let views = vec![
            ("W_enc", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4, 2], &we).unwrap()),
            ("b_enc", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &be).unwrap()),
            ("W_dec", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 4], &wd).unwrap()),
            ("b_dec", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &bd).unwrap()),
        ];
        safetensors::serialize(views, None).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let root = std::env::temp_dir().join(format!("gt-fuzz-sae-{}", std::process::id()));
    let (input, out) = (root.join("in"), root.join("out"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("cfg.json"), data).unwrap();
    std::fs::write(input.join("sae_weights.safetensors"), weights()).unwrap();
    let g = gauge_core::Gauge::identity(4).unwrap();
    let opts = gauge_core::transport::sae::SaeOptions { allow_unknown_site: true, overwrite: false };
    let _ = gauge_core::transport::sae::transport_sae(&input, &out, &g, opts);
    let _ = std::fs::remove_dir_all(&root);
});
