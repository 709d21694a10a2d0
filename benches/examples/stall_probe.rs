//! A probe for how long `ingest` waits on a poll whose policies are slow: one thread ingests
//! batches of new traces at a steady pace, timing each call, while another polls, deciding them
//! with a decider that costs a fixed time per trace (a stand-in for a CEL expression over a
//! large trace, or a WASM module running to its deadline).
//!
//! ```text
//! cargo run --release --example stall_probe -- [MICROS_PER_DECISION] [SECONDS]
//! ```
//!
//! Defaults: 100 µs per decision, 3 seconds. The feeder offers 50 traces of 10 spans every
//! 10 ms (5,000 traces/s, half what a 100 µs decider can decide), into the engine's default 8
//! shards, on engine time read from the wall clock, with a 50 ms completion grace. It prints
//! the ingest calls' percentiles and what was decided. One measurement, for comparing builds;
//! nothing asserts a timing.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tailsift::{Engine, ManualClock, TraceView, Verdict};
use tailsift_benches::harness::Percentiles;
use tailsift_benches::workloads::{engine_config, SpanFactory};

const USAGE: &str = "usage: stall_probe [MICROS_PER_DECISION] [SECONDS]";

/// Traces per batch, spans per trace, and the time between batches.
const TRACES: u128 = 50;
const SPANS: usize = 10;
const EVERY: Duration = Duration::from_millis(10);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| match args.get(i) {
        None => Some(default),
        Some(s) => s.parse::<u64>().ok(),
    };
    let (Some(micros), Some(seconds)) = (number(0, 100), number(1, 3)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    println!("allocator: {}", tailsift_benches::counting::set_up());
    let cost = Duration::from_micros(micros);
    let mut config = engine_config();
    config.buffer.completion_grace = Duration::from_millis(50);
    let clock = ManualClock::new();
    let engine = Engine::builder(config)
        .decider(move |_: &TraceView<'_>| {
            // Busy, as a policy computing is: the thread stays on its CPU.
            let started = Instant::now();
            while started.elapsed() < cost {
                std::hint::spin_loop();
            }
            Verdict::keep_at("sample", 0.1)
        })
        .sink(|_| {})
        .clock(clock.clone())
        .build();
    let engine = match engine {
        Ok(engine) => Arc::new(engine),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let factory = SpanFactory::new();
    let batches = (seconds * 1_000 / EVERY.as_millis() as u64) as u128;
    let traffic: Vec<_> = (0..batches)
        .map(|b| {
            (0..TRACES)
                .flat_map(|t| {
                    factory.trace((b << 32) | (t + 1), SPANS, Duration::from_millis(20), false)
                })
                .collect::<Vec<_>>()
        })
        .collect();

    let started = Instant::now();
    let done = AtomicBool::new(false);
    let mut calls = Vec::with_capacity(traffic.len());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                clock.set(started.elapsed());
                engine.poll_now();
            }
        });
        for (i, batch) in traffic.into_iter().enumerate() {
            let at = EVERY * i as u32;
            if let Some(wait) = at.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            clock.set(started.elapsed());
            let called = Instant::now();
            engine.ingest(batch);
            calls.push(called.elapsed());
        }
        // Let the last traces come due and be decided.
        std::thread::sleep(Duration::from_millis(200));
        done.store(true, Ordering::Release);
    });
    let stats = engine.stats();
    println!(
        "{micros} µs per decision, {} batches of {} spans over {seconds} s",
        calls.len(),
        TRACES as usize * SPANS
    );
    println!("ingest calls: {}", Percentiles::of(&mut calls).micros());
    println!(
        "decided {} traces ({} kept), {} spans still buffered; conserved {}",
        stats.traces_kept + stats.traces_dropped,
        stats.traces_kept,
        stats.spans_buffered,
        stats.conserved()
    );
    ExitCode::SUCCESS
}
