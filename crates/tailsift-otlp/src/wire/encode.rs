//! Engine spans straight to an encoded `ExportTraceServiceRequest`: the bytes prost writes for
//! [`request_from_spans`](crate::request_from_spans), with no prost message in between.
//!
//! Each message is written once. Its length goes before it, and is known only after it: the
//! writer leaves one byte for it, writes the message, and moves the message up when its length
//! needs more bytes (a message of 128 bytes or more; most attributes are shorter).

use tailsift::span::EntityRef;
use tailsift::{Event, KeyValue, Link, Resource, Scope, Span, Value};

use crate::convert::{group_spans, ResourceGroup};

/// Appends `spans` to `out` as one encoded `ExportTraceServiceRequest`, grouped under their
/// resources and scopes: the bytes of `request_from_spans(spans).encode_to_vec()`.
///
/// ```
/// use tailsift_otlp::prost::Message;
/// use tailsift_otlp::{encode_spans, request_from_spans};
///
/// let spans = [tailsift::Span { name: "GET /cart".into(), ..tailsift::Span::default() }];
/// let mut bytes = Vec::new();
/// encode_spans(&spans, &mut bytes);
/// assert_eq!(bytes, request_from_spans(&spans).encode_to_vec());
/// ```
pub fn encode_spans(spans: &[Span], out: &mut Vec<u8>) {
    let mut w = Writer { out };
    for group in group_spans(spans) {
        w.message(1, |w| w.resource_spans(&group));
    }
}

/// [`encode_spans`] with its length before it, as a varint: one message of a length-prefixed
/// stream (prost's `encode_length_delimited`), as [`SpanWriter`](crate::SpanWriter) writes
/// them.
pub fn encode_spans_length_delimited(spans: &[Span], out: &mut Vec<u8>) {
    Writer { out }.prefixed(|w| encode_spans(spans, w.out));
}

/// `value` as a varint, in `buf`.
fn varint(mut value: u64, buf: &mut [u8; 10]) -> &[u8] {
    let mut n = 0;
    while value >= 0x80 {
        buf[n] = value as u8 | 0x80;
        value >>= 7;
        n += 1;
    }
    buf[n] = value as u8;
    &buf[..=n]
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

/// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

impl Writer<'_> {
    fn varint(&mut self, value: u64) {
        // Most are one byte: keys, short lengths, small counts.
        if value < 0x80 {
            self.out.push(value as u8);
        } else {
            self.out.extend_from_slice(varint(value, &mut [0; 10]));
        }
    }

    fn key(&mut self, number: u32, wire_type: u32) {
        self.varint(u64::from(number << 3 | wire_type));
    }

    /// What `body` writes, with its length before it.
    fn prefixed(&mut self, body: impl FnOnce(&mut Self)) {
        let start = self.out.len();
        self.out.push(0);
        body(self);
        let len = self.out.len() - start - 1;
        if len < 0x80 {
            self.out[start] = len as u8;
        } else {
            let mut buf = [0; 10];
            let prefix = varint(len as u64, &mut buf);
            self.out.splice(start..start + 1, prefix.iter().copied());
        }
    }

    /// A message field: written whenever present, even empty.
    fn message(&mut self, number: u32, body: impl FnOnce(&mut Self)) {
        self.key(number, LEN);
        self.prefixed(body);
    }

    /// A string or bytes field of a message: written unless empty, as proto3 does.
    fn bytes(&mut self, number: u32, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.element(number, bytes);
        }
    }

    /// An element of a repeated string field, or a string value of a oneof: written even
    /// empty.
    fn element(&mut self, number: u32, bytes: &[u8]) {
        self.key(number, LEN);
        self.varint(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    /// An integer field: written unless zero.
    fn uint(&mut self, number: u32, value: u64) {
        if value != 0 {
            self.key(number, VARINT);
            self.varint(value);
        }
    }

    /// An `int32` or enum field: written unless zero, negative ones sign-extended as prost
    /// does.
    fn int32(&mut self, number: u32, value: i32) {
        self.uint(number, i64::from(value) as u64);
    }

    fn fixed64(&mut self, number: u32, value: u64) {
        if value != 0 {
            self.key(number, FIXED64);
            self.out.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn fixed32(&mut self, number: u32, value: u32) {
        if value != 0 {
            self.key(number, FIXED32);
            self.out.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn resource_spans(&mut self, group: &ResourceGroup<'_>) {
        let resource = group.resource.first;
        self.message(1, |w| w.resource(resource));
        for scope in &group.scopes {
            let origin = scope.origin.first;
            self.message(2, |w| {
                w.message(1, |w| w.scope(&origin.scope));
                for span in &scope.spans {
                    w.message(2, |w| w.span(span));
                }
                w.bytes(3, origin.scope.schema_url.as_bytes());
            });
        }
        self.bytes(3, resource.schema_url.as_bytes());
    }

    fn resource(&mut self, r: &Resource) {
        self.attributes(1, &r.attributes);
        self.uint(2, u64::from(r.dropped_attributes_count));
        for e in &r.entity_refs {
            self.message(3, |w| w.entity_ref(e));
        }
    }

    fn entity_ref(&mut self, e: &EntityRef) {
        self.bytes(1, e.schema_url.as_bytes());
        self.bytes(2, e.entity_type.as_bytes());
        for k in &e.id_keys {
            self.element(3, k.as_bytes());
        }
        for k in &e.description_keys {
            self.element(4, k.as_bytes());
        }
    }

    fn scope(&mut self, s: &Scope) {
        self.bytes(1, s.name.as_bytes());
        self.bytes(2, s.version.as_bytes());
        self.attributes(3, &s.attributes);
        self.uint(4, u64::from(s.dropped_attributes_count));
    }

    /// A span's fields in prost's order, which is their numbers' (`flags`, 16, last).
    fn span(&mut self, s: &Span) {
        self.bytes(1, &s.trace_id.0);
        self.bytes(2, &s.span_id.0);
        self.bytes(3, s.trace_state().as_bytes());
        if s.parent_span_id.is_valid() {
            self.bytes(4, &s.parent_span_id.0);
        }
        self.bytes(5, s.name.as_bytes());
        self.int32(6, s.kind as i32);
        self.fixed64(7, s.start_time_unix_nano);
        self.fixed64(8, s.end_time_unix_nano);
        self.attributes(9, &s.attributes);
        self.uint(10, u64::from(s.dropped_attributes_count()));
        for e in s.events() {
            self.message(11, |w| w.event(e));
        }
        self.uint(12, u64::from(s.dropped_events_count()));
        for l in s.links() {
            self.message(13, |w| w.link(l));
        }
        self.uint(14, u64::from(s.dropped_links_count()));
        self.message(15, |w| {
            w.bytes(2, s.status_message().as_bytes());
            w.int32(3, s.status_code as i32);
        });
        self.fixed32(16, s.flags);
    }

    fn event(&mut self, e: &Event) {
        self.fixed64(1, e.time_unix_nano);
        self.bytes(2, e.name.as_bytes());
        self.attributes(3, &e.attributes);
        self.uint(4, u64::from(e.dropped_attributes_count));
    }

    fn link(&mut self, l: &Link) {
        self.bytes(1, &l.trace_id.0);
        self.bytes(2, &l.span_id.0);
        self.bytes(3, l.trace_state.as_bytes());
        self.attributes(4, &l.attributes);
        self.uint(5, u64::from(l.dropped_attributes_count));
        self.fixed32(6, l.flags);
    }

    fn attributes(&mut self, number: u32, attributes: &[KeyValue]) {
        for kv in attributes {
            self.message(number, |w| w.key_value(kv));
        }
    }

    fn key_value(&mut self, kv: &KeyValue) {
        self.bytes(1, kv.key.as_bytes());
        self.message(2, |w| w.any_value(&kv.value));
    }

    /// An `AnyValue`'s one field: written even when zero or empty, as a oneof's is.
    fn any_value(&mut self, v: &Value) {
        match v {
            Value::Empty => {}
            Value::Str(s) => self.element(1, s.as_str().as_bytes()),
            Value::Bool(b) => {
                self.key(2, VARINT);
                self.varint(u64::from(*b));
            }
            Value::Int(i) => {
                self.key(3, VARINT);
                self.varint(*i as u64);
            }
            Value::Double(d) => {
                self.key(4, FIXED64);
                self.out.extend_from_slice(&d.to_bits().to_le_bytes());
            }
            Value::Array(values) => self.message(5, |w| {
                for v in values.iter() {
                    w.message(1, |w| w.any_value(v));
                }
            }),
            Value::KvList(kvs) => self.message(6, |w| w.attributes(1, kvs)),
            Value::Bytes(b) => self.element(7, b),
        }
    }
}
