//! Oracle: the OTLP/JSON walk (`json::spans_from_slice`) gives what the mirror types' parsing
//! (`json::from_slice`) and `spans_from_request` give, the spans or the error, on any text:
//! the input itself, and the input decoded as protobuf and written as OTLP/JSON (valid
//! documents, which random text seldom is). The spans read are written back as the mirrors
//! write their request (`json::spans_to_string`). Nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailsift_otlp::json::{self, JsonError};
use tailsift_otlp::opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift_otlp::prost::Message;
use tailsift_otlp::{request_from_spans, spans_from_request, Interner};

/// One interner for the whole run, as a pipeline keeps one: interned strings are immortal, so
/// one per input would grow the process until the fuzzer's memory limit stops it.
fn interner() -> &'static Interner {
    static INTERNER: std::sync::OnceLock<Interner> = std::sync::OnceLock::new();
    INTERNER.get_or_init(Interner::default)
}

/// The walk and the mirrors agree on `text`.
fn check(text: &[u8]) {
    let interner = interner();
    let walked = json::spans_from_slice(text, interner).map_err(|e| e.to_string());
    let by_mirror = match json::from_slice(text) {
        Ok(request) => spans_from_request(&request, interner)
            .map_err(|e| JsonError::Convert(e).to_string()),
        Err(e) => Err(JsonError::Parse(e).to_string()),
    };
    // By their text: a double may be NaN, which is not equal to itself.
    assert_eq!(
        format!("{walked:?}"),
        format!("{by_mirror:?}"),
        "the walk and the mirrors differ"
    );
    if let Ok(spans) = walked {
        assert_eq!(
            json::spans_to_string(&spans),
            json::to_string(&request_from_spans(&spans)),
            "spans_to_string and the mirrors differ"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Ok(request) = ExportTraceServiceRequest::decode(data) {
        check(json::to_string(&request).as_bytes());
    }
});
