//! The engine's own metrics, through the `metrics` facade.
//!
//! Handles are registered once when the engine is built and incremented per batch or per poll,
//! never looked up per span. With no recorder installed every call is a no-op.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tailsift_spans_received_total` | counter | |
//! | `tailsift_spans_rejected_total` | counter | `reason` |
//! | `tailsift_spans_forwarded_total` | counter | |
//! | `tailsift_spans_dropped_total` | counter | |
//! | `tailsift_late_spans_total` | counter | `outcome` = forwarded, dropped |
//! | `tailsift_traces_decided_total` | counter | `outcome` = kept, dropped |
//! | `tailsift_traces_flagged_total` | counter | `flag` = incomplete, early, timed_out, shutdown |
//! | `tailsift_early_decisions_total` | counter | |
//! | `tailsift_buffer_spans`, `tailsift_buffer_bytes`, `tailsift_buffer_traces` | gauge | |
//! | `tailsift_decision_latency_seconds` | histogram | (first span to decision) |

use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use crate::decision::DecisionFlags;
use crate::engine::RejectReason;

pub(crate) struct EngineMetrics {
    pub spans_in: Counter,
    rejected: [Counter; 5],
    forwarded: Counter,
    dropped: Counter,
    late_forwarded: Counter,
    late_dropped: Counter,
    kept: Counter,
    dropped_traces: Counter,
    incomplete: Counter,
    early_flag: Counter,
    timed_out: Counter,
    shutdown: Counter,
    pub early: Counter,
    buffer_spans: Gauge,
    buffer_bytes: Gauge,
    buffer_traces: Gauge,
    latency: Histogram,
}

impl EngineMetrics {
    pub fn new() -> EngineMetrics {
        let flag = |f: &'static str| counter!("tailsift_traces_flagged_total", "flag" => f);
        EngineMetrics {
            spans_in: counter!("tailsift_spans_received_total"),
            rejected: RejectReason::ALL
                .map(|r| counter!("tailsift_spans_rejected_total", "reason" => r.as_str())),
            forwarded: counter!("tailsift_spans_forwarded_total"),
            dropped: counter!("tailsift_spans_dropped_total"),
            late_forwarded: counter!("tailsift_late_spans_total", "outcome" => "forwarded"),
            late_dropped: counter!("tailsift_late_spans_total", "outcome" => "dropped"),
            kept: counter!("tailsift_traces_decided_total", "outcome" => "kept"),
            dropped_traces: counter!("tailsift_traces_decided_total", "outcome" => "dropped"),
            incomplete: flag("incomplete"),
            early_flag: flag("early"),
            timed_out: flag("timed_out"),
            shutdown: flag("shutdown"),
            early: counter!("tailsift_early_decisions_total"),
            buffer_spans: gauge!("tailsift_buffer_spans"),
            buffer_bytes: gauge!("tailsift_buffer_bytes"),
            buffer_traces: gauge!("tailsift_buffer_traces"),
            latency: histogram!("tailsift_decision_latency_seconds"),
        }
    }

    pub fn rejected(&self, reason: RejectReason, n: u64) {
        self.rejected[reason as usize].increment(n);
    }

    pub fn late(&self, forwarded: u64, dropped: u64) {
        if forwarded > 0 {
            self.late_forwarded.increment(forwarded);
            self.forwarded.increment(forwarded);
        }
        if dropped > 0 {
            self.late_dropped.increment(dropped);
            self.dropped.increment(dropped);
        }
    }

    /// Counts the decisions of `tally`: one increment per counter for a whole batch, not one
    /// per decision (with a recorder, each increment is an atomic add that every deciding
    /// thread shares).
    pub fn decided(&self, tally: &DecisionTally) {
        let add = |counter: &Counter, n: u64| {
            if n > 0 {
                counter.increment(n);
            }
        };
        add(&self.kept, tally.kept);
        add(&self.forwarded, tally.forwarded);
        add(&self.dropped_traces, tally.dropped_traces);
        add(&self.dropped, tally.dropped_spans);
        add(&self.incomplete, tally.incomplete);
        add(&self.early_flag, tally.early);
        add(&self.timed_out, tally.timed_out);
        add(&self.shutdown, tally.shutdown);
    }

    pub fn latency(&self, latency: Duration) {
        self.latency.record(latency.as_secs_f64());
    }

    pub fn buffer(&self, spans: usize, bytes: usize, traces: usize) {
        self.buffer_spans.set(spans as f64);
        self.buffer_bytes.set(bytes as f64);
        self.buffer_traces.set(traces as f64);
    }
}

/// Decisions counted for [`EngineMetrics::decided`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DecisionTally {
    kept: u64,
    forwarded: u64,
    dropped_traces: u64,
    dropped_spans: u64,
    incomplete: u64,
    early: u64,
    timed_out: u64,
    shutdown: u64,
}

impl DecisionTally {
    /// Counts one decision of a trace of `spans` spans.
    pub fn add(&mut self, keep: bool, spans: u64, flags: DecisionFlags) {
        if keep {
            self.kept += 1;
            self.forwarded += spans;
        } else {
            self.dropped_traces += 1;
            self.dropped_spans += spans;
        }
        self.incomplete += u64::from(flags.incomplete);
        self.early += u64::from(flags.early);
        self.timed_out += u64::from(flags.timed_out);
        self.shutdown += u64::from(flags.shutdown);
    }
}
