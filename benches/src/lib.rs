//! Shared helpers for the benches and the throughput harness.
