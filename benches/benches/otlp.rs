//! OTLP protobuf, OTLP/JSON and engine spans. Decoding requests into spans, as `tailsift replay`
//! and a collector's OTLP receiver do: prost's messages converted (`spans_from_request`), against
//! the walk over the bytes (`spans_from_protobuf`); for OTLP/JSON, the mirror types' messages
//! converted, against the JSON walk (`json::spans_from_slice`). Encoding spans into requests, as
//! an exporter of kept spans does: converted to prost's messages and encoded, against
//! `encode_spans`, and to OTLP/JSON through the mirrors against `json::spans_to_string`. The
//! requests are the mission's first batches, one request per batch as
//! `tailsift demo --export` writes them; one interner serves every iteration, as one serves a
//! pipeline.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tailsift::Interner;
use tailsift_otlp::opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tailsift_otlp::prost::Message;
use tailsift_otlp::{
    encode_spans, json, request_from_spans, spans_from_protobuf, spans_from_request,
};
use tailsift_traffic::Workload;

mod common;

/// Spans in the decoded requests.
const SPANS: usize = 20_000;

fn decode(c: &mut Criterion) {
    let workload = Workload::from_name("mission")
        .expect("a built-in workload")
        .with_seed(7);
    let mut requests = Vec::new();
    let mut lines = Vec::new();
    let mut batches = Vec::new();
    let mut spans = 0;
    for batch in workload.traffic().expect("a valid workload") {
        if batch.spans.is_empty() {
            continue;
        }
        spans += batch.spans.len();
        let request = request_from_spans(&batch.spans);
        requests.push(request.encode_to_vec());
        lines.push(json::to_string(&request));
        batches.push(batch.spans);
        if spans >= SPANS {
            break;
        }
    }
    let bytes: usize = requests.iter().map(Vec::len).sum();
    let interner = Interner::default();
    let mut group = c.benchmark_group(format!(
        "otlp_decode_{spans}_spans_{}_requests_{bytes}_bytes",
        requests.len()
    ));
    group.throughput(Throughput::Elements(spans as u64));
    group.bench_function("prost_then_convert", |b| {
        b.iter(|| {
            let mut decoded = 0;
            for bytes in &requests {
                let request = ExportTraceServiceRequest::decode(black_box(bytes.as_slice()))
                    .expect("a valid request");
                decoded += spans_from_request(&request, &interner)
                    .expect("valid ids")
                    .len();
            }
            black_box(decoded)
        })
    });
    // The conversion alone, from requests already decoded: what a receiver built on tonic's
    // generated service, which hands over prost's messages, pays.
    let decoded: Vec<ExportTraceServiceRequest> = requests
        .iter()
        .map(|bytes| ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid"))
        .collect();
    group.bench_function("convert_only", |b| {
        b.iter(|| {
            let mut converted = 0;
            for request in &decoded {
                converted += spans_from_request(black_box(request), &interner)
                    .expect("valid ids")
                    .len();
            }
            black_box(converted)
        })
    });
    // The same on two threads at once, one interner between them, as a receiver's workers.
    group.bench_function("convert_only_two_threads", |b| {
        b.iter(|| {
            let (first, second) = decoded.split_at(decoded.len() / 2);
            let convert = |requests: &[ExportTraceServiceRequest]| {
                requests
                    .iter()
                    .map(|r| {
                        spans_from_request(black_box(r), &interner)
                            .expect("valid ids")
                            .len()
                    })
                    .sum::<usize>()
            };
            std::thread::scope(|scope| {
                let other = scope.spawn(|| convert(second));
                black_box(convert(first) + other.join().expect("converts"))
            })
        })
    });
    group.bench_function("walk", |b| {
        b.iter(|| {
            let mut decoded = 0;
            for bytes in &requests {
                decoded += spans_from_protobuf(black_box(bytes), &interner)
                    .expect("a valid request")
                    .len();
            }
            black_box(decoded)
        })
    });
    // The walk on two threads at once, one interner between them.
    group.bench_function("walk_two_threads", |b| {
        b.iter(|| {
            let (first, second) = requests.split_at(requests.len() / 2);
            let walk = |requests: &[Vec<u8>]| {
                requests
                    .iter()
                    .map(|r| {
                        spans_from_protobuf(black_box(r), &interner)
                            .expect("valid")
                            .len()
                    })
                    .sum::<usize>()
            };
            std::thread::scope(|scope| {
                let other = scope.spawn(|| walk(second));
                black_box(walk(first) + other.join().expect("walks"))
            })
        })
    });
    group.finish();

    let json_bytes: usize = lines.iter().map(String::len).sum();
    let mut group = c.benchmark_group(format!(
        "otlp_json_decode_{spans}_spans_{}_requests_{json_bytes}_bytes",
        lines.len()
    ));
    group.throughput(Throughput::Elements(spans as u64));
    group.bench_function("mirror_then_convert", |b| {
        b.iter(|| {
            let mut decoded = 0;
            for line in &lines {
                let request = json::from_str(black_box(line)).expect("a valid request");
                decoded += spans_from_request(&request, &interner)
                    .expect("valid ids")
                    .len();
            }
            black_box(decoded)
        })
    });
    group.bench_function("walk", |b| {
        b.iter(|| {
            let mut decoded = 0;
            for line in &lines {
                decoded += json::spans_from_slice(black_box(line.as_bytes()), &interner)
                    .expect("a valid request")
                    .len();
            }
            black_box(decoded)
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!(
        "otlp_encode_{spans}_spans_{}_requests_{bytes}_bytes",
        requests.len()
    ));
    group.throughput(Throughput::Elements(spans as u64));
    let mut out = Vec::new();
    group.bench_function("convert_then_prost", |b| {
        b.iter(|| {
            let mut written = 0;
            for spans in &batches {
                out.clear();
                request_from_spans(black_box(spans))
                    .encode(&mut out)
                    .expect("a Vec grows");
                written += out.len();
            }
            black_box(written)
        })
    });
    group.bench_function("encode_spans", |b| {
        b.iter(|| {
            let mut written = 0;
            for spans in &batches {
                out.clear();
                encode_spans(black_box(spans), &mut out);
                written += out.len();
            }
            black_box(written)
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!(
        "otlp_json_encode_{spans}_spans_{}_requests_{json_bytes}_bytes",
        lines.len()
    ));
    group.throughput(Throughput::Elements(spans as u64));
    group.bench_function("convert_then_serialize", |b| {
        b.iter(|| {
            let mut written = 0;
            for spans in &batches {
                out.clear();
                json::to_writer(&mut out, &request_from_spans(black_box(spans)))
                    .expect("a Vec grows");
                written += out.len();
            }
            black_box(written)
        })
    });
    group.bench_function("spans_to_writer", |b| {
        b.iter(|| {
            let mut written = 0;
            for spans in &batches {
                out.clear();
                json::spans_to_writer(&mut out, black_box(spans)).expect("a Vec grows");
                written += out.len();
            }
            black_box(written)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = decode
}
criterion_main!(benches);
