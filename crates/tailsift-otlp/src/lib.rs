//! # tailsift-otlp
//!
//! The bridge between OTLP, the protocol trace collectors speak, and the tailsift engine's own
//! [`Span`](tailsift::Span).
//!
//! The engine does not depend on protobuf: a collector that already holds spans in its own
//! form (Vector, rotel) converts them itself, and the engine stays free of prost and of the
//! generated OTLP types. This crate is for everyone else: the bundled binary, tests, benches
//! and tools that read or write trace captures.
//!
//! - [`convert`]: `ExportTraceServiceRequest` (the `opentelemetry-proto` prost types,
//!   re-exported as [`opentelemetry_proto`]) to engine spans and back, losslessly. Spans of
//!   one scope share one `Arc<Origin>` (resource and scope), the scopes of one resource one
//!   `Arc<Resource>`; converting back groups them again.
//! - [`wire`]: an encoded request straight to engine spans ([`spans_from_protobuf`]) and
//!   spans straight to an encoded request ([`encode_spans`]): what prost and [`convert`] give,
//!   without prost's messages between.
//! - [`json`]: OTLP/JSON exactly as the OTLP specification defines it, read straight into
//!   spans ([`json::spans_from_slice`]) and written straight from them
//!   ([`json::spans_to_string`]), as `wire` does protobuf.
//! - [`RequestReader`] / [`SpanReader`]: stream a file of requests, OTLP/JSON (a document or
//!   JSON lines) or length-prefixed protobuf, the format told by the file's extension
//!   ([`Format::from_path`]); errors name the file and the line or message.
//!   [`RequestReader::next_raw`] hands requests over undecoded ([`RawRequest`]), to be decoded
//!   on other threads.
//! - [`SpanWriter`]: write spans or requests as JSON lines or length-prefixed protobuf.
//!
//! ```
//! use tailsift_otlp::{request_from_spans, spans_from_request, Interner};
//!
//! let line = r#"{"resourceSpans":[{"resource":{"attributes":[
//!     {"key":"service.name","value":{"stringValue":"checkout"}}]},
//!     "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
//!     "spanId":"eee19b7ec3c1b174","name":"GET /cart","kind":2}]}]}]}"#;
//! let request = tailsift_otlp::json::from_str(line)?;
//! let interner = Interner::default();
//! let spans = spans_from_request(&request, &interner)?;
//! assert_eq!(spans[0].service_name(), "checkout");
//! assert_eq!(request_from_spans(&spans), request_from_spans(&spans_from_request(
//!     &request_from_spans(&spans), &interner)?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod convert;
pub mod json;
mod read;
mod strings;
pub mod wire;
mod write;

/// The generators of the integration tests, for the walks' unit tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

pub use convert::{
    append_spans, request_from_spans, resource_spans_from_spans, spans_from_request, ConvertError,
    IdRule,
};
pub use read::{
    Format, Location, RawRequest, ReadError, RequestReader, SpanReader, MAX_MESSAGE_BYTES,
};
pub use tailsift::Interner;
pub use wire::{
    append_spans_from_protobuf, encode_spans, encode_spans_length_delimited, spans_from_protobuf,
    ProtobufError,
};
pub use write::{SpanWriter, WriteError};

/// The OTLP types this crate converts, at the version it was built with.
pub use opentelemetry_proto;
/// The protobuf runtime of [`opentelemetry_proto`]'s types (for `Message::encode` and friends).
pub use prost;
