//! Behaviour of the generator through its public API.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tailsift::{Span, SpanId, StatusCode, TraceId};
use tailsift_traffic::{
    AnchorConfig, Batch, MissionConfig, TraceKind, TraceTruth, Workload, ANCHOR_FAST_MAX,
    ANCHOR_RESOURCE_ATTRIBUTES, ANCHOR_SLOW_ROOT, ANCHOR_SPANS_PER_TRACE, ANCHOR_SPAN_ATTRIBUTES,
    CRITICAL_OPERATIONS,
};

/// Small enough for the dev profile, large enough for the statistics below.
fn small_mission(seed: u64) -> MissionConfig {
    MissionConfig {
        seed,
        duration: Duration::from_secs(20),
        spans_per_second: 2_000.0,
        ..MissionConfig::default()
    }
}

fn run_mission(config: &MissionConfig) -> Vec<Batch> {
    config.traffic().expect("valid config").collect()
}

fn by_trace(batches: &[Batch]) -> HashMap<TraceId, Vec<&Span>> {
    let mut traces: HashMap<TraceId, Vec<&Span>> = HashMap::new();
    for batch in batches {
        for span in &batch.spans {
            traces.entry(span.trace_id).or_default().push(span);
        }
    }
    traces
}

fn truths(batches: &[Batch]) -> Vec<&TraceTruth> {
    batches.iter().flat_map(|b| &b.completed).collect()
}

#[test]
fn same_seed_gives_identical_output_and_different_seeds_differ() {
    let anchor = AnchorConfig {
        traces: 500,
        ..AnchorConfig::default()
    };
    let first = anchor.prebuild().expect("valid config");
    assert_eq!(first, anchor.prebuild().expect("valid config"));
    let reseeded = AnchorConfig { seed: 2, ..anchor };
    assert_ne!(first, reseeded.prebuild().expect("valid config"));

    let mission = MissionConfig {
        duration: Duration::from_secs(3),
        malformed_spans: true,
        malformed_fraction: 0.05,
        ..small_mission(9)
    };
    let first = run_mission(&mission);
    assert!(!first.is_empty());
    assert_eq!(first, run_mission(&mission));
    assert_ne!(
        first,
        run_mission(&MissionConfig {
            seed: 10,
            ..mission
        })
    );
}

#[test]
fn anchor_has_the_exact_benchmark_shape() {
    let config = AnchorConfig::default();
    assert_eq!(config.traces, 10_000);
    let batches = config.prebuild().expect("valid config");
    let traces = by_trace(&batches);
    assert_eq!(traces.len(), 10_000);

    let mut error_traces = 0;
    let mut slow_traces = 0;
    let resource = &batches[0].spans[0].origin.resource;
    assert_eq!(resource.attributes.len(), ANCHOR_RESOURCE_ATTRIBUTES);
    for spans in traces.values() {
        assert_eq!(spans.len(), ANCHOR_SPANS_PER_TRACE);
        let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
        assert_eq!(ids.len(), ANCHOR_SPANS_PER_TRACE, "span ids are unique");
        let roots: Vec<_> = spans.iter().filter(|s| s.is_root()).collect();
        assert_eq!(roots.len(), 1, "every trace has exactly one root");
        for span in spans {
            assert!(std::sync::Arc::ptr_eq(&span.origin.resource, resource));
            assert_eq!(span.attributes.len(), ANCHOR_SPAN_ATTRIBUTES);
            assert!(span.is_root() || ids.contains(&span.parent_span_id));
        }
        let errors = spans
            .iter()
            .filter(|s| s.status_code == StatusCode::Error)
            .count();
        assert!(errors <= 1);
        error_traces += errors;
        let start = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap();
        let end = spans.iter().map(|s| s.end_time_unix_nano).max().unwrap();
        let duration = Duration::from_nanos(end - start);
        let root_duration = Duration::from_nanos(roots[0].duration_nanos());
        if root_duration == ANCHOR_SLOW_ROOT {
            slow_traces += 1;
            assert_eq!(errors, 0, "slow and error traces are disjoint");
        } else {
            assert!(duration <= ANCHOR_FAST_MAX, "{duration:?}");
        }
    }
    assert_eq!(error_traces, 500);
    assert_eq!(slow_traces, 500);

    let kinds = truths(&batches).iter().fold(HashMap::new(), |mut m, t| {
        *m.entry(t.kind).or_insert(0) += 1;
        m
    });
    assert_eq!(kinds[&TraceKind::Error], 500);
    assert_eq!(kinds[&TraceKind::Slow], 500);
    assert_eq!(kinds[&TraceKind::Normal], 9_000);
}

#[test]
fn anchor_trace_count_is_a_parameter() {
    let batches = AnchorConfig {
        traces: 200,
        ..AnchorConfig::default()
    }
    .prebuild()
    .expect("valid config");
    assert_eq!(by_trace(&batches).len(), 200);
    assert_eq!(truths(&batches).len(), 200);
    let errors = truths(&batches).iter().filter(|t| t.has_error).count();
    assert_eq!(errors, 10);
}

fn check_arrival_order(batches: &[Batch], epoch: u64) {
    let mut previous = Duration::ZERO;
    for batch in batches {
        assert!(batch.at >= previous, "batches go back in time");
        previous = batch.at;
        assert!(!batch.spans.is_empty());
        for span in &batch.spans {
            let end = Duration::from_nanos(span.end_time_unix_nano - epoch);
            assert!(
                batch.at >= end,
                "span delivered at {:?} ends at {end:?}",
                batch.at
            );
        }
    }
}

#[test]
fn spans_arrive_after_they_end_and_batches_are_in_time_order() {
    let anchor = AnchorConfig {
        traces: 2_000,
        ..AnchorConfig::default()
    };
    check_arrival_order(
        &anchor.prebuild().expect("valid config"),
        anchor.timeline.epoch_unix_nanos,
    );
    let mission = small_mission(3);
    let batches = run_mission(&mission);
    check_arrival_order(&batches, mission.timeline.epoch_unix_nanos);

    // Children usually arrive before their parents, the root last.
    let sizes: HashMap<TraceId, usize> = by_trace(&batches)
        .into_iter()
        .map(|(id, spans)| (id, spans.len()))
        .collect();
    let mut arrived: HashMap<TraceId, usize> = HashMap::new();
    let (mut root_last, mut traces) = (0, 0);
    for span in batches.iter().flat_map(|b| &b.spans) {
        let count = arrived.entry(span.trace_id).or_default();
        *count += 1;
        if span.is_root() && sizes[&span.trace_id] > 1 {
            traces += 1;
            root_last += usize::from(*count > 1);
        }
    }
    assert!(
        root_last * 10 > traces * 9,
        "root after a child in {root_last} of {traces}"
    );
}

#[test]
fn mission_surges_in_the_middle() {
    let config = small_mission(5);
    let batches = run_mission(&config);
    let run = config.duration.as_secs_f64();
    let spans_in = |from: f64, to: f64| -> usize {
        batches
            .iter()
            .filter(|b| (from * run..to * run).contains(&b.at.as_secs_f64()))
            .map(|b| b.spans.len())
            .sum()
    };
    let start = spans_in(0.05, 0.15);
    let middle = spans_in(0.45, 0.55);
    assert!(
        middle as f64 >= 2.5 * start as f64,
        "middle {middle} vs start {start}"
    );

    let flat = run_mission(&MissionConfig {
        surge: false,
        ..config
    });
    let total: usize = flat.iter().map(|b| b.spans.len()).sum();
    let expected = 2_000.0 * run;
    assert!(
        (total as f64 - expected).abs() < 0.2 * expected,
        "{total} spans, expected about {expected}"
    );
}

#[test]
fn mission_averages_the_target_span_rate() {
    let config = small_mission(11);
    let batches = run_mission(&config);
    let total: usize = batches.iter().map(|b| b.spans.len()).sum();
    let expected = config.spans_per_second * config.duration.as_secs_f64();
    assert!(
        (total as f64 - expected).abs() < 0.2 * expected,
        "{total} spans, expected about {expected}"
    );
}

#[test]
fn mission_error_bursts_concentrate_one_service_s_failures() {
    let config = small_mission(21);
    let traffic = config.traffic().expect("valid config");
    let bursts = traffic.error_bursts().to_vec();
    assert_eq!(bursts, config.error_burst_schedule());
    assert_eq!(bursts.len(), 1);
    let burst = &bursts[0];
    let batches: Vec<Batch> = traffic.collect();
    let epoch = config.timeline.epoch_unix_nanos;

    let (mut inside, mut inside_failed, mut outside, mut outside_failed) = (0, 0, 0, 0);
    for span in batches.iter().flat_map(|b| &b.spans) {
        if span.service_name() != burst.service {
            continue;
        }
        let failed_here = span.events().iter().any(|e| &*e.name == "exception");
        if failed_here {
            assert_eq!(span.status_code, StatusCode::Error);
        }
        // Bursts apply to traces that start within them; spans start a little later.
        let at = Duration::from_nanos(span.start_time_unix_nano - epoch);
        let near = burst.start <= at && at < burst.end + Duration::from_millis(500);
        if burst.covers(at) {
            inside += 1;
            inside_failed += usize::from(failed_here);
        } else if !near {
            outside += 1;
            outside_failed += usize::from(failed_here);
        }
    }
    assert!(
        inside > 20,
        "only {inside} {} spans in the burst",
        burst.service
    );
    let inside_rate = inside_failed as f64 / inside as f64;
    let outside_rate = outside_failed as f64 / outside.max(1) as f64;
    assert!(inside_rate > 0.2, "burst error rate {inside_rate}");
    assert!(outside_rate < 0.02, "background error rate {outside_rate}");

    let burst_traces: Vec<_> = truths(&batches)
        .into_iter()
        .filter(|t| t.kind == TraceKind::BurstError)
        .collect();
    assert!(!burst_traces.is_empty());
    for truth in burst_traces {
        let start = Duration::from_nanos(truth.start_unix_nano - epoch);
        assert!(burst.covers(start), "burst error outside the burst");
    }
}

#[test]
fn mission_has_rare_root_operations_and_a_critical_path() {
    let batches = run_mission(&small_mission(4));
    let truths = truths(&batches);
    let mut roots: HashMap<&str, usize> = HashMap::new();
    for truth in &truths {
        *roots.entry(&truth.root_operation).or_default() += 1;
    }
    assert!(roots.len() >= 8, "{roots:?}");
    let rare = roots
        .values()
        .filter(|&&n| n > 0 && (n as f64) < 0.01 * truths.len() as f64)
        .count();
    assert!(rare >= 1, "no rare root operation in {roots:?}");
    let busiest = roots.values().max().copied().unwrap_or(0);
    assert!(busiest as f64 > 0.1 * truths.len() as f64);

    let critical: Vec<_> = truths.iter().filter(|t| t.critical_path).collect();
    assert!(!critical.is_empty());
    assert!(
        critical.len() * 10 < truths.len(),
        "the critical path is a minority"
    );
    assert!(roots.contains_key("POST /api/checkout"));
}

#[test]
fn mission_call_trees_vary_in_depth_fan_out_and_timing() {
    let batches = run_mission(&small_mission(8));
    let mut depths = HashSet::new();
    let mut widest = 0;
    let mut async_after_parent = 0;
    let mut slow = 0;
    for spans in by_trace(&batches).values() {
        let by_id: HashMap<SpanId, &Span> = spans.iter().map(|s| (s.span_id, *s)).collect();
        let mut children: HashMap<SpanId, usize> = HashMap::new();
        for span in spans {
            let mut depth = 1;
            let mut cursor = *span;
            while let Some(parent) = by_id.get(&cursor.parent_span_id) {
                depth += 1;
                cursor = parent;
            }
            depths.insert(depth);
            if let Some(parent) = by_id.get(&span.parent_span_id) {
                *children.entry(parent.span_id).or_default() += 1;
                async_after_parent +=
                    usize::from(span.end_time_unix_nano > parent.end_time_unix_nano);
            }
        }
        widest = widest.max(children.values().copied().max().unwrap_or(0));
    }
    for truth in truths(&batches) {
        slow += usize::from(truth.slow);
    }
    assert!((1..=6).all(|d| depths.contains(&d)), "{depths:?}");
    assert_eq!(depths.iter().max(), Some(&6));
    assert!(widest >= 8, "widest fan-out {widest}");
    assert!(async_after_parent > 0);
    assert!(slow > 0);
}

#[test]
fn mission_late_spans_arrive_long_after_their_root() {
    let config = MissionConfig {
        late_consumer_fraction: 0.5,
        ..small_mission(6)
    };
    let batches = run_mission(&config);
    let late: Vec<_> = truths(&batches)
        .into_iter()
        .filter(|t| t.late_spans > 0)
        .collect();
    assert!(!late.is_empty());
    for truth in late {
        assert!(truth.last_arrival >= truth.root_arrival + Duration::from_secs(2));
    }
    let last = batches.last().map(|b| b.at).unwrap_or_default();
    assert!(last > config.duration, "late spans outlive the run");
}

#[test]
fn malformed_spans_come_only_behind_the_flag() {
    let clean = run_mission(&small_mission(2));
    assert!(clean.iter().all(|b| b.malformed_spans == 0));
    assert!(clean
        .iter()
        .flat_map(|b| &b.spans)
        .all(|s| s.trace_id.is_valid() && s.end_time_unix_nano >= s.start_time_unix_nano));

    let config = MissionConfig {
        malformed_spans: true,
        malformed_fraction: 0.05,
        ..small_mission(2)
    };
    let mut traffic = config.traffic().expect("valid config");
    let batches: Vec<Batch> = traffic.by_ref().collect();
    let counted: u32 = batches.iter().map(|b| b.malformed_spans).sum();
    let found = batches
        .iter()
        .flat_map(|b| &b.spans)
        .filter(|s| !s.trace_id.is_valid() || s.end_time_unix_nano < s.start_time_unix_nano)
        .count();
    assert!(counted > 10);
    assert_eq!(counted as usize, found);
    assert_eq!(traffic.stats().malformed_spans, u64::from(counted));
}

fn check_truth_agrees_with_spans(batches: &[Batch]) {
    let mut last_batch: HashMap<TraceId, usize> = HashMap::new();
    for (index, batch) in batches.iter().enumerate() {
        for span in &batch.spans {
            if span.trace_id.is_valid() && span.end_time_unix_nano >= span.start_time_unix_nano {
                last_batch.insert(span.trace_id, index);
            }
        }
    }
    let traces = by_trace(batches);
    let mut covered = 0;
    for (index, batch) in batches.iter().enumerate() {
        for truth in &batch.completed {
            covered += 1;
            assert_eq!(
                last_batch[&truth.trace_id], index,
                "truth rides with the last span"
            );
            let spans = &traces[&truth.trace_id];
            assert_eq!(truth.span_count as usize, spans.len());
            let size: usize = spans.iter().map(|s| s.size_estimate()).sum();
            assert_eq!(truth.size_estimate, size as u64);
            let errors = spans
                .iter()
                .filter(|s| s.status_code == StatusCode::Error)
                .count();
            assert_eq!(truth.error_spans as usize, errors);
            assert_eq!(truth.has_error, errors > 0);
            let start = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap();
            let end = spans.iter().map(|s| s.end_time_unix_nano).max().unwrap();
            assert_eq!(truth.start_unix_nano, start);
            assert_eq!(truth.duration, Duration::from_nanos(end - start));
            let roots: Vec<_> = spans.iter().filter(|s| s.is_root()).collect();
            assert_eq!(roots.len(), 1);
            assert_eq!(&*truth.root_operation, &*roots[0].name);
            assert_eq!(&*truth.root_service, roots[0].service_name());
            let critical = spans
                .iter()
                .any(|s| CRITICAL_OPERATIONS.contains(&s.name.as_str()));
            assert_eq!(truth.critical_path, critical);
            match truth.kind {
                TraceKind::Error | TraceKind::BurstError => assert!(truth.has_error),
                TraceKind::Slow => assert!(truth.slow && !truth.has_error),
                TraceKind::Normal => assert!(!truth.slow && !truth.has_error),
            }
        }
    }
    assert_eq!(covered, traces.len(), "every valid trace has one truth");
}

#[test]
fn ground_truth_agrees_with_the_spans() {
    let anchor = AnchorConfig {
        traces: 1_000,
        ..AnchorConfig::default()
    };
    check_truth_agrees_with_spans(&anchor.prebuild().expect("valid config"));
    let mission = MissionConfig {
        duration: Duration::from_secs(10),
        ..small_mission(13)
    };
    let batches = run_mission(&mission);
    check_truth_agrees_with_spans(&batches);
    let errors = truths(&batches).iter().filter(|t| t.has_error).count();
    assert!(errors > 0);
}

#[test]
fn max_batch_spans_cuts_ticks_without_moving_spans_or_truths() {
    let mut config = small_mission(17);
    config.duration = Duration::from_secs(5);
    let whole = run_mission(&config);
    config.timeline.max_batch_spans = Some(7);
    let cut = run_mission(&config);
    assert!(cut.iter().all(|b| b.spans.len() <= 7));
    assert!(cut.len() > whole.len());
    let flatten = |batches: &[Batch]| -> Vec<(Duration, SpanId)> {
        batches
            .iter()
            .flat_map(|b| b.spans.iter().map(move |s| (b.at, s.span_id)))
            .collect()
    };
    assert_eq!(flatten(&whole), flatten(&cut));
    check_truth_agrees_with_spans(&cut);
}

#[test]
fn workloads_are_found_by_name() {
    let anchor = Workload::from_name("anchor").expect("known");
    assert_eq!(anchor, Workload::Anchor(AnchorConfig::default()));
    assert_eq!(
        Workload::from_name("Mission").expect("known").name(),
        "mission"
    );
    assert!(Workload::from_name("nope").is_err());
    let mut reseeded = anchor.with_seed(5);
    reseeded.timeline_mut().tick = Duration::from_millis(50);
    let Workload::Anchor(config) = &reseeded else {
        panic!("still the anchor workload");
    };
    assert_eq!(config.seed, 5);
    assert_eq!(config.timeline.tick, Duration::from_millis(50));
}

#[test]
fn trace_ids_carry_uniform_randomness() {
    let batches = run_mission(&MissionConfig {
        duration: Duration::from_secs(5),
        ..small_mission(1)
    });
    let truths = truths(&batches);
    let below_half = truths
        .iter()
        .filter(|t| t.trace_id.randomness() < 1 << 55)
        .count();
    let share = below_half as f64 / truths.len() as f64;
    assert!((0.45..0.55).contains(&share), "{share}");
}

#[test]
fn tiny_ticks_and_late_spans_keep_order_and_memory_small() {
    let mut config = MissionConfig {
        duration: Duration::from_secs(2),
        late_consumer_fraction: 1.0,
        ..small_mission(12)
    };
    config.timeline.tick = Duration::from_micros(1);
    let batches = run_mission(&config);
    check_arrival_order(&batches, config.timeline.epoch_unix_nanos);
    check_truth_agrees_with_spans(&batches);
    let late: u32 = truths(&batches).iter().map(|t| t.late_spans).sum();
    assert!(late > 0);
    assert!(batches.last().map(|b| b.at).unwrap_or_default() > Duration::from_secs(5));
}
