//! The JSON report of `tailsift replay --report`. Its schema is documented, field by field, in
//! `docs/REPLAY.md`; a change here is a change there (and a new `version` if it breaks a
//! reader).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use tailsift::engine::RejectReason;
use tailsift::policy::PolicyTotals;
use tailsift::EngineStats;

/// The report's schema version.
pub const VERSION: u32 = 1;

/// What a replay did.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Schema version (1).
    pub version: u32,
    /// The budget file.
    pub config: PathBuf,
    /// The inputs, in replay order.
    pub inputs: Vec<PathBuf>,
    /// Span time covered: from the first span's start to the last span's end, in seconds.
    pub span_time_seconds: f64,
    /// Spans read from the inputs and offered to the engine.
    pub spans_in: u64,
    /// Spans kept (written to `--kept`), late ones included.
    pub spans_kept: u64,
    /// Spans dropped, late ones included.
    pub spans_dropped: u64,
    /// Spans the engine refused (malformed), never part of a trace.
    pub spans_rejected: u64,
    /// `spans_rejected` by reason.
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Traces the engine saw (a trace id buffered for the first time).
    pub traces_in: u64,
    /// Traces kept.
    pub traces_kept: u64,
    /// Traces dropped.
    pub traces_dropped: u64,
    /// The sum of the kept traces' adjusted counts: an unbiased estimate of `traces_in`.
    pub estimated_traces: f64,
    /// Spans that came after their trace was decided, by what happened to them.
    pub late_spans: LateSpans,
    /// How decisions came about, beyond "complete".
    pub decisions: DecisionCounts,
    /// Per policy, in priority order: what it matched and what was kept with it.
    pub by_policy: ByPolicy,
}

/// Late spans by outcome.
#[derive(Debug, Serialize)]
pub struct LateSpans {
    /// Forwarded: their trace had been kept.
    pub kept: u64,
    /// Dropped: their trace had been dropped (or forgotten by the decision cache and dropped).
    pub dropped: u64,
}

/// Decisions that were not made on a complete trace.
#[derive(Debug, Serialize)]
pub struct DecisionCounts {
    /// Decided at `decision_wait` rather than at completion.
    pub timed_out: u64,
    /// Decided without a root span.
    pub incomplete: u64,
    /// Decided early because the buffer was over its bounds.
    pub early: u64,
}

/// One policy's counts.
#[derive(Debug, Serialize)]
pub struct PolicyCounts {
    /// The policy's kind.
    pub kind: &'static str,
    /// Traces the policy matched (returned keep for, whatever its rate).
    pub matched: u64,
    /// Traces kept with this policy among their reasons.
    pub kept: u64,
    /// Spans of the matched traces.
    pub matched_spans: u64,
    /// Spans of the kept traces.
    pub kept_spans: u64,
    /// Evaluations that failed and used the policy's `on_error` verdict.
    pub errors: u64,
}

/// Policies by name, serialized as a JSON object in priority order.
#[derive(Debug)]
pub struct ByPolicy(pub Vec<(String, PolicyCounts)>);

impl Serialize for ByPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, counts) in &self.0 {
            map.serialize_entry(name, counts)?;
        }
        map.end()
    }
}

impl Report {
    /// The report of a finished replay.
    pub fn new(
        config: PathBuf,
        inputs: Vec<PathBuf>,
        span_time_seconds: f64,
        stats: &EngineStats,
        totals: &[PolicyTotals],
        estimated_traces: f64,
    ) -> Report {
        Report {
            version: VERSION,
            config,
            inputs,
            span_time_seconds,
            spans_in: stats.spans_in,
            spans_kept: stats.spans_forwarded,
            spans_dropped: stats.spans_dropped,
            spans_rejected: stats.rejected.total(),
            rejected_by_reason: RejectReason::ALL
                .iter()
                .map(|&r| (r.as_str(), stats.rejected.get(r)))
                .collect(),
            traces_in: stats.traces_started,
            traces_kept: stats.traces_kept,
            traces_dropped: stats.traces_dropped,
            estimated_traces,
            late_spans: LateSpans {
                kept: stats.late_forwarded,
                dropped: stats.late_dropped,
            },
            decisions: DecisionCounts {
                timed_out: stats.timed_out,
                incomplete: stats.incomplete,
                early: stats.early_decisions,
            },
            by_policy: ByPolicy(
                totals
                    .iter()
                    .map(|t| {
                        (
                            t.name.to_string(),
                            PolicyCounts {
                                kind: t.kind,
                                matched: t.matched.traces,
                                kept: t.kept.traces,
                                matched_spans: t.matched.spans,
                                kept_spans: t.kept.spans,
                                errors: t.errors,
                            },
                        )
                    })
                    .collect(),
            ),
        }
    }
}
