//! Native policies, one trace at a time: each built-in's `evaluate` over a prebuilt view (the
//! composites over errors and an absolute latency), the anchor's and the mission's whole policy
//! sets (`Decider::decide`, baseline and counting included), and the facts policies share:
//! building a `TraceView`, its children index and its critical path (which must stay linear in
//! spans).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tailsift::policy::attribute::{
    AttributeScope, BooleanAttributeConfig, NumericAttributeConfig, StringAttributeConfig,
};
use tailsift::policy::composite::{CompositeConfig, SubPolicyConfig};
use tailsift::policy::errors::ErrorsConfig;
use tailsift::policy::latency::LatencyConfig;
use tailsift::policy::probabilistic::ProbabilisticConfig;
use tailsift::policy::rate_limit::RateLimitConfig;
use tailsift::policy::representative::RepresentativeConfig;
use tailsift::policy::span_count::SpanCountConfig;
use tailsift::policy::status_code::StatusCodeConfig;
use tailsift::policy::{build_policy, PolicyConfig, PolicyKind};
use tailsift::{Decider, Span};
use tailsift_benches::workloads::{
    anchor_policy_set, builders, collect_traces, mission_policies, mission_policy_set, PolicyForm,
    SpanFactory,
};
use tailsift_traffic::Workload;

mod common;

fn mission_traces() -> Vec<Vec<Span>> {
    let workload = Workload::from_name("mission").expect("mission is a workload");
    collect_traces(&workload, 2_000).expect("the mission traffic builds")
}

/// A composite's sub-policies: errors, and slower than 500 ms.
fn errors() -> PolicyConfig {
    PolicyConfig::new("errors", PolicyKind::Errors(ErrorsConfig::default()))
}

fn slow() -> PolicyConfig {
    PolicyConfig::new(
        "slow",
        PolicyKind::Latency(LatencyConfig::absolute(Duration::from_millis(500))),
    )
}

fn native(c: &mut Criterion) {
    let traces = mission_traces();
    let policies: Vec<(&str, PolicyKind)> = vec![
        ("errors", PolicyKind::Errors(ErrorsConfig::default())),
        (
            "status_code",
            PolicyKind::StatusCode(StatusCodeConfig {
                status_codes: vec!["ERROR".into()],
            }),
        ),
        (
            "latency_absolute",
            PolicyKind::Latency(LatencyConfig::absolute(Duration::from_millis(500))),
        ),
        (
            "latency_p95",
            PolicyKind::Latency(LatencyConfig {
                quantile: Some(0.95),
                min_samples: Some(10),
                ..LatencyConfig::default()
            }),
        ),
        (
            "critical_path",
            // The demo's `checkout` policy.
            mission_policies(PolicyForm::Native)
                .ok()
                .and_then(|p| p.into_iter().find(|p| p.name == "checkout"))
                .map(|p| p.kind)
                .expect("the demo config has its checkout policy"),
        ),
        (
            "representative",
            PolicyKind::Representative(RepresentativeConfig {
                rate: 0.1,
                min_per_minute: 6.0,
                ..RepresentativeConfig::default()
            }),
        ),
        (
            "probabilistic",
            PolicyKind::Probabilistic(ProbabilisticConfig { rate: 0.1 }),
        ),
        (
            "string_attribute",
            PolicyKind::StringAttribute(StringAttributeConfig {
                key: "http.route".into(),
                value: Some("/api/checkout".into()),
                scope: AttributeScope::default(),
                ..StringAttributeConfig::default()
            }),
        ),
        (
            "string_attribute_regex",
            PolicyKind::StringAttribute(StringAttributeConfig {
                key: "http.route".into(),
                regex: Some("^/api/(checkout|cart)".into()),
                scope: AttributeScope::default(),
                ..StringAttributeConfig::default()
            }),
        ),
        (
            "numeric_attribute",
            PolicyKind::NumericAttribute(NumericAttributeConfig {
                key: "http.response.status_code".into(),
                min: Some(500.0),
                ..NumericAttributeConfig::default()
            }),
        ),
        (
            // No span of the mission carries the key: every attribute of every span is looked
            // at, the policy's most expensive case.
            "boolean_attribute_absent",
            PolicyKind::BooleanAttribute(BooleanAttributeConfig {
                key: "debug.force_sample".into(),
                value: true,
                ..BooleanAttributeConfig::default()
            }),
        ),
        (
            "span_count",
            PolicyKind::SpanCount(SpanCountConfig {
                min: Some(20),
                max: None,
            }),
        ),
        (
            // The bucket empties early in the timed loop (the views' clock stands still), so
            // this is mostly the refusing path, which takes the same lock.
            "rate_limit",
            PolicyKind::RateLimit(RateLimitConfig {
                spans_per_second: 1_000.0,
                burst: None,
            }),
        ),
        ("always", PolicyKind::Always),
        ("never", PolicyKind::Never),
        (
            "and_errors_slow",
            PolicyKind::And(CompositeConfig {
                policies: vec![errors(), slow()],
            }),
        ),
        (
            "or_errors_slow",
            PolicyKind::Or(CompositeConfig {
                policies: vec![errors(), slow()],
            }),
        ),
        (
            "not_errors",
            PolicyKind::Not(SubPolicyConfig {
                policy: Box::new(errors()),
            }),
        ),
        (
            "drop_health",
            PolicyKind::Drop(SubPolicyConfig {
                policy: Box::new(PolicyConfig::new(
                    "health",
                    PolicyKind::StringAttribute(StringAttributeConfig {
                        key: "http.route".into(),
                        value: Some("/healthz".into()),
                        ..StringAttributeConfig::default()
                    }),
                )),
            }),
        ),
    ];
    let mut group = c.benchmark_group("native_policy_per_trace");
    group.throughput(Throughput::Elements(traces.len() as u64));
    for (name, kind) in policies {
        let policy = build_policy(&PolicyConfig::new(name, kind), &builders())
            .expect("the bench's policies are valid");
        common::bench_per_trace(&mut group, name, &*policy, &traces);
    }
    group.finish();

    let mut group = c.benchmark_group("policy_set_per_trace");
    group.throughput(Throughput::Elements(traces.len() as u64));
    let sets = [
        ("anchor", anchor_policy_set().expect("valid")),
        (
            "mission_native",
            mission_policy_set(PolicyForm::Native).expect("valid"),
        ),
    ];
    for (name, set) in &sets {
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                || traces.iter().map(|t| common::view(t)).collect::<Vec<_>>(),
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

fn facts(c: &mut Criterion) {
    let factory = SpanFactory::new();
    let mut group = c.benchmark_group("trace_facts");
    for n in [10usize, 100, 1_000, 10_000] {
        let spans = factory.trace(42, n, Duration::from_millis(200), false);
        let mut sorted = spans.clone();
        tailsift::view::sort_spans(&mut sorted);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("sort_spans/{n}"), |b| {
            b.iter_batched_ref(
                || spans.clone(),
                |s| tailsift::view::sort_spans(s),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("view_new/{n}"), |b| {
            b.iter(|| black_box(common::view(&sorted)).error_count())
        });
        group.bench_function(format!("critical_path/{n}"), |b| {
            b.iter(|| {
                let v = common::view(&sorted);
                black_box(v.critical_path().spans().len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = native, facts
}
criterion_main!(benches);
