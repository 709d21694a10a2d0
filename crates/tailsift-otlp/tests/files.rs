//! Reading and writing files: format detection, JSON lines and documents, protobuf streams.

mod common;

use std::io::Cursor;
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tailsift::{Interner, Span};
use tailsift_otlp::prost::Message as _;
use tailsift_otlp::{
    json, spans_from_request, Format, Location, RawRequest, ReadError, RequestReader, SpanReader,
    SpanWriter, WriteError,
};

fn sample_requests(n: usize) -> Vec<ExportTraceServiceRequest> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| common::request().new_tree(&mut runner).unwrap().current())
        .collect()
}

fn read_all(path: &Path) -> Vec<ExportTraceServiceRequest> {
    RequestReader::open(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn json_reader(text: &str) -> RequestReader {
    RequestReader::new(Cursor::new(text.to_owned()), Format::Json, "test.jsonl")
}

#[test]
fn format_is_told_by_extension_in_any_case() {
    for (name, format) in [
        ("a.json", Some(Format::Json)),
        ("a.JSONL", Some(Format::Json)),
        ("a.ndjson", Some(Format::Json)),
        ("a.pb", Some(Format::Protobuf)),
        ("dir/a.binpb", Some(Format::Protobuf)),
        ("a.otlp", Some(Format::Protobuf)),
        ("a.txt", None),
        ("json", None),
    ] {
        assert_eq!(Format::from_path(Path::new(name)), format, "{name}");
    }
    let err = RequestReader::open("capture.txt").err().unwrap();
    assert!(matches!(err, ReadError::UnknownFormat { .. }));
    assert!(
        err.to_string()
            .starts_with("capture.txt: cannot tell the format"),
        "{err}"
    );
    let err = SpanWriter::create("capture.txt").err().unwrap();
    assert!(matches!(err, WriteError::UnknownFormat { .. }));
}

#[test]
fn requests_written_to_either_format_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let requests = sample_requests(5);
    for name in ["out.jsonl", "out.binpb"] {
        let path = dir.path().join(name);
        let mut writer = SpanWriter::create(&path).unwrap();
        for r in &requests {
            writer.write_request(r).unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(read_all(&path), requests, "{name}");
    }
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 5, "one request per line");
}

#[test]
fn spans_written_read_back_equal_batch_by_batch() {
    let dir = tempfile::tempdir().unwrap();
    let interner = Interner::default();
    let batches: Vec<_> = sample_requests(3)
        .iter()
        .map(|r| spans_from_request(r, &interner).unwrap())
        .collect();
    for name in ["spans.json", "spans.pb"] {
        let path = dir.path().join(name);
        let mut writer = SpanWriter::create(&path).unwrap();
        for batch in &batches {
            writer.write_spans(batch).unwrap();
        }
        writer.write_spans(&[]).unwrap(); // writes nothing
        writer.finish().unwrap();
        let back: Vec<_> = SpanReader::open(&path, &interner)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, batches, "{name}");
    }
}

#[test]
fn json_lines_skip_blank_lines_crlf_and_a_byte_order_mark() {
    let text = "\u{feff}{\"resourceSpans\":[]}\r\n\n   \n\t{}\r\n{\"resourceSpans\":null}";
    let read: Vec<_> = std::iter::from_fn({
        let mut reader = json_reader(text);
        move || reader.next_with_location()
    })
    .map(|r| r.unwrap().0)
    .collect();
    assert_eq!(
        read,
        [Location::Line(1), Location::Line(4), Location::Line(5)]
    );
}

#[test]
fn a_pretty_printed_document_and_documents_in_a_row_are_read() {
    let request = &sample_requests(1)[0];
    let line = json::to_string(request);
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    let pretty_lines = pretty.lines().count();
    let text = format!("\n{pretty}\n{pretty} {line}\n\n{pretty}\n");
    let mut reader = json_reader(&text);
    let mut starts = Vec::new();
    while let Some(next) = reader.next_with_location() {
        let (location, read) = next.unwrap();
        assert_eq!(&read, request);
        starts.push(location);
    }
    let second = 2 + pretty_lines;
    assert_eq!(
        starts,
        [
            Location::Line(2),
            Location::Line(second),
            Location::Line(second + pretty_lines - 1),
            Location::Line(second + pretty_lines + 1),
        ]
    );
}

#[test]
fn spans_are_read_from_json_as_requests_are_read_and_converted() {
    // JSON lines are walked into spans; a multi-line first document switches the file to
    // documents; a later line that does not end its document is an error on that line.
    let requests = sample_requests(3);
    let lines: Vec<String> = requests.iter().map(json::to_string).collect();
    let value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    let bad_id = lines[2].replacen("\"traceId\":\"", "\"traceId\":\"00", 1);
    for text in [
        lines.join("\n"),
        format!("{}\n{bad_id}\n{}", lines[0], lines[1]),
        format!("{pretty}\n{}", lines[1]),
        format!("{}\n{pretty}", lines[0]),
    ] {
        let interner = Interner::default();
        let mut requests = json_reader(&text);
        let by_requests: Vec<Result<Vec<Span>, String>> =
            std::iter::from_fn(|| requests.next_with_location())
                .map(|r| {
                    let (location, request) = r.map_err(|e| e.to_string())?;
                    spans_from_request(&request, &interner)
                        .map_err(|e| format!("test.jsonl: {location}: {e}"))
                })
                .collect();
        let by_spans: Vec<Result<Vec<Span>, String>> =
            SpanReader::new(json_reader(&text), &interner)
                .map(|r| r.map_err(|e| e.to_string()))
                .collect();
        assert!(by_spans == by_requests, "{by_spans:?}");
        assert!(by_spans[0].is_ok());
    }
    let text = format!("{}\n{pretty}", lines[0]);
    let interner = Interner::default();
    let second = SpanReader::new(json_reader(&text), &interner)
        .nth(1)
        .unwrap();
    assert!(
        matches!(second, Err(ReadError::Json { line: 2, .. })),
        "{second:?}"
    );
}

#[test]
fn raw_requests_decode_on_other_threads_as_the_readers_decode() {
    // JSON lines with a malformed line and a bad id, and protobuf with a message that is not a
    // request: each raw request, decoded on another thread and out of order, gives what the
    // readers give in order.
    let mut requests = sample_requests(4);
    requests[1].resource_spans[0].scope_spans[0].spans[0].span_id = vec![1, 2, 3];
    let mut lines: Vec<String> = requests.iter().map(json::to_string).collect();
    lines.insert(2, "{\"resourceSpans\": [ nope".to_owned());
    let json_text = lines.join("\n").into_bytes();
    let mut pb = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        if i == 2 {
            pb.extend_from_slice(&[3, 0xff, 0xff, 0xff]);
        }
        request.encode_length_delimited(&mut pb).unwrap();
    }
    for (format, bytes) in [(Format::Json, json_text), (Format::Protobuf, pb)] {
        let reader = || RequestReader::new(Cursor::new(bytes.clone()), format, "mem");
        let raws = |mut reader: RequestReader| {
            std::iter::from_fn(move || reader.next_raw())
                .map(Result::unwrap)
                .collect::<Vec<RawRequest>>()
        };
        let interner = Interner::default();
        let by_spans: Vec<String> = SpanReader::new(reader(), &interner)
            .map(|r| format!("{r:?}"))
            .collect();
        let spans: Vec<(Location, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = raws(reader())
                .into_iter()
                .rev()
                .map(|raw| {
                    let interner = &interner;
                    scope.spawn(move || {
                        (raw.location(), format!("{:?}", raw.decode_spans(interner)))
                    })
                })
                .collect();
            let mut done: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            done.reverse();
            done
        });
        assert_eq!(
            spans.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            by_spans,
            "{format:?}"
        );
        assert!(spans.iter().filter(|(_, s)| s.starts_with("Err")).count() >= 2);
        // Requests, decoded out of order, as the reader decodes them in order.
        let by_requests: Vec<String> = std::iter::from_fn({
            let mut reader = reader();
            move || reader.next_with_location()
        })
        .map(|r| format!("{r:?}"))
        .collect();
        let mut decoded: Vec<String> = raws(reader())
            .into_iter()
            .rev()
            .map(|raw| format!("{:?}", raw.decode()))
            .collect();
        decoded.reverse();
        assert_eq!(decoded, by_requests);
        let first = spans[0].0;
        assert!(matches!(
            first,
            Location::Line(1) | Location::Message { number: 1, .. }
        ));
    }
}

#[test]
fn empty_files_hold_no_requests() {
    assert_eq!(json_reader("").count(), 0);
    assert_eq!(json_reader("\n \n").count(), 0);
    let reader = RequestReader::new(Cursor::new(Vec::new()), Format::Protobuf, "empty.pb");
    assert_eq!(reader.count(), 0);
}

#[test]
fn reading_streams_line_by_line() {
    // Over an endless stream, requests come out without the reader waiting for the end.
    let endless = std::io::BufReader::new(Endless {
        line: b"{\"resourceSpans\":[]}\n",
        pos: 0,
    });
    let mut reader = RequestReader::new(endless, Format::Json, "endless.jsonl");
    for _ in 0..3 {
        reader.next().unwrap().unwrap();
    }
}

/// Repeats one line forever.
struct Endless {
    line: &'static [u8],
    pos: usize,
}

impl std::io::Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.line[self.pos..];
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos = (self.pos + n) % self.line.len();
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_batches_survive_a_file_round_trip(requests in proptest::collection::vec(common::request(), 0..4)) {
        let mut out = Vec::new();
        for (format, ext) in [(Format::Json, "jsonl"), (Format::Protobuf, "pb")] {
            out.clear();
            let mut writer = SpanWriter::new(&mut out, format, format!("mem.{ext}"));
            for r in &requests {
                writer.write_request(r).unwrap();
            }
            writer.finish().unwrap();
            let back: Vec<_> = RequestReader::new(Cursor::new(out.clone()), format, "mem")
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(&back, &requests);
        }
    }
}
