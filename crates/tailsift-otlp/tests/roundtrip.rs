//! Round trips: proto → Span → proto, JSON ↔ proto, Span → JSON → Span, and the rules for
//! messages that are not in canonical form.

mod common;

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use proptest::prelude::*;
use tailsift::{
    Interner, KeyValue, Origin, Resource, Scope, Span, SpanId, SpanKind, StatusCode, Value,
};
use tailsift_otlp::prost::Message;
use tailsift_otlp::{json, request_from_spans, spans_from_request};

fn to_spans(request: &ExportTraceServiceRequest) -> Vec<Span> {
    spans_from_request(request, &Interner::default()).expect("valid request")
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 256 cases by default; PROPTEST_CASES=N runs more.
        failure_persistence: None, // the failing input is printed; no files beside the tests
        ..ProptestConfig::default()
    })]

    #[test]
    fn proto_to_spans_and_back_is_equal_field_by_field(request in common::request()) {
        let spans = to_spans(&request);
        prop_assert_eq!(request_from_spans(&spans), request);
    }

    #[test]
    fn spans_of_one_resource_or_scope_share_one_arc(request in common::request()) {
        let spans = to_spans(&request);
        let mut i = 0;
        for rs in &request.resource_spans {
            let first_of_resource = i;
            for ss in &rs.scope_spans {
                let first_of_scope = i;
                for _ in &ss.spans {
                    prop_assert!(Arc::ptr_eq(&spans[i].origin.resource, &spans[first_of_resource].origin.resource));
                    prop_assert!(Arc::ptr_eq(&spans[i].origin, &spans[first_of_scope].origin));
                    prop_assert_eq!(&*spans[i].resource().schema_url, rs.schema_url.as_str());
                    prop_assert_eq!(&*spans[i].scope().schema_url, ss.schema_url.as_str());
                    i += 1;
                }
            }
        }
        prop_assert_eq!(i, spans.len());
    }

    #[test]
    fn json_to_proto_and_back_is_equal(request in common::request()) {
        let line = json::to_string(&request);
        prop_assert!(!line.contains('\n'), "one request is one line");
        prop_assert_eq!(json::from_str(&line).expect("own JSON parses"), request);
    }

    #[test]
    fn spans_to_json_and_back_are_equal(request in common::request()) {
        let spans = to_spans(&request);
        let line = json::to_string(&request_from_spans(&spans));
        let back = to_spans(&json::from_str(&line).expect("own JSON parses"));
        prop_assert_eq!(back, spans);
    }

    #[test]
    fn spans_to_protobuf_bytes_and_back_are_equal(request in common::request()) {
        let spans = to_spans(&request);
        let bytes = request_from_spans(&spans).encode_to_vec();
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("own bytes decode");
        prop_assert_eq!(to_spans(&decoded), spans);
    }

    #[test]
    fn decoded_spans_never_hold_an_empty_extra_box(request in common::request()) {
        for span in to_spans(&request) {
            prop_assert!(span.extra.as_ref().is_none_or(|extra| !extra.is_empty()));
        }
    }
}

/// `span` alone in a request, in canonical form (what this crate writes).
fn canonical(span: ProtoSpan) -> ExportTraceServiceRequest {
    let mut request = one_span(span);
    request.resource_spans[0].resource = Some(Default::default());
    request.resource_spans[0].scope_spans[0].scope = Some(Default::default());
    request
}

/// A span as SDKs write most of them: attributes, a status, no events, links or tracestate.
fn ordinary() -> ProtoSpan {
    let mut span = ids();
    span.name = "GET /cart".into();
    span.kind = 2;
    span.attributes.push(ProtoKeyValue {
        key: "http.route".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("/cart".into())),
        }),
        key_strindex: 0,
    });
    span.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
        message: String::new(),
        code: 2,
    });
    span
}

#[test]
fn an_ordinary_span_decodes_without_an_extra_box() {
    let request = canonical(ordinary());
    let from_proto = to_spans(&request);
    assert!(from_proto[0].extra.is_none());
    let from_json = to_spans(&json::from_str(&json::to_string(&request)).unwrap());
    assert!(from_json[0].extra.is_none());
    assert_eq!(from_json, from_proto);
    // And it is written back exactly as it came.
    assert_eq!(request_from_spans(&from_proto), request);
}

#[test]
fn each_rarely_set_field_alone_makes_an_extra_box() {
    let mut proto: Vec<ProtoSpan> = vec![ordinary(); 7];
    proto[0].trace_state = "k=v".into();
    proto[1].dropped_attributes_count = 1;
    proto[2].events.push(Default::default());
    proto[3].dropped_events_count = 1;
    proto[4]
        .links
        .push(opentelemetry_proto::tonic::trace::v1::span::Link {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            ..Default::default()
        });
    proto[5].dropped_links_count = 1;
    if let Some(status) = &mut proto[6].status {
        status.message = "m".into();
    }
    for span in proto {
        let request = canonical(span);
        let spans = to_spans(&request);
        assert!(spans[0].extra.is_some(), "{:?}", request);
        assert_eq!(request_from_spans(&spans), request);
    }
}

#[test]
fn a_span_with_events_links_and_trace_state_round_trips_through_proto_and_json() {
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    let string = |s: &str| {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        })
    };
    let mut span = ordinary();
    span.trace_state = "vendor=abc,ot=th:8".into();
    span.dropped_attributes_count = 3;
    span.events.push(Event {
        time_unix_nano: 1_000,
        name: "exception".into(),
        attributes: vec![ProtoKeyValue {
            key: "exception.type".into(),
            value: string("CardDeclined"),
            key_strindex: 0,
        }],
        dropped_attributes_count: 1,
    });
    span.dropped_events_count = 4;
    span.links.push(Link {
        trace_id: vec![3; 16],
        span_id: vec![4; 8],
        trace_state: "congo=t61rcWkgMzE".into(),
        attributes: vec![ProtoKeyValue {
            key: "link.reason".into(),
            value: string("retry"),
            key_strindex: 0,
        }],
        dropped_attributes_count: 2,
        flags: 0x301,
    });
    span.dropped_links_count = 5;
    if let Some(status) = &mut span.status {
        status.message = "card declined".into();
    }
    let request = canonical(span);

    let spans = to_spans(&request);
    let s = &spans[0];
    assert_eq!(s.trace_state(), "vendor=abc,ot=th:8");
    assert_eq!(s.dropped_attributes_count(), 3);
    assert_eq!(s.events().len(), 1);
    assert_eq!(&*s.events()[0].name, "exception");
    assert_eq!(s.dropped_events_count(), 4);
    assert_eq!(s.links().len(), 1);
    assert_eq!(&*s.links()[0].trace_state, "congo=t61rcWkgMzE");
    assert_eq!(s.dropped_links_count(), 5);
    assert_eq!(s.status_message(), "card declined");

    // proto → Span → proto, and through protobuf bytes.
    assert_eq!(request_from_spans(&spans), request);
    let bytes = request_from_spans(&spans).encode_to_vec();
    let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(to_spans(&decoded), spans);
    // Span → JSON → Span.
    let line = json::to_string(&request_from_spans(&spans));
    assert_eq!(to_spans(&json::from_str(&line).unwrap()), spans);
}

fn one_span(span: ProtoSpan) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn ids() -> ProtoSpan {
    ProtoSpan {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..ProtoSpan::default()
    }
}

#[test]
fn absent_resource_scope_status_and_value_read_as_empty() {
    let mut span = ids();
    span.attributes.push(ProtoKeyValue {
        key: "k".into(),
        value: None,
        key_strindex: 0,
    });
    let spans = to_spans(&one_span(span));
    assert_eq!(*spans[0].resource(), Resource::default());
    assert_eq!(*spans[0].scope(), Scope::default());
    assert_eq!(spans[0].status_code, StatusCode::Unset);
    assert_eq!(*spans[0].attributes, vec![KeyValue::new("k", Value::Empty)]);

    // Written back in canonical form: every message field present.
    let back = request_from_spans(&spans);
    let rs = &back.resource_spans[0];
    assert!(rs.resource.is_some() && rs.scope_spans[0].scope.is_some());
    let written = &rs.scope_spans[0].spans[0];
    assert_eq!(written.status, Some(Default::default()));
    assert_eq!(written.attributes[0].value, Some(AnyValue { value: None }));
}

#[test]
fn unknown_kind_and_status_code_read_as_unspecified_and_unset() {
    let mut span = ids();
    span.kind = 42;
    span.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
        message: "m".into(),
        code: -1,
    });
    let spans = to_spans(&one_span(span));
    assert_eq!(spans[0].kind, SpanKind::Unspecified);
    assert_eq!(spans[0].status_code, StatusCode::Unset);
    assert_eq!(spans[0].status_message(), "m");
}

#[test]
fn zero_parent_id_means_no_parent_and_is_written_empty() {
    let mut span = ids();
    span.parent_span_id = vec![0; 8];
    let spans = to_spans(&one_span(span));
    assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
    assert!(spans[0].is_root());
    let back = request_from_spans(&spans);
    assert!(back.resource_spans[0].scope_spans[0].spans[0]
        .parent_span_id
        .is_empty());
}

#[test]
fn profiles_only_strindex_fields_read_as_absent() {
    let mut span = ids();
    span.attributes.push(ProtoKeyValue {
        key: "k".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValueStrindex(3)),
        }),
        key_strindex: 7,
    });
    let spans = to_spans(&one_span(span));
    assert_eq!(*spans[0].attributes, vec![KeyValue::new("k", Value::Empty)]);
}

#[test]
fn scopes_and_resources_without_spans_are_dropped() {
    let mut request = one_span(ids());
    request.resource_spans[0]
        .scope_spans
        .push(ScopeSpans::default());
    request.resource_spans.push(ResourceSpans::default());
    let spans = to_spans(&request);
    assert_eq!(spans.len(), 1);
    assert_eq!(request_from_spans(&spans).resource_spans.len(), 1);
}

#[test]
fn interleaved_spans_are_grouped_by_arc_then_by_equality() {
    let checkout = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", "checkout")],
        ..Resource::default()
    });
    let checkout_again = Arc::new((*checkout).clone()); // equal, another allocation
    let cart = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", "cart")],
        ..Resource::default()
    });
    let lib = Scope {
        name: "lib".into(),
        ..Scope::default()
    };
    // Each span its own origin: equal scopes under one resource are grouped by equality.
    let span = |name: &str, resource: &Arc<Resource>| Span {
        name: name.into(),
        origin: Arc::new(Origin {
            resource: Arc::clone(resource),
            scope: lib.clone(),
        }),
        ..Span::default()
    };
    let spans = [
        span("a", &checkout),
        span("b", &cart),
        span("c", &checkout_again),
        span("d", &checkout),
    ];
    let request = request_from_spans(&spans);
    let names: Vec<Vec<&str>> = request
        .resource_spans
        .iter()
        .map(|rs| {
            assert_eq!(rs.scope_spans.len(), 1);
            rs.scope_spans[0]
                .spans
                .iter()
                .map(|s| s.name.as_str())
                .collect()
        })
        .collect();
    assert_eq!(names, vec![vec!["a", "c", "d"], vec!["b"]]);
}

#[test]
fn names_keys_and_resource_strings_are_interned_but_values_of_unlisted_keys_are_not() {
    // Attribute values longer than a `Text` holds in place, so that interning shows.
    let line = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"deployment.environment.name","value":{"stringValue":"checkout-production"}}]},
        "scopeSpans":[{"scope":{"name":"io.opentelemetry.http"},"spans":[
        {"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"GET /api/checkout/{id}","attributes":[{"key":"app.user.identifier","value":{"stringValue":"user-000000000001"}},{"key":"tier","value":{"stringValue":"premium"}}]},
        {"traceId":"01010101010101010101010101010101","spanId":"0202020202020203","name":"GET /api/checkout/{id}","attributes":[{"key":"app.user.identifier","value":{"stringValue":"user-000000000002"}},{"key":"tier","value":{"stringValue":"premium"}}]}]}]}]}"#;
    let interner = Interner::default();
    let spans = spans_from_request(&json::from_str(line).unwrap(), &interner).unwrap();
    assert_eq!(spans.len(), 2);
    // Interned: the resource's key and value, the scope's name, the span name and the two
    // attribute keys; not the user values. A short value ("premium") is held in place.
    assert_eq!(interner.len(), 6);
    let name = interner.intern("GET /api/checkout/{id}");
    assert!(name.ptr_eq(&spans[1].name) && name.is_immortal());
    let user = spans[1].attributes[0].value.as_str().unwrap();
    assert_eq!(user, "user-000000000002");
    let tier = &spans[1].attributes[1];
    assert!(tier.key.ptr_eq(&interner.intern("tier")));
    assert!(matches!(&tier.value, Value::Str(s) if s.is_inline() && s == "premium"));
}

#[test]
fn long_values_of_low_cardinality_keys_are_interned_and_round_trip() {
    // Two requests, as two batches from an exporter: a route and an RPC service (both long,
    // both low-cardinality by the semantic conventions) and a URL (long, often unique).
    let request = |span_id: &str, order: u32| {
        json::from_str(&format!(
            r#"{{"resourceSpans":[{{"resource":{{}},"scopeSpans":[{{"spans":[
            {{"traceId":"01010101010101010101010101010101","spanId":"{span_id}","name":"Charge","attributes":[
            {{"key":"http.route","value":{{"stringValue":"/api/orders/{{id}}/invoice"}}}},
            {{"key":"rpc.service","value":{{"stringValue":"oteldemo.PaymentService"}}}},
            {{"key":"url.full","value":{{"stringValue":"https://payments.internal/v1/charge?order={order}"}}}}],
            "events":[{{"name":"exception","attributes":[
            {{"key":"exception.type","value":{{"stringValue":"java.net.SocketTimeoutException"}}}}]}}]}}]}}]}}]}}"#
        ))
        .unwrap()
    };
    let interner = Interner::default();
    let first = request("0202020202020202", 1);
    let a = spans_from_request(&first, &interner).unwrap();
    let b = spans_from_request(&request("0202020202020203", 2), &interner).unwrap();
    let value = |span: &Span, i: usize| match &span.attributes[i].value {
        Value::Str(text) => text
            .as_shared()
            .expect("too long to be held in place")
            .clone(),
        other => panic!("not a string: {other:?}"),
    };
    for i in [0, 1] {
        assert!(value(&a[0], i).is_immortal() && value(&a[0], i).ptr_eq(&value(&b[0], i)));
    }
    let (url_a, url_b) = (value(&a[0], 2), value(&b[0], 2));
    assert!(!url_a.is_immortal() && !url_b.is_immortal() && url_a != url_b);
    let exception = |span: &Span| match &span.extra.as_ref().unwrap().events[0].attributes[0].value
    {
        Value::Str(text) => text.as_shared().unwrap().clone(),
        other => panic!("not a string: {other:?}"),
    };
    assert!(exception(&a[0]).is_immortal() && exception(&a[0]).ptr_eq(&exception(&b[0])));
    // Interned or not, the spans are the same, and convert back the same.
    let plain = spans_from_request(&first, &Interner::new(0)).unwrap();
    assert!(!value(&plain[0], 0).is_immortal());
    assert_eq!(a, plain);
    assert_eq!(request_from_spans(&a), request_from_spans(&plain));
    let span = |r: &ExportTraceServiceRequest| r.resource_spans[0].scope_spans[0].spans[0].clone();
    let (back, sent) = (span(&request_from_spans(&a)), span(&first));
    assert_eq!(
        (back.attributes, back.events),
        (sent.attributes, sent.events)
    );
}

#[test]
fn json_keeps_nan_and_infinities() {
    for d in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
        let mut span = ids();
        span.attributes.push(ProtoKeyValue {
            key: "d".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(d)),
            }),
            key_strindex: 0,
        });
        let line = json::to_string(&one_span(span));
        let back = json::from_str(&line).unwrap();
        let got = match &back.resource_spans[0].scope_spans[0].spans[0].attributes[0].value {
            Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(got)),
            }) => *got,
            other => panic!("not a double: {other:?}"),
        };
        assert_eq!(got.to_bits(), d.to_bits(), "{line}");
    }
}
