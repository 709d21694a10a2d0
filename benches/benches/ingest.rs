//! Ingest: spans into the sharded buffer, no decision. One batch of 1,000 anchor traces
//! (10,000 spans, complete, children before roots) into a fresh engine; engine construction
//! and teardown are not timed.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tailsift::{Engine, ManualClock, Span};
use tailsift_benches::workloads::{anchor_policy_set, engine_config, SpanFactory};

mod common;

fn engine() -> Engine {
    let set = anchor_policy_set().expect("the anchor's policies are valid");
    Engine::builder(engine_config())
        .decider(set)
        .sink(|_d: tailsift::Decision| {})
        .clock(ManualClock::new())
        .build()
        .expect("the default engine config is valid")
}

/// `traces` traces of `spans` spans each, in batches of at most 10,000 spans.
fn batches(traces: usize, spans: usize) -> Vec<Vec<Span>> {
    let factory = SpanFactory::new();
    let all: Vec<Span> = (0..traces as u128)
        .flat_map(|t| factory.trace(t + 1, spans, Duration::from_millis(50), t % 20 == 0))
        .collect();
    all.chunks(10_000).map(<[Span]>::to_vec).collect()
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    for (traces, spans) in [(1_000usize, 10usize), (10_000, 1)] {
        let input = batches(traces, spans);
        group.throughput(Throughput::Elements((traces * spans) as u64));
        group.bench_function(format!("{traces}_traces_x_{spans}_spans"), |b| {
            b.iter_batched(
                || (engine(), input.clone()),
                |(engine, input)| {
                    for batch in input {
                        engine.ingest(batch);
                    }
                    engine
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
    targets = ingest
}
criterion_main!(benches);
