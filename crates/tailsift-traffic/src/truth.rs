//! Ground truth: what the generator knows about each trace it made, so tests of the engine can
//! check decisions and unbiased counts against it without re-deriving anything from spans.

use std::time::Duration;

use tailsift::span::find_attribute;
use tailsift::{Span, StatusCode, Str, Text, TraceId, Value};

/// The label a workload gave a trace when it made it: the one property that explains why a
/// sampler should (or need not) keep it. A trace with several properties carries the first in
/// this order: burst error, error, slow; see the booleans of [`TraceTruth`] for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TraceKind {
    /// Nothing notable: fast and error-free.
    Normal,
    /// Has an error that arose outside any error burst (the background error rate, or the
    /// anchor workload's 5%).
    Error,
    /// Has an error caused by an error burst of one service.
    BurstError,
    /// Slow: the anchor workload's 800 ms roots, or the mission workload's slow-dependency
    /// outliers.
    Slow,
}

impl TraceKind {
    /// The lower-case label: `"normal"`, `"error"`, `"burst_error"`, `"slow"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceKind::Normal => "normal",
            TraceKind::Error => "error",
            TraceKind::BurstError => "burst_error",
            TraceKind::Slow => "slow",
        }
    }
}

/// Everything the generator knows about one trace. Handed out in the [`crate::Batch`] that
/// carries the trace's last-arriving span.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceTruth {
    /// The trace's id.
    pub trace_id: TraceId,
    /// How many spans the trace has (all of them valid, all with this trace id).
    pub span_count: u32,
    /// Sum of [`Span::size_estimate`] over the trace's spans: the unit of byte budgets.
    pub size_estimate: u64,
    /// Whether some span has status ERROR.
    pub has_error: bool,
    /// How many spans have status ERROR.
    pub error_spans: u32,
    /// Earliest span start, unix nanoseconds.
    pub start_unix_nano: u64,
    /// Earliest start to latest end, as the engine's `TraceView::duration` computes it.
    pub duration: Duration,
    /// The root span's duration.
    pub root_duration: Duration,
    /// The root span's `service.name`.
    pub root_service: Text,
    /// The root span's name.
    pub root_operation: Str,
    /// Whether the trace contains an operation of the critical checkout path
    /// ([`crate::CRITICAL_OPERATIONS`]).
    pub critical_path: bool,
    /// Whether the workload made the trace slow on purpose (an 800 ms anchor root, a slow
    /// dependency in the mission workload).
    pub slow: bool,
    /// Spans of a slow asynchronous consumer that arrive long (seconds) after the root.
    pub late_spans: u32,
    /// The label that explains the trace.
    pub kind: TraceKind,
    /// When the root span arrives, since the simulation start.
    pub root_arrival: Duration,
    /// When the trace's last span arrives, since the simulation start.
    pub last_arrival: Duration,
}

impl TraceTruth {
    /// Derives the span-level facts (count, size, errors, times, root) from the trace's spans;
    /// the caller fills in what only the workload knows. `spans` must be non-empty and hold
    /// one root.
    pub(crate) fn from_spans(spans: &[Span], label: TruthLabel) -> TraceTruth {
        let mut start = u64::MAX;
        let mut end = 0;
        let mut size = 0u64;
        let mut errors = 0u32;
        let mut root: Option<&Span> = None;
        for span in spans {
            start = start.min(span.start_time_unix_nano);
            end = end.max(span.end_time_unix_nano.max(span.start_time_unix_nano));
            size += span.size_estimate() as u64;
            if span.status_code == StatusCode::Error {
                errors += 1;
            }
            if span.is_root() {
                root = Some(span);
            }
        }
        if spans.is_empty() {
            start = 0;
        }
        let (root_service, root_operation, root_duration) = match root {
            Some(r) => (
                // The resource's own string: shared (or held in place), not copied.
                find_attribute(&r.resource().attributes, "service.name")
                    .and_then(|v| match v {
                        Value::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default(),
                r.name.clone(),
                Duration::from_nanos(r.duration_nanos()),
            ),
            None => (Text::empty(), Str::empty(), Duration::ZERO),
        };
        let kind = if errors > 0 && label.burst_error {
            TraceKind::BurstError
        } else if errors > 0 {
            TraceKind::Error
        } else if label.slow {
            TraceKind::Slow
        } else {
            TraceKind::Normal
        };
        TraceTruth {
            trace_id: spans.first().map(|s| s.trace_id).unwrap_or_default(),
            span_count: spans.len() as u32,
            size_estimate: size,
            has_error: errors > 0,
            error_spans: errors,
            start_unix_nano: start,
            duration: Duration::from_nanos(end.saturating_sub(start)),
            root_duration,
            root_service,
            root_operation,
            critical_path: label.critical_path,
            slow: label.slow,
            late_spans: label.late_spans,
            kind,
            root_arrival: label.root_arrival,
            last_arrival: label.last_arrival,
        }
    }
}

/// What only the workload knows about a trace, handed to [`TraceTruth::from_spans`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TruthLabel {
    pub(crate) burst_error: bool,
    pub(crate) slow: bool,
    pub(crate) critical_path: bool,
    pub(crate) late_spans: u32,
    pub(crate) root_arrival: Duration,
    pub(crate) last_arrival: Duration,
}
