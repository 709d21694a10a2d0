//! Bad input: every malformed file is an error that says where and what, never a panic.

use std::io::Cursor;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use proptest::prelude::*;
use tailsift::Interner;
use tailsift_otlp::prost::Message;
use tailsift_otlp::{
    spans_from_request, ConvertError, Format, IdRule, Location, ReadError, RequestReader,
    SpanReader, MAX_MESSAGE_BYTES,
};

const GOOD: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"}]}]}]}"#;

/// Every item a reader yields over `bytes`, spans converted, as `Ok(span count)` or the error.
fn read(bytes: &[u8], format: Format, name: &str) -> Vec<Result<usize, ReadError>> {
    let interner = Interner::default();
    let requests = RequestReader::new(Cursor::new(bytes.to_vec()), format, name);
    SpanReader::new(requests, &interner)
        .map(|r| r.map(|spans| spans.len()))
        .collect()
}

fn message(r: &Result<usize, ReadError>) -> String {
    match r {
        Ok(n) => panic!("expected an error, read {n} spans"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_json_line_names_file_line_and_column_and_reading_goes_on() {
    let text = format!("{GOOD}\n\n{{\"resourceSpans\": [}}\n{GOOD}\n");
    let items = read(text.as_bytes(), Format::Json, "capture.jsonl");
    assert_eq!(items.len(), 3);
    assert!(matches!(items[0], Ok(1)));
    let err = message(&items[1]);
    assert!(
        err.starts_with("capture.jsonl:3:20: invalid OTLP/JSON:"),
        "{err}"
    );
    assert!(
        !err.contains("at line"),
        "no second, misleading position: {err}"
    );
    assert!(matches!(items[2], Ok(1)), "the next line is still read");
}

#[test]
fn malformed_multi_line_document_names_the_file_line() {
    let text = "{\n  \"resourceSpans\": [\n    {\"scopeSpans\": 7}\n  ]\n}\n";
    let items = read(text.as_bytes(), Format::Json, "doc.json");
    assert_eq!(items.len(), 1);
    match &items[0] {
        Err(ReadError::Json { line, column, .. }) => assert_eq!((*line, *column), (3, 20)),
        other => panic!("{other:?}"),
    }
    assert!(message(&items[0])
        .starts_with("doc.json:3:20: invalid OTLP/JSON: invalid type: integer `7`"));
}

#[test]
fn wrong_length_ids_in_json_are_errors_naming_line_and_field() {
    let short_trace = GOOD.replace(
        "5b8efff798038103d269b633813fc60c",
        "5b8efff798038103d269b633813fc6",
    );
    let text = format!("{GOOD}\n{short_trace}\n");
    let items = read(text.as_bytes(), Format::Json, "ids.jsonl");
    let err = message(&items[1]);
    assert_eq!(
        err,
        "ids.jsonl: line 2: resource_spans[0].scope_spans[0].spans[0].trace_id must be 16 bytes \
         (32 hex digits in OTLP/JSON), got 15 bytes"
    );

    let odd = GOOD.replace("eee19b7ec3c1b174", "eee19b7ec3c1b17");
    let err = message(&read(odd.as_bytes(), Format::Json, "odd.jsonl")[0]);
    assert!(err.starts_with("odd.jsonl:1:"), "{err}");
    assert!(err.contains("invalid id \"eee19b7ec3c1b17\""), "{err}");

    let not_hex = GOOD.replace("eee19b7ec3c1b174", "eee19b7ec3c1b17z");
    assert!(message(&read(not_hex.as_bytes(), Format::Json, "x.jsonl")[0]).contains("invalid id"));
}

#[test]
fn wrong_length_ids_in_proto_are_typed_errors() {
    let span = |trace_id: Vec<u8>, span_id: Vec<u8>, parent: Vec<u8>| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    ProtoSpan::default(),
                    ProtoSpan {
                        trace_id,
                        span_id,
                        parent_span_id: parent,
                        ..ProtoSpan::default()
                    },
                ],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let interner = Interner::default();
    let err =
        spans_from_request(&span(vec![1; 16], vec![1; 8], vec![1; 8]), &interner).unwrap_err();
    assert_eq!(
        err,
        ConvertError::InvalidId {
            field: "resource_spans[0].scope_spans[0].spans[0].trace_id".into(),
            expected: IdRule::TraceId,
            actual: 0,
        },
        "the empty first span fails first"
    );
    let mut request = span(vec![1; 16], vec![1; 9], Vec::new());
    request.resource_spans[0].scope_spans[0].spans.remove(0);
    let err = spans_from_request(&request, &interner).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource_spans[0].scope_spans[0].spans[0].span_id must be 8 bytes (16 hex digits in \
         OTLP/JSON), got 9 bytes"
    );
    let mut request = span(vec![1; 16], vec![1; 8], vec![1; 4]);
    request.resource_spans[0].scope_spans[0].spans.remove(0);
    let err = spans_from_request(&request, &interner).unwrap_err();
    assert!(
        err.to_string()
            .contains("parent_span_id must be 8 bytes or empty"),
        "{err}"
    );
}

#[test]
fn out_of_range_and_mistyped_numbers_are_errors() {
    for (bad, expect) in [
        (
            r#""droppedAttributesCount":5000000000"#,
            "out of range for a 32-bit unsigned integer",
        ),
        (
            r#""startTimeUnixNano":"-1""#,
            "out of range for a 64-bit unsigned integer",
        ),
        (
            r#""startTimeUnixNano":"soon""#,
            "is not a 64-bit unsigned integer",
        ),
        (r#""kind":"SPAN_KIND_SIDEWAYS""#, "unknown enum value"),
        (
            r#""attributes":[{"key":"a","value":{"bytesValue":"*"}}]"#,
            "invalid base64",
        ),
        (
            r#""attributes":[{"key":"a","value":{"stringValue":"x","intValue":"1"}}]"#,
            "AnyValue has more than one value",
        ),
    ] {
        let line = GOOD.replace(r#""name":"ok""#, &format!(r#""name":"ok",{bad}"#));
        let err = message(&read(line.as_bytes(), Format::Json, "n.jsonl")[0]);
        assert!(
            err.starts_with("n.jsonl:1:") && err.contains(expect),
            "{bad}: {err}"
        );
    }
}

#[test]
fn lenient_json_forms_are_read() {
    let line = GOOD.replace(
        r#""name":"ok""#,
        r#""name":"ok","kind":"SPAN_KIND_CLIENT","flags":"1","startTimeUnixNano":1e3,"traceState":null,"events":null,"status":{"code":"2"},"attributes":[{"key":"d","value":{"doubleValue":"Infinity"}},{"key":"b","value":{"bytesValue":"-_8"}},{"key":"n","value":{"stringValue":null}}]"#,
    );
    let request = tailsift_otlp::json::from_str(&line).unwrap();
    let spans = spans_from_request(&request, &Interner::default()).unwrap();
    let s = &spans[0];
    assert_eq!(s.kind, tailsift::SpanKind::Client);
    assert_eq!((s.flags, s.start_time_unix_nano), (1, 1000));
    assert_eq!(s.status_code, tailsift::StatusCode::Error);
    assert_eq!(
        s.attribute("d"),
        Some(&tailsift::Value::Double(f64::INFINITY))
    );
    assert_eq!(
        s.attribute("b"),
        Some(&tailsift::Value::Bytes(vec![0xfb, 0xff].into()))
    );
    assert_eq!(s.attribute("n"), Some(&tailsift::Value::Empty));
}

fn two_messages() -> Vec<u8> {
    let request = tailsift_otlp::json::from_str(GOOD).unwrap();
    let mut bytes = request.encode_length_delimited_to_vec();
    bytes.extend(request.encode_length_delimited_to_vec());
    bytes
}

#[test]
fn truncated_protobuf_names_the_message_and_offset() {
    let bytes = two_messages();
    let one = bytes.len() / 2;
    let items = read(&bytes[..bytes.len() - 5], Format::Protobuf, "cut.binpb");
    assert_eq!(items.len(), 2);
    assert!(matches!(items[0], Ok(1)));
    match &items[1] {
        Err(ReadError::TruncatedMessage {
            number,
            offset,
            declared,
            available,
            ..
        }) => {
            assert_eq!((*number, *offset), (2, one as u64));
            assert_eq!(*declared - *available, 5);
        }
        other => panic!("{other:?}"),
    }
    let err = message(&items[1]);
    assert!(
        err.starts_with(&format!(
            "cut.binpb: message 2 (byte offset {one}): its length prefix says"
        )),
        "{err}"
    );
    assert!(err.ends_with("the file is truncated"), "{err}");

    // Cut inside the second length prefix: a varint byte with its continuation bit set.
    let mut cut = bytes[..one].to_vec();
    cut.push(0x80);
    let items = read(&cut, Format::Protobuf, "cut.pb");
    assert!(
        matches!(&items[1], Err(ReadError::TruncatedLength { number: 2, .. })),
        "{items:?}"
    );
}

#[test]
fn undecodable_message_is_reported_and_the_next_is_read() {
    let mut bytes = vec![3, 0xff, 0xff, 0xff]; // a frame of three bytes that are no message
    bytes.extend(two_messages());
    let items = read(&bytes, Format::Protobuf, "bad.pb");
    assert_eq!(items.len(), 3);
    let err = message(&items[0]);
    assert!(
        err.starts_with("bad.pb: message 1 (byte offset 0): not an OTLP ExportTraceServiceRequest"),
        "{err}"
    );
    assert!(matches!(items[1], Ok(1)) && matches!(items[2], Ok(1)));
}

#[test]
fn absurd_length_prefixes_are_refused_without_allocating() {
    let mut huge = Vec::new();
    prost::encoding::encode_varint(MAX_MESSAGE_BYTES + 1, &mut huge);
    let items = read(&huge, Format::Protobuf, "huge.pb");
    assert!(message(&items[0]).contains("more than the"), "{items:?}");
    let items = read(&[0xff; 11], Format::Protobuf, "varint.pb");
    assert!(
        message(&items[0]).contains("not a valid varint"),
        "{items:?}"
    );
    assert_eq!(items.len(), 1, "nothing after a broken frame");
}

#[test]
fn missing_file_names_the_path() {
    let err = RequestReader::open("/nonexistent/dir/capture.jsonl")
        .err()
        .unwrap();
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("/nonexistent/dir/capture.jsonl: "),
        "{err}"
    );
}

#[test]
fn locations_read_as_people_count() {
    assert_eq!(Location::Line(7).to_string(), "line 7");
    assert_eq!(
        Location::Message {
            number: 2,
            offset: 120
        }
        .to_string(),
        "message 2 (byte offset 120)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = read(&bytes, Format::Protobuf, "fuzz.pb");
        let _ = read(&bytes, Format::Json, "fuzz.jsonl");
    }

    #[test]
    fn damaged_valid_files_never_panic(cut in 0usize..400, flip in 0usize..400, bit in 0u8..8) {
        let mut pb = two_messages();
        let i = flip % pb.len();
        pb[i] ^= 1 << bit;
        pb.truncate(cut.min(pb.len()));
        let _ = read(&pb, Format::Protobuf, "fuzz.pb");
        let mut text = format!("{GOOD}\n{GOOD}").into_bytes();
        let i = flip % text.len();
        text[i] ^= 1 << bit;
        text.truncate(cut.min(text.len()));
        let _ = read(&text, Format::Json, "fuzz.jsonl");
    }
}
