//! Completion and decision: a poll that finds complete traces and decides them with the
//! anchor's policies (sort, view, policies, combine, decision cache, sink drop); a poll that
//! finds nothing due; and the same end to end (ingest + poll) for traces of 1 to 1,000 spans,
//! to see whether the cost per span stays flat as traces grow, on a fresh engine and on one kept
//! warm across iterations (its tables grown, its decision cache full and rotating: the steady
//! state).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tailsift::{Engine, ManualClock, Span};
use tailsift_benches::workloads::{anchor_policy_set, engine_config, SpanFactory};

mod common;

fn engine(clock: &ManualClock) -> Engine {
    let set = anchor_policy_set().expect("the anchor's policies are valid");
    Engine::builder(engine_config())
        .decider(set)
        .sink(|_d: tailsift::Decision| {})
        .clock(clock.clone())
        .build()
        .expect("the default engine config is valid")
}

fn spans(traces: usize, spans: usize) -> Vec<Vec<Span>> {
    let factory = SpanFactory::new();
    let all: Vec<Span> = (0..traces as u128)
        .flat_map(|t| factory.trace(t + 1, spans, Duration::from_millis(50), t % 20 == 0))
        .collect();
    all.chunks(10_000).map(<[Span]>::to_vec).collect()
}

fn decide(c: &mut Criterion) {
    let grace = engine_config().buffer.completion_grace;
    let mut group = c.benchmark_group("decide");
    let input = spans(1_000, 10);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("poll_1000_complete_traces_x_10_spans", |b| {
        b.iter_batched(
            || {
                let clock = ManualClock::new();
                let engine = engine(&clock);
                for batch in input.clone() {
                    engine.ingest(batch);
                }
                (engine, clock)
            },
            |(engine, clock)| {
                clock.advance(grace);
                engine.poll_now();
                engine
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // A poll that finds nothing due, with 1,000 traces (10,000 spans) buffered across the
    // default shards: what a poller pays per tick between bursts of work.
    let mut group = c.benchmark_group("poll_idle");
    let clock = ManualClock::new();
    let idle = engine(&clock);
    for batch in input.clone() {
        idle.ingest(batch);
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("nothing_due_1000_traces_buffered", |b| {
        b.iter(|| idle.poll_now())
    });
    group.finish();

    // Ingest + decide, 10,000 spans per iteration, in traces of n spans.
    let mut group = c.benchmark_group("end_to_end_by_trace_size");
    for n in [1usize, 10, 100, 1_000] {
        let input = spans(10_000 / n, n);
        group.throughput(Throughput::Elements(10_000));
        group.bench_function(format!("{n}_spans_per_trace"), |b| {
            b.iter_batched(
                || {
                    let clock = ManualClock::new();
                    (engine(&clock), clock, input.clone())
                },
                |(engine, clock, input)| {
                    for batch in input {
                        engine.ingest(batch);
                    }
                    clock.advance(grace);
                    engine.poll_now();
                    engine
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    // The same on one engine kept across iterations (warm: its tables, queues and store
    // already grown; every iteration's traces are new ones and all are decided by its end).
    let mut group = c.benchmark_group("end_to_end_by_trace_size_warm");
    for n in [1usize, 10, 100, 1_000] {
        let input = spans(10_000 / n, n);
        let clock = ManualClock::new();
        let engine = engine(&clock);
        let mut round = 0u128;
        group.throughput(Throughput::Elements(10_000));
        group.bench_function(format!("{n}_spans_per_trace"), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    let mut input = input.clone();
                    for span in input.iter_mut().flatten() {
                        let id = u128::from_be_bytes(span.trace_id.0) ^ (round << 64);
                        span.trace_id = tailsift::TraceId::from_u128(id);
                    }
                    input
                },
                |input| {
                    for batch in input {
                        engine.ingest(batch);
                    }
                    clock.advance(grace);
                    engine.poll_now();
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = decide
}
criterion_main!(benches);
