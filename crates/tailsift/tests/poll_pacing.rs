//! How a poll paces itself: it says when the next trace comes due (so a poller can wake then,
//! not a tick later), and it hands decisions to the sink in small slices, releasing the shard's
//! lock between them (so ingest is never kept waiting behind a poll of thousands of traces).
//! Time is a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{config, span};
use tailsift::{Decision, Engine, ManualClock, Sink, TraceView, Verdict};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn engine(shards: usize, clock: &ManualClock, sink: impl Sink + 'static) -> Engine {
    Engine::builder(config(shards))
        .decider(|_: &TraceView<'_>| Verdict::keep("always"))
        .sink(sink)
        .clock(clock.clone())
        .build()
        .expect("valid config")
}

#[test]
fn poll_reports_when_the_next_trace_comes_due() {
    let clock = ManualClock::new();
    // One shard: the traces share one completion queue.
    let engine = engine(1, &clock, |_: Decision| {});
    // Nothing buffered: whatever arrives now is due a grace later at the soonest.
    assert_eq!(engine.poll(secs(1.0)).next_due, secs(3.0));

    clock.set(secs(1.0));
    engine.ingest(vec![span(1, 1, 0)]); // complete (a root) at 1 s: due at 3 s
    clock.set(secs(1.5));
    engine.ingest(vec![span(2, 2, 9)]); // rootless at 1.5 s: due at 31.5 s
    assert_eq!(engine.poll(secs(1.5)).next_due, secs(3.0));

    // A span at 2 s moves trace 1's due time to 4 s. Its queue entry is the last one, so it
    // moves with it: the next due time is exact.
    clock.set(secs(2.0));
    engine.ingest(vec![span(1, 3, 1)]);
    assert_eq!(engine.poll(secs(2.0)).next_due, secs(4.0));

    // A new trace's root at 2.2 s (due 4.2 s) queues behind trace 1; then a span of trace 1 at
    // 2.5 s (due 4.5 s) queues behind that. Trace 1's earlier entry stays at the front, so a
    // poll at 2.9 s reports 4 s: early, never late.
    clock.set(secs(2.2));
    engine.ingest(vec![span(3, 1, 0)]);
    clock.set(secs(2.5));
    engine.ingest(vec![span(1, 4, 1)]);
    assert_eq!(engine.poll(secs(2.9)).next_due, secs(4.0));
    // At 4 s trace 1 is not quiet: its entry is skipped, nothing is decided.
    let report = engine.poll(secs(4.0));
    assert_eq!(report.traces(), 0);
    assert_eq!(report.next_due, secs(4.2));
    let report = engine.poll(secs(4.2));
    assert_eq!(report.traces(), 1);
    assert_eq!(report.next_due, secs(4.5));

    let report = engine.poll(secs(4.5));
    assert_eq!(report.traces(), 1);
    // Left: the rootless trace (31.5 s), but a trace arriving now would be due at 6.5 s.
    assert_eq!(report.next_due, secs(6.5));
    assert!(engine.stats().conserved());
}

/// Two ingest threads may read the clock in one order and take a shard's lock in the other.
/// A trace whose due time is earlier than the one queued before it is decided at that one's
/// time: late by the inversion, never early, and never lost.
#[test]
fn a_clock_read_out_of_order_delays_a_trace_by_the_inversion_only() {
    let clock = ManualClock::new();
    let engine = engine(1, &clock, |_: Decision| {});
    clock.set(secs(1.2));
    engine.ingest(vec![span(1, 1, 0)]); // due 3.2 s
    clock.set(secs(1.0));
    engine.ingest(vec![span(2, 1, 0)]); // due 3.0 s, queued at 3.2 s
    let report = engine.poll(secs(3.0));
    assert_eq!(report.traces(), 0);
    assert_eq!(report.next_due, secs(3.2));
    assert_eq!(engine.poll(secs(3.2)).traces(), 2);
    assert!(engine.stats().conserved());
}

#[derive(Debug, PartialEq)]
enum Event {
    Decided,
    Sent,
}

#[test]
fn a_poll_hands_decisions_to_the_sink_in_slices_of_at_most_32_traces() {
    let clock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sent = log.clone();
    // One shard, so every trace waits on the same lock.
    let engine = Engine::builder(config(1))
        .decider({
            let log = log.clone();
            move |_: &TraceView<'_>| {
                log.lock().expect("log").push(Event::Decided);
                Verdict::keep("always")
            }
        })
        .sink(move |_: Decision| sent.lock().expect("log").push(Event::Sent))
        .clock(clock.clone())
        .build()
        .expect("valid config");
    let traces = 1_000;
    engine.ingest((0..traces).map(|t| span(t + 1, 1, 0)).collect());
    let report = engine.poll(secs(2.0));
    assert_eq!(report.traces(), traces as u64);

    // The decider runs under the shard's lock, the sink after it is released: the longest run
    // of decisions before the sink is called is one lock hold.
    let log = log.lock().expect("log");
    let mut longest = 0;
    let mut run = 0;
    for event in log.iter() {
        match event {
            Event::Decided => {
                run += 1;
                longest = longest.max(run);
            }
            Event::Sent => run = 0,
        }
    }
    assert_eq!(log.len(), 2 * traces as usize);
    assert_eq!(longest, 32, "traces decided in one lock hold");
    assert!(engine.stats().conserved());
}

#[test]
fn a_sink_may_ingest_into_the_shard_being_polled() {
    // The lock is released between slices: a sink that feeds the engine (as a collector's
    // pipeline may, on the same thread) neither deadlocks nor loses a span.
    let clock = ManualClock::new();
    let engine: Arc<Mutex<Option<Arc<Engine>>>> = Arc::new(Mutex::new(None));
    let feed = engine.clone();
    let sink = move |d: Decision| {
        let engine = feed.lock().expect("engine").clone();
        if let Some(engine) = engine {
            // A new trace for each decision, started from inside the poll.
            let id = 10_000 + d.trace_id.to_u128();
            engine.ingest(vec![span(id, 1, 0)]);
        }
    };
    let built = Arc::new(self::engine(1, &clock, sink));
    *engine.lock().expect("engine") = Some(built.clone());
    built.ingest((0..100).map(|t| span(t + 1, 1, 0)).collect());
    // The sink's traces arrive at 2 s, due at 4 s: not decided by this poll.
    clock.set(secs(2.0));
    assert_eq!(built.poll(secs(2.0)).traces(), 100);
    let stats = built.stats();
    assert_eq!(stats.traces_buffered, 100);
    assert!(stats.conserved());
    *engine.lock().expect("engine") = None;
}

#[test]
fn a_poll_with_nothing_due_does_not_wait_for_a_busy_shard() {
    // An ingest over the buffer's bound decides its oldest trace early, under the shard's lock;
    // here the decider holds it until told to let go. A poll at a time when nothing is due reads
    // what the shard published at its last lock hold and returns, where it used to queue behind
    // the lock.
    let clock = ManualClock::new();
    let (entered, decider_entered) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new((entered, released));
    let mut cfg = config(1);
    cfg.buffer.max_spans = 2;
    let engine = Arc::new(
        Engine::builder(cfg)
            .decider(move |_: &TraceView<'_>| {
                let gate = gate.lock().expect("gate");
                let _ = gate.0.send(());
                let _ = gate.1.recv();
                Verdict::keep("always")
            })
            .sink(|_: Decision| {})
            .clock(clock.clone())
            .build()
            .expect("valid config"),
    );
    clock.set(secs(1.0));
    // Rootless: due only when `decision_wait` (30 s) has passed.
    engine.ingest(vec![span(1, 2, 1), span(2, 2, 1)]);
    let ingesting = std::thread::spawn({
        let engine = engine.clone();
        move || engine.ingest(vec![span(3, 2, 1)])
    });
    decider_entered.recv().expect("the early decision started");

    let (polled, poll_done) = std::sync::mpsc::channel();
    let polling = std::thread::spawn({
        let engine = engine.clone();
        move || {
            let report = engine.poll(secs(1.0));
            let _ = polled.send(report);
        }
    });
    // A bound, not a pause: the poll answers at once, or it is stuck behind the lock.
    let report = poll_done.recv_timeout(Duration::from_secs(60));
    release.send(()).expect("release the decider");
    let report = report.expect("the poll returned while the shard was busy");
    assert_eq!(report.traces(), 0);
    // Nothing buffered is due before 31 s; a trace arriving now would be due at 3 s.
    assert_eq!(report.next_due, secs(3.0));
    polling.join().expect("poll thread");
    assert_eq!(ingesting.join().expect("ingest thread").early_decisions, 1);
    assert!(engine.stats().conserved());
}
