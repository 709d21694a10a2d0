//! Writing OTLP/JSON straight from the prost types, by reference (no intermediate copy).
//!
//! Follows the protobuf JSON mapping as OTLP/JSON amends it: fields at their default value are
//! left out (a message field that is present is written, even if empty: `"status": {}`),
//! 64-bit integers are decimal strings, enums are integers, ids are lower-case hex, bytes are
//! standard base64 with padding, and non-finite doubles are `"NaN"`, `"Infinity"`,
//! `"-Infinity"`.

use std::fmt;

use opentelemetry_proto::tonic::collector::trace::v1 as collector;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// A prost message (or a field of one) written as OTLP/JSON.
pub(crate) struct Json<'a, T: ?Sized>(pub(crate) &'a T);

/// Writes `key: value` unless `skip`.
pub(super) fn entry<M: SerializeMap, V: Serialize + ?Sized>(
    m: &mut M,
    key: &'static str,
    skip: bool,
    value: &V,
) -> Result<(), M::Error> {
    if skip {
        Ok(())
    } else {
        m.serialize_entry(key, value)
    }
}

impl<'a, T> Serialize for Json<'a, [T]>
where
    Json<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Json))
    }
}

impl<'a, T> Serialize for Json<'a, Vec<T>>
where
    Json<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Json(self.0.as_slice()).serialize(s)
    }
}

impl Serialize for Json<'_, collector::ExportTraceServiceRequest> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "resourceSpans",
            r.resource_spans.is_empty(),
            &Json(&r.resource_spans),
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, trace::ResourceSpans> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(resource) = &r.resource {
            m.serialize_entry("resource", &Json(resource))?;
        }
        entry(
            &mut m,
            "scopeSpans",
            r.scope_spans.is_empty(),
            &Json(&r.scope_spans),
        )?;
        entry(&mut m, "schemaUrl", r.schema_url.is_empty(), &r.schema_url)?;
        m.end()
    }
}

impl Serialize for Json<'_, resource::Resource> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "attributes",
            r.attributes.is_empty(),
            &Json(&r.attributes),
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
            &Json(&r.entity_refs),
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, common::EntityRef> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "schemaUrl", e.schema_url.is_empty(), &e.schema_url)?;
        entry(&mut m, "type", e.r#type.is_empty(), &e.r#type)?;
        entry(&mut m, "idKeys", e.id_keys.is_empty(), &e.id_keys)?;
        entry(
            &mut m,
            "descriptionKeys",
            e.description_keys.is_empty(),
            &e.description_keys,
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, trace::ScopeSpans> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ss = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(scope) = &ss.scope {
            m.serialize_entry("scope", &Json(scope))?;
        }
        entry(&mut m, "spans", ss.spans.is_empty(), &Json(&ss.spans))?;
        entry(
            &mut m,
            "schemaUrl",
            ss.schema_url.is_empty(),
            &ss.schema_url,
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, common::InstrumentationScope> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sc = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "name", sc.name.is_empty(), &sc.name)?;
        entry(&mut m, "version", sc.version.is_empty(), &sc.version)?;
        entry(
            &mut m,
            "attributes",
            sc.attributes.is_empty(),
            &Json(&sc.attributes),
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

impl Serialize for Json<'_, trace::Span> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sp = self.0;
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "traceId",
            sp.trace_id.is_empty(),
            &Hex(&sp.trace_id),
        )?;
        entry(&mut m, "spanId", sp.span_id.is_empty(), &Hex(&sp.span_id))?;
        entry(
            &mut m,
            "traceState",
            sp.trace_state.is_empty(),
            &sp.trace_state,
        )?;
        entry(
            &mut m,
            "parentSpanId",
            sp.parent_span_id.is_empty(),
            &Hex(&sp.parent_span_id),
        )?;
        entry(&mut m, "flags", sp.flags == 0, &sp.flags)?;
        entry(&mut m, "name", sp.name.is_empty(), &sp.name)?;
        entry(&mut m, "kind", sp.kind == 0, &sp.kind)?;
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
            &Json(&sp.attributes),
        )?;
        entry(
            &mut m,
            "droppedAttributesCount",
            sp.dropped_attributes_count == 0,
            &sp.dropped_attributes_count,
        )?;
        entry(&mut m, "events", sp.events.is_empty(), &Json(&sp.events))?;
        entry(
            &mut m,
            "droppedEventsCount",
            sp.dropped_events_count == 0,
            &sp.dropped_events_count,
        )?;
        entry(&mut m, "links", sp.links.is_empty(), &Json(&sp.links))?;
        entry(
            &mut m,
            "droppedLinksCount",
            sp.dropped_links_count == 0,
            &sp.dropped_links_count,
        )?;
        if let Some(status) = &sp.status {
            m.serialize_entry("status", &Json(status))?;
        }
        m.end()
    }
}

impl Serialize for Json<'_, trace::span::Event> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "timeUnixNano",
            e.time_unix_nano == 0,
            &Decimal(e.time_unix_nano),
        )?;
        entry(&mut m, "name", e.name.is_empty(), &e.name)?;
        entry(
            &mut m,
            "attributes",
            e.attributes.is_empty(),
            &Json(&e.attributes),
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

impl Serialize for Json<'_, trace::span::Link> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "traceId", l.trace_id.is_empty(), &Hex(&l.trace_id))?;
        entry(&mut m, "spanId", l.span_id.is_empty(), &Hex(&l.span_id))?;
        entry(
            &mut m,
            "traceState",
            l.trace_state.is_empty(),
            &l.trace_state,
        )?;
        entry(
            &mut m,
            "attributes",
            l.attributes.is_empty(),
            &Json(&l.attributes),
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

impl Serialize for Json<'_, trace::Status> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "message", st.message.is_empty(), &st.message)?;
        entry(&mut m, "code", st.code == 0, &st.code)?;
        m.end()
    }
}

impl Serialize for Json<'_, common::KeyValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kv = self.0;
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "key", kv.key.is_empty(), &kv.key)?;
        if let Some(value) = &kv.value {
            m.serialize_entry("value", &Json(value))?;
        }
        entry(
            &mut m,
            "keyStrindex",
            kv.key_strindex == 0,
            &kv.key_strindex,
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, common::AnyValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use common::any_value::Value as V;
        let mut m = s.serialize_map(None)?;
        match &self.0.value {
            None => {}
            Some(V::StringValue(v)) => m.serialize_entry("stringValue", v)?,
            Some(V::BoolValue(v)) => m.serialize_entry("boolValue", v)?,
            Some(V::IntValue(v)) => m.serialize_entry("intValue", &Decimal(*v))?,
            Some(V::DoubleValue(v)) => m.serialize_entry("doubleValue", &Double(*v))?,
            Some(V::BytesValue(v)) => m.serialize_entry("bytesValue", &Base64(v))?,
            Some(V::ArrayValue(v)) => m.serialize_entry("arrayValue", &Json(v))?,
            Some(V::KvlistValue(v)) => m.serialize_entry("kvlistValue", &Json(v))?,
            Some(V::StringValueStrindex(v)) => m.serialize_entry("stringValueStrindex", v)?,
        }
        m.end()
    }
}

impl Serialize for Json<'_, common::ArrayValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "values",
            self.0.values.is_empty(),
            &Json(&self.0.values),
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, common::KeyValueList> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        entry(
            &mut m,
            "values",
            self.0.values.is_empty(),
            &Json(&self.0.values),
        )?;
        m.end()
    }
}

/// A 64-bit integer as a decimal string.
pub(super) struct Decimal<T>(pub(super) T);

impl<T: itoa::Integer + Copy> Serialize for Decimal<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

/// An id as lower-case hex.
pub(super) struct Hex<'a>(pub(super) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Ids are 16 or 8 bytes: written from the stack, not through the formatter.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 32];
        if self.0.len() > buf.len() / 2 {
            return s.collect_str(self);
        }
        for (pair, b) in buf.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        let hex =
            std::str::from_utf8(&buf[..2 * self.0.len()]).map_err(serde::ser::Error::custom)?;
        s.serialize_str(hex)
    }
}

/// Bytes as standard, padded base64.
pub(super) struct Base64<'a>(pub(super) &'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&base64::display::Base64Display::new(
            self.0,
            &base64::engine::general_purpose::STANDARD,
        ))
    }
}

/// A double; JSON has no NaN or infinities, so the protobuf JSON mapping writes them as
/// strings.
pub(super) struct Double(pub(super) f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        if d.is_nan() {
            s.serialize_str("NaN")
        } else if d == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if d == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(d)
        }
    }
}
