//! The harness in `--quick` mode, as CI runs it: every workload end to end, on one and two
//! threads, checking that every span is accounted for. No assertion on timing.

use tailsift_benches::counting::CountingAlloc;
use tailsift_benches::harness::{run, Options, Report, WorkloadKind};
use tailsift_benches::workloads::PolicyForm;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn quick(workload: WorkloadKind, threads: usize, form: PolicyForm) -> Report {
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
fn growth_runs_pairs_in_alternating_order_and_weighs_both_orders() {
    let options = Options::new(WorkloadKind::Anchor).quick();
    let growth = tailsift_benches::harness::growth(&options, (10, 1_000), 2)
        .unwrap_or_else(|e| panic!("growth failed: {e}"));
    assert_eq!(growth.sizes, (10, 1_000));
    assert_eq!(growth.pairs.len(), 2);
    assert!(growth
        .pairs
        .iter()
        .all(|&(small, large)| small > 0.0 && large > 0.0));

    // Two orders slowed alike by what ran before: the mean is the size's own effect, none.
    let synthetic = tailsift_benches::harness::Growth {
        sizes: (1, 2),
        pairs: vec![(5.0, 4.0), (4.0, 5.0), (5.0, 4.0), (4.0, 5.0)],
    };
    assert!((synthetic.ratio() - 1.0).abs() < 1e-12);
    assert_eq!(synthetic.ratios_by_order(), (0.8, 1.25));
    assert_eq!(synthetic.medians(), (5.0, 5.0));
}
