//! OTLP protobuf bytes straight to engine spans, and engine spans straight to bytes
//! ([`encode_spans`]), with no prost message in between.
//!
//! [`spans_from_request`](crate::spans_from_request) converts a request prost has already
//! decoded: every key, name and value a `String` of its own, every list a `Vec`, each freed once
//! converted. Reading a capture, that is most of the time (`tailsift replay` spent about two
//! fifths of its time in `malloc` and `free`). Here the bytes are read once: names and keys go
//! to the interner from the message's own bytes, short values into place, and only what an
//! engine span keeps is allocated.
//!
//! The spans equal, one for one, those of decoding with prost and converting. The walk takes the
//! messages that encoders write: every field once, in any order, unknown fields skipped. What
//! it does not take it hands to prost and [`append_spans`] whole, so their rules and their
//! errors apply unchanged:
//! - malformed bytes (a bad varint, a length past the end, invalid UTF-8, a group, a field of
//!   the wrong wire type);
//! - an id of the wrong length;
//! - a message field given twice (prost merges the two), an attribute's key given twice
//!   (prost checks the UTF-8 of both), or two values in one `AnyValue`;
//! - a `ResourceSpans` or `ScopeSpans` with no span (the conversion drops them);
//! - the profiles-only `string_value_strindex` and `key_strindex`;
//! - values nested 16 levels deep or more (arrays and key-value lists in one another).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tailsift::span::EntityRef;
use tailsift::{
    Event, Interner, KeyValue, Link, Origin, Resource, Scope, Span, SpanExtra, SpanId, SpanKind,
    StatusCode, Str, TraceId, Value,
};

use crate::convert::{append_spans, ConvertError};
use crate::strings::{exact, Intern, List, Recent};

mod encode;

pub use encode::{encode_spans, encode_spans_length_delimited};

/// An encoded `ExportTraceServiceRequest` that does not become engine spans.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufError {
    /// The bytes are not an `ExportTraceServiceRequest`.
    #[error("not an OTLP ExportTraceServiceRequest: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The request decodes but an id has the wrong length.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// The spans of an encoded `ExportTraceServiceRequest`: the same as
/// [`spans_from_request`](crate::spans_from_request) of the request prost decodes from
/// `bytes`, in a fraction of the allocations (see the [module](self) docs).
///
/// For a collector that receives OTLP/HTTP with a protobuf body, or reads a capture. A gRPC
/// receiver gets the same from a `tonic` codec whose decoder hands over the message's bytes
/// instead of decoding them with prost.
///
/// Pass every request the same `interner`, kept for the life of the pipeline: the strings it
/// interns are never freed (see [`Interner`]), so one per request would only grow.
///
/// ```
/// use tailsift_otlp::prost::Message;
/// use tailsift_otlp::{request_from_spans, spans_from_protobuf, Interner};
///
/// let interner = Interner::default(); // one for the pipeline
/// let span = tailsift::Span { name: "GET /cart".into(), ..tailsift::Span::default() };
/// let body = request_from_spans(&[span.clone()]).encode_to_vec();
/// assert_eq!(spans_from_protobuf(&body, &interner)?, vec![span]);
/// # Ok::<(), tailsift_otlp::ProtobufError>(())
/// ```
pub fn spans_from_protobuf(bytes: &[u8], interner: &Interner) -> Result<Vec<Span>, ProtobufError> {
    let mut out = Vec::new();
    append_spans_from_protobuf(bytes, interner, &mut out)?;
    Ok(out)
}

/// [`spans_from_protobuf`], appending to `out` (for a caller that reuses one buffer).
///
/// All or nothing: on error, `out` is left as it was.
pub fn append_spans_from_protobuf(
    bytes: &[u8],
    interner: &Interner,
    out: &mut Vec<Span>,
) -> Result<(), ProtobufError> {
    let before = out.len();
    if Walk::new(interner).request(bytes, out).is_ok() {
        return Ok(());
    }
    out.truncate(before);
    let request = ExportTraceServiceRequest::decode(bytes)?;
    append_spans(&request.resource_spans, interner, out)?;
    Ok(())
}

/// How deep values may nest (arrays and key-value lists in one another) on the walk; deeper
/// ones are left to prost, whose own limit (100 messages) is then never the walk's to meet.
const MAX_DEPTH: usize = 16;

/// What the walk does not take: prost decodes the message instead.
#[derive(Debug)]
struct Declined;

type Walked<T> = Result<T, Declined>;

/// Reads the fields of one message.
struct Fields<'a> {
    rest: &'a [u8],
}

/// One field's payload, by wire type.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Fields<'a> {
    fn new(message: &'a [u8]) -> Fields<'a> {
        Fields { rest: message }
    }

    /// The next field's number and payload; `None` at the end of the message. Declines what
    /// prost would reject, and groups, which prost skips but the walk does not read.
    #[inline]
    fn next(&mut self) -> Walked<Option<(u32, Payload<'a>)>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = u32::try_from(self.varint()?).map_err(|_| Declined)?;
        let number = key >> 3;
        if number == 0 {
            return Err(Declined);
        }
        let payload = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => Payload::Fixed64(u64::from_le_bytes(self.take_array()?)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Declined)?;
                Payload::Bytes(self.take(len)?)
            }
            5 => Payload::Fixed32(u32::from_le_bytes(self.take_array()?)),
            _ => return Err(Declined),
        };
        Ok(Some((number, payload)))
    }

    /// A varint as prost reads one: at most ten bytes, the tenth at most 1.
    #[inline]
    fn varint(&mut self) -> Walked<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            if i == 9 && byte > 1 {
                return Err(Declined);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(Declined)
    }

    fn take(&mut self, len: usize) -> Walked<&'a [u8]> {
        if len > self.rest.len() {
            return Err(Declined);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Walked<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| Declined)
    }
}

impl<'a> Payload<'a> {
    fn varint(self) -> Walked<u64> {
        match self {
            Payload::Varint(v) => Ok(v),
            _ => Err(Declined),
        }
    }

    fn fixed64(self) -> Walked<u64> {
        match self {
            Payload::Fixed64(v) => Ok(v),
            _ => Err(Declined),
        }
    }

    fn fixed32(self) -> Walked<u32> {
        match self {
            Payload::Fixed32(v) => Ok(v),
            _ => Err(Declined),
        }
    }

    fn bytes(self) -> Walked<&'a [u8]> {
        match self {
            Payload::Bytes(b) => Ok(b),
            _ => Err(Declined),
        }
    }

    fn string(self) -> Walked<&'a str> {
        utf8(self.bytes()?)
    }

    /// An `int32` or enum field: prost keeps the varint's low 32 bits.
    fn int32(self) -> Walked<i32> {
        Ok(self.varint()? as i32)
    }

    /// A `uint32` field: prost keeps the varint's low 32 bits.
    fn uint32(self) -> Walked<u32> {
        Ok(self.varint()? as u32)
    }
}

/// A string field's bytes as the `str` prost would make of them.
fn utf8(bytes: &[u8]) -> Walked<&str> {
    std::str::from_utf8(bytes).map_err(|_| Declined)
}

/// Sets `slot` to a field's bytes, declining a second occurrence (prost merges two messages,
/// and checks a string's UTF-8 every time it is given).
fn once<'a>(slot: &mut Option<&'a [u8]>, payload: Payload<'a>) -> Walked<()> {
    match slot.replace(payload.bytes()?) {
        None => Ok(()),
        Some(_) => Err(Declined),
    }
}

/// A `ResourceSpans` or a `ScopeSpans`, which share one layout: field 1 the resource or the
/// scope, 2 the scopes or the spans (repeated), 3 the schema URL. The head and the schema URL
/// may follow the members on the wire (field order is free), and every member's origin holds
/// them, so a first pass finds them.
struct Group<'a> {
    head: Option<&'a [u8]>,
    schema_url: &'a str,
    members: usize,
}

impl<'a> Group<'a> {
    /// Declines a group without members, which the conversion drops.
    fn read(bytes: &'a [u8]) -> Walked<Group<'a>> {
        let mut group = Group {
            head: None,
            schema_url: "",
            members: 0,
        };
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => once(&mut group.head, payload)?,
                2 => {
                    payload.bytes()?;
                    group.members += 1;
                }
                3 => group.schema_url = payload.string()?,
                _ => {}
            }
        }
        if group.members == 0 {
            return Err(Declined);
        }
        Ok(group)
    }
}

/// The walk over one request: the interner, the strings it gave last, and the span
/// attributes' buffer, reused from span to span so that each span's list is allocated once at
/// its exact length.
struct Walk<'i> {
    interner: &'i Interner,
    recent: Recent,
    attributes: Vec<KeyValue>,
}

impl<'i> Walk<'i> {
    fn new(interner: &'i Interner) -> Walk<'i> {
        Walk {
            interner,
            recent: Recent::new(),
            attributes: Vec::new(),
        }
    }

    /// A string field's `bytes` interned, through the walk's memory of the strings it was given
    /// last.
    #[inline]
    fn intern(&mut self, bytes: &[u8]) -> Walked<Str> {
        let interner = self.interner;
        self.recent
            .get_or_intern(bytes, || Ok(interner.intern(utf8(bytes)?)))
    }

    fn request(&mut self, bytes: &[u8], out: &mut Vec<Span>) -> Walked<()> {
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            if number == 1 {
                self.resource_spans(payload.bytes()?, out)?;
            }
        }
        Ok(())
    }

    /// One `ResourceSpans`: its resource and schema URL first (see [`Group`]), then its scopes.
    fn resource_spans(&mut self, bytes: &[u8], out: &mut Vec<Span>) -> Walked<()> {
        let group = Group::read(bytes)?;
        let resource = Arc::new(self.resource(group.head, group.schema_url)?);
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            if number == 2 {
                self.scope_spans(payload.bytes()?, &resource, out)?;
            }
        }
        Ok(())
    }

    fn scope_spans(
        &mut self,
        bytes: &[u8],
        resource: &Arc<Resource>,
        out: &mut Vec<Span>,
    ) -> Walked<()> {
        let group = Group::read(bytes)?;
        let origin = Arc::new(Origin {
            resource: Arc::clone(resource),
            scope: self.scope(group.head, group.schema_url)?,
        });
        out.reserve(group.members);
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            if number == 2 {
                let span = self.span(payload.bytes()?, &origin)?;
                out.push(span);
            }
        }
        Ok(())
    }

    fn resource(&mut self, bytes: Option<&[u8]>, schema_url: &str) -> Walked<Resource> {
        let mut resource = Resource {
            schema_url: self.interner.intern(schema_url),
            ..Resource::default()
        };
        let mut fields = Fields::new(bytes.unwrap_or_default());
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => resource
                    .attributes
                    .push(self.key_value(payload.bytes()?, List::Origin, 0)?),
                2 => resource.dropped_attributes_count = payload.uint32()?,
                3 => resource
                    .entity_refs
                    .push(self.entity_ref(payload.bytes()?)?),
                _ => {}
            }
        }
        exact(&mut resource.attributes);
        exact(&mut resource.entity_refs);
        Ok(resource)
    }

    fn entity_ref(&mut self, bytes: &[u8]) -> Walked<EntityRef> {
        let mut entity = EntityRef::default();
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => entity.schema_url = self.intern(payload.bytes()?)?,
                2 => entity.entity_type = self.intern(payload.bytes()?)?,
                3 => entity.id_keys.push(self.intern(payload.bytes()?)?),
                4 => entity.description_keys.push(self.intern(payload.bytes()?)?),
                _ => {}
            }
        }
        exact(&mut entity.id_keys);
        exact(&mut entity.description_keys);
        Ok(entity)
    }

    fn scope(&mut self, bytes: Option<&[u8]>, schema_url: &str) -> Walked<Scope> {
        let mut scope = Scope {
            schema_url: self.interner.intern(schema_url),
            ..Scope::default()
        };
        let mut fields = Fields::new(bytes.unwrap_or_default());
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => scope.name = self.intern(payload.bytes()?)?,
                2 => scope.version = self.intern(payload.bytes()?)?,
                3 => scope
                    .attributes
                    .push(self.key_value(payload.bytes()?, List::Origin, 0)?),
                4 => scope.dropped_attributes_count = payload.uint32()?,
                _ => {}
            }
        }
        exact(&mut scope.attributes);
        Ok(scope)
    }

    fn span(&mut self, bytes: &[u8], origin: &Arc<Origin>) -> Walked<Span> {
        let mut trace_id: &[u8] = &[];
        let mut span_id: &[u8] = &[];
        let mut parent_span_id: &[u8] = &[];
        let mut flags = 0;
        let mut name = Str::empty();
        let mut kind = 0;
        let mut start_time_unix_nano = 0;
        let mut end_time_unix_nano = 0;
        let mut status = None;
        let mut extra = SpanExtra::default();
        self.attributes.clear();
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => trace_id = payload.bytes()?,
                2 => span_id = payload.bytes()?,
                3 => extra.trace_state = Str::from(payload.string()?),
                4 => parent_span_id = payload.bytes()?,
                5 => name = self.intern(payload.bytes()?)?,
                6 => kind = payload.int32()?,
                7 => start_time_unix_nano = payload.fixed64()?,
                8 => end_time_unix_nano = payload.fixed64()?,
                9 => {
                    let attribute = self.key_value(payload.bytes()?, List::Span, 0)?;
                    self.attributes.push(attribute);
                }
                10 => extra.dropped_attributes_count = payload.uint32()?,
                11 => extra.events.push(self.event(payload.bytes()?)?),
                12 => extra.dropped_events_count = payload.uint32()?,
                13 => extra.links.push(self.link(payload.bytes()?)?),
                14 => extra.dropped_links_count = payload.uint32()?,
                15 => once(&mut status, payload)?,
                16 => flags = payload.fixed32()?,
                _ => {}
            }
        }
        let mut status_code = 0;
        let mut fields = Fields::new(status.unwrap_or_default());
        while let Some((number, payload)) = fields.next()? {
            match number {
                2 => extra.status_message = Str::from(payload.string()?),
                3 => status_code = payload.int32()?,
                _ => {}
            }
        }
        exact(&mut extra.events);
        exact(&mut extra.links);
        Ok(Span {
            trace_id: TraceId(trace_id.try_into().map_err(|_| Declined)?),
            span_id: SpanId(span_id.try_into().map_err(|_| Declined)?),
            parent_span_id: match parent_span_id {
                [] => SpanId::INVALID,
                id => SpanId(id.try_into().map_err(|_| Declined)?),
            },
            flags,
            name,
            kind: SpanKind::from_i32(kind),
            start_time_unix_nano,
            end_time_unix_nano,
            // Drained into a list of exactly its length, so boxing it does not reallocate.
            attributes: self
                .attributes
                .drain(..)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
            status_code: StatusCode::from_i32(status_code),
            extra: extra.boxed_unless_empty(),
            origin: Arc::clone(origin),
        })
    }

    fn event(&mut self, bytes: &[u8]) -> Walked<Event> {
        let mut event = Event::default();
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => event.time_unix_nano = payload.fixed64()?,
                2 => event.name = self.intern(payload.bytes()?)?,
                3 => event
                    .attributes
                    .push(self.key_value(payload.bytes()?, List::Span, 0)?),
                4 => event.dropped_attributes_count = payload.uint32()?,
                _ => {}
            }
        }
        exact(&mut event.attributes);
        Ok(event)
    }

    fn link(&mut self, bytes: &[u8]) -> Walked<Link> {
        let mut trace_id: &[u8] = &[];
        let mut span_id: &[u8] = &[];
        let mut link = Link::default();
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            match number {
                1 => trace_id = payload.bytes()?,
                2 => span_id = payload.bytes()?,
                3 => link.trace_state = Str::from(payload.string()?),
                4 => link
                    .attributes
                    .push(self.key_value(payload.bytes()?, List::Span, 0)?),
                5 => link.dropped_attributes_count = payload.uint32()?,
                6 => link.flags = payload.fixed32()?,
                _ => {}
            }
        }
        link.trace_id = TraceId(trace_id.try_into().map_err(|_| Declined)?);
        link.span_id = SpanId(span_id.try_into().map_err(|_| Declined)?);
        exact(&mut link.attributes);
        Ok(link)
    }

    /// One `KeyValue` of `list`. Its value is read once its key is known: the key may follow
    /// it on the wire.
    fn key_value(&mut self, bytes: &[u8], list: List, depth: usize) -> Walked<KeyValue> {
        let mut key = None;
        let mut value = None;
        let mut key_strindex = 0;
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            match number {
                // Its UTF-8 is checked once the key is known to be the last: a key given twice
                // is declined, since prost checks the first one too.
                1 => once(&mut key, payload)?,
                2 => once(&mut value, payload)?,
                3 => key_strindex = payload.int32()?,
                _ => {}
            }
        }
        if key_strindex != 0 {
            return Err(Declined);
        }
        let key = key.unwrap_or_default();
        let key = if list.interns_keys() {
            self.intern(key)?
        } else {
            Str::from(utf8(key)?)
        };
        let intern = list.values(&key);
        let value = match value {
            Some(bytes) => self.any_value(bytes, intern, depth)?,
            None => Value::Empty,
        };
        Ok(KeyValue { key, value })
    }

    /// The elements of an `ArrayValue` or a `KeyValueList` (field 1, repeated), each read by
    /// `item`.
    fn list<T>(
        &mut self,
        bytes: &[u8],
        mut item: impl FnMut(&mut Self, &[u8]) -> Walked<T>,
    ) -> Walked<Vec<T>> {
        let mut items = Vec::new();
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            if number == 1 {
                items.push(item(self, payload.bytes()?)?);
            }
        }
        exact(&mut items);
        Ok(items)
    }

    fn any_value(&mut self, bytes: &[u8], intern: Intern<'_>, depth: usize) -> Walked<Value> {
        if depth >= MAX_DEPTH {
            return Err(Declined);
        }
        let mut value = None;
        let mut fields = Fields::new(bytes);
        while let Some((number, payload)) = fields.next()? {
            let v = match number {
                1 => Value::Str(intern.text(self.interner, &mut self.recent, payload.string()?)),
                2 => Value::Bool(payload.varint()? != 0),
                3 => Value::Int(payload.varint()? as i64),
                4 => Value::Double(f64::from_bits(payload.fixed64()?)),
                5 => Value::Array(Arc::new(self.list(payload.bytes()?, |walk, item| {
                    walk.any_value(item, Intern::None, depth + 1)
                })?)),
                6 => Value::KvList(Arc::new(self.list(payload.bytes()?, |walk, item| {
                    walk.key_value(item, List::Nested, depth + 1)
                })?)),
                7 => Value::Bytes(Arc::new(payload.bytes()?.to_vec())),
                // The profiles-only `string_value_strindex`: `convert` warns of it.
                8 => return Err(Declined),
                _ => continue,
            };
            // A second value of the oneof: prost keeps or merges by rules of its own.
            if value.replace(v).is_some() {
                return Err(Declined);
            }
        }
        Ok(value.unwrap_or(Value::Empty))
    }
}

#[cfg(test)]
mod tests;
