//! A probe for the critical path's cost: each trace given a fresh view whose path is computed,
//! several times over, for profilers to look at.
//!
//! ```text
//! cargo run --release --example critical_path_probe -- mission [TRACES] [ROUNDS]
//! cargo run --release --example critical_path_probe -- synthetic SPANS [ROUNDS]
//! ```
//!
//! `mission`: of the first `TRACES` (default 20,000) mission traces, those with a span of
//! `tailsift_traffic::CRITICAL_OPERATIONS` (the traces the demo's `checkout` policy computes the
//! path for). `synthetic`: 10,000 spans in traces of `SPANS` spans from the benches' span
//! factory (a tree of fan-out 10), as `--bench policies`' `trace_facts/critical_path/*`; its
//! per-span instructions at 10 to 10,000 spans show whether the path stays linear. `ROUNDS`
//! (default 10) passes compute every trace's path (view, children index and path: nothing is
//! cached between passes). The passes are the function `critical_path_probe::timed`, so that
//! `valgrind --tool=callgrind --toggle-collect=critical_path_probe::timed` counts them alone.
//! It prints the traces, their spans and the nanoseconds per span (one measurement: the
//! criterion bench is the benchmark).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tailsift::view::{TraceFlags, TraceView};
use tailsift::{Span, TraceId};
use tailsift_benches::workloads::{collect_traces, SpanFactory};
use tailsift_traffic::{Workload, CRITICAL_OPERATIONS};

const USAGE: &str =
    "usage: critical_path_probe mission [TRACES] [ROUNDS] | synthetic SPANS [ROUNDS]";

/// Computes every trace's critical path `rounds` times; returns the summed path lengths (so the
/// work is not optimized away).
#[inline(never)]
fn timed(traces: &[Vec<Span>], rounds: usize) -> usize {
    let mut on_path = 0;
    for _ in 0..rounds {
        for (i, spans) in traces.iter().enumerate() {
            let id = TraceId::from_u128(i as u128 + 1);
            let view = TraceView::new(id, spans, TraceFlags::default(), Duration::ZERO);
            on_path += view.critical_path().spans().len();
        }
    }
    on_path
}

fn count(arg: Option<&String>, default: usize) -> Result<usize, String> {
    arg.map_or(Ok(default), |a| match a.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("not a positive count: {a}")),
    })
}

/// The traces to compute, and the rounds, from the arguments.
fn traces(args: &[String]) -> Result<(Vec<Vec<Span>>, usize), String> {
    match args.first().map(String::as_str) {
        Some("mission") if args.len() <= 3 => {
            let traces = count(args.get(1), 20_000)?;
            let workload = Workload::from_name("mission").map_err(|e| e.to_string())?;
            let all = collect_traces(&workload, traces).map_err(|e| e.to_string())?;
            let touched = all
                .into_iter()
                .filter(|t| {
                    t.iter()
                        .any(|s| CRITICAL_OPERATIONS.iter().any(|op| *s.name == **op))
                })
                .collect();
            Ok((touched, count(args.get(2), 10)?))
        }
        Some("synthetic") if (2..=3).contains(&args.len()) => {
            let spans = count(args.get(1), 1)?;
            let factory = SpanFactory::new();
            let traces = (1..=(10_000 / spans).max(1) as u128)
                .map(|t| {
                    let mut trace = factory.trace(t, spans, Duration::from_millis(200), false);
                    tailsift::view::sort_spans(&mut trace);
                    trace
                })
                .collect();
            Ok((traces, count(args.get(2), 10)?))
        }
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (traces, rounds) = match traces(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            if !e.starts_with("usage") {
                eprintln!("{USAGE}");
            }
            return ExitCode::FAILURE;
        }
    };
    let spans: usize = traces.iter().map(Vec::len).sum();
    let start = Instant::now();
    let on_path = timed(&traces, rounds);
    let elapsed = start.elapsed();
    println!(
        "{} traces, {spans} spans ({:.1} per trace); {rounds} rounds: {:.1} ns per span, \
         {:.1} spans on the path per trace",
        traces.len(),
        spans as f64 / traces.len().max(1) as f64,
        elapsed.as_nanos() as f64 / (spans * rounds).max(1) as f64,
        on_path as f64 / (traces.len() * rounds).max(1) as f64,
    );
    ExitCode::SUCCESS
}
