//! Trace builders shared by the integration tests.
#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::sync::Arc;
use std::time::Duration;

use tailsift::span::{
    Event, KeyValue, Origin, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};
use tailsift::view::sort_spans;
use tailsift::{Baseline, Policy, TraceFlags, TraceView, Verdict};
use tailsift_cel::CelPolicy;

pub const MS: u64 = 1_000_000;

/// A resource (with an empty scope) for `service`.
pub fn origin(service: &str) -> Arc<Origin> {
    Arc::new(Origin {
        resource: Arc::new(Resource {
            attributes: vec![
                KeyValue::new("service.name", service),
                KeyValue::new("host.name", "node-1"),
            ],
            ..Resource::default()
        }),
        scope: Scope::default(),
    })
}

/// A span `id` under `parent` (0 for a root) of `service`, running from `start_ms` to `end_ms`.
pub fn span(id: u64, parent: u64, service: &str, name: &str, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(0xabc),
        span_id: SpanId::from_u64(id),
        parent_span_id: SpanId::from_u64(parent),
        name: name.into(),
        kind: SpanKind::Server,
        start_time_unix_nano: 1_000 * MS + start_ms * MS,
        end_time_unix_nano: 1_000 * MS + end_ms * MS,
        origin: origin(service),
        ..Span::default()
    }
}

/// Adds an attribute.
pub fn with_attr(mut span: Span, key: &str, value: impl Into<Value>) -> Span {
    span.push_attribute(KeyValue::new(key, value));
    span
}

/// Marks a span as failed.
pub fn failed(mut span: Span) -> Span {
    span.status_code = StatusCode::Error;
    span.extra_mut().status_message = "boom".into();
    span
}

/// Adds an event.
pub fn with_event(mut span: Span, name: &str, attributes: Vec<KeyValue>) -> Span {
    span.extra_mut().events.push(Event {
        name: name.into(),
        attributes,
        ..Event::default()
    });
    span
}

/// A checkout trace: frontend -> checkout -> (cart, payment), payment failing if asked.
pub fn checkout_trace(payment_fails: bool) -> Vec<Span> {
    let mut payment = span(4, 2, "payment", "charge", 40, 90);
    if payment_fails {
        payment = failed(payment);
    }
    let mut spans = vec![
        with_attr(
            with_attr(
                span(1, 0, "frontend", "GET /checkout", 0, 100),
                "http.status_code",
                200i64,
            ),
            "user.tier",
            "premium",
        ),
        with_attr(span(2, 1, "checkout", "PlaceOrder", 5, 95), "retry", true),
        span(3, 2, "cart", "GetCart", 10, 30),
        with_event(
            payment,
            "exception",
            vec![KeyValue::new("exception.type", "CardDeclined")],
        ),
    ];
    spans[2].kind = SpanKind::Client;
    sort_spans(&mut spans);
    spans
}

/// The view of `spans` (trace id 0xabc), with an optional baseline.
pub fn view(spans: &[Span], baseline: Option<Baseline>) -> TraceView<'_> {
    let mut view = TraceView::new(
        TraceId::from_u128(0xabc),
        spans,
        TraceFlags::default(),
        Duration::ZERO,
    );
    view.set_baseline(baseline);
    view
}

/// A baseline with the given quantiles in milliseconds.
pub fn baseline(p50: u64, p95: u64, p99: u64, samples: u64) -> Baseline {
    Baseline {
        p50: Duration::from_millis(p50),
        p95: Duration::from_millis(p95),
        p99: Duration::from_millis(p99),
        samples,
    }
}

/// Compiles `expr` (panicking with the error, in tests) and evaluates it on `view`.
pub fn eval(expr: &str, view: &TraceView<'_>) -> Result<Verdict, tailsift::PolicyError> {
    let policy = CelPolicy::compile("test", expr).unwrap_or_else(|e| panic!("{e}"));
    policy.evaluate(view)
}

/// Whether `expr` keeps the checkout trace (evaluation must succeed).
pub fn keeps(expr: &str, view: &TraceView<'_>) -> bool {
    match eval(expr, view) {
        Ok(Verdict::Keep { rate, .. }) => rate == 1.0,
        Ok(Verdict::Abstain) => false,
        other => panic!("`{expr}` gave {other:?}"),
    }
}
