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
use crate::engine::{PollReport, RejectReason};

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

    /// Counts the decisions of a batch: `report`'s traces and spans, and `flags`. One increment
    /// per counter for the whole batch, not one per decision (with a recorder, each increment is
    /// an atomic add that every deciding thread shares).
    pub fn decided(&self, report: &PollReport, flags: &FlagCounts) {
        let add = |counter: &Counter, n: u64| {
            if n > 0 {
                counter.increment(n);
            }
        };
        add(&self.kept, report.traces_kept);
        add(&self.forwarded, report.spans_forwarded);
        add(&self.dropped_traces, report.traces_dropped);
        add(&self.dropped, report.spans_dropped);
        add(&self.incomplete, flags.incomplete);
        add(&self.early_flag, flags.early);
        add(&self.timed_out, flags.timed_out);
        add(&self.shutdown, flags.shutdown);
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

/// How many decisions of a batch carried each flag, for [`EngineMetrics::decided`] (the
/// batch's [`PollReport`] counts its traces and spans).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlagCounts {
    incomplete: u64,
    early: u64,
    timed_out: u64,
    shutdown: u64,
}

impl FlagCounts {
    /// Counts one decision's flags.
    pub fn add(&mut self, flags: DecisionFlags) {
        self.incomplete += u64::from(flags.incomplete);
        self.early += u64::from(flags.early);
        self.timed_out += u64::from(flags.timed_out);
        self.shutdown += u64::from(flags.shutdown);
    }
}
