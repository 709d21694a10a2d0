//! The background driver: a thread that polls the engine on its own clock, for callers that do
//! not poll. The engine's clock here is manual, so what the driver decides is set by the test;
//! the test waits for the decision event (with a generous bound), it does not sleep for it.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tailsift::{
    ChannelSink, Clock, Driver, DriverConfig, Engine, EngineConfig, ManualClock, PollReport,
    Pollable, Span, SpanId, TraceId, TraceView, Verdict,
};

#[test]
fn the_driver_decides_due_traces_without_the_caller_polling() {
    let clock = ManualClock::new();
    let (sink, decisions) = ChannelSink::new(None);
    let engine = Arc::new(
        Engine::builder(EngineConfig::default())
            .decider(|_: &TraceView<'_>| Verdict::keep("always"))
            .sink(sink)
            .clock(clock.clone())
            .build()
            .expect("valid config"),
    );
    let driver = Driver::start(engine.clone(), Duration::from_millis(1)).expect("thread starts");
    engine.ingest(vec![Span {
        trace_id: TraceId::from_u128(42),
        span_id: SpanId::from_u64(1),
        ..Span::default()
    }]);
    clock.advance(Duration::from_secs(2));
    let decision = decisions
        .recv_timeout(Duration::from_secs(30))
        .expect("the driver decides the trace once it is due");
    assert_eq!(decision.trace_id, TraceId::from_u128(42));
    driver.stop();
    // Stopped (the thread is joined): a newly due trace waits for the caller.
    engine.ingest(vec![Span {
        trace_id: TraceId::from_u128(43),
        span_id: SpanId::from_u64(1),
        ..Span::default()
    }]);
    clock.advance(Duration::from_secs(2));
    assert!(decisions.try_recv().is_err());
    engine.poll_now();
    assert_eq!(
        decisions.try_recv().map(|d| d.trace_id).ok(),
        Some(TraceId::from_u128(43))
    );
}

/// A target whose polls wait (up to a bound) until a second thread is polling too, and report
/// when two were inside at once; after that, polls return at once.
struct Rendezvous {
    clock: ManualClock,
    /// The threads inside a poll, and whether two have met.
    inside: Mutex<(HashSet<std::thread::ThreadId>, bool)>,
    both: Condvar,
    met: crossbeam_channel::Sender<()>,
}

impl Pollable for Rendezvous {
    fn poll_now(&self) -> PollReport {
        let me = std::thread::current().id();
        let mut state = self.inside.lock().unwrap_or_else(|e| e.into_inner());
        state.0.insert(me);
        if state.0.len() >= 2 {
            state.1 = true;
            let _ = self.met.try_send(());
            self.both.notify_all();
        } else if !state.1 {
            // Bounded: with one thread the test fails below instead of hanging here.
            state = self
                .both
                .wait_timeout_while(state, Duration::from_secs(30), |state| !state.1)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.0.remove(&me);
        PollReport {
            next_due: self.clock.now() + Duration::from_secs(1),
            ..PollReport::default()
        }
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }
}

#[test]
fn a_driver_with_two_pollers_polls_on_two_threads_at_once_and_stops_both() {
    let (met, meeting) = crossbeam_channel::bounded(1);
    let target = Arc::new(Rendezvous {
        clock: ManualClock::new(),
        inside: Mutex::new((HashSet::new(), false)),
        both: Condvar::new(),
        met,
    });
    let config = DriverConfig {
        pollers: 2,
        ..DriverConfig::default()
    };
    let driver = Driver::start_with(target.clone(), config).expect("threads start");
    meeting
        .recv_timeout(Duration::from_secs(30))
        .expect("two threads were polling at once");
    driver.stop();
    // Both threads are joined: nothing holds the target but this test.
    assert_eq!(Arc::strong_count(&target), 1);
}
