//! Differential test: each mission policy of `examples/cel/` agrees with its native twin
//! (same verdict: keep or abstain, and the same rate) on every trace of a generated corpus of
//! realistic traffic (`tailsift-traffic`'s mission workload: a dozen services, error bursts,
//! slow outliers, a critical checkout path), at least 10,000 traces.
//!
//! The corpus is varied so that every branch of the twins is exercised: a quarter of the traces
//! as generated, a quarter with every status reset to UNSET (errors then show only as HTTP 5xx
//! on server spans and as exception events), a quarter with statuses reset and exception events
//! removed (5xx only; failed HTTP *client* spans must not count), a quarter with HTTP status
//! codes sent as whole doubles.
//!
//! The latency baseline is maintained here as the policy set does it: each trace sees the p50,
//! p95 and p99 of its group (root service and operation) from before it, then is recorded. The
//! native latency policy keeps its own baseline with the same settings.

use std::collections::HashMap;
use std::sync::Arc;

use tailsift::policy::critical_path::{CriticalPathConfig, CriticalPathPolicy};
use tailsift::policy::errors::{ErrorsConfig, ErrorsPolicy};
use tailsift::policy::latency::{LatencyConfig, LatencyPolicy};
use tailsift::policy::representative::{RepresentativeConfig, RepresentativePolicy};
use tailsift::policy::{GroupBy, PolicyBuilders, PolicyConfig, PolicyKind, PolicySet};
use tailsift::sketch::{BaselineConfig, GroupedSketches};
use tailsift::span::{StatusCode, Value};
use tailsift::view::sort_spans;
use tailsift::{CelPolicyConfig, Decider, Policy, Span, TraceFlags, TraceId, TraceView, Verdict};
use tailsift_cel::CelPolicy;
use tailsift_traffic::{MissionConfig, Workload, CRITICAL_OPERATIONS};

const MIN_TRACES: usize = 10_000;
const MISSION: [&str; 4] = ["errors", "latency", "critical_path", "representative"];

fn expression(name: &str) -> String {
    let path = format!(
        "{}/../../examples/cel/{name}.cel",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn cel_twin(name: &str) -> CelPolicy {
    CelPolicy::compile(name, &expression(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn native_configs() -> [PolicyKind; 4] {
    [
        PolicyKind::Errors(ErrorsConfig {
            http_server_errors: true,
            exception_events: true,
        }),
        PolicyKind::Latency(LatencyConfig::default()),
        PolicyKind::CriticalPath(CriticalPathConfig {
            // The mission's operations are span names ("payment:Charge"); the native pattern is
            // `service:span-name`, so each is prefixed with its service.
            operations: CRITICAL_OPERATIONS
                .iter()
                .map(|op| format!("{}:{op}", op.split(':').next().unwrap_or("*")))
                .collect(),
            anywhere: false,
        }),
        PolicyKind::Representative(RepresentativeConfig {
            rate: 0.05,
            ..RepresentativeConfig::default()
        }),
    ]
}

fn native_twins() -> Vec<Arc<dyn Policy>> {
    let [errors, latency, critical, representative] = native_configs();
    let (
        PolicyKind::Errors(errors),
        PolicyKind::Latency(latency),
        PolicyKind::CriticalPath(critical),
        PolicyKind::Representative(representative),
    ) = (errors, latency, critical, representative)
    else {
        unreachable!("native_configs lists the four mission kinds in order")
    };
    vec![
        Arc::new(ErrorsPolicy::new("errors", &errors)),
        Arc::new(LatencyPolicy::new("latency", &latency).unwrap()),
        Arc::new(CriticalPathPolicy::new("critical_path", &critical).unwrap()),
        Arc::new(RepresentativePolicy::new("representative", &representative).unwrap()),
    ]
}

/// A complete trace of the corpus, with the time it was decided at.
struct Trace {
    id: TraceId,
    at: std::time::Duration,
    spans: Vec<Span>,
}

/// Applies variant `index % 4` (see the module docs).
fn vary(index: usize, spans: &mut [Span]) {
    match index % 4 {
        0 => {}
        variant => {
            for span in spans.iter_mut() {
                if variant == 1 || variant == 2 {
                    span.status_code = StatusCode::Unset;
                }
                if variant == 2 {
                    if let Some(extra) = &mut span.extra {
                        extra.events.clear();
                    }
                }
                if variant == 3 {
                    for kv in &mut span.attributes {
                        if let ("http.response.status_code", Value::Int(code)) =
                            (&*kv.key, &kv.value)
                        {
                            kv.value = Value::Double(*code as f64);
                        }
                    }
                }
            }
        }
    }
}

/// At least `min` complete traces of mission traffic, in decision order, varied.
fn corpus(min: usize) -> Vec<Trace> {
    let mut traces = Vec::new();
    for seed in 1.. {
        let workload = Workload::Mission(MissionConfig {
            seed,
            ..MissionConfig::default()
        });
        let mut open: HashMap<TraceId, Vec<Span>> = HashMap::new();
        for batch in workload
            .traffic()
            .expect("the default mission config is valid")
        {
            for span in batch.spans {
                open.entry(span.trace_id).or_default().push(span);
            }
            for truth in batch.completed {
                let Some(mut spans) = open.remove(&truth.trace_id) else {
                    continue;
                };
                sort_spans(&mut spans);
                vary(traces.len(), &mut spans);
                traces.push(Trace {
                    id: truth.trace_id,
                    at: batch.at,
                    spans,
                });
            }
            if traces.len() >= min {
                return traces;
            }
        }
    }
    unreachable!("seeds are endless")
}

fn rate(verdict: &Verdict) -> Option<f64> {
    match verdict {
        Verdict::Keep { rate, .. } => Some(*rate),
        _ => None,
    }
}

#[test]
fn mission_policies_agree_with_their_native_twins() {
    let traces = corpus(MIN_TRACES);
    assert!(traces.len() >= MIN_TRACES);
    let natives = native_twins();
    let cels: Vec<CelPolicy> = MISSION.iter().map(|name| cel_twin(name)).collect();
    let baselines = GroupedSketches::new(BaselineConfig::default());
    let group_by = GroupBy::root_operation();
    let mut kept = [0usize; 4];
    let mut errors_by_variant = [0usize; 4];
    for (index, trace) in traces.iter().enumerate() {
        let mut view = TraceView::new(trace.id, &trace.spans, TraceFlags::default(), trace.at);
        let group = group_by.key(&view);
        view.set_baseline(baselines.baseline(group, trace.at));
        for (i, (native, cel)) in natives.iter().zip(&cels).enumerate() {
            let expected = native.evaluate(&view).expect("native policies do not fail");
            let got = cel.evaluate(&view);
            assert_eq!(
                got.as_ref(),
                Ok(&expected),
                "{} disagrees on trace {} (variant {}): native {expected:?}, CEL {got:?}",
                MISSION[i],
                trace.id,
                index % 4,
            );
            if rate(&expected).is_some() {
                kept[i] += 1;
                if i == 0 {
                    errors_by_variant[index % 4] += 1;
                }
            }
        }
        baselines.record(group, trace.at, view.duration());
    }
    // The corpus exercises both outcomes of every twin (representative always returns its rate).
    for (i, &k) in kept.iter().enumerate().take(3) {
        assert!(
            k >= 50 && k < traces.len() - 50,
            "{}: {k} of {} traces kept; the corpus should exercise both outcomes",
            MISSION[i],
            traces.len()
        );
    }
    assert_eq!(kept[3], traces.len());
    // Every variant finds errors, through the statuses, the 5xx codes or the exceptions.
    assert!(
        errors_by_variant.iter().all(|&n| n >= 20),
        "errors kept per variant: {errors_by_variant:?}"
    );
}

#[test]
fn twins_match_the_same_traces_inside_a_policy_set() {
    // The engine's own path: the set attaches the shared baseline and evaluates every policy;
    // the CEL twins are built by this crate's builder from `cel` configs.
    let mut configs: Vec<PolicyConfig> = MISSION
        .iter()
        .zip(native_configs())
        .map(|(name, kind)| PolicyConfig::new(format!("native_{name}"), kind))
        .collect();
    configs.extend(MISSION.iter().map(|name| {
        PolicyConfig::new(
            format!("cel_{name}"),
            PolicyKind::Cel(CelPolicyConfig {
                expr: expression(name),
            }),
        )
    }));
    let builders = PolicyBuilders::new().with_cel(tailsift_cel::builder());
    let set = PolicySet::new(&configs, &builders, false).unwrap_or_else(|e| panic!("{e}"));
    let traces = corpus(3_000);
    for trace in &traces {
        let mut view = TraceView::new(trace.id, &trace.spans, TraceFlags::default(), trace.at);
        set.decide(&mut view);
    }
    let totals = set.totals();
    for name in MISSION {
        let native = totals.iter().find(|t| *t.name == *format!("native_{name}"));
        let cel = totals.iter().find(|t| *t.name == *format!("cel_{name}"));
        let (native, cel) = (native.unwrap(), cel.unwrap());
        assert_eq!(cel.errors, 0, "{name}: the CEL twin failed on some traces");
        assert_eq!(native.matched, cel.matched, "{name}: matched counts differ");
        assert_eq!(native.kept, cel.kept, "{name}: kept counts differ");
    }
}

#[test]
fn a_bad_cel_config_is_refused_with_its_position() {
    let config = PolicyConfig::new(
        "typo",
        PolicyKind::Cel(CelPolicyConfig {
            expr: "trace.error_count > 0 ||\n  trce.duration_ms > 100.0".into(),
        }),
    );
    let builders = PolicyBuilders::new().with_cel(tailsift_cel::builder());
    let err = match PolicySet::new(&[config], &builders, false) {
        Ok(_) => panic!("a typo must not build"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("policy `typo`") && err.contains("line 2, column 3") && err.contains("trce"),
        "{err}"
    );
}
