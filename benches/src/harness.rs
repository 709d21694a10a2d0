//! The throughput harness behind `cargo run --release --example throughput`.
//!
//! # What one run measures
//!
//! 1. **Throughput** (`runs` timed repetitions, median reported). The workload's batches are
//!    built before the clock starts (the traffic generator is not timed): just before each
//!    run, or as `input` says ([`InputState`]: read again after a prefill, or built for every
//!    run before the first). A fresh engine, with a
//!    [`ManualClock`], its policy set and a sink that counts and drops, is fed every batch with
//!    `ingest` from `threads` threads, which claim batches in order from a shared cursor. Polls
//!    happen as early as the engine allows:
//!    - `anchor`: batches are taken in groups of `group_batches` (100 ms of traffic); after a
//!      group, the clock moves on by `completion_grace` and the engine is polled, so every trace
//!      whose root came in the group is decided. Engine time is artificial here.
//!    - `mission`: engine time is the traffic's own simulated time (`Batch::at`); the engine is
//!      polled after every batch (10 ms), and the controller steps every interval.
//!
//!    A final poll past `decision_wait` decides whatever is left; it is timed too (except
//!    with `prefill_traces`, whose never-complete traces must stay buffered).
//! 2. **Allocations** (one more run with the counting allocator on): allocations and bytes
//!    allocated per span, end to end; decision latency percentiles (mission), from the
//!    decision's `first_seen`, and from the delivery of the trace's last span (ground truth).
//! 3. **Retained memory** (one more run): every span ingested, nothing polled; live heap after
//!    minus live heap before the spans existed, over the spans buffered. That is what the
//!    engine holds per buffered span: the span itself (its struct in its slot of the shard's
//!    span store, with the store's free slots, and the heap it owns alone), the trace entry,
//!    the tables and queues. Strings, resources and scopes shared by many spans are not per-span costs and
//!    are counted only once (they are built before the baseline is taken); string values a
//!    span holds alone (`values` unique or decoded) are its own heap, measured as what building
//!    the traffic takes beyond building it with shared values.
//!
//! The spans hold their string values as `values` says ([`SpanValues`]): shared by every span
//! (the default), each span's own (as a decoder that interns no value makes them), immortal,
//! or as the OTLP bridge decodes them (the long values of low-cardinality keys interned). With
//! `TAILSIFT_PERF_CTL` set ([`crate::perf_ctl`]), `perf` counts or samples the timed runs alone.
//!
//! With `pace`, the mission traffic is instead replayed in real time (engine time = wall time
//! since the start): feeder threads ingest each batch at its arrival time, the library's
//! [`Driver`] polls (it wakes when the next trace comes due; `poll_every` replaces it with a
//! loop that sleeps that long between polls, as the harness did before), and the report gives
//! how late batches were ingested (did the engine keep up?) and the decision latency under that
//! load: in engine time from the batch's scheduled arrival to the poll's time (`decided_at`),
//! and in wall time from the moment the batch was handed to `ingest` to the moment the sink
//! received the decision.
//!
//! Peak RSS is the process's `VmHWM`, reset before the timed runs where the kernel allows.
//!
//! (Over 600 lines: one harness, whose modes — timed, allocation-counting, retained-memory and
//! paced runs — share the prepared traffic, the runner and the report; the workloads and the
//! counting allocator are their own modules.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tailsift::{
    Clock, Decision, Driver, DriverConfig, Engine, EngineConfig, EngineStats, ManualClock,
    PollReport, Pollable, Sampler, Sink, Span, TraceId,
};
use tailsift_traffic::{AnchorConfig, Batch, MissionConfig, SpanValues};

use crate::counting::{self, AllocSnapshot};
use crate::perf_ctl::PerfControl;
use crate::workloads::{
    anchor_policy_set, builders, demo_config, engine_config, otlp_encoded_len, owned_heap_bytes,
    PolicyForm, SpanFactory,
};

/// Which traffic the harness runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// The anchor: 10,000 traces × 10 spans (see `tailsift_traffic::AnchorConfig`).
    Anchor,
    /// The demo's traffic with the mission's four policies and the controller.
    Mission,
}

impl WorkloadKind {
    /// `"anchor"` or `"mission"`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Anchor => "anchor",
            WorkloadKind::Mission => "mission",
        }
    }

    /// Parses `"anchor"` or `"mission"`.
    pub fn from_name(name: &str) -> Result<WorkloadKind, String> {
        match name {
            "anchor" => Ok(WorkloadKind::Anchor),
            "mission" => Ok(WorkloadKind::Mission),
            other => Err(format!(
                "unknown workload {other:?}: expected anchor or mission"
            )),
        }
    }
}

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The workload.
    pub workload: WorkloadKind,
    /// Ingest threads (at least 1).
    pub threads: usize,
    /// A small run (1,000 anchor traces; 5 s of mission traffic; 2 timed runs) that takes a
    /// few seconds even in a debug build: the CI smoke test.
    pub quick: bool,
    /// How the mission's policies are written (the anchor always uses native policies).
    pub form: PolicyForm,
    /// Timed repetitions (the median is reported). Default 7 (2 when quick).
    pub runs: usize,
    /// Anchor: batches per group between polls. Default 10 (100 ms of anchor traffic).
    pub group_batches: usize,
    /// Traces already buffered (one rootless span each, never complete) before the timed part
    /// starts: for the growth figures. Default 0.
    pub prefill_traces: usize,
    /// Mission: whether the controller retunes rates every interval. Default true.
    pub controller: bool,
    /// Mission: replay the traffic in real time at this many spans per second (engine time is
    /// wall time) and report decision latency; replaces the throughput runs.
    pub pace: Option<f64>,
    /// Mission with `pace`: seconds of traffic. Default 3 (1 when quick).
    pub pace_seconds: f64,
    /// The buffer's bound in spans (`buffer.max_spans`, with `max_bytes` at 1 KiB a span);
    /// the engine's default (1,000,000) when `None`.
    pub max_spans: Option<usize>,
    /// Mission: whether the traffic has its surge (4× the base rate mid-run). Default true.
    pub surge: bool,
    /// With `pace`: poll from a loop that sleeps this long after each poll, instead of the
    /// library's [`Driver`]. Default `None` (the driver, `DriverConfig::default()`).
    pub poll_every: Option<Duration>,
    /// With `pace` and the driver: its polling threads ([`DriverConfig::pollers`]). Default 1.
    pub pollers: usize,
    /// Where the prebuilt traffic stands when the clock starts. Default [`InputState::Built`].
    pub input: InputState,
    /// How the spans hold their string values ([`SpanValues`]). Default shared.
    pub values: SpanValues,
}

/// Where a timed run's prebuilt traffic stands in memory when the clock starts. It matters
/// for the growth figures: a prefill of a million traces between building the traffic and
/// timing it evicts the traffic from the caches, a prefill of ten thousand does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputState {
    /// Built just before the run's engine and prefill (the default).
    #[default]
    Built,
    /// Read once more after the prefill: in cache, as a collector's freshly decoded batch is.
    Warm,
    /// Every timed run's traffic built before the first run: out of cache, and laid out in a
    /// heap no engine has used yet, whatever the prefill.
    Early,
}

impl InputState {
    /// The state named `name` (`built`, `warm` or `early`).
    pub fn from_name(name: &str) -> Result<InputState, String> {
        match name {
            "built" => Ok(InputState::Built),
            "warm" => Ok(InputState::Warm),
            "early" => Ok(InputState::Early),
            other => Err(format!("--input takes built, warm or early, got {other:?}")),
        }
    }
}

impl Options {
    /// The defaults for `workload`.
    pub fn new(workload: WorkloadKind) -> Options {
        Options {
            workload,
            threads: 1,
            quick: false,
            form: PolicyForm::Native,
            runs: 7,
            group_batches: 10,
            prefill_traces: 0,
            controller: true,
            pace: None,
            pace_seconds: 3.0,
            max_spans: None,
            surge: true,
            poll_every: None,
            pollers: 1,
            input: InputState::Built,
            values: SpanValues::Shared,
        }
    }

    /// The quick (smoke test) variant of these options.
    pub fn quick(mut self) -> Options {
        self.quick = true;
        self.runs = self.runs.min(2);
        self.pace_seconds = self.pace_seconds.min(1.0);
        self
    }
}

/// Percentiles of a set of durations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// How many values.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    /// Percentiles of `values` (sorted in place); all zero when empty.
    pub fn of(values: &mut [Duration]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Percentiles {
            count: values.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: values[values.len() - 1],
        }
    }

    /// The same figures in microseconds, for durations well under a millisecond.
    pub fn micros(&self) -> impl std::fmt::Display + '_ {
        struct Micros<'a>(&'a Percentiles);
        impl std::fmt::Display for Micros<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let us = |d: Duration| d.as_secs_f64() * 1e6;
                let p = self.0;
                write!(
                    f,
                    "p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs (n = {})",
                    us(p.p50),
                    us(p.p90),
                    us(p.p99),
                    us(p.p999),
                    us(p.max),
                    p.count
                )
            }
        }
        Micros(self)
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms (n = {})",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max),
            self.count
        )
    }
}

/// What the engine holds per buffered span.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Retained {
    /// Spans buffered when measured.
    pub spans: u64,
    /// Traces buffered when measured.
    pub traces: u64,
    /// Live heap bytes the engine added, per buffered span: everything below together.
    pub bytes_per_span: f64,
    /// `size_of::<Span>()`.
    pub span_struct: usize,
    /// Heap each span owns alone (its attributes, its extra box and the like), on average.
    pub span_owned_heap: f64,
    /// Allocations per span while ingesting (amortized).
    pub ingest_allocs_per_span: f64,
    /// The engine's own `EngineStats::bytes_buffered` per span (its size estimate).
    pub size_estimate_per_span: f64,
    /// The OTLP protobuf-encoded size of a span of the workload, on average.
    pub otlp_bytes_per_span: f64,
    /// The same measure on a *warm* engine: a tenth of the traffic ingested and decided first,
    /// as a running collector's would have been. Counted against the measured spans: everything
    /// the engine holds afterwards beyond what it held before any span existed — what the
    /// warm-up left (grown tables, free slots in the span store, decision-cache entries)
    /// included.
    pub warm_bytes_per_span: f64,
}

/// Everything one harness run found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// `"anchor"` or `"mission"`.
    pub workload: &'static str,
    /// `"native"` or `"cel"`.
    pub form: &'static str,
    /// How the spans held their string values (`"shared"`, `"unique"`, `"immortal"`,
    /// `"decoded"`).
    pub values: Option<&'static str>,
    /// Ingest threads.
    pub threads: usize,
    /// Spans per run.
    pub spans: u64,
    /// Traces decided per run.
    pub traces: u64,
    /// Spans per second of each timed run.
    pub runs: Vec<f64>,
    /// Median of `runs`.
    pub spans_per_second: f64,
    /// Throughput of the counting run (allocator counters on), for comparison.
    pub counting_spans_per_second: f64,
    /// Allocations per span, end to end (ingest, decide, sink drop).
    pub allocs_per_span: f64,
    /// Bytes allocated per span, end to end.
    pub alloc_bytes_per_span: f64,
    /// Retained memory per buffered span.
    pub retained: Retained,
    /// Peak resident set of the process during the timed runs, bytes (0 when unknown).
    pub peak_rss: u64,
    /// Decision latency, first span to decision, engine time (mission; empty for the anchor).
    pub latency_first_seen: Percentiles,
    /// Decision latency, delivery of the batch holding the trace's last span to decision,
    /// engine time (mission, traces without late spans that completed).
    pub latency_last_span: Percentiles,
    /// With `pace`: the same traces' latency in wall time, from the call to `ingest` with the
    /// trace's last span to the sink receiving the decision.
    pub latency_wall: Percentiles,
    /// The engine's counters after the last timed run.
    pub stats: EngineStats,
    /// Traces kept in the last timed run.
    pub kept: u64,
    /// Traces buffered before the timed part (`prefill_traces`).
    pub prefilled: u64,
    /// Controller steps in the last timed run.
    pub controller_steps: u64,
    /// With `pace`: the spans per second asked for, and how far behind the feeder fell at most.
    pub pace: Option<(f64, Duration)>,
    /// With `pace`: how late batches were ingested after their arrival time.
    pub feeder_lag: Percentiles,
    /// With `pace`: time between the starts of consecutive polls.
    pub poll_gaps: Percentiles,
    /// With `pace`: how long each poll took (decide and sink included).
    pub poll_durations: Percentiles,
    /// With `pace`: how long each call to `ingest` took, batch by batch (a collector's
    /// receiver waits this long before it can answer its sender).
    pub ingest_durations: Percentiles,
    /// With `pace`: what polled (the driver, or a fixed sleep between polls).
    pub poller: String,
    /// Whether the counting allocator was installed (else allocation figures are zero).
    pub counted: bool,
    /// The buffer's bound in spans during the runs.
    pub max_spans: usize,
}

impl Report {
    /// The summary line the issue asks for:
    /// `<workload>: <N> spans/s, <B> B retained/span, <A> allocs/span`.
    pub fn summary_line(&self) -> String {
        format!(
            "{}: {} spans/s, {:.0} B retained/span, {:.2} allocs/span",
            self.workload,
            self.spans_per_second.round() as u64,
            self.retained.bytes_per_span,
            self.allocs_per_span
        )
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.retained;
        let values = self
            .values
            .map(|v| format!(", {v} attribute values"))
            .unwrap_or_default();
        writeln!(
            f,
            "workload {} ({} policies{values}), {} ingest thread(s), {} spans and {} traces per run, buffer bound {} spans",
            self.workload, self.form, self.threads, self.spans, self.traces, self.max_spans
        )?;
        if let Some((pace, lag)) = self.pace {
            writeln!(
                f,
                "paced replay at {pace:.0} spans/s on average over the traffic's duration (then its late spans); batches ingested late by: {}",
                self.feeder_lag
            )?;
            writeln!(f, "poller: {}", self.poller)?;
            writeln!(f, "time between polls: {}", self.poll_gaps)?;
            writeln!(f, "poll durations: {}", self.poll_durations)?;
            writeln!(f, "ingest calls: {}", self.ingest_durations.micros())?;
            let _ = lag;
        } else {
            let runs: Vec<String> = self.runs.iter().map(|r| format!("{:.0}", r)).collect();
            writeln!(
                f,
                "throughput: {:.0} spans/s median of [{}]",
                self.spans_per_second,
                runs.join(", ")
            )?;
            writeln!(
                f,
                "with counting allocator: {:.0} spans/s",
                self.counting_spans_per_second
            )?;
        }
        if self.prefilled > 0 {
            writeln!(
                f,
                "prefilled: {} buffered traces before timing",
                self.prefilled
            )?;
        }
        if self.counted {
            writeln!(f, "allocator: {}", counting::allocator())?;
        } else {
            writeln!(
                f,
                "allocations: not counted (counting allocator not installed)"
            )?;
        }
        writeln!(
            f,
            "allocations end to end: {:.2} allocs/span, {:.0} B allocated/span",
            self.allocs_per_span, self.alloc_bytes_per_span
        )?;
        if self.pace.is_some() {
            writeln!(f, "retained per buffered span: not measured in a paced run")?;
        } else {
            writeln!(
            f,
            "retained per buffered span: {:.0} B ({} spans in {} traces): span struct {} B + its own heap {:.0} B + engine overhead {:.0} B; {:.2} allocs/span on ingest",
            r.bytes_per_span,
            r.spans,
            r.traces,
            r.span_struct,
            r.span_owned_heap,
            r.bytes_per_span - r.span_struct as f64 - r.span_owned_heap,
            r.ingest_allocs_per_span
        )?;
            writeln!(
                f,
                "retained per buffered span, warm engine (a tenth of the traffic decided first): {:.0} B",
                r.warm_bytes_per_span
            )?;
            writeln!(
            f,
            "span size: OTLP-encoded {:.0} B, engine size estimate {:.0} B; target retained <= {:.0} B",
            r.otlp_bytes_per_span,
            r.size_estimate_per_span,
            r.otlp_bytes_per_span + 64.0
        )?;
        }
        writeln!(
            f,
            "peak RSS: {:.1} MiB",
            self.peak_rss as f64 / (1 << 20) as f64
        )?;
        if self.latency_first_seen.count > 0 {
            writeln!(
                f,
                "decision latency, first span to decision: {}",
                self.latency_first_seen
            )?;
            writeln!(
                f,
                "decision latency, last span delivered to decision: {}{}",
                self.latency_last_span,
                if self.pace.is_some() {
                    " (engine time: scheduled arrival to decided_at)"
                } else {
                    " (simulated time, polled every 10 ms: this shows the completion rule, not load; use --pace for latency under load)"
                }
            )?;
            if self.latency_wall.count > 0 {
                writeln!(
                    f,
                    "decision latency, last span ingested to decision received (wall time): {}",
                    self.latency_wall
                )?;
            }
        } else {
            writeln!(
                f,
                "decision latency: n/a (the anchor's engine time is artificial)"
            )?;
        }
        let s = &self.stats;
        writeln!(
            f,
            "last run: {} traces kept of {} decided; late spans {} forwarded, {} dropped; timed out {}, early {}, incomplete {}; controller steps {}; conserved {}",
            self.kept,
            s.traces_kept + s.traces_dropped,
            s.late_forwarded,
            s.late_dropped,
            s.timed_out,
            s.early_decisions,
            s.incomplete,
            self.controller_steps,
            s.conserved()
        )?;
        write!(f, "{}", self.summary_line())
    }
}

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The traffic generator refused its configuration.
    #[error("traffic: {0}")]
    Traffic(String),
    /// The policies or the engine refused theirs.
    #[error("setup: {0}")]
    Setup(String),
}

/// A sink that counts decisions and drops them; optionally records latencies.
#[derive(Default)]
pub struct CountingSink {
    /// Decisions of whole traces (not late spans).
    pub traces: AtomicU64,
    /// Traces kept.
    pub kept: AtomicU64,
    /// Spans forwarded (kept traces' and late spans).
    pub spans_forwarded: AtomicU64,
    /// Late-span decisions.
    pub late: AtomicU64,
    /// When set, every trace decision, for latencies.
    pub record: Option<Mutex<Vec<Decided>>>,
}

/// One trace decision as the recording sink keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decided {
    /// The trace.
    pub trace_id: TraceId,
    /// Engine time of its first span.
    pub first_seen: Duration,
    /// Engine time of the decision.
    pub decided_at: Duration,
    /// Decided at `decision_wait` or without a root (not a complete trace).
    pub not_complete: bool,
    /// When the sink received it (wall time).
    pub received: Instant,
}

impl CountingSink {
    /// A sink that records latencies, with room for `decisions` of them: grown while the
    /// engine runs, the record (tens of MiB) may be copied, and its fresh pages are faulted in,
    /// inside the poll that outgrows it, and the latencies it measures would include that.
    pub fn recording(decisions: usize) -> CountingSink {
        CountingSink {
            record: Some(Mutex::new(Vec::with_capacity(decisions))),
            ..CountingSink::default()
        }
    }
}

/// A [`CountingSink`] shared with the engine.
#[derive(Clone, Default)]
pub struct SharedSink(pub Arc<CountingSink>);

impl Sink for SharedSink {
    fn send(&self, decision: Decision) {
        let sink = &*self.0;
        sink.record_decision(decision);
    }
}

impl CountingSink {
    fn record_decision(&self, decision: Decision) {
        if decision.flags.late {
            self.late.fetch_add(1, Ordering::Relaxed);
        } else {
            self.traces.fetch_add(1, Ordering::Relaxed);
            if let Some(record) = &self.record {
                if let Ok(mut r) = record.lock() {
                    r.push(Decided {
                        trace_id: decision.trace_id,
                        first_seen: decision.first_seen,
                        decided_at: decision.decided_at,
                        not_complete: decision.flags.timed_out || decision.flags.incomplete,
                        received: Instant::now(),
                    });
                }
            }
        }
        if decision.keep {
            self.kept
                .fetch_add(u64::from(!decision.flags.late), Ordering::Relaxed);
            self.spans_forwarded
                .fetch_add(decision.spans.len() as u64, Ordering::Relaxed);
        }
        drop(decision);
    }
}

/// One unit of work: a batch to ingest at an engine time, and maybe a poll after it.
struct Step {
    at: Duration,
    spans: Mutex<Vec<Span>>,
    poll_at: Option<Duration>,
    /// With `pace`: when the batch was handed to `ingest`, nanoseconds after the run started
    /// (0 for a step without spans).
    delivered: AtomicU64,
}

/// The prebuilt traffic of one run.
struct Prepared {
    steps: Vec<Step>,
    spans: u64,
    /// When the batch with the last span of every trace without late spans is delivered
    /// (mission), and the index of its step.
    last_arrival: HashMap<TraceId, (Duration, usize)>,
    end: Duration,
}

/// The anchor traffic `options` ask for.
pub fn anchor_config(options: &Options) -> AnchorConfig {
    AnchorConfig {
        traces: if options.quick { 1_000 } else { 10_000 },
        values: options.values,
        ..AnchorConfig::default()
    }
}

/// The mission traffic `options` ask for.
pub fn mission_config(options: &Options) -> MissionConfig {
    let mut config = MissionConfig {
        surge: options.surge,
        values: options.values,
        ..MissionConfig::default()
    };
    if options.quick {
        config.duration = Duration::from_secs(5);
    }
    if let Some(pace) = options.pace {
        config.spans_per_second = pace;
        config.duration = Duration::from_secs_f64(options.pace_seconds.max(0.1));
    }
    config
}

fn prepare(options: &Options, grace: Duration) -> Result<Prepared, HarnessError> {
    let traffic_error = |e: tailsift_traffic::ConfigError| HarnessError::Traffic(e.to_string());
    match options.workload {
        WorkloadKind::Anchor => {
            let batches = anchor_config(options).prebuild().map_err(traffic_error)?;
            let group = options.group_batches.max(1);
            let mut steps = Vec::with_capacity(batches.len());
            let mut spans = 0;
            let count = batches.len();
            // Group g is ingested at g × grace and polled at (g + 1) × grace.
            for (i, batch) in batches.into_iter().enumerate() {
                let g = (i / group) as u32;
                let last_of_group = i % group == group - 1 || i + 1 == count;
                spans += batch.spans.len() as u64;
                steps.push(Step {
                    at: grace * g,
                    spans: Mutex::new(batch.spans),
                    poll_at: last_of_group.then_some(grace * (g + 1)),
                    delivered: AtomicU64::new(0),
                });
            }
            let end = steps.last().map_or(Duration::ZERO, |s| s.at + grace);
            Ok(Prepared {
                steps,
                spans,
                last_arrival: HashMap::new(),
                end,
            })
        }
        WorkloadKind::Mission => {
            let config = mission_config(options);
            let horizon = config.duration + Duration::from_secs(5);
            let paced = options.pace.is_some();
            let mut steps = Vec::new();
            let mut spans = 0;
            let mut last_arrival = HashMap::new();
            for Batch {
                at,
                spans: batch,
                completed,
                ..
            } in config.traffic().map_err(traffic_error)?
            {
                // A paced replay stops a few seconds after the traffic ends, rather than
                // waiting minutes of wall time for the last late consumers.
                if paced && at > horizon {
                    break;
                }
                // The truth rides in the batch that delivers the trace's last span: `at` is when
                // a collector hands that span to the engine.
                spans += batch.len() as u64;
                poll_only_steps(&mut steps, at);
                for truth in completed {
                    if truth.late_spans == 0 {
                        last_arrival.insert(truth.trace_id, (at, steps.len()));
                    }
                }
                steps.push(Step {
                    at,
                    spans: Mutex::new(batch),
                    poll_at: Some(at),
                    delivered: AtomicU64::new(0),
                });
            }
            // Keep polling until the last traces complete.
            let last = steps.last().map_or(Duration::ZERO, |s| s.at);
            poll_only_steps(&mut steps, last + grace + POLL_EVERY);
            let end = steps.last().map_or(Duration::ZERO, |s| s.at);
            Ok(Prepared {
                steps,
                spans,
                last_arrival,
                end,
            })
        }
    }
}

/// How often the mission's engine is polled, in engine time: the traffic's tick.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Adds steps that only poll, every [`POLL_EVERY`] from the last step until before `until`: the
/// traffic skips ticks in which no span arrives, but a collector's poller keeps ticking.
fn poll_only_steps(steps: &mut Vec<Step>, until: Duration) {
    let Some(mut at) = steps.last().map(|s| s.at + POLL_EVERY) else {
        return;
    };
    while at < until {
        steps.push(Step {
            at,
            spans: Mutex::new(Vec::new()),
            poll_at: Some(at),
            delivered: AtomicU64::new(0),
        });
        at += POLL_EVERY;
    }
}

struct Outcome {
    elapsed: Duration,
    stats: EngineStats,
    kept: u64,
    controller_steps: u64,
    sink: Arc<CountingSink>,
    max_lag: Duration,
    /// Allocations from the start of the timed part to its end (prefill excluded).
    allocs: crate::counting::AllocDelta,
    /// With `pace`: how late each batch was ingested after its arrival time.
    lags: Percentiles,
    /// With `pace`: time between the starts of consecutive polls.
    poll_gaps: Percentiles,
    /// With `pace`: how long each poll took.
    poll_durations: Percentiles,
    /// With `pace`: how long each call to `ingest` took.
    ingest_durations: Percentiles,
    /// With `pace`: when the run started and when each step's batch was handed to `ingest`.
    started: Instant,
    delivered: Vec<Duration>,
}

/// What a run drives: the anchor's bare engine and policy set, or the mission's [`Sampler`]
/// (engine, the demo's policy set, and its controller, stepped on poll).
enum Runner {
    Engine(Box<Engine>),
    Sampler(Box<Sampler>),
}

impl Runner {
    fn engine(&self) -> &Engine {
        match self {
            Runner::Engine(e) => e,
            Runner::Sampler(s) => s.engine(),
        }
    }

    fn ingest(&self, batch: Vec<Span>) {
        self.engine().ingest(batch);
    }

    fn poll(&self, now: Duration) -> PollReport {
        match self {
            Runner::Engine(e) => e.poll(now),
            Runner::Sampler(s) => s.poll(now),
        }
    }

    fn controller_steps(&self) -> u64 {
        match self {
            Runner::Engine(_) => 0,
            Runner::Sampler(s) => s.controller_state().map_or(0, |c| c.steps),
        }
    }
}

fn build_runner(
    options: &Options,
    sink: Arc<CountingSink>,
    clock: ManualClock,
    retained: bool,
) -> Result<Runner, HarnessError> {
    let setup = |e: &dyn std::fmt::Display| HarnessError::Setup(e.to_string());
    let mut engine = run_config(options);
    if retained {
        // Nothing may be decided early while every span is held.
        engine.buffer.max_spans = engine.buffer.max_spans.max(20_000_000);
        engine.buffer.max_bytes = bytesize::ByteSize::gib(64);
    }
    match options.workload {
        WorkloadKind::Anchor => {
            let set = anchor_policy_set().map_err(|e| setup(&e))?;
            let engine = Engine::builder(engine)
                .decider(set)
                .sink(SharedSink(sink))
                .clock(clock)
                .build()
                .map_err(|e| setup(&e))?;
            Ok(Runner::Engine(Box::new(engine)))
        }
        WorkloadKind::Mission => {
            let mut config = demo_config(options.form).map_err(|e| setup(&e))?;
            config.buffer = engine.buffer;
            if !options.controller {
                config.budget = None;
            }
            let sampler = Sampler::builder(config)
                .builders(builders())
                .sink(SharedSink(sink))
                .clock(clock)
                .build()
                .map_err(|e| setup(&e))?;
            Ok(Runner::Sampler(Box::new(sampler)))
        }
    }
}

fn run_config(options: &Options) -> EngineConfig {
    let mut config = match options.workload {
        WorkloadKind::Anchor => engine_config(),
        // The demo's `[buffer]` (the engine's defaults, spelled out in its file).
        WorkloadKind::Mission => demo_config(options.form)
            .map(|c| c.engine())
            .unwrap_or_else(|_| engine_config()),
    };
    if let Some(max) = options.max_spans {
        config.buffer.max_spans = max;
        // Bytes stay out of the way of the span bound (span size estimates are ~220 B).
        config.buffer.max_bytes = bytesize::ByteSize::b((max as u64).saturating_mul(1024));
    }
    if options.prefill_traces > 0 {
        hold_prefilled(&mut config, options.prefill_traces);
    }
    config
}

/// Sets `config` so that `n` traces buffered by [`prefill`] stay buffered through a run: they
/// never complete, and nothing may time them out or push them out early.
pub fn hold_prefilled(config: &mut EngineConfig, n: usize) {
    config.buffer.decision_wait = Duration::from_secs(24 * 3600);
    config.buffer.max_spans = n + 10_000_000;
    config.buffer.max_bytes = bytesize::ByteSize::gib(64);
}

/// Buffers `n` traces of one rootless span each (never complete), in batches of 1,000.
pub fn prefill(engine: &Engine, n: usize) {
    let factory = SpanFactory::new();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let mut spans = factory.trace(
            0xface_0000_0000 + i as u128,
            2,
            Duration::from_millis(10),
            false,
        );
        spans.retain(|s| !s.is_root());
        batch.extend(spans);
        if batch.len() >= 1000 {
            engine.ingest(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        engine.ingest(batch);
    }
}

/// One run over prepared traffic: returns how long it took and what the engine counted.
fn run_once(
    options: &Options,
    prepared: Prepared,
    sink: Arc<CountingSink>,
    mut perf: Option<&mut PerfControl>,
) -> Result<Outcome, HarnessError> {
    let clock = ManualClock::new();
    let runner = Arc::new(build_runner(options, sink.clone(), clock.clone(), false)?);
    let engine = &*runner;
    if options.prefill_traces > 0 {
        prefill(runner.engine(), options.prefill_traces);
    }
    if options.input == InputState::Warm {
        // Every span and its attributes read once (the size estimate touches both).
        let read: usize = prepared
            .steps
            .iter()
            .filter_map(|step| step.spans.lock().ok())
            .map(|spans| spans.iter().map(Span::size_estimate).sum::<usize>())
            .sum();
        std::hint::black_box(read);
    }
    let wait = runner.engine().config().buffer.decision_wait;
    let grace = runner.engine().config().buffer.completion_grace;
    let cursor = AtomicUsize::new(0);
    let steps = &prepared.steps;
    let threads = options.threads.max(1);
    // Threads claim steps in order but may drift apart (one descheduled while another runs on
    // for many steps). Engine time moves with the steps, so a runaway poller would decide
    // traces whose earlier spans a lagging thread still holds, as a real collector's clock
    // never would. A poll therefore first waits until every step more than `slack` steps
    // before it has been ingested (one group for the anchor, 100 ms of traffic for the
    // mission); with one thread it never waits.
    let ingested: Vec<AtomicBool> = steps.iter().map(|_| AtomicBool::new(false)).collect();
    let watermark = AtomicUsize::new(0);
    let slack = match options.workload {
        WorkloadKind::Anchor => options.group_batches.max(1),
        WorkloadKind::Mission => 10,
    };
    let paced = options.pace.is_some();
    let lag_nanos = AtomicU64::new(0);
    let lags = Mutex::new(Vec::new());
    let ingest_durations = Mutex::new(Vec::new());
    let mut poll_gaps = Vec::new();
    let mut poll_durations = Vec::new();

    let allocs_before = AllocSnapshot::now();
    if let Some(perf) = perf.as_deref_mut() {
        perf.enable();
    }
    let started = Instant::now();
    let work = |_: usize| loop {
        let i = cursor.fetch_add(1, Ordering::Relaxed);
        let Some(step) = steps.get(i) else { break };
        if paced {
            // Wait for the batch's arrival time; engine time is wall time since the start.
            loop {
                let now = started.elapsed();
                if now >= step.at {
                    let lag = now - step.at;
                    lag_nanos.fetch_max(lag.as_nanos() as u64, Ordering::Relaxed);
                    if let Ok(mut lags) = lags.lock() {
                        lags.push(lag);
                    }
                    break;
                }
                let wait = step.at - now;
                if wait > Duration::from_micros(200) {
                    std::thread::sleep(wait - Duration::from_micros(100));
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        let now = if paced { started.elapsed() } else { step.at };
        clock.set(now);
        let spans = step
            .spans
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        if !spans.is_empty() {
            if paced {
                // Only batches count as delivered: the poller settles after the last one.
                step.delivered
                    .store(now.as_nanos() as u64, Ordering::Relaxed);
            }
            if paced {
                let called = Instant::now();
                engine.ingest(spans);
                let took = called.elapsed();
                if let Ok(mut durations) = ingest_durations.lock() {
                    durations.push(took);
                }
            } else {
                engine.ingest(spans);
            }
        }
        if let Some(flag) = ingested.get(i) {
            flag.store(true, Ordering::Release);
        }
        if paced {
            continue;
        }
        if let Some(at) = step.poll_at {
            let mut low = watermark.load(Ordering::Acquire);
            while low + slack < i {
                if ingested.get(low).is_none_or(|f| f.load(Ordering::Acquire)) {
                    low += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            watermark.fetch_max(low, Ordering::AcqRel);
            clock.set(at);
            engine.poll(at);
        }
    };
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 1..threads {
            let work = &work;
            let done = &done;
            scope.spawn(move || {
                work(t);
                done.fetch_add(1, Ordering::Release);
            });
        }
        if paced {
            // One poller (the library's driver, or this thread sleeping `poll_every` between
            // polls); feeders on the other threads (or a feeder thread of its own when
            // `threads` is 1).
            let feeders = threads.max(2) - 1;
            if threads == 1 {
                let work = &work;
                let done = &done;
                scope.spawn(move || {
                    work(0);
                    done.fetch_add(1, Ordering::Release);
                });
            }
            // The poller runs until the feeders are done and the traces their last batches
            // completed have come due: stopped sooner, those traces would be decided by the
            // final flush past `decision_wait`, not as a collector's poller decides them.
            let settled = || {
                if done.load(Ordering::Acquire) < feeders {
                    return false;
                }
                let last = steps
                    .iter()
                    .map(|s| s.delivered.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0);
                started.elapsed() > Duration::from_nanos(last) + grace + POLL_EVERY
            };
            if let Some(every) = options.poll_every {
                let mut previous = started.elapsed();
                while !settled() {
                    std::thread::sleep(every);
                    let now = started.elapsed();
                    poll_gaps.push(now - previous);
                    previous = now;
                    clock.set(now);
                    engine.poll(now);
                    poll_durations.push(started.elapsed() - now);
                }
            } else {
                let target = Arc::new(PacedTarget {
                    runner: runner.clone(),
                    clock: clock.clone(),
                    started,
                    log: Mutex::new(PollLog::default()),
                });
                let driver = Driver::start_with(target.clone(), driver_config(options));
                while !settled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if let Ok(driver) = driver {
                    driver.stop();
                }
                let log = target
                    .log
                    .lock()
                    .map(|mut log| std::mem::take(&mut *log))
                    .unwrap_or_default();
                poll_gaps = log.gaps;
                poll_durations = log.durations;
            }
        } else {
            work(0);
        }
    });
    // Whatever is left (rootless traces, late consumers) is decided at `decision_wait`.
    let end = if paced {
        started.elapsed()
    } else {
        prepared.end
    };
    // Prefilled traces never complete and must stay buffered: no final flush past
    // `decision_wait` then (every anchor trace was decided by its group's poll already).
    if options.prefill_traces == 0 {
        let last = end + wait + grace;
        clock.set(last);
        engine.poll(last);
    }
    let elapsed = started.elapsed();
    if let Some(perf) = perf {
        perf.disable();
    }
    let allocs = AllocSnapshot::now().since(&allocs_before);
    let stats = runner.engine().stats();
    let steps_taken = runner.controller_steps();
    let delivered = prepared
        .steps
        .iter()
        .map(|s| Duration::from_nanos(s.delivered.load(Ordering::Relaxed)))
        .collect();
    drop(prepared);
    Ok(Outcome {
        elapsed,
        stats,
        kept: sink.kept.load(Ordering::Relaxed),
        controller_steps: steps_taken,
        sink,
        max_lag: Duration::from_nanos(lag_nanos.load(Ordering::Relaxed)),
        allocs,
        lags: Percentiles::of(&mut lags.into_inner().unwrap_or_default()),
        poll_gaps: Percentiles::of(&mut poll_gaps),
        poll_durations: Percentiles::of(&mut poll_durations),
        ingest_durations: Percentiles::of(&mut ingest_durations.into_inner().unwrap_or_default()),
        started,
        delivered,
    })
}

/// The paced run's driver: the library's defaults, with `options.pollers` threads.
fn driver_config(options: &Options) -> DriverConfig {
    DriverConfig {
        pollers: options.pollers,
        ..DriverConfig::default()
    }
}

/// What the driver polls in a paced run: the runner, on a manual clock kept at wall time since
/// the start, with each poll's start and duration logged.
struct PacedTarget {
    runner: Arc<Runner>,
    clock: ManualClock,
    started: Instant,
    log: Mutex<PollLog>,
}

#[derive(Default)]
struct PollLog {
    previous: Option<Duration>,
    gaps: Vec<Duration>,
    durations: Vec<Duration>,
}

impl Pollable for PacedTarget {
    fn poll_now(&self) -> PollReport {
        let now = self.now();
        let report = self.runner.poll(now);
        let took = self.started.elapsed().saturating_sub(now);
        if let Ok(mut log) = self.log.lock() {
            if let Some(previous) = log.previous.replace(now) {
                log.gaps.push(now.saturating_sub(previous));
            }
            log.durations.push(took);
        }
        report
    }

    fn now(&self) -> Duration {
        self.clock.set(self.started.elapsed());
        self.clock.now()
    }
}

/// Measures what the engine holds per buffered span: every span ingested, nothing polled; on a
/// fresh engine, and on one that has first decided a tenth of the traffic.
fn measure_retained(options: &Options) -> Result<Retained, HarnessError> {
    let mut retained = measure_retained_once(options, false)?;
    retained.warm_bytes_per_span = measure_retained_once(options, true)?.bytes_per_span;
    Ok(retained)
}

/// Heap the traffic's spans hold in string values of their own ([`SpanValues::Unique`], and
/// the long values of [`SpanValues::Decoded`] that are not interned): what building it takes
/// beyond building the same traffic with shared values, which differs in nothing else. Zero
/// for shared and immortal values (their strings are the traffic's, not a span's: counted
/// once, like resources). The few strings `Decoded` interns are counted too, a fraction of a
/// byte per span.
fn own_strings_bytes(options: &Options, grace: Duration) -> Result<usize, HarnessError> {
    if !matches!(options.values, SpanValues::Unique | SpanValues::Decoded) {
        return Ok(0);
    }
    let built_bytes = |options: &Options| -> Result<i64, HarnessError> {
        let before = AllocSnapshot::now();
        let prepared = prepare(options, grace)?;
        let after = AllocSnapshot::now();
        drop(prepared);
        Ok(after.live_bytes - before.live_bytes)
    };
    let shared = Options {
        values: SpanValues::Shared,
        ..options.clone()
    };
    let own = built_bytes(options)? - built_bytes(&shared)?;
    Ok(usize::try_from(own).unwrap_or(0))
}

fn measure_retained_once(options: &Options, warm: bool) -> Result<Retained, HarnessError> {
    let grace = engine_config().buffer.completion_grace;
    counting::set_enabled(true);
    // Shared strings and resources are built with the traffic; build (and drop) one copy
    // first so the generator's one-time state is not charged to the spans.
    let prepared = prepare(options, grace)?;
    let mut batches: Vec<Vec<Span>> = prepared
        .steps
        .into_iter()
        .filter_map(|s| s.spans.into_inner().ok())
        .collect();
    drop(prepared.last_arrival);
    let spans: Vec<&Span> = batches.iter().flatten().collect();
    let n = spans.len().max(1) as f64;
    let owned = spans.iter().map(|s| owned_heap_bytes(s)).sum::<usize>() as f64 / n
        + own_strings_bytes(options, grace)? as f64 / n;
    // One trace's worth of spans is enough for the encoded size (the shapes repeat).
    let sample: Vec<&Span> = spans.iter().step_by(97).take(2_000).copied().collect();
    let otlp = sample.iter().map(|s| otlp_encoded_len(s)).sum::<usize>() as f64
        / sample.len().max(1) as f64;
    drop(spans);

    let sink = Arc::new(CountingSink::default());
    let clock = ManualClock::new();
    let runner = build_runner(options, sink, clock, true)?;
    let engine = runner.engine();
    // Live heap now holds the prebuilt batches. Their spans move into the engine; the batch
    // vectors are freed by `ingest`. The baseline is therefore "everything but the spans":
    // live now, minus the spans' structs (in the batch vectors) and their own heap.
    let batch_bytes: usize = batches
        .iter()
        .map(|b| b.capacity() * std::mem::size_of::<Span>())
        .sum();
    let own_heap_total = owned * n;
    let outer = batches.capacity() * std::mem::size_of::<Vec<Span>>();
    let before = AllocSnapshot::now();
    let baseline = before.live_bytes - batch_bytes as i64 - own_heap_total as i64 - outer as i64;
    if warm {
        // Decide a tenth of the traffic first; its spans are freed (the sink drops them), and
        // what the engine keeps of it stays in the measure.
        let warm_up: Vec<Vec<Span>> = batches.drain(..batches.len() / 10).collect();
        for batch in warm_up {
            engine.ingest(batch);
        }
        let wait = engine.config().buffer.decision_wait;
        runner.poll(wait + Duration::from_secs(1));
    }
    for batch in batches.drain(..) {
        engine.ingest(batch);
    }
    drop(batches);
    let after = AllocSnapshot::now();
    let stats = engine.stats();
    let buffered = stats.spans_buffered.max(1);
    let delta = after.since(&before);
    let retained = Retained {
        spans: stats.spans_buffered,
        traces: stats.traces_buffered,
        bytes_per_span: (after.live_bytes - baseline) as f64 / buffered as f64,
        span_struct: std::mem::size_of::<Span>(),
        span_owned_heap: owned,
        ingest_allocs_per_span: delta.allocations as f64 / buffered as f64,
        size_estimate_per_span: stats.bytes_buffered as f64 / buffered as f64,
        otlp_bytes_per_span: otlp,
        warm_bytes_per_span: 0.0,
    };
    drop(runner);
    Ok(retained)
}

/// Peak resident set size of the process so far (`VmHWM`), in bytes; 0 when unknown.
pub fn peak_rss() -> u64 {
    status_bytes("VmHWM:")
}

/// The process's resident set size now, in bytes (0 where `/proc` does not say).
pub fn current_rss() -> u64 {
    status_bytes("VmRSS:")
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resets the peak resident set size to the current one, where the kernel allows it.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The growth figure from paired runs: see [`growth`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Growth {
    /// Traces buffered before the timed part: the small and the large size.
    pub sizes: (usize, usize),
    /// Spans/s of each pair's run at the small size and at the large size.
    pub pairs: Vec<(f64, f64)>,
}

impl Growth {
    /// Each pair's large-size throughput over its small-size one.
    pub fn ratios(&self) -> Vec<f64> {
        self.pairs
            .iter()
            .map(|(small, large)| large / small)
            .collect()
    }

    /// The geometric mean of [`Growth::ratios`]: the growth figure (1.0 = no slowdown). Pairs
    /// alternate which size runs first, and a run's speed depends on what the run before it
    /// left in the process's heap, so the ratios come in two groups, one per order; their
    /// geometric mean weighs the two orders equally.
    pub fn ratio(&self) -> f64 {
        let ratios = self.ratios();
        let logs: f64 = ratios.iter().map(|r| r.ln()).sum();
        (logs / ratios.len().max(1) as f64).exp()
    }

    /// The median ratio of the pairs run small size first, and of those run large size first.
    pub fn ratios_by_order(&self) -> (f64, f64) {
        let ratios = self.ratios();
        (
            median(ratios.iter().step_by(2).copied().collect()),
            median(ratios.iter().skip(1).step_by(2).copied().collect()),
        )
    }

    /// The medians of the small-size and the large-size runs.
    pub fn medians(&self) -> (f64, f64) {
        (
            median(self.pairs.iter().map(|p| p.0).collect()),
            median(self.pairs.iter().map(|p| p.1).collect()),
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the workload `pairs` times at each of two prefill sizes (`options.prefill_traces` is
/// ignored), one run of each size per pair, alternating which goes first. On a shared machine
/// whose speed drifts over seconds, runs far apart in time differ by more than the sizes do; a
/// pair's two runs are adjacent, so their ratio is what the buffered traces cost.
pub fn growth(
    options: &Options,
    sizes: (usize, usize),
    pairs: usize,
) -> Result<Growth, HarnessError> {
    let grace = engine_config().buffer.completion_grace;
    let runs = 2 * pairs.max(1);
    let mut early = Vec::new();
    if options.input == InputState::Early {
        for _ in 0..runs {
            early.push(prepare(options, grace)?);
        }
    }
    let mut one = |prefill: usize| -> Result<f64, HarnessError> {
        let options = Options {
            prefill_traces: prefill,
            ..options.clone()
        };
        let prepared = match early.pop() {
            Some(prepared) => prepared,
            None => prepare(&options, grace)?,
        };
        let spans = prepared.spans;
        counting::set_enabled(false);
        let outcome = run_once(&options, prepared, Arc::new(CountingSink::default()), None);
        counting::set_enabled(true);
        Ok(spans as f64 / outcome?.elapsed.as_secs_f64().max(1e-9))
    };
    let mut growth = Growth {
        sizes,
        pairs: Vec::new(),
    };
    for pair in 0..pairs.max(1) {
        let measured = if pair % 2 == 0 {
            let small = one(sizes.0)?;
            (small, one(sizes.1)?)
        } else {
            let large = one(sizes.1)?;
            (one(sizes.0)?, large)
        };
        growth.pairs.push(measured);
    }
    Ok(growth)
}

/// Runs the harness.
pub fn run(options: &Options) -> Result<Report, HarnessError> {
    let grace = engine_config().buffer.completion_grace;
    let mut report = Report {
        workload: options.workload.as_str(),
        form: match options.workload {
            WorkloadKind::Anchor => "native",
            WorkloadKind::Mission => options.form.as_str(),
        },
        values: Some(options.values.name()),
        threads: options.threads.max(1),
        prefilled: options.prefill_traces as u64,
        counted: counting::installed(),
        max_spans: run_config(options).buffer.max_spans,
        ..Report::default()
    };

    // Timed runs, counting off.
    let runs = if options.pace.is_some() {
        0
    } else {
        options.runs.max(1)
    };
    let mut peak = 0;
    // With `InputState::Early`, every run's traffic now, in the order the runs take it.
    let mut early = Vec::new();
    if options.input == InputState::Early {
        for _ in 0..runs {
            early.push(prepare(options, grace)?);
        }
        early.reverse();
    }
    // `TAILSIFT_PERF_CTL`: perf counts (or samples) the timed runs alone.
    let mut perf = PerfControl::from_env();
    for _ in 0..runs {
        let prepared = match early.pop() {
            Some(prepared) => prepared,
            None => prepare(options, grace)?,
        };
        report.spans = prepared.spans;
        counting::set_enabled(false);
        reset_peak_rss();
        let outcome = run_once(
            options,
            prepared,
            Arc::new(CountingSink::default()),
            perf.as_mut(),
        );
        peak = peak.max(peak_rss());
        counting::set_enabled(true);
        let outcome = outcome?;
        report
            .runs
            .push(report.spans as f64 / outcome.elapsed.as_secs_f64().max(1e-9));
        report.stats = outcome.stats;
        report.kept = outcome.kept;
        report.traces = outcome.stats.traces_kept + outcome.stats.traces_dropped;
        report.controller_steps = outcome.controller_steps;
    }
    report.spans_per_second = median(report.runs.clone());

    // The counting run: allocations end to end, and decision latency.
    let mut prepared = prepare(options, grace)?;
    let spans = prepared.spans;
    let last_arrival = std::mem::take(&mut prepared.last_arrival);
    counting::set_enabled(true);
    if runs == 0 {
        reset_peak_rss();
    }
    // A decision per trace: the mission's traces without late spans and a few more; the
    // anchor's (no late spans) are one per 10 spans.
    let decisions = match last_arrival.len() {
        0 => spans as usize / 10,
        n => n + n / 8,
    };
    let outcome = run_once(
        options,
        prepared,
        Arc::new(CountingSink::recording(decisions)),
        None,
    )?;
    let delta = outcome.allocs;
    peak = peak.max(peak_rss());
    report.counting_spans_per_second = spans as f64 / outcome.elapsed.as_secs_f64().max(1e-9);
    report.allocs_per_span = delta.allocations as f64 / spans.max(1) as f64;
    report.alloc_bytes_per_span = delta.allocated_bytes as f64 / spans.max(1) as f64;
    if let Some(pace) = options.pace {
        report.spans = spans;
        // A paced run offers its rate; whether the engine kept up is the feeder's lag.
        report.spans_per_second = pace;
        report.pace = Some((pace, outcome.max_lag));
        report.feeder_lag = outcome.lags;
        report.poll_gaps = outcome.poll_gaps;
        report.poll_durations = outcome.poll_durations;
        report.ingest_durations = outcome.ingest_durations;
        report.poller = match options.poll_every {
            Some(every) => format!("a loop sleeping {every:?} between polls"),
            None => format!("tailsift::Driver, {:?}", driver_config(options)),
        };
        report.stats = outcome.stats;
        report.kept = outcome.kept;
        report.traces = outcome.stats.traces_kept + outcome.stats.traces_dropped;
        report.controller_steps = outcome.controller_steps;
    }
    if options.workload == WorkloadKind::Mission {
        let records = outcome
            .sink
            .record
            .as_ref()
            .and_then(|r| r.lock().ok().map(|mut v| std::mem::take(&mut *v)))
            .unwrap_or_default();
        let mut first: Vec<Duration> = records
            .iter()
            .map(|d| d.decided_at.saturating_sub(d.first_seen))
            .collect();
        let mut last: Vec<Duration> = records
            .iter()
            .filter(|d| !d.not_complete)
            .filter_map(|d| {
                last_arrival
                    .get(&d.trace_id)
                    .map(|&(a, _)| d.decided_at.saturating_sub(a))
            })
            .collect();
        report.latency_first_seen = Percentiles::of(&mut first);
        report.latency_last_span = Percentiles::of(&mut last);
        if options.pace.is_some() {
            let mut wall: Vec<Duration> = records
                .iter()
                .filter(|d| !d.not_complete)
                .filter_map(|d| {
                    let &(_, step) = last_arrival.get(&d.trace_id)?;
                    let delivered = outcome.started + *outcome.delivered.get(step)?;
                    Some(d.received.saturating_duration_since(delivered))
                })
                .collect();
            report.latency_wall = Percentiles::of(&mut wall);
        }
    }
    drop(outcome);

    // Retained memory per buffered span.
    if options.pace.is_none() {
        report.retained = measure_retained(options)?;
    }
    report.peak_rss = peak;
    Ok(report)
}
