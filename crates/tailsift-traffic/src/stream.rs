//! Arrival order: turning traces, made whole, into the batches a collector would receive.
//!
//! A workload makes one trace at a time, all its spans at once, each with its arrival time (its
//! end plus an export delay, or much later for a slow consumer). The [`Stream`] files every span
//! into the tick of simulated time in which it arrives, and hands out ticks in order. A span can
//! only arrive after its trace starts, so before closing a tick the stream asks the workload for
//! every trace that starts before the tick ends, and no span can land in a tick already handed
//! out.
//!
//! Ticks are kept in a calendar queue (a ring of per-tick buckets) rather than one heap of
//! spans: filing a span is O(1), and only the spans of the tick being emitted are sorted, by
//! index, so the large `Span` values are moved twice at most. The ring covers the next
//! [`HORIZON_TICKS`] ticks; a slow consumer's span further ahead waits in an ordered map, so
//! memory follows the spans in flight, not the length of the wait over the tick.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tailsift::Span;

use crate::truth::{TraceTruth, TruthLabel};

/// How the simulated timeline is laid out and cut into batches.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Unix nanoseconds at which the simulation starts: span timestamps are this plus the
    /// simulated time. Default `1_700_000_000_000_000_000` (2023-11-14T22:13:20Z).
    pub epoch_unix_nanos: u64,
    /// Length of one batch of simulated time: every span arriving within a tick is delivered
    /// in that tick's batch. Must be non-zero. Default 10 ms.
    pub tick: Duration,
    /// The most spans one batch holds: a tick with more is cut into several batches with the
    /// same time. `None` (the default) delivers each tick whole.
    pub max_batch_spans: Option<usize>,
    /// The longest export delay: each span arrives its end time plus a delay drawn uniformly
    /// from zero to this, as an SDK's batch exporter adds. Default 2 ms.
    pub max_export_delay: Duration,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            epoch_unix_nanos: 1_700_000_000_000_000_000,
            tick: Duration::from_millis(10),
            max_batch_spans: None,
            max_export_delay: Duration::from_millis(2),
        }
    }
}

/// The spans that arrive in one tick of simulated time, in arrival order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Batch {
    /// When the batch is delivered, since the simulation start: the end of its tick, so never
    /// before any of its spans arrived (nor ended). Non-decreasing from batch to batch.
    pub at: Duration,
    /// The spans, in the order they arrived.
    pub spans: Vec<Span>,
    /// Ground truth for each trace whose last-arriving span is in this batch.
    pub completed: Vec<TraceTruth>,
    /// How many of `spans` are malformed on purpose (zero trace id, or end before start):
    /// spans the engine must reject and count. They belong to no trace in `completed`.
    pub malformed_spans: u32,
}

/// Running totals of what a [`crate::Traffic`] has handed out so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TrafficStats {
    /// Batches handed out.
    pub batches: u64,
    /// Spans handed out, malformed ones included.
    pub spans: u64,
    /// Traces whose every span has been handed out.
    pub traces: u64,
    /// Malformed spans handed out.
    pub malformed_spans: u64,
    /// Late spans (of slow asynchronous consumers) handed out with their completed traces.
    pub late_spans: u64,
}

/// One trace as a workload made it: its spans with their arrival times, and what the workload
/// knows about it.
#[derive(Default)]
pub(crate) struct BuiltTrace {
    /// The trace's spans (non-empty, one root).
    pub(crate) spans: Vec<Span>,
    /// Arrival of each span in `spans`, simulated nanoseconds; never before the span's end.
    pub(crate) arrivals: Vec<u64>,
    /// What only the workload knows. The arrival fields are filled in by the stream.
    pub(crate) label: TruthLabel,
    /// Malformed spans to deliver alongside, with their arrival times.
    pub(crate) malformed: Vec<(u64, Span)>,
}

impl BuiltTrace {
    pub(crate) fn clear(&mut self) {
        self.spans.clear();
        self.arrivals.clear();
        self.label = TruthLabel::default();
        self.malformed.clear();
    }
}

/// A workload: where traces come from.
pub(crate) trait TraceSource {
    /// The simulated start (nanoseconds) of the next trace, or `None` when the workload is
    /// done. Non-decreasing.
    fn next_start(&mut self) -> Option<u64>;
    /// Makes the trace starting at `start` into `out` (cleared by the caller).
    fn build(&mut self, start: u64, out: &mut BuiltTrace);
}

struct PendingSpan {
    arrival: u64,
    seq: u64,
    malformed: bool,
    span: Span,
}

struct PendingTruth {
    /// Arrival and sequence number of the trace's last-arriving span, so the truth rides in
    /// the same batch even when a tick is cut into several.
    arrival: u64,
    seq: u64,
    truth: TraceTruth,
}

#[derive(Default)]
struct Bucket {
    spans: Vec<PendingSpan>,
    truths: Vec<PendingTruth>,
}

/// How many ticks ahead the ring of buckets reaches (41 s of 10 ms ticks).
const HORIZON_TICKS: u64 = 4096;

/// Spans and truths filed by the tick they arrive in.
///
/// Invariant: `ring[i]` holds tick `first_tick + i`, and every tick in `beyond` is at least
/// `first_tick + HORIZON_TICKS` (restored by [`ArrivalQueue::pull_in`] whenever `first_tick`
/// moves), so ring ticks all come before `beyond` ticks.
#[derive(Default)]
struct ArrivalQueue {
    first_tick: u64,
    ring: VecDeque<Bucket>,
    beyond: BTreeMap<u64, Bucket>,
    spans: usize,
}

impl ArrivalQueue {
    fn bucket(&mut self, tick: u64) -> &mut Bucket {
        // A span cannot arrive in a tick already handed out (see the module doc); clamping
        // keeps a workload bug from panicking, at the cost of a slightly early batch time.
        let tick = tick.max(self.first_tick);
        let index = tick - self.first_tick;
        if index >= HORIZON_TICKS {
            return self.beyond.entry(tick).or_default();
        }
        let index = index as usize;
        while self.ring.len() <= index {
            self.ring.push_back(Bucket::default());
        }
        &mut self.ring[index]
    }

    /// The first tick holding a span.
    fn next_occupied_tick(&self) -> Option<u64> {
        if self.spans == 0 {
            return None;
        }
        self.ring
            .iter()
            .position(|b| !b.spans.is_empty())
            .map(|index| self.first_tick + index as u64)
            .or_else(|| self.beyond.keys().next().copied())
    }

    /// Moves to `tick`, which must not be past a tick holding spans.
    fn advance_to(&mut self, tick: u64) {
        let skipped = tick.saturating_sub(self.first_tick) as usize;
        self.ring.drain(..skipped.min(self.ring.len()));
        self.first_tick = self.first_tick.max(tick);
        self.pull_in();
    }

    /// Takes the first tick's bucket and moves to the next tick.
    fn pop_first(&mut self) -> Bucket {
        let bucket = self.ring.pop_front().unwrap_or_default();
        self.spans -= bucket.spans.len();
        self.first_tick += 1;
        self.pull_in();
        bucket
    }

    /// Brings buckets that came within the horizon into the ring.
    fn pull_in(&mut self) {
        while let Some(entry) = self.beyond.first_entry() {
            if *entry.key() >= self.first_tick + HORIZON_TICKS {
                break;
            }
            let tick = *entry.key();
            let mut bucket = entry.remove();
            let target = self.bucket(tick);
            target.spans.append(&mut bucket.spans);
            target.truths.append(&mut bucket.truths);
        }
    }
}

/// Hands a [`TraceSource`]'s spans out in arrival order, one batch per tick.
pub(crate) struct Stream<S> {
    source: S,
    tick_nanos: u64,
    max_batch_spans: usize,
    next_start: Option<u64>,
    queue: ArrivalQueue,
    seq: u64,
    scratch: BuiltTrace,
    ready: VecDeque<Batch>,
    stats: TrafficStats,
}

impl<S: TraceSource> Stream<S> {
    /// `tick` must be non-zero (the configs check it).
    pub(crate) fn new(mut source: S, timeline: &Timeline) -> Stream<S> {
        let next_start = source.next_start();
        Stream {
            source,
            tick_nanos: (timeline.tick.as_nanos() as u64).max(1),
            max_batch_spans: timeline.max_batch_spans.unwrap_or(usize::MAX).max(1),
            next_start,
            queue: ArrivalQueue::default(),
            seq: 0,
            scratch: BuiltTrace::default(),
            ready: VecDeque::new(),
            stats: TrafficStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> TrafficStats {
        self.stats
    }

    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    fn bucket_for(&mut self, arrival: u64) -> &mut Bucket {
        self.queue.bucket(arrival / self.tick_nanos)
    }

    fn file_trace(&mut self, start: u64) {
        let mut built = std::mem::take(&mut self.scratch);
        built.clear();
        self.source.build(start, &mut built);

        let mut last = (0u64, 0u64);
        let mut root_arrival = 0;
        let first_seq = self.seq;
        for (offset, (span, &arrival)) in built.spans.iter().zip(&built.arrivals).enumerate() {
            let seq = first_seq + offset as u64;
            if (arrival, seq) > last {
                last = (arrival, seq);
            }
            if span.is_root() {
                root_arrival = arrival;
            }
        }
        if !built.spans.is_empty() {
            let mut label = built.label;
            label.root_arrival = Duration::from_nanos(root_arrival);
            label.last_arrival = Duration::from_nanos(last.0);
            let truth = TraceTruth::from_spans(&built.spans, label);
            self.bucket_for(last.0).truths.push(PendingTruth {
                arrival: last.0,
                seq: last.1,
                truth,
            });
        }
        for (span, arrival) in built.spans.drain(..).zip(built.arrivals.drain(..)) {
            let seq = self.seq;
            self.seq += 1;
            self.queue.spans += 1;
            self.bucket_for(arrival).spans.push(PendingSpan {
                arrival,
                seq,
                malformed: false,
                span,
            });
        }
        for (arrival, span) in built.malformed.drain(..) {
            let seq = self.seq;
            self.seq += 1;
            self.queue.spans += 1;
            self.bucket_for(arrival).spans.push(PendingSpan {
                arrival,
                seq,
                malformed: true,
                span,
            });
        }
        self.scratch = built;
    }

    /// Sorts one tick's spans and truths into arrival order and cuts them into batches.
    fn cut_tick(&mut self, bucket: Bucket, at: Duration) {
        let mut order: Vec<(u64, u64, usize)> = bucket
            .spans
            .iter()
            .enumerate()
            .map(|(index, p)| (p.arrival, p.seq, index))
            .collect();
        order.sort_unstable();
        let mut slots: Vec<Option<PendingSpan>> = bucket.spans.into_iter().map(Some).collect();
        let mut truths = bucket.truths;
        truths.sort_unstable_by_key(|t| (t.arrival, t.seq));
        let mut truths = truths.into_iter().peekable();

        for chunk in order.chunks(self.max_batch_spans) {
            let mut batch = Batch {
                at,
                spans: Vec::with_capacity(chunk.len()),
                completed: Vec::new(),
                malformed_spans: 0,
            };
            for &(_, _, index) in chunk {
                if let Some(pending) = slots[index].take() {
                    batch.malformed_spans += u32::from(pending.malformed);
                    batch.spans.push(pending.span);
                }
            }
            let last_key = chunk.last().map(|&(a, s, _)| (a, s)).unwrap_or((0, 0));
            while let Some(truth) = truths.next_if(|t| (t.arrival, t.seq) <= last_key) {
                batch.completed.push(truth.truth);
            }
            self.ready.push_back(batch);
        }
        // Truths whose span was somehow not in this tick cannot exist (both are filed by the
        // same arrival); attaching leftovers to the last batch keeps them from being lost.
        if let Some(batch) = self.ready.back_mut() {
            batch.completed.extend(truths.map(|t| t.truth));
        }
    }
}

impl<S: TraceSource> Iterator for Stream<S> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                self.stats.batches += 1;
                self.stats.spans += batch.spans.len() as u64;
                self.stats.malformed_spans += u64::from(batch.malformed_spans);
                self.stats.traces += batch.completed.len() as u64;
                self.stats.late_spans += batch
                    .completed
                    .iter()
                    .map(|t| u64::from(t.late_spans))
                    .sum::<u64>();
                return Some(batch);
            }
            let tick = self.queue.first_tick;
            let tick_end = (tick + 1).saturating_mul(self.tick_nanos);
            while let Some(start) = self.next_start.filter(|&s| s < tick_end) {
                self.file_trace(start);
                self.next_start = self.source.next_start();
            }
            // Skip empty ticks in one step, to the next one that holds spans or in which a
            // trace starts (which is after this tick: those before were filed just above).
            let next_trace_tick = self.next_start.map(|s| s / self.tick_nanos);
            let target = match (self.queue.next_occupied_tick(), next_trace_tick) {
                (None, None) => return None,
                (occupied, next_trace) => occupied
                    .unwrap_or(u64::MAX)
                    .min(next_trace.unwrap_or(u64::MAX)),
            };
            if target > tick {
                self.queue.advance_to(target);
                continue;
            }
            let bucket = self.queue.pop_first();
            if !bucket.spans.is_empty() {
                self.cut_tick(bucket, Duration::from_nanos(tick_end));
            }
        }
    }
}
