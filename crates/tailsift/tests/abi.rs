//! A `TraceView` encoded by `tailsift::abi::ViewEncoder` reads back, through the
//! `tailsift-abi` decoder, as exactly what the view says: trace facts, every span field, every
//! attribute of every value kind, each distinct origin once, and the optional critical path and
//! parent index. Generated traces cover rootless ones, several origins (some equal in content
//! behind different `Arc`s), baselines present and absent.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tailsift::abi::{EncodeOptions, TraceBuf, ViewEncoder};
use tailsift::span::find_attribute;
use tailsift::view::sort_spans;
use tailsift::{
    Baseline, KeyValue, Origin, Resource, Scope, Span, SpanId, SpanKind, StatusCode, Str,
    TraceFlags, TraceId, TraceView, Value,
};

/// Whether the decoder's value is the engine's value, by the documented mapping (written here
/// independently of the encoder's: arrays and lists keep their length; doubles by bits).
fn same(found: tailsift_abi::Value<'_>, expected: &Value) -> bool {
    use tailsift_abi::Value as Wire;
    match (found, expected) {
        (Wire::Empty, Value::Empty) => true,
        (Wire::Str(a), Value::Str(b)) => a == b.as_str(),
        (Wire::Bool(a), Value::Bool(b)) => a == *b,
        (Wire::Int(a), Value::Int(b)) => a == *b,
        (Wire::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
        (Wire::Bytes(a), Value::Bytes(b)) => a == &b[..],
        (Wire::Array { len }, Value::Array(a)) => len == a.len() as u64,
        (Wire::KvList { len }, Value::KvList(kvs)) => len == kvs.len() as u64,
        _ => false,
    }
}

fn assert_attributes(found: tailsift_abi::Attributes<'_>, expected: &[KeyValue], what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}: attribute count");
    for (i, (a, kv)) in found.zip(expected).enumerate() {
        assert_eq!(a.key(), Some(kv.key.as_str()), "{what}: key {i}");
        let value = a.value().expect("a written value reads back");
        assert!(
            same(value, &kv.value),
            "{what}: {value:?} != {:?}",
            kv.value
        );
    }
}

/// Checks every field of `trace` against `view`.
fn assert_matches(view: &TraceView<'_>, options: EncodeOptions, trace: &TraceBuf<'_>) {
    let nanos = |d: Duration| d.as_nanos() as u64;
    assert_eq!(trace.trace_id(), view.trace_id().0);
    assert_eq!(trace.start_unix_nano(), view.start_unix_nano());
    assert_eq!(trace.end_unix_nano(), view.end_unix_nano());
    assert_eq!(trace.duration_nanos(), nanos(view.duration()));
    assert_eq!(trace.now_nanos(), nanos(view.now()));
    assert_eq!(trace.randomness(), view.randomness());
    assert_eq!(trace.estimated_bytes(), view.bytes());
    assert_eq!(trace.error_count() as usize, view.error_count());
    assert_eq!(trace.root_index(), view.root_index());
    let (flags, expected) = (trace.flags(), view.flags());
    assert_eq!(
        [
            flags.incomplete,
            flags.early,
            flags.timed_out,
            flags.shutdown
        ],
        [
            expected.incomplete,
            expected.early,
            expected.timed_out,
            expected.shutdown
        ]
    );
    assert_eq!(
        trace
            .baseline()
            .map(|b| [b.p50_nanos, b.p95_nanos, b.p99_nanos, b.samples]),
        view.baseline()
            .map(|b| [nanos(b.p50), nanos(b.p95), nanos(b.p99), b.samples])
    );
    let (root_service, root_name) = view.root_operation();
    assert_eq!(trace.root_service(), Some(root_service));
    assert_eq!(trace.root_name(), Some(root_name));

    let spans = view.spans();
    assert_eq!(trace.span_count(), spans.len());
    for (found, span) in trace.spans().zip(spans) {
        let what = format!("span {}", found.index());
        assert_eq!(found.span_id(), span.span_id.0, "{what}");
        assert_eq!(found.parent_span_id(), span.parent_span_id.0, "{what}");
        assert_eq!(found.start_unix_nano(), span.start_time_unix_nano, "{what}");
        assert_eq!(found.end_unix_nano(), span.end_time_unix_nano, "{what}");
        assert_eq!(found.duration_nanos(), span.duration_nanos(), "{what}");
        assert_eq!(found.name(), Some(span.name.as_str()), "{what}");
        assert_eq!(found.kind(), span.kind as u8, "{what}");
        assert_eq!(found.status(), span.status_code as u8, "{what}");
        assert_eq!(found.is_error(), span.status_code == StatusCode::Error);
        assert_eq!(found.flags(), span.flags, "{what}");
        assert_eq!(found.trace_state(), Some(span.trace_state()), "{what}");
        assert_eq!(found.service(), Some(span.service_name()), "{what}");
        let origin = found.origin().expect("every span has an origin");
        assert_eq!(origin.scope_name(), Some(span.scope().name.as_str()));
        assert_eq!(origin.scope_version(), Some(span.scope().version.as_str()));
        assert_attributes(
            origin.resource_attributes(),
            &span.resource().attributes,
            &what,
        );
        assert_attributes(origin.scope_attributes(), &span.scope().attributes, &what);
        assert_attributes(found.attributes(), &span.attributes, &what);
        for kv in span.attributes.iter() {
            let first = find_attribute(&span.attributes, &kv.key).expect("the key is there");
            let value = found.attribute(&kv.key).expect("lookup finds the key");
            assert!(same(value, first), "{what}: lookup of {:?}", kv.key);
        }
        assert_eq!(found.attribute("no.such.key"), None);
    }
    // Each distinct origin once: one `Arc`, or equal content (a NaN attribute makes an
    // origin unequal to its copies, though not to itself).
    let mut distinct: Vec<&Arc<Origin>> = Vec::new();
    for span in spans {
        if !distinct
            .iter()
            .any(|o| Arc::ptr_eq(o, &span.origin) || ***o == *span.origin)
        {
            distinct.push(&span.origin);
        }
    }
    assert_eq!(trace.origin_count(), distinct.len());

    match trace.critical_path() {
        Some(path) => {
            assert!(options.critical_path, "a path that was not asked for");
            let expected: Vec<usize> = view
                .critical_path()
                .spans()
                .iter()
                .map(|&s| s as usize)
                .collect();
            assert_eq!(path.iter().collect::<Vec<_>>(), expected);
        }
        None => assert!(!options.critical_path, "the critical path is missing"),
    }
    assert_eq!(trace.has_parents(), options.parents);
    for found in trace.spans() {
        let expected = options
            .parents
            .then(|| view.children().parent(found.index()))
            .flatten();
        assert_eq!(found.parent_index(), expected, "span {}", found.index());
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        prop_oneof![Just("GET".to_owned()), "[a-zé/]{0,5}"].prop_map(|s| Value::from(s.as_str())),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![Just(f64::NAN), any::<f64>()].prop_map(Value::Double),
        proptest::collection::vec(any::<u8>(), 0..5).prop_map(|b| Value::Bytes(b.into())),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| Value::Array(v.into())),
            proptest::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|kvs| {
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
    // Few keys, so that repeated keys (lookup finds the first) come up.
    let key = prop_oneof![Just("http.route"), Just("user.tier"), Just("a"), Just("")];
    proptest::collection::vec((key, any_value()), 0..5)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

fn any_origin() -> impl Strategy<Value = Arc<Origin>> {
    (
        proptest::option::of(prop_oneof![Just("checkout"), Just("payment"), Just("")]),
        any_attributes(),
        prop_oneof![Just("otel"), Just("")],
        prop_oneof![Just("1.0"), Just("")],
        any_attributes(),
    )
        .prop_map(|(service, mut resource, name, version, scope)| {
            if let Some(service) = service {
                resource.insert(0, KeyValue::new("service.name", service));
            }
            Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: resource,
                    ..Resource::default()
                }),
                scope: Scope {
                    name: name.into(),
                    version: version.into(),
                    attributes: scope,
                    ..Scope::default()
                },
            })
        })
}

/// One span's generated fields; the origin is an index into the trace's pool, and `copy`
/// gives it a new `Arc` equal in content.
#[derive(Clone, Debug)]
struct SpanInput {
    id: u64,
    parent: u64,
    start: u64,
    length: u64,
    name: &'static str,
    kind: i32,
    status: i32,
    flags: u32,
    trace_state: &'static str,
    origin: usize,
    copy: bool,
    attributes: Vec<KeyValue>,
}

fn any_span() -> impl Strategy<Value = SpanInput> {
    (
        (1u64..9, 0u64..11, 0u64..1_000, 0u64..500),
        prop_oneof![Just("GET /cart"), Just("charge"), Just("")],
        (0i32..6, 0i32..3, any::<u32>()),
        prop_oneof![Just(""), Just("ot=rv:0123456789abcd"), Just("vendor=1")],
        (0usize..4, any::<bool>()),
        any_attributes(),
    )
        .prop_map(
            |(
                (id, parent, start, length),
                name,
                (kind, status, flags),
                trace_state,
                (origin, copy),
                attributes,
            )| SpanInput {
                id,
                parent,
                start,
                length,
                name,
                kind,
                status,
                flags,
                trace_state,
                origin,
                copy,
                attributes,
            },
        )
}

#[derive(Clone, Debug)]
struct TraceInput {
    trace_id: u128,
    origins: Vec<Arc<Origin>>,
    spans: Vec<SpanInput>,
    rootless: bool,
    flags: [bool; 4],
    now: u64,
    baseline: Option<[u64; 4]>,
    options: EncodeOptions,
}

fn any_trace() -> impl Strategy<Value = TraceInput> {
    (
        1u128..,
        proptest::collection::vec(any_origin(), 1..4),
        proptest::collection::vec(any_span(), 0..12),
        any::<bool>(),
        any::<[bool; 4]>(),
        any::<u64>(),
        proptest::option::of((0u64..1 << 40, 0u64..1 << 40, 0u64..1 << 40, any::<u64>())),
        any::<(bool, bool)>(),
    )
        .prop_map(
            |(trace_id, origins, spans, rootless, flags, now, baseline, (path, parents))| {
                TraceInput {
                    trace_id,
                    origins,
                    spans,
                    rootless,
                    flags,
                    now,
                    baseline: baseline.map(|(a, b, c, d)| [a, b, c, d]),
                    options: EncodeOptions {
                        critical_path: path,
                        parents,
                    },
                }
            },
        )
}

fn build(t: &TraceInput) -> Vec<Span> {
    let trace_id = TraceId::from_u128(t.trace_id);
    let mut spans: Vec<Span> = t
        .spans
        .iter()
        .map(|s| {
            let origin = &t.origins[s.origin % t.origins.len()];
            let mut span = Span {
                trace_id,
                span_id: SpanId::from_u64(s.id),
                // A rootless trace: every span names a parent, most of them missing.
                parent_span_id: SpanId::from_u64(if t.rootless { s.parent + 1 } else { s.parent }),
                flags: s.flags,
                name: Str::from(s.name),
                kind: SpanKind::from_i32(s.kind),
                start_time_unix_nano: 1_000 + s.start,
                end_time_unix_nano: 1_000 + s.start + s.length,
                attributes: s.attributes.clone().into(),
                status_code: StatusCode::from_i32(s.status),
                extra: None,
                origin: if s.copy {
                    Arc::new(Origin::clone(origin))
                } else {
                    origin.clone()
                },
            };
            if !s.trace_state.is_empty() {
                span.extra_mut().trace_state = Str::from(s.trace_state);
            }
            span
        })
        .collect();
    sort_spans(&mut spans);
    spans
}

fn view<'a>(t: &TraceInput, spans: &'a [Span]) -> TraceView<'a> {
    let [incomplete, early, timed_out, shutdown] = t.flags;
    let flags = TraceFlags {
        incomplete,
        early,
        timed_out,
        shutdown,
    };
    let mut view = TraceView::new(
        TraceId::from_u128(t.trace_id),
        spans,
        flags,
        Duration::from_nanos(t.now),
    );
    view.set_baseline(t.baseline.map(|[p50, p95, p99, samples]| Baseline {
        p50: Duration::from_nanos(p50),
        p95: Duration::from_nanos(p95),
        p99: Duration::from_nanos(p99),
        samples,
    }));
    view
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_encoded_view_reads_back_as_the_view(a in any_trace(), b in any_trace()) {
        // Two traces through one encoder: the second must not carry anything of the first.
        let mut encoder = ViewEncoder::new();
        for t in [&a, &b] {
            let spans = build(t);
            let view = view(t, &spans);
            let bytes = encoder.encode(&view, t.options).expect("small traces fit");
            let trace = TraceBuf::parse(bytes).expect("a fresh buffer parses");
            assert_matches(&view, t.options, &trace);
        }
    }
}

#[test]
fn a_rootless_trace_has_no_root_and_empty_root_operation() {
    let origin = Arc::new(Origin::default());
    let spans = vec![Span {
        trace_id: TraceId::from_u128(5),
        span_id: SpanId::from_u64(2),
        parent_span_id: SpanId::from_u64(1),
        name: "orphan".into(),
        origin,
        ..Span::default()
    }];
    let view = TraceView::new(
        TraceId::from_u128(5),
        &spans,
        TraceFlags {
            incomplete: true,
            ..TraceFlags::default()
        },
        Duration::from_secs(3),
    );
    let mut encoder = ViewEncoder::new();
    let options = EncodeOptions {
        critical_path: true,
        parents: true,
    };
    let bytes = encoder.encode(&view, options).expect("fits");
    let trace = TraceBuf::parse(bytes).expect("parses");
    assert!(trace.root().is_none());
    assert_eq!(
        (trace.root_service(), trace.root_name()),
        (Some(""), Some(""))
    );
    assert!(trace.flags().incomplete);
    assert_eq!(trace.now_nanos(), 3_000_000_000);
    assert_eq!(trace.span(0).and_then(|s| s.parent_index()), None);
    assert_matches(&view, options, &trace);
}

#[test]
fn origins_equal_in_content_are_written_once() {
    let origin = |service: &str| {
        Arc::new(Origin {
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new("service.name", service)],
                ..Resource::default()
            }),
            scope: Scope::default(),
        })
    };
    let (a, b, a_again) = (origin("cart"), origin("payment"), origin("cart"));
    let spans: Vec<Span> = [&a, &b, &a_again, &a]
        .iter()
        .enumerate()
        .map(|(i, o)| Span {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(i as u64 + 1),
            start_time_unix_nano: i as u64,
            origin: Arc::clone(o),
            ..Span::default()
        })
        .collect();
    let view = TraceView::new(
        TraceId::from_u128(1),
        &spans,
        TraceFlags::default(),
        Duration::ZERO,
    );
    let mut encoder = ViewEncoder::new();
    let bytes = encoder
        .encode(&view, EncodeOptions::default())
        .expect("fits");
    let trace = TraceBuf::parse(bytes).expect("parses");
    assert_eq!(trace.origin_count(), 2);
    let origins: Vec<usize> = trace
        .spans()
        .map(|s| s.origin().map_or(usize::MAX, |o| o.index()))
        .collect();
    assert_eq!(origins, [0, 1, 0, 0]);
    assert_eq!(trace.span(1).and_then(|s| s.service()), Some("payment"));
}
