//! Decisions, and the [`Sink`] through which they leave the engine.

use std::sync::Arc;
use std::time::Duration;

use crate::span::{Span, Str, TraceId};
use crate::view::TraceFlags;

/// How a decided trace (or a late span) came to be decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecisionFlags {
    /// Decided without a root span.
    pub incomplete: bool,
    /// Decided before it was ready because the buffer was over its bounds.
    pub early: bool,
    /// Decided at `decision_wait` rather than at completion.
    pub timed_out: bool,
    /// Decided by `shutdown()`.
    pub shutdown: bool,
    /// A span that arrived after its trace was decided, following the cached decision.
    pub late: bool,
}

impl From<TraceFlags> for DecisionFlags {
    fn from(f: TraceFlags) -> DecisionFlags {
        DecisionFlags {
            incomplete: f.incomplete,
            early: f.early,
            timed_out: f.timed_out,
            shutdown: f.shutdown,
            late: false,
        }
    }
}

/// What the engine decided about one trace (or, with `flags.late`, about spans that came after
/// their trace was decided).
#[derive(Clone, Debug)]
pub struct Decision {
    /// The trace.
    pub trace_id: TraceId,
    /// Whether the trace is kept.
    pub keep: bool,
    /// The policies that matched (kept) or vetoed (dropped).
    pub reasons: Arc<[Str]>,
    /// How many traces this kept trace stands for (`1 / keep rate`); zero when dropped.
    pub adjusted_count: f64,
    /// The OpenTelemetry rejection threshold of the keep (0 = kept at rate 1).
    pub threshold: u64,
    /// How the decision came about.
    pub flags: DecisionFlags,
    /// How many spans the decision covers (kept or dropped).
    pub span_count: usize,
    /// The spans to forward, sorted by start time; empty when dropped.
    pub spans: Vec<Span>,
    /// Engine time when the trace's first span arrived.
    pub first_seen: Duration,
    /// Engine time of the decision.
    pub decided_at: Duration,
}

/// Receives decisions. Called from whichever thread decided (a poller, an ingest thread under
/// memory pressure, the driver), never while the engine holds a lock, so an implementation may
/// block or call back into the engine.
pub trait Sink: Send + Sync {
    /// Takes one decision.
    fn send(&self, decision: Decision);
}

impl<F> Sink for F
where
    F: Fn(Decision) + Send + Sync,
{
    fn send(&self, decision: Decision) {
        self(decision)
    }
}

/// A sink that sends decisions into a crossbeam channel.
#[derive(Clone, Debug)]
pub struct ChannelSink {
    sender: crossbeam_channel::Sender<Decision>,
}

impl ChannelSink {
    /// A sink and the receiving end of its channel, bounded at `capacity` decisions (a full
    /// channel blocks the deciding thread: backpressure) or unbounded when `None`.
    pub fn new(capacity: Option<usize>) -> (ChannelSink, crossbeam_channel::Receiver<Decision>) {
        let (sender, receiver) = match capacity {
            Some(c) => crossbeam_channel::bounded(c),
            None => crossbeam_channel::unbounded(),
        };
        (ChannelSink { sender }, receiver)
    }
}

impl Sink for ChannelSink {
    fn send(&self, decision: Decision) {
        // A dropped receiver means the caller stopped listening; the engine's own counters
        // already hold the outcome of these spans.
        let _ = self.sender.send(decision);
    }
}
