//! Writing OTLP/JSON straight from engine spans: the text [`to_string`](super::to_string)
//! writes for [`request_from_spans`](crate::request_from_spans), with no prost message in
//! between (no copy of every name, key and value into a `String` of its own).
//!
//! The request is the canonical form `request_from_spans` builds: every resource, scope, status
//! and attribute value present (written even when empty), a parent span id only when the span
//! has one, and the fields at their default value left out, as [`ser`](super::ser) leaves them
//! out.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use tailsift::span::EntityRef;
use tailsift::{Event, KeyValue, Link, Resource, Scope, Span, Str, Value};

use super::ser::{entry, Base64, Decimal, Double, Hex};
use crate::convert::{group_spans, ResourceGroup, ScopeGroup};

/// A part of a [`Request`], written as `request_from_spans` makes it.
pub(super) struct FromSpans<'a, T: ?Sized>(pub(super) &'a T);

impl<'a, T> Serialize for FromSpans<'a, [T]>
where
    FromSpans<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(FromSpans))
    }
}

/// Spans written as one request, grouped under their resources and scopes.
pub(super) struct Request<'a>(pub(super) &'a [Span]);

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let groups = group_spans(self.0);
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "resourceSpans",
            groups.is_empty(),
            &FromSpans(groups.as_slice()),
        )?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, ResourceGroup<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let resource: &Resource = self.0.resource.first;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resource", &FromSpans(resource))?;
        entry(
            &mut m,
            "scopeSpans",
            self.0.scopes.is_empty(),
            &FromSpans(self.0.scopes.as_slice()),
        )?;
        let schema_url = resource.schema_url.as_str();
        entry(&mut m, "schemaUrl", schema_url.is_empty(), schema_url)?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, Resource> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "attributes",
            r.attributes.is_empty(),
            &FromSpans(r.attributes.as_slice()),
        )?;
        entry(
            &mut m,
            "droppedAttributesCount",
            r.dropped_attributes_count == 0,
            &r.dropped_attributes_count,
        )?;
        entry(
            &mut m,
            "entityRefs",
            r.entity_refs.is_empty(),
            &FromSpans(r.entity_refs.as_slice()),
        )?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, EntityRef> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        let schema_url = e.schema_url.as_str();
        entry(&mut m, "schemaUrl", schema_url.is_empty(), schema_url)?;
        let entity_type = e.entity_type.as_str();
        entry(&mut m, "type", entity_type.is_empty(), entity_type)?;
        entry(
            &mut m,
            "idKeys",
            e.id_keys.is_empty(),
            &FromSpans(e.id_keys.as_slice()),
        )?;
        entry(
            &mut m,
            "descriptionKeys",
            e.description_keys.is_empty(),
            &FromSpans(e.description_keys.as_slice()),
        )?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, Str> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl Serialize for FromSpans<'_, ScopeGroup<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let scope = &self.0.origin.first.scope;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("scope", &FromSpans(scope))?;
        entry(
            &mut m,
            "spans",
            self.0.spans.is_empty(),
            &FromSpans(self.0.spans.as_slice()),
        )?;
        let schema_url = scope.schema_url.as_str();
        entry(&mut m, "schemaUrl", schema_url.is_empty(), schema_url)?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, Scope> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sc = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "name", sc.name.is_empty(), sc.name.as_str())?;
        entry(
            &mut m,
            "version",
            sc.version.is_empty(),
            sc.version.as_str(),
        )?;
        entry(
            &mut m,
            "attributes",
            sc.attributes.is_empty(),
            &FromSpans(sc.attributes.as_slice()),
        )?;
        entry(
            &mut m,
            "droppedAttributesCount",
            sc.dropped_attributes_count == 0,
            &sc.dropped_attributes_count,
        )?;
        m.end()
    }
}

/// A span of a scope group.
impl Serialize for FromSpans<'_, &Span> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sp: &Span = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceId", &Hex(&sp.trace_id.0))?;
        m.serialize_entry("spanId", &Hex(&sp.span_id.0))?;
        let trace_state = sp.trace_state();
        entry(&mut m, "traceState", trace_state.is_empty(), trace_state)?;
        entry(
            &mut m,
            "parentSpanId",
            !sp.parent_span_id.is_valid(),
            &Hex(&sp.parent_span_id.0),
        )?;
        entry(&mut m, "flags", sp.flags == 0, &sp.flags)?;
        entry(&mut m, "name", sp.name.is_empty(), sp.name.as_str())?;
        let kind = sp.kind as i32;
        entry(&mut m, "kind", kind == 0, &kind)?;
        entry(
            &mut m,
            "startTimeUnixNano",
            sp.start_time_unix_nano == 0,
            &Decimal(sp.start_time_unix_nano),
        )?;
        entry(
            &mut m,
            "endTimeUnixNano",
            sp.end_time_unix_nano == 0,
            &Decimal(sp.end_time_unix_nano),
        )?;
        entry(
            &mut m,
            "attributes",
            sp.attributes.is_empty(),
            &FromSpans(&*sp.attributes),
        )?;
        let dropped = sp.dropped_attributes_count();
        entry(&mut m, "droppedAttributesCount", dropped == 0, &dropped)?;
        let events = sp.events();
        entry(&mut m, "events", events.is_empty(), &FromSpans(events))?;
        let dropped = sp.dropped_events_count();
        entry(&mut m, "droppedEventsCount", dropped == 0, &dropped)?;
        let links = sp.links();
        entry(&mut m, "links", links.is_empty(), &FromSpans(links))?;
        let dropped = sp.dropped_links_count();
        entry(&mut m, "droppedLinksCount", dropped == 0, &dropped)?;
        m.serialize_entry("status", &Status(sp))?;
        m.end()
    }
}

/// A span's status, always present in the canonical form.
struct Status<'a>(&'a Span);

impl Serialize for Status<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let message = self.0.status_message();
        entry(&mut m, "message", message.is_empty(), message)?;
        let code = self.0.status_code as i32;
        entry(&mut m, "code", code == 0, &code)?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, Event> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "timeUnixNano",
            e.time_unix_nano == 0,
            &Decimal(e.time_unix_nano),
        )?;
        entry(&mut m, "name", e.name.is_empty(), e.name.as_str())?;
        entry(
            &mut m,
            "attributes",
            e.attributes.is_empty(),
            &FromSpans(e.attributes.as_slice()),
        )?;
        entry(
            &mut m,
            "droppedAttributesCount",
            e.dropped_attributes_count == 0,
            &e.dropped_attributes_count,
        )?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, Link> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceId", &Hex(&l.trace_id.0))?;
        m.serialize_entry("spanId", &Hex(&l.span_id.0))?;
        let trace_state = l.trace_state.as_str();
        entry(&mut m, "traceState", trace_state.is_empty(), trace_state)?;
        entry(
            &mut m,
            "attributes",
            l.attributes.is_empty(),
            &FromSpans(l.attributes.as_slice()),
        )?;
        entry(
            &mut m,
            "droppedAttributesCount",
            l.dropped_attributes_count == 0,
            &l.dropped_attributes_count,
        )?;
        entry(&mut m, "flags", l.flags == 0, &l.flags)?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, KeyValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kv = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "key", kv.key.is_empty(), kv.key.as_str())?;
        m.serialize_entry("value", &FromSpans(&kv.value))?;
        m.end()
    }
}

impl Serialize for FromSpans<'_, Value> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self.0 {
            Value::Empty => {}
            Value::Str(v) => m.serialize_entry("stringValue", v.as_str())?,
            Value::Bool(v) => m.serialize_entry("boolValue", v)?,
            Value::Int(v) => m.serialize_entry("intValue", &Decimal(*v))?,
            Value::Double(v) => m.serialize_entry("doubleValue", &Double(*v))?,
            Value::Bytes(v) => m.serialize_entry("bytesValue", &Base64(v.as_slice()))?,
            Value::Array(v) => m.serialize_entry("arrayValue", &Values(v.as_slice()))?,
            Value::KvList(v) => m.serialize_entry("kvlistValue", &Values(v.as_slice()))?,
        }
        m.end()
    }
}

/// An `ArrayValue` or a `KeyValueList`: `{"values": [...]}`, the list left out when empty.
struct Values<'a, T>(&'a [T]);

impl<'a, T> Serialize for Values<'a, T>
where
    FromSpans<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "values", self.0.is_empty(), &FromSpans(self.0))?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use tailsift::{Interner, Origin, SpanId, TraceId};

    use crate::common;
    use crate::json::{spans_to_string, spans_to_writer, to_string};
    use crate::{request_from_spans, spans_from_request};

    use super::*;

    /// What `to_string` writes for the request `request_from_spans` builds.
    fn by_request(spans: &[Span]) -> String {
        to_string(&request_from_spans(spans))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn spans_are_written_as_their_request_is(request in common::request()) {
            let spans = spans_from_request(&request, &Interner::default()).expect("valid ids");
            prop_assert_eq!(spans_to_string(&spans), by_request(&spans));
        }
    }

    #[test]
    fn groups_empty_values_and_odd_numbers_are_written_as_their_request_is() {
        let origin = |service: &str, scope: &str| {
            Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::new("service.name", service)],
                    schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
                    ..Resource::default()
                }),
                scope: Scope {
                    name: scope.into(),
                    ..Scope::default()
                },
            })
        };
        // Two equal origins in two `Arc`s, and two others: three groups in two resources.
        let origins = [
            origin("checkout", "a"),
            origin("cart", "a"),
            origin("checkout", "a"),
            origin("checkout", "b"),
        ];
        let span = |i: usize, attributes: Vec<KeyValue>| Span {
            trace_id: TraceId([i as u8 + 1; 16]),
            span_id: SpanId([i as u8 + 1; 8]),
            parent_span_id: if i % 2 == 0 {
                SpanId::INVALID
            } else {
                SpanId([9; 8])
            },
            name: format!("op \"{i}\"\n").into(),
            attributes: attributes.into_boxed_slice(),
            origin: Arc::clone(&origins[i % 4]),
            ..Span::default()
        };
        let mut spans = vec![
            span(0, vec![KeyValue::new("a", "x".repeat(100))]),
            span(1, Vec::new()),
            span(2, vec![KeyValue::new("c", "\u{1}\u{e9}")]),
            span(
                3,
                vec![
                    KeyValue::new("nan", f64::NAN),
                    KeyValue::new("inf", f64::NEG_INFINITY),
                    KeyValue::new("min", i64::MIN),
                    KeyValue::new("false", false),
                    KeyValue::new("empty", ""),
                    KeyValue {
                        key: "".into(),
                        value: Value::Empty,
                    },
                    KeyValue::new(
                        "nested",
                        Value::Array(Arc::new(vec![
                            Value::Array(Arc::new(Vec::new())),
                            Value::KvList(Arc::new(vec![KeyValue::new("k", 0.0)])),
                            Value::Bytes(Arc::new(vec![0, 255])),
                        ])),
                    ),
                ],
            ),
        ];
        spans[2].kind = tailsift::SpanKind::Server;
        spans[3].status_code = tailsift::StatusCode::Error;
        spans[3].flags = 257;
        spans[3].start_time_unix_nano = 1;
        spans[3].end_time_unix_nano = u64::MAX;
        let extra = spans[1].extra_mut();
        extra.trace_state = "k=v".into();
        extra.status_message = "boom".into();
        extra.events.push(Event {
            name: "exception".into(),
            time_unix_nano: u64::MAX,
            ..Event::default()
        });
        extra.links.push(Link {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([8; 8]),
            flags: 1,
            ..Link::default()
        });
        let json = spans_to_string(&spans);
        assert_eq!(json, by_request(&spans));
        assert!(json.contains(r#""stringValue":"""#) && json.contains(r#""arrayValue":{}"#));
        let mut written = Vec::new();
        spans_to_writer(&mut written, &spans).unwrap();
        assert_eq!(written, json.as_bytes());
        assert_eq!(spans_to_string(&[]), "{}");
        assert_eq!(spans_to_string(&[]), by_request(&[]));
    }
}
