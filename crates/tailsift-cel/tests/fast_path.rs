//! Differential test through the public API: a policy's verdicts (and errors, word for word)
//! are the same whether the expression is evaluated natively (`evaluate`, when
//! `is_native()`) or by the cel crate's interpreter (`evaluate_interpreted`), on realistic
//! traffic (`tailsift-traffic`'s mission workload, at least 10,000 traces, varied as in
//! `twins.rs`) and on random traces (proptest). `src/fast/tests.rs` compares the two paths'
//! raw values and error classes; this test pins what the engine sees.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use tailsift::span::{
    Event, KeyValue, Origin, Resource, Scope, SpanExtra, SpanId, SpanKind, StatusCode, Value,
};
use tailsift::view::sort_spans;
use tailsift::{Policy, Span, TraceFlags, TraceId, TraceView};
use tailsift_cel::{CelLimits, CelPolicy};
use tailsift_traffic::{MissionConfig, Workload};

const MIN_TRACES: usize = 10_000;

/// The mission's policies (`examples/cel/`) and the benches' forms of them.
fn mission_expressions() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cel");
    let mut exprs: Vec<String> = ["errors", "latency", "critical_path", "representative"]
        .iter()
        .map(|name| {
            std::fs::read_to_string(format!("{dir}/{name}.cel"))
                .unwrap_or_else(|e| panic!("reading {name}.cel: {e}"))
        })
        .collect();
    exprs.extend(
        [
            r#"trace.error_count > 0 || spans.exists(s, s.kind == "server" && s.attributes[?"http.response.status_code"].or(s.attributes[?"http.status_code"]).orValue(0) >= 500)"#,
            "has(trace.baseline.p95_ms) && trace.baseline.samples >= 50 && trace.duration_ms > trace.baseline.p95_ms",
            r#"trace.critical_path.exists(s, s.service == "checkout" && s.name == "checkout:PlaceOrder" || s.service == "payment" && s.name.startsWith("payment:Charge") || s.service == "shipping" && s.name == "shipping:Quote")"#,
            "0.1",
        ]
        .map(str::to_owned),
    );
    exprs
}

/// Policies users write beside the mission's: every one evaluated natively.
const NATIVE: &[&str] = &[
    "trace.error_count > 0",
    "trace.duration_ms >= 500.0",
    "trace.root.service == 'frontend' ? 0.1 : 0.5",
    "trace.duration_ms / 400.0",
    "trace.randomness % 100 < 10",
    r#"spans.exists(s, s.attributes[?"http.response.status_code"] == optional.of(500))"#,
    r#"spans.exists(s, "http.route" in s.attributes && s.attributes["http.route"].startsWith("/api/check"))"#,
    "spans.exists(s, s.attributes['user.tier'] == 'premium')",
    "spans.exists(s, s.attributes[?'user.tier'].orValue('free') == 'premium' && s.duration_ms > 100.0)",
    "spans.exists(s, s.name.matches('^payment:') && s.status == 'ERROR')",
    "spans.all(s, s.kind != 'client' || s.duration_ms < 250.0)",
    "spans.exists_one(s, s.status == 'ERROR')",
    "spans.exists(s, s.events.exists(e, e.name == 'exception'))",
    "trace.critical_path.exists(s, s.self_ms > trace.duration_ms / 2.0)",
    "trace.critical_path.exists(s, s.service == 'payment')",
    "size(trace.critical_path) > 3 && trace.critical_path[0].self_ms > 1.0",
    "has(trace.root) && trace.root.attributes['http.route'] == '/checkout'",
    "trace.root.attributes['http.response.status_code'] >= 500",
    "1.5",
    "-0.5",
    "0.0 / 0.0",
    "trace.span_count",
    "trace.root.name",
    "optional.of(true)",
    "trace.span_count / (trace.error_count) > 1",
    "spans[100].name == 'x'",
];

/// Expressions the native evaluator leaves to the interpreter, whole.
const INTERPRETED: &[&str] = &[
    "type(trace.duration_ms) == double",
    "spans.map(s, s.duration_ms).exists(d, d > 100.0)",
    "spans.filter(s, s.kind == 'client').size() > trace.span_count / 2",
    "size({'a': trace.span_count}) == 1",
    "string(trace.span_count) == '4'",
    "spans.exists(s, size(string(s.duration_ms)) > 3)",
];

/// At least `min` complete traces of mission traffic, varied as in `twins.rs`, with the time
/// each was completed at.
fn corpus(min: usize) -> Vec<(Duration, Vec<Span>)> {
    let mut traces = Vec::new();
    for seed in 1.. {
        let workload = Workload::Mission(MissionConfig {
            seed,
            ..MissionConfig::default()
        });
        let mut open: HashMap<TraceId, Vec<Span>> = HashMap::new();
        for batch in workload.traffic().expect("the default mission is valid") {
            for span in batch.spans {
                open.entry(span.trace_id).or_default().push(span);
            }
            for truth in batch.completed {
                let Some(mut spans) = open.remove(&truth.trace_id) else {
                    continue;
                };
                sort_spans(&mut spans);
                let variant = traces.len() % 4;
                for span in &mut spans {
                    if variant == 1 || variant == 2 {
                        span.status_code = StatusCode::Unset;
                    }
                    if variant == 2 {
                        if let Some(extra) = &mut span.extra {
                            extra.events.clear();
                        }
                    }
                    if variant == 3 {
                        for kv in &mut span.attributes {
                            if let Value::Int(code) = kv.value {
                                kv.value = Value::Double(code as f64);
                            }
                        }
                    }
                }
                traces.push((batch.at, spans));
            }
            if traces.len() >= min {
                return traces;
            }
        }
    }
    unreachable!("seeds are endless")
}

fn assert_same(policy: &CelPolicy, view: &TraceView<'_>, what: &str) {
    let native = policy.evaluate(view);
    let interpreted = policy.evaluate_interpreted(view);
    assert_eq!(
        native,
        interpreted,
        "`{}` on {what}: the two paths disagree",
        policy.expression()
    );
}

#[test]
fn native_and_interpreted_verdicts_agree_on_mission_traffic() {
    let traces = corpus(MIN_TRACES);
    let exprs: Vec<String> = mission_expressions()
        .into_iter()
        .chain(NATIVE.iter().map(|e| e.to_string()))
        .collect();
    let policies: Vec<CelPolicy> = exprs
        .iter()
        .map(|e| CelPolicy::compile("differential", e).unwrap_or_else(|err| panic!("{err}")))
        .collect();
    for policy in &policies {
        assert!(
            policy.is_native(),
            "`{}` should be native",
            policy.expression()
        );
    }
    let mut outcomes = [0usize; 3];
    for (i, (at, spans)) in traces.iter().enumerate() {
        let mut view = TraceView::new(spans[0].trace_id, spans, TraceFlags::default(), *at);
        if i % 3 > 0 {
            view.set_baseline(Some(baseline(20, (i % 400) as u64, 400, i as u64 % 200)));
        }
        for policy in &policies {
            assert_same(policy, &view, &format!("trace {i}"));
            outcomes[match policy.evaluate(&view) {
                Ok(tailsift::Verdict::Keep { .. }) => 0,
                Ok(_) => 1,
                Err(_) => 2,
            }] += 1;
        }
    }
    // Kept, abstained and failed evaluations all occur.
    assert!(outcomes.iter().all(|&n| n > 1_000), "{outcomes:?}");
}

#[test]
fn expressions_beyond_the_native_evaluator_are_interpreted() {
    let spans = checkout_trace(true);
    let v = view(&spans, None);
    for expr in INTERPRETED {
        let policy = CelPolicy::compile("interpreted", expr).unwrap_or_else(|e| panic!("{e}"));
        assert!(!policy.is_native(), "`{expr}` is not expected to be native");
        assert!(policy.evaluate(&v).is_ok(), "`{expr}`");
        assert_same(&policy, &v, "the checkout trace");
    }
}

#[test]
fn runtime_errors_read_the_same_on_both_paths() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    for expr in [
        "trace.no_such_field > 1.0",
        r#"trace.root.attributes["absent"] == 1"#,
        "trace.duration_ms + 1 > 0.0",
        "trace.span_count > 'four'",
        "trace.span_count / (trace.error_count) > 1",
        "trace.span_count % 0 == 1",
        "spans[10].name == 'x'",
        "9223372036854775807 + trace.span_count > 0",
        "trace.duration_ms > trace.baseline.p95_ms",
        "spans.exists(s, s.attributes['user.tier'] == 'nobody')",
        "optional.none().value()",
        "trace.span_count.matches('4')",
        "1",
        "'yes'",
        "1.5",
    ] {
        let policy = CelPolicy::compile("errors", expr).unwrap_or_else(|e| panic!("{e}"));
        assert!(policy.is_native(), "`{expr}` should be native");
        assert!(policy.evaluate(&v).is_err(), "`{expr}` should fail");
        assert_same(&policy, &v, "the checkout trace");
    }
}

#[test]
fn the_iteration_budget_stops_both_paths_alike() {
    let mut spans: Vec<_> = (1..=200u64)
        .map(|i| span(i, if i == 1 { 0 } else { 1 }, "svc", "op", i, i + 1))
        .collect();
    sort_spans(&mut spans);
    let v = view(&spans, None);
    let mut limits = CelLimits::default();
    limits.max_iterations = 1_000;
    for expr in [
        "spans.exists(a, spans.exists(b, a.duration_ms > b.duration_ms * 100.0))",
        "spans.exists(s, s.name == 'op') || spans.exists(a, spans.exists(b, false))",
        "trace.critical_path.exists(s, s.name == 'x') || spans.all(a, spans.all(b, true))",
        "[1, 2].exists(x, x == 2 || spans.exists(y, false))",
    ] {
        let policy = CelPolicy::compile_with_limits("budget", expr, &limits)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(policy.is_native());
        assert_same(&policy, &v, "a 200-span trace");
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        prop_oneof![
            Just("premium".to_owned()),
            Just("/api/checkout".to_owned()),
            Just("503".to_owned()),
            "[a-z]{0,4}"
        ]
        .prop_map(|s| Value::from(s.as_str())),
        prop_oneof![Just(500i64), Just(200), any::<i64>()].prop_map(Value::Int),
        prop_oneof![Just(503.0), Just(f64::NAN), any::<f64>()].prop_map(Value::Double),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..3).prop_map(|b| Value::Bytes(b.into())),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| Value::Array(v.into())),
            proptest::collection::vec(("[a-z.]{1,6}", inner), 0..3).prop_map(|kvs| {
                Value::KvList(
                    kvs.into_iter()
                        .map(|(k, v)| KeyValue::new(k.as_str(), v))
                        .collect::<Vec<_>>()
                        .into(),
                )
            }),
        ]
    })
}

fn any_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    let key = prop_oneof![
        Just("user.tier".to_owned()),
        Just("http.response.status_code".to_owned()),
        Just("http.status_code".to_owned()),
        Just("http.route".to_owned()),
        "[a-z.]{0,6}",
    ];
    proptest::collection::vec((key, any_value()), 0..5).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(k, v)| KeyValue::new(k.as_str(), v))
            .collect()
    })
}

prop_compose! {
    fn any_span()(
        id in 0u64..8,
        parent in 0u64..8,
        service in prop_oneof![Just("checkout"), Just("payment"), Just("frontend"), Just("")],
        name in prop_oneof![
            Just("checkout:PlaceOrder".to_owned()),
            Just("payment:Charge".to_owned()),
            Just("shipping:Quote".to_owned()),
            "[a-z:]{0,8}",
        ],
        kind in 0i32..6,
        status in 0i32..3,
        start in 0u64..1_000_000_000,
        length in prop_oneof![0u64..1_000_000_000, any::<u64>()],
        attributes in any_attributes(),
        events in proptest::collection::vec((prop_oneof![Just("exception".to_owned()), "[a-z]{0,4}"], any_attributes()), 0..2),
    ) -> Span {
        Span {
            trace_id: TraceId::from_u128(0x5eed),
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            name: name.as_str().into(),
            kind: SpanKind::from_i32(kind),
            start_time_unix_nano: start,
            end_time_unix_nano: start.wrapping_add(length),
            attributes: attributes.into(),
            extra: SpanExtra {
                events: events
                    .into_iter()
                    .map(|(name, attributes)| Event { name: name.as_str().into(), attributes, ..Event::default() })
                    .collect(),
                ..SpanExtra::default()
            }
            .boxed_unless_empty(),
            status_code: StatusCode::from_i32(status),
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::new("service.name", service)],
                    ..Resource::default()
                }),
                scope: Scope::default(),
            }),
            ..Span::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn native_and_interpreted_verdicts_agree_on_random_traces(
        mut spans in proptest::collection::vec(any_span(), 0..8),
        samples in 0u64..3,
    ) {
        sort_spans(&mut spans);
        let v = view(&spans, Some(baseline(10, 50, 90, samples * 100)));
        for expr in mission_expressions().iter().map(String::as_str).chain(NATIVE.iter().copied()) {
            let policy = CelPolicy::compile("random", expr).unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(policy.evaluate(&v), policy.evaluate_interpreted(&v), "`{}`", expr);
        }
    }
}
