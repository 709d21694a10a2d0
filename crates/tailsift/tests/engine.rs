//! Behaviour of the engine through its public API: completion, timeouts, late spans, bounds,
//! rejection, shutdown, and span conservation under concurrency. Time is a manual clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{config, span};
use tailsift::{
    BufferConfig, ChannelSink, Clock, Decision, Engine, EngineConfig, ManualClock, RejectReason,
    Span, StatusCode, TraceId, TraceView, Verdict,
};

fn keep_errors(view: &TraceView<'_>) -> Verdict {
    if view.error_count() > 0 {
        Verdict::keep("errors")
    } else {
        Verdict::Abstain
    }
}

fn keep_all(_: &TraceView<'_>) -> Verdict {
    Verdict::keep("always")
}

struct Harness {
    engine: Arc<Engine>,
    clock: ManualClock,
    decisions: crossbeam_channel::Receiver<Decision>,
}

impl Harness {
    fn new(config: EngineConfig, decider: fn(&TraceView<'_>) -> Verdict) -> Harness {
        let clock = ManualClock::new();
        let (sink, decisions) = ChannelSink::new(None);
        let engine = Engine::builder(config)
            .decider(decider)
            .sink(sink)
            .clock(clock.clone())
            .build()
            .expect("valid config");
        Harness {
            engine: Arc::new(engine),
            clock,
            decisions,
        }
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.engine.poll(self.clock.now());
    }

    fn drain(&self) -> Vec<Decision> {
        self.decisions.try_iter().collect()
    }
}

#[test]
fn trace_whose_root_ends_is_decided_at_grace_not_at_decision_wait() {
    let h = Harness::new(config(2), keep_all);
    h.engine.ingest(vec![span(7, 2, 1), span(7, 3, 1)]);
    h.advance(Duration::from_secs(1));
    h.engine.ingest(vec![span(7, 1, 0)]);
    h.advance(Duration::from_millis(1_999));
    assert!(h.drain().is_empty(), "decided before the grace passed");
    h.advance(Duration::from_millis(1));
    let decisions = h.drain();
    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert!(d.keep && !d.flags.incomplete && !d.flags.timed_out);
    assert_eq!(d.spans.len(), 3);
    assert_eq!(d.decided_at, Duration::from_secs(3));
}

#[test]
fn a_span_after_the_root_extends_the_grace() {
    let h = Harness::new(config(1), keep_all);
    h.engine.ingest(vec![span(7, 1, 0)]);
    h.advance(Duration::from_millis(1_500));
    h.engine.ingest(vec![span(7, 2, 1)]);
    h.advance(Duration::from_millis(1_000));
    assert!(h.drain().is_empty(), "a straggler must restart the grace");
    h.advance(Duration::from_millis(999));
    assert!(h.drain().is_empty(), "due at 1.5s + 2s, not before");
    h.advance(Duration::from_millis(1));
    let d = h.drain();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].span_count, 2);
}

#[test]
fn trace_without_root_is_decided_at_decision_wait_flagged_incomplete() {
    let h = Harness::new(config(2), keep_all);
    h.engine.ingest(vec![span(9, 2, 1)]);
    h.advance(Duration::from_secs(29));
    assert!(h.drain().is_empty());
    h.advance(Duration::from_secs(1));
    let d = h.drain();
    assert_eq!(d.len(), 1);
    assert!(d[0].flags.incomplete && d[0].flags.timed_out);
    let stats = h.engine.stats();
    assert_eq!((stats.incomplete, stats.timed_out), (1, 1));
}

#[test]
fn late_span_after_keep_is_forwarded_and_after_drop_is_dropped() {
    let h = Harness::new(config(2), keep_errors);
    let mut err = span(1, 1, 0);
    err.status_code = StatusCode::Error;
    h.engine.ingest(vec![err, span(2, 1, 0)]);
    h.advance(Duration::from_secs(2));
    let decided = h.drain();
    assert_eq!(decided.len(), 2);
    let report = h.engine.ingest(vec![span(1, 5, 1), span(2, 5, 1)]);
    assert_eq!((report.late_forwarded, report.late_dropped), (1, 1));
    let late = h.drain();
    assert_eq!(late.len(), 1, "the late kept span is forwarded at once");
    assert!(late[0].flags.late && late[0].keep);
    assert_eq!(late[0].trace_id, TraceId::from_u128(1));
    assert_eq!(late[0].reasons[0], "errors");
    let stats = h.engine.stats();
    assert_eq!((stats.late_forwarded, stats.late_dropped), (1, 1));
    assert_eq!(
        stats.traces_buffered, 0,
        "late spans never start a new trace"
    );
    assert!(stats.conserved());
}

/// An engine whose decider, on trace 1, tells the test it has started and waits (at most 20 s)
/// to be let go, then keeps the trace or not; it keeps every other trace.
struct Held {
    engine: Arc<Engine>,
    clock: ManualClock,
    entered: crossbeam_channel::Receiver<()>,
    release: crossbeam_channel::Sender<()>,
    waited_out: Arc<AtomicBool>,
    decisions: crossbeam_channel::Receiver<Decision>,
}

const HELD: u128 = 1;

impl Held {
    fn new(config: EngineConfig, keep: bool) -> Held {
        let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
        let (release, released) = crossbeam_channel::bounded::<()>(1);
        let waited_out = Arc::new(AtomicBool::new(false));
        let flag = waited_out.clone();
        let clock = ManualClock::new();
        let (sink, decisions) = ChannelSink::new(None);
        let engine = Engine::builder(config)
            .decider(move |v: &TraceView<'_>| {
                if v.trace_id() != TraceId::from_u128(HELD) {
                    return Verdict::keep("other");
                }
                let _ = entered_tx.send(());
                // Bounded, so that an engine running policies under the shard's lock fails the
                // test rather than hanging it: the test's own ingest waits for that lock.
                if released.recv_timeout(Duration::from_secs(20)).is_err() {
                    flag.store(true, Ordering::SeqCst);
                }
                if keep {
                    Verdict::keep("held")
                } else {
                    Verdict::Abstain
                }
            })
            .sink(sink)
            .clock(clock.clone())
            .build()
            .unwrap();
        Held {
            engine: Arc::new(engine),
            clock,
            entered,
            release,
            waited_out,
            decisions,
        }
    }

    /// Waits for the decider to start on the held trace.
    fn wait_entered(&self) {
        self.entered
            .recv_timeout(Duration::from_secs(20))
            .expect("the engine reaches the decider");
    }

    /// Lets the decider go.
    fn release(&self) {
        self.release.send(()).unwrap();
    }

    /// Checks that the decider was let go before its 20 s were up: no ingest waited for it.
    fn check_nothing_waited(&self) {
        assert!(
            !self.waited_out.load(Ordering::SeqCst),
            "an ingest waited for the decider"
        );
    }

    /// Checks what became of the held trace (`own_spans` spans when decided) and of its span
    /// `parked` (an id), which arrived while it was being decided; then that a span of it after
    /// the decision follows the cached decision too.
    fn check_parked_span_followed(&self, keep: bool, own_spans: usize, parked: u64) {
        let decided: Vec<Decision> = self.decisions.try_iter().collect();
        let held: Vec<&Decision> = decided
            .iter()
            .filter(|d| d.trace_id == TraceId::from_u128(HELD))
            .collect();
        let stats = self.engine.stats();
        assert!(stats.conserved(), "{stats:?}");
        assert_eq!(held[0].keep, keep);
        assert!(!held[0].flags.late);
        assert_eq!(held[0].spans.len(), if keep { own_spans } else { 0 });
        if keep {
            assert_eq!(held.len(), 2, "the trace, then its parked span");
            assert!(held[1].flags.late && held[1].keep);
            assert_eq!(held[1].spans[0].span_id.to_u64(), parked);
            assert_eq!(held[1].reasons[0], "held");
            assert_eq!((stats.late_forwarded, stats.late_dropped), (1, 0));
        } else {
            assert_eq!(held.len(), 1);
            assert_eq!((stats.late_forwarded, stats.late_dropped), (0, 1));
        }
        let traces = stats.traces_buffered;
        let after = self.engine.ingest(vec![span(HELD, 9, 1)]);
        assert_eq!(
            (after.late_forwarded, after.late_dropped),
            (u64::from(keep), u64::from(!keep))
        );
        assert_eq!(self.engine.stats().traces_buffered, traces, "no new trace");
    }
}

/// Policies run with the shard's lock released: while a poll's decision is under way (its
/// decider blocked until the test lets it go), the same shard takes a span of a new trace and a
/// span of the trace being decided. The latter waits for the decision and then follows it as a
/// late span, forwarded or dropped: it never starts a second trace, and every span stays
/// counted.
#[test]
fn a_poll_runs_policies_with_the_shard_unlocked_and_a_racing_span_follows_the_decision() {
    for keep in [true, false] {
        let h = Held::new(config(1), keep);
        h.engine.ingest(vec![span(HELD, 1, 0)]);
        h.clock.advance(Duration::from_secs(2));
        let poller = {
            let (engine, now) = (h.engine.clone(), h.clock.now());
            std::thread::spawn(move || engine.poll(now))
        };
        h.wait_entered();
        // One shard: both spans go to the shard whose trace is being decided.
        let report = h.engine.ingest(vec![span(HELD, 2, 1), span(7, 1, 0)]);
        let during = h.engine.stats();
        h.release();
        let polled = poller.join().unwrap();
        h.check_nothing_waited();
        assert_eq!(report.buffered, 2);
        assert!(during.conserved(), "{during:?}");
        assert_eq!(
            (during.spans_buffered, during.traces_buffered),
            (3, 1),
            "the span being decided, the parked one and the new trace's; one trace buffered"
        );
        assert_eq!(polled.traces(), 1);
        h.check_parked_span_followed(keep, 1, 2);
        assert_eq!(h.engine.stats().spans_buffered, 1, "trace 7's");
    }
}

/// The same for an early decision: an ingest over the buffer's bound decides the oldest trace
/// with the shard unlocked, so another ingest into that shard goes on meanwhile.
#[test]
fn an_early_decision_runs_policies_with_the_shard_unlocked_too() {
    for keep in [true, false] {
        let mut cfg = config(1);
        cfg.buffer.max_spans = 4;
        let h = Held::new(cfg, keep);
        h.engine.ingest(vec![span(HELD, 1, 0), span(HELD, 2, 1)]);
        let over = {
            let engine = h.engine.clone();
            // Five spans over a bound of four: the oldest trace, the held one, goes early.
            std::thread::spawn(move || {
                engine.ingest(vec![span(2, 1, 0), span(2, 2, 1), span(2, 3, 1)])
            })
        };
        h.wait_entered();
        let report = h.engine.ingest(vec![span(HELD, 3, 1)]);
        let during = h.engine.stats();
        h.release();
        let over = over.join().unwrap();
        h.check_nothing_waited();
        assert_eq!(over.early_decisions, 1);
        assert_eq!((report.buffered, report.early_decisions), (1, 0));
        assert!(during.conserved(), "{during:?}");
        assert_eq!(during.spans_buffered, 6);
        h.check_parked_span_followed(keep, 2, 3);
        assert_eq!(h.engine.stats().early_decisions, 1);
    }
}

/// A decider runs with no lock held, so it may call back into the engine: here it ingests a
/// span of a new trace and one of the trace it is deciding, into the same shard.
#[test]
fn a_decider_may_call_back_into_the_engine() {
    let slot: Arc<std::sync::OnceLock<std::sync::Weak<Engine>>> = Arc::default();
    let inner = slot.clone();
    let clock = ManualClock::new();
    let (sink, decisions) = ChannelSink::new(None);
    let engine = Arc::new(
        Engine::builder(config(1))
            .decider(move |v: &TraceView<'_>| {
                let engine = inner.get().and_then(std::sync::Weak::upgrade);
                if let (Some(engine), 1) = (engine, v.trace_id().to_u128()) {
                    engine.ingest(vec![span(2, 1, 0), span(1, 2, 1)]);
                }
                Verdict::keep("all")
            })
            .sink(sink)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    slot.set(Arc::downgrade(&engine)).unwrap();
    engine.ingest(vec![span(1, 1, 0)]);
    clock.advance(Duration::from_secs(2));
    assert_eq!(engine.poll(clock.now()).traces(), 1);
    let stats = engine.stats();
    assert!(stats.conserved(), "{stats:?}");
    assert_eq!((stats.traces_buffered, stats.late_forwarded), (1, 1));
    let decided: Vec<Decision> = decisions.try_iter().collect();
    assert_eq!(
        decided.len(),
        2,
        "trace 1, then its span that came while it was decided"
    );
    assert!(decided[1].flags.late && decided[1].spans[0].span_id.to_u64() == 2);
}

#[test]
fn bad_spans_are_rejected_counted_and_reported() {
    let h = Harness::new(config(2), keep_all);
    let mut backwards = span(3, 1, 0);
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
    let report = h
        .engine
        .ingest(vec![span(0, 1, 0), span(3, 0, 0), backwards, span(3, 2, 0)]);
    assert_eq!(report.rejected.get(RejectReason::ZeroTraceId), 1);
    assert_eq!(report.rejected.get(RejectReason::ZeroSpanId), 1);
    assert_eq!(report.rejected.get(RejectReason::EndBeforeStart), 1);
    assert_eq!(report.buffered, 1);

    let small = EngineConfig {
        buffer: BufferConfig {
            max_batch_spans: 2,
            ..config(1).buffer
        },
        ..EngineConfig::default()
    };
    let h = Harness::new(small, keep_all);
    let report = h
        .engine
        .ingest(vec![span(4, 1, 0), span(4, 2, 1), span(4, 3, 1)]);
    assert_eq!(report.rejected.get(RejectReason::BatchTooLarge), 3);
    let stats = h.engine.stats();
    assert_eq!(stats.rejected.total(), 3);
    assert!(stats.conserved());
}

#[test]
fn over_max_spans_the_oldest_traces_are_decided_early_and_the_bound_holds() {
    let max_spans = 1_000;
    let cfg = EngineConfig {
        buffer: BufferConfig {
            max_spans,
            ..config(4).buffer
        },
        ..EngineConfig::default()
    };
    let h = Harness::new(cfg, keep_all);
    let batch = 10;
    let per_shard = max_spans.div_ceil(4);
    for t in 0..(10 * max_spans / batch) as u128 {
        // Rootless traces of 10 spans: never complete, so only the bound can decide them.
        let spans: Vec<Span> = (0..batch as u64).map(|i| span(t + 1, i + 2, 1)).collect();
        let report = h.engine.ingest(spans);
        assert!(report.buffered == batch as u64);
        let stats = h.engine.stats();
        assert!(
            stats.spans_buffered as usize <= 4 * per_shard + batch,
            "buffer at {} spans over the bound {max_spans}",
            stats.spans_buffered
        );
    }
    let stats = h.engine.stats();
    assert!(stats.early_decisions >= 850, "{}", stats.early_decisions);
    let early = h.drain();
    assert!(early.iter().all(|d| d.flags.early && d.flags.incomplete));
    assert_eq!(early.len() as u64, stats.early_decisions);
    assert!(stats.conserved());
}

#[test]
fn over_max_bytes_the_bound_holds_too() {
    let cfg = EngineConfig {
        buffer: BufferConfig {
            max_bytes: bytesize::ByteSize::kib(64),
            ..config(2).buffer
        },
        ..EngineConfig::default()
    };
    let h = Harness::new(cfg, keep_all);
    for t in 0..5_000u128 {
        let mut s = span(t + 1, 2, 1);
        s.name = "x".repeat(200).into();
        h.engine.ingest(vec![s]);
        assert!(h.engine.stats().bytes_buffered <= 64 * 1024 + 400);
    }
    assert!(h.engine.stats().early_decisions > 4_000);
}

#[test]
fn shutdown_decides_everything_pending_and_rejects_later_spans() {
    let h = Harness::new(config(3), keep_all);
    for t in 1..=50u128 {
        h.engine.ingest(vec![span(t, 2, 1), span(t, 3, 1)]);
    }
    let report = h.engine.shutdown();
    assert_eq!(report.traces_kept, 50);
    assert_eq!(report.spans_forwarded, 100);
    assert!(h.drain().iter().all(|d| d.flags.shutdown));
    let after = h.engine.ingest(vec![span(99, 1, 0)]);
    assert_eq!(after.rejected.get(RejectReason::ShutDown), 1);
    let stats = h.engine.stats();
    assert_eq!(stats.spans_buffered, 0);
    assert!(stats.conserved());
}

#[test]
fn shutdown_in_drop_mode_counts_what_it_drops() {
    let mut cfg = config(2);
    cfg.buffer.on_shutdown = tailsift::config::ShutdownMode::Drop;
    let h = Harness::new(cfg, keep_all);
    h.engine.ingest(vec![span(1, 2, 1), span(2, 2, 1)]);
    let report = h.engine.shutdown();
    assert_eq!((report.traces_dropped, report.spans_dropped), (2, 2));
    assert!(h.engine.stats().conserved());
}

#[test]
fn a_panicking_decider_keeps_the_trace_and_is_counted() {
    fn panics(_: &TraceView<'_>) -> Verdict {
        panic!("policy bug")
    }
    let h = Harness::new(config(1), panics);
    h.engine.ingest(vec![span(1, 1, 0)]);
    h.advance(Duration::from_secs(2));
    let d = h.drain();
    assert!(d[0].keep);
    assert_eq!(h.engine.stats().decider_panics, 1);
}

#[test]
fn the_sink_may_call_back_into_the_engine() {
    let clock = ManualClock::new();
    let slot: Arc<Mutex<Option<Arc<Engine>>>> = Arc::new(Mutex::new(None));
    let seen = Arc::new(AtomicBool::new(false));
    let (slot2, seen2) = (slot.clone(), seen.clone());
    let engine = Arc::new(
        Engine::builder(config(1))
            .decider(keep_all)
            .sink(move |_d: Decision| {
                if let Some(engine) = slot2.lock().unwrap().as_ref() {
                    // Would deadlock if the shard lock were held while sending.
                    let _ = engine.stats();
                    seen2.store(true, Ordering::SeqCst);
                }
            })
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    *slot.lock().unwrap() = Some(engine.clone());
    engine.ingest(vec![span(1, 1, 0)]);
    clock.advance(Duration::from_secs(3));
    engine.poll(clock.now());
    assert!(seen.load(Ordering::SeqCst));
    slot.lock().unwrap().take();
}

#[test]
fn bad_engine_config_is_a_clear_error() {
    let mut cfg = config(1);
    cfg.buffer.completion_grace = Duration::from_secs(60);
    let err = Engine::builder(cfg)
        .decider(keep_all)
        .sink(|_d: Decision| {})
        .build()
        .err()
        .expect("grace longer than decision_wait is refused");
    assert!(err.to_string().contains("buffer.completion_grace"), "{err}");
}

#[test]
fn conservation_four_ingest_threads_two_pollers_one_million_spans() {
    const THREADS: u64 = 4;
    const TRACES_PER_THREAD: u64 = 25_000;
    const SPANS_PER_TRACE: u64 = 10;
    let clock = ManualClock::new();
    let delivered: Arc<Mutex<HashMap<TraceId, Vec<u64>>>> = Arc::default();
    let sink_map = delivered.clone();
    let engine = Arc::new(
        Engine::builder(EngineConfig {
            buffer: BufferConfig {
                max_spans: 200_000,
                ..config(8).buffer
            },
            ..EngineConfig::default()
        })
        .decider(|v: &TraceView<'_>| {
            // Keep about half, by the trace's randomness.
            Verdict::keep_at("half", if v.error_count() > 0 { 1.0 } else { 0.5 })
        })
        .sink(move |d: Decision| {
            if d.keep {
                let mut map = sink_map.lock().unwrap();
                let ids = map.entry(d.trace_id).or_default();
                ids.extend(d.spans.iter().map(|s| s.span_id.to_u64()));
            }
        })
        .clock(clock.clone())
        .build()
        .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    // One poller moves the clock on; the other polls at whatever time it reads, so that the two
    // meet on shards (each passes over a shard the other holds) and on traces just come due.
    let pollers: Vec<_> = [true, false]
        .into_iter()
        .map(|advances| {
            let (engine, clock, done) = (engine.clone(), clock.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    if advances {
                        clock.advance(Duration::from_millis(100));
                    }
                    engine.poll(clock.now());
                }
            })
        })
        .collect();
    let ingesters: Vec<_> = (0..THREADS)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                // Interleave 50 traces at a time, spans of each split over several batches,
                // roots last; every 1,000th batch carries a malformed span.
                let mut offered = 0u64;
                for chunk in 0..TRACES_PER_THREAD / 50 {
                    for s in 0..SPANS_PER_TRACE {
                        let mut batch = Vec::with_capacity(51);
                        for k in 0..50 {
                            let trace = (t << 40) | (chunk * 50 + k + 1);
                            let id = SPANS_PER_TRACE - s; // root (id 1) comes last
                            let parent = if id == 1 { 0 } else { 1 };
                            let mut sp = span(trace as u128 * 0x9E37_79B9_7F4A_7C15, id, parent);
                            if k == 7 && id == 3 {
                                sp.status_code = StatusCode::Error;
                            }
                            batch.push(sp);
                        }
                        if (chunk * SPANS_PER_TRACE + s) % 1_000 == 0 {
                            batch.push(span(0, 1, 0));
                        }
                        offered += batch.len() as u64;
                        engine.ingest(batch);
                    }
                }
                offered
            })
        })
        .collect();
    let offered: u64 = ingesters.into_iter().map(|h| h.join().unwrap()).sum();
    done.store(true, Ordering::Release);
    for poller in pollers {
        poller.join().unwrap();
    }
    engine.shutdown();

    let stats = engine.stats();
    assert_eq!(stats.spans_in, offered);
    assert!(offered >= THREADS * TRACES_PER_THREAD * SPANS_PER_TRACE);
    assert_eq!(stats.spans_buffered, 0);
    assert_eq!(
        stats.spans_in,
        stats.spans_forwarded + stats.spans_dropped + stats.rejected.total(),
        "{stats:?}"
    );
    assert!(stats.rejected.total() > 0);
    // Every kept trace's spans were delivered, each exactly once.
    let delivered = delivered.lock().unwrap();
    let mut forwarded = 0u64;
    for ids in delivered.values() {
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "a span was delivered twice");
        forwarded += ids.len() as u64;
    }
    assert_eq!(forwarded, stats.spans_forwarded);
    assert!(stats.traces_kept > 0 && stats.traces_dropped > 0);
}

#[test]
fn kept_spans_carry_the_threshold_and_adjusted_count_when_configured() {
    let mut cfg = config(1);
    cfg.output.write_threshold = true;
    cfg.output.adjusted_count_attribute = Some("sampling.adjusted_count".into());
    fn quarter(_: &TraceView<'_>) -> Verdict {
        Verdict::keep_at("quarter", 0.25)
    }
    let h = Harness::new(cfg, quarter);
    // Randomness 0xff.. passes any threshold; the vendor entry must survive.
    let mut root = span(u128::MAX, 1, 0);
    root.extra_mut().trace_state = "vendor=abc".into();
    h.engine.ingest(vec![root]);
    h.advance(Duration::from_secs(2));
    let d = h.drain();
    assert!(d[0].keep);
    assert_eq!(d[0].adjusted_count, 4.0);
    let kept = &d[0].spans[0];
    assert_eq!(kept.trace_state(), "ot=th:c,vendor=abc");
    assert_eq!(
        kept.attribute("sampling.adjusted_count"),
        Some(&tailsift::Value::Double(4.0))
    );
}

#[test]
fn without_output_settings_kept_spans_leave_unchanged() {
    let h = Harness::new(config(1), keep_all);
    let mut root = span(5, 1, 0);
    root.extra_mut().trace_state = "vendor=abc".into();
    let sent = root.clone();
    h.engine.ingest(vec![root]);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.drain()[0].spans[0], sent);
}

#[test]
fn a_buffer_bound_beyond_what_a_shard_can_address_is_refused() {
    let mut config = config(1);
    config.buffer.max_spans = usize::MAX - 1;
    let err = EngineConfig::validate(&config).expect_err("too many spans for one shard");
    assert_eq!(err.key, "buffer.max_spans");
    assert!(err.problem.contains("4,294,000,000"), "{}", err.problem);
    config.buffer.max_spans = 4_000_000_000;
    config.buffer.max_batch_spans = 100_000;
    assert!(config.validate().is_ok());
}

#[test]
fn many_interleaved_traces_come_out_whole_and_counted() {
    // Spans of 500 traces arrive interleaved over 20 batches; each trace's decision must carry
    // exactly its own spans, in arrival order, and the shard's span store must give every
    // slot back.
    let clock = ManualClock::new();
    let (sink, decisions) = ChannelSink::new(None);
    let engine = Engine::builder(config(2))
        .decider(keep_all)
        .sink(sink)
        .clock(clock.clone())
        .build()
        .expect("engine");
    for batch in 0..20u64 {
        let spans = (1..=500u128)
            .map(|t| span(t, batch + 2, if batch == 19 { 0 } else { 1 }))
            .collect();
        engine.ingest(spans);
    }
    assert_eq!(engine.stats().spans_buffered, 10_000);
    clock.advance(Duration::from_secs(60));
    engine.poll_now();
    let mut seen = 0;
    for decision in decisions.try_iter() {
        let ids: Vec<u64> = decision.spans.iter().map(|s| s.span_id.to_u64()).collect();
        assert_eq!(ids.len(), 20, "trace {}", decision.trace_id);
        assert!(decision
            .spans
            .iter()
            .all(|s| s.trace_id == decision.trace_id));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (2..22).collect::<Vec<_>>());
        seen += 1;
    }
    assert_eq!(seen, 500);
    let stats = engine.stats();
    assert_eq!((stats.spans_buffered, stats.spans_forwarded), (0, 10_000));
    assert!(stats.conserved());
}

#[test]
fn a_small_kept_trace_does_not_inherit_a_large_trace_s_buffer() {
    // Dropped traces' emptied vectors are reused for the next traces decided; a kept trace's
    // vector goes to the sink, which must not be handed a buffer sized for a trace a thousand
    // times larger.
    let clock = ManualClock::new();
    let (sink, decisions) = ChannelSink::new(None);
    let engine = Engine::builder(config(1))
        .decider(|view: &TraceView<'_>| {
            if view.spans().len() == 1 {
                Verdict::keep("small")
            } else {
                Verdict::drop("large")
            }
        })
        .sink(sink)
        .clock(clock.clone())
        .build()
        .expect("engine");
    let mut large: Vec<Span> = (2..=1000).map(|id| span(1, id, 1)).collect();
    large.push(span(1, 1, 0));
    engine.ingest(large);
    clock.advance(Duration::from_secs(3));
    engine.poll_now();
    engine.ingest(vec![span(2, 1, 0)]);
    clock.advance(Duration::from_secs(3));
    engine.poll_now();
    let kept: Vec<Decision> = decisions.try_iter().filter(|d| d.keep).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].spans.len(), 1);
    assert!(
        kept[0].spans.capacity() <= 20,
        "capacity {}",
        kept[0].spans.capacity()
    );
}
