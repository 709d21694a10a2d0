//! OTLP/JSON: trace requests as the OTLP specification encodes them in JSON.
//!
//! OTLP/JSON is protobuf's standard JSON mapping with three amendments
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>): trace and span ids
//! are hex strings (case-insensitive), enums are integers, and unknown fields are ignored. It
//! is what the Collector's file exporter and the SDKs' JSON exporters write, one request per
//! line.
//!
//! This module writes and reads it with its own serde code rather than `opentelemetry-proto`'s
//! `with-serde` feature, which (in 0.33) is not exactly OTLP/JSON: it writes every field even
//! at its default, fails on `null` fields, reads 32-bit integers and enums only as numbers
//! (not as strings), and lets serde_json write NaN and the infinities as `null`.
//!
//! Writing:
//! - keys are lowerCamelCase; fields at their default value are left out, but a present
//!   message field is written even when empty (`"status": {}`), so the JSON says exactly what
//!   the protobuf says;
//! - 64-bit integers (`startTimeUnixNano`, `intValue`, ...) are decimal strings; 32-bit ones
//!   and enums are numbers;
//! - ids are lower-case hex; `bytesValue` is standard base64 with padding; NaN and the
//!   infinities are `"NaN"`, `"Infinity"`, `"-Infinity"`.
//!
//! Spans need no request between them and the text: [`spans_from_slice`] reads a document
//! straight into engine spans, the spans [`from_slice`] and
//! [`spans_from_request`](crate::spans_from_request) give, in about half the time, and
//! [`spans_to_string`] writes spans as the text [`to_string`] writes for
//! [`request_from_spans`](crate::request_from_spans).
//!
//! Reading accepts everything the protobuf JSON mapping allows a parser to accept for these
//! fields: integers as numbers or strings, doubles as numbers or strings, base64 in either
//! alphabet with or without padding, hex ids in either case, `null` for any field. Enum name
//! strings (`"SPAN_KIND_SERVER"`) are not OTLP/JSON, but are read too, since their meaning is
//! unambiguous. Keys in their original snake_case spelling are not OTLP/JSON and are ignored
//! as unknown fields.
//!
//! ```
//! let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
//!     "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
//!     "name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000"}]}]}]}"#;
//! let request = tailsift_otlp::json::from_str(line)?;
//! let span = &request.resource_spans[0].scope_spans[0].spans[0];
//! assert_eq!(span.kind, 2);
//! assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
//! assert!(tailsift_otlp::json::to_string(&request).contains(r#""traceId":"5b8efff7"#));
//! # Ok::<(), serde_json::Error>(())
//! ```

mod de;
mod scalars;
mod ser;
mod ser_spans;
mod walk;

use std::io;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift::{Interner, Span};

use crate::convert::{append_spans, ConvertError};

pub(crate) use de::Request as JsonRequest;

/// An OTLP/JSON document that does not become engine spans.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not an OTLP/JSON `ExportTraceServiceRequest` (its line and column are the
    /// parser's).
    #[error("invalid OTLP/JSON: {0}")]
    Parse(#[from] serde_json::Error),
    /// The request parses but an id has the wrong length.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// The spans of one OTLP/JSON `ExportTraceServiceRequest` document: the same as [`from_slice`]
/// and then [`spans_from_request`](crate::spans_from_request), without the prost messages
/// between, in about half the time. Fields may come in any order. What the walk over the text
/// does not take goes to [`from_slice`] and `spans_from_request`, so the spans and the errors
/// are theirs: malformed text, a field given twice, a field name written with escapes, an id of
/// the wrong length, a resource or scope without spans, the profiles-only fields, values nested
/// 16 levels deep or more.
///
/// For a collector that receives OTLP/HTTP with a JSON body, or reads a capture. Pass every
/// request the same `interner`, kept for the life of the pipeline: the strings it interns are
/// never freed (see [`Interner`]).
///
/// ```
/// use tailsift_otlp::{json, Interner};
///
/// let interner = Interner::default(); // one for the pipeline
/// let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
///     "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
///     "name":"GET /cart","kind":2}]}]}]}"#;
/// let spans = json::spans_from_slice(body, &interner)?;
/// assert_eq!(spans[0].name, "GET /cart");
/// assert_eq!(spans, tailsift_otlp::spans_from_request(&json::from_slice(body)?, &interner)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spans_from_slice(json: &[u8], interner: &Interner) -> Result<Vec<Span>, JsonError> {
    let mut out = Vec::new();
    append_spans_from_slice(json, interner, &mut out)?;
    Ok(out)
}

/// [`spans_from_slice`], appending to `out` (for a caller that reuses one buffer).
///
/// All or nothing: on error, `out` is left as it was.
pub fn append_spans_from_slice(
    json: &[u8],
    interner: &Interner,
    out: &mut Vec<Span>,
) -> Result<(), JsonError> {
    if walked(json, interner, out) {
        return Ok(());
    }
    let request = from_slice(json)?;
    append_spans(&request.resource_spans, interner, out)?;
    Ok(())
}

/// Appends the spans of `json` to `out` if the walk takes it; else leaves `out` as it was, for
/// the caller to read `json` through the mirror types.
pub(crate) fn walked(json: &[u8], interner: &Interner, out: &mut Vec<Span>) -> bool {
    let before = out.len();
    if walk::walk(json, interner, out).is_ok() {
        return true;
    }
    out.truncate(before);
    false
}

/// Parses one OTLP/JSON `ExportTraceServiceRequest` document.
pub fn from_slice(json: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    serde_json::from_slice::<JsonRequest>(json).map(Into::into)
}

/// Parses one OTLP/JSON `ExportTraceServiceRequest` document.
pub fn from_str(json: &str) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    from_slice(json.as_bytes())
}

/// Writes `spans` as one line of OTLP/JSON (no newline at the end): the text [`to_string`]
/// writes for [`request_from_spans`](crate::request_from_spans), without building the request.
///
/// ```
/// use tailsift_otlp::{json, request_from_spans};
///
/// let spans = [tailsift::Span { name: "GET /cart".into(), ..tailsift::Span::default() }];
/// assert_eq!(json::spans_to_string(&spans), json::to_string(&request_from_spans(&spans)));
/// ```
pub fn spans_to_string(spans: &[Span]) -> String {
    // As in `to_string`: serde_json fails only on what these impls never do.
    serde_json::to_string(&ser_spans::Request(spans))
        .expect("OTLP/JSON serialization into memory does not fail")
}

/// Writes `spans` to `writer` as one line of OTLP/JSON (no newline at the end), as
/// [`spans_to_string`] does.
pub fn spans_to_writer<W: io::Write>(writer: W, spans: &[Span]) -> Result<(), serde_json::Error> {
    serde_json::to_writer(writer, &ser_spans::Request(spans))
}

/// Writes `request` as one line of OTLP/JSON (no newline at the end).
pub fn to_string(request: &ExportTraceServiceRequest) -> String {
    // serde_json fails only on non-string map keys or a failing Serialize impl; every key here
    // is a string and no impl fails.
    serde_json::to_string(&ser::Json(request))
        .expect("OTLP/JSON serialization into memory does not fail")
}

/// Writes `request` to `writer` as one line of OTLP/JSON (no newline at the end).
pub fn to_writer<W: io::Write>(
    writer: W,
    request: &ExportTraceServiceRequest,
) -> Result<(), serde_json::Error> {
    serde_json::to_writer(writer, &ser::Json(request))
}
