//! A probe for the per-trace cost: one engine with the anchor's policies, warmed by rounds of
//! 10,000 spans in traces of N spans (every trace complete and decided by the end of its round),
//! then more such rounds in one function, for profilers to look at.
//!
//! ```text
//! cargo run --release --example trace_cost_probe -- SPANS_PER_TRACE WARM_ROUNDS ROUNDS
//! ```
//!
//! The measured rounds are the function `trace_cost_probe::timed`, so that `valgrind
//! --tool=callgrind --toggle-collect=trace_cost_probe::timed` counts them alone (and `perf
//! stat` too, with `TAILSIFT_PERF_CTL`: see `tailsift_benches::perf_ctl`). The warm-up
//! brings the engine to its steady state: tables and queues grown, the decision cache full and
//! rotating. Each round's traces have new ids. It prints nanoseconds per span (one
//! measurement: the `decide` bench's `end_to_end_by_trace_size*` groups are the benchmark).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tailsift::{Engine, ManualClock, Span, TraceId};
use tailsift_benches::perf_ctl::PerfControl;
use tailsift_benches::workloads::{anchor_policy_set, engine_config, SpanFactory};

const USAGE: &str = "usage: trace_cost_probe SPANS_PER_TRACE WARM_ROUNDS ROUNDS";

/// Spans per round.
const ROUND_SPANS: usize = 10_000;

/// One round: traces of `n` spans, ids unique to `round`, in batches of 10,000 spans.
fn round(factory: &SpanFactory, round: u128, n: usize) -> Vec<Vec<Span>> {
    let spans: Vec<Span> = (0..(ROUND_SPANS / n) as u128)
        .flat_map(|t| {
            let mut trace = factory.trace(t + 1, n, Duration::from_millis(50), t % 20 == 0);
            for span in &mut trace {
                let id = u128::from_be_bytes(span.trace_id.0) ^ (round << 64);
                span.trace_id = TraceId::from_u128(id);
            }
            trace
        })
        .collect();
    spans.chunks(ROUND_SPANS).map(<[Span]>::to_vec).collect()
}

/// Feeds each round, then polls past the grace: every trace of the round is decided.
fn feed(engine: &Engine, clock: &ManualClock, rounds: Vec<Vec<Vec<Span>>>) {
    let grace = engine.config().buffer.completion_grace;
    for batches in rounds {
        for batch in batches {
            engine.ingest(batch);
        }
        clock.advance(grace);
        engine.poll_now();
    }
}

/// The measured rounds (a function of their own for `--toggle-collect`).
#[inline(never)]
fn timed(engine: &Engine, clock: &ManualClock, rounds: Vec<Vec<Vec<Span>>>) {
    feed(engine, clock, rounds);
    std::hint::black_box(engine);
}

fn main() -> ExitCode {
    let malloc = tailsift_benches::counting::set_up();
    let numbers: Result<Vec<usize>, _> = std::env::args().skip(1).map(|a| a.parse()).collect();
    let Ok(&[n, warm, rounds]) = numbers.as_deref() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if n == 0 || n > ROUND_SPANS || rounds == 0 {
        eprintln!("{USAGE} (1 <= SPANS_PER_TRACE <= {ROUND_SPANS}, ROUNDS >= 1)");
        return ExitCode::from(2);
    }
    let clock = ManualClock::new();
    let engine = anchor_policy_set()
        .map_err(|e| e.to_string())
        .and_then(|set| {
            Engine::builder(engine_config())
                .decider(set)
                .sink(|_: tailsift::Decision| {})
                .clock(clock.clone())
                .build()
                .map_err(|e| e.to_string())
        });
    let engine = match engine {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("trace_cost_probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let factory = SpanFactory::new();
    let mut next = 0u128;
    let mut build = |k: usize| -> Vec<Vec<Vec<Span>>> {
        (0..k)
            .map(|_| {
                next += 1;
                round(&factory, next, n)
            })
            .collect()
    };
    let warm_up = build(warm);
    feed(&engine, &clock, warm_up);
    let measured = build(rounds);
    let spans = measured.iter().flatten().map(Vec::len).sum::<usize>();
    let mut perf = PerfControl::from_env();
    if let Some(perf) = perf.as_mut() {
        perf.enable();
    }
    let started = Instant::now();
    timed(&engine, &clock, measured);
    let elapsed = started.elapsed();
    if let Some(perf) = perf.as_mut() {
        perf.disable();
    }
    println!(
        "{n} spans per trace, {warm} warm-up rounds, {rounds} rounds: {:.1} ns/span; {malloc}",
        elapsed.as_nanos() as f64 / spans.max(1) as f64
    );
    ExitCode::SUCCESS
}
