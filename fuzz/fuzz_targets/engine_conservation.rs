//! Oracle: whatever spans arrive, in whatever batches and at whatever times, every span ends with
//! exactly one counted outcome (forwarded, dropped or rejected) after shutdown.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tailsift::{
    BufferConfig, Decision, Engine, EngineConfig, ManualClock, Span, SpanId, StatusCode, TraceId,
    TraceView, Verdict,
};

#[derive(Arbitrary, Debug)]
struct FuzzSpan {
    trace: u8,
    id: u8,
    parent: u8,
    start: u16,
    end: u16,
    error: bool,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Ingest(Vec<FuzzSpan>),
    Advance(u16),
}

fuzz_target!(|steps: Vec<Step>| {
    let clock = ManualClock::new();
    let engine = Engine::builder(EngineConfig {
        buffer: BufferConfig {
            shards: 2,
            max_spans: 64,
            max_batch_spans: 32,
            decision_wait: Duration::from_millis(500),
            completion_grace: Duration::from_millis(50),
            ..BufferConfig::default()
        },
        ..EngineConfig::default()
    })
    .decider(|v: &TraceView<'_>| {
        if v.error_count() > 0 {
            Verdict::keep("errors")
        } else {
            Verdict::keep_at("half", 0.5)
        }
    })
    .sink(|_d: Decision| {})
    .clock(clock.clone())
    .build()
    .expect("valid config");
    for step in steps {
        match step {
            Step::Ingest(spans) => {
                engine.ingest(
                    spans
                        .into_iter()
                        .map(|s| Span {
                            trace_id: TraceId::from_u128(u128::from(s.trace)),
                            span_id: SpanId::from_u64(u64::from(s.id)),
                            parent_span_id: SpanId::from_u64(u64::from(s.parent)),
                            start_time_unix_nano: u64::from(s.start),
                            end_time_unix_nano: u64::from(s.end),
                            status_code: if s.error { StatusCode::Error } else { StatusCode::Unset },
                            ..Span::default()
                        })
                        .collect(),
                );
            }
            Step::Advance(ms) => {
                clock.advance(Duration::from_millis(u64::from(ms)));
                engine.poll_now();
            }
        }
        assert!(engine.stats().conserved());
    }
    engine.shutdown();
    let stats = engine.stats();
    assert_eq!(stats.spans_buffered, 0);
    assert!(stats.conserved(), "{stats:?}");
});
