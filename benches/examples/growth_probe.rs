//! A probe for the growth measurement: one engine, prefilled with never-complete one-span
//! traces, then several rounds of the anchor traffic, for profilers to look at.
//!
//! ```text
//! cargo run --release --example growth_probe -- PREFILL_TRACES [ROUNDS] [--prefill-only]
//!     [--prefill-elsewhere | --drained]
//! ```
//!
//! The timed part is the function `growth_probe::timed`, so that `valgrind --tool=callgrind
//! --toggle-collect=growth_probe::timed` counts it alone (and `perf stat` too, with
//! `TAILSIFT_PERF_CTL`: see `tailsift_benches::perf_ctl`); `--prefill-only` stops before it, so
//! that `perf stat` of a full run minus a prefill-only run gives the timed part's counters. It
//! prints the timed part's spans/s (one measurement: the harness, `--example throughput`, is
//! the benchmark; this is for looking inside). `--prefill-elsewhere` buffers the prefilled
//! traces in a second engine instead: the same memory taken, the timed engine's own tables small.
//! `--drained` decides the prefilled traces (they time out) before the timed part: the engine,
//! and the process's heap, as a surge that filled the buffer and drained again leaves them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tailsift::{Engine, ManualClock};
use tailsift_benches::harness::{self, hold_prefilled};
use tailsift_benches::perf_ctl::PerfControl;
use tailsift_benches::workloads::{anchor_policy_set, engine_config};
use tailsift_traffic::{AnchorConfig, Batch};

const USAGE: &str = "usage: growth_probe PREFILL_TRACES [ROUNDS] [--prefill-only] [--prefill-elsewhere | --drained]";

/// Feeds each round's batches, polling after every ten (100 ms of traffic) once the grace has
/// passed, and a final poll per round past `decision_wait` of the round's own traces (the
/// prefilled ones wait a day).
#[inline(never)]
fn timed(engine: &Engine, clock: &ManualClock, start: Duration, rounds: Vec<Vec<Batch>>) -> usize {
    let grace = engine.config().buffer.completion_grace;
    let mut base = start;
    let mut spans = 0;
    for batches in rounds {
        let mut last = base;
        for (k, batch) in batches.into_iter().enumerate() {
            let at = base + batch.at;
            last = at;
            clock.set(at);
            spans += batch.spans.len();
            engine.ingest(batch.spans);
            if k % 10 == 9 {
                clock.set(at + grace);
                engine.poll(at + grace);
            }
        }
        base = last + Duration::from_secs(60);
        clock.set(base);
        engine.poll(base);
    }
    spans
}

fn main() -> ExitCode {
    let malloc = tailsift_benches::counting::set_up();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefill_only = args.iter().any(|a| a == "--prefill-only");
    let elsewhere = args.iter().any(|a| a == "--prefill-elsewhere");
    let drained = args.iter().any(|a| a == "--drained");
    let numbers: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(Ok(prefill)), Ok(rounds)) = (
        numbers.first().map(|n| n.parse::<usize>()),
        numbers.get(1).map_or(Ok(5), |n| n.parse::<u64>()),
    ) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut config = engine_config();
    // As the harness's `--prefill-traces`: the prefilled traces stay buffered throughout.
    hold_prefilled(&mut config, prefill);
    let clock = ManualClock::new();
    let build = |config| {
        anchor_policy_set()
            .map_err(|e| e.to_string())
            .and_then(|set| {
                Engine::builder(config)
                    .decider(set)
                    .sink(|_: tailsift::Decision| {})
                    .clock(clock.clone())
                    .build()
                    .map_err(|e| e.to_string())
            })
    };
    let engines = build(config.clone()).and_then(|engine| {
        let other = if elsewhere {
            Some(build(config.clone())?)
        } else {
            None
        };
        Ok((engine, other))
    });
    let (engine, other) = match engines {
        Ok(engines) => engines,
        Err(e) => {
            eprintln!("growth_probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let traffic: Result<Vec<_>, _> = (0..rounds)
        .map(|r| {
            AnchorConfig {
                seed: r + 1,
                ..AnchorConfig::default()
            }
            .prebuild()
        })
        .collect();
    let traffic = match traffic {
        Ok(traffic) => traffic,
        Err(e) => {
            eprintln!("growth_probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    harness::prefill(other.as_ref().unwrap_or(&engine), prefill);
    if prefill_only {
        // Both kinds of run end without dropping the engine or the traffic, so that their
        // counters differ by the timed part only.
        std::process::exit(0);
    }
    // Past the prefilled traces' `decision_wait` (a day): every one of them times out.
    let mut start = Duration::ZERO;
    if drained {
        start = config.buffer.decision_wait + Duration::from_secs(1);
        clock.set(start);
        engine.poll(start);
    }
    let mut perf = PerfControl::from_env();
    if let Some(perf) = perf.as_mut() {
        perf.enable();
    }
    let started = Instant::now();
    let spans = timed(&engine, &clock, start, traffic);
    let elapsed = started.elapsed();
    if let Some(perf) = perf.as_mut() {
        perf.disable();
    }
    println!(
        "{prefill} traces prefilled{}, {rounds} rounds: {spans} spans in {elapsed:.2?}, {:.2} M spans/s; {} traces buffered after; RSS {:.1} MiB (peak {:.1} MiB); {malloc}",
        if elsewhere {
            " in another engine"
        } else if drained {
            " and drained"
        } else {
            ""
        },
        spans as f64 / elapsed.as_secs_f64() / 1e6,
        engine.stats().traces_buffered,
        harness::current_rss() as f64 / f64::from(1 << 20),
        harness::peak_rss() as f64 / f64::from(1 << 20),
    );
    std::process::exit(0);
}
