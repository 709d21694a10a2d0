//! The encoder: [`Encoder::begin`] starts a trace, whose [`TraceEncoder`] gathers its columns
//! and then writes the buffer.
//!
//! It runs once per decided trace on the host, so it is built for reuse: every column, the
//! string table and the output are vectors cleared (not freed) between traces, and the string
//! table's dedupe index is cleared in O(1) by bumping a generation number rather than by
//! zeroing its slots. Once an encoder has seen its largest trace, encoding allocates nothing.
//!
//! Deduplicating strings is most of the work (a 10-span trace has over a hundred names, keys
//! and values to look up), so the table first tries the address of the bytes it is given:
//! engines share one allocation per repeated string, and a hit there skips hashing. The hit
//! is not confirmed by comparing bytes: a [`TraceEncoder`] takes only strings that outlive it,
//! so within one trace an address and a length stand for one string. Each column is held as
//! the little-endian bytes its section will have; the buffer is laid out from the columns'
//! sizes, sized once, and each column copied into its place whole.

mod strings;

use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use crate::layout::{
    align_up, Section, AT_BYTES, AT_CONTENTS, AT_DURATION, AT_END, AT_ERROR_COUNT, AT_HEADER_LEN,
    AT_MAGIC, AT_NOW, AT_P50, AT_P95, AT_P99, AT_RANDOMNESS, AT_ROOT, AT_ROOT_NAME,
    AT_ROOT_SERVICE, AT_SAMPLES, AT_SECTION_COUNT, AT_START, AT_TRACE_FLAGS, AT_TRACE_ID,
    AT_VERSION, DIRECTORY, FLAG_EARLY, FLAG_INCOMPLETE, FLAG_SHUTDOWN, FLAG_TIMED_OUT,
    HAS_BASELINE, HAS_CRITICAL_PATH, HAS_PARENTS, HEADER_LEN, MAGIC, NONE, ORIGIN_RECORD,
    ORIGIN_RESOURCE_END, ORIGIN_RESOURCE_START, ORIGIN_SCOPE_END, ORIGIN_SCOPE_NAME,
    ORIGIN_SCOPE_START, ORIGIN_SCOPE_VERSION, ORIGIN_SERVICE, SECTION_COUNT, VERSION,
};
use crate::value::{tag, Value};
use crate::{Baseline, TraceFlags};
use strings::{StringTable, SHORT_BYTES};

/// The longest string value the encoder takes for a fresh copy in each span: as long as the
/// engine's `Text` holds in place (`tailsift::Text::INLINE_CAPACITY`; this crate does not depend
/// on the engine), which is what the string table remembers by bytes. Longer values are mostly
/// shared between spans, and found again by address.
const SHORT_VALUE: usize = SHORT_BYTES;

/// The trace-level facts of one trace, given to [`Encoder::begin`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TraceFacts<'a> {
    /// The trace id's 16 bytes.
    pub trace_id: [u8; 16],
    /// Earliest span start, unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end, unix nanoseconds.
    pub end_unix_nano: u64,
    /// Earliest start to latest end, nanoseconds.
    pub duration_nanos: u64,
    /// The engine's time at decision, nanoseconds.
    pub now_nanos: u64,
    /// The trace's 56-bit randomness.
    pub randomness: u64,
    /// The trace's estimated OTLP size in bytes.
    pub estimated_bytes: u64,
    /// How many spans have status ERROR.
    pub error_count: u32,
    /// The root span's index, if the trace has one.
    pub root: Option<u32>,
    /// How the trace came to be decided.
    pub flags: TraceFlags,
    /// The latency baseline of the trace's group, if any.
    pub baseline: Option<Baseline>,
    /// The root span's service name (`""` without a root).
    pub root_service: &'a str,
    /// The root span's name (`""` without a root).
    pub root_name: &'a str,
}

/// One span's columns, given to [`TraceEncoder::push_span`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanFacts<'a> {
    /// The span id's 8 bytes.
    pub span_id: [u8; 8],
    /// The parent's span id (all zero for none).
    pub parent_span_id: [u8; 8],
    /// Start, unix nanoseconds.
    pub start_unix_nano: u64,
    /// End, unix nanoseconds.
    pub end_unix_nano: u64,
    /// Operation name.
    pub name: &'a str,
    /// OTLP span kind wire value.
    pub kind: u8,
    /// OTLP status code wire value.
    pub status: u8,
    /// W3C trace flags and OTLP span flags.
    pub flags: u32,
    /// The span's origin, as returned by [`TraceEncoder::push_origin`].
    pub origin: u32,
    /// W3C tracestate (`""` when unset).
    pub trace_state: &'a str,
}

/// One origin's strings, given to [`TraceEncoder::push_origin`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OriginFacts<'a> {
    /// The resource's `service.name` (`""` when absent).
    pub service: &'a str,
    /// The instrumentation scope's name.
    pub scope_name: &'a str,
    /// The instrumentation scope's version.
    pub scope_version: &'a str,
}

/// Why [`TraceEncoder::finish`] could not write a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The buffer would be over 4 GiB, past what its `u32` offsets can address.
    TooLarge {
        /// The size the buffer would have had, in bytes.
        bytes: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { bytes } => write!(
                f,
                "trace buffer of {bytes} bytes is over the format's 4 GiB limit (u32 offsets)"
            ),
        }
    }
}

impl core::error::Error for EncodeError {}

/// One column of a section, held as the bytes the buffer will have (each element `W` bytes,
/// little-endian), so that [`TraceEncoder::finish`] copies it whole.
#[derive(Clone, Debug, Default)]
struct Column<const W: usize>(Vec<u8>);

impl<const W: usize> Column<W> {
    fn push(&mut self, element: [u8; W]) {
        self.0.extend_from_slice(&element);
    }

    /// Elements held.
    fn count(&self) -> usize {
        self.0.len() / W
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Elements and bytes held.
    fn size(&self) -> (usize, usize) {
        (self.count(), self.0.len())
    }

    /// Elements and bytes of `columns` written one after the other.
    fn size_of(columns: [&Column<W>; 2]) -> (usize, usize) {
        let bytes = columns[0].0.len() + columns[1].0.len();
        (bytes / W, bytes)
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn capacity_bytes(&self) -> usize {
        self.0.capacity()
    }
}

/// The attribute columns.
#[derive(Clone, Debug, Default)]
struct Attributes {
    keys: Column<4>,
    tags: Column<1>,
    values: Column<8>,
}

impl Attributes {
    fn clear(&mut self) {
        self.keys.clear();
        self.tags.clear();
        self.values.clear();
    }

    fn len(&self) -> u32 {
        self.keys.count() as u32
    }

    #[inline(always)]
    fn push(&mut self, strings: &mut StringTable, key: &str, value: Value<'_>) {
        let (tag, payload) = match value {
            Value::Empty => (tag::EMPTY, 0),
            // A short value is a copy held in place in its span (the engine's `Text`).
            Value::Str(s) if s.len() <= SHORT_VALUE => {
                (tag::STR, u64::from(strings.intern_copy(s.as_bytes())))
            }
            Value::Str(s) => (tag::STR, u64::from(strings.intern(s.as_bytes()))),
            Value::Bool(b) => (tag::BOOL, u64::from(b)),
            Value::Int(i) => (tag::INT, i as u64),
            Value::Double(d) => (tag::DOUBLE, d.to_bits()),
            Value::Bytes(b) => (tag::BYTES, u64::from(strings.intern(b))),
            Value::Array { len } => (tag::ARRAY, len),
            Value::KvList { len } => (tag::KVLIST, len),
        };
        self.keys.push(strings.intern(key.as_bytes()).to_le_bytes());
        self.tags.push([tag]);
        self.values.push(payload.to_le_bytes());
    }

    fn capacity_bytes(&self) -> usize {
        self.keys.capacity_bytes() + self.tags.capacity_bytes() + self.values.capacity_bytes()
    }
}

/// The span columns.
#[derive(Clone, Debug, Default)]
struct Spans {
    ids: Column<8>,
    parent_ids: Column<8>,
    starts: Column<8>,
    ends: Column<8>,
    names: Column<4>,
    kinds: Column<1>,
    statuses: Column<1>,
    flags: Column<4>,
    origins: Column<4>,
    trace_states: Column<4>,
    /// Where each span's attributes start, and one past the last span's: starts as `[0]`.
    attribute_offsets: Column<4>,
}

impl Spans {
    fn clear(&mut self) {
        let Spans {
            ids,
            parent_ids,
            starts,
            ends,
            names,
            kinds,
            statuses,
            flags,
            origins,
            trace_states,
            attribute_offsets,
        } = self;
        ids.clear();
        parent_ids.clear();
        starts.clear();
        ends.clear();
        names.clear();
        kinds.clear();
        statuses.clear();
        flags.clear();
        origins.clear();
        trace_states.clear();
        attribute_offsets.clear();
        attribute_offsets.push(0u32.to_le_bytes());
    }

    fn count(&self) -> usize {
        self.ids.count()
    }

    fn capacity_bytes(&self) -> usize {
        self.ids.capacity_bytes()
            + self.parent_ids.capacity_bytes()
            + self.starts.capacity_bytes()
            + self.ends.capacity_bytes()
            + self.names.capacity_bytes()
            + self.kinds.capacity_bytes()
            + self.statuses.capacity_bytes()
            + self.flags.capacity_bytes()
            + self.origins.capacity_bytes()
            + self.trace_states.capacity_bytes()
            + self.attribute_offsets.capacity_bytes()
    }
}

/// Builds trace buffers, one trace at a time, reusing its memory across traces.
///
/// Per trace: [`begin`](Encoder::begin) with the trace's facts returns a [`TraceEncoder`];
/// then [`push_origin`](TraceEncoder::push_origin) for each distinct origin before the first
/// span that refers to it, [`push_span`](TraceEncoder::push_span) for each span in order,
/// optionally [`set_critical_path`](TraceEncoder::set_critical_path) and
/// [`set_parents`](TraceEncoder::set_parents), and [`finish`](TraceEncoder::finish), which
/// writes the buffer and returns it.
///
/// ```
/// use tailsift_abi::{Encoder, OriginFacts, SpanFacts, TraceBuf, TraceFacts, Value};
///
/// let mut encoder = Encoder::new();
/// let mut trace =
///     encoder.begin(&TraceFacts { trace_id: [7; 16], root: Some(0), ..TraceFacts::default() });
/// let origin = trace.push_origin(
///     &OriginFacts { service: "checkout", ..OriginFacts::default() },
///     [("service.name", Value::Str("checkout"))],
///     [],
/// );
/// trace.push_span(
///     &SpanFacts { span_id: [1; 8], name: "PlaceOrder", origin, ..SpanFacts::default() },
///     [("http.response.status_code", Value::Int(200))],
/// );
/// let bytes = trace.finish()?;
///
/// let trace = TraceBuf::parse(bytes)?;
/// let root = trace.root().expect("span 0 is the root");
/// assert_eq!(root.name(), Some("PlaceOrder"));
/// assert_eq!(root.service(), Some("checkout"));
/// assert_eq!(root.attribute("http.response.status_code"), Some(Value::Int(200)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Encoder {
    facts: TraceFacts<'static>,
    root_service: u32,
    root_name: u32,
    strings: StringTable,
    spans: Spans,
    span_attributes: Attributes,
    /// Origins' attributes, written after the spans' (so that each span's attributes stay one
    /// run given by `n + 1` offsets); the origin records' ranges are relative to this until
    /// [`TraceEncoder::finish`] shifts them.
    origin_attributes: Attributes,
    origins: Vec<[u32; 8]>,
    critical_path: Vec<u32>,
    has_critical_path: bool,
    parents: Vec<u32>,
    has_parents: bool,
    out: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with nothing allocated yet beyond its string table's empty string.
    pub fn new() -> Encoder {
        let mut encoder = Encoder {
            facts: TraceFacts::default(),
            root_service: 0,
            root_name: 0,
            strings: StringTable::new(),
            spans: Spans::default(),
            span_attributes: Attributes::default(),
            origin_attributes: Attributes::default(),
            origins: Vec::new(),
            critical_path: Vec::new(),
            has_critical_path: false,
            parents: Vec::new(),
            has_parents: false,
            out: Vec::new(),
        };
        encoder.begin(&TraceFacts::default());
        encoder
    }

    /// Starts a trace: forgets the previous one (keeping its memory), records the trace's
    /// facts, and returns the trace's encoder. Every string given to it, here and after, must
    /// outlive it (`'s`).
    pub fn begin<'e, 's>(&'e mut self, facts: &TraceFacts<'s>) -> TraceEncoder<'e, 's> {
        self.strings.clear();
        self.spans.clear();
        self.span_attributes.clear();
        self.origin_attributes.clear();
        self.origins.clear();
        self.critical_path.clear();
        self.has_critical_path = false;
        self.parents.clear();
        self.has_parents = false;
        self.root_service = self.strings.intern(facts.root_service.as_bytes());
        self.root_name = self.strings.intern(facts.root_name.as_bytes());
        self.facts = TraceFacts {
            root_service: "",
            root_name: "",
            ..*facts
        };
        TraceEncoder {
            encoder: self,
            strings: PhantomData,
        }
    }

    /// The bytes of memory the encoder holds (capacity, not length): constant once it has
    /// encoded its largest trace, which is how a caller (or a test) can see that steady-state
    /// encoding does not grow it.
    pub fn capacity_bytes(&self) -> usize {
        self.strings.capacity_bytes()
            + self.spans.capacity_bytes()
            + self.span_attributes.capacity_bytes()
            + self.origin_attributes.capacity_bytes()
            + self.origins.capacity() * ORIGIN_RECORD
            + (self.critical_path.capacity() + self.parents.capacity()) * 4
            + self.out.capacity()
    }
}

/// One trace being encoded: what [`Encoder::begin`] returns, until [`TraceEncoder::finish`].
///
/// Every string it is given lives at least `'s`, longer than it does, and cannot change
/// meanwhile (it is borrowed shared): so within one trace a string's address and length stand
/// for its bytes, and the string table finds a string it has seen at that address without
/// comparing them. A string that would not outlive the trace's encoding is refused by the
/// compiler:
///
/// ```compile_fail,E0597
/// use tailsift_abi::{Encoder, SpanFacts, TraceFacts};
///
/// let mut encoder = Encoder::new();
/// let mut trace = encoder.begin(&TraceFacts::default());
/// {
///     let name = String::from("GET /cart");
///     trace.push_span(&SpanFacts { name: &name, ..SpanFacts::default() }, []);
/// } // `name` is freed here, and its address could hold other bytes...
/// let bytes = trace.finish(); // ...while the trace is still being encoded.
/// ```
///
/// Declared before the trace begins, the same string is taken:
///
/// ```
/// use tailsift_abi::{Encoder, SpanFacts, TraceFacts};
///
/// let mut encoder = Encoder::new();
/// let name = String::from("GET /cart");
/// let mut trace = encoder.begin(&TraceFacts::default());
/// trace.push_span(&SpanFacts { name: &name, ..SpanFacts::default() }, []);
/// assert!(trace.finish().is_ok());
/// ```
#[derive(Debug)]
pub struct TraceEncoder<'e, 's> {
    encoder: &'e mut Encoder,
    strings: PhantomData<&'s str>,
}

impl<'e, 's> TraceEncoder<'e, 's> {
    /// Adds an origin (a resource and its instrumentation scope) with its resource and scope
    /// attributes, and returns its index for [`SpanFacts::origin`].
    pub fn push_origin<R, S>(&mut self, origin: &OriginFacts<'s>, resource: R, scope: S) -> u32
    where
        R: IntoIterator<Item = (&'s str, Value<'s>)>,
        S: IntoIterator<Item = (&'s str, Value<'s>)>,
    {
        let this = &mut *self.encoder;
        let mut record = [0u32; 8];
        record[ORIGIN_SERVICE] = this.strings.intern(origin.service.as_bytes());
        record[ORIGIN_SCOPE_NAME] = this.strings.intern(origin.scope_name.as_bytes());
        record[ORIGIN_SCOPE_VERSION] = this.strings.intern(origin.scope_version.as_bytes());
        record[ORIGIN_RESOURCE_START] = this.origin_attributes.len();
        for (key, value) in resource {
            this.origin_attributes.push(&mut this.strings, key, value);
        }
        record[ORIGIN_RESOURCE_END] = this.origin_attributes.len();
        record[ORIGIN_SCOPE_START] = this.origin_attributes.len();
        for (key, value) in scope {
            this.origin_attributes.push(&mut this.strings, key, value);
        }
        record[ORIGIN_SCOPE_END] = this.origin_attributes.len();
        this.origins.push(record);
        this.origins.len() as u32 - 1
    }

    /// Adds the next span, with its attributes.
    pub fn push_span<A>(&mut self, span: &SpanFacts<'s>, attributes: A)
    where
        A: IntoIterator<Item = (&'s str, Value<'s>)>,
    {
        let this = &mut *self.encoder;
        let name = this.strings.intern(span.name.as_bytes());
        let trace_state = this.strings.intern(span.trace_state.as_bytes());
        let spans = &mut this.spans;
        spans.ids.push(span.span_id);
        spans.parent_ids.push(span.parent_span_id);
        spans.starts.push(span.start_unix_nano.to_le_bytes());
        spans.ends.push(span.end_unix_nano.to_le_bytes());
        spans.names.push(name.to_le_bytes());
        spans.kinds.push([span.kind]);
        spans.statuses.push([span.status]);
        spans.flags.push(span.flags.to_le_bytes());
        spans.origins.push(span.origin.to_le_bytes());
        spans.trace_states.push(trace_state.to_le_bytes());
        for (key, value) in attributes {
            this.span_attributes.push(&mut this.strings, key, value);
        }
        spans
            .attribute_offsets
            .push(this.span_attributes.len().to_le_bytes());
    }

    /// Includes the critical path: span indices, root first.
    pub fn set_critical_path(&mut self, spans: &[u32]) {
        self.encoder.critical_path.clear();
        self.encoder.critical_path.extend_from_slice(spans);
        self.encoder.has_critical_path = true;
    }

    /// Includes each span's parent index (`None` when the parent is not in the trace), one per
    /// span in span order: [`TraceEncoder::finish`] pads or cuts the list to the span count.
    pub fn set_parents<P>(&mut self, parents: P)
    where
        P: IntoIterator<Item = Option<u32>>,
    {
        self.encoder.parents.clear();
        self.encoder
            .parents
            .extend(parents.into_iter().map(|p| p.unwrap_or(NONE)));
        self.encoder.has_parents = true;
    }

    /// Writes the trace's buffer and returns it. It stays valid (and the encoder's memory
    /// stays allocated) until the next [`Encoder::begin`].
    pub fn finish(self) -> Result<&'e [u8], EncodeError> {
        let this = self.encoder;
        if this.has_parents {
            this.parents.resize(this.spans.count(), NONE);
        }
        let Encoder {
            facts,
            root_service,
            root_name,
            strings,
            spans,
            span_attributes,
            origin_attributes,
            origins,
            critical_path,
            has_critical_path,
            parents,
            has_parents,
            out,
        } = this;
        let offsets = strings.offsets();
        let attributes = [&*span_attributes, &*origin_attributes];
        // Each section's elements and bytes, in directory order.
        let sizes: [(usize, usize); SECTION_COUNT] = [
            (offsets.len(), offsets.len() * 4),
            (strings.bytes().len(), strings.bytes().len()),
            spans.ids.size(),
            spans.parent_ids.size(),
            spans.starts.size(),
            spans.ends.size(),
            spans.names.size(),
            spans.kinds.size(),
            spans.statuses.size(),
            spans.flags.size(),
            spans.origins.size(),
            spans.trace_states.size(),
            spans.attribute_offsets.size(),
            Column::size_of(attributes.map(|a| &a.keys)),
            Column::size_of(attributes.map(|a| &a.tags)),
            Column::size_of(attributes.map(|a| &a.values)),
            (origins.len(), origins.len() * ORIGIN_RECORD),
            (critical_path.len(), critical_path.len() * 4),
            (parents.len(), parents.len() * 4),
        ];
        debug_assert!(
            sizes
                .iter()
                .zip(Section::ALL)
                .all(|(&(count, bytes), section)| bytes == count * section.width()),
            "a section's size disagrees with its width in the layout"
        );
        // Where each goes: one after the other, each aligned. The buffer is sized once, and
        // each section written in its place (in straight-line code: a loop over the sections
        // cost a one-span trace a fifth more instructions).
        let mut directory = [(0usize, 0usize); SECTION_COUNT];
        let mut end = HEADER_LEN;
        for (place, &(count, bytes)) in directory.iter_mut().zip(&sizes) {
            let at = align_up(end);
            *place = (at, count);
            end = at + bytes;
        }
        if u32::try_from(end).is_err() {
            return Err(EncodeError::TooLarge { bytes: end });
        }
        out.clear();
        out.resize(end, 0);
        let at = |section: Section| directory[section as usize].0;
        fill(out, at(Section::StringOffsets), offsets, u32::to_le_bytes);
        copy(out, at(Section::StringBytes), &[strings.bytes()]);
        copy(out, at(Section::SpanId), &[spans.ids.bytes()]);
        copy(out, at(Section::ParentSpanId), &[spans.parent_ids.bytes()]);
        copy(out, at(Section::SpanStart), &[spans.starts.bytes()]);
        copy(out, at(Section::SpanEnd), &[spans.ends.bytes()]);
        copy(out, at(Section::SpanName), &[spans.names.bytes()]);
        copy(out, at(Section::SpanKind), &[spans.kinds.bytes()]);
        copy(out, at(Section::SpanStatus), &[spans.statuses.bytes()]);
        copy(out, at(Section::SpanFlags), &[spans.flags.bytes()]);
        copy(out, at(Section::SpanOrigin), &[spans.origins.bytes()]);
        copy(
            out,
            at(Section::SpanTraceState),
            &[spans.trace_states.bytes()],
        );
        copy(
            out,
            at(Section::SpanAttributes),
            &[spans.attribute_offsets.bytes()],
        );
        copy(
            out,
            at(Section::AttributeKey),
            &attributes.map(|a| a.keys.bytes()),
        );
        copy(
            out,
            at(Section::AttributeTag),
            &attributes.map(|a| a.tags.bytes()),
        );
        copy(
            out,
            at(Section::AttributeValue),
            &attributes.map(|a| a.values.bytes()),
        );
        // The origins' attribute ranges, relative to their own attributes until now, shifted
        // past the spans' attributes, which come first in the attribute columns.
        let shift = span_attributes.len();
        fill(out, at(Section::Origins), origins, |mut record| {
            for field in [
                ORIGIN_RESOURCE_START,
                ORIGIN_RESOURCE_END,
                ORIGIN_SCOPE_START,
                ORIGIN_SCOPE_END,
            ] {
                record[field] = record[field].wrapping_add(shift);
            }
            let mut bytes = [0u8; ORIGIN_RECORD];
            for (chunk, field) in bytes.chunks_exact_mut(4).zip(record) {
                chunk.copy_from_slice(&field.to_le_bytes());
            }
            bytes
        });
        fill(
            out,
            at(Section::CriticalPath),
            critical_path,
            u32::to_le_bytes,
        );
        fill(out, at(Section::ParentIndex), parents, u32::to_le_bytes);

        let header = &mut out[..HEADER_LEN];
        header[AT_MAGIC..AT_MAGIC + 4].copy_from_slice(&MAGIC);
        put(header, AT_VERSION, &VERSION.to_le_bytes());
        put(header, AT_HEADER_LEN, &(HEADER_LEN as u16).to_le_bytes());
        put(
            header,
            AT_SECTION_COUNT,
            &(SECTION_COUNT as u32).to_le_bytes(),
        );
        put(header, AT_TRACE_ID, &facts.trace_id);
        put(header, AT_START, &facts.start_unix_nano.to_le_bytes());
        put(header, AT_END, &facts.end_unix_nano.to_le_bytes());
        put(header, AT_DURATION, &facts.duration_nanos.to_le_bytes());
        put(header, AT_NOW, &facts.now_nanos.to_le_bytes());
        put(header, AT_RANDOMNESS, &facts.randomness.to_le_bytes());
        put(header, AT_BYTES, &facts.estimated_bytes.to_le_bytes());
        put(header, AT_ERROR_COUNT, &facts.error_count.to_le_bytes());
        put(header, AT_ROOT, &facts.root.unwrap_or(NONE).to_le_bytes());
        let flags = facts.flags;
        let flag_bits = [
            (flags.incomplete, FLAG_INCOMPLETE),
            (flags.early, FLAG_EARLY),
            (flags.timed_out, FLAG_TIMED_OUT),
            (flags.shutdown, FLAG_SHUTDOWN),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |bits, (_, bit)| bits | bit);
        put(header, AT_TRACE_FLAGS, &flag_bits.to_le_bytes());
        let mut contents = 0;
        if let Some(b) = facts.baseline {
            contents |= HAS_BASELINE;
            put(header, AT_P50, &b.p50_nanos.to_le_bytes());
            put(header, AT_P95, &b.p95_nanos.to_le_bytes());
            put(header, AT_P99, &b.p99_nanos.to_le_bytes());
            put(header, AT_SAMPLES, &b.samples.to_le_bytes());
        }
        if *has_critical_path {
            contents |= HAS_CRITICAL_PATH;
        }
        if *has_parents {
            contents |= HAS_PARENTS;
        }
        put(header, AT_CONTENTS, &contents.to_le_bytes());
        put(header, AT_ROOT_SERVICE, &root_service.to_le_bytes());
        put(header, AT_ROOT_NAME, &root_name.to_le_bytes());
        for (i, (offset, count)) in directory.iter().enumerate() {
            // Both fit: the whole buffer is under 4 GiB (checked above).
            put(header, DIRECTORY + i * 8, &(*offset as u32).to_le_bytes());
            put(
                header,
                DIRECTORY + i * 8 + 4,
                &(*count as u32).to_le_bytes(),
            );
        }
        Ok(out)
    }
}

fn put(header: &mut [u8], at: usize, bytes: &[u8]) {
    header[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Copies `parts`, one after the other, into `out` from `at`.
fn copy(out: &mut [u8], at: usize, parts: &[&[u8]]) {
    let mut at = at;
    for part in parts {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
}

/// Writes `items` into `out` from `at`, each as `bytes` gives it.
fn fill<T: Copy, const N: usize>(
    out: &mut [u8],
    at: usize,
    items: &[T],
    bytes: impl Fn(T) -> [u8; N],
) {
    for (&item, chunk) in items.iter().zip(out[at..].chunks_exact_mut(N)) {
        chunk.copy_from_slice(&bytes(item));
    }
}
