//! Times `apply` on a checkpoint: `cargo run --release --example apply_timing -- MODEL GAUGE OUT`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (g, _) = gauge_core::gauge_file::read(std::path::Path::new(&a[2])).expect("gauge file");
    let t = std::time::Instant::now();
    let r = gauge_core::recharting::apply(a[1].as_ref(), &g, a[3].as_ref(), Default::default())
        .expect("apply");
    println!(
        "{} tensors, {} bytes in {:.2} s",
        r.tensors,
        r.bytes,
        t.elapsed().as_secs_f64()
    );
}
