//! CEL policies, one trace at a time: trace-level expressions (fields of `trace`, no span
//! read), span-scanning ones (`spans.exists(...)`), the critical-path one, and the mission's four
//! as a policy set beside the native four.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tailsift::{Decider, Span};
use tailsift_benches::workloads::{
    collect_traces, demo_cel_expressions, mission_policy_set, PolicyForm, SpanFactory,
};
use tailsift_cel::CelPolicy;
use tailsift_traffic::Workload;

mod common;

fn expressions() -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("trace_level/error_count", "trace.error_count > 0".to_string()),
        (
            "trace_level/duration",
            "trace.duration_ms >= 500.0".to_string(),
        ),
        (
            "span_scan/status_500",
            r#"spans.exists(s, s.attributes[?"http.response.status_code"] == optional.of(500))"#
                .to_string(),
        ),
        (
            "span_scan/route_prefix",
            r#"spans.exists(s, "http.route" in s.attributes && s.attributes["http.route"].startsWith("/api/check"))"#
                .to_string(),
        ),
    ];
    for (name, expr) in demo_cel_expressions() {
        let label = match name {
            "errors" => "mission/errors",
            "slow" => "mission/slow",
            "checkout" => "mission/checkout",
            _ => "mission/baseline",
        };
        out.push((label, expr.to_string()));
    }
    out
}

fn cel(c: &mut Criterion) {
    let workload = Workload::from_name("mission").expect("mission is a workload");
    let mission = collect_traces(&workload, 2_000).expect("the mission traffic builds");
    let factory = SpanFactory::new();
    let big: Vec<Vec<Span>> = (0..20u128)
        .map(|t| {
            let mut s = factory.trace(t + 1, 100, Duration::from_millis(80), t % 4 == 0);
            tailsift::view::sort_spans(&mut s);
            s
        })
        .collect();
    for (label, traces) in [("mission_traces", &mission), ("100_span_traces", &big)] {
        let mut group = c.benchmark_group(format!("cel_per_trace/{label}"));
        group.throughput(Throughput::Elements(traces.len() as u64));
        for (name, expr) in expressions() {
            let policy = CelPolicy::compile(name, &expr).expect("the bench's expressions compile");
            common::bench_per_trace(&mut group, name, &policy, traces);
        }
        group.finish();
    }

    let mut group = c.benchmark_group("policy_set_per_trace");
    group.throughput(Throughput::Elements(mission.len() as u64));
    for form in [PolicyForm::Native, PolicyForm::Cel] {
        let set = mission_policy_set(form).expect("the mission's policies build");
        group.bench_function(format!("mission_{}", form.as_str()), |b| {
            b.iter_batched_ref(
                || mission.iter().map(|t| common::view(t)).collect::<Vec<_>>(),
                |views| {
                    for v in views.iter_mut() {
                        black_box(set.decide(v));
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = cel
}
criterion_main!(benches);
