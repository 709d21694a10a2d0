//! Oracle: any OTLP protobuf request that decodes and converts is a fixed point of
//! Span → proto → Span (the bridge loses nothing it accepted), and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailsift_otlp::opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift_otlp::prost::Message;
use tailsift_otlp::{request_from_spans, spans_from_request, Interner};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ExportTraceServiceRequest::decode(data) else {
        return;
    };
    let interner = Interner::default();
    let Ok(spans) = spans_from_request(&request, &interner) else {
        return;
    };
    let again = request_from_spans(&spans);
    let bytes = again.encode_to_vec();
    let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("own encoding decodes");
    let spans_again = spans_from_request(&decoded, &interner).expect("own encoding converts");
    assert_eq!(spans, spans_again, "Span -> proto -> Span changed a span");
});
