//! Oracle: any OTLP protobuf request that decodes and converts is a fixed point of
//! Span → proto → Span (the bridge loses nothing it accepted), and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailsift_otlp::opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift_otlp::prost::Message;
use tailsift_otlp::{request_from_spans, spans_from_request, Interner};

/// One interner for the whole run, as a pipeline keeps one: interned strings are immortal, so
/// one per input would grow the process until the fuzzer's memory limit stops it.
fn interner() -> &'static Interner {
    static INTERNER: std::sync::OnceLock<Interner> = std::sync::OnceLock::new();
    INTERNER.get_or_init(Interner::default)
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ExportTraceServiceRequest::decode(data) else {
        return;
    };
    let interner = interner();
    let Ok(spans) = spans_from_request(&request, &interner) else {
        return;
    };
    let again = request_from_spans(&spans);
    let bytes = again.encode_to_vec();
    let decoded =
        ExportTraceServiceRequest::decode(bytes.as_slice()).expect("own encoding decodes");
    let spans_again = spans_from_request(&decoded, &interner).expect("own encoding converts");
    assert_eq!(spans, spans_again, "Span -> proto -> Span changed a span");
});
