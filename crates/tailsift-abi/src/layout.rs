//! Where everything sits in a version 1 buffer: the header's fields, the sections and the
//! width of their elements. The encoder and the decoder both read these constants, so they
//! cannot disagree about the layout.

/// The first four bytes of every buffer: "TSTV", tailsift trace view.
pub const MAGIC: [u8; 4] = *b"TSTV";

/// The format version this crate writes and the only one it reads.
pub const VERSION: u16 = 1;

/// The header's length in bytes in version 1 (trace facts, then the section directory).
pub const HEADER_LEN: usize = DIRECTORY + SECTION_COUNT * 8;

/// Every section starts at a multiple of this, counted from the start of the buffer.
pub const ALIGN: usize = 8;

/// Marks "none" in a `u32` index field (root index, parent index).
pub const NONE: u32 = u32::MAX;

// Header fields: byte offsets from the start of the buffer, all little-endian.
pub(crate) const AT_MAGIC: usize = 0;
pub(crate) const AT_VERSION: usize = 4;
pub(crate) const AT_HEADER_LEN: usize = 6;
pub(crate) const AT_SECTION_COUNT: usize = 8;
// 12..16 reserved (zero).
pub(crate) const AT_TRACE_ID: usize = 16;
pub(crate) const AT_START: usize = 32;
pub(crate) const AT_END: usize = 40;
pub(crate) const AT_DURATION: usize = 48;
pub(crate) const AT_NOW: usize = 56;
pub(crate) const AT_RANDOMNESS: usize = 64;
pub(crate) const AT_BYTES: usize = 72;
pub(crate) const AT_ERROR_COUNT: usize = 80;
pub(crate) const AT_ROOT: usize = 84;
pub(crate) const AT_TRACE_FLAGS: usize = 88;
pub(crate) const AT_CONTENTS: usize = 92;
pub(crate) const AT_P50: usize = 96;
pub(crate) const AT_P95: usize = 104;
pub(crate) const AT_P99: usize = 112;
pub(crate) const AT_SAMPLES: usize = 120;
pub(crate) const AT_ROOT_SERVICE: usize = 128;
pub(crate) const AT_ROOT_NAME: usize = 132;
/// The section directory: for each section, its byte offset (u32) then its element count (u32).
pub(crate) const DIRECTORY: usize = 136;

// Bits of the trace flags field.
pub(crate) const FLAG_INCOMPLETE: u32 = 1;
pub(crate) const FLAG_EARLY: u32 = 1 << 1;
pub(crate) const FLAG_TIMED_OUT: u32 = 1 << 2;
pub(crate) const FLAG_SHUTDOWN: u32 = 1 << 3;

// Bits of the contents field: what optional parts the buffer holds.
pub(crate) const HAS_BASELINE: u32 = 1;
pub(crate) const HAS_CRITICAL_PATH: u32 = 1 << 1;
pub(crate) const HAS_PARENTS: u32 = 1 << 2;

/// One section of the buffer. The discriminant is the section's place in the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Where each string starts in [`Section::StringBytes`]: one `u32` per string, plus one for
    /// the end of the last.
    StringOffsets = 0,
    /// The strings' bytes, one after another (`u8`).
    StringBytes,
    /// Each span's id (8 bytes, as on the wire).
    SpanId,
    /// Each span's parent id (8 bytes; all zero for none).
    ParentSpanId,
    /// Each span's start, unix nanoseconds (`u64`).
    SpanStart,
    /// Each span's end, unix nanoseconds (`u64`).
    SpanEnd,
    /// Each span's name (`u32` string index).
    SpanName,
    /// Each span's kind (`u8`, the OTLP wire value).
    SpanKind,
    /// Each span's status code (`u8`, the OTLP wire value).
    SpanStatus,
    /// Each span's W3C trace flags and OTLP span flags (`u32`).
    SpanFlags,
    /// Each span's origin (`u32` index into [`Section::Origins`]).
    SpanOrigin,
    /// Each span's W3C tracestate (`u32` string index; string 0, `""`, when unset).
    SpanTraceState,
    /// Where each span's attributes start in the attribute columns: one `u32` per span, plus one
    /// for the end of the last span's.
    SpanAttributes,
    /// Each attribute's key (`u32` string index).
    AttributeKey,
    /// Each attribute's value tag (`u8`, see [`crate::Value`]).
    AttributeTag,
    /// Each attribute's value payload (`u64`).
    AttributeValue,
    /// Each distinct origin: a record of eight `u32`s (service name, scope name, scope version,
    /// resource attributes start and end, scope attributes start and end, zero).
    Origins,
    /// The critical path's spans (`u32` span indices), when the buffer holds it.
    CriticalPath,
    /// Each span's parent (`u32` span index, [`NONE`] when its parent is not in the trace),
    /// when the buffer holds them; else empty.
    ParentIndex,
}

/// How many sections a version 1 buffer has.
pub const SECTION_COUNT: usize = 19;

impl Section {
    /// Every section, in directory order.
    pub const ALL: [Section; SECTION_COUNT] = [
        Section::StringOffsets,
        Section::StringBytes,
        Section::SpanId,
        Section::ParentSpanId,
        Section::SpanStart,
        Section::SpanEnd,
        Section::SpanName,
        Section::SpanKind,
        Section::SpanStatus,
        Section::SpanFlags,
        Section::SpanOrigin,
        Section::SpanTraceState,
        Section::SpanAttributes,
        Section::AttributeKey,
        Section::AttributeTag,
        Section::AttributeValue,
        Section::Origins,
        Section::CriticalPath,
        Section::ParentIndex,
    ];

    /// The span columns after [`Section::SpanId`]: each holds one element per span, as many as
    /// it does.
    pub const SPAN_COLUMNS: [Section; 9] = [
        Section::ParentSpanId,
        Section::SpanStart,
        Section::SpanEnd,
        Section::SpanName,
        Section::SpanKind,
        Section::SpanStatus,
        Section::SpanFlags,
        Section::SpanOrigin,
        Section::SpanTraceState,
    ];

    /// The size in bytes of one element.
    pub const fn width(self) -> usize {
        match self {
            Section::StringBytes
            | Section::SpanKind
            | Section::SpanStatus
            | Section::AttributeTag => 1,
            Section::StringOffsets
            | Section::SpanName
            | Section::SpanFlags
            | Section::SpanOrigin
            | Section::SpanTraceState
            | Section::SpanAttributes
            | Section::AttributeKey
            | Section::CriticalPath
            | Section::ParentIndex => 4,
            Section::SpanId
            | Section::ParentSpanId
            | Section::SpanStart
            | Section::SpanEnd
            | Section::AttributeValue => 8,
            Section::Origins => ORIGIN_RECORD,
        }
    }

    /// The section's name, for error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Section::StringOffsets => "string offsets",
            Section::StringBytes => "string bytes",
            Section::SpanId => "span ids",
            Section::ParentSpanId => "parent span ids",
            Section::SpanStart => "span starts",
            Section::SpanEnd => "span ends",
            Section::SpanName => "span names",
            Section::SpanKind => "span kinds",
            Section::SpanStatus => "span status codes",
            Section::SpanFlags => "span flags",
            Section::SpanOrigin => "span origins",
            Section::SpanTraceState => "span trace states",
            Section::SpanAttributes => "span attribute offsets",
            Section::AttributeKey => "attribute keys",
            Section::AttributeTag => "attribute tags",
            Section::AttributeValue => "attribute values",
            Section::Origins => "origins",
            Section::CriticalPath => "critical path",
            Section::ParentIndex => "parent index",
        }
    }
}

/// The size of one origin record: eight `u32`s.
pub(crate) const ORIGIN_RECORD: usize = 32;

// Fields of an origin record, as `u32` positions.
pub(crate) const ORIGIN_SERVICE: usize = 0;
pub(crate) const ORIGIN_SCOPE_NAME: usize = 1;
pub(crate) const ORIGIN_SCOPE_VERSION: usize = 2;
pub(crate) const ORIGIN_RESOURCE_START: usize = 3;
pub(crate) const ORIGIN_RESOURCE_END: usize = 4;
pub(crate) const ORIGIN_SCOPE_START: usize = 5;
pub(crate) const ORIGIN_SCOPE_END: usize = 6;

/// Rounds `n` up to a multiple of [`ALIGN`].
#[cfg(feature = "alloc")]
pub(crate) const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_follows_the_facts_and_sections_are_listed_in_order() {
        assert_eq!(DIRECTORY, AT_ROOT_NAME + 4);
        assert_eq!(HEADER_LEN % ALIGN, 0);
        for (i, s) in Section::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
