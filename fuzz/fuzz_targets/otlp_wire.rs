//! Oracle: the walk over protobuf bytes (`spans_from_protobuf`) gives what prost's decoding
//! and `spans_from_request` give, the spans or the error, on any bytes; and `encode_spans`
//! writes the bytes prost writes for `request_from_spans`. Nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailsift_otlp::opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift_otlp::prost::Message;
use tailsift_otlp::{
    encode_spans, request_from_spans, spans_from_protobuf, spans_from_request, Interner,
};

/// One interner for the whole run, as a pipeline keeps one: interned strings are immortal, so
/// one per input would grow the process until the fuzzer's memory limit stops it.
fn interner() -> &'static Interner {
    static INTERNER: std::sync::OnceLock<Interner> = std::sync::OnceLock::new();
    INTERNER.get_or_init(Interner::default)
}

fuzz_target!(|data: &[u8]| {
    let interner = interner();
    let walked = spans_from_protobuf(data, &interner).map_err(|e| e.to_string());
    let by_prost = match ExportTraceServiceRequest::decode(data) {
        Ok(request) => spans_from_request(&request, &interner)
            .map_err(|e| tailsift_otlp::ProtobufError::Convert(e).to_string()),
        Err(e) => Err(tailsift_otlp::ProtobufError::Decode(e).to_string()),
    };
    // By their text: a double may be NaN, which is not equal to itself.
    assert_eq!(
        format!("{walked:?}"),
        format!("{by_prost:?}"),
        "the walk and prost differ"
    );
    if let Ok(spans) = walked {
        let mut bytes = Vec::new();
        encode_spans(&spans, &mut bytes);
        assert_eq!(
            bytes,
            request_from_spans(&spans).encode_to_vec(),
            "encode_spans and prost differ"
        );
    }
});
