//! Generators of OTLP trace requests in the canonical form the bridge writes (see the
//! `convert` module docs), shared by the round-trip tests.
#![allow(dead_code)] // Each test binary uses part of this module.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use proptest::collection::vec;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z._/]{0,12}",
        1 => "(?s).{0,8}", // any Unicode, control characters and newlines included
    ]
}

fn double() -> impl Strategy<Value = f64> {
    // NaN is left out only because it is not equal to itself; json_roundtrip tests it alone.
    use proptest::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

/// Every `AnyValue` kind, nested arrays and kvlists included, and the empty value.
pub fn any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(V::StringValue(s))),
        any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(V::IntValue(i))),
        double().prop_map(|d| Some(V::DoubleValue(d))),
        vec(any::<u8>(), 0..12).prop_map(|b| Some(V::BytesValue(b))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|values| Some(V::ArrayValue(ArrayValue { values }))),
            vec((text(), inner), 0..4).prop_map(|kvs| {
                Some(V::KvlistValue(KeyValueList {
                    values: kvs.into_iter().map(|(k, v)| key_value(k, v)).collect(),
                }))
            }),
        ]
        .prop_map(|value| AnyValue { value })
    })
}

fn key_value(key: String, value: AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        key_strindex: 0,
    }
}

pub fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    vec((text(), any_value()), 0..4)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| key_value(k, v)).collect())
}

fn bytes(n: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), n)
}

fn parent_span_id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        bytes(8).prop_filter("a zero parent id is written empty", |b| b
            .iter()
            .any(|&x| x != 0)),
    ]
}

fn event() -> impl Strategy<Value = span::Event> {
    (any::<u64>(), text(), attributes(), any::<u32>()).prop_map(|(t, name, attributes, d)| {
        span::Event {
            time_unix_nano: t,
            name,
            attributes,
            dropped_attributes_count: d,
        }
    })
}

fn link() -> impl Strategy<Value = span::Link> {
    (
        bytes(16),
        bytes(8),
        text(),
        attributes(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, d, flags)| span::Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count: d,
                flags,
            },
        )
}

prop_compose! {
    pub fn proto_span()(
        ids in (bytes(16), bytes(8), parent_span_id()),
        trace_state in text(),
        flags in any::<u32>(),
        name in text(),
        kind in 0..=5i32,
        times in (any::<u64>(), any::<u64>()),
        attributes in attributes(),
        events in vec(event(), 0..3),
        links in vec(link(), 0..3),
        dropped in (any::<u32>(), any::<u32>(), any::<u32>()),
        status in (text(), 0..=2i32),
    ) -> Span {
        Span {
            trace_id: ids.0,
            span_id: ids.1,
            parent_span_id: ids.2,
            trace_state,
            flags,
            name,
            kind,
            start_time_unix_nano: times.0,
            end_time_unix_nano: times.1,
            attributes,
            dropped_attributes_count: dropped.0,
            events,
            dropped_events_count: dropped.1,
            links,
            dropped_links_count: dropped.2,
            status: Some(Status { message: status.0, code: status.1 }),
        }
    }
}

fn entity_ref() -> impl Strategy<Value = EntityRef> {
    (text(), text(), vec(text(), 0..3), vec(text(), 0..3)).prop_map(|(s, t, ids, descs)| {
        EntityRef {
            schema_url: s,
            r#type: t,
            id_keys: ids,
            description_keys: descs,
        }
    })
}

fn scope_spans() -> impl Strategy<Value = ScopeSpans> {
    (
        text(),
        text(),
        attributes(),
        any::<u32>(),
        vec(proto_span(), 1..4),
        text(),
    )
        .prop_map(
            |(name, version, attributes, d, spans, schema_url)| ScopeSpans {
                scope: Some(InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count: d,
                }),
                spans,
                schema_url,
            },
        )
}

fn resource_spans() -> impl Strategy<Value = ResourceSpans> {
    (
        attributes(),
        any::<u32>(),
        vec(entity_ref(), 0..2),
        vec(scope_spans(), 1..3),
        text(),
    )
        .prop_map(
            |(attributes, d, entity_refs, mut scope_spans, schema_url)| {
                // Scopes of one resource differ, or the bridge would rightly merge them.
                for (i, ss) in scope_spans.iter_mut().enumerate() {
                    if let Some(scope) = &mut ss.scope {
                        scope.attributes.push(test_index("test.scope", i));
                    }
                }
                ResourceSpans {
                    resource: Some(Resource {
                        attributes,
                        dropped_attributes_count: d,
                        entity_refs,
                    }),
                    scope_spans,
                    schema_url,
                }
            },
        )
}

fn test_index(key: &str, i: usize) -> KeyValue {
    key_value(
        key.to_owned(),
        AnyValue {
            value: Some(any_value::Value::IntValue(i as i64)),
        },
    )
}

/// A request with several resources and scopes, in canonical form.
pub fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    vec(resource_spans(), 1..4).prop_map(|mut resource_spans| {
        // Resources of one request differ, or the bridge would rightly merge them.
        for (i, rs) in resource_spans.iter_mut().enumerate() {
            if let Some(resource) = &mut rs.resource {
                resource.attributes.push(test_index("test.resource", i));
            }
        }
        ExportTraceServiceRequest { resource_spans }
    })
}
