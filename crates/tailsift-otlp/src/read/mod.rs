//! Reading files of OTLP trace requests, one request at a time.
//!
//! Trace captures can be large (a Collector's file exporter appends for hours), so readers
//! stream: JSON lines are parsed line by line and protobuf messages message by message, each
//! request handed out before the next is read. The one exception is a JSON file holding a
//! single pretty-printed document spanning many lines: that document is read whole, as it must
//! be to become one request.
//!
//! Errors say where: the file and the line (and column, for JSON syntax) or the message number
//! and byte offset (protobuf), so a bad record in a capture of millions can be found.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift::{Interner, Span};

use crate::convert::{spans_from_request, ConvertError};
use crate::wire::{spans_from_protobuf, ProtobufError};

mod json;
mod protobuf;

use json::{JsonLine, JsonSource};
use protobuf::{Message, ProtobufSource};

/// The largest protobuf message a reader accepts. A length prefix above it is taken for
/// corruption rather than allocated.
pub const MAX_MESSAGE_BYTES: u64 = 256 << 20;

/// What to do when a file name does not tell its format (shared by reading and writing).
pub(crate) const FORMAT_HINT: &str = "name it .json, .jsonl or .ndjson (OTLP/JSON) or .pb, \
     .binpb or .otlp (length-prefixed protobuf), or give the format";

/// How a file encodes its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// OTLP/JSON `ExportTraceServiceRequest`s: one per line (JSON lines, blank lines
    /// skipped), or documents spread over several lines (pretty-printed) one after another.
    /// The first document tells which: if it ends on its first line, the file is read as JSON
    /// lines, one line at a time; if not, the file is read whole and parsed document by
    /// document.
    Json,
    /// `ExportTraceServiceRequest` messages, each prefixed with its length as a protobuf
    /// varint (prost's `encode_length_delimited`).
    Protobuf,
}

impl Format {
    /// The format a file name says, by its extension (any case): `.json`, `.jsonl` and
    /// `.ndjson` are [`Format::Json`]; `.pb`, `.binpb` and `.otlp` are [`Format::Protobuf`].
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            "pb" | "binpb" | "otlp" => Some(Format::Protobuf),
            _ => None,
        }
    }
}

/// Where in a file a request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// The 1-based line on which a JSON document starts.
    Line(usize),
    /// A protobuf message: its 1-based number in the file and the byte offset of its length
    /// prefix.
    Message {
        /// 1 for the first message.
        number: usize,
        /// Byte offset of the message's length prefix.
        offset: u64,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Message { number, offset } => {
                write!(f, "message {number} (byte offset {offset})")
            }
        }
    }
}

/// A file of requests that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file name does not say the format.
    #[error(
        "{}: cannot tell the format from the file name; {}",
        path.display(),
        crate::read::FORMAT_HINT
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// Opening or reading the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A JSON document is malformed or is not an OTLP trace request.
    #[error("{}:{line}:{column}: invalid OTLP/JSON: {}", path.display(), json_message(source))]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (byte) of the error.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The file ends inside a message's length prefix.
    #[error(
        "{}: message {number} (byte offset {offset}): the file ends inside the length prefix; \
         it is truncated",
        path.display()
    )]
    TruncatedLength {
        /// The file.
        path: PathBuf,
        /// 1-based number of the message.
        number: usize,
        /// Byte offset of the length prefix.
        offset: u64,
    },
    /// The file ends inside a message.
    #[error(
        "{}: message {number} (byte offset {offset}): its length prefix says {declared} bytes \
         but only {available} remain; the file is truncated",
        path.display()
    )]
    TruncatedMessage {
        /// The file.
        path: PathBuf,
        /// 1-based number of the message.
        number: usize,
        /// Byte offset of the length prefix.
        offset: u64,
        /// The length the prefix declares.
        declared: u64,
        /// The bytes left in the file.
        available: u64,
    },
    /// A length prefix is not a valid varint or declares more than [`MAX_MESSAGE_BYTES`].
    #[error(
        "{}: message {number} (byte offset {offset}): the length prefix {problem}; the file is \
         not length-prefixed protobuf or is corrupt",
        path.display()
    )]
    BadLength {
        /// The file.
        path: PathBuf,
        /// 1-based number of the message.
        number: usize,
        /// Byte offset of the length prefix.
        offset: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// A message's bytes are not an `ExportTraceServiceRequest`.
    #[error(
        "{}: message {number} (byte offset {offset}): not an OTLP ExportTraceServiceRequest: \
         {source}",
        path.display()
    )]
    Protobuf {
        /// The file.
        path: PathBuf,
        /// 1-based number of the message.
        number: usize,
        /// Byte offset of the length prefix.
        offset: u64,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// A request parsed but does not convert to engine spans (an id of the wrong length).
    #[error("{}: {location}: {source}", path.display())]
    Convert {
        /// The file.
        path: PathBuf,
        /// Where the request is.
        location: Location,
        /// What is wrong with it.
        #[source]
        source: ConvertError,
    },
}

/// serde_json's message without its own " at line L column C", which counts from the start of
/// what it was given, not from the start of the file.
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// Reads `ExportTraceServiceRequest`s from a file, one at a time.
///
/// After an error that leaves the rest of the file unreadable (I/O, truncation, a malformed
/// multi-line JSON document) the reader yields nothing more. A malformed JSON line or a
/// protobuf message whose length prefix is intact is reported and reading goes on with the
/// next line or message.
pub struct RequestReader {
    path: Arc<Path>,
    source: Source,
}

enum Source {
    Json(JsonSource),
    Protobuf(ProtobufSource),
}

impl RequestReader {
    /// Opens `path`, telling its format from its extension (see [`Format::from_path`]).
    pub fn open(path: impl AsRef<Path>) -> Result<RequestReader, ReadError> {
        let path = path.as_ref();
        let format = Format::from_path(path).ok_or_else(|| ReadError::UnknownFormat {
            path: path.to_owned(),
        })?;
        RequestReader::open_with_format(path, format)
    }

    /// Opens `path` as `format`, whatever its name.
    pub fn open_with_format(
        path: impl AsRef<Path>,
        format: Format,
    ) -> Result<RequestReader, ReadError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(RequestReader::new(BufReader::new(file), format, path))
    }

    /// Reads `format` from `reader`; `name` stands for the file in errors.
    pub fn new(
        reader: impl BufRead + Send + 'static,
        format: Format,
        name: impl Into<PathBuf>,
    ) -> RequestReader {
        let reader: Box<dyn BufRead + Send> = Box::new(reader);
        let source = match format {
            Format::Json => Source::Json(JsonSource::new(reader)),
            Format::Protobuf => Source::Protobuf(ProtobufSource::new(reader)),
        };
        RequestReader {
            path: Arc::from(name.into()),
            source,
        }
    }

    /// The file (or the name given to [`RequestReader::new`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next request and where it was in the file.
    pub fn next_with_location(
        &mut self,
    ) -> Option<Result<(Location, ExportTraceServiceRequest), ReadError>> {
        Some(self.next_raw()?.and_then(RawRequest::decode))
    }

    /// The next request as read from the file, not yet decoded (or parsed), so that
    /// requests can be decoded on other threads than the one reading: framing, I/O and
    /// truncation errors come from here, in file order; the request's own from
    /// [`RawRequest::decode`] or [`RawRequest::decode_spans`]. A file of multi-line JSON
    /// documents can be split only by parsing it, so its requests come parsed.
    pub fn next_raw(&mut self) -> Option<Result<RawRequest, ReadError>> {
        let body = match &mut self.source {
            Source::Json(json) => json.next_raw(&self.path)?,
            Source::Protobuf(pb) => pb.next_message(&self.path)?.map(Body::Protobuf),
        };
        Some(body.map(|body| RawRequest {
            path: Arc::clone(&self.path),
            body,
        }))
    }
}

/// A request read from a file but not yet decoded ([`RequestReader::next_raw`]).
///
/// ```no_run
/// let mut reader = tailsift_otlp::RequestReader::open("capture.pb")?;
/// let interner = tailsift::Interner::default();
/// while let Some(raw) = reader.next_raw() {
///     // `raw` can go to another thread to be decoded there.
///     let spans = raw?.decode_spans(&interner)?;
///     println!("{} spans", spans.len());
/// }
/// # Ok::<(), tailsift_otlp::ReadError>(())
/// ```
pub struct RawRequest {
    path: Arc<Path>,
    body: Body,
}

/// What a [`RawRequest`] holds.
enum Body {
    /// A line of JSON lines.
    JsonLine(JsonLine),
    /// A request of a file of multi-line JSON documents, or its first line, parsed.
    Parsed(Location, ExportTraceServiceRequest),
    /// A protobuf message.
    Protobuf(Message),
}

impl RawRequest {
    /// Where the request is in its file.
    pub fn location(&self) -> Location {
        match &self.body {
            Body::JsonLine(line) => line.location(),
            Body::Parsed(location, _) => *location,
            Body::Protobuf(message) => message.location(),
        }
    }

    /// The request, decoded (or parsed), and where it was.
    pub fn decode(self) -> Result<(Location, ExportTraceServiceRequest), ReadError> {
        match self.body {
            Body::JsonLine(line) => line.parse(&self.path),
            Body::Parsed(location, request) => Ok((location, request)),
            Body::Protobuf(message) => message.decode(&self.path),
        }
    }

    /// The request's spans, names and keys interned through `interner`: the spans of
    /// [`RawRequest::decode`] and [`spans_from_request`], read straight from the bytes or the
    /// text where the walks take them ([`spans_from_protobuf`],
    /// [`json::spans_from_slice`](crate::json::spans_from_slice)).
    pub fn decode_spans(self, interner: &Interner) -> Result<Vec<Span>, ReadError> {
        let (location, request) = match self.body {
            Body::Protobuf(message) => {
                return spans_from_protobuf(&message.bytes, interner).map_err(|e| match e {
                    ProtobufError::Decode(source) => message.decode_error(&self.path, source),
                    ProtobufError::Convert(source) => ReadError::Convert {
                        path: self.path.to_path_buf(),
                        location: message.location(),
                        source,
                    },
                });
            }
            Body::JsonLine(line) => {
                // What the walk declines is parsed, for the mirror types' spans or errors.
                let mut spans = Vec::new();
                if crate::json::walked(&line.text, interner, &mut spans) {
                    return Ok(spans);
                }
                line.parse(&self.path)?
            }
            Body::Parsed(location, request) => (location, request),
        };
        spans_from_request(&request, interner).map_err(|source| ReadError::Convert {
            path: self.path.to_path_buf(),
            location,
            source,
        })
    }
}

impl Iterator for RequestReader {
    type Item = Result<ExportTraceServiceRequest, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_with_location()?.map(|(_, request)| request))
    }
}

/// Reads a file of requests as batches of engine spans: one `Vec` per request (empty for a
/// request without spans), names and keys interned through the caller's [`Interner`].
///
/// ```no_run
/// let interner = tailsift::Interner::default();
/// for batch in tailsift_otlp::SpanReader::open("capture.jsonl", &interner)? {
///     for span in batch? {
///         println!("{} {}", span.trace_id, span.name);
///     }
/// }
/// # Ok::<(), tailsift_otlp::ReadError>(())
/// ```
pub struct SpanReader<'i> {
    requests: RequestReader,
    interner: &'i Interner,
}

impl<'i> SpanReader<'i> {
    /// Opens `path`, telling its format from its extension (see [`Format::from_path`]).
    pub fn open(
        path: impl AsRef<Path>,
        interner: &'i Interner,
    ) -> Result<SpanReader<'i>, ReadError> {
        Ok(SpanReader::new(RequestReader::open(path)?, interner))
    }

    /// Converts what `requests` reads.
    pub fn new(requests: RequestReader, interner: &'i Interner) -> SpanReader<'i> {
        SpanReader { requests, interner }
    }
}

impl Iterator for SpanReader<'_> {
    type Item = Result<Vec<Span>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.requests.next_raw()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        Some(raw.decode_spans(self.interner))
    }
}

/// What a source yields: the next request and where it was, an error, or the end.
type Next = Option<Result<(Location, ExportTraceServiceRequest), ReadError>>;

fn io_error(path: &Path, source: io::Error) -> ReadError {
    ReadError::Io {
        path: path.to_owned(),
        source,
    }
}
