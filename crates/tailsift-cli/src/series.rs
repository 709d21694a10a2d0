//! What a run measures: decisions tallied as they leave the engine ([`Tally`]), and one point
//! per controller interval ([`Recorder`], [`Series`]) for the summary and the charts.

use std::time::Duration;

use tailsift::controller::ControllerState;
use tailsift::{Decision, Str};

use crate::pipeline::Pipeline;

/// Counts taken from decisions.
#[derive(Clone, Debug)]
pub struct Tally {
    /// The policies, in priority order.
    pub names: Vec<Str>,
    /// Kept spans by the first policy among each decision's reasons (the one with the highest
    /// priority); the extra last entry counts keeps without reasons (`default_keep`).
    pub kept_spans_by_first: Vec<u64>,
    /// Traces kept (late spans' decisions not counted).
    pub kept_traces: u64,
    /// Traces dropped.
    pub dropped_traces: u64,
    /// Spans forwarded, late ones included.
    pub kept_spans: u64,
    /// Bytes forwarded (span size estimates).
    pub kept_bytes: u64,
    /// Sum of the kept traces' adjusted counts: the estimate of how many traces there were.
    pub estimated_traces: f64,
}

impl Tally {
    /// An empty tally for policies `names`.
    pub fn new(names: Vec<Str>) -> Tally {
        Tally {
            kept_spans_by_first: vec![0; names.len() + 1],
            names,
            kept_traces: 0,
            dropped_traces: 0,
            kept_spans: 0,
            kept_bytes: 0,
            estimated_traces: 0.0,
        }
    }

    /// Counts one decision.
    pub fn record(&mut self, d: &Decision) {
        if !d.keep {
            if !d.flags.late {
                self.dropped_traces += 1;
            }
            return;
        }
        let n = d.spans.len() as u64;
        self.kept_spans += n;
        self.kept_bytes += d
            .spans
            .iter()
            .map(|s| s.size_estimate() as u64)
            .sum::<u64>();
        if !d.flags.late {
            self.kept_traces += 1;
            self.estimated_traces += d.adjusted_count;
        }
        let first = d
            .reasons
            .iter()
            .find_map(|r| self.names.iter().position(|n| n == r))
            .unwrap_or(self.names.len());
        self.kept_spans_by_first[first] += n;
    }
}

/// One controller interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The interval's end, engine time.
    pub at: Duration,
    /// Spans offered per second.
    pub spans_in: f64,
    /// Spans kept per second.
    pub kept: f64,
    /// Kept bytes per second.
    pub kept_bytes: f64,
    /// Spans kept per second by first reason, per policy (plus the default last).
    pub kept_by_policy: Vec<f64>,
    /// Spans per second each policy matched (its demand, whatever its rate).
    pub matched_by_policy: Vec<f64>,
    /// Each policy's rate set by the controller (a stratified policy's strata weighted by
    /// their demand); `None` without a controller.
    pub rate_by_policy: Vec<Option<f64>>,
}

/// Every interval of a run.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// The policies, in priority order.
    pub names: Vec<String>,
    /// Length of one interval.
    pub interval: Duration,
    /// Budget in spans per second, if any.
    pub budget_spans: Option<f64>,
    /// Budget in bytes per second, if any.
    pub budget_bytes: Option<f64>,
    /// The points, in time order.
    pub points: Vec<Point>,
}

#[derive(Clone, Default)]
struct Snapshot {
    spans_in: u64,
    kept: u64,
    kept_bytes: u64,
    kept_by_first: Vec<u64>,
    matched: Vec<u64>,
}

/// Takes a [`Point`] at every interval boundary the run passes.
pub struct Recorder {
    next: Duration,
    last: Snapshot,
    /// What was recorded.
    pub series: Series,
}

impl Recorder {
    /// A recorder for a run of `pipeline` whose budget is `budget_spans`/`budget_bytes` per s.
    pub fn new(
        pipeline: &Pipeline,
        names: Vec<String>,
        budget_spans: Option<f64>,
        budget_bytes: Option<f64>,
    ) -> Recorder {
        let interval = pipeline.interval();
        Recorder {
            next: interval,
            last: Snapshot {
                kept_by_first: vec![0; names.len() + 1],
                matched: vec![0; names.len()],
                ..Snapshot::default()
            },
            series: Series {
                names,
                interval,
                budget_spans,
                budget_bytes,
                points: Vec::new(),
            },
        }
    }

    /// Records a point for every interval that ended by `now` (call after
    /// `Pipeline::advance(now)` and after handing the decisions to `tally`).
    pub fn observe(&mut self, now: Duration, pipeline: &Pipeline, tally: &Tally) {
        while self.next <= now {
            let at = self.next;
            self.next += self.series.interval;
            self.take(at, pipeline, tally);
        }
    }

    /// Records the last, partial interval (at the end of a run), if anything happened in it.
    pub fn finish(&mut self, now: Duration, pipeline: &Pipeline, tally: &Tally) {
        self.observe(now, pipeline, tally);
        let start = self.next.saturating_sub(self.series.interval);
        if now > start + self.series.interval / 4 {
            self.take(now, pipeline, tally);
        }
    }

    fn take(&mut self, at: Duration, pipeline: &Pipeline, tally: &Tally) {
        let start = self.series.points.last().map_or(Duration::ZERO, |p| p.at);
        let secs = at.saturating_sub(start).as_secs_f64().max(1e-9);
        let now = Snapshot {
            spans_in: pipeline.stats().spans_in,
            kept: tally.kept_spans,
            kept_bytes: tally.kept_bytes,
            kept_by_first: tally.kept_spans_by_first.clone(),
            matched: pipeline
                .policy_totals()
                .iter()
                .map(|t| t.matched.spans)
                .collect(),
        };
        let per_s = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        let delta = |a: &[u64], b: &[u64]| -> Vec<f64> {
            a.iter()
                .enumerate()
                .map(|(i, &x)| per_s(x, b.get(i).copied().unwrap_or(0)))
                .collect()
        };
        let rates = rates(
            pipeline.controller_state().as_ref(),
            self.series.names.len(),
        );
        self.series.points.push(Point {
            at,
            spans_in: per_s(now.spans_in, self.last.spans_in),
            kept: per_s(now.kept, self.last.kept),
            kept_bytes: per_s(now.kept_bytes, self.last.kept_bytes),
            kept_by_policy: delta(&now.kept_by_first, &self.last.kept_by_first),
            matched_by_policy: delta(&now.matched, &self.last.matched),
            rate_by_policy: rates,
        });
        self.last = now;
    }
}

/// Each policy's controller rate; a stratified policy's strata weighted by forecast spans.
fn rates(state: Option<&ControllerState>, n: usize) -> Vec<Option<f64>> {
    let Some(state) = state.filter(|s| s.steps > 0) else {
        return vec![None; n];
    };
    (0..n)
        .map(|i| {
            let p = state.policies.get(i)?;
            let weight: f64 = p.strata.iter().map(|(_, d, _)| d.spans).sum();
            if weight > 0.0 {
                Some(p.strata.iter().map(|(_, d, r)| d.spans * r).sum::<f64>() / weight)
            } else {
                Some(p.rate)
            }
        })
        .collect()
}

impl Series {
    /// Kept output over budget per interval (spans, or bytes when only bytes are budgeted).
    pub fn budget_use(&self) -> Vec<(Duration, f64)> {
        self.points
            .iter()
            .filter_map(|p| match (self.budget_spans, self.budget_bytes) {
                (Some(b), _) => Some((p.at, p.kept / b)),
                (None, Some(b)) => Some((p.at, p.kept_bytes / b)),
                (None, None) => None,
            })
            .collect()
    }
}
