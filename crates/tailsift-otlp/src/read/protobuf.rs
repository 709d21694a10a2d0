//! Length-prefixed protobuf messages: the source behind `Format::Protobuf`.

use std::io::{self, BufRead, Read};
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use super::{io_error, Location, ReadError, MAX_MESSAGE_BYTES};

/// Reads one length prefix, then that many bytes, per message.
pub(super) struct ProtobufSource {
    reader: Box<dyn BufRead + Send>,
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
            count: 0,
            offset: 0,
            done: false,
        }
    }

    /// The next message, its bytes not yet decoded.
    pub(super) fn next_message(&mut self, path: &Path) -> Option<Result<Message, ReadError>> {
        if self.done {
            return None;
        }
        match self.read(path) {
            Some(Ok(message)) => Some(Ok(message)),
            // After a clean end, or an error in the framing, there is no next message to find.
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                None
            }
        }
    }

    /// Reads the next message.
    fn read(&mut self, path: &Path) -> Option<Result<Message, ReadError>> {
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
        // A buffer of its own, handed over with the message: up to 1 MiB allocated at once,
        // and `take` grows it as bytes arrive, so a corrupt length cannot allocate more than the
        // file holds.
        let mut bytes = Vec::with_capacity(declared.min(1 << 20) as usize);
        if let Err(source) = (&mut self.reader).take(declared).read_to_end(&mut bytes) {
            return Some(Err(io_error(path, source)));
        }
        let available = bytes.len() as u64;
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
        Some(Ok(Message {
            number,
            offset,
            bytes,
        }))
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

/// One message of a file, framed but not decoded.
pub(super) struct Message {
    /// 1 for the first message.
    number: usize,
    /// Byte offset of its length prefix.
    offset: u64,
    /// The encoded request.
    pub(super) bytes: Vec<u8>,
}

impl Message {
    pub(super) fn location(&self) -> Location {
        Location::Message {
            number: self.number,
            offset: self.offset,
        }
    }

    /// The request, decoded by prost.
    pub(super) fn decode(
        &self,
        path: &Path,
    ) -> Result<(Location, ExportTraceServiceRequest), ReadError> {
        match ExportTraceServiceRequest::decode(self.bytes.as_slice()) {
            Ok(request) => Ok((self.location(), request)),
            Err(source) => Err(self.decode_error(path, source)),
        }
    }

    /// The error for bytes that do not decode as a request: the framing was intact, so
    /// reading goes on with the next message.
    pub(super) fn decode_error(&self, path: &Path, source: prost::DecodeError) -> ReadError {
        ReadError::Protobuf {
            path: path.to_owned(),
            number: self.number,
            offset: self.offset,
            source,
        }
    }
}

enum LengthError {
    Io(io::Error),
    Truncated,
    Bad(String),
}
