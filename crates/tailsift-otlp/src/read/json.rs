//! JSON lines, or JSON documents one after another: the source behind `Format::Json`.

use std::io::{BufRead, Read};
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::{io_error, Body, Location, Next, ReadError};
use crate::json::JsonRequest;

/// What [`JsonSource::next_text`] read.
enum Text {
    /// A line, not yet parsed: [`JsonSource::line`].
    Line,
    /// A request (or the error in its place) from a file of multi-line documents.
    Read(Result<(Location, ExportTraceServiceRequest), ReadError>),
}

/// One line of JSON lines, read but not parsed.
pub(super) struct JsonLine {
    /// The line's text, without the whitespace around it.
    pub(super) text: Vec<u8>,
    /// Its number in the file.
    line: usize,
    /// How many bytes of the line come before the text.
    start: usize,
}

impl JsonLine {
    pub(super) fn location(&self) -> Location {
        Location::Line(self.line)
    }

    /// The request the line holds, parsed by the mirror types; a malformed line is an error
    /// naming its line and column.
    pub(super) fn parse(
        &self,
        path: &Path,
    ) -> Result<(Location, ExportTraceServiceRequest), ReadError> {
        match serde_json::from_slice::<JsonRequest>(&self.text) {
            Ok(request) => Ok((self.location(), request.into())),
            Err(source) => Err(ReadError::Json {
                path: path.to_owned(),
                line: self.line,
                column: self.start + source.column(),
                source,
            }),
        }
    }
}

/// Reads JSON lines; switches to whole documents if the first line does not end one.
pub(super) struct JsonSource {
    reader: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    /// The number of the last line read.
    line_no: usize,
    /// Where the text of the line starts (after a byte order mark and leading whitespace).
    start: usize,
    /// Whether a line that is not blank has been read: only the first can start a multi-line
    /// document.
    seen_document: bool,
    /// Whether the line read last is the first that is not blank.
    first: bool,
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
            start: 0,
            seen_document: false,
            first: false,
            document: None,
            done: false,
        }
    }

    /// The next request, not yet parsed if it is a line of JSON lines. The file's first line
    /// is parsed here: whether it ends its document tells JSON lines from multi-line
    /// documents, which are parsed as they are split.
    pub(super) fn next_raw(&mut self, path: &Path) -> Option<Result<Body, ReadError>> {
        match self.next_text(path)? {
            Text::Read(next) => {
                Some(next.map(|(location, request)| Body::Parsed(location, request)))
            }
            Text::Line if self.first => {
                let next = self.parse_first_line(path)?;
                Some(next.map(|(location, request)| Body::Parsed(location, request)))
            }
            Text::Line => Some(Ok(Body::JsonLine(self.raw_line()))),
        }
    }

    /// Reads the next line that is not blank, for [`JsonSource::line`]; or, once the file has
    /// turned out to hold multi-line documents, reads and parses the next document.
    fn next_text(&mut self, path: &Path) -> Option<Text> {
        if self.done {
            return None;
        }
        if let Some(documents) = &mut self.document {
            let next = documents.next(path);
            if !matches!(next, Some(Ok(_))) {
                self.done = true;
            }
            return next.map(Text::Read);
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
                    return Some(Text::Read(Err(io_error(path, source))));
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
            self.start = start;
            if !self.line().is_empty() {
                self.first = !self.seen_document;
                self.seen_document = true;
                return Some(Text::Line);
            }
        }
    }

    /// The text of the line [`JsonSource::next_text`] read, without the whitespace around it.
    fn line(&self) -> &[u8] {
        self.line[self.start..].trim_ascii_end()
    }

    /// The line [`JsonSource::next_text`] read, to be parsed.
    fn raw_line(&self) -> JsonLine {
        JsonLine {
            text: self.line().to_vec(),
            line: self.line_no,
            start: self.start,
        }
    }

    /// Parses the file's first line. If it does not end its document, the file holds
    /// multi-line documents: reads them from there on.
    fn parse_first_line(&mut self, path: &Path) -> Next {
        match self.raw_line().parse(path) {
            Err(ReadError::Json { source, .. }) if source.is_eof() => {
                self.read_documents(path, self.start)
            }
            parsed => Some(parsed),
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
        match self.next_text(path)? {
            Text::Read(next) => Some(next),
            Text::Line => None, // Not after the switch to documents.
        }
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
