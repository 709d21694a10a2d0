//! JSON lines, or JSON documents one after another: the source behind `Format::Json`.

use std::io::{BufRead, Read};
use std::path::Path;

use super::{io_error, Location, Next, ReadError};
use crate::json::JsonRequest;

/// Reads JSON lines; switches to whole documents if the first line does not end one.
pub(super) struct JsonSource {
    reader: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    /// The number of the last line read.
    line_no: usize,
    /// Whether a non-blank line has been read: only the first can start a multi-line document.
    seen_document: bool,
    /// The rest of the file, once it turned out to hold multi-line documents.
    document: Option<Documents>,
    done: bool,
}

impl JsonSource {
    pub(super) fn new(reader: Box<dyn BufRead + Send>) -> JsonSource {
        JsonSource {
            reader,
            line: Vec::new(),
            line_no: 0,
            seen_document: false,
            document: None,
            done: false,
        }
    }

    pub(super) fn next(&mut self, path: &Path) -> Next {
        if self.done {
            return None;
        }
        if let Some(documents) = &mut self.document {
            let next = documents.next(path);
            if !matches!(next, Some(Ok(_))) {
                self.done = true;
            }
            return next;
        }
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => self.line_no += 1,
                Err(source) => {
                    self.done = true;
                    return Some(Err(io_error(path, source)));
                }
            }
            let mut start = 0;
            if self.line_no == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
                start = 3; // A UTF-8 byte order mark, as some editors write.
            }
            start += self.line[start..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            let text = self.line[start..].trim_ascii_end();
            if text.is_empty() {
                continue;
            }
            let first = !self.seen_document;
            self.seen_document = true;
            match serde_json::from_slice::<JsonRequest>(text) {
                Ok(request) => return Some(Ok((Location::Line(self.line_no), request.into()))),
                Err(e) if first && e.is_eof() => return self.read_documents(path, start),
                Err(source) => {
                    return Some(Err(ReadError::Json {
                        path: path.to_owned(),
                        line: self.line_no,
                        column: start + source.column(),
                        source,
                    }))
                }
            }
        }
    }

    /// The first line does not hold a whole document: read the rest of the file and parse it
    /// as documents one after another.
    fn read_documents(&mut self, path: &Path, start: usize) -> Next {
        let mut buf = self.line.split_off(start);
        if let Err(source) = self.reader.read_to_end(&mut buf) {
            self.done = true;
            return Some(Err(io_error(path, source)));
        }
        self.document = Some(Documents {
            buf,
            pos: 0,
            line: self.line_no,
            column: start,
        });
        self.next(path)
    }
}

/// Whole JSON documents in memory, parsed one after another.
struct Documents {
    buf: Vec<u8>,
    pos: usize,
    /// The line `pos` is on.
    line: usize,
    /// How many bytes of that line come before `pos`.
    column: usize,
}

impl Documents {
    fn advance(&mut self, to: usize) {
        for &b in &self.buf[self.pos..to] {
            if b == b'\n' {
                self.line += 1;
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        self.pos = to;
    }

    fn next(&mut self, path: &Path) -> Next {
        let blank = self.buf[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        self.advance(self.pos + blank);
        if self.pos == self.buf.len() {
            return None;
        }
        let mut stream =
            serde_json::Deserializer::from_slice(&self.buf[self.pos..]).into_iter::<JsonRequest>();
        let (line, column) = (self.line, self.column);
        match stream.next()? {
            Ok(request) => {
                let end = self.pos + stream.byte_offset();
                self.advance(end);
                Some(Ok((Location::Line(line), request.into())))
            }
            Err(source) => Some(Err(ReadError::Json {
                path: path.to_owned(),
                line: line + source.line().saturating_sub(1),
                column: if source.line() <= 1 {
                    column + source.column()
                } else {
                    source.column()
                },
                source,
            })),
        }
    }
}
