//! # tailsift-abi
//!
//! The trace-view wire format that tailsift's WASM policy host and its guest SDK share: the
//! host encodes each decided trace's `TraceView` once into this buffer, writes it into guest
//! memory, and a guest policy reads it in place.
//!
//! - [`TraceBuf::parse`] (always available, no allocation) checks a buffer once — magic,
//!   version, every section's bounds and alignment, the columns' counts, the offsets, the string
//!   bytes' UTF-8 as a whole — and then reads it without copying. No accessor panics on any
//!   input: what `parse` cannot check cheaply (string indices, a string cut inside a character,
//!   value tags, span indices) reads as `None`.
//! - [`Encoder`] (feature `alloc`, on by default) builds buffers, reusing its memory from one
//!   trace to the next. The engine's own encoder, from a `TraceView`, is `tailsift::abi`.
//!
//! ## Why this shape
//!
//! *Columnar* (one array per span field): a policy that reads one field of every span (status
//! codes, durations) touches one small contiguous array, and the host writes each column with
//! one loop. *A string table*: span names, attribute keys and service names repeat across the
//! spans of a trace, so each distinct string is written once and referred to by a `u32`.
//! *Versioned, with a section directory*: a guest built against another layout is refused with
//! [`DecodeError::UnsupportedVersion`] instead of misreading the bytes.
//!
//! ## Layout (version 1)
//!
//! All integers are little-endian. The header is fixed; every section starts at a multiple of
//! 8 bytes after it, at the offset the directory gives, and holds `count` elements of a fixed
//! width.
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `"TSTV"` |
//! | 4..6 | format version, `u16` (1) |
//! | 6..8 | header length in bytes, `u16` (288) |
//! | 8..12 | section count, `u32` (19) |
//! | 12..16 | reserved, zero |
//! | 16..32 | trace id, 16 bytes |
//! | 32, 40, 48 | start, end (unix ns) and duration (ns), `u64` each |
//! | 56, 64, 72 | engine time at decision (ns), randomness (56 bits), estimated bytes, `u64` each |
//! | 80, 84 | error count, root span index (`u32::MAX`: none), `u32` each |
//! | 88 | trace flags, `u32`: bit 0 incomplete, 1 early, 2 timed out, 3 shutdown |
//! | 92 | contents, `u32`: bit 0 baseline present, 1 critical path included, 2 parent index included |
//! | 96..128 | baseline p50, p95, p99 (ns) and samples, `u64` each (zero without a baseline) |
//! | 128, 132 | root service and root name, `u32` string indices |
//! | 136..288 | section directory: per section, byte offset `u32` then element count `u32` |
//!
//! | # | section | element | count |
//! |---|---|---|---|
//! | 0 | string offsets | `u32` | strings + 1 (string `i` is bytes `off[i]..off[i+1]`) |
//! | 1 | string bytes | `u8` | total string bytes |
//! | 2, 3 | span id, parent span id | 8 bytes | spans |
//! | 4, 5 | span start, end (unix ns) | `u64` | spans |
//! | 6 | span name | `u32` string index | spans |
//! | 7, 8 | span kind, status code (OTLP wire values) | `u8` | spans |
//! | 9 | span flags | `u32` | spans |
//! | 10 | span origin | `u32` origin index | spans |
//! | 11 | span trace state | `u32` string index | spans |
//! | 12 | span attribute offsets | `u32` | spans + 1 (span `i` has attributes `off[i]..off[i+1]`) |
//! | 13 | attribute key | `u32` string index | attributes |
//! | 14 | attribute value tag | `u8` (see [`Value`]) | attributes |
//! | 15 | attribute value payload | `u64` | attributes |
//! | 16 | origins | 8 × `u32`: service, scope name, scope version, resource attributes start, end, scope attributes start, end, zero | origins |
//! | 17 | critical path | `u32` span index | path length (0 unless included) |
//! | 18 | parent index | `u32` span index (`u32::MAX`: none) | spans if included, else 0 |
//!
//! String 0 is always `""`. Spans come in the view's order (by start time). The attribute
//! columns hold the spans' attributes first, then the origins' (resource, then scope); values
//! are a tag and a payload (see [`Value`]; bytes values sit in the string table, arrays and
//! key-value lists keep only their length). Not in version 1: events, links, status messages,
//! dropped counts, resource and scope schema URLs.
//!
//! A change to any of this is a new version: a decoder reads exactly the versions it knows.
#![no_std]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod decode;
#[cfg(feature = "alloc")]
mod encode;
mod error;
mod layout;
mod value;

pub use decode::{Attribute, Attributes, Indices, OriginRef, SpanRef, TraceBuf};
#[cfg(feature = "alloc")]
pub use encode::{EncodeError, Encoder, OriginFacts, SpanFacts, TraceEncoder, TraceFacts};
pub use error::DecodeError;
pub use layout::{Section, ALIGN, HEADER_LEN, MAGIC, NONE, SECTION_COUNT, VERSION};
pub use value::Value;

/// How a trace came to be decided (the engine's `TraceFlags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceFlags {
    /// Decided without a root span.
    pub incomplete: bool,
    /// Decided before it was ready, because the host's buffer was over its bounds.
    pub early: bool,
    /// Decided at `decision_wait` rather than at completion.
    pub timed_out: bool,
    /// Decided at shutdown.
    pub shutdown: bool,
}

/// Quantiles of the trace durations of the trace's group, from the host's latency baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Median trace duration, nanoseconds.
    pub p50_nanos: u64,
    /// 95th percentile, nanoseconds.
    pub p95_nanos: u64,
    /// 99th percentile, nanoseconds.
    pub p99_nanos: u64,
    /// How many traces the baseline has seen (after decay).
    pub samples: u64,
}
