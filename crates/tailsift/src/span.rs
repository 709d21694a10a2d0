//! The engine's own owned span.
//!
//! A [`Span`] carries every field of an OTLP span, so that a collector can convert to it and
//! back without losing meaning (the `tailsift-otlp` crate does that). Two choices keep a buffered
//! span cheap, because the buffer may hold millions of them:
//!
//! - Strings are [`Str`]: an `Arc<str>` that clones without copying. Repeated strings (span
//!   names, attribute keys, service names) can be interned through an [`Interner`] so that every
//!   span shares one copy.
//! - Resource and instrumentation scope are shared behind `Arc`: spans of one OTLP
//!   `ResourceSpans` point at one [`Resource`] instead of each owning a copy of its attributes.
//!
//! [`Span::size_estimate`] approximates the span's OTLP protobuf-encoded size without encoding
//! it; byte budgets and memory bounds are counted in it.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use arcstr::ArcStr;
use parking_lot::Mutex;
pub use thin_vec::{thin_vec, ThinVec};

/// A 16-byte W3C trace id. All zeroes is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// The invalid, all-zero trace id.
    pub const INVALID: TraceId = TraceId([0; 16]);

    /// Builds a trace id from a `u128` (big-endian, as the hex form reads).
    pub const fn from_u128(v: u128) -> TraceId {
        TraceId(v.to_be_bytes())
    }

    /// The id as a big-endian `u128`.
    pub const fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Whether the id is not all zeroes.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 16]
    }

    /// The trace's randomness as the W3C Trace Context level 2 and OpenTelemetry sampling
    /// specifications define it: the least-significant 56 bits (the last 7 bytes), big-endian.
    pub fn randomness(&self) -> u64 {
        let mut b = [0u8; 8];
        b[1..].copy_from_slice(&self.0[9..]);
        u64::from_be_bytes(b)
    }

    /// The xxh3 hash of the 16 bytes: the one hash every routing and table lookup shares.
    pub fn hash64(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.0)
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        let mut out = [0u8; 16];
        decode_hex(s, &mut out).then_some(TraceId(out))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// An 8-byte span id. All zeroes is invalid (and, as a parent id, means "no parent").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl SpanId {
    /// The invalid, all-zero span id.
    pub const INVALID: SpanId = SpanId([0; 8]);

    /// Builds a span id from a `u64` (big-endian).
    pub const fn from_u64(v: u64) -> SpanId {
        SpanId(v.to_be_bytes())
    }

    /// The id as a big-endian `u64`.
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// Whether the id is not all zeroes.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8]
    }

    /// Parses 16 hex digits.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        let mut out = [0u8; 8];
        decode_hex(s, &mut out).then_some(SpanId(out))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn decode_hex(s: &str, out: &mut [u8]) -> bool {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return false;
    }
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        match (nibble(s[2 * i]), nibble(s[2 * i + 1])) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}

/// A shared, immutable string: one pointer wide, cloned by a reference-count increment.
///
/// Two kinds of `Str` cost nothing to clone or drop (no atomic operation at all): the empty
/// string, and *immortal* strings — those interned by an [`Interner`] or made by
/// [`Str::immortal`], which are never freed. Span names, attribute keys and service names are
/// interned, so a buffered span's strings mostly cost no refcount traffic between threads; only
/// unique values (URLs, ids) are counted. (Built on `arcstr::ArcStr`.)
#[derive(Clone)]
pub struct Str(ArcStr);

impl Str {
    /// The empty string (static: no allocation, no reference counting).
    pub fn empty() -> Str {
        Str(ArcStr::new())
    }

    /// A string that is never freed, so its clones and drops cost nothing. For strings that
    /// live as long as the process: interned names and keys, a generator's constant tables.
    pub fn immortal(s: &str) -> Str {
        let a = ArcStr::from(s);
        a.leak();
        Str(a)
    }

    /// Whether clones and drops of this string skip reference counting.
    pub fn is_immortal(&self) -> bool {
        ArcStr::is_static(&self.0)
    }

    /// The string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    fn new(s: &str) -> Str {
        Str(ArcStr::from(s))
    }

    /// Whether two `Str`s share one allocation (interned copies do).
    pub fn ptr_eq(&self, other: &Str) -> bool {
        ArcStr::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.ptr_eq(other) || self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Default for Str {
    fn default() -> Str {
        Str::empty()
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::new(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::new(&s)
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::new(s)
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shares one copy of each repeated string.
///
/// Interned strings are immortal ([`Str::immortal`]): never freed, so clones and drops of them
/// cost no atomic operation — the point, since every span holds a dozen of them. The interner
/// is therefore bounded: once it holds `max_entries` strings it stops interning and hands out
/// ordinary counted copies, so a stream of unique values (request ids, URLs) cannot grow it
/// without limit. Intern low-cardinality strings only (keys, span names, service names), and
/// keep one interner for the life of a pipeline rather than one per request.
pub struct Interner {
    table: Mutex<hashbrown::HashSet<Str, ahash::RandomState>>,
    max_entries: usize,
}

impl Interner {
    /// An interner that holds at most `max_entries` strings.
    pub fn new(max_entries: usize) -> Interner {
        Interner {
            table: Mutex::new(hashbrown::HashSet::default()),
            max_entries,
        }
    }

    /// The shared copy of `s`.
    pub fn intern(&self, s: &str) -> Str {
        if s.is_empty() {
            return Str::empty();
        }
        let mut table = self.table.lock();
        if let Some(found) = table.get(s) {
            return found.clone();
        }
        if table.len() < self.max_entries {
            let fresh = Str::immortal(s);
            table.insert(fresh.clone());
            fresh
        } else {
            Str::from(s)
        }
    }

    /// How many strings are interned.
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether no string is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Interner {
    /// An interner bounded at 65,536 strings.
    fn default() -> Interner {
        Interner::new(1 << 16)
    }
}

/// An attribute value: every OTLP `AnyValue` kind.
///
/// Sixteen bytes: every payload is one word (the rare composite kinds sit behind an `Arc` of a
/// `Vec`), so an attribute (key and value) is 24 bytes.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// An `AnyValue` with no value set.
    #[default]
    Empty,
    /// A string.
    Str(Str),
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(Arc<Vec<u8>>),
    /// An array of values.
    Array(Arc<Vec<Value>>),
    /// A list of key-value pairs (a map that keeps order and duplicates, as OTLP does).
    KvList(Arc<Vec<KeyValue>>),
}

impl Value {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a number, if it is an integer or a double.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Double(d) => Some(d),
            _ => None,
        }
    }

    /// The integer, if this is an integer value (or a double with no fractional part).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(d as i64),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn size_estimate(&self) -> usize {
        match self {
            Value::Empty => 0,
            Value::Str(s) => 2 + s.len(),
            Value::Bool(_) => 2,
            Value::Int(_) | Value::Double(_) => 9,
            Value::Bytes(b) => 2 + b.len(),
            Value::Array(a) => 2 + a.iter().map(|v| 2 + v.size_estimate()).sum::<usize>(),
            Value::KvList(kvs) => 2 + attributes_size_estimate(kvs),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Double(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

/// One attribute.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    /// The attribute's key.
    pub key: Str,
    /// The attribute's value.
    pub value: Value,
}

impl KeyValue {
    /// Builds an attribute.
    pub fn new(key: impl Into<Str>, value: impl Into<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The value of the first attribute named `key`, if any.
pub fn find_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| &*kv.key == key)
        .map(|kv| &kv.value)
}

fn attributes_size_estimate(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| 4 + kv.key.len() + kv.value.size_estimate())
        .sum()
}

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

/// One span, with every OTLP field.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The parent's id; [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    /// W3C tracestate.
    pub trace_state: Str,
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
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
    /// Span events. A `ThinVec` (one word; no allocation when empty): most spans have none, and
    /// every buffered span pays for the field.
    pub events: ThinVec<Event>,
    /// Events the producer dropped.
    pub dropped_events_count: u32,
    /// Span links. A `ThinVec`, for the same reason as `events`.
    pub links: ThinVec<Link>,
    /// Links the producer dropped.
    pub dropped_links_count: u32,
    /// Status code.
    pub status_code: StatusCode,
    /// Status message.
    pub status_message: Str,
    /// The producing resource, shared by the spans of one `ResourceSpans`.
    pub resource: Arc<Resource>,
    /// The instrumentation scope, shared by the spans of one `ScopeSpans`.
    pub scope: Arc<Scope>,
}

impl Default for Span {
    fn default() -> Span {
        Span {
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            parent_span_id: SpanId::INVALID,
            trace_state: Str::empty(),
            flags: 0,
            name: Str::empty(),
            kind: SpanKind::Unspecified,
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: ThinVec::new(),
            dropped_events_count: 0,
            links: ThinVec::new(),
            dropped_links_count: 0,
            status_code: StatusCode::Unset,
            status_message: Str::empty(),
            resource: default_resource(),
            scope: default_scope(),
        }
    }
}

fn default_resource() -> Arc<Resource> {
    static EMPTY: OnceLock<Arc<Resource>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(Resource::default())).clone()
}

fn default_scope() -> Arc<Scope> {
    static EMPTY: OnceLock<Arc<Scope>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(Scope::default())).clone()
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

    /// The `service.name` of the span's resource, or `""`.
    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }

    /// The value of the span attribute `key`, if any.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        find_attribute(&self.attributes, key)
    }

    /// Approximates the span's OTLP protobuf-encoded size in bytes (the `Span` message alone,
    /// without its shared resource and scope). Cheap: one pass over attributes, events and
    /// links, no allocation. Byte budgets and buffer bounds count spans in this unit.
    pub fn size_estimate(&self) -> usize {
        // Fixed fields: ids with tags (18 + 10 + 10), two fixed64 times (18), kind, flags,
        // status and its tags.
        let mut n = 64 + self.name.len() + self.trace_state.len() + self.status_message.len();
        n += attributes_size_estimate(&self.attributes);
        for e in &self.events {
            n += 16 + e.name.len() + attributes_size_estimate(&e.attributes);
        }
        for l in &self.links {
            n += 36 + l.trace_state.len() + attributes_size_estimate(&l.attributes);
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
        assert_eq!(std::mem::size_of::<Span>(), 152);
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
        span.attributes
            .push(KeyValue::new("http.route", "/api/checkout"));
        assert!(span.size_estimate() >= bare + "http.route/api/checkout".len());
    }
}
