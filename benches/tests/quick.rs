//! The harness in `--quick` mode, as CI runs it: every workload end to end, on one and two
//! threads, checking that every span is accounted for. No assertion on timing.

use tailsift_benches::counting::CountingAlloc;
use tailsift_benches::harness::{
    anchor_config, mission_config, run, Options, Report, WorkloadKind,
};
use tailsift_benches::workloads::PolicyForm;
use tailsift_traffic::SpanValues;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Harness runs one at a time: a run switches the process-wide allocation counting off for its
/// timed part, which would zero another test's counting run going on at the same time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn quick(workload: WorkloadKind, threads: usize, form: PolicyForm) -> Report {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut options = Options::new(workload).quick();
    options.threads = threads;
    options.form = form;
    options.runs = 1;
    match run(&options) {
        Ok(report) => report,
        Err(e) => panic!("{} failed: {e}", workload.as_str()),
    }
}

fn check(report: &Report) {
    let s = &report.stats;
    assert!(s.conserved(), "every span has one outcome: {s:?}");
    assert_eq!(s.spans_buffered, 0, "everything is decided by the end");
    assert_eq!(s.spans_in, report.spans);
    assert!(report.traces > 0 && report.kept > 0 && report.kept < report.traces);
    assert!(report.spans_per_second > 0.0);
    assert!(report.retained.bytes_per_span > 0.0);
    assert!(report.counted, "the counting allocator is installed");
    assert!(report.allocs_per_span > 0.0);
    let line = report.summary_line();
    assert!(
        line.starts_with(&format!("{}: ", report.workload)),
        "{line}"
    );
    assert!(
        line.contains(" spans/s, ") && line.ends_with(" allocs/span"),
        "{line}"
    );
}

#[test]
fn anchor_quick_runs_on_one_and_two_threads() {
    for threads in [1, 2] {
        let report = quick(WorkloadKind::Anchor, threads, PolicyForm::Native);
        check(&report);
        assert_eq!(report.spans, 10_000);
        assert_eq!(report.traces, 1_000);
        assert_eq!(report.stats.timed_out, 0, "anchor traces are all complete");
    }
}

#[test]
fn mission_quick_runs_with_native_and_cel_policies() {
    for (threads, form) in [
        (1, PolicyForm::Native),
        (2, PolicyForm::Native),
        (1, PolicyForm::Cel),
    ] {
        let report = quick(WorkloadKind::Mission, threads, form);
        check(&report);
        assert!(report.controller_steps > 0, "the controller ran");
        assert!(
            report.latency_last_span.count > 0,
            "latencies were recorded"
        );
    }
}

#[test]
fn values_reach_the_traffic_and_the_report() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for workload in [WorkloadKind::Anchor, WorkloadKind::Mission] {
        let mut options = Options::new(workload).quick();
        options.runs = 1;
        assert_eq!(anchor_config(&options).values, SpanValues::Shared);
        assert_eq!(mission_config(&options).values, SpanValues::Shared);
        options.values = SpanValues::Unique;
        assert_eq!(anchor_config(&options).values, SpanValues::Unique);
        assert_eq!(mission_config(&options).values, SpanValues::Unique);
        let report = match run(&options) {
            Ok(report) => report,
            Err(e) => panic!("{} with unique values failed: {e}", workload.as_str()),
        };
        check(&report);
        assert_eq!(report.values, Some("unique"));
        let text = report.to_string();
        assert!(
            text.starts_with(&format!(
                "workload {} (native policies, unique attribute values)",
                workload.as_str()
            )),
            "{text}"
        );
        // A span's own strings are its own heap: more of it than with shared values.
        let mut shared = options.clone();
        shared.values = SpanValues::Shared;
        let shared = match run(&shared) {
            Ok(report) => report,
            Err(e) => panic!("{} failed: {e}", workload.as_str()),
        };
        assert!(
            report.retained.span_owned_heap > shared.retained.span_owned_heap + 20.0,
            "{} own heap: unique {} against shared {}",
            workload.as_str(),
            report.retained.span_owned_heap,
            shared.retained.span_owned_heap
        );
        // As the OTLP bridge decodes them, the workloads' long values are mostly interned:
        // about the heap of shared values, well under that of unique ones.
        let mut decoded = options.clone();
        decoded.values = SpanValues::Decoded;
        let decoded = match run(&decoded) {
            Ok(report) => report,
            Err(e) => panic!("{} with decoded values failed: {e}", workload.as_str()),
        };
        assert_eq!(decoded.values, Some("decoded"));
        let own = decoded.retained.span_owned_heap;
        assert!(
            own >= shared.retained.span_owned_heap && own + 20.0 < report.retained.span_owned_heap,
            "{} own heap: decoded {own}, shared {}, unique {}",
            workload.as_str(),
            shared.retained.span_owned_heap,
            report.retained.span_owned_heap
        );
    }
}
