//! No trace and no expression makes a policy panic or hang.

mod common;

use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tailsift::span::{
    Event, KeyValue, Origin, Resource, Scope, Span, SpanExtra, SpanId, SpanKind, StatusCode,
    TraceId, Value,
};
use tailsift::view::sort_spans;
use tailsift::{Policy, Verdict};
use tailsift_cel::CelPolicy;

/// Expressions that between them read every variable and field.
const EXPRESSIONS: &[&str] = &[
    "trace.error_count > 0",
    "has(trace.baseline.p95_ms) && trace.duration_ms > trace.baseline.p95_ms",
    "trace.duration_ms > trace.baseline.p99_ms",
    "has(trace.root) && trace.root.kind == 'server' && trace.root.status != 'ERROR'",
    "trace.root.attributes['http.status_code'] >= 500",
    "trace.critical_path.exists(s, s.service == 'payment' && s.self_ms > 1.0)",
    "size(trace.critical_path) > 0 ? trace.critical_path[0].self_ms / (trace.duration_ms + 1.0) : 0.0",
    "spans.exists(s, s.attributes['user.tier'] == 'premium')",
    "spans.exists(s, s.attributes[?'user.tier'] == optional.of('premium'))",
    "spans.all(s, s.duration_ms >= 0.0 && s.name.matches('^[a-z]'))",
    "spans.exists(s, s.events.exists(e, e.name == 'exception' && size(e.attributes) > 0))",
    "spans.map(s, s.resource['service.name']).exists(n, n == 'cart')",
    "spans.exists(s, s.attributes.exists(k, s.attributes[k] == null))",
    "spans.exists(s, s.attributes.exists(k, size(string(s.attributes[k])) > 3))",
    "spans.filter(s, s.kind == 'client').size() > trace.span_count / 2",
    "trace.randomness % 100 < 10",
    "trace.span_count > 0 ? double(trace.error_count) / double(trace.span_count) : 0.0",
    "1.0 / double(trace.span_count - trace.span_count)",
    "spans.exists(a, spans.exists(b, a.name == b.name && a.service != b.service))",
    "spans[0].attributes.nested.deeper[0] == 1",
];

#[test]
fn empty_trace_evaluates_without_panicking() {
    let v = view(&[], None);
    assert!(keeps(
        "!has(trace.root) && trace.span_count == 0 && size(spans) == 0",
        &v
    ));
    assert!(keeps(
        "trace.duration_ms == 0.0 && size(trace.critical_path) == 0",
        &v
    ));
    assert!(eval("trace.root.name == 'x'", &v).is_err());
    for expr in EXPRESSIONS {
        let _ = eval(expr, &v);
    }
}

#[test]
fn rootless_trace_evaluates_without_panicking() {
    // Every span's parent is missing: no root, but a critical path from the latest-ending one.
    let mut spans = vec![
        span(2, 9, "checkout", "a", 0, 50),
        span(3, 9, "cart", "b", 10, 80),
    ];
    sort_spans(&mut spans);
    let v = view(&spans, None);
    assert!(keeps("!has(trace.root) && trace.span_count == 2", &v));
    assert!(keeps("trace.critical_path.exists(s, s.name == 'b')", &v));
    for expr in EXPRESSIONS {
        let _ = eval(expr, &v);
    }
}

#[test]
fn deeply_nested_attribute_values_are_read_lazily() {
    let mut value = Value::from(1i64);
    for _ in 0..2_000 {
        value = Value::Array(vec![value].into());
    }
    let spans = vec![with_attr(span(1, 0, "svc", "op", 0, 1), "deep", value)];
    let v = view(&spans, None);
    assert!(keeps("size(trace.root.attributes.deep) == 1", &v));
    assert!(keeps(
        "trace.root.attributes.deep[0][0][0].exists(x, size(x) == 1)",
        &v
    ));
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        "[a-z]{0,6}".prop_map(|s| Value::from(s.as_str())),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(|b| Value::Bytes(b.into())),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| Value::Array(v.into())),
            proptest::collection::vec(("[a-z.]{1,8}", inner), 0..3).prop_map(|kvs| {
                Value::KvList(
                    kvs.into_iter()
                        .map(|(k, v)| KeyValue {
                            key: k.as_str().into(),
                            value: v,
                        })
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
        Just("http.status_code".to_owned()),
        Just("nested".to_owned()),
        "[a-z.]{0,8}",
    ];
    proptest::collection::vec((key, any_value()), 0..4).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(k, value)| KeyValue {
                key: k.as_str().into(),
                value,
            })
            .collect()
    })
}

prop_compose! {
    fn any_span()(
        id in 0u64..12,
        parent in 0u64..12,
        service in prop_oneof![Just("cart"), Just("payment"), Just(""), Just("front end ✓")],
        name in "[A-Za-z /]{0,10}",
        kind in 0i32..7,
        status in 0i32..4,
        start in prop_oneof![any::<u64>(), 0u64..1_000_000_000],
        length in prop_oneof![any::<u64>(), 0u64..100_000_000],
        attributes in any_attributes(),
        resource in any_attributes(),
        events in proptest::collection::vec(("[a-z]{0,9}", any_attributes()), 0..3),
        trace_state in prop_oneof![Just(String::new()), Just("ot=rv:00000000000001".to_owned()), "[a-z=:;,]{0,20}"],
    ) -> Span {
        Span {
            trace_id: TraceId::from_u128(0x1234),
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            name: name.into(),
            kind: SpanKind::from_i32(kind),
            start_time_unix_nano: start,
            end_time_unix_nano: start.wrapping_add(length),
            attributes: attributes.into(),
            extra: SpanExtra {
                trace_state: trace_state.into(),
                events: events
                    .into_iter()
                    .map(|(name, attributes)| Event { name: name.into(), attributes, ..Event::default() })
                    .collect(),
                ..SpanExtra::default()
            }
            .boxed_unless_empty(),
            status_code: StatusCode::from_i32(status),
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: std::iter::once(KeyValue::new("service.name", service))
                        .chain(resource)
                        .collect(),
                    ..Resource::default()
                }),
                scope: Scope::default(),
            }),
            ..Span::default()
        }
    }
}

fn policies() -> Vec<CelPolicy> {
    EXPRESSIONS
        .iter()
        .map(|e| CelPolicy::compile("prop", e).unwrap_or_else(|err| panic!("{err}")))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn evaluation_never_panics_on_random_traces(
        mut spans in proptest::collection::vec(any_span(), 0..10),
        baseline in proptest::option::of((any::<u32>(), any::<u32>(), any::<u32>(), 0u64..3)),
    ) {
        sort_spans(&mut spans);
        let b = baseline.map(|(a, b, c, n)| common::baseline(a.into(), b.into(), c.into(), n));
        let v = view(&spans, b);
        for policy in policies() {
            match policy.evaluate(&v) {
                Ok(Verdict::Keep { rate, .. }) => prop_assert!(rate > 0.0 && rate <= 1.0),
                Ok(Verdict::Abstain) | Err(_) => {}
                Ok(Verdict::Drop { .. }) => prop_assert!(false, "a CEL policy never vetoes"),
            }
        }
    }

    #[test]
    fn compiling_random_sources_never_panics(
        tokens in proptest::collection::vec(prop_oneof![
            Just("trace"), Just("spans"), Just("."), Just("root"), Just("exists"), Just("("),
            Just(")"), Just("["), Just("]"), Just("{"), Just("}"), Just(","), Just(":"),
            Just("?"), Just("!"), Just("-"), Just("+"), Just("&&"), Just("||"), Just("=="),
            Just("<"), Just("s"), Just("'x'"), Just("\""), Just("1"), Just("2.5"), Just("null"),
            Just("has"), Just("matches"), Just("'[a-'"), Just("optional"), Just("in"),
            Just("size"), Just(" "), Just("\n"), Just("//"), Just("b'\\x00'"), Just("r'"),
            Just("é"),
        ], 0..60),
    ) {
        let source: String = tokens.concat();
        if let Ok(policy) = CelPolicy::compile("random", &source) {
            let spans = checkout_trace(true);
            let _ = policy.evaluate(&view(&spans, None));
        }
    }
}
