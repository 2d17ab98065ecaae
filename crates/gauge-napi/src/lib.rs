//! Node-API binding of gauge-transport: type and error conversion around `gauge-core`, nothing more.
//!
//! Numeric buffers cross as typed arrays without copies; every error carries a stable `code` (see
//! `gauge_core::Error::code`); heavy calls run on the libuv thread pool behind a Promise, with a `*Sync` twin where
//! blocking is cheap enough to offer. No panic reaches Node: synchronous exports use `catch_unwind`, and background
//! jobs catch unwinding themselves (see [`job`]).
#![deny(clippy::all)]
// napi-derive compiles the export registrations out of test builds, which leaves everything they call unused.
#![cfg_attr(test, allow(dead_code))]

mod allocator;
mod args;
mod assignment;
mod canonical;
mod checkpoint;
mod error;
mod estimate;
mod gauge;
mod job;
mod model;
mod npy;
mod pair_stats;
mod rotation;
mod sae;
mod selftest;
mod stats;
mod tokenizer;
mod train;
mod transport;

/// Runs when the addon loads: the allocator's setting for bounded memory across calls (see [`allocator`]), and the
/// thread count of the CPU kernels, fixed once (`gauge_models::threads`).
#[napi_derive::module_init]
fn init() {
    allocator::init();
    gauge_models::threads::fix_thread_count();
}
