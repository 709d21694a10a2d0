//! OTLP/JSON straight to engine spans, with no prost message in between: serde seeds that
//! read each field into the span that keeps it.
//!
//! The mirrors of [`de`](super::de) become prost's messages, and [`convert`](crate::convert)
//! then makes spans of those: every key, name and value a `String` of its own, every id a
//! `Vec`, each freed once converted. Here keys and names go to the interner from the text's
//! own bytes, through the memory of the strings interned last ([`Recent`]); ids are decoded
//! into place; only what a span keeps is allocated.
//!
//! The walk takes what OTLP/JSON writers write. Anything else it declines, and the caller
//! reads the document the mirrors' way, so their rules and their errors apply unchanged:
//! - any error (malformed JSON, a value of the wrong type, a number out of range, bad base64);
//! - text that is not UTF-8 anywhere, even in a field the mirrors skip (the text is checked
//!   whole, once, rather than string by string);
//! - an id that is not of its length (`convert`'s error), or not hex;
//! - a key written with escapes (`"na\u006de"`), a field given twice (the mirrors reject it),
//!   or two values in one `AnyValue`;
//! - a message written as an array (serde reads a struct from one);
//! - a resource or scope without spans (the conversion drops them);
//! - the profiles-only `keyStrindex` and `stringValueStrindex`;
//! - values nested 16 levels deep or more.
//!
//! Fields may come in any order. An attribute's value read before its key is held by its key's
//! rule once the key is known. A scope's spans are read before its schema URL is (OTLP/JSON
//! writers put it last), so they are made with a placeholder origin and given their own once
//! their `ResourceSpans` ends.

use std::ops::Range;
use std::sync::Arc;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess};
use tailsift::span::EntityRef;
use tailsift::{
    Event, Interner, KeyValue, Link, Origin, Resource, Scope, Span, SpanExtra, SpanId, SpanKind,
    StatusCode, Str, TraceId,
};

use crate::strings::{exact, List, Recent};

mod seeds;
mod values;

use seeds::{
    declined, id_field, list_field, push, skip, string_field, CodeField, Element, Hex, IntField,
    Key, KindField, Message, Object, OrNull, Seen, Text,
};
use values::Attributes;

/// How deep values may nest (arrays and key-value lists in one another) on the walk, as on
/// the protobuf walk.
const MAX_DEPTH: usize = 16;

/// Reads the request document `json` into `out`. An error is a decline: the caller truncates
/// `out` and reads `json` the mirrors' way.
pub(super) fn walk(
    json: &[u8],
    interner: &Interner,
    out: &mut Vec<Span>,
) -> Result<(), serde_json::Error> {
    let mut walk = Walk {
        interner,
        recent: Recent::new(),
        attributes: Vec::new(),
        placeholder: Arc::default(),
    };
    // Checked whole once, here, the text's strings are not checked one by one as they are read
    // (serde_json's `from_slice` checks each string).
    let json = std::str::from_utf8(json).map_err(|_| declined::<serde_json::Error>())?;
    let mut de = serde_json::Deserializer::from_str(json);
    Object(RequestFields {
        walk: &mut walk,
        out,
    })
    .deserialize(&mut de)?;
    de.end()
}

/// The walk's state: the interner, the strings it gave last, the span attributes' buffer
/// (reused from span to span, so that each span's list is allocated once at its exact length),
/// and the origin spans hold until their own is known.
struct Walk<'i> {
    interner: &'i Interner,
    recent: Recent,
    attributes: Vec<KeyValue>,
    placeholder: Arc<Origin>,
}

impl Walk<'_> {
    /// `s` interned, through the memory of the strings interned last.
    #[inline]
    fn intern(&mut self, s: &str) -> Str {
        self.recent.intern(self.interner, s)
    }
}

struct RequestFields<'w, 'i> {
    walk: &'w mut Walk<'i>,
    out: &'w mut Vec<Span>,
}

impl<'de> Message<'de> for RequestFields<'_, '_> {
    type Value = ();

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "resourceSpans" => {
                    seen.first(1)?;
                    list_field(&mut map, ResourceSpansList(&mut *self.walk, &mut *self.out))?;
                }
                _ => skip(&mut map)?,
            }
        }
        Ok(())
    }
}

struct ResourceSpansList<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<Span>);

impl<'de> Element<'de> for ResourceSpansList<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let seed = Object(ResourceSpansFields {
            walk: &mut *self.0,
            out: &mut *self.1,
        });
        Ok(seq.next_element_seed(seed)?.is_some())
    }
}

/// A scope whose spans are read, waiting for its resource: the spans are `out[spans]`.
struct Pending {
    scope: Scope,
    spans: Range<usize>,
}

/// One `ResourceSpans`: its spans pushed onto `out`, then given their origins.
struct ResourceSpansFields<'w, 'i> {
    walk: &'w mut Walk<'i>,
    out: &'w mut Vec<Span>,
}

impl<'de> Message<'de> for ResourceSpansFields<'_, '_> {
    type Value = ();

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.walk;
        let mut seen = Seen::default();
        let mut resource = None;
        let mut scopes = Vec::new();
        let mut schema_url = Str::empty();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "resource" => {
                    seen.first(1)?;
                    resource = map.next_value_seed(OrNull(Object(ResourceFields(&mut *walk))))?;
                }
                "scopeSpans" => {
                    seen.first(2)?;
                    let element = ScopeSpansList(&mut *walk, &mut *self.out, &mut scopes);
                    list_field(&mut map, element)?;
                }
                "schemaUrl" => {
                    seen.first(3)?;
                    schema_url = string_field(&mut map, |s| walk.intern(s))?;
                }
                _ => skip(&mut map)?,
            }
        }
        if scopes.is_empty() {
            return Err(declined());
        }
        let resource = Arc::new(Resource {
            schema_url,
            ..resource.unwrap_or_default()
        });
        for Pending { scope, spans } in scopes {
            let origin = Arc::new(Origin {
                resource: Arc::clone(&resource),
                scope,
            });
            for span in &mut self.out[spans] {
                span.origin = Arc::clone(&origin);
            }
        }
        Ok(())
    }
}

struct ResourceFields<'w, 'i>(&'w mut Walk<'i>);

impl<'de> Message<'de> for ResourceFields<'_, '_> {
    type Value = Resource;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Resource, A::Error> {
        let walk = self.0;
        let mut seen = Seen::default();
        let mut resource = Resource::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "attributes" => {
                    seen.first(1)?;
                    let element = Attributes(&mut *walk, List::Origin, &mut resource.attributes);
                    list_field(&mut map, element)?;
                }
                "droppedAttributesCount" => {
                    seen.first(2)?;
                    resource.dropped_attributes_count = map.next_value::<IntField<_>>()?.0;
                }
                "entityRefs" => {
                    seen.first(3)?;
                    list_field(&mut map, EntityRefs(&mut *walk, &mut resource.entity_refs))?;
                }
                _ => skip(&mut map)?,
            }
        }
        exact(&mut resource.attributes);
        exact(&mut resource.entity_refs);
        Ok(resource)
    }
}

struct EntityRefs<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<EntityRef>);

impl<'de> Element<'de> for EntityRefs<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        push(seq, Object(EntityRefFields(&mut *self.0)), self.1)
    }
}

struct EntityRefFields<'w, 'i>(&'w mut Walk<'i>);

impl<'de> Message<'de> for EntityRefFields<'_, '_> {
    type Value = EntityRef;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<EntityRef, A::Error> {
        let walk = self.0;
        let mut seen = Seen::default();
        let mut entity = EntityRef::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "schemaUrl" => {
                    seen.first(1)?;
                    entity.schema_url = string_field(&mut map, |s| walk.intern(s))?;
                }
                "type" => {
                    seen.first(2)?;
                    entity.entity_type = string_field(&mut map, |s| walk.intern(s))?;
                }
                "idKeys" => {
                    seen.first(3)?;
                    list_field(&mut map, Interned(&mut *walk, &mut entity.id_keys))?;
                }
                "descriptionKeys" => {
                    seen.first(4)?;
                    list_field(&mut map, Interned(&mut *walk, &mut entity.description_keys))?;
                }
                _ => skip(&mut map)?,
            }
        }
        exact(&mut entity.id_keys);
        exact(&mut entity.description_keys);
        Ok(entity)
    }
}

/// A list of strings, interned (`null` elements are errors, as in the mirrors).
struct Interned<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<Str>);

impl<'de> Element<'de> for Interned<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let walk = &mut *self.0;
        push(seq, Text(|s: &str| walk.intern(s)), self.1)
    }
}

struct ScopeSpansList<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<Span>, &'w mut Vec<Pending>);

impl<'de> Element<'de> for ScopeSpansList<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let seed = Object(ScopeSpansFields {
            walk: &mut *self.0,
            out: &mut *self.1,
        });
        push(seq, seed, self.2)
    }
}

/// One `ScopeSpans`: its spans pushed onto `out` with the placeholder origin.
struct ScopeSpansFields<'w, 'i> {
    walk: &'w mut Walk<'i>,
    out: &'w mut Vec<Span>,
}

impl<'de> Message<'de> for ScopeSpansFields<'_, '_> {
    type Value = Pending;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Pending, A::Error> {
        let walk = self.walk;
        let start = self.out.len();
        let mut seen = Seen::default();
        let mut scope = None;
        let mut schema_url = Str::empty();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "scope" => {
                    seen.first(1)?;
                    scope = map.next_value_seed(OrNull(Object(ScopeFields(&mut *walk))))?;
                }
                "spans" => {
                    seen.first(2)?;
                    list_field(&mut map, Spans(&mut *walk, &mut *self.out))?;
                }
                "schemaUrl" => {
                    seen.first(3)?;
                    schema_url = string_field(&mut map, |s| walk.intern(s))?;
                }
                _ => skip(&mut map)?,
            }
        }
        if self.out.len() == start {
            return Err(declined());
        }
        Ok(Pending {
            scope: Scope {
                schema_url,
                ..scope.unwrap_or_default()
            },
            spans: start..self.out.len(),
        })
    }
}

struct ScopeFields<'w, 'i>(&'w mut Walk<'i>);

impl<'de> Message<'de> for ScopeFields<'_, '_> {
    type Value = Scope;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Scope, A::Error> {
        let walk = self.0;
        let mut seen = Seen::default();
        let mut scope = Scope::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "name" => {
                    seen.first(1)?;
                    scope.name = string_field(&mut map, |s| walk.intern(s))?;
                }
                "version" => {
                    seen.first(2)?;
                    scope.version = string_field(&mut map, |s| walk.intern(s))?;
                }
                "attributes" => {
                    seen.first(3)?;
                    let element = Attributes(&mut *walk, List::Origin, &mut scope.attributes);
                    list_field(&mut map, element)?;
                }
                "droppedAttributesCount" => {
                    seen.first(4)?;
                    scope.dropped_attributes_count = map.next_value::<IntField<_>>()?.0;
                }
                _ => skip(&mut map)?,
            }
        }
        exact(&mut scope.attributes);
        Ok(scope)
    }
}

struct Spans<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<Span>);

impl<'de> Element<'de> for Spans<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        push(seq, Object(SpanFields(&mut *self.0)), self.1)
    }
}

struct SpanFields<'w, 'i>(&'w mut Walk<'i>);

impl<'de> Message<'de> for SpanFields<'_, '_> {
    type Value = Span;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Span, A::Error> {
        let walk = self.0;
        let mut seen = Seen::default();
        let mut trace_id = None;
        let mut span_id = None;
        let mut parent_span_id = SpanId::INVALID;
        let mut flags = 0;
        let mut name = Str::empty();
        let mut kind = 0;
        let mut start_time_unix_nano = 0;
        let mut end_time_unix_nano = 0;
        let mut status_code = 0;
        let mut extra = SpanExtra::default();
        let mut attributes = std::mem::take(&mut walk.attributes);
        attributes.clear();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "traceId" => {
                    seen.first(1)?;
                    trace_id = Some(TraceId(id_field(&mut map)?));
                }
                "spanId" => {
                    seen.first(2)?;
                    span_id = Some(SpanId(id_field(&mut map)?));
                }
                "traceState" => {
                    seen.first(3)?;
                    extra.trace_state = string_field(&mut map, |s| Str::from(s))?;
                }
                "parentSpanId" => {
                    seen.first(4)?;
                    if let Some(id) = map.next_value_seed(Hex)? {
                        parent_span_id = SpanId(id);
                    }
                }
                "name" => {
                    seen.first(5)?;
                    name = string_field(&mut map, |s| walk.intern(s))?;
                }
                "kind" => {
                    seen.first(6)?;
                    kind = map.next_value::<KindField>()?.0;
                }
                "startTimeUnixNano" => {
                    seen.first(7)?;
                    start_time_unix_nano = map.next_value::<IntField<_>>()?.0;
                }
                "endTimeUnixNano" => {
                    seen.first(8)?;
                    end_time_unix_nano = map.next_value::<IntField<_>>()?.0;
                }
                "attributes" => {
                    seen.first(9)?;
                    list_field(
                        &mut map,
                        Attributes(&mut *walk, List::Span, &mut attributes),
                    )?;
                }
                "droppedAttributesCount" => {
                    seen.first(10)?;
                    extra.dropped_attributes_count = map.next_value::<IntField<_>>()?.0;
                }
                "events" => {
                    seen.first(11)?;
                    list_field(&mut map, Events(&mut *walk, &mut extra.events))?;
                }
                "droppedEventsCount" => {
                    seen.first(12)?;
                    extra.dropped_events_count = map.next_value::<IntField<_>>()?.0;
                }
                "links" => {
                    seen.first(13)?;
                    list_field(&mut map, Links(&mut *walk, &mut extra.links))?;
                }
                "droppedLinksCount" => {
                    seen.first(14)?;
                    extra.dropped_links_count = map.next_value::<IntField<_>>()?.0;
                }
                "status" => {
                    seen.first(15)?;
                    if let Some((code, message)) = map.next_value_seed(OrNull(Object(Status)))? {
                        status_code = code;
                        extra.status_message = message;
                    }
                }
                "flags" => {
                    seen.first(16)?;
                    flags = map.next_value::<IntField<_>>()?.0;
                }
                _ => skip(&mut map)?,
            }
        }
        let (Some(trace_id), Some(span_id)) = (trace_id, span_id) else {
            return Err(declined());
        };
        exact(&mut extra.events);
        exact(&mut extra.links);
        // Drained into a list of exactly its length, so boxing it does not reallocate.
        let span_attributes: Box<[KeyValue]> = attributes.drain(..).collect();
        walk.attributes = attributes;
        Ok(Span {
            trace_id,
            span_id,
            parent_span_id,
            flags,
            name,
            kind: SpanKind::from_i32(kind),
            start_time_unix_nano,
            end_time_unix_nano,
            attributes: span_attributes,
            status_code: StatusCode::from_i32(status_code),
            extra: extra.boxed_unless_empty(),
            origin: Arc::clone(&walk.placeholder),
        })
    }
}

/// A span's status: its code and message.
struct Status;

impl<'de> Message<'de> for Status {
    type Value = (i32, Str);

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<(i32, Str), A::Error> {
        let mut seen = Seen::default();
        let mut code = 0;
        let mut message = Str::empty();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "message" => {
                    seen.first(2)?;
                    message = string_field(&mut map, |s| Str::from(s))?;
                }
                "code" => {
                    seen.first(3)?;
                    code = map.next_value::<CodeField>()?.0;
                }
                _ => skip(&mut map)?,
            }
        }
        Ok((code, message))
    }
}

struct Events<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<Event>);

impl<'de> Element<'de> for Events<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        push(seq, Object(EventFields(&mut *self.0)), self.1)
    }
}

struct EventFields<'w, 'i>(&'w mut Walk<'i>);

impl<'de> Message<'de> for EventFields<'_, '_> {
    type Value = Event;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let walk = self.0;
        let mut seen = Seen::default();
        let mut event = Event::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "timeUnixNano" => {
                    seen.first(1)?;
                    event.time_unix_nano = map.next_value::<IntField<_>>()?.0;
                }
                "name" => {
                    seen.first(2)?;
                    event.name = string_field(&mut map, |s| walk.intern(s))?;
                }
                "attributes" => {
                    seen.first(3)?;
                    let element = Attributes(&mut *walk, List::Span, &mut event.attributes);
                    list_field(&mut map, element)?;
                }
                "droppedAttributesCount" => {
                    seen.first(4)?;
                    event.dropped_attributes_count = map.next_value::<IntField<_>>()?.0;
                }
                _ => skip(&mut map)?,
            }
        }
        exact(&mut event.attributes);
        Ok(event)
    }
}

struct Links<'w, 'i>(&'w mut Walk<'i>, &'w mut Vec<Link>);

impl<'de> Element<'de> for Links<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        push(seq, Object(LinkFields(&mut *self.0)), self.1)
    }
}

struct LinkFields<'w, 'i>(&'w mut Walk<'i>);

impl<'de> Message<'de> for LinkFields<'_, '_> {
    type Value = Link;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Link, A::Error> {
        let walk = self.0;
        let mut seen = Seen::default();
        let mut trace_id = None;
        let mut span_id = None;
        let mut link = Link::default();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "traceId" => {
                    seen.first(1)?;
                    trace_id = Some(TraceId(id_field(&mut map)?));
                }
                "spanId" => {
                    seen.first(2)?;
                    span_id = Some(SpanId(id_field(&mut map)?));
                }
                "traceState" => {
                    seen.first(3)?;
                    link.trace_state = string_field(&mut map, |s| Str::from(s))?;
                }
                "attributes" => {
                    seen.first(4)?;
                    let element = Attributes(&mut *walk, List::Span, &mut link.attributes);
                    list_field(&mut map, element)?;
                }
                "droppedAttributesCount" => {
                    seen.first(5)?;
                    link.dropped_attributes_count = map.next_value::<IntField<_>>()?.0;
                }
                "flags" => {
                    seen.first(6)?;
                    link.flags = map.next_value::<IntField<_>>()?.0;
                }
                _ => skip(&mut map)?,
            }
        }
        let (Some(trace_id), Some(span_id)) = (trace_id, span_id) else {
            return Err(declined());
        };
        link.trace_id = trace_id;
        link.span_id = span_id;
        exact(&mut link.attributes);
        Ok(link)
    }
}

#[cfg(test)]
mod tests;
