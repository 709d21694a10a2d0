//! The zero-copy decoder: [`TraceBuf::parse`] checks a buffer once, then every accessor reads
//! the bytes in place.
//!
//! What `parse` checks: the magic, the version, the header's length and section count; that
//! every section starts on an 8-byte boundary after the header and ends inside the buffer; that
//! the span columns all have one element per span (the attribute offsets one more); that the
//! string offsets, the spans' attribute offsets and the origins' attribute ranges are in order
//! and inside the data they index; and whether the string bytes, as a whole, are UTF-8. What it
//! leaves to the accessors: string indices (a bad one reads as `None`), each string's UTF-8
//! (when the whole is valid, a string is valid if it starts and ends on character boundaries,
//! two compares; else each string read is checked on its own, so one bad string reads as `None`
//! and the others still read), value tags (an unknown one reads as `None`), and span indices in
//! the root, the parent index and the critical path (a bad one reads as `None` through
//! [`TraceBuf::span`]). No accessor panics, whatever the bytes.
//!
//! Why the string bytes are checked whole, once: a policy that walks its spans reads a string
//! for every name, key and string value, and checking each on its own was over half of such a
//! walk; the string table holds each distinct string once, so one pass over it is short.

use core::fmt;

mod refs;

pub use refs::{Attribute, Attributes, Indices, OriginRef, SpanRef};

use crate::layout::{
    Section, ALIGN, AT_BYTES, AT_CONTENTS, AT_DURATION, AT_END, AT_ERROR_COUNT, AT_HEADER_LEN,
    AT_MAGIC, AT_NOW, AT_P50, AT_P95, AT_P99, AT_RANDOMNESS, AT_ROOT, AT_ROOT_NAME,
    AT_ROOT_SERVICE, AT_SAMPLES, AT_SECTION_COUNT, AT_START, AT_TRACE_FLAGS, AT_TRACE_ID,
    AT_VERSION, DIRECTORY, FLAG_EARLY, FLAG_INCOMPLETE, FLAG_SHUTDOWN, FLAG_TIMED_OUT,
    HAS_BASELINE, HAS_CRITICAL_PATH, HAS_PARENTS, HEADER_LEN, MAGIC, NONE, ORIGIN_RECORD,
    ORIGIN_RESOURCE_END, ORIGIN_RESOURCE_START, ORIGIN_SCOPE_END, ORIGIN_SCOPE_START,
    SECTION_COUNT, VERSION,
};
use crate::value::{tag, Value};
use crate::{Baseline, DecodeError, TraceFlags};

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array_at(bytes, at).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    array_at(bytes, at).map(u64::from_le_bytes)
}

/// A parsed trace buffer: the header checked and every section located, read in place.
#[derive(Clone, Copy)]
pub struct TraceBuf<'a> {
    bytes: &'a [u8],
    sections: [&'a [u8]; SECTION_COUNT],
    /// The string bytes as one `str`, if they are valid UTF-8 as a whole (as the encoder
    /// writes them); `None` sends every string read through its own check.
    text: Option<&'a str>,
}

impl fmt::Debug for TraceBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceBuf")
            .field("bytes", &self.bytes.len())
            .field("spans", &self.span_count())
            .field("strings", &self.string_count())
            .field("attributes", &self.attribute_count())
            .field("origins", &self.origin_count())
            .finish()
    }
}

impl<'a> TraceBuf<'a> {
    /// Checks `bytes` as a version 1 trace buffer (see the module docs for what is checked
    /// here and what is left to the accessors). Reads the header and the offsets, copies
    /// nothing. Bytes past the last section are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<TraceBuf<'a>, DecodeError> {
        let truncated = |needed| DecodeError::Truncated {
            needed,
            len: bytes.len(),
        };
        // The magic, the version, the header length: enough to tell a version apart.
        let magic: [u8; 4] = array_at(bytes, AT_MAGIC).ok_or(truncated(HEADER_LEN))?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { found: magic });
        }
        let version = u16_at(bytes, AT_VERSION).ok_or(truncated(HEADER_LEN))?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let header_len = u16_at(bytes, AT_HEADER_LEN).ok_or(truncated(HEADER_LEN))?;
        let section_count = u32_at(bytes, AT_SECTION_COUNT).ok_or(truncated(HEADER_LEN))?;
        if usize::from(header_len) != HEADER_LEN || section_count as usize != SECTION_COUNT {
            return Err(DecodeError::BadHeader {
                header_len,
                section_count,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN));
        }
        let mut sections: [&'a [u8]; SECTION_COUNT] = [&[]; SECTION_COUNT];
        let mut counts = [0u32; SECTION_COUNT];
        for section in Section::ALL {
            let at = DIRECTORY + section as usize * 8;
            let offset = u32_at(bytes, at).ok_or(truncated(HEADER_LEN))?;
            let count = u32_at(bytes, at + 4).ok_or(truncated(HEADER_LEN))?;
            if offset as usize % ALIGN != 0 {
                return Err(DecodeError::Misaligned { section, offset });
            }
            let out_of_bounds = DecodeError::SectionOutOfBounds {
                section,
                offset,
                count,
                len: bytes.len(),
            };
            let start = offset as usize;
            let end = (count as usize)
                .checked_mul(section.width())
                .and_then(|size| start.checked_add(size))
                .ok_or(out_of_bounds)?;
            if start < HEADER_LEN {
                return Err(out_of_bounds);
            }
            sections[section as usize] = bytes.get(start..end).ok_or(out_of_bounds)?;
            counts[section as usize] = count;
        }
        let text = core::str::from_utf8(sections[Section::StringBytes as usize]).ok();
        let buf = TraceBuf {
            bytes,
            sections,
            text,
        };
        buf.check_counts(&counts)?;
        buf.check_offsets()?;
        Ok(buf)
    }

    /// Every span column has one element per span, every attribute column one per attribute,
    /// and the optional sections are empty unless the header says they are there.
    fn check_counts(&self, counts: &[u32; SECTION_COUNT]) -> Result<(), DecodeError> {
        let spans = u64::from(counts[Section::SpanId as usize]);
        let attributes = u64::from(counts[Section::AttributeKey as usize]);
        let contents = self.header_u32(AT_CONTENTS);
        let expect = |section: Section, expected: u64| {
            let found = counts[section as usize];
            if u64::from(found) == expected {
                Ok(())
            } else {
                Err(DecodeError::CountMismatch {
                    section,
                    expected,
                    found,
                })
            }
        };
        for section in Section::SPAN_COLUMNS {
            expect(section, spans)?;
        }
        expect(Section::SpanAttributes, spans + 1)?;
        expect(Section::AttributeTag, attributes)?;
        expect(Section::AttributeValue, attributes)?;
        let parents = if contents & HAS_PARENTS != 0 {
            spans
        } else {
            0
        };
        expect(Section::ParentIndex, parents)?;
        if contents & HAS_CRITICAL_PATH == 0 {
            expect(Section::CriticalPath, 0)?;
        }
        if counts[Section::StringOffsets as usize] == 0 {
            return Err(DecodeError::CountMismatch {
                section: Section::StringOffsets,
                expected: 1,
                found: 0,
            });
        }
        Ok(())
    }

    /// Offsets and ranges are in order and inside what they index, so that the accessors can
    /// slice by them without checking again.
    fn check_offsets(&self) -> Result<(), DecodeError> {
        check_monotonic(
            self.section(Section::StringOffsets),
            self.section(Section::StringBytes).len(),
            Section::StringOffsets,
        )?;
        let attributes = self.attribute_count();
        check_monotonic(
            self.section(Section::SpanAttributes),
            attributes,
            Section::SpanAttributes,
        )?;
        for index in 0..self.origin_count() {
            let field = |f| {
                self.origin_field(index, f)
                    .map_or(usize::MAX, |v| v as usize)
            };
            let ranges = [
                (field(ORIGIN_RESOURCE_START), field(ORIGIN_RESOURCE_END)),
                (field(ORIGIN_SCOPE_START), field(ORIGIN_SCOPE_END)),
            ];
            if ranges.iter().any(|&(a, b)| a > b || b > attributes) {
                return Err(DecodeError::BadOffsets {
                    section: Section::Origins,
                    index,
                });
            }
        }
        Ok(())
    }

    fn section(&self, section: Section) -> &'a [u8] {
        self.sections[section as usize]
    }

    fn header_u32(&self, at: usize) -> u32 {
        // `parse` checked that the header is all there.
        u32_at(self.bytes, at).unwrap_or(0)
    }

    fn header_u64(&self, at: usize) -> u64 {
        u64_at(self.bytes, at).unwrap_or(0)
    }

    fn u32_in(&self, section: Section, index: usize) -> Option<u32> {
        u32_at(self.section(section), index.checked_mul(4)?)
    }

    fn u64_in(&self, section: Section, index: usize) -> Option<u64> {
        u64_at(self.section(section), index.checked_mul(8)?)
    }

    fn origin_field(&self, origin: usize, field: usize) -> Option<u32> {
        let at = origin.checked_mul(ORIGIN_RECORD)?.checked_add(field * 4)?;
        u32_at(self.section(Section::Origins), at)
    }

    /// The buffer's format version.
    pub fn version(&self) -> u16 {
        u16_at(self.bytes, AT_VERSION).unwrap_or(0)
    }

    /// The trace id, as its 16 bytes on the wire.
    pub fn trace_id(&self) -> [u8; 16] {
        array_at(self.bytes, AT_TRACE_ID).unwrap_or([0; 16])
    }

    /// The earliest span start, unix nanoseconds.
    pub fn start_unix_nano(&self) -> u64 {
        self.header_u64(AT_START)
    }

    /// The latest span end, unix nanoseconds.
    pub fn end_unix_nano(&self) -> u64 {
        self.header_u64(AT_END)
    }

    /// The trace's duration in nanoseconds: earliest start to latest end.
    pub fn duration_nanos(&self) -> u64 {
        self.header_u64(AT_DURATION)
    }

    /// The engine's time at decision, nanoseconds (engine time, not unix time).
    pub fn now_nanos(&self) -> u64 {
        self.header_u64(AT_NOW)
    }

    /// The trace's 56-bit randomness (the W3C/OpenTelemetry rule).
    pub fn randomness(&self) -> u64 {
        self.header_u64(AT_RANDOMNESS)
    }

    /// The trace's estimated OTLP size in bytes, the unit of byte budgets.
    pub fn estimated_bytes(&self) -> u64 {
        self.header_u64(AT_BYTES)
    }

    /// How many spans have status ERROR.
    pub fn error_count(&self) -> u32 {
        self.header_u32(AT_ERROR_COUNT)
    }

    /// How the trace came to be decided.
    pub fn flags(&self) -> TraceFlags {
        let bits = self.header_u32(AT_TRACE_FLAGS);
        TraceFlags {
            incomplete: bits & FLAG_INCOMPLETE != 0,
            early: bits & FLAG_EARLY != 0,
            timed_out: bits & FLAG_TIMED_OUT != 0,
            shutdown: bits & FLAG_SHUTDOWN != 0,
        }
    }

    /// The latency baseline of the trace's group, when the host attached one.
    pub fn baseline(&self) -> Option<Baseline> {
        (self.header_u32(AT_CONTENTS) & HAS_BASELINE != 0).then(|| Baseline {
            p50_nanos: self.header_u64(AT_P50),
            p95_nanos: self.header_u64(AT_P95),
            p99_nanos: self.header_u64(AT_P99),
            samples: self.header_u64(AT_SAMPLES),
        })
    }

    /// The root span's index, if the trace has a root.
    pub fn root_index(&self) -> Option<usize> {
        match self.header_u32(AT_ROOT) {
            NONE => None,
            root => Some(root as usize),
        }
    }

    /// The root span, if the trace has one (and its index is in range).
    pub fn root(&self) -> Option<SpanRef<'_>> {
        self.span(self.root_index()?)
    }

    /// The root span's service name (`""` when the trace has no root); `None` only if the
    /// buffer's string index or UTF-8 is bad.
    pub fn root_service(&self) -> Option<&'a str> {
        self.string(self.header_u32(AT_ROOT_SERVICE) as usize)
    }

    /// The root span's name (`""` when the trace has no root); `None` only if the buffer's
    /// string index or UTF-8 is bad.
    pub fn root_name(&self) -> Option<&'a str> {
        self.string(self.header_u32(AT_ROOT_NAME) as usize)
    }

    /// How many strings the string table holds (string 0 is always `""`).
    pub fn string_count(&self) -> usize {
        (self.section(Section::StringOffsets).len() / 4).saturating_sub(1)
    }

    /// String `index`'s bytes, unvalidated (bytes attribute values are read this way).
    pub fn string_bytes(&self, index: usize) -> Option<&'a [u8]> {
        self.section(Section::StringBytes)
            .get(self.string_range(index)?)
    }

    /// String `index`, if it is in the table and valid UTF-8.
    pub fn string(&self, index: usize) -> Option<&'a str> {
        let range = self.string_range(index)?;
        match self.text {
            // A slice of valid UTF-8 is valid if both its ends are character boundaries,
            // which is what `get` checks.
            Some(text) => text.get(range),
            None => core::str::from_utf8(self.section(Section::StringBytes).get(range)?).ok(),
        }
    }

    /// Where string `index` lies in the string bytes (`parse` checked that the offsets are in
    /// order and in bounds, but not `index`).
    fn string_range(&self, index: usize) -> Option<core::ops::Range<usize>> {
        // Its offset and the next, read as one eight-byte word: one bounds check.
        let pair: [u8; 8] = array_at(self.section(Section::StringOffsets), index.checked_mul(4)?)?;
        let [a, b, c, d, e, f, g, h] = pair;
        Some(u32::from_le_bytes([a, b, c, d]) as usize..u32::from_le_bytes([e, f, g, h]) as usize)
    }

    /// How many spans the trace has.
    pub fn span_count(&self) -> usize {
        self.section(Section::SpanId).len() / 8
    }

    /// Span `index` (spans are in start order, as the host's view holds them).
    pub fn span(&self, index: usize) -> Option<SpanRef<'_>> {
        (index < self.span_count()).then_some(SpanRef { buf: self, index })
    }

    /// Every span, in order.
    pub fn spans(&self) -> impl ExactSizeIterator<Item = SpanRef<'_>> + '_ {
        (0..self.span_count()).map(move |index| SpanRef { buf: self, index })
    }

    /// How many attributes the buffer holds (of spans and of origins).
    pub fn attribute_count(&self) -> usize {
        self.section(Section::AttributeKey).len() / 4
    }

    /// How many distinct origins (resource and scope) the trace's spans come from.
    pub fn origin_count(&self) -> usize {
        self.section(Section::Origins).len() / ORIGIN_RECORD
    }

    /// Origin `index`.
    pub fn origin(&self, index: usize) -> Option<OriginRef<'_>> {
        (index < self.origin_count()).then_some(OriginRef { buf: self, index })
    }

    /// The critical path's spans (indices, root first, in the order the path reaches them),
    /// when the host included it; `None` when it did not.
    pub fn critical_path(&self) -> Option<Indices<'a>> {
        (self.header_u32(AT_CONTENTS) & HAS_CRITICAL_PATH != 0).then(|| Indices {
            bytes: self.section(Section::CriticalPath),
        })
    }

    /// Whether the host included each span's parent index ([`SpanRef::parent_index`]).
    pub fn has_parents(&self) -> bool {
        self.header_u32(AT_CONTENTS) & HAS_PARENTS != 0
    }

    fn attributes(&self, start: usize, end: usize) -> Attributes<'_> {
        // Ranges were checked by `parse`; clamp anyway so that no range can reach past the
        // attribute columns.
        let end = end.min(self.attribute_count());
        Attributes {
            buf: self,
            next: start.min(end),
            end,
        }
    }

    fn value(&self, index: usize) -> Option<Value<'a>> {
        let tag = *self.section(Section::AttributeTag).get(index)?;
        let payload = self.u64_in(Section::AttributeValue, index)?;
        let string_index = || usize::try_from(payload).ok();
        Some(match tag {
            tag::EMPTY => Value::Empty,
            tag::STR => Value::Str(self.string(string_index()?)?),
            tag::BOOL => Value::Bool(payload != 0),
            tag::INT => Value::Int(payload as i64),
            tag::DOUBLE => Value::Double(f64::from_bits(payload)),
            tag::BYTES => Value::Bytes(self.string_bytes(string_index()?)?),
            tag::ARRAY => Value::Array { len: payload },
            tag::KVLIST => Value::KvList { len: payload },
            _ => return None,
        })
    }
}

/// Each `u32` in `bytes` is at least the one before it and at most `limit`.
fn check_monotonic(bytes: &[u8], limit: usize, section: Section) -> Result<(), DecodeError> {
    let mut previous = 0;
    for (index, chunk) in bytes.chunks_exact(4).enumerate() {
        let offset =
            <[u8; 4]>::try_from(chunk).map_or(usize::MAX, |b| u32::from_le_bytes(b) as usize);
        if offset < previous || offset > limit {
            return Err(DecodeError::BadOffsets { section, index });
        }
        previous = offset;
    }
    Ok(())
}
