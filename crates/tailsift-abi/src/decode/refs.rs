//! The views a parsed [`TraceBuf`] hands out: spans, origins, attributes and index columns,
//! each a reference to the buffer and a position in it, read in place.

use super::{array_at, u32_at, TraceBuf};
use crate::layout::{
    Section, NONE, ORIGIN_RESOURCE_END, ORIGIN_RESOURCE_START, ORIGIN_SCOPE_END, ORIGIN_SCOPE_NAME,
    ORIGIN_SCOPE_START, ORIGIN_SCOPE_VERSION, ORIGIN_SERVICE,
};
use crate::value::Value;

/// One span of a [`TraceBuf`], read in place.
#[derive(Clone, Copy, Debug)]
pub struct SpanRef<'a> {
    pub(super) buf: &'a TraceBuf<'a>,
    pub(super) index: usize,
}

impl<'a> SpanRef<'a> {
    /// The span's index in the trace.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The span id, as its 8 bytes on the wire.
    pub fn span_id(&self) -> [u8; 8] {
        array_at(self.buf.section(Section::SpanId), self.index * 8).unwrap_or([0; 8])
    }

    /// The parent's span id (all zero for a root).
    pub fn parent_span_id(&self) -> [u8; 8] {
        array_at(self.buf.section(Section::ParentSpanId), self.index * 8).unwrap_or([0; 8])
    }

    /// Start, unix nanoseconds.
    pub fn start_unix_nano(&self) -> u64 {
        self.buf.u64_in(Section::SpanStart, self.index).unwrap_or(0)
    }

    /// End, unix nanoseconds.
    pub fn end_unix_nano(&self) -> u64 {
        self.buf.u64_in(Section::SpanEnd, self.index).unwrap_or(0)
    }

    /// Duration in nanoseconds (zero if the span ends before it starts).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano().saturating_sub(self.start_unix_nano())
    }

    /// The operation name; `None` only if the buffer's string index or UTF-8 is bad.
    pub fn name(&self) -> Option<&'a str> {
        self.buf
            .string(self.buf.u32_in(Section::SpanName, self.index)? as usize)
    }

    /// The span kind, as OTLP's wire value (0 unspecified, 1 internal, 2 server, 3 client,
    /// 4 producer, 5 consumer).
    pub fn kind(&self) -> u8 {
        self.byte_in(Section::SpanKind)
    }

    /// The status code, as OTLP's wire value (0 unset, 1 ok, 2 error).
    pub fn status(&self) -> u8 {
        self.byte_in(Section::SpanStatus)
    }

    /// Whether the span's status is ERROR.
    pub fn is_error(&self) -> bool {
        self.status() == 2
    }

    fn byte_in(&self, section: Section) -> u8 {
        self.buf
            .section(section)
            .get(self.index)
            .copied()
            .unwrap_or(0)
    }

    /// W3C trace flags (low 8 bits) and OTLP span flags.
    pub fn flags(&self) -> u32 {
        self.buf.u32_in(Section::SpanFlags, self.index).unwrap_or(0)
    }

    /// The W3C tracestate (`""` when unset); `None` only if the buffer is bad.
    pub fn trace_state(&self) -> Option<&'a str> {
        self.buf
            .string(self.buf.u32_in(Section::SpanTraceState, self.index)? as usize)
    }

    /// The span's origin: its resource and instrumentation scope.
    pub fn origin(&self) -> Option<OriginRef<'a>> {
        self.buf
            .origin(self.buf.u32_in(Section::SpanOrigin, self.index)? as usize)
    }

    /// The `service.name` of the span's resource (`""` when absent); `None` only if the buffer
    /// is bad.
    pub fn service(&self) -> Option<&'a str> {
        self.origin()?.service()
    }

    /// The span's attributes, in their order on the span.
    pub fn attributes(&self) -> Attributes<'a> {
        let start = self.buf.u32_in(Section::SpanAttributes, self.index);
        let end = self.buf.u32_in(Section::SpanAttributes, self.index + 1);
        match (start, end) {
            (Some(start), Some(end)) => self.buf.attributes(start as usize, end as usize),
            _ => self.buf.attributes(0, 0),
        }
    }

    /// The value of the first span attribute named `key`. `None` when there is none (or its
    /// value is malformed).
    pub fn attribute(&self, key: &str) -> Option<Value<'a>> {
        self.attributes().find_key(key)
    }

    /// The index of the span's parent in the trace, when the host included parent indices
    /// ([`TraceBuf::has_parents`]) and the parent is in the trace.
    pub fn parent_index(&self) -> Option<usize> {
        match self.buf.u32_in(Section::ParentIndex, self.index)? {
            NONE => None,
            parent => Some(parent as usize),
        }
    }

    /// The span's parent, when [`SpanRef::parent_index`] gives one in range.
    pub fn parent(&self) -> Option<SpanRef<'a>> {
        self.buf.span(self.parent_index()?)
    }
}

/// One distinct origin of a [`TraceBuf`]: the resource and instrumentation scope spans came
/// from.
#[derive(Clone, Copy, Debug)]
pub struct OriginRef<'a> {
    pub(super) buf: &'a TraceBuf<'a>,
    pub(super) index: usize,
}

impl<'a> OriginRef<'a> {
    /// The origin's index in the buffer.
    pub fn index(&self) -> usize {
        self.index
    }

    fn string_field(&self, field: usize) -> Option<&'a str> {
        self.buf
            .string(self.buf.origin_field(self.index, field)? as usize)
    }

    fn range(&self, start: usize, end: usize) -> Attributes<'a> {
        let field = |f| self.buf.origin_field(self.index, f).unwrap_or(0) as usize;
        self.buf.attributes(field(start), field(end))
    }

    /// The resource's `service.name` (`""` when absent); `None` only if the buffer is bad.
    pub fn service(&self) -> Option<&'a str> {
        self.string_field(ORIGIN_SERVICE)
    }

    /// The instrumentation scope's name.
    pub fn scope_name(&self) -> Option<&'a str> {
        self.string_field(ORIGIN_SCOPE_NAME)
    }

    /// The instrumentation scope's version.
    pub fn scope_version(&self) -> Option<&'a str> {
        self.string_field(ORIGIN_SCOPE_VERSION)
    }

    /// The resource's attributes.
    pub fn resource_attributes(&self) -> Attributes<'a> {
        self.range(ORIGIN_RESOURCE_START, ORIGIN_RESOURCE_END)
    }

    /// The instrumentation scope's attributes.
    pub fn scope_attributes(&self) -> Attributes<'a> {
        self.range(ORIGIN_SCOPE_START, ORIGIN_SCOPE_END)
    }

    /// The value of the first resource attribute named `key`.
    pub fn resource_attribute(&self, key: &str) -> Option<Value<'a>> {
        self.resource_attributes().find_key(key)
    }
}

/// An attribute of a span or of an origin, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Attribute<'a> {
    pub(super) buf: &'a TraceBuf<'a>,
    pub(super) index: usize,
}

impl<'a> Attribute<'a> {
    /// The key's bytes (no UTF-8 check).
    pub fn key_bytes(&self) -> Option<&'a [u8]> {
        self.buf
            .string_bytes(self.buf.u32_in(Section::AttributeKey, self.index)? as usize)
    }

    /// The key; `None` only if the buffer's string index or UTF-8 is bad.
    pub fn key(&self) -> Option<&'a str> {
        self.buf
            .string(self.buf.u32_in(Section::AttributeKey, self.index)? as usize)
    }

    /// The value; `None` only if the buffer's tag, string index or UTF-8 is bad.
    pub fn value(&self) -> Option<Value<'a>> {
        self.buf.value(self.index)
    }
}

/// The attributes of a span or an origin, in order.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    pub(super) buf: &'a TraceBuf<'a>,
    pub(super) next: usize,
    pub(super) end: usize,
}

impl<'a> Attributes<'a> {
    /// The value of the first remaining attribute whose key is `key` (compared as bytes, so no
    /// key is UTF-8-checked on the way).
    pub fn find_key(mut self, key: &str) -> Option<Value<'a>> {
        self.find(|a| a.key_bytes() == Some(key.as_bytes()))?
            .value()
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        (self.next < self.end).then(|| {
            self.next += 1;
            Attribute {
                buf: self.buf,
                index: self.next - 1,
            }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Attributes<'_> {}

/// A column of span indices (the critical path), read in place.
#[derive(Clone, Copy, Debug)]
pub struct Indices<'a> {
    pub(super) bytes: &'a [u8],
}

impl<'a> Indices<'a> {
    /// How many indices there are.
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < 4
    }

    /// Index `i`. A span index read here may still be out of the trace's range:
    /// [`TraceBuf::span`] answers `None` for it.
    pub fn get(&self, i: usize) -> Option<usize> {
        u32_at(self.bytes, i.checked_mul(4)?).map(|v| v as usize)
    }

    /// Every index, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = usize> + 'a {
        self.bytes
            .chunks_exact(4)
            .map(|c| <[u8; 4]>::try_from(c).map_or(NONE, u32::from_le_bytes) as usize)
    }

    /// Whether span `index` is in the column.
    pub fn contains(&self, index: usize) -> bool {
        self.iter().any(|i| i == index)
    }
}
