//! The summary tables `demo` and `replay` print: spans in and out, kept by policy, budget use
//! per interval, estimated against true trace counts, and the engine's throughput.

use std::fmt::Write;
use std::time::Duration;

use tailsift::policy::PolicyTotals;
use tailsift::EngineStats;

use crate::series::{Series, Tally};
use crate::table::{count, countf, percent, rate, si, sparkline, Table};

/// Estimated against true trace counts for one group of traces.
#[derive(Clone, Debug, Default)]
pub struct TruthRow {
    /// The group (`all traces`, `errors`, a root operation...).
    pub label: String,
    /// Traces the generator made.
    pub traces: u64,
    /// Of them, kept.
    pub kept: u64,
    /// Sum of the kept ones' adjusted counts.
    pub estimated: f64,
}

/// Everything the summary shows.
pub struct Summary<'a> {
    /// Engine counters at the end.
    pub stats: &'a EngineStats,
    /// Decisions tallied.
    pub tally: &'a Tally,
    /// Per-policy totals.
    pub totals: &'a [PolicyTotals],
    /// Per-interval points.
    pub series: &'a Series,
    /// Estimated vs true counts (empty for a replay: no ground truth).
    pub truth: &'a [TruthRow],
    /// Time spent inside the engine (ingest and poll).
    pub engine_time: Duration,
    /// Wall time of the whole run.
    pub wall: Duration,
}

/// The summary as text.
pub fn render(s: &Summary<'_>) -> String {
    let mut out = String::new();
    let st = s.stats;
    let spans_in = st.spans_in as f64;
    let mut t = Table::new(["spans", "count", "share"]);
    t.row(["in".into(), count(st.spans_in), String::new()]);
    t.row([
        "kept".into(),
        count(st.spans_forwarded),
        percent(st.spans_forwarded as f64, spans_in),
    ]);
    t.row([
        "dropped".into(),
        count(st.spans_dropped),
        percent(st.spans_dropped as f64, spans_in),
    ]);
    t.row([
        "rejected (malformed)".into(),
        count(st.rejected.total()),
        percent(st.rejected.total() as f64, spans_in),
    ]);
    t.row([
        "late, kept / dropped".into(),
        format!("{} / {}", count(st.late_forwarded), count(st.late_dropped)),
        String::new(),
    ]);
    t.row([
        "traces kept / decided".into(),
        format!(
            "{} / {}",
            count(st.traces_kept),
            count(st.traces_kept + st.traces_dropped)
        ),
        percent(
            st.traces_kept as f64,
            (st.traces_kept + st.traces_dropped) as f64,
        ),
    ]);
    out.push_str(&t.render(2));

    let last_rates = s.series.points.last().map(|p| p.rate_by_policy.clone());
    let mut t = Table::new([
        "kept by policy",
        "kind",
        "matched traces",
        "kept traces",
        "kept spans (first reason)",
        "rate now",
    ]);
    for (i, p) in s.totals.iter().enumerate() {
        let first = s.tally.kept_spans_by_first.get(i).copied().unwrap_or(0);
        let r = last_rates
            .as_ref()
            .and_then(|r| r.get(i).copied().flatten())
            .map_or_else(|| "-".into(), rate);
        t.row([
            p.name.to_string(),
            p.kind.to_string(),
            count(p.matched.traces),
            count(p.kept.traces),
            format!(
                "{} ({})",
                count(first),
                percent(first as f64, s.tally.kept_spans as f64)
            ),
            r,
        ]);
    }
    if let Some(&other) = s.tally.kept_spans_by_first.last().filter(|&&n| n > 0) {
        t.row([
            "(default_keep)".into(),
            String::new(),
            String::new(),
            String::new(),
            count(other),
        ]);
    }
    out.push('\n');
    out.push_str(&t.render(2));

    out.push('\n');
    out.push_str(&budget_use(s.series));

    if !s.truth.is_empty() {
        let mut t = Table::new(["traces", "true", "kept", "estimated", "error"]);
        for row in s.truth {
            let err = if row.traces > 0 {
                format!(
                    "{:+.1}%",
                    100.0 * (row.estimated - row.traces as f64) / row.traces as f64
                )
            } else {
                "-".into()
            };
            t.row([
                row.label.clone(),
                count(row.traces),
                count(row.kept),
                countf(row.estimated),
                err,
            ]);
        }
        out.push('\n');
        out.push_str(&t.render(2));
        out.push_str("  (estimated = sum of kept traces' adjusted counts; true = generated)\n");
    } else {
        let _ = writeln!(
            out,
            "\n  traces: {} decided, estimated {} from adjusted counts",
            count(st.traces_kept + st.traces_dropped),
            countf(s.tally.estimated_traces)
        );
    }

    let engine_secs = s.engine_time.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "\n  engine: {} spans/s ({} spans in {:.2} s inside ingest and poll, one thread); wall {:.2} s",
        si(spans_in / engine_secs),
        count(st.spans_in),
        engine_secs,
        s.wall.as_secs_f64()
    );
    out
}

/// Budget use per interval: a sparkline of every interval, then a few rows of merged intervals.
fn budget_use(series: &Series) -> String {
    let mut out = String::new();
    let uses = series.budget_use();
    let interval = humantime::format_duration(series.interval);
    let Some(budget) = series.budget_spans.or(series.budget_bytes) else {
        let _ = writeln!(
            out,
            "  no [budget]: no controller; every policy keeps at its configured rate \
             ({} intervals of {interval} recorded)",
            series.points.len()
        );
        return out;
    };
    let unit = if series.budget_spans.is_some() {
        "spans/s"
    } else {
        "bytes/s"
    };
    let values: Vec<f64> = uses.iter().map(|&(_, u)| u).collect();
    let over = values.iter().filter(|&&u| u > 1.1).count();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let max = sorted.last().copied().unwrap_or(0.0);
    let _ = writeln!(
        out,
        "  budget use per {interval} interval (kept / {} {unit}): median {:.0}%, max {:.0}%, \
         over 110% in {over} of {} intervals",
        countf(budget),
        100.0 * median,
        100.0 * max,
        values.len()
    );
    let _ = writeln!(out, "  {}", sparkline(&values, max.max(1.0)));
    // At most 12 rows: consecutive intervals merged.
    let group = series.points.len().div_ceil(12).max(1);
    let mut t = Table::new(["time", "in spans/s", "kept spans/s", "kept/budget"]);
    let mut start = Duration::ZERO;
    let minutes = series
        .points
        .last()
        .is_some_and(|p| p.at >= Duration::from_secs(180));
    for chunk in series.points.chunks(group) {
        let end = chunk.last().map_or(start, |p| p.at);
        let n = chunk.len() as f64;
        let spans_in = chunk.iter().map(|p| p.spans_in).sum::<f64>() / n;
        let kept = chunk.iter().map(|p| p.kept).sum::<f64>() / n;
        let kept_unit = if series.budget_spans.is_some() {
            kept
        } else {
            chunk.iter().map(|p| p.kept_bytes).sum::<f64>() / n
        };
        t.row([
            format!("{:>5} – {:<5}", secs(start, minutes), secs(end, minutes)),
            countf(spans_in),
            countf(kept),
            percent(kept_unit, budget),
        ]);
        start = end;
    }
    out.push_str(&t.render(2));
    out
}

fn secs(d: Duration, minutes: bool) -> String {
    let s = d.as_secs_f64();
    if minutes {
        format!("{:.1}m", s / 60.0)
    } else {
        format!("{s:.0}s")
    }
}
