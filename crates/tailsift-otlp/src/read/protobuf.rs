//! Length-prefixed protobuf messages: the source behind `Format::Protobuf`.

use std::io::{self, BufRead, Read};
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::{io_error, Location, Next, ReadError, MAX_MESSAGE_BYTES};

/// Reads one length prefix, then that many bytes, per message.
pub(super) struct ProtobufSource {
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    /// Messages read so far.
    count: usize,
    /// Byte offset of the next length prefix.
    offset: u64,
    done: bool,
}

impl ProtobufSource {
    pub(super) fn new(reader: Box<dyn BufRead + Send>) -> ProtobufSource {
        ProtobufSource {
            reader,
            buf: Vec::new(),
            count: 0,
            offset: 0,
            done: false,
        }
    }

    pub(super) fn next(&mut self, path: &Path) -> Next {
        if self.done {
            return None;
        }
        let next = self.read(path);
        // After a clean end, or any error but a message whose frame was intact, there is no
        // next message to find.
        if !matches!(next, Some(Ok(_)) | Some(Err(ReadError::Protobuf { .. }))) {
            self.done = true;
        }
        next
    }

    fn read(&mut self, path: &Path) -> Next {
        let number = self.count + 1;
        let offset = self.offset;
        let (declared, prefix_len) = match self.read_length() {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(LengthError::Io(source)) => return Some(Err(io_error(path, source))),
            Err(LengthError::Truncated) => {
                return Some(Err(ReadError::TruncatedLength {
                    path: path.to_owned(),
                    number,
                    offset,
                }))
            }
            Err(LengthError::Bad(problem)) => {
                return Some(Err(ReadError::BadLength {
                    path: path.to_owned(),
                    number,
                    offset,
                    problem,
                }))
            }
        };
        if declared > MAX_MESSAGE_BYTES {
            return Some(Err(ReadError::BadLength {
                path: path.to_owned(),
                number,
                offset,
                problem: format!(
                    "declares {declared} bytes, more than the {MAX_MESSAGE_BYTES} a message may have"
                ),
            }));
        }
        self.buf.clear();
        // `take` grows the buffer as bytes arrive, so a corrupt length cannot allocate more
        // than the file holds.
        if let Err(source) = (&mut self.reader).take(declared).read_to_end(&mut self.buf) {
            return Some(Err(io_error(path, source)));
        }
        let available = self.buf.len() as u64;
        if available < declared {
            return Some(Err(ReadError::TruncatedMessage {
                path: path.to_owned(),
                number,
                offset,
                declared,
                available,
            }));
        }
        self.count = number;
        self.offset += prefix_len + declared;
        match ExportTraceServiceRequest::decode(self.buf.as_slice()) {
            Ok(request) => Some(Ok((Location::Message { number, offset }, request))),
            Err(source) => Some(Err(ReadError::Protobuf {
                path: path.to_owned(),
                number,
                offset,
                source,
            })),
        }
    }

    /// The next varint length prefix and its size in bytes; `None` at a clean end of file.
    fn read_length(&mut self) -> Result<Option<(u64, u64)>, LengthError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = loop {
                match self.reader.fill_buf() {
                    Ok([]) if i == 0 => return Ok(None),
                    Ok([]) => return Err(LengthError::Truncated),
                    Ok(bytes) => break bytes[0],
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(LengthError::Io(e)),
                }
            };
            self.reader.consume(1);
            if i == 9 && byte > 1 {
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(Some((value, u64::from(i) + 1)));
            }
        }
        Err(LengthError::Bad(
            "is not a valid varint (longer than 64 bits)".to_owned(),
        ))
    }
}

enum LengthError {
    Io(io::Error),
    Truncated,
    Bad(String),
}
