//! Reading OTLP/JSON: serde mirrors of the trace messages, converted into the prost types.
//!
//! Deriving `Deserialize` on mirrors (rather than on the prost types, which this crate does not
//! own) keeps each field's JSON rule next to the field. Every field accepts `null` as its
//! default, as the protobuf JSON mapping requires; unknown fields are ignored (serde's default),
//! as OTLP/JSON requires.

use std::fmt;

use opentelemetry_proto::tonic::collector::trace::v1 as collector;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::scalars::{hex, int, list, span_kind, status_code, string, Bytes, Double, Int};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Request {
    #[serde(deserialize_with = "list")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceSpans {
    resource: Option<Resource>,
    #[serde(deserialize_with = "list")]
    scope_spans: Vec<ScopeSpans>,
    #[serde(deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Resource {
    #[serde(deserialize_with = "list")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "int")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "list")]
    entity_refs: Vec<EntityRef>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct EntityRef {
    #[serde(deserialize_with = "string")]
    schema_url: String,
    #[serde(rename = "type", deserialize_with = "string")]
    entity_type: String,
    #[serde(deserialize_with = "list")]
    id_keys: Vec<String>,
    #[serde(deserialize_with = "list")]
    description_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScopeSpans {
    scope: Option<Scope>,
    #[serde(deserialize_with = "list")]
    spans: Vec<Span>,
    #[serde(deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Scope {
    #[serde(deserialize_with = "string")]
    name: String,
    #[serde(deserialize_with = "string")]
    version: String,
    #[serde(deserialize_with = "list")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "int")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Span {
    #[serde(deserialize_with = "hex")]
    trace_id: Vec<u8>,
    #[serde(deserialize_with = "hex")]
    span_id: Vec<u8>,
    #[serde(deserialize_with = "string")]
    trace_state: String,
    #[serde(deserialize_with = "hex")]
    parent_span_id: Vec<u8>,
    #[serde(deserialize_with = "int")]
    flags: u32,
    #[serde(deserialize_with = "string")]
    name: String,
    #[serde(deserialize_with = "span_kind")]
    kind: i32,
    #[serde(deserialize_with = "int")]
    start_time_unix_nano: u64,
    #[serde(deserialize_with = "int")]
    end_time_unix_nano: u64,
    #[serde(deserialize_with = "list")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "int")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "list")]
    events: Vec<Event>,
    #[serde(deserialize_with = "int")]
    dropped_events_count: u32,
    #[serde(deserialize_with = "list")]
    links: Vec<Link>,
    #[serde(deserialize_with = "int")]
    dropped_links_count: u32,
    status: Option<Status>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Event {
    #[serde(deserialize_with = "int")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "string")]
    name: String,
    #[serde(deserialize_with = "list")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "int")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Link {
    #[serde(deserialize_with = "hex")]
    trace_id: Vec<u8>,
    #[serde(deserialize_with = "hex")]
    span_id: Vec<u8>,
    #[serde(deserialize_with = "string")]
    trace_state: String,
    #[serde(deserialize_with = "list")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "int")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "int")]
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Status {
    #[serde(deserialize_with = "string")]
    message: String,
    #[serde(deserialize_with = "status_code")]
    code: i32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct KeyValue {
    #[serde(deserialize_with = "string")]
    key: String,
    value: Option<AnyValue>,
    #[serde(deserialize_with = "int")]
    key_strindex: i32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArrayValue {
    #[serde(deserialize_with = "list")]
    values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValueList {
    #[serde(deserialize_with = "list")]
    values: Vec<KeyValue>,
}

/// `AnyValue` is a oneof: at most one of its value keys may be set (`null` counts as unset).
#[derive(Default)]
struct AnyValue(Option<common::any_value::Value>);

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnyValue, D::Error> {
        d.deserialize_map(AnyValueVisitor)
    }
}

struct AnyValueVisitor;

impl<'de> Visitor<'de> for AnyValueVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AnyValue object such as {\"stringValue\": \"x\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        use common::any_value::Value as V;
        let mut value: Option<V> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let next = match &*key {
                "stringValue" => map.next_value::<Option<String>>()?.map(V::StringValue),
                "boolValue" => map.next_value::<Option<bool>>()?.map(V::BoolValue),
                "intValue" => map
                    .next_value::<Option<Int<i64>>>()?
                    .map(|i| V::IntValue(i.0)),
                "doubleValue" => map
                    .next_value::<Option<Double>>()?
                    .map(|d| V::DoubleValue(d.0)),
                "bytesValue" => map
                    .next_value::<Option<Bytes>>()?
                    .map(|b| V::BytesValue(b.0)),
                "arrayValue" => map
                    .next_value::<Option<ArrayValue>>()?
                    .map(|a| V::ArrayValue(a.into())),
                "kvlistValue" => map
                    .next_value::<Option<KeyValueList>>()?
                    .map(|kvs| V::KvlistValue(kvs.into())),
                "stringValueStrindex" => map
                    .next_value::<Option<Int<i32>>>()?
                    .map(|i| V::StringValueStrindex(i.0)),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    None
                }
            };
            if next.is_some() {
                if value.is_some() {
                    return Err(de::Error::custom(format_args!(
                        "AnyValue has more than one value (second: {key:?}); it may hold one"
                    )));
                }
                value = next;
            }
        }
        Ok(AnyValue(value))
    }
}

impl From<Request> for collector::ExportTraceServiceRequest {
    fn from(r: Request) -> Self {
        collector::ExportTraceServiceRequest {
            resource_spans: convert_all(r.resource_spans),
        }
    }
}

fn convert_all<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

impl From<ResourceSpans> for trace::ResourceSpans {
    fn from(rs: ResourceSpans) -> Self {
        trace::ResourceSpans {
            resource: rs.resource.map(|r| resource::Resource {
                attributes: convert_all(r.attributes),
                dropped_attributes_count: r.dropped_attributes_count,
                entity_refs: convert_all(r.entity_refs),
            }),
            scope_spans: convert_all(rs.scope_spans),
            schema_url: rs.schema_url,
        }
    }
}

impl From<EntityRef> for common::EntityRef {
    fn from(e: EntityRef) -> Self {
        common::EntityRef {
            schema_url: e.schema_url,
            r#type: e.entity_type,
            id_keys: e.id_keys,
            description_keys: e.description_keys,
        }
    }
}

impl From<ScopeSpans> for trace::ScopeSpans {
    fn from(ss: ScopeSpans) -> Self {
        trace::ScopeSpans {
            scope: ss.scope.map(|s| common::InstrumentationScope {
                name: s.name,
                version: s.version,
                attributes: convert_all(s.attributes),
                dropped_attributes_count: s.dropped_attributes_count,
            }),
            spans: convert_all(ss.spans),
            schema_url: ss.schema_url,
        }
    }
}

impl From<Span> for trace::Span {
    fn from(s: Span) -> Self {
        trace::Span {
            trace_id: s.trace_id,
            span_id: s.span_id,
            trace_state: s.trace_state,
            parent_span_id: s.parent_span_id,
            flags: s.flags,
            name: s.name,
            kind: s.kind,
            start_time_unix_nano: s.start_time_unix_nano,
            end_time_unix_nano: s.end_time_unix_nano,
            attributes: convert_all(s.attributes),
            dropped_attributes_count: s.dropped_attributes_count,
            events: s
                .events
                .into_iter()
                .map(|e| trace::span::Event {
                    time_unix_nano: e.time_unix_nano,
                    name: e.name,
                    attributes: convert_all(e.attributes),
                    dropped_attributes_count: e.dropped_attributes_count,
                })
                .collect(),
            dropped_events_count: s.dropped_events_count,
            links: s
                .links
                .into_iter()
                .map(|l| trace::span::Link {
                    trace_id: l.trace_id,
                    span_id: l.span_id,
                    trace_state: l.trace_state,
                    attributes: convert_all(l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: l.flags,
                })
                .collect(),
            dropped_links_count: s.dropped_links_count,
            status: s.status.map(|st| trace::Status {
                message: st.message,
                code: st.code,
            }),
        }
    }
}

impl From<KeyValue> for common::KeyValue {
    fn from(kv: KeyValue) -> Self {
        common::KeyValue {
            key: kv.key,
            value: kv.value.map(common::AnyValue::from),
            key_strindex: kv.key_strindex,
        }
    }
}

impl From<AnyValue> for common::AnyValue {
    fn from(v: AnyValue) -> Self {
        common::AnyValue { value: v.0 }
    }
}

impl From<ArrayValue> for common::ArrayValue {
    fn from(a: ArrayValue) -> Self {
        common::ArrayValue {
            values: convert_all(a.values),
        }
    }
}

impl From<KeyValueList> for common::KeyValueList {
    fn from(kvs: KeyValueList) -> Self {
        common::KeyValueList {
            values: convert_all(kvs.values),
        }
    }
}
