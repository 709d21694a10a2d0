//! The WASM trace-view wire format: encoding a `TraceView` (`tailsift::abi::ViewEncoder`, one
//! warm encoder, as the WASM host will keep one per thread) for traces of 1, 10 and 100 spans,
//! with and without the critical path, and the mission's first 2,000 traces one after the other
//! (the demo's traffic: what the mission as WASM will pay per trace), also as a collector
//! receives them (each batch an OTLP request read by the bridge). And a guest's decode: of a
//! 10-span buffer, a walk (parse, then every span's name and every attribute's key and value)
//! and a policy that reads no string (parse, then every span's status); of the mission's traces
//! as received, the walk.
//!
//! Views are built outside the timed loop and kept, so their lazily computed facts are computed
//! once: `with_critical_path` measures writing the path into the buffer, not computing it (the
//! `policies` bench measures that).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tailsift::abi::{EncodeOptions, TraceBuf, ViewEncoder};
use tailsift::Interner;
use tailsift_benches::workloads::{collect_traces, collect_traces_with, through_otlp, SpanFactory};
use tailsift_traffic::Workload;

mod common;

fn encode(c: &mut Criterion) {
    let factory = SpanFactory::new();
    let mut group = c.benchmark_group("view_encode");
    for n in [1usize, 10, 100] {
        let mut spans = factory.trace(n as u128, n, Duration::from_millis(50), true);
        tailsift::view::sort_spans(&mut spans);
        let view = common::view(&spans);
        group.throughput(Throughput::Elements(n as u64));
        for (label, critical_path) in [("", false), ("_with_critical_path", true)] {
            let options = EncodeOptions {
                critical_path,
                parents: false,
            };
            let mut encoder = ViewEncoder::new();
            group.bench_function(format!("{n}_spans{label}"), |b| {
                b.iter(|| {
                    let bytes = encoder.encode(black_box(&view), options);
                    black_box(bytes.map(<[u8]>::len).unwrap_or(0))
                })
            });
        }
    }
    let workload = Workload::from_name("mission").expect("mission is a workload");
    let traces = collect_traces(&workload, 2_000).expect("the mission traffic builds");
    let spans: usize = traces.iter().map(Vec::len).sum();
    // The same traces as a collector receives them: each batch one OTLP request read by the
    // bridge, whose resources and scopes are behind `Arc`s of their own in every request, and
    // whose strings are interned.
    let interner = Interner::default();
    let received = collect_traces_with(&workload, traces.len(), |batch| {
        through_otlp(batch, &interner)
    })
    .expect("the mission traffic builds");
    let n = traces.len();
    for (name, set) in [
        (format!("mission_{n}_traces_{spans}_spans"), &traces),
        (format!("mission_{n}_traces_through_otlp"), &received),
    ] {
        let views: Vec<_> = set.iter().map(|spans| common::view(spans)).collect();
        group.throughput(Throughput::Elements(
            set.iter().map(Vec::len).sum::<usize>() as u64,
        ));
        let mut encoder = ViewEncoder::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut bytes = 0;
                for view in &views {
                    let encoded = encoder.encode(black_box(view), EncodeOptions::default());
                    bytes += encoded.map(<[u8]>::len).unwrap_or(0);
                }
                black_box(bytes)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("view_decode");
    let mut spans = factory.trace(7, 10, Duration::from_millis(50), true);
    tailsift::view::sort_spans(&mut spans);
    let view = common::view(&spans);
    let mut encoder = ViewEncoder::new();
    let bytes = encoder
        .encode(&view, EncodeOptions::default())
        .expect("a 10-span trace fits")
        .to_vec();
    group.throughput(Throughput::Elements(10));
    group.bench_function("walk_10_spans", |b| b.iter(|| walk(black_box(&bytes))));
    group.bench_function("parse_and_statuses_10_spans", |b| {
        b.iter(|| {
            let Ok(trace) = TraceBuf::parse(black_box(&bytes)) else {
                return 0;
            };
            black_box(trace.spans().filter(|s| s.is_error()).count())
        })
    });
    // The mission's traces as a collector receives them, each encoded once: what a guest's
    // walk of a real-looking trace costs.
    let mut encoder = ViewEncoder::new();
    let buffers: Vec<Vec<u8>> = received
        .iter()
        .map(|spans| {
            encoder
                .encode(&common::view(spans), EncodeOptions::default())
                .expect("a mission trace fits")
                .to_vec()
        })
        .collect();
    group.throughput(Throughput::Elements(
        received.iter().map(Vec::len).sum::<usize>() as u64,
    ));
    group.bench_function(format!("walk_mission_{n}_traces_through_otlp"), |b| {
        b.iter(|| {
            buffers
                .iter()
                .map(|bytes| walk(black_box(bytes)))
                .sum::<usize>()
        })
    });
    group.finish();
}

/// A guest's walk of a buffer: parse, then every span's name and every attribute's key and
/// value.
fn walk(bytes: &[u8]) -> usize {
    let Ok(trace) = TraceBuf::parse(bytes) else {
        return 0;
    };
    let mut seen = 0usize;
    for span in trace.spans() {
        seen += span.name().map_or(0, str::len);
        for attribute in span.attributes() {
            seen += attribute.key().map_or(0, str::len);
            seen += usize::from(attribute.value().is_some());
        }
    }
    black_box(seen)
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = encode
}
criterion_main!(benches);
