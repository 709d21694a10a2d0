//! One shard of the trace buffer: its trace table, its deadline queues and its decision cache.
//!
//! A shard is only ever touched under its own lock (held by the engine); nothing here locks.
//!
//! Readiness is tracked with two queues instead of scanning the table:
//! - the **wait queue**, FIFO in arrival order of each trace's first span, answers both "which
//!   traces have waited `decision_wait`" and "which trace is oldest" (for early decisions under
//!   memory pressure);
//! - the **completion heap**, a min-heap of due times, holds one entry per trace whose root has
//!   arrived. When an entry comes due and a span arrived since, it is pushed again at
//!   `last_seen + grace` rather than updated on every span, so the per-span cost stays O(1).
//!
//! Entries of traces decided by another route go stale; each entry carries the trace's
//! generation number, and a stale entry is skipped when popped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::cache::{Cached, DecisionCache, KeptEntry, SharedReasons};
use crate::span::{Span, TraceId};
use crate::view::TraceFlags;

/// A trace being buffered.
pub(crate) struct TraceEntry {
    pub trace_id: TraceId,
    pub hash: u64,
    pub generation: u64,
    pub spans: Vec<Span>,
    pub bytes: usize,
    pub first_seen: Duration,
    pub last_seen: Duration,
    pub root_seen: bool,
}

#[derive(Clone, Copy)]
struct WaitEntry {
    hash: u64,
    generation: u64,
    due: Duration,
}

/// The typical span count of the shard's recent traces: the capacity a new trace's vector starts
/// with, so that most traces never grow theirs (each doubling copies every span so far).
///
/// An exponentially weighted mean (weight 1/16) of the span counts of traces leaving the table,
/// in sixteenths of a span. Until a trace has left, new traces start at 4 spans.
#[derive(Clone, Copy, Debug)]
struct TypicalSpans {
    sixteenths: u32,
}

/// The most spans a new trace's vector is given room for, whatever the typical trace: bounds the
/// memory a one-span trace can waste in a shard of large traces (63 × 152 bytes).
const MAX_INITIAL_SPANS: u32 = 64;

/// The most span slots a shard keeps in empty vectors for new traces (about 370 KiB).
pub(crate) const MAX_SPARE_SPANS: usize = 2048;

impl Default for TypicalSpans {
    fn default() -> TypicalSpans {
        TypicalSpans { sixteenths: 4 * 16 }
    }
}

impl TypicalSpans {
    fn observe(&mut self, spans: usize) {
        let spans = (spans as u32).min(MAX_INITIAL_SPANS) * 16;
        // mean += (x - mean) / 16, in integers.
        self.sixteenths = (self.sixteenths * 15 + spans) / 16;
    }

    fn initial_capacity(&self) -> usize {
        self.sixteenths.div_ceil(16).clamp(1, MAX_INITIAL_SPANS) as usize
    }
}

/// Counters of one shard, read by `Engine::stats`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ShardCounters {
    pub spans_in: u64,
    pub spans_forwarded: u64,
    pub spans_dropped: u64,
    pub late_forwarded: u64,
    pub late_dropped: u64,
    pub traces_started: u64,
    pub traces_kept: u64,
    pub traces_dropped: u64,
    pub early: u64,
    pub timed_out: u64,
    pub incomplete: u64,
}

/// What a shard does with one span offered to it.
pub(crate) enum Offer<'a> {
    /// Buffer it: the caller pushes the span onto this vector, its trace's (the shard has
    /// counted it already).
    Buffer(&'a mut Vec<Span>),
    /// Its trace was kept earlier: forward it at once with this decision's metadata.
    LateKept(KeptEntry),
    /// Its trace was dropped earlier: drop it (counted).
    LateDropped,
}

/// A trace taken out of the table to be decided.
pub(crate) struct ReadyTrace {
    pub trace_id: TraceId,
    pub hash: u64,
    pub spans: Vec<Span>,
    /// The spans' summed size estimates.
    pub bytes: usize,
    pub first_seen: Duration,
    pub flags: TraceFlags,
}

pub(crate) struct Shard {
    traces: HashTable<TraceEntry>,
    wait_queue: VecDeque<WaitEntry>,
    completion: BinaryHeap<Reverse<(Duration, u64, u64)>>,
    pub cache: DecisionCache,
    /// The reasons of recent decisions, shared between them.
    pub reasons: SharedReasons,
    pub spans: usize,
    pub bytes: usize,
    next_generation: u64,
    pub counters: ShardCounters,
    typical_spans: TypicalSpans,
    /// Empty span vectors of dropped traces, given to new traces; see [`Shard::recycle`].
    spare: Vec<Vec<Span>>,
    /// The summed capacity of `spare`, in spans.
    spare_spans: usize,
}

impl Shard {
    pub fn new(cache: DecisionCache) -> Shard {
        Shard {
            traces: HashTable::new(),
            wait_queue: VecDeque::new(),
            completion: BinaryHeap::new(),
            cache,
            reasons: SharedReasons::default(),
            spans: 0,
            bytes: 0,
            next_generation: 0,
            counters: ShardCounters::default(),
            typical_spans: TypicalSpans::default(),
            spare: Vec::new(),
            spare_spans: 0,
        }
    }

    pub fn trace_count(&self) -> usize {
        self.traces.len()
    }

    /// Offers one validated span (`hash` is its trace id's xxh3 hash, `size` its size
    /// estimate). `wait` is `decision_wait`, `grace` is `completion_grace`. On
    /// [`Offer::Buffer`] the span is already counted and the caller must push it onto the
    /// returned vector (the span is only looked at here, so that it is moved once, from the
    /// caller's batch straight into its trace's vector).
    pub fn offer(
        &mut self,
        hash: u64,
        span: &Span,
        size: usize,
        now: Duration,
        wait: Duration,
        grace: Duration,
    ) -> Offer<'_> {
        let Shard {
            traces,
            wait_queue,
            completion,
            cache,
            spans,
            bytes,
            next_generation,
            reasons: _,
            counters,
            typical_spans,
            spare,
            spare_spans,
        } = self;
        counters.spans_in += 1;
        let (trace_id, is_root) = (span.trace_id, span.is_root());
        let entry = match traces.entry(hash, |e| e.trace_id == trace_id, |e| e.hash) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.bytes += size;
                entry.last_seen = entry.last_seen.max(now);
                if is_root && !entry.root_seen {
                    entry.root_seen = true;
                    completion.push(Reverse((now + grace, hash, entry.generation)));
                }
                entry
            }
            Entry::Vacant(vacant) => {
                match cache.get(hash, &trace_id) {
                    Some(Cached::Kept(entry)) => {
                        counters.late_forwarded += 1;
                        counters.spans_forwarded += 1;
                        return Offer::LateKept(entry.clone());
                    }
                    Some(Cached::Dropped) => {
                        counters.late_dropped += 1;
                        counters.spans_dropped += 1;
                        return Offer::LateDropped;
                    }
                    None => {}
                }
                let generation = *next_generation;
                *next_generation += 1;
                counters.traces_started += 1;
                wait_queue.push_back(WaitEntry {
                    hash,
                    generation,
                    due: now + wait,
                });
                if is_root {
                    completion.push(Reverse((now + grace, hash, generation)));
                }
                let entry = TraceEntry {
                    trace_id,
                    hash,
                    generation,
                    spans: match spare.pop() {
                        Some(recycled) => {
                            *spare_spans -= recycled.capacity();
                            recycled
                        }
                        None => Vec::with_capacity(typical_spans.initial_capacity()),
                    },
                    bytes: size,
                    first_seen: now,
                    last_seen: now,
                    root_seen: is_root,
                };
                vacant.insert(entry).into_mut()
            }
        };
        *spans += 1;
        *bytes += size;
        Offer::Buffer(&mut entry.spans)
    }

    /// Keeps empty span vectors (of dropped traces, emptied outside the lock) from the end of
    /// `vectors` for new traces, which then neither allocate nor, while traces are alike, grow
    /// theirs. Stops when the shard holds [`MAX_SPARE_SPANS`] of spare capacity; drops vectors
    /// over twice the typical trace's size, which would waste memory in a small trace.
    pub fn recycle(&mut self, vectors: &mut Vec<Vec<Span>>) {
        let largest = 2 * self.typical_spans.initial_capacity();
        while self.spare_spans < MAX_SPARE_SPANS {
            let Some(spans) = vectors.pop() else { break };
            debug_assert!(spans.is_empty());
            if spans.is_empty() && spans.capacity() <= largest {
                self.spare_spans += spans.capacity();
                self.spare.push(spans);
            }
        }
    }

    fn take(&mut self, hash: u64, generation: u64) -> Option<TraceEntry> {
        let entry = self
            .traces
            .find_entry(hash, |e| e.generation == generation)
            .ok()?;
        let (trace, _) = entry.remove();
        self.typical_spans.observe(trace.spans.len());
        self.spans -= trace.spans.len();
        self.bytes -= trace.bytes;
        Some(trace)
    }

    fn ready(trace: TraceEntry, mut flags: TraceFlags) -> ReadyTrace {
        flags.incomplete = !trace.root_seen;
        ReadyTrace {
            trace_id: trace.trace_id,
            hash: trace.hash,
            spans: trace.spans,
            bytes: trace.bytes,
            first_seen: trace.first_seen,
            flags,
        }
    }

    /// Takes up to `limit` traces that are due at `now`: complete ones first, then those that
    /// waited `decision_wait`.
    pub fn take_due(
        &mut self,
        now: Duration,
        grace: Duration,
        limit: usize,
        out: &mut Vec<ReadyTrace>,
    ) {
        while out.len() < limit {
            let Some(&Reverse((due, hash, generation))) = self.completion.peek() else {
                break;
            };
            if due > now {
                break;
            }
            self.completion.pop();
            let Some(last_seen) = self
                .traces
                .find(hash, |e| e.generation == generation)
                .map(|e| e.last_seen)
            else {
                continue;
            };
            if last_seen + grace <= now {
                if let Some(trace) = self.take(hash, generation) {
                    out.push(Self::ready(trace, TraceFlags::default()));
                }
            } else {
                self.completion
                    .push(Reverse((last_seen + grace, hash, generation)));
            }
        }
        while out.len() < limit {
            let Some(front) = self.wait_queue.front().copied() else {
                break;
            };
            if front.due > now {
                break;
            }
            self.wait_queue.pop_front();
            if let Some(trace) = self.take(front.hash, front.generation) {
                self.counters.timed_out += 1;
                let flags = TraceFlags {
                    timed_out: true,
                    ..TraceFlags::default()
                };
                out.push(Self::ready(trace, flags));
            }
        }
    }

    /// The earliest time at which [`Shard::take_due`] may find a trace due: the completion
    /// heap's minimum or the wait queue's front, whichever is sooner (`None` when both are
    /// empty). It may be early (an entry of a decided trace, or of a trace that got a span since)
    /// but never late, so a poller that waits until then misses nothing already buffered.
    pub fn next_due(&self) -> Option<Duration> {
        let completion = self.completion.peek().map(|Reverse((due, _, _))| *due);
        let waited = self.wait_queue.front().map(|e| e.due);
        match (completion, waited) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the oldest trace (by first span), for an early decision or shutdown.
    pub fn take_oldest(&mut self, flags: TraceFlags) -> Option<ReadyTrace> {
        while let Some(front) = self.wait_queue.pop_front() {
            if let Some(trace) = self.take(front.hash, front.generation) {
                return Some(Self::ready(trace, flags));
            }
        }
        None
    }
}
