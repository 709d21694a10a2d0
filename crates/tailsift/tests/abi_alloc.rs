//! Steady-state encoding allocates nothing: once a `ViewEncoder` has encoded a trace, encoding
//! another of the same shape (new ids, times and values) makes no allocation at all.
//!
//! Its own test binary, with one test, because it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tailsift::abi::{EncodeOptions, ViewEncoder};
use tailsift::{
    KeyValue, Origin, Resource, Scope, Span, SpanId, SpanKind, TraceFlags, TraceId, TraceView,
    Value,
};

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

struct CountingAlloc;

// SAFETY: every method forwards to `System` with the same arguments and returns its result
// unchanged; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// A trace of `n` spans in a chain from one service, with attributes of several kinds; `seed`
/// changes the ids, the times and the values but not the shape.
fn trace(seed: u64, n: usize, origins: &[Arc<Origin>]) -> Vec<Span> {
    (0..n)
        .map(|i| Span {
            trace_id: TraceId::from_u128(u128::from(seed) << 64 | 1),
            span_id: SpanId::from_u64(seed * 1000 + i as u64 + 1),
            parent_span_id: SpanId::from_u64(if i == 0 { 0 } else { seed * 1000 + i as u64 }),
            name: format!("op-{}", i % 4).into(),
            kind: SpanKind::Server,
            start_time_unix_nano: seed * 1_000_000 + i as u64,
            end_time_unix_nano: seed * 1_000_000 + 1_000 - i as u64,
            attributes: vec![
                KeyValue::new("http.route", format!("/items/{}", seed % 10).as_str()),
                KeyValue::new("http.response.status_code", 200 + seed as i64),
                KeyValue::new("ratio", seed as f64 / 3.0),
                KeyValue::new("cached", seed % 2 == 0),
                KeyValue::new("tags", Value::Array(vec![Value::Int(1)].into())),
            ]
            .into(),
            origin: origins[i % origins.len()].clone(),
            ..Span::default()
        })
        .collect()
}

#[test]
fn a_warm_encoder_encodes_a_trace_without_allocating() {
    let origins: Vec<Arc<Origin>> = ["cart", "payment"]
        .iter()
        .map(|service| {
            Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::new("service.name", *service)],
                    ..Resource::default()
                }),
                scope: Scope {
                    name: "otel".into(),
                    ..Scope::default()
                },
            })
        })
        .collect();
    let options = EncodeOptions {
        critical_path: true,
        parents: true,
    };
    let mut encoder = ViewEncoder::new();
    let warm = trace(1, 20, &origins);
    let view = TraceView::new(
        warm[0].trace_id,
        &warm,
        TraceFlags::default(),
        Duration::ZERO,
    );
    encoder.encode(&view, options).expect("fits");

    for seed in 2..5 {
        let spans = trace(seed, 20, &origins);
        let view = TraceView::new(
            spans[0].trace_id,
            &spans,
            TraceFlags::default(),
            Duration::from_secs(seed),
        );
        // The view's own lazy facts allocate (they are the view's, shared by every policy):
        // computed before counting, so that only the encoder is measured.
        view.critical_path();
        view.children();
        view.bytes();
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        let len = encoder.encode(&view, options).map(<[u8]>::len);
        COUNTING.store(false, Ordering::Relaxed);
        assert!(len.is_ok());
        assert_eq!(
            ALLOCATIONS.load(Ordering::Relaxed),
            0,
            "encoding trace {seed} allocated"
        );
    }
}
