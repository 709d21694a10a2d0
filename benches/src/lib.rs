//! Shared helpers for tailsift's criterion benches and its throughput harness.
//!
//! - [`counting`]: a counting global allocator (allocations, bytes, live bytes).
//! - [`workloads`]: the anchor's and the mission's policies and engine settings, synthetic
//!   traces of any size, and a span's OTLP-encoded size.
//! - [`harness`]: the throughput harness behind `cargo run --release --example throughput`.
//! - [`perf_ctl`]: `perf stat` counting only a probe's timed part.
//!
//! Figures and how they were taken: `docs/BENCHMARKS.md`. Nothing here asserts on timing.
#![warn(missing_docs)]

pub mod counting;
pub mod harness;
pub mod perf_ctl;
pub mod workloads;
