//! What a streamed model reads from its checkpoint: a block-major call (`site_states`, `last_logits`) reads every
//! block, the embedding table and the head it needs once, however many sub-batches it runs, where the same
//! sequences run call by call read them once per call. Bytes read are the process's `rchar` (`/proc/self/io`), so this file holds one test: tests of one binary
//! run in parallel threads, and another test's reads would count.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};

use gauge_core::checkpoint::Checkpoint;
use gauge_models::candle_core::Device;
use gauge_models::site_states::{last_logits, site_states};
use gauge_models::{Model, Site};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Bytes this process has read through `read`-like calls so far.
fn rchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_block_major_call_reads_each_block_once_whatever_the_batches() {
    // As the addon does when it loads: otherwise candle reads /proc/cpuinfo for every matrix product, and those
    // reads would count.
    gauge_models::threads::fix_thread_count();
    let dir = fixture("tiny");
    let ckpt = Checkpoint::open(&dir).unwrap();
    let tensor_bytes = |keep: &dyn Fn(&str) -> bool| -> u64 {
        ckpt.tensors()
            .filter(|(_, t)| keep(&t.name))
            .map(|(_, t)| t.end - t.start)
            .sum()
    };
    let all = tensor_bytes(&|_| true);
    let blocks = tensor_bytes(&|n| n.starts_with("model.layers."));
    // Read when the model loads, and kept.
    let final_norm = tensor_bytes(&|n| n == "model.norm.weight");
    assert!(blocks > all / 2, "the fixture's blocks are most of it");

    let m = Model::load_streamed(&dir, &Device::Cpu).unwrap();
    let site = Site::Residual(m.num_layers());
    let mut rng = gauge_core::rng::SplitMix64::new(3);
    let seqs: Vec<Vec<u32>> = (0..8)
        .map(|_| {
            (0..6)
                .map(|_| rng.below(m.vocab_size() as u64) as u32)
                .collect()
        })
        .collect();
    let batch = 2;
    // The first pass of a process also reads what its thread pools probe (`/proc`, `/sys`).
    site_states(&m, &seqs[..1], &[site], batch, |_, _| true).unwrap();

    let r0 = rchar();
    let once = site_states(&m, &seqs, &[site], batch, |_, _| true).unwrap();
    let block_major = rchar() - r0;

    let r0 = rchar();
    let mut by_call = Vec::new();
    for chunk in seqs.chunks(batch) {
        by_call.extend(site_states(&m, chunk, &[site], batch, |_, _| true).unwrap()[0].clone());
    }
    let call_by_call = rchar() - r0;

    // The same values either way (the same kernels on the same sub-batches).
    assert_eq!(once[0], by_call);
    // One call reads every block once (and at most the rest of the checkpoint besides; `SLACK` is the reading of
    // `/proc/self/io` itself) ...
    const SLACK: u64 = 1024;
    assert!(
        (blocks..=all + SLACK).contains(&block_major),
        "block-major read {block_major} bytes; the blocks are {blocks}, the checkpoint's tensors {all}"
    );
    // ... and four calls of one sub-batch each read it four times.
    let calls = seqs.len().div_ceil(batch) as u64;
    assert!(
        call_by_call.abs_diff(calls * block_major) <= SLACK,
        "{calls} calls read {call_by_call} bytes, one call {block_major}"
    );

    // The last-position logits read the untied head once per call too: every tensor but the kept norm, once.
    let r0 = rchar();
    let logits = last_logits(&m, &seqs, batch, None, |_, _| true).unwrap();
    let with_head = rchar() - r0;
    assert!(
        (all - final_norm..=all + SLACK).contains(&with_head),
        "last_logits read {with_head} bytes; the checkpoint's tensors are {all}"
    );
    let r0 = rchar();
    let mut by_call = Vec::new();
    for chunk in seqs.chunks(batch) {
        by_call.extend(last_logits(&m, chunk, batch, None, |_, _| true).unwrap());
    }
    assert!(rchar() - r0 >= calls * (all - final_norm));
    assert_eq!(logits, by_call);
}
