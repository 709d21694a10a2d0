//! Fixtures written by others: the OTLP specification's trace example (extended by hand), and
//! traces the real OpenTelemetry Python SDK encoded (scripts/otlp-fixtures/generate.sh).

use std::path::PathBuf;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift::{Interner, KeyValue, Span, SpanId, SpanKind, StatusCode, TraceId, Value};
use tailsift_otlp::prost::Message;
use tailsift_otlp::{request_from_spans, spans_from_request, RequestReader, SpanReader};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_spans(name: &str) -> Vec<Vec<Span>> {
    let interner = Interner::default();
    SpanReader::open(fixture(name), &interner)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn read_requests(name: &str) -> Vec<ExportTraceServiceRequest> {
    RequestReader::open(fixture(name))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> &'a Value {
    tailsift::span::find_attribute(attributes, key).unwrap_or_else(|| panic!("no attribute {key}"))
}

fn span_named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

#[test]
fn spec_example_parses_field_by_field() {
    let batches = read_spans("spec-trace.json");
    assert_eq!(
        batches.len(),
        1,
        "one pretty-printed document is one request"
    );
    let spans = &batches[0];
    assert_eq!(spans.len(), 2);

    let server = &spans[0];
    assert_eq!(
        server.trace_id,
        TraceId::from_u128(0x5B8EFFF798038103D269B633813FC60C)
    );
    assert_eq!(server.span_id, SpanId::from_u64(0xEEE19B7EC3C1B174));
    assert_eq!(server.parent_span_id, SpanId::from_u64(0xEEE19B7EC3C1B173));
    assert_eq!(server.name, "I'm a server span");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(server.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(
        *server.attributes,
        vec![KeyValue::new("my.span.attr", "some value")]
    );
    assert_eq!(server.status_code, StatusCode::Unset);
    assert_eq!(server.service_name(), "my.service");
    assert_eq!(server.scope().name, "my.library");
    assert_eq!(server.scope().version, "1.0.0");
    assert_eq!(
        server.scope().attributes,
        vec![KeyValue::new("my.scope.attribute", "some scope attribute")]
    );

    let client = &spans[1];
    assert!(Arc::ptr_eq(
        &client.origin.resource,
        &server.origin.resource
    ));
    assert!(Arc::ptr_eq(&client.origin, &server.origin));
    assert_eq!(
        client.trace_id, server.trace_id,
        "hex ids are case-insensitive"
    );
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(client.trace_state(), "rojo=00f067aa0ba902b7");
    assert_eq!(client.flags, 257);
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(
        client.end_time_unix_nano, 1_544_712_660_900_000_000,
        "a number is read too"
    );
    let a = &client.attributes;
    assert_eq!(attr(a, "http.response.status_code"), &Value::Int(503));
    assert_eq!(attr(a, "retry.count"), &Value::Int(2));
    assert_eq!(attr(a, "sampling.ratio"), &Value::Double(0.25));
    assert_eq!(attr(a, "cache.hit"), &Value::Bool(false));
    assert_eq!(
        attr(a, "http.request.header.accept"),
        &Value::Array(vec!["application/json".into(), "text/plain".into()].into())
    );
    assert_eq!(
        attr(a, "request.meta"),
        &Value::KvList(
            vec![
                KeyValue::new("tenant", "acme"),
                KeyValue::new("shard", -7i64)
            ]
            .into()
        )
    );
    assert_eq!(
        attr(a, "request.digest"),
        &Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef].into())
    );
    assert_eq!(attr(a, "nothing"), &Value::Empty);
    assert_eq!(client.dropped_attributes_count(), 3);
    assert_eq!(client.events().len(), 1);
    let event = &client.events()[0];
    assert_eq!(event.name, "exception");
    assert_eq!(event.time_unix_nano, 1_544_712_660_500_000_000);
    assert_eq!(
        event.attributes,
        vec![KeyValue::new("exception.type", "TimeoutError")]
    );
    assert_eq!(event.dropped_attributes_count, 1);
    assert_eq!(client.dropped_events_count(), 4);
    assert_eq!(client.links().len(), 1);
    let link = &client.links()[0];
    assert_eq!(
        link.trace_id,
        TraceId::from_u128(0x0AF7651916CD43DD8448EB211C80319C)
    );
    assert_eq!(link.span_id, SpanId::from_u64(0xB7AD6B7169203331));
    assert_eq!(link.trace_state, "congo=t61rcWkgMzE");
    assert_eq!(
        link.attributes,
        vec![KeyValue::new("link.kind", "follows_from")]
    );
    assert_eq!(link.flags, 1);
    assert_eq!(client.dropped_links_count(), 5);
    assert_eq!(client.status_code, StatusCode::Error);
    assert_eq!(client.status_message(), "upstream unavailable");
}

#[test]
fn python_sdk_protobuf_has_the_expected_traces() {
    let batches = read_spans("python-sdk.binpb");
    assert_eq!(batches.len(), 2);
    let spans = &batches[0];
    let names: Vec<&str> = spans.iter().map(|s| &*s.name).collect();
    assert_eq!(
        names,
        [
            "SELECT orders",
            "charge card",
            "POST /checkout",
            "stock publish",
            "orders process"
        ]
    );

    let root = span_named(spans, "POST /checkout");
    let charge = span_named(spans, "charge card");
    let query = span_named(spans, "SELECT orders");
    assert!(root.is_root());
    assert_eq!(
        root.trace_id,
        TraceId::from_u128(0x5B8EFFF798038103D269B633813FC60C)
    );
    assert_eq!(charge.parent_span_id, root.span_id);
    assert_eq!(query.parent_span_id, charge.span_id);
    assert_eq!(query.trace_id, root.trace_id);
    assert_eq!(
        (root.kind, charge.kind, query.kind),
        (SpanKind::Server, SpanKind::Client, SpanKind::Internal)
    );
    assert_eq!(root.duration_nanos(), 50_000_000);

    // Resource and scopes: one resource for the shop, two scopes under it.
    assert_eq!(root.service_name(), "checkout");
    assert!(Arc::ptr_eq(&root.origin.resource, &query.origin.resource));
    assert_eq!(
        &*root.resource().schema_url,
        "https://opentelemetry.io/schemas/1.26.0"
    );
    assert_eq!(
        attr(&root.resource().attributes, "host.cpu.count"),
        &Value::Int(8)
    );
    assert!(Arc::ptr_eq(&root.origin, &charge.origin));
    assert!(!Arc::ptr_eq(&root.origin, &query.origin));
    assert_eq!(
        (&*root.scope().name, &*root.scope().version),
        ("shop.checkout", "1.4.2")
    );
    assert_eq!(
        &*root.scope().schema_url,
        "https://opentelemetry.io/schemas/1.26.0"
    );
    assert_eq!(
        root.scope().attributes,
        vec![KeyValue::new("scope.team", "payments")]
    );
    assert_eq!(&*query.scope().name, "shop.db");

    // Attributes of every kind.
    let a = &root.attributes;
    assert_eq!(attr(a, "http.request.method"), &Value::from("POST"));
    assert_eq!(attr(a, "http.response.status_code"), &Value::Int(500));
    assert_eq!(attr(a, "server.sampled"), &Value::Bool(true));
    assert_eq!(attr(a, "cart.total"), &Value::Double(123.45));
    assert_eq!(
        attr(a, "cart.quantities"),
        &Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)].into())
    );
    assert_eq!(
        attr(a, "cart.gift"),
        &Value::Array(vec![Value::Bool(true), Value::Bool(false)].into())
    );
    assert_eq!(
        attr(a, "request.digest"),
        &Value::Bytes(vec![0, 1, 0xfe, 0xff].into())
    );
    assert_eq!(
        attr(a, "request.meta"),
        &Value::KvList(
            vec![
                KeyValue::new("tenant", "acme"),
                KeyValue::new("retries", 2i64),
                KeyValue::new(
                    "nested",
                    Value::KvList(
                        vec![KeyValue::new(
                            "deep",
                            Value::Array(vec![Value::Int(1), "two".into(), Value::Empty].into())
                        )]
                        .into()
                    )
                ),
            ]
            .into()
        )
    );
    assert_eq!(
        attr(a, "request.mixed"),
        &Value::Array(
            vec![
                "a".into(),
                Value::Int(1),
                Value::Double(2.5),
                Value::Bool(false)
            ]
            .into()
        )
    );
    assert_eq!(
        attr(a, "request.empty_list"),
        &Value::Array(Vec::new().into())
    );
    assert_eq!(attr(a, "request.nothing"), &Value::Empty);

    // Events, status.
    assert_eq!(root.status_code, StatusCode::Error);
    assert_eq!(root.status_message(), "checkout failed");
    let exception = &query.events()[0];
    assert_eq!(exception.name, "exception");
    assert_eq!(
        attr(&exception.attributes, "exception.type"),
        &Value::from("ValueError")
    );
    assert_eq!(
        attr(&exception.attributes, "exception.message"),
        &Value::from("card declined")
    );
    assert_eq!(query.status_code, StatusCode::Error);
    assert_eq!(
        attr(&charge.events()[0].attributes, "attempt"),
        &Value::Int(2)
    );

    // The second resource: remote parent, tracestate, link into the first trace.
    let consume = span_named(spans, "orders process");
    let publish = span_named(spans, "stock publish");
    assert_eq!(consume.service_name(), "inventory");
    assert!(!Arc::ptr_eq(
        &consume.origin.resource,
        &root.origin.resource
    ));
    assert_eq!(consume.kind, SpanKind::Consumer);
    assert_eq!(publish.kind, SpanKind::Producer);
    assert_eq!(
        consume.trace_id,
        TraceId::from_u128(0x0AF7651916CD43DD8448EB211C80319C)
    );
    assert_eq!(consume.parent_span_id, SpanId::from_u64(0xB7AD6B7169203331));
    assert_eq!(consume.flags, 0x300, "has-is-remote and is-remote");
    assert_eq!(publish.flags, 0x100);
    assert_eq!(consume.trace_state(), "vendor=abc,ot=th:8");
    assert_eq!(consume.status_code, StatusCode::Ok);
    assert_eq!(publish.status_code, StatusCode::Unset);
    let link = &consume.links()[0];
    assert_eq!((link.trace_id, link.span_id), (root.trace_id, root.span_id));
    assert_eq!(
        attr(&link.attributes, "link.reason"),
        &Value::from("follows")
    );

    // The second request holds the inventory spans alone.
    assert_eq!(batches[1], spans[3..].to_vec());
}

#[test]
fn python_sdk_protobuf_round_trips_to_equal_messages_and_bytes() {
    let raw = std::fs::read(fixture("python-sdk.binpb")).unwrap();
    let mut rest = raw.as_slice();
    let interner = Interner::default();
    let mut count = 0;
    while !rest.is_empty() {
        let before = rest;
        let request = ExportTraceServiceRequest::decode_length_delimited(&mut rest).unwrap();
        let sdk_bytes = &before[..before.len() - rest.len()];
        let spans = spans_from_request(&request, &interner).unwrap();
        let back = request_from_spans(&spans);
        assert_eq!(
            back, request,
            "decode → Span → encode gives the same message"
        );
        let ours = back.encode_length_delimited_to_vec();
        assert_eq!(
            ExportTraceServiceRequest::decode_length_delimited(ours.as_slice()).unwrap(),
            request
        );
        assert_eq!(
            ours, sdk_bytes,
            "prost writes the bytes the Python SDK wrote"
        );
        count += 1;
    }
    assert_eq!(count, 2);
}

#[test]
fn python_sdk_json_lines_read_as_the_same_requests_as_its_protobuf() {
    let from_json = read_requests("python-sdk.jsonl");
    let from_protobuf = read_requests("python-sdk.binpb");
    assert_eq!(from_json.len(), 2);
    assert_eq!(from_json, from_protobuf);
}
