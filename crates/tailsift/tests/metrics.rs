//! The engine's metrics through a recorder: decisions, spans and flags are counted as the
//! engine's own counters count them, whichever way a trace is decided.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

mod common;

use common::{config, span};
use tailsift::{
    config::ShutdownMode, Clock, Engine, EngineConfig, ManualClock, StatusCode, TraceView, Verdict,
};

/// Records counters by name and labels (`name{key=value}`); gauges and histograms are
/// ignored.
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counters {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = if labels.is_empty() {
            key.name().to_string()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        let counter = self.0.lock().unwrap().entry(name).or_default().clone();
        Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn keep_errors(view: &TraceView<'_>) -> Verdict {
    if view.error_count() > 0 {
        Verdict::keep("errors")
    } else {
        Verdict::Abstain
    }
}

/// An engine whose metric handles are registered with `recorder`.
fn engine(recorder: &Counters, config: EngineConfig, clock: &ManualClock) -> Engine {
    metrics::with_local_recorder(recorder, || {
        Engine::builder(config)
            .decider(keep_errors)
            .sink(|_: tailsift::Decision| {})
            .clock(clock.clone())
            .build()
            .expect("valid config")
    })
}

#[test]
fn decisions_spans_and_flags_are_counted_as_the_engine_counts_them() {
    let recorder = Counters::default();
    let clock = ManualClock::new();
    let engine = engine(&recorder, config(2), &clock);
    // Forty traces of three spans, one in four with an error (kept), the rest dropped; five
    // more without their root, timed out; and three left pending at shutdown.
    for t in 1..=40u128 {
        let mut spans = vec![span(t, 1, 0), span(t, 2, 1), span(t, 3, 1)];
        if t % 4 == 0 {
            spans[2].status_code = StatusCode::Error;
        }
        engine.ingest(spans);
    }
    for t in 100..105u128 {
        engine.ingest(vec![span(t, 2, 1)]);
    }
    clock.advance(Duration::from_secs(2));
    engine.poll(clock.now());
    clock.advance(Duration::from_secs(30));
    engine.poll(clock.now());
    for t in 200..203u128 {
        engine.ingest(vec![span(t, 1, 0), span(t, 2, 1)]);
    }
    engine.shutdown();

    let stats = engine.stats();
    assert_eq!((stats.traces_kept, stats.traces_dropped), (10, 38));
    assert_eq!((stats.timed_out, stats.spans_forwarded), (5, 30));
    let c = |name: &str| recorder.get(name);
    assert_eq!(
        c("tailsift_traces_decided_total{outcome=kept}"),
        stats.traces_kept
    );
    assert_eq!(
        c("tailsift_traces_decided_total{outcome=dropped}"),
        stats.traces_dropped
    );
    assert_eq!(c("tailsift_spans_forwarded_total"), stats.spans_forwarded);
    assert_eq!(c("tailsift_spans_dropped_total"), stats.spans_dropped);
    assert_eq!(c("tailsift_spans_received_total"), stats.spans_in);
    assert_eq!(c("tailsift_traces_flagged_total{flag=timed_out}"), 5);
    assert_eq!(
        c("tailsift_traces_flagged_total{flag=incomplete}"),
        stats.incomplete
    );
    assert_eq!(c("tailsift_traces_flagged_total{flag=shutdown}"), 3);
}

#[test]
fn traces_dropped_at_shutdown_are_counted() {
    let recorder = Counters::default();
    let clock = ManualClock::new();
    let mut config = config(4);
    config.buffer.on_shutdown = ShutdownMode::Drop;
    let engine = engine(&recorder, config, &clock);
    for t in 1..=70u128 {
        engine.ingest(vec![span(t, 1, 0), span(t, 2, 1)]);
    }
    engine.shutdown();
    assert_eq!(
        recorder.get("tailsift_traces_decided_total{outcome=dropped}"),
        70
    );
    assert_eq!(recorder.get("tailsift_spans_dropped_total"), 140);
    assert_eq!(
        recorder.get("tailsift_traces_flagged_total{flag=shutdown}"),
        70
    );
    assert_eq!(
        recorder.get("tailsift_traces_decided_total{outcome=kept}"),
        0
    );
}

#[test]
fn traces_decided_early_at_ingest_are_counted() {
    let recorder = Counters::default();
    let clock = ManualClock::new();
    let mut config = config(1);
    config.buffer.max_spans = 10;
    let engine = engine(&recorder, config, &clock);
    for t in 1..=25u128 {
        engine.ingest(vec![span(t, 2, 1)]);
    }
    let stats = engine.stats();
    assert_eq!(stats.early_decisions, 15);
    assert_eq!(
        recorder.get("tailsift_traces_flagged_total{flag=early}"),
        15
    );
    assert_eq!(recorder.get("tailsift_early_decisions_total"), 15);
    assert_eq!(
        recorder.get("tailsift_traces_decided_total{outcome=dropped}"),
        15
    );
    assert_eq!(recorder.get("tailsift_spans_dropped_total"), 15);
}
