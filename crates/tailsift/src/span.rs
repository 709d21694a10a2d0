//! The engine's own owned span.
//!
//! A [`Span`] carries every field of an OTLP span, so that a collector can convert to it and
//! back without losing meaning (the `tailsift-otlp` crate does that). The buffer may hold
//! millions of spans, so every byte of `Span` itself is paid millions of times; four choices
//! keep it at 96 bytes:
//!
//! - Strings are [`Str`]: an `Arc<str>` that clones without copying, one pointer wide.
//!   Repeated strings (span names, attribute keys, service names) can be interned through an
//!   [`Interner`] so that every span shares one copy.
//! - Resource and instrumentation scope are one shared [`Origin`] behind one `Arc`: spans of one
//!   OTLP `ScopeSpans` point at one `Origin`, and the origins of one `ResourceSpans` share one
//!   [`Resource`], instead of each span owning a copy of their attributes.
//! - Fields that most spans leave empty (trace state, events, links, status message, dropped
//!   counts) sit together in one optional box, [`SpanExtra`]: eight bytes and no allocation for
//!   a span that has none of them. Read them through [`Span`]'s accessors
//!   ([`Span::events`], [`Span::status_message`], ...), which answer empty when the box is
//!   absent.
//! - Attributes are a boxed slice (`Box<[KeyValue]>`): two words, and no spare capacity kept
//!   alive for the span's life.
//!
//! [`Span::size_estimate`] approximates the span's OTLP protobuf-encoded size without encoding
//! it; byte budgets and memory bounds are counted in it.

use std::sync::{Arc, OnceLock};

/// The traits a string type of this module shares with `str`, all through its `as_str`: order,
/// hash, deref and borrow as `str`, comparison with `str`, and formatting as `str`.
macro_rules! str_like {
    ($t:ty) => {
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &$t) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $t {
            fn cmp(&self, other: &$t) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl std::hash::Hash for $t {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl std::ops::Deref for $t {
            type Target = str;
            #[inline]
            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod ids;
mod strings;
mod text;
mod value;

pub use ids::{SpanId, TraceId};
pub use strings::{has_low_cardinality_values, Interner, Str};
pub use text::Text;
use value::attributes_size_estimate;
pub use value::{find_attribute, KeyValue, Value};

/// The entity that produced spans (OTLP `Resource`, plus its `ResourceSpans.schema_url`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    /// Resource attributes (`service.name`, `host.name`, ...).
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
    /// The schema URL of the enclosing `ResourceSpans`.
    pub schema_url: Str,
    /// The entities this resource describes (OTLP `Resource.entity_refs`, status: development
    /// in OTLP); empty for most producers. Kept so OTLP conversion stays lossless.
    pub entity_refs: Vec<EntityRef>,
}

/// A reference to an entity a [`Resource`] describes (OTLP `EntityRef`): the entity's type and
/// which of the resource's attribute keys identify and describe it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EntityRef {
    /// The schema URL the entity's data is recorded in, if known.
    pub schema_url: Str,
    /// The entity type (`"service"`, `"host"`, ...); OTLP's `type` field.
    pub entity_type: Str,
    /// Resource attribute keys that identify the entity.
    pub id_keys: Vec<Str>,
    /// Resource attribute keys that describe the entity.
    pub description_keys: Vec<Str>,
}

impl Resource {
    /// The value of `service.name`, or `""` when absent.
    pub fn service_name(&self) -> &str {
        find_attribute(&self.attributes, "service.name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// The instrumentation scope that produced spans (OTLP `InstrumentationScope`, plus its
/// `ScopeSpans.schema_url`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scope {
    /// Scope name.
    pub name: Str,
    /// Scope version.
    pub version: Str,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
    /// The schema URL of the enclosing `ScopeSpans`.
    pub schema_url: Str,
}

/// OTLP `SpanKind`. Unknown wire values read as `Unspecified`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SpanKind {
    /// Not specified.
    #[default]
    Unspecified = 0,
    /// An internal operation.
    Internal = 1,
    /// The server side of a synchronous call.
    Server = 2,
    /// The client side of a synchronous call.
    Client = 3,
    /// The producer of an asynchronous message.
    Producer = 4,
    /// The consumer of an asynchronous message.
    Consumer = 5,
}

impl SpanKind {
    /// From the OTLP wire value.
    pub fn from_i32(v: i32) -> SpanKind {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// The lower-case name used in configs and expressions (`"server"`, `"client"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// OTLP `Status.code`. Unknown wire values read as `Unset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum StatusCode {
    /// The default status.
    #[default]
    Unset = 0,
    /// Marked successful by the application.
    Ok = 1,
    /// An error.
    Error = 2,
}

impl StatusCode {
    /// From the OTLP wire value.
    pub fn from_i32(v: i32) -> StatusCode {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// The upper-case name used in configs and expressions (`"UNSET"`, `"OK"`, `"ERROR"`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "UNSET",
            StatusCode::Ok => "OK",
            StatusCode::Error => "ERROR",
        }
    }
}

/// A span event.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    /// When the event happened.
    pub time_unix_nano: u64,
    /// Event name (`"exception"`, ...).
    pub name: Str,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
}

/// A link to another span.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// The linked span's W3C tracestate.
    pub trace_state: Str,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags and OTLP span flags of the link.
    pub flags: u32,
}

/// Where spans come from: the resource that produced them and its instrumentation scope.
///
/// One per OTLP `ScopeSpans`, shared behind an `Arc` by all of its spans; the origins of one
/// `ResourceSpans` share one `Arc<Resource>`. One pointer per span rather than two, and the
/// scope (rarely more than a name and a version) needs no allocation of its own.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Origin {
    /// The producing resource, shared by every origin of one `ResourceSpans`.
    pub resource: Arc<Resource>,
    /// The instrumentation scope.
    pub scope: Scope,
}

/// The fields of an OTLP span that most spans leave empty, boxed together behind
/// [`Span::extra`] so that a span without any of them pays eight bytes and no allocation.
///
/// Read them through [`Span`]'s accessors, which answer empty when the box is absent; write
/// them through [`Span::extra_mut`], or build a span's box with
/// [`SpanExtra::boxed_unless_empty`]. A span with no box and a span with an all-empty box are
/// equal.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpanExtra {
    /// W3C tracestate.
    pub trace_state: Str,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
    /// Span events.
    pub events: Vec<Event>,
    /// Events the producer dropped.
    pub dropped_events_count: u32,
    /// Span links.
    pub links: Vec<Link>,
    /// Links the producer dropped.
    pub dropped_links_count: u32,
    /// Status message.
    pub status_message: Str,
}

/// What [`Span`]'s accessors read when a span has no [`SpanExtra`] box.
static NO_EXTRA: SpanExtra = SpanExtra {
    trace_state: Str::empty(),
    dropped_attributes_count: 0,
    events: Vec::new(),
    dropped_events_count: 0,
    links: Vec::new(),
    dropped_links_count: 0,
    status_message: Str::empty(),
};

impl SpanExtra {
    /// Whether every field is empty or zero (the span would read the same without the box).
    pub fn is_empty(&self) -> bool {
        let SpanExtra {
            trace_state,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status_message,
        } = self;
        trace_state.is_empty()
            && *dropped_attributes_count == 0
            && events.is_empty()
            && *dropped_events_count == 0
            && links.is_empty()
            && *dropped_links_count == 0
            && status_message.is_empty()
    }

    /// The value for [`Span::extra`]: boxed, or `None` when every field is empty, so that a
    /// producer never allocates a box a span does not need.
    pub fn boxed_unless_empty(self) -> Option<Box<SpanExtra>> {
        (!self.is_empty()).then(|| Box::new(self))
    }
}

/// One span, with every OTLP field.
///
/// The fields most spans leave empty are in [`extra`](Span::extra) and read through accessors
/// ([`Span::trace_state`], [`Span::events`], [`Span::links`], [`Span::status_message`] and
/// the dropped counts); the resource and scope through [`Span::resource`] and
/// [`Span::scope`].
#[derive(Clone, Debug)]
pub struct Span {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The parent's id; [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    /// W3C trace flags (low 8 bits) and OTLP span flags.
    pub flags: u32,
    /// Operation name.
    pub name: Str,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Span attributes. A boxed slice (two words, no spare capacity): a span's attributes are
    /// built once and kept as they are.
    pub attributes: Box<[KeyValue]>,
    /// Status code.
    pub status_code: StatusCode,
    /// The rarely set fields, or `None` when they are all empty (the usual case). Producers
    /// build it with [`SpanExtra::boxed_unless_empty`]; `None` and a box of empty fields mean
    /// the same and compare equal.
    pub extra: Option<Box<SpanExtra>>,
    /// The producing resource and instrumentation scope, shared by the spans of one OTLP
    /// `ScopeSpans`.
    pub origin: Arc<Origin>,
}

impl Default for Span {
    fn default() -> Span {
        Span {
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            parent_span_id: SpanId::INVALID,
            flags: 0,
            name: Str::empty(),
            kind: SpanKind::Unspecified,
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            attributes: Box::default(),
            status_code: StatusCode::Unset,
            extra: None,
            origin: default_origin(),
        }
    }
}

fn default_origin() -> Arc<Origin> {
    static EMPTY: OnceLock<Arc<Origin>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(Origin::default())).clone()
}

/// Field by field, except that a span without a [`SpanExtra`] box equals one whose box is all
/// empty: the box is storage, not meaning.
impl PartialEq for Span {
    fn eq(&self, other: &Span) -> bool {
        // Destructured so that a new field cannot be left out of the comparison.
        let Span {
            trace_id,
            span_id,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano,
            end_time_unix_nano,
            attributes,
            status_code,
            extra: _,
            origin,
        } = self;
        *trace_id == other.trace_id
            && *span_id == other.span_id
            && *parent_span_id == other.parent_span_id
            && *flags == other.flags
            && *name == other.name
            && *kind == other.kind
            && *start_time_unix_nano == other.start_time_unix_nano
            && *end_time_unix_nano == other.end_time_unix_nano
            && *attributes == other.attributes
            && *status_code == other.status_code
            && self.extra_or_empty() == other.extra_or_empty()
            && *origin == other.origin
    }
}

impl Span {
    /// Whether the span has no parent.
    pub fn is_root(&self) -> bool {
        !self.parent_span_id.is_valid()
    }

    /// The span's duration in nanoseconds (zero if it ends before it starts).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// The producing resource.
    pub fn resource(&self) -> &Resource {
        &self.origin.resource
    }

    /// The instrumentation scope.
    pub fn scope(&self) -> &Scope {
        &self.origin.scope
    }

    /// The `service.name` of the span's resource, or `""`.
    pub fn service_name(&self) -> &str {
        self.origin.resource.service_name()
    }

    /// The value of the span attribute `key`, if any.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        find_attribute(&self.attributes, key)
    }

    /// Appends an attribute. Reallocates the attributes: for annotating a finished span (the
    /// engine's output attributes, tests), not for building one.
    pub fn push_attribute(&mut self, attribute: KeyValue) {
        let mut attributes = std::mem::take(&mut self.attributes).into_vec();
        attributes.reserve_exact(1);
        attributes.push(attribute);
        self.attributes = attributes.into_boxed_slice();
    }

    fn extra_or_empty(&self) -> &SpanExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// The rarely set fields, for writing: the span's box, created (empty) if it has none.
    pub fn extra_mut(&mut self) -> &mut SpanExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// W3C tracestate; `""` when not set.
    pub fn trace_state(&self) -> &str {
        &self.extra_or_empty().trace_state
    }

    /// The span attributes the producer dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.extra_or_empty().dropped_attributes_count
    }

    /// Span events; empty when there are none.
    pub fn events(&self) -> &[Event] {
        &self.extra_or_empty().events
    }

    /// Events the producer dropped.
    pub fn dropped_events_count(&self) -> u32 {
        self.extra_or_empty().dropped_events_count
    }

    /// Span links; empty when there are none.
    pub fn links(&self) -> &[Link] {
        &self.extra_or_empty().links
    }

    /// Links the producer dropped.
    pub fn dropped_links_count(&self) -> u32 {
        self.extra_or_empty().dropped_links_count
    }

    /// Status message; `""` when not set.
    pub fn status_message(&self) -> &str {
        &self.extra_or_empty().status_message
    }

    /// Approximates the span's OTLP protobuf-encoded size in bytes (the `Span` message alone,
    /// without its shared resource and scope). Cheap: one pass over attributes, events and
    /// links, no allocation; the extra box is read only when the span has one. Byte budgets
    /// and buffer bounds count spans in this unit.
    pub fn size_estimate(&self) -> usize {
        // Fixed fields: ids with tags (18 + 10 + 10), two fixed64 times (18), kind, flags,
        // status and its tags.
        let mut n = 64 + self.name.len() + attributes_size_estimate(&self.attributes);
        if let Some(extra) = &self.extra {
            n += extra.trace_state.len() + extra.status_message.len();
            for e in &extra.events {
                n += 16 + e.name.len() + attributes_size_estimate(&e.attributes);
            }
            for l in &extra.links {
                n += 36 + l.trace_state.len() + attributes_size_estimate(&l.attributes);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_is_the_low_56_bits() {
        let id = TraceId::from_u128(0xffff_ffff_ffff_ffff_ff12_3456_789a_bcde);
        assert_eq!(id.randomness(), 0x12_3456_789a_bcde);
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473").is_none());
        assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473g").is_none());
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b7").unwrap().to_u64(),
            0x00f0_67aa_0ba9_02b7
        );
    }

    #[test]
    fn values_and_strings_stay_small() {
        assert_eq!(std::mem::size_of::<Str>(), 8);
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<KeyValue>(), 24);
        // What every buffered span pays before its attributes: docs/BENCHMARKS.md counts it.
        // 94 bytes of fields (ids 32, times 16, attributes 16, name, extra and origin 8 each,
        // flags 4, kind and status code 1 each), padded to 8.
        assert_eq!(std::mem::size_of::<Span>(), 96);
        assert_eq!(std::mem::size_of::<Option<Box<SpanExtra>>>(), 8);
    }

    #[test]
    fn a_span_without_extra_equals_one_with_an_empty_extra() {
        let bare = Span::default();
        let mut boxed = Span {
            extra: Some(Box::default()),
            ..Span::default()
        };
        assert_eq!(bare, boxed);
        assert_eq!(boxed, bare);
        boxed.extra_mut().dropped_links_count = 1;
        assert_ne!(bare, boxed);
        assert_ne!(boxed, bare);
    }

    #[test]
    fn extra_accessors_read_empty_without_a_box_and_extra_mut_creates_one() {
        let mut span = Span::default();
        assert_eq!(span.trace_state(), "");
        assert_eq!(span.status_message(), "");
        assert!(span.events().is_empty() && span.links().is_empty());
        assert_eq!(span.dropped_attributes_count(), 0);
        assert_eq!(span.dropped_events_count(), 0);
        assert_eq!(span.dropped_links_count(), 0);
        assert!(span.extra.is_none());
        span.extra_mut().trace_state = "ot=rv:00000000000001".into();
        span.extra_mut().events.push(Event::default());
        assert_eq!(span.trace_state(), "ot=rv:00000000000001");
        assert_eq!(span.events().len(), 1);
        assert!(span.extra.is_some());
    }

    #[test]
    fn only_a_non_empty_extra_is_boxed() {
        assert!(SpanExtra::default().boxed_unless_empty().is_none());
        let with_message = SpanExtra {
            status_message: "card declined".into(),
            ..SpanExtra::default()
        };
        assert!(with_message.boxed_unless_empty().is_some());
        let with_count = SpanExtra {
            dropped_events_count: 2,
            ..SpanExtra::default()
        };
        assert!(with_count.boxed_unless_empty().is_some());
    }

    #[test]
    fn size_estimate_counts_every_value_kind() {
        let size = |value: Value| {
            let span = Span {
                attributes: vec![KeyValue::new("k", value)].into(),
                ..Span::default()
            };
            span.size_estimate() - 64 - (4 + "k".len())
        };
        assert_eq!(size(Value::Empty), 0);
        assert_eq!(size("abc".into()), 2 + 3);
        assert_eq!(size(true.into()), 2);
        assert_eq!(size(7i64.into()), 9);
        assert_eq!(size(0.5.into()), 9);
        assert_eq!(size(Value::Bytes(Arc::new(vec![1, 2]))), 2 + 2);
        let array = Value::Array(Arc::new(vec!["ab".into(), 1i64.into()]));
        assert_eq!(size(array.clone()), 2 + (2 + 2 + 2) + (2 + 9));
        let nested = Value::KvList(Arc::new(vec![
            KeyValue::new("x", false),
            KeyValue::new("list", array),
        ]));
        let list = 2 + (2 + 4) + (2 + 9);
        assert_eq!(size(nested), 2 + (4 + 1 + 2) + (4 + 4 + list));
    }

    #[test]
    fn size_estimate_counts_every_part_of_the_otlp_span() {
        let mut span = Span {
            name: "GET /cart".into(),
            attributes: vec![KeyValue::new("http.route", "/cart")].into(),
            ..Span::default()
        };
        let attribute = 4 + "http.route".len() + 2 + "/cart".len();
        assert_eq!(span.size_estimate(), 64 + "GET /cart".len() + attribute);
        *span.extra_mut() = SpanExtra {
            trace_state: "ot=th:8".into(),
            status_message: "boom".into(),
            events: vec![Event {
                name: "exception".into(),
                attributes: vec![KeyValue::new("attempt", 2i64)],
                ..Event::default()
            }],
            links: vec![Link {
                trace_state: "k=v".into(),
                ..Link::default()
            }],
            ..SpanExtra::default()
        };
        let event = 16 + "exception".len() + (4 + "attempt".len() + 9);
        let link = 36 + "k=v".len();
        assert_eq!(
            span.size_estimate(),
            64 + "GET /cart".len() + attribute + "ot=th:8".len() + "boom".len() + event + link
        );
    }

    #[test]
    fn push_attribute_appends_without_spare_capacity() {
        let mut span = Span::default();
        span.push_attribute(KeyValue::new("a", 1i64));
        span.push_attribute(KeyValue::new("b", 2i64));
        assert_eq!(span.attributes.len(), 2);
        assert_eq!(span.attribute("b"), Some(&Value::Int(2)));
    }

    #[test]
    fn empty_and_interned_strings_are_immortal() {
        assert!(Str::empty().is_immortal());
        assert!(Str::from("").is_immortal());
        assert!(!Str::from("per-request value").is_immortal());
        let interner = Interner::new(4);
        assert!(interner.intern("GET /cart").is_immortal());
        assert!(Str::immortal("checkout").is_immortal());
    }

    #[test]
    fn interner_shares_copies_and_stays_bounded() {
        let interner = Interner::new(2);
        let a = interner.intern("checkout");
        let b = interner.intern("checkout");
        assert!(a.ptr_eq(&b));
        interner.intern("cart");
        interner.intern("payment");
        assert_eq!(interner.len(), 2);
        assert_eq!(interner.intern("payment"), "payment");
    }

    #[test]
    fn size_estimate_grows_with_payload() {
        let mut span = Span::default();
        let bare = span.size_estimate();
        span.push_attribute(KeyValue::new("http.route", "/api/checkout"));
        assert!(span.size_estimate() >= bare + "http.route/api/checkout".len());
    }
}
