//! Writing files of OTLP trace requests: JSON lines or length-prefixed protobuf, the two
//! formats [`RequestReader`](crate::RequestReader) reads.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tailsift::Span;

use crate::read::Format;
use crate::wire::encode_spans_length_delimited;

/// The largest encoding buffer a [`SpanWriter`] keeps from one request to the next.
const MAX_KEPT_BUFFER: usize = 4 << 20;

/// A file of requests that could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
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
    /// Creating or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// Writes spans (or whole requests) as a stream of requests: one JSON line, or one
/// length-prefixed protobuf message, per call.
///
/// Buffer the inner writer (the `create` constructors do); call [`SpanWriter::finish`] to flush
/// and see the last error.
///
/// ```no_run
/// # fn spans() -> Vec<tailsift::Span> { Vec::new() }
/// let mut out = tailsift_otlp::SpanWriter::create("kept.jsonl")?;
/// out.write_spans(&spans())?;
/// out.finish()?;
/// # Ok::<(), tailsift_otlp::WriteError>(())
/// ```
pub struct SpanWriter<W: Write> {
    inner: W,
    format: Format,
    path: PathBuf,
    /// The protobuf message being written, reused from call to call.
    encoded: Vec<u8>,
}

impl SpanWriter<BufWriter<File>> {
    /// Creates (or truncates) `path`, telling the format from its extension (see
    /// [`Format::from_path`]).
    pub fn create(path: impl AsRef<Path>) -> Result<Self, WriteError> {
        let path = path.as_ref();
        let format = Format::from_path(path).ok_or_else(|| WriteError::UnknownFormat {
            path: path.to_owned(),
        })?;
        SpanWriter::create_with_format(path, format)
    }

    /// Creates (or truncates) `path` and writes `format` to it, whatever its name.
    pub fn create_with_format(path: impl AsRef<Path>, format: Format) -> Result<Self, WriteError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| WriteError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(SpanWriter::new(BufWriter::new(file), format, path))
    }
}

impl<W: Write> SpanWriter<W> {
    /// Writes `format` to `inner`; `name` stands for the file in errors.
    pub fn new(inner: W, format: Format, name: impl Into<PathBuf>) -> Self {
        SpanWriter {
            inner,
            format,
            path: name.into(),
            encoded: Vec::new(),
        }
    }

    /// Writes `spans` as one request, grouped under their resources and scopes (see
    /// [`request_from_spans`](crate::request_from_spans)), written straight from the spans.
    /// Writes nothing for no spans.
    pub fn write_spans(&mut self, spans: &[Span]) -> Result<(), WriteError> {
        if spans.is_empty() {
            return Ok(());
        }
        match self.format {
            // Straight to text or bytes, without the request's messages, into a buffer written
            // whole: serde_json writes a line in hundreds of small pieces, cheaper into a `Vec`
            // than through the inner writer.
            Format::Json => {
                self.encoded.clear();
                if let Err(e) = crate::json::spans_to_writer(&mut self.encoded, spans) {
                    return Err(self.io_error(e.into()));
                }
                self.encoded.push(b'\n');
            }
            Format::Protobuf => {
                self.encoded.clear();
                encode_spans_length_delimited(spans, &mut self.encoded);
            }
        }
        let written = self.inner.write_all(&self.encoded);
        if self.encoded.capacity() > MAX_KEPT_BUFFER {
            // One huge request does not keep its buffer for the rest of the file.
            self.encoded = Vec::new();
        }
        written.map_err(|source| self.io_error(source))
    }

    /// Writes `request` as it is.
    pub fn write_request(&mut self, request: &ExportTraceServiceRequest) -> Result<(), WriteError> {
        let written = match self.format {
            Format::Json => crate::json::to_writer(&mut self.inner, request)
                .map_err(io::Error::from)
                .and_then(|()| self.inner.write_all(b"\n")),
            Format::Protobuf => self
                .inner
                .write_all(&request.encode_length_delimited_to_vec()),
        };
        written.map_err(|source| self.io_error(source))
    }

    /// Flushes the inner writer.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.inner.flush().map_err(|source| self.io_error(source))
    }

    /// Flushes and hands back the inner writer.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.flush()?;
        Ok(self.inner)
    }

    fn io_error(&self, source: io::Error) -> WriteError {
        WriteError::Io {
            path: self.path.clone(),
            source,
        }
    }
}
