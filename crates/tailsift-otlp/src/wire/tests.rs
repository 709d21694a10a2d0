//! The walk and the encoder against prost and `convert`. The walk takes what encoders write
//! and gives the same spans; what it declines, and any damage to the bytes, ends as prost and
//! `convert` end it. The encoder writes prost's bytes.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use proptest::prelude::*;

use super::*;
use crate::common;
use crate::spans_from_request;

/// What prost and `convert` make of `bytes`: the spans, or the error's text.
fn by_prost(bytes: &[u8], interner: &Interner) -> Result<Vec<Span>, String> {
    let request = ExportTraceServiceRequest::decode(bytes)
        .map_err(|e| ProtobufError::Decode(e).to_string())?;
    spans_from_request(&request, interner).map_err(|e| ProtobufError::Convert(e).to_string())
}

/// What the walk alone makes of `bytes`: `None` where it declines.
fn walked(bytes: &[u8], interner: &Interner) -> Option<Vec<Span>> {
    let mut out = Vec::new();
    Walk::new(interner).request(bytes, &mut out).ok()?;
    Some(out)
}

/// `spans_from_protobuf` as a comparable result.
fn decoded(bytes: &[u8], interner: &Interner) -> Result<Vec<Span>, String> {
    spans_from_protobuf(bytes, interner).map_err(|e| e.to_string())
}

/// The walk takes `bytes`, and it and `spans_from_protobuf` give what prost and `convert` give.
fn assert_walked_as_prost(bytes: &[u8]) {
    let interner = Interner::default();
    let expected = by_prost(bytes, &interner).expect("a valid request");
    assert_eq!(
        walked(bytes, &interner).expect("the walk takes it"),
        expected
    );
    assert_eq!(decoded(bytes, &interner), Ok(expected));
}

/// The walk declines `bytes`, and `spans_from_protobuf` gives what prost and `convert` give.
fn assert_declined_as_prost(bytes: &[u8]) {
    let interner = Interner::default();
    assert!(walked(bytes, &interner).is_none(), "the walk declines it");
    assert_eq!(decoded(bytes, &interner), by_prost(bytes, &interner));
}

fn request_of(resource_spans: Vec<ResourceSpans>) -> Vec<u8> {
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

/// One resource with one scope holding `span`.
fn one_span(span: ProtoSpan) -> Vec<u8> {
    request_of(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![span],
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }])
}

fn valid_span() -> ProtoSpan {
    ProtoSpan {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "GET /cart".into(),
        ..ProtoSpan::default()
    }
}

fn string_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

fn attribute(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        key_strindex: 0,
    }
}

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A field's key: its number and wire type (0 varint, 1 fixed64, 2 length-delimited, 5
/// fixed32).
fn key(number: u32, wire_type: u8, out: &mut Vec<u8>) {
    varint(u64::from(number) << 3 | u64::from(wire_type), out);
}

/// A length-delimited field: key, length, bytes.
fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    key(number, 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A request of one `ResourceSpans` whose fields are `fields`, in that order.
fn request_of_fields(fields: &[Vec<u8>]) -> Vec<u8> {
    field(1, &fields.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_walk_takes_what_encoders_write_and_gives_what_prost_gives(
        request in common::request(),
    ) {
        let bytes = request.encode_to_vec();
        let interner = Interner::default();
        let expected = by_prost(&bytes, &interner).expect("a valid request");
        prop_assert_eq!(walked(&bytes, &interner), Some(expected.clone()));
        prop_assert_eq!(decoded(&bytes, &interner), Ok(expected));
    }

    #[test]
    fn damaged_bytes_end_as_prost_ends_them(
        request in common::request(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..4),
    ) {
        let mut bytes = request.encode_to_vec();
        for (at, how, byte) in damage {
            let i = at.index(bytes.len().max(1));
            match how {
                0 if i < bytes.len() => bytes[i] ^= byte | 1,
                1 if i < bytes.len() => { bytes.remove(i); }
                2 => bytes.insert(i.min(bytes.len()), byte),
                _ => bytes.truncate(i),
            }
        }
        let interner = Interner::default();
        // By their text: a damaged double may be NaN, which is not equal to itself.
        let text = |r: Result<Vec<Span>, String>| format!("{r:?}");
        prop_assert_eq!(text(decoded(&bytes, &interner)), text(by_prost(&bytes, &interner)));
        if let Some(spans) = walked(&bytes, &interner) {
            prop_assert_eq!(text(Ok(spans)), text(by_prost(&bytes, &interner)));
        }
    }
}

#[test]
fn fields_in_any_order_and_unknown_fields_are_taken() {
    let resource = opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: vec![attribute("service.name", string_value("checkout"))],
        ..Default::default()
    };
    let scope_spans = ScopeSpans {
        spans: vec![valid_span()],
        ..ScopeSpans::default()
    }
    .encode_to_vec();
    // The scopes first, then the schema URL and the resource, and an unknown field of each
    // wire type between them.
    let mut unknown = Vec::new();
    key(99, 0, &mut unknown);
    varint(300, &mut unknown);
    key(100, 1, &mut unknown);
    unknown.extend_from_slice(&[7; 8]);
    key(101, 5, &mut unknown);
    unknown.extend_from_slice(&[7; 4]);
    unknown.extend(field(102, b"\xff not UTF-8, unread"));
    let bytes = request_of_fields(&[
        field(2, &scope_spans),
        unknown.clone(),
        field(3, b"https://opentelemetry.io/schemas/1.26.0"),
        field(1, &resource.encode_to_vec()),
    ]);
    assert_walked_as_prost(&bytes);
    let spans = decoded(&bytes, &Interner::default()).unwrap();
    assert_eq!(spans[0].service_name(), "checkout");
    assert_eq!(
        &*spans[0].resource().schema_url,
        "https://opentelemetry.io/schemas/1.26.0"
    );

    // A span's fields reversed, with unknown ones among them.
    let span = valid_span();
    let mut reversed = vec![unknown];
    for (number, value) in [
        (5, span.name.as_bytes()),
        (2, &span.span_id[..]),
        (1, &span.trace_id[..]),
    ] {
        reversed.push(field(number, value));
    }
    let scope = field(2, &reversed.concat());
    assert_walked_as_prost(&request_of_fields(&[field(2, &scope)]));
}

#[test]
fn a_value_before_its_key_is_held_by_the_key_s_rule() {
    // `http.route` is low-cardinality: its long value is interned, wherever the key is.
    let value = string_value("/api/v1/carts/{cart_id}/items");
    let kv = [field(2, &value.encode_to_vec()), field(1, b"http.route")].concat();
    let span = [
        field(1, &[1; 16]),
        field(2, &[2; 8]),
        field(9, &kv),
        field(9, &kv),
    ]
    .concat();
    let bytes = request_of_fields(&[field(2, &field(2, &span))]);
    assert_walked_as_prost(&bytes);
    let spans = decoded(&bytes, &Interner::default()).unwrap();
    let Value::Str(route) = &spans[0].attributes[0].value else {
        panic!("a string value")
    };
    assert!(route.is_immortal(), "interned");
}

#[test]
fn a_scalar_field_given_twice_keeps_the_last_as_prost_does() {
    let first = valid_span();
    let second = ProtoSpan {
        name: "POST /checkout".into(),
        attributes: vec![attribute("a", string_value("b"))],
        ..valid_span()
    };
    // Concatenated messages merge: the last name, both attribute lists.
    let span = [
        first.encode_to_vec(),
        second.encode_to_vec(),
        second.encode_to_vec(),
    ]
    .concat();
    let bytes = request_of_fields(&[field(2, &field(2, &span))]);
    assert_walked_as_prost(&bytes);
    let spans = decoded(&bytes, &Interner::default()).unwrap();
    assert_eq!(&*spans[0].name, "POST /checkout");
    assert_eq!(spans[0].attributes.len(), 2);
}

#[test]
fn what_prost_would_merge_is_left_to_prost() {
    // A span's status twice: prost merges the two messages.
    let with_status = ProtoSpan {
        status: Some(opentelemetry_proto::tonic::trace::v1::Status {
            message: "boom".into(),
            code: 2,
        }),
        ..valid_span()
    };
    let span = [with_status.encode_to_vec(), with_status.encode_to_vec()].concat();
    assert_declined_as_prost(&request_of_fields(&[field(2, &field(2, &span))]));

    // Two values in one `AnyValue`: the last string, or two arrays merged.
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![string_value("x")],
        })),
    }
    .encode_to_vec();
    for value in [
        [
            string_value("a").encode_to_vec(),
            string_value("b").encode_to_vec(),
        ]
        .concat(),
        [array.clone(), array].concat(),
    ] {
        let kv = [field(1, b"k"), field(2, &value)].concat();
        let span = [valid_span().encode_to_vec(), field(9, &kv)].concat();
        assert_declined_as_prost(&request_of_fields(&[field(2, &field(2, &span))]));
    }

    // A resource given twice.
    let resource = opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: vec![attribute("service.name", string_value("checkout"))],
        ..Default::default()
    }
    .encode_to_vec();
    let scope_spans = ScopeSpans {
        spans: vec![valid_span()],
        ..ScopeSpans::default()
    }
    .encode_to_vec();
    assert_declined_as_prost(&request_of_fields(&[
        field(1, &resource),
        field(2, &scope_spans),
        field(1, &resource),
    ]));
}

#[test]
fn a_key_given_twice_is_left_to_prost_which_checks_both() {
    // Found by the `otlp_wire` fuzz target: the first key is not UTF-8, the second is, and
    // prost rejects the message for the first.
    for first in [&b"\xff"[..], b"shadowed"] {
        let kv = [
            field(1, first),
            field(1, b"k"),
            field(2, &string_value("v").encode_to_vec()),
        ]
        .concat();
        let span = [valid_span().encode_to_vec(), field(9, &kv)].concat();
        assert_declined_as_prost(&request_of_fields(&[field(2, &field(2, &span))]));
    }
}

#[test]
fn resources_and_scopes_without_spans_are_left_to_convert() {
    let empty_scope = ScopeSpans::default();
    let full_scope = ScopeSpans {
        spans: vec![valid_span()],
        ..ScopeSpans::default()
    };
    assert_declined_as_prost(&request_of(vec![
        ResourceSpans::default(),
        ResourceSpans {
            scope_spans: vec![empty_scope, full_scope],
            ..ResourceSpans::default()
        },
    ]));
}

#[test]
fn ids_of_the_wrong_length_are_convert_s_errors() {
    for span in [
        ProtoSpan {
            trace_id: vec![1; 15],
            ..valid_span()
        },
        ProtoSpan {
            span_id: Vec::new(),
            ..valid_span()
        },
        ProtoSpan {
            parent_span_id: vec![3; 4],
            ..valid_span()
        },
    ] {
        let bytes = one_span(span);
        assert_declined_as_prost(&bytes);
        let err = spans_from_protobuf(&bytes, &Interner::default()).unwrap_err();
        assert!(matches!(err, ProtobufError::Convert(_)), "{err}");
        assert!(
            err.to_string()
                .contains("resource_spans[0].scope_spans[0].spans[0]."),
            "{err}"
        );
    }
}

#[test]
fn malformed_bytes_are_prost_s_errors() {
    let good = one_span(valid_span());
    let mut bad_utf8 = one_span(ProtoSpan {
        name: "ABCD".into(),
        ..valid_span()
    });
    let at = bad_utf8.windows(4).position(|w| w == b"ABCD").unwrap();
    bad_utf8[at] = 0xff;
    let mut wrong_wire_type = Vec::new();
    key(1, 0, &mut wrong_wire_type);
    varint(1, &mut wrong_wire_type);
    // A span's kind in a varint of ten bytes whose last is over 1: more than 64 bits.
    let mut overlong = valid_span().encode_to_vec();
    key(6, 0, &mut overlong);
    overlong.extend_from_slice(&[0xff; 9]);
    overlong.push(0x02);
    let overlong = request_of_fields(&[field(2, &field(2, &overlong))]);
    for bytes in [
        overlong,
        bad_utf8,
        good[..good.len() - 1].to_vec(),
        wrong_wire_type,
        vec![
            0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
        vec![0x00],
        vec![0x0b],
    ] {
        assert_declined_as_prost(&bytes);
        let err = spans_from_protobuf(&bytes, &Interner::default()).unwrap_err();
        assert!(matches!(err, ProtobufError::Decode(_)), "{err}");
    }
}

#[test]
fn deep_values_are_left_to_prost_and_never_overflow_the_stack() {
    fn nested(depth: usize) -> AnyValue {
        (0..depth).fold(string_value("leaf"), |inner, _| AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![inner],
            })),
        })
    }
    let with = |depth| {
        one_span(ProtoSpan {
            attributes: vec![attribute("deep", nested(depth))],
            ..valid_span()
        })
    };
    assert_walked_as_prost(&with(MAX_DEPTH - 1));
    assert_declined_as_prost(&with(MAX_DEPTH));
    // Past prost's own limit: its error, from the fallback.
    let bytes = with(200);
    assert_declined_as_prost(&bytes);
    assert!(spans_from_protobuf(&bytes, &Interner::default()).is_err());
}

#[test]
fn profiles_only_fields_are_left_to_convert() {
    let strindex = AnyValue {
        value: Some(any_value::Value::StringValueStrindex(3)),
    };
    for kv in [
        attribute("k", strindex),
        KeyValue {
            key_strindex: 4,
            ..attribute("k", string_value("v"))
        },
    ] {
        assert_declined_as_prost(&one_span(ProtoSpan {
            attributes: vec![kv],
            ..valid_span()
        }));
    }
}

#[test]
fn appending_keeps_what_was_there_on_error() {
    let interner = Interner::default();
    let mut out = spans_from_protobuf(&one_span(valid_span()), &interner).unwrap();
    let bad = one_span(ProtoSpan {
        trace_id: vec![1; 3],
        ..valid_span()
    });
    // Two spans, the second bad: the first is walked, then taken back.
    let two = request_of(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![
                valid_span(),
                ProtoSpan {
                    trace_id: vec![1; 3],
                    ..valid_span()
                },
            ],
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }]);
    for bytes in [bad, two] {
        assert!(append_spans_from_protobuf(&bytes, &interner, &mut out).is_err());
        assert_eq!(out.len(), 1);
    }
}

#[test]
fn strings_that_share_a_slot_are_told_apart() {
    // The same length and the same first and last eight bytes: one slot.
    let keys = [
        "http.request.method",
        "http.reqXest.method",
        "http.req\u{e9}st.method",
    ];
    for key in &keys[1..] {
        assert_eq!(
            Recent::slot(key.as_bytes()),
            Recent::slot(keys[0].as_bytes())
        );
    }
    let interner = Interner::default();
    let mut walk = Walk::new(&interner);
    for _ in 0..3 {
        for key in keys {
            let got = walk.intern(key.as_bytes()).expect("valid UTF-8");
            assert_eq!(got.as_str(), key);
            assert!(got.is_immortal());
        }
    }
    // Bytes that are not UTF-8, in a slot that holds a string: declined.
    let mut bad = keys[0].as_bytes().to_vec();
    bad[10] = 0xff;
    assert_eq!(Recent::slot(&bad), Recent::slot(keys[0].as_bytes()));
    assert!(walk.intern(&bad).is_err());

    // An interner that is full hands out copies; they are right, and not remembered.
    let full = Interner::new(0);
    let mut walk = Walk::new(&full);
    for _ in 0..2 {
        let got = walk.intern(b"service.name").unwrap();
        assert_eq!(got.as_str(), "service.name");
        assert!(!got.is_immortal());
    }
    assert!(walk.recent.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn encoding_spans_writes_the_bytes_prost_writes(request in common::request()) {
        let spans = spans_from_request(&request, &Interner::default()).expect("valid ids");
        let expected = crate::request_from_spans(&spans);
        let mut bytes = vec![7]; // appended to what is there
        encode_spans(&spans, &mut bytes);
        let by_prost = expected.encode_to_vec();
        prop_assert_eq!(&bytes[1..], by_prost.as_slice());
        let mut framed = Vec::new();
        encode_spans_length_delimited(&spans, &mut framed);
        prop_assert_eq!(framed, expected.encode_length_delimited_to_vec());
    }
}

#[test]
fn encoding_writes_long_messages_nan_and_negative_values_as_prost_does() {
    use std::sync::Arc;
    use tailsift::{KeyValue as Attribute, Origin, Resource, Span as EngineSpan, SpanId, TraceId};

    let origin = |service: &str| {
        Arc::new(Origin {
            resource: Arc::new(Resource {
                attributes: vec![Attribute::new("service.name", service)],
                ..Resource::default()
            }),
            ..Origin::default()
        })
    };
    // Two equal resources in two `Arc`s, and one other: two groups.
    let origins = [origin("checkout"), origin("cart"), origin("checkout")];
    let span = |i: usize, attributes: Vec<Attribute>| EngineSpan {
        trace_id: TraceId([i as u8 + 1; 16]),
        span_id: SpanId([i as u8 + 1; 8]),
        name: format!("op {i}").into(),
        attributes: attributes.into_boxed_slice(),
        origin: Arc::clone(&origins[i % 3]),
        ..EngineSpan::default()
    };
    let spans = vec![
        // Lengths of one, two and three bytes: 100 B, 300 B, 20 kB values.
        span(0, vec![Attribute::new("a", "x".repeat(100))]),
        span(1, vec![Attribute::new("b", "y".repeat(300))]),
        span(2, vec![Attribute::new("c", "z".repeat(20_000))]),
        span(
            3,
            vec![
                Attribute::new("nan", f64::NAN),
                Attribute::new("negative", -1i64),
                Attribute::new("min", i64::MIN),
                Attribute::new("false", false),
                Attribute::new("empty", ""),
                Attribute {
                    key: "".into(),
                    value: Value::Empty,
                },
                Attribute::new(
                    "nested",
                    Value::Array(Arc::new(vec![
                        Value::Array(Arc::new(Vec::new())),
                        Value::KvList(Arc::new(vec![Attribute::new("k", 0.0)])),
                        Value::Bytes(Arc::new(Vec::new())),
                    ])),
                ),
            ],
        ),
    ];
    let mut bytes = Vec::new();
    encode_spans(&spans, &mut bytes);
    assert_eq!(bytes, crate::request_from_spans(&spans).encode_to_vec());
    assert!(bytes.len() > 20_000);

    let mut none = Vec::new();
    encode_spans(&[], &mut none);
    assert!(none.is_empty());
    encode_spans_length_delimited(&[], &mut none);
    assert_eq!(none, [0]);
}

#[test]
fn lists_are_as_long_as_their_contents_as_convert_makes_them() {
    // A buffered span keeps its lists: room beyond their length is memory held for nothing
    // (one exception event in a vector grown by pushing holds room for four).
    let event = opentelemetry_proto::tonic::trace::v1::span::Event {
        name: "exception".into(),
        attributes: vec![
            attribute("exception.type", string_value("java.io.IOException")),
            attribute("exception.message", string_value("connection reset")),
            attribute(
                "exception.stacktrace",
                string_value("at Foo.bar(Foo.java:1)"),
            ),
        ],
        ..Default::default()
    };
    let link = opentelemetry_proto::tonic::trace::v1::span::Link {
        trace_id: vec![3; 16],
        span_id: vec![4; 8],
        attributes: vec![attribute("a", string_value("b"))],
        ..Default::default()
    };
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![string_value("x")],
        })),
    };
    let bytes = one_span(ProtoSpan {
        events: vec![event],
        links: vec![link],
        attributes: vec![attribute("list", array)],
        ..valid_span()
    });
    assert_walked_as_prost(&bytes);
    let spans = walked(&bytes, &Interner::default()).unwrap();
    let extra = spans[0].extra.as_ref().expect("events and links");
    assert_eq!(extra.events.capacity(), 1);
    assert_eq!(extra.events[0].attributes.capacity(), 3);
    assert_eq!(extra.links.capacity(), 1);
    assert_eq!(extra.links[0].attributes.capacity(), 1);
    let Value::Array(values) = &spans[0].attributes[0].value else {
        panic!("an array")
    };
    assert_eq!(values.capacity(), 1);
    // What convert makes, for comparison.
    let by_convert = by_prost(&bytes, &Interner::default()).unwrap();
    let converted = by_convert[0].extra.as_ref().unwrap();
    assert_eq!(converted.events.capacity(), 1);
    assert_eq!(converted.events[0].attributes.capacity(), 3);
}
