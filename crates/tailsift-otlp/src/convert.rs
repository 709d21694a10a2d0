//! Conversion between OTLP trace messages (`opentelemetry-proto`'s prost types) and the
//! engine's [`Span`].
//!
//! The engine buffers spans one by one, each pointing at a shared [`Origin`] (its [`Resource`]
//! and [`Scope`]); OTLP nests spans under their resource and scope. Converting in, every span
//! of one `ScopeSpans` shares one `Arc<Origin>`, and the origins of one `ResourceSpans` share
//! one `Arc<Resource>`. Converting out, spans are grouped back under their resource and scope,
//! so a request that comes in and goes out unchanged keeps its shape.
//!
//! # What "lossless" means here
//!
//! Every field of the trace messages has a place in [`Span`] (its rarely set fields in
//! [`SpanExtra`], boxed only when one of them is set), [`Resource`] and [`Scope`], so
//! a message in the *canonical form* this module writes comes back equal, field by field,
//! after `proto → Span → proto`. The canonical form is the one SDKs write (the Python SDK's
//! encoder, the Go SDK, the Collector): message fields `resource`, `scope`, `status` and
//! `KeyValue.value` are always present (possibly empty). What is not canonical is read with
//! the same meaning and written canonically:
//!
//! - An absent `resource`, `scope`, `status` or `KeyValue.value` reads as an empty one.
//! - A `parent_span_id` of eight zero bytes means "no parent", as the empty one does, and is
//!   written empty.
//! - A `kind` or `status.code` outside the enum reads as `Unspecified` / `Unset` (the rule in
//!   `tailsift::span`).
//! - A `ResourceSpans` or `ScopeSpans` with no spans has no span to carry it and is dropped.
//! - Two `ResourceSpans` (or two `ScopeSpans` of one resource) whose resources (scopes) are
//!   equal come back as one: grouping goes by `Arc` identity first, then by equality, so spans
//!   that arrived in different requests with equal resources are sent out together.
//! - The profiles-only fields `AnyValue.string_value_strindex` and `KeyValue.key_strindex`
//!   mean nothing outside the profiles signal; as the proto instructs, they are read as if
//!   absent (an empty value, the plain `key`) and a warning is logged.
//!
//! Ids of the wrong length are not representable and are a [`ConvertError`], never a panic.
//!
//! # Interning
//!
//! Span names, event names, attribute keys and every string of resources and scopes
//! (including their attribute values: `service.name` and friends) go through the caller's
//! [`Interner`], so a buffer of a million spans holds one copy of each. String values of at
//! most [`Text::INLINE_CAPACITY`](tailsift::Text::INLINE_CAPACITY) bytes (most of them:
//! methods, codes, systems, tiers) are held in place in the attribute, with no allocation of
//! their own. Longer span, event and link attribute values are interned when the semantic
//! conventions make their key's values low-cardinality (`http.route`, `rpc.service`,
//! `db.collection.name`, `error.type`, …: [`tailsift::has_low_cardinality_values`]), and are
//! copies of their own otherwise (URLs, statements, messages: often unique), as are trace
//! states and status messages. A small memory of the strings interned last, per request,
//! answers most of them without the interner's lock.
//!
//! (Over 600 lines: the two directions of one lossless mapping, field by field, read best side by
//! side.)

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use tailsift::span::EntityRef;
use tailsift::{
    Event, Interner, KeyValue, Link, Origin, Resource, Scope, Span, SpanExtra, SpanId, SpanKind,
    StatusCode, Str, TraceId, Value,
};

use crate::strings::{Intern, List, Recent};

/// A message that cannot become engine spans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A trace or span id has the wrong number of bytes.
    #[error(
        "{field} must be {expected} ({} hex digits in OTLP/JSON), got {actual} bytes",
        expected.hex_digits()
    )]
    InvalidId {
        /// Where the id is, as a path of proto field names:
        /// `resource_spans[0].scope_spans[2].spans[5].trace_id`.
        field: String,
        /// What the id must be.
        expected: IdRule,
        /// How many bytes it has.
        actual: usize,
    },
}

/// What an id field must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRule {
    /// Exactly 16 bytes (a trace id).
    TraceId,
    /// Exactly 8 bytes (a span id).
    SpanId,
    /// 8 bytes, or none for a root span (a parent span id).
    ParentSpanId,
}

impl IdRule {
    fn hex_digits(self) -> &'static str {
        match self {
            IdRule::TraceId => "32",
            IdRule::SpanId => "16",
            IdRule::ParentSpanId => "16 or 0",
        }
    }
}

impl std::fmt::Display for IdRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdRule::TraceId => "16 bytes",
            IdRule::SpanId => "8 bytes",
            IdRule::ParentSpanId => "8 bytes or empty",
        })
    }
}

/// Converts every span of `request`.
///
/// All or nothing: a span with an invalid id fails the whole request.
pub fn spans_from_request(
    request: &ExportTraceServiceRequest,
    interner: &Interner,
) -> Result<Vec<Span>, ConvertError> {
    let mut out = Vec::new();
    append_spans(&request.resource_spans, interner, &mut out)?;
    Ok(out)
}

/// Converts every span of `resource_spans` and appends them to `out` (for a caller that
/// reuses one buffer across requests).
///
/// All or nothing: on error, `out` is left as it was.
pub fn append_spans(
    resource_spans: &[trace::ResourceSpans],
    interner: &Interner,
    out: &mut Vec<Span>,
) -> Result<(), ConvertError> {
    let before = out.len();
    let total: usize = resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    out.reserve(total);
    let mut reader = Reader {
        interner,
        recent: Recent::new(),
        saw_strindex: false,
    };
    let result = reader.resource_spans(resource_spans, out);
    if reader.saw_strindex {
        tracing::warn!(
            "OTLP trace data carries profiles-only fields (string_value_strindex or \
             key_strindex); they were read as absent"
        );
    }
    if result.is_err() {
        out.truncate(before);
    }
    result
}

/// Builds one request holding `spans`, grouped under their resources and scopes.
///
/// Resources and scopes appear in the order their first span does, and spans keep their
/// order within a scope. Spans are grouped by `Arc` identity first and equality second: by
/// their origin's resource, then, within a resource, by their origin's scope.
pub fn request_from_spans(spans: &[Span]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: resource_spans_from_spans(spans),
    }
}

/// Groups `spans` into `ResourceSpans` (see [`request_from_spans`]).
pub fn resource_spans_from_spans(spans: &[Span]) -> Vec<trace::ResourceSpans> {
    group_spans(spans)
        .into_iter()
        .map(|g| {
            let resource = g.resource.first;
            trace::ResourceSpans {
                resource: Some(resource_to_proto(resource)),
                scope_spans: g
                    .scopes
                    .into_iter()
                    .map(|s| {
                        let scope = &s.origin.first.scope;
                        trace::ScopeSpans {
                            scope: Some(scope_to_proto(scope)),
                            spans: s.spans.into_iter().map(span_to_proto).collect(),
                            schema_url: scope.schema_url.to_string(),
                        }
                    })
                    .collect(),
                schema_url: resource.schema_url.to_string(),
            }
        })
        .collect()
}

/// `spans` grouped under their resources and scopes, as [`request_from_spans`] sends them:
/// resources and scopes in the order their first span comes, spans in their order within a
/// scope, grouped by `Arc` identity first and equality second.
pub(crate) fn group_spans(spans: &[Span]) -> Vec<ResourceGroup<'_>> {
    let mut groups: Vec<ResourceGroup<'_>> = Vec::new();
    for span in spans {
        let resource = &span.origin.resource;
        let r = match find_group(&mut groups, resource, same_resource, |g| &mut g.resource) {
            Some(i) => i,
            None => {
                groups.push(ResourceGroup {
                    resource: Group::new(resource),
                    scopes: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let scopes = &mut groups[r].scopes;
        let s = match find_group(scopes, &span.origin, same_scope, |g| &mut g.origin) {
            Some(i) => i,
            None => {
                scopes.push(ScopeGroup {
                    origin: Group::new(&span.origin),
                    spans: Vec::new(),
                });
                scopes.len() - 1
            }
        };
        scopes[s].spans.push(span);
    }
    groups
}

/// Spans that share one resource (or, within a resource, one scope): the first `Arc` seen and
/// every other `Arc` found equal to it, so that each distinct `Arc` is compared by value once.
pub(crate) struct Group<'a, T> {
    pub(crate) first: &'a Arc<T>,
    aliases: Vec<&'a Arc<T>>,
}

impl<'a, T> Group<'a, T> {
    fn new(first: &'a Arc<T>) -> Group<'a, T> {
        Group {
            first,
            aliases: Vec::new(),
        }
    }

    fn holds(&self, item: &Arc<T>) -> bool {
        Arc::ptr_eq(self.first, item) || self.aliases.iter().any(|a| Arc::ptr_eq(a, item))
    }
}

/// The spans of one resource.
pub(crate) struct ResourceGroup<'a> {
    pub(crate) resource: Group<'a, Resource>,
    pub(crate) scopes: Vec<ScopeGroup<'a>>,
}

/// The spans of one scope within a [`ResourceGroup`], keyed by their origins (compared by
/// scope alone: the resource group has already matched their resources).
pub(crate) struct ScopeGroup<'a> {
    pub(crate) origin: Group<'a, Origin>,
    pub(crate) spans: Vec<&'a Span>,
}

fn same_resource(a: &Resource, b: &Resource) -> bool {
    a == b
}

fn same_scope(a: &Origin, b: &Origin) -> bool {
    a.scope == b.scope
}

/// The index of the group holding `item`: the last group first (spans usually come in runs),
/// then every group by identity, then every group by `same` value.
fn find_group<'a, G, T>(
    groups: &mut [G],
    item: &'a Arc<T>,
    same: impl Fn(&T, &T) -> bool,
    group: impl Fn(&mut G) -> &mut Group<'a, T>,
) -> Option<usize> {
    let n = groups.len();
    if n > 0 && group(&mut groups[n - 1]).holds(item) {
        return Some(n - 1);
    }
    if let Some(i) = groups.iter_mut().position(|g| group(g).holds(item)) {
        return Some(i);
    }
    let i = groups.iter_mut().position(|g| same(group(g).first, item))?;
    group(&mut groups[i]).aliases.push(item);
    Some(i)
}

/// Proto to engine, with the interner, the strings it gave last, and what the conversion
/// noticed on the way.
struct Reader<'i> {
    interner: &'i Interner,
    recent: Recent,
    saw_strindex: bool,
}

/// Where a span sits in its request, for error messages.
#[derive(Clone, Copy)]
struct SpanPath {
    resource: usize,
    scope: usize,
    span: usize,
}

impl SpanPath {
    fn field(&self, rest: &str) -> String {
        format!(
            "resource_spans[{}].scope_spans[{}].spans[{}].{rest}",
            self.resource, self.scope, self.span
        )
    }
}

impl Reader<'_> {
    /// `s` interned, through the memory of the strings interned last: the keys and names of
    /// one request repeat span after span, and one found there costs no lock.
    #[inline]
    fn intern(&mut self, s: &str) -> Str {
        self.recent.intern(self.interner, s)
    }

    fn resource_spans(
        &mut self,
        resource_spans: &[trace::ResourceSpans],
        out: &mut Vec<Span>,
    ) -> Result<(), ConvertError> {
        for (ri, rs) in resource_spans.iter().enumerate() {
            if rs.scope_spans.iter().all(|ss| ss.spans.is_empty()) {
                continue;
            }
            let resource = Arc::new(self.resource(rs.resource.as_ref(), &rs.schema_url));
            for (si, ss) in rs.scope_spans.iter().enumerate() {
                if ss.spans.is_empty() {
                    continue;
                }
                let origin = Arc::new(Origin {
                    resource: Arc::clone(&resource),
                    scope: self.scope(ss.scope.as_ref(), &ss.schema_url),
                });
                for (pi, span) in ss.spans.iter().enumerate() {
                    let path = SpanPath {
                        resource: ri,
                        scope: si,
                        span: pi,
                    };
                    out.push(self.span(span, &origin, path)?);
                }
            }
        }
        Ok(())
    }

    fn resource(&mut self, r: Option<&resource::Resource>, schema_url: &str) -> Resource {
        let Some(r) = r else {
            return Resource {
                schema_url: self.intern(schema_url),
                ..Resource::default()
            };
        };
        Resource {
            attributes: self.attributes(&r.attributes, List::Origin),
            dropped_attributes_count: r.dropped_attributes_count,
            schema_url: self.intern(schema_url),
            entity_refs: r
                .entity_refs
                .iter()
                .map(|e| EntityRef {
                    schema_url: self.intern(&e.schema_url),
                    entity_type: self.intern(&e.r#type),
                    id_keys: e.id_keys.iter().map(|k| self.intern(k)).collect(),
                    description_keys: e.description_keys.iter().map(|k| self.intern(k)).collect(),
                })
                .collect(),
        }
    }

    fn scope(&mut self, s: Option<&common::InstrumentationScope>, schema_url: &str) -> Scope {
        let schema_url = self.intern(schema_url);
        let Some(s) = s else {
            return Scope {
                schema_url,
                ..Scope::default()
            };
        };
        Scope {
            name: self.intern(&s.name),
            version: self.intern(&s.version),
            attributes: self.attributes(&s.attributes, List::Origin),
            dropped_attributes_count: s.dropped_attributes_count,
            schema_url,
        }
    }

    fn span(
        &mut self,
        s: &trace::Span,
        origin: &Arc<Origin>,
        path: SpanPath,
    ) -> Result<Span, ConvertError> {
        let (status_code, status_message) = match &s.status {
            Some(st) => (
                StatusCode::from_i32(st.code),
                Str::from(st.message.as_str()),
            ),
            None => (StatusCode::Unset, Str::empty()),
        };
        let mut links = Vec::with_capacity(s.links.len());
        for (li, l) in s.links.iter().enumerate() {
            links.push(Link {
                trace_id: trace_id(&l.trace_id, || path.field(&format!("links[{li}].trace_id")))?,
                span_id: span_id(&l.span_id, || path.field(&format!("links[{li}].span_id")))?,
                trace_state: Str::from(l.trace_state.as_str()),
                attributes: self.attributes(&l.attributes, List::Span),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            });
        }
        // Built whole, then boxed only if one of its fields is set: most spans need no box.
        let extra = SpanExtra {
            trace_state: Str::from(s.trace_state.as_str()),
            dropped_attributes_count: s.dropped_attributes_count,
            events: s
                .events
                .iter()
                .map(|e| Event {
                    time_unix_nano: e.time_unix_nano,
                    name: self.intern(&e.name),
                    attributes: self.attributes(&e.attributes, List::Span),
                    dropped_attributes_count: e.dropped_attributes_count,
                })
                .collect(),
            dropped_events_count: s.dropped_events_count,
            links,
            dropped_links_count: s.dropped_links_count,
            status_message,
        };
        Ok(Span {
            trace_id: trace_id(&s.trace_id, || path.field("trace_id"))?,
            span_id: span_id(&s.span_id, || path.field("span_id"))?,
            parent_span_id: parent_span_id(&s.parent_span_id, || path.field("parent_span_id"))?,
            flags: s.flags,
            name: self.intern(&s.name),
            kind: SpanKind::from_i32(s.kind),
            start_time_unix_nano: s.start_time_unix_nano,
            end_time_unix_nano: s.end_time_unix_nano,
            // Collected from a slice's exact length, so boxing it does not reallocate.
            attributes: self
                .attributes(&s.attributes, List::Span)
                .into_boxed_slice(),
            status_code,
            extra: extra.boxed_unless_empty(),
            origin: Arc::clone(origin),
        })
    }

    /// Top-level attributes of `list`: keys interned, and string values as the list's rule
    /// says ([`List`]).
    fn attributes(&mut self, kvs: &[common::KeyValue], list: List) -> Vec<KeyValue> {
        kvs.iter()
            .map(|kv| {
                self.note_key_strindex(kv);
                let key = self.intern(&kv.key);
                let value = self.value(kv.value.as_ref(), list.values(&key));
                KeyValue { key, value }
            })
            .collect()
    }

    fn note_key_strindex(&mut self, kv: &common::KeyValue) {
        if kv.key_strindex != 0 {
            self.saw_strindex = true;
        }
    }

    fn value(&mut self, v: Option<&common::AnyValue>, intern: Intern<'_>) -> Value {
        use common::any_value::Value as V;
        let Some(v) = v.and_then(|v| v.value.as_ref()) else {
            return Value::Empty;
        };
        match v {
            // A short value is held in place (a `Text`): no allocation, nothing to intern.
            V::StringValue(s) => Value::Str(intern.text(self.interner, &mut self.recent, s)),
            V::BoolValue(b) => Value::Bool(*b),
            V::IntValue(i) => Value::Int(*i),
            V::DoubleValue(d) => Value::Double(*d),
            V::BytesValue(b) => Value::Bytes(Arc::new(b.clone())),
            V::ArrayValue(a) => Value::Array(Arc::new(
                a.values
                    .iter()
                    .map(|v| self.value(Some(v), Intern::None))
                    .collect(),
            )),
            V::KvlistValue(kvs) => Value::KvList(Arc::new(
                kvs.values
                    .iter()
                    .map(|kv| {
                        self.note_key_strindex(kv);
                        KeyValue {
                            key: Str::from(kv.key.as_str()),
                            value: self.value(kv.value.as_ref(), Intern::None),
                        }
                    })
                    .collect(),
            )),
            V::StringValueStrindex(_) => {
                self.saw_strindex = true;
                Value::Empty
            }
        }
    }
}

fn trace_id(bytes: &[u8], field: impl FnOnce() -> String) -> Result<TraceId, ConvertError> {
    <[u8; 16]>::try_from(bytes)
        .map(TraceId)
        .map_err(|_| invalid_id(field(), IdRule::TraceId, bytes.len()))
}

fn span_id(bytes: &[u8], field: impl FnOnce() -> String) -> Result<SpanId, ConvertError> {
    <[u8; 8]>::try_from(bytes)
        .map(SpanId)
        .map_err(|_| invalid_id(field(), IdRule::SpanId, bytes.len()))
}

fn parent_span_id(bytes: &[u8], field: impl FnOnce() -> String) -> Result<SpanId, ConvertError> {
    if bytes.is_empty() {
        return Ok(SpanId::INVALID);
    }
    <[u8; 8]>::try_from(bytes)
        .map(SpanId)
        .map_err(|_| invalid_id(field(), IdRule::ParentSpanId, bytes.len()))
}

fn invalid_id(field: String, expected: IdRule, actual: usize) -> ConvertError {
    ConvertError::InvalidId {
        field,
        expected,
        actual,
    }
}

fn resource_to_proto(r: &Resource) -> resource::Resource {
    resource::Resource {
        attributes: attributes_to_proto(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        entity_refs: r
            .entity_refs
            .iter()
            .map(|e| common::EntityRef {
                schema_url: e.schema_url.to_string(),
                r#type: e.entity_type.to_string(),
                id_keys: e.id_keys.iter().map(Str::to_string).collect(),
                description_keys: e.description_keys.iter().map(Str::to_string).collect(),
            })
            .collect(),
    }
}

fn scope_to_proto(s: &Scope) -> common::InstrumentationScope {
    common::InstrumentationScope {
        name: s.name.to_string(),
        version: s.version.to_string(),
        attributes: attributes_to_proto(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

fn span_to_proto(s: &Span) -> trace::Span {
    trace::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state().to_string(),
        parent_span_id: if s.parent_span_id.is_valid() {
            s.parent_span_id.0.to_vec()
        } else {
            Vec::new()
        },
        flags: s.flags,
        name: s.name.to_string(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes_to_proto(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count(),
        events: s
            .events()
            .iter()
            .map(|e| trace::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.to_string(),
                attributes: attributes_to_proto(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count(),
        links: s
            .links()
            .iter()
            .map(|l| trace::span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.to_string(),
                attributes: attributes_to_proto(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count(),
        status: Some(trace::Status {
            message: s.status_message().to_string(),
            code: s.status_code as i32,
        }),
    }
}

fn attributes_to_proto(kvs: &[KeyValue]) -> Vec<common::KeyValue> {
    kvs.iter()
        .map(|kv| common::KeyValue {
            key: kv.key.to_string(),
            value: Some(value_to_proto(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn value_to_proto(v: &Value) -> common::AnyValue {
    use common::any_value::Value as V;
    let value = match v {
        Value::Empty => None,
        Value::Str(s) => Some(V::StringValue(s.to_string())),
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::Double(d) => Some(V::DoubleValue(*d)),
        Value::Bytes(b) => Some(V::BytesValue(b.to_vec())),
        Value::Array(a) => Some(V::ArrayValue(common::ArrayValue {
            values: a.iter().map(value_to_proto).collect(),
        })),
        Value::KvList(kvs) => Some(V::KvlistValue(common::KeyValueList {
            values: attributes_to_proto(kvs),
        })),
    };
    common::AnyValue { value }
}
