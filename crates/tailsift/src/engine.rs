//! The [`Engine`]: routes spans to shards, decides ready traces, and hands decisions to the sink.
//!
//! Architecture invariants:
//! - No global lock on the span path: a batch is split by shard (consistent hashing of the trace
//!   id on a [`Ring`]) and each shard is locked once per batch.
//! - Every span offered to `ingest` gets exactly one counted outcome: rejected (with a reason),
//!   forwarded (kept, now or late), or dropped (by decision, late, or at shutdown). While buffered
//!   it is counted as buffered. [`EngineStats::conserved`] checks the sum.
//! - The sink is never called while a shard lock is held, so a sink may block or re-enter.
//! - Policies run with no shard lock held: a trace is taken out of its shard and registered as
//!   being decided under one hold, and its decision is recorded in the decision cache under the
//!   next. A span that arrives for it in between waits in the shard for the decision and then
//!   follows it as a late span; a span after it follows the cached decision. Either way it never
//!   starts a second trace, and an ingest never waits for a policy, however slow.
//! - A shard held by another thread is passed over and locked after the free ones
//!   (`ShardOrder`).
//! - A poll locks only the shards that may have a trace due: each lock hold that changes a shard
//!   publishes, beside the lock, the earliest time one may come due, never later than the truth
//!   (`engine::cell`).
//!
//! (Over 600 lines: ingest, poll and shutdown share one lock discipline and one decision path,
//! which read best together; the parts that stand alone are `engine::slots` and `engine::scratch`.)

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{MutexGuard, RwLock};

use crate::buffer::{Offer, ReadyTrace, Shard};
use crate::cache::{DecisionCache, KeptEntry};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, EngineConfig, OutputConfig, ShutdownMode};
use crate::decision::{Decision, DecisionFlags, Sink};
use crate::metrics::{EngineMetrics, FlagCounts};
use crate::policy::Decider;
use crate::ring::Ring;
use crate::span::{KeyValue, Span, Str, Value};
use crate::verdict::{th_value, Outcome};
use crate::view::{TraceFlags, TraceView};

mod cell;
mod scratch;
mod slots;

use cell::{ShardCell, ShardGauges};
use scratch::{Judged, Pending, Route, Scratch, SCRATCH};
use slots::Slots;

/// Why a span was rejected at ingest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The trace id is all zeroes.
    ZeroTraceId,
    /// The span id is all zeroes.
    ZeroSpanId,
    /// The span ends before it starts.
    EndBeforeStart,
    /// The batch held more than `buffer.max_batch_spans` spans.
    BatchTooLarge,
    /// The engine was shut down.
    ShutDown,
}

impl RejectReason {
    /// Every reason, in the order of [`RejectCounts`]' array.
    pub const ALL: [RejectReason; 5] = [
        RejectReason::ZeroTraceId,
        RejectReason::ZeroSpanId,
        RejectReason::EndBeforeStart,
        RejectReason::BatchTooLarge,
        RejectReason::ShutDown,
    ];

    /// The reason's label in metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::ZeroTraceId => "zero_trace_id",
            RejectReason::ZeroSpanId => "zero_span_id",
            RejectReason::EndBeforeStart => "end_before_start",
            RejectReason::BatchTooLarge => "batch_too_large",
            RejectReason::ShutDown => "shut_down",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Rejected spans by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectCounts(pub [u64; 5]);

impl RejectCounts {
    /// Spans rejected for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason.index()]
    }

    /// All rejected spans.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    fn add(&mut self, reason: RejectReason, n: u64) {
        self.0[reason.index()] += n;
    }
}

/// What happened to one batch handed to [`Engine::ingest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Spans now buffered with their traces.
    pub buffered: u64,
    /// Spans whose trace was already kept: forwarded at once.
    pub late_forwarded: u64,
    /// Spans whose trace was already dropped: dropped.
    pub late_dropped: u64,
    /// Spans rejected, by reason.
    pub rejected: RejectCounts,
    /// Traces decided early because this batch pushed a shard over its bounds.
    pub early_decisions: u64,
}

/// What one [`Engine::poll`] (or shutdown) decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Traces kept.
    pub traces_kept: u64,
    /// Traces dropped.
    pub traces_dropped: u64,
    /// Spans forwarded with kept traces.
    pub spans_forwarded: u64,
    /// Spans dropped with dropped traces.
    pub spans_dropped: u64,
    /// When to poll next: no trace can be due before this engine time, not even one whose
    /// first span arrives after this poll. The earliest due time of what is buffered (which
    /// may be early: an entry of a trace decided since, or of one that got a span since), or
    /// this poll's time plus `completion_grace` when that is sooner. A poller that waits until
    /// then decides every complete trace as soon as it is due; [`crate::Driver`] does.
    pub next_due: Duration,
}

impl PollReport {
    /// Traces decided.
    pub fn traces(&self) -> u64 {
        self.traces_kept + self.traces_dropped
    }
}

/// A snapshot of the engine's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineStats {
    /// Spans offered to `ingest`, rejected ones included.
    pub spans_in: u64,
    /// Spans rejected, by reason.
    pub rejected: RejectCounts,
    /// Spans forwarded to the sink (with kept traces or late).
    pub spans_forwarded: u64,
    /// Spans dropped (with dropped traces, late, or at shutdown).
    pub spans_dropped: u64,
    /// Spans buffered now (those of traces being decided included: not yet forwarded or
    /// dropped).
    pub spans_buffered: u64,
    /// Bytes buffered now (span size estimates).
    pub bytes_buffered: u64,
    /// Traces buffered now.
    pub traces_buffered: u64,
    /// Late spans forwarded.
    pub late_forwarded: u64,
    /// Late spans dropped.
    pub late_dropped: u64,
    /// Traces started (first span buffered).
    pub traces_started: u64,
    /// Traces kept.
    pub traces_kept: u64,
    /// Traces dropped.
    pub traces_dropped: u64,
    /// Traces decided early under memory pressure.
    pub early_decisions: u64,
    /// Traces decided at `decision_wait`.
    pub timed_out: u64,
    /// Traces decided without a root.
    pub incomplete: u64,
    /// Decider panics (the trace was kept, fail-open).
    pub decider_panics: u64,
    /// Decision cache entries forgotten to stay within bounds.
    pub cache_evictions: u64,
    /// Bytes held by the decision caches' tables.
    pub cache_bytes: u64,
}

impl EngineStats {
    /// Whether every span offered has exactly one outcome:
    /// `spans_in == forwarded + dropped + rejected + buffered`.
    pub fn conserved(&self) -> bool {
        self.spans_in
            == self.spans_forwarded
                + self.spans_dropped
                + self.rejected.total()
                + self.spans_buffered
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    config: EngineConfig,
    decider: Option<Arc<dyn Decider>>,
    sink: Option<Arc<dyn Sink>>,
    clock: Arc<dyn Clock>,
}

impl EngineBuilder {
    /// The decider: a `PolicySet` or any `Fn(&TraceView) -> Verdict`. Required.
    pub fn decider(mut self, decider: impl Decider + 'static) -> Self {
        self.decider = Some(Arc::new(decider));
        self
    }

    /// The decider, already shared.
    pub fn shared_decider(mut self, decider: Arc<dyn Decider>) -> Self {
        self.decider = Some(decider);
        self
    }

    /// Where decisions go. Required.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Where decisions go, already shared.
    pub fn shared_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The engine's clock (default: the system's monotonic clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Validates the config and builds the engine.
    pub fn build(self) -> Result<Engine, ConfigError> {
        self.config.validate()?;
        let missing = |key: &str| ConfigError {
            key: key.to_string(),
            problem: "is required: call EngineBuilder::".to_string() + key,
        };
        let decider = self.decider.ok_or_else(|| missing("decider"))?;
        let sink = self.sink.ok_or_else(|| missing("sink"))?;
        let n = self.config.shard_count();
        let per = |total: usize| total.div_ceil(n).max(1);
        let shards = (0..n)
            .map(|_| {
                ShardCell::new(Shard::new(DecisionCache::new(
                    per(self.config.decision_cache.kept_entries),
                    per(self.config.decision_cache.dropped_entries),
                )))
            })
            .collect();
        // Shard indices are distinct and few, so this cannot fail; an empty ring routes every
        // span to shard 0 all the same.
        let ring = Ring::from_owners((0..n).map(|i| (i, 1))).unwrap_or_default();
        let shard_max_bytes = usize::try_from(self.config.buffer.max_bytes.as_u64())
            .unwrap_or(usize::MAX)
            .div_ceil(n);
        Ok(Engine {
            shard_max_spans: per(self.config.buffer.max_spans),
            shard_max_bytes,
            config: self.config,
            shards,
            ring,
            decider: RwLock::new(decider),
            sink,
            clock: self.clock,
            rejected: Default::default(),
            spans_offered: AtomicU64::new(0),
            decider_panics: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            rotation: AtomicU64::new(0),
            metrics: EngineMetrics::new(),
        })
    }
}

/// The tail-sampling engine. Share it between threads behind an `Arc`: `ingest` and `poll` take
/// `&self` and may run concurrently.
pub struct Engine {
    config: EngineConfig,
    shard_max_spans: usize,
    shard_max_bytes: usize,
    shards: Box<[ShardCell]>,
    ring: Ring<usize>,
    decider: RwLock<Arc<dyn Decider>>,
    sink: Arc<dyn Sink>,
    clock: Arc<dyn Clock>,
    rejected: [AtomicU64; 5],
    spans_offered: AtomicU64,
    decider_panics: AtomicU64,
    closed: AtomicBool,
    /// Counts `ingest` and `poll` calls, to start each at a different shard.
    rotation: AtomicU64,
    metrics: EngineMetrics,
}

/// The order in which an ingest or a poll visits the shards: every shard once, from `first` on,
/// without waiting for a shard another thread holds; then those it found held, waiting for
/// each. Waiting on a busy lock while free ones remain is time lost to both threads.
struct ShardOrder {
    first: usize,
    n: usize,
    next: usize,
    /// The shards found held, in the order found; `revisit` of them done.
    busy: Vec<usize>,
    revisit: usize,
}

/// Which pass of a [`ShardOrder`] a shard is visited in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// The first: a held shard is passed over.
    Free,
    /// The second, over the shards passed over: their locks are waited for.
    Busy,
}

impl ShardOrder {
    /// `busy` is a reusable vector, handed back by [`ShardOrder::finish`].
    fn new(first: usize, n: usize, busy: &mut Vec<usize>) -> ShardOrder {
        let mut busy = std::mem::take(busy);
        busy.clear();
        ShardOrder {
            first,
            n,
            next: 0,
            busy,
            revisit: 0,
        }
    }

    fn next(&mut self) -> Option<(usize, Pass)> {
        if self.next < self.n {
            let index = (self.first + self.next) % self.n;
            self.next += 1;
            return Some((index, Pass::Free));
        }
        let index = *self.busy.get(self.revisit)?;
        self.revisit += 1;
        Some((index, Pass::Busy))
    }

    /// Locks `cell` (shard `index`), or, in the first pass, passes it over for the second when
    /// another thread holds it.
    fn lock<'a>(
        &mut self,
        cell: &'a ShardCell,
        index: usize,
        pass: Pass,
    ) -> Option<MutexGuard<'a, Shard>> {
        match pass {
            Pass::Busy => Some(cell.lock()),
            Pass::Free => {
                let shard = cell.try_lock();
                if shard.is_none() {
                    self.busy.push(index);
                }
                shard
            }
        }
    }

    fn finish(self) -> Vec<usize> {
        self.busy
    }
}

/// Which shards a [`Engine::decide_each_shard`] locks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Those whose published due time is not after the poll's time.
    MayBeDue,
    /// All of them (shutdown).
    Every,
}

/// Traces taken out of a shard per lock hold, decided with the lock released and recorded under
/// the next hold. Bounds a hold to the taking (queue pops, the spans' moves out of the store) and
/// the recording (counters, cache marks) of 32 traces, and the decisions a poll keeps before
/// handing them to the sink.
const DECIDE_CHUNK: usize = 32;

/// How many spans ahead ingest prefetches the decision cache's slot of a span's trace: far
/// enough for the load to arrive (a few hundred cycles of offering spans), near enough to stay
/// in cache until used.
const CACHE_PREFETCH_AHEAD: usize = 8;

/// Spans that arrived for a trace while it was being decided, forwarded or dropped with its
/// decision as late spans.
#[derive(Default)]
struct LateCounts {
    forwarded: u64,
    dropped: u64,
}

/// Buffer gauges summed over shards, and the earliest due time, each read while its shard was
/// locked anyway.
#[derive(Default)]
struct Gauges {
    spans: usize,
    bytes: usize,
    traces: usize,
    next_due: Option<Duration>,
}

impl Gauges {
    fn add(&mut self, shard: ShardGauges) {
        self.spans += shard.spans;
        self.bytes += shard.bytes;
        self.traces += shard.traces;
        if let Some(due) = shard.due {
            self.next_due = Some(self.next_due.map_or(due, |d| d.min(due)));
        }
    }
}

impl Engine {
    /// Starts building an engine from `config`.
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            decider: None,
            sink: None,
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// The config the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Replaces the decider (a config reload). Traces buffered so far are decided by the new
    /// one; nothing buffered is lost.
    pub fn set_decider(&self, decider: Arc<dyn Decider>) {
        *self.decider.write() = decider;
    }

    /// Hands spans to the engine. Spans of one trace may come in any number of batches, from
    /// any number of threads.
    pub fn ingest(&self, batch: Vec<Span>) -> IngestReport {
        let now = self.clock.now();
        let mut report = IngestReport::default();
        let offered = batch.len() as u64;
        self.spans_offered.fetch_add(offered, Ordering::Relaxed);
        self.metrics.spans_in.increment(offered);
        if batch.len() > self.config.buffer.max_batch_spans {
            report.rejected.add(RejectReason::BatchTooLarge, offered);
            self.count_rejected(&report.rejected);
            return report;
        }
        let mut scratch = SCRATCH.with(Cell::take);
        scratch.route(&batch, &self.ring, self.shards.len(), &mut report.rejected);
        let mut slots = Slots::new(batch, std::mem::take(&mut scratch.live));
        let grace = self.config.buffer.completion_grace;
        let wait = self.config.buffer.decision_wait;
        let mut late_spans = Vec::new();
        let mut late = LateCounts::default();
        // Only needed for early decisions: not cloned (a shared reference count) otherwise.
        let mut decider: Option<Arc<dyn Decider>> = None;
        let mut shards = ShardOrder::new(self.first_shard(), self.shards.len(), &mut scratch.busy);
        while let Some((index, pass)) = shards.next() {
            let members = scratch.starts[index] as usize..scratch.starts[index + 1] as usize;
            if members.is_empty() {
                continue;
            }
            let cell = &self.shards[index];
            let Some(mut shard) = shards.lock(cell, index, pass) else {
                continue;
            };
            if self.closed.load(Ordering::Acquire) {
                // Dropped with the slots, after the locks are released.
                report
                    .rejected
                    .add(RejectReason::ShutDown, members.len() as u64);
                continue;
            }
            // A span of a new trace asks the decision cache, a miss to memory when it is full:
            // its slot starts loading a few spans ahead.
            let order = &scratch.order[members];
            for &first in order.iter().take(CACHE_PREFETCH_AHEAD) {
                shard.cache.prefetch(scratch.routes[first as usize].hash);
            }
            for (p, &i) in order.iter().enumerate() {
                if let Some(&ahead) = order.get(p + CACHE_PREFETCH_AHEAD) {
                    shard.cache.prefetch(scratch.routes[ahead as usize].hash);
                }
                let i = i as usize;
                let Some(span) = slots.get(i) else { continue };
                let Route { hash, size, .. } = scratch.routes[i];
                match shard.offer(hash, span, size, now, grace) {
                    Offer::Buffer(pusher) => {
                        // `get` found the span just above, so `take` moves it.
                        if let Some(span) = slots.take(i) {
                            pusher.push(span);
                        }
                        report.buffered += 1;
                    }
                    Offer::LateKept(entry) => {
                        report.late_forwarded += 1;
                        late_spans.extend(slots.take(i).map(|span| (entry, span)));
                    }
                    // Dropped with the slots, after the locks are released.
                    Offer::LateDropped => report.late_dropped += 1,
                }
            }
            // Over the bounds: decide the oldest traces early until the shard fits again, their
            // policies run with the lock released, as a poll's are.
            while shard.span_count() > self.shard_max_spans || shard.bytes > self.shard_max_bytes {
                let flags = TraceFlags {
                    early: true,
                    ..TraceFlags::default()
                };
                let Some(trace) = shard.take_oldest(flags) else {
                    break;
                };
                shard.counters.early += 1;
                report.early_decisions += 1;
                let pending = Self::gather(&mut shard, trace, &mut scratch);
                scratch.pending.push(pending);
            }
            cell.publish_ingest(&shard, now, wait);
            if !scratch.pending.is_empty() {
                drop(shard);
                let decider = decider.get_or_insert_with(|| self.decider.read().clone());
                let shard = self.judge_and_record(cell, &**decider, now, &mut scratch, &mut late);
                cell.publish_ingest(&shard, now, wait);
            }
        }
        scratch.busy = shards.finish();
        scratch.live = slots.finish();
        scratch.release_discarded();
        self.count_rejected(&report.rejected);
        // This batch's late spans, and those parked for the traces it decided early.
        self.metrics.late(
            report.late_forwarded + late.forwarded,
            report.late_dropped + late.dropped,
        );
        self.metrics.early.increment(report.early_decisions);
        for (entry, span) in late_spans {
            self.sink.send(self.late_decision(entry, span, now));
        }
        if !scratch.decided.is_empty() {
            let (mut poll, mut flags) = (PollReport::default(), FlagCounts::default());
            self.emit(&mut scratch.decided, &mut poll, &mut flags);
            self.metrics.decided(&poll, &flags);
        }
        for decision in scratch.late.drain(..) {
            self.sink.send(decision);
        }
        SCRATCH.with(|s| s.set(scratch));
        report
    }

    /// The shard an `ingest` or `poll` starts at: a different one each call, so that threads
    /// working through the shards at once do not march in lockstep from shard 0, queueing on
    /// each other's locks.
    fn first_shard(&self) -> usize {
        let call = self.rotation.fetch_add(1, Ordering::Relaxed);
        // Fibonacci hashing spreads consecutive calls around the shards.
        (call.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % self.shards.len()
    }

    /// Decides every trace that is due at `now`: complete traces (root ended, no span for
    /// `completion_grace`) and traces that waited `decision_wait`.
    pub fn poll(&self, now: Duration) -> PollReport {
        let grace = self.config.buffer.completion_grace;
        let wait = self.config.buffer.decision_wait;
        let mut report = PollReport::default();
        self.decide_each_shard(now, &mut report, Visit::MayBeDue, |shard, ready| {
            shard.take_due(now, grace, wait, DECIDE_CHUNK, ready)
        });
        report
    }

    /// Decides every trace that is due by the engine's clock.
    pub fn poll_now(&self) -> PollReport {
        self.poll(self.clock.now())
    }

    /// Stops accepting spans and decides (or, with `on_shutdown = "drop"`, drops) every pending
    /// trace. Spans ingested afterwards are rejected as `shut_down`. Returns what was decided.
    pub fn shutdown(&self) -> PollReport {
        self.closed.store(true, Ordering::Release);
        let now = self.clock.now();
        let mut report = PollReport::default();
        let flags = TraceFlags {
            shutdown: true,
            ..TraceFlags::default()
        };
        match self.config.buffer.on_shutdown {
            ShutdownMode::Decide => {
                self.decide_each_shard(now, &mut report, Visit::Every, |shard, ready| {
                    while ready.len() < DECIDE_CHUNK {
                        match shard.take_oldest(flags) {
                            Some(trace) => ready.push(trace),
                            None => break,
                        }
                    }
                })
            }
            ShutdownMode::Drop => {
                let mut discard = Vec::new();
                let mut gauges = Gauges::default();
                let mut counted = FlagCounts::default();
                for cell in self.shards.iter() {
                    loop {
                        {
                            let mut shard = cell.lock();
                            while discard.len() < DECIDE_CHUNK {
                                let Some(trace) = shard.take_oldest(flags) else {
                                    break;
                                };
                                let n = trace.spans.len() as u64;
                                let mut spans = Vec::new();
                                shard.gather(trace.spans, &mut spans);
                                shard.counters.traces_dropped += 1;
                                shard.counters.spans_dropped += n;
                                report.traces_dropped += 1;
                                report.spans_dropped += n;
                                counted.add(DecisionFlags::from(flags));
                                discard.push(spans);
                            }
                            if discard.len() < DECIDE_CHUNK {
                                let wait = self.config.buffer.decision_wait;
                                gauges.add(cell.publish_exact(&shard, wait));
                            }
                        }
                        let full = discard.len() == DECIDE_CHUNK;
                        // The spans are dropped with the lock released.
                        discard.clear();
                        if !full {
                            break;
                        }
                    }
                }
                self.metrics.decided(&report, &counted);
                self.metrics
                    .buffer(gauges.spans, gauges.bytes, gauges.traces);
            }
        }
        report
    }

    /// For each shard, repeatedly takes up to [`DECIDE_CHUNK`] traces with `take` and decides
    /// them, until `take` comes back with less than a full chunk. Each chunk takes two holds of
    /// the shard's lock: one to take the traces out and gather their spans, one to record their
    /// decisions; the policies run between them, with the lock released, and the decisions are
    /// emitted after the second. With [`Visit::MayBeDue`], a shard whose published due time is
    /// after `now` is not locked (see `engine::cell`). `report` comes in empty: what it counts
    /// goes to the metrics.
    fn decide_each_shard(
        &self,
        now: Duration,
        report: &mut PollReport,
        visit: Visit,
        mut take: impl FnMut(&mut Shard, &mut Vec<ReadyTrace>),
    ) {
        let decider = self.decider.read().clone();
        let mut scratch = SCRATCH.with(Cell::take);
        let mut gauges = Gauges::default();
        let mut flags = FlagCounts::default();
        let mut late = LateCounts::default();
        let wait = self.config.buffer.decision_wait;
        let mut shards = ShardOrder::new(self.first_shard(), self.shards.len(), &mut scratch.busy);
        while let Some((index, pass)) = shards.next() {
            let cell = &self.shards[index];
            if visit == Visit::MayBeDue && !cell.may_be_due(now) {
                gauges.add(cell.published());
                continue;
            }
            let Some(shard) = shards.lock(cell, index, pass) else {
                continue;
            };
            let mut hold = Some(shard);
            loop {
                let full = {
                    let mut shard = hold.take().unwrap_or_else(|| cell.lock());
                    let mut ready = std::mem::take(&mut scratch.ready);
                    take(&mut shard, &mut ready);
                    let full = ready.len() >= DECIDE_CHUNK;
                    for trace in ready.drain(..) {
                        let pending = Self::gather(&mut shard, trace, &mut scratch);
                        scratch.pending.push(pending);
                    }
                    scratch.ready = ready;
                    if scratch.pending.is_empty() {
                        shard.shrink_if_sparse();
                        gauges.add(cell.publish_exact(&shard, wait));
                        break;
                    }
                    full
                };
                // The policies, with the lock released; then a second hold records them.
                {
                    let mut shard =
                        self.judge_and_record(cell, &*decider, now, &mut scratch, &mut late);
                    if !full {
                        shard.shrink_if_sparse();
                        gauges.add(cell.publish_exact(&shard, wait));
                    }
                }
                scratch.release_discarded();
                self.emit(&mut scratch.decided, report, &mut flags);
                for decision in scratch.late.drain(..) {
                    self.sink.send(decision);
                }
                if !full {
                    break;
                }
            }
        }
        scratch.busy = shards.finish();
        self.metrics.decided(report, &flags);
        self.metrics.late(late.forwarded, late.dropped);
        self.metrics
            .buffer(gauges.spans, gauges.bytes, gauges.traces);
        // Whatever arrives from now on is due `completion_grace` after it at the soonest.
        let soonest_new = now + self.config.buffer.completion_grace;
        report.next_due = gauges.next_due.map_or(soonest_new, |d| d.min(soonest_new));
        SCRATCH.with(|s| s.set(scratch));
    }

    /// A snapshot of the counters (locks each shard briefly).
    pub fn stats(&self) -> EngineStats {
        let mut s = EngineStats {
            spans_in: self.spans_offered.load(Ordering::Relaxed),
            decider_panics: self.decider_panics.load(Ordering::Relaxed),
            ..EngineStats::default()
        };
        for (i, r) in self.rejected.iter().enumerate() {
            s.rejected.0[i] = r.load(Ordering::Relaxed);
        }
        for cell in self.shards.iter() {
            let shard = cell.lock();
            let c = shard.counters;
            s.spans_forwarded += c.spans_forwarded;
            s.spans_dropped += c.spans_dropped;
            s.late_forwarded += c.late_forwarded;
            s.late_dropped += c.late_dropped;
            s.traces_started += c.traces_started;
            s.traces_kept += c.traces_kept;
            s.traces_dropped += c.traces_dropped;
            s.early_decisions += c.early;
            s.timed_out += c.timed_out;
            s.incomplete += c.incomplete;
            // Spans of traces being decided are still held: not yet forwarded or dropped.
            s.spans_buffered += (shard.span_count() + shard.deciding_spans()) as u64;
            s.bytes_buffered += shard.bytes as u64;
            s.traces_buffered += shard.trace_count() as u64;
            s.cache_evictions += shard.cache.evicted;
            s.cache_bytes += shard.cache.memory_bytes() as u64;
        }
        s
    }

    fn count_rejected(&self, rejected: &RejectCounts) {
        for reason in RejectReason::ALL {
            let n = rejected.get(reason);
            if n > 0 {
                self.rejected[reason.index()].fetch_add(n, Ordering::Relaxed);
                self.metrics.rejected(reason, n);
            }
        }
    }

    /// Runs the policies over the traces of `scratch.pending` with no lock held, then records
    /// their decisions under `cell`'s lock, which it returns held, for the caller to publish.
    fn judge_and_record<'a>(
        &self,
        cell: &'a ShardCell,
        decider: &dyn Decider,
        now: Duration,
        scratch: &mut Scratch,
        late: &mut LateCounts,
    ) -> MutexGuard<'a, Shard> {
        let mut pending = std::mem::take(&mut scratch.pending);
        for trace in pending.iter_mut() {
            trace.judged = Some(self.judge(decider, trace, now, scratch));
        }
        let mut shard = cell.lock();
        for trace in pending.drain(..) {
            self.record(&mut shard, decider, trace, now, scratch, late);
        }
        scratch.pending = pending;
        shard
    }

    /// Moves a trace taken out of its shard's table out of the store (its spans sorted) and
    /// registers it as being decided, so that the lock may be released while its policies run.
    #[inline(always)]
    fn gather(shard: &mut Shard, trace: ReadyTrace, scratch: &mut Scratch) -> Pending {
        let ReadyTrace {
            trace_id,
            hash,
            spans: list,
            bytes,
            first_seen,
            flags,
        } = trace;
        let mut spans = scratch.span_vector(list.len());
        shard.gather_sorted(list, &mut spans, &mut scratch.sort_keys);
        // The policies read the spans' attributes, and dropping a trace's spans frees their
        // lists: untouched since ingest, the lists start loading now, a chunk ahead of both.
        for span in &spans {
            if let Some(first) = span.attributes.first() {
                crate::prefetch::prefetch(first);
            }
        }
        // The decision is marked in the cache when recorded: its slot loads meanwhile.
        shard.cache.prefetch(hash);
        let ticket = shard.begin_deciding(hash, trace_id, spans.len());
        Pending {
            trace_id,
            hash,
            bytes,
            first_seen,
            flags,
            spans,
            ticket,
            judged: None,
        }
    }

    /// Runs the decider over one gathered trace (no lock needed), shares its reasons and, when
    /// it is kept, writes the configured sampling values into its spans.
    #[inline(always)]
    fn judge(
        &self,
        decider: &dyn Decider,
        trace: &mut Pending,
        now: Duration,
        scratch: &mut Scratch,
    ) -> Judged {
        let mut view = TraceView::new(trace.trace_id, &trace.spans, trace.flags, now)
            .with_bytes(trace.bytes as u64);
        let decided =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decider.decide(&mut view)));
        let outcome = decided.unwrap_or_else(|_| {
            // A panicking decider is a bug in caller code; keep the trace rather than lose its
            // spans, and count it.
            self.decider_panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(trace_id = %trace.trace_id, "decider panicked; trace kept");
            Outcome {
                keep: true,
                reasons: vec![Str::from("decider_panic")],
                adjusted_count: 1.0,
                threshold: 0,
            }
        });
        if outcome.keep {
            annotate(
                &self.config.output,
                &mut trace.spans,
                outcome.threshold,
                outcome.adjusted_count,
            );
        }
        Judged {
            keep: outcome.keep,
            reasons: scratch.reasons.share(outcome.reasons),
            adjusted_count: outcome.adjusted_count,
            threshold: outcome.threshold,
        }
    }

    /// Records a judged trace's decision under its shard's lock (judging it first if it was
    /// not, which `judge_and_record` never leaves, so that no trace depends on an unwrap;
    /// outcomes kept in a vector beside the traces instead cost the mission 0.4%): the counters, the decision cache, and the end of its registration, whose parked
    /// spans follow the decision as late spans (counted in `late`). The decision goes to
    /// `scratch.decided`, and a dropped trace's spans to `scratch.discard`, for after the lock
    /// is released.
    #[inline(always)]
    fn record(
        &self,
        shard: &mut Shard,
        decider: &dyn Decider,
        mut trace: Pending,
        now: Duration,
        scratch: &mut Scratch,
        late: &mut LateCounts,
    ) {
        let judged = match trace.judged.take() {
            Some(judged) => judged,
            None => self.judge(decider, &mut trace, now, scratch),
        };
        let Pending {
            trace_id,
            hash,
            first_seen,
            flags,
            mut spans,
            ticket,
            ..
        } = trace;
        let Judged {
            keep,
            reasons,
            adjusted_count,
            threshold,
        } = judged;
        shard.finish_deciding(ticket, &mut scratch.parked);
        let (n, parked) = (spans.len() as u64, scratch.parked.len() as u64);
        let c = &mut shard.counters;
        if flags.incomplete {
            c.incomplete += 1;
        }
        if keep {
            c.traces_kept += 1;
            c.spans_forwarded += n + parked;
            c.late_forwarded += parked;
            late.forwarded += parked;
            let entry = KeptEntry {
                trace_id,
                reasons: reasons.clone(),
                adjusted_count,
                threshold,
            };
            for span in scratch.parked.drain(..) {
                let decision = self.late_decision(entry.clone(), span, now);
                scratch.late.push(decision);
            }
            shard.cache.insert_kept(hash, entry);
        } else {
            c.traces_dropped += 1;
            c.spans_dropped += n + parked;
            c.late_dropped += parked;
            late.dropped += parked;
            shard.cache.insert_dropped(hash);
            scratch.discard.push(std::mem::take(&mut spans));
            if parked > 0 {
                scratch.discard.push(std::mem::take(&mut scratch.parked));
            }
        }
        scratch.decided.push(Decision {
            trace_id,
            keep,
            reasons,
            adjusted_count: if keep { adjusted_count } else { 0.0 },
            threshold,
            flags: DecisionFlags::from(flags),
            span_count: n as usize,
            spans,
            first_seen,
            decided_at: now,
        });
    }

    fn late_decision(&self, entry: KeptEntry, span: Span, now: Duration) -> Decision {
        let mut spans = vec![span];
        annotate(
            &self.config.output,
            &mut spans,
            entry.threshold,
            entry.adjusted_count,
        );
        Decision {
            trace_id: entry.trace_id,
            keep: true,
            reasons: entry.reasons,
            adjusted_count: entry.adjusted_count,
            threshold: entry.threshold,
            flags: DecisionFlags {
                late: true,
                ..DecisionFlags::default()
            },
            span_count: 1,
            spans,
            first_seen: now,
            decided_at: now,
        }
    }

    /// Hands `decided` to the sink, counting them in `report` and their flags in `flags`.
    fn emit(&self, decided: &mut Vec<Decision>, report: &mut PollReport, flags: &mut FlagCounts) {
        for decision in decided.drain(..) {
            let n = decision.span_count as u64;
            if decision.keep {
                report.traces_kept += 1;
                report.spans_forwarded += n;
            } else {
                report.traces_dropped += 1;
                report.spans_dropped += n;
            }
            flags.add(decision.flags);
            self.metrics
                .latency(decision.decided_at.saturating_sub(decision.first_seen));
            self.sink.send(decision);
        }
    }
}

/// Writes the configured output annotations into kept spans.
fn annotate(output: &OutputConfig, spans: &mut [Span], threshold: u64, adjusted_count: f64) {
    if output.write_threshold {
        let th = th_value(threshold);
        for span in spans.iter_mut() {
            let trace_state = Str::from(with_threshold(span.trace_state(), &th));
            span.extra_mut().trace_state = trace_state;
        }
    }
    if let Some(key) = &output.adjusted_count_attribute {
        let key = Str::from(key.as_str());
        for span in spans.iter_mut() {
            span.push_attribute(KeyValue::new(key.clone(), Value::Double(adjusted_count)));
        }
    }
}

/// `trace_state` with the `th` sub-key of its `ot` entry set to `th` (the entry moved to the
/// front, as W3C asks of a modified entry).
pub fn with_threshold(trace_state: &str, th: &str) -> String {
    let mut ot_parts: Vec<String> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for entry in trace_state
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        match entry.strip_prefix("ot=") {
            Some(ot) => ot_parts.extend(
                ot.split(';')
                    .filter(|kv| !kv.is_empty() && !kv.starts_with("th:"))
                    .map(str::to_string),
            ),
            None => others.push(entry),
        }
    }
    let mut out = format!("ot=th:{th}");
    for part in ot_parts {
        out.push(';');
        out.push_str(&part);
    }
    for entry in others {
        out.push(',');
        out.push_str(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_order_passes_held_shards_over_then_waits_for_them() {
        let cells: Vec<ShardCell> = (0..4)
            .map(|_| ShardCell::new(Shard::new(DecisionCache::new(8, 8))))
            .collect();
        let mut reused = vec![7, 7];
        // Shard 3 is held (by this thread, which `try_lock` cannot tell from another one).
        let held = cells[3].lock();
        let mut order = ShardOrder::new(2, 4, &mut reused);
        let mut seen = Vec::new();
        while let Some((index, pass)) = order.next() {
            let shard = match pass {
                Pass::Busy => None,
                Pass::Free => order.lock(&cells[index], index, pass),
            };
            seen.push((index, pass, shard.is_some()));
        }
        assert_eq!(
            seen,
            [
                (2, Pass::Free, true),
                (3, Pass::Free, false),
                (0, Pass::Free, true),
                (1, Pass::Free, true),
                (3, Pass::Busy, false),
            ]
        );
        drop(held);
        let mut reused = order.finish();
        assert_eq!(reused, [3]);
        // The vector comes back for the next call, which starts it empty; once the shard is
        // free, the second pass's lock is taken.
        let mut order = ShardOrder::new(3, 4, &mut reused);
        assert_eq!(order.next(), Some((3, Pass::Free)));
        assert!(order.lock(&cells[3], 3, Pass::Busy).is_some());
        for _ in 0..3 {
            assert!(matches!(order.next(), Some((_, Pass::Free))));
        }
        assert_eq!(order.next(), None);
    }

    #[test]
    fn threshold_replaces_only_the_th_sub_key() {
        assert_eq!(with_threshold("", "8"), "ot=th:8");
        assert_eq!(
            with_threshold("vendor=1,ot=th:c;rv:0123456789abcd", "8"),
            "ot=th:8;rv:0123456789abcd,vendor=1"
        );
    }
}
