//! The background driver: a thread that polls the engine on its own clock, for callers that do
//! not poll. The engine's clock here is manual, so what the driver decides is set by the test;
//! the test waits for the decision event (with a generous bound), it does not sleep for it.

use std::sync::Arc;
use std::time::Duration;

use tailsift::{
    ChannelSink, Driver, Engine, EngineConfig, ManualClock, Span, SpanId, TraceId, TraceView,
    Verdict,
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
