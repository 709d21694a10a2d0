//! What the engine's behaviour tests share: a small engine config and a span builder.

use std::time::Duration;

use tailsift::{BufferConfig, EngineConfig, Span, SpanId, TraceId};

/// `shards` shards, a 30 s `decision_wait` and a 2 s `completion_grace`.
pub fn config(shards: usize) -> EngineConfig {
    EngineConfig {
        buffer: BufferConfig {
            shards,
            decision_wait: Duration::from_secs(30),
            completion_grace: Duration::from_secs(2),
            ..BufferConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// Span `id` of trace `trace`, child of `parent` (0: a root), named "op".
pub fn span(trace: u128, id: u64, parent: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(id),
        parent_span_id: SpanId::from_u64(parent),
        name: "op".into(),
        start_time_unix_nano: 1_000 + id,
        end_time_unix_nano: 2_000 + id,
        ..Span::default()
    }
}
