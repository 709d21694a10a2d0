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

use hashbrown::HashTable;

use crate::cache::{Cached, DecisionCache, KeptEntry};
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

/// What happened to one span offered to a shard.
pub(crate) enum Offer {
    /// Buffered with its trace.
    Buffered,
    /// Its trace was kept earlier: forward it at once with this decision's metadata.
    LateKept(KeptEntry, Box<Span>),
    /// Its trace was dropped earlier: dropped (counted).
    LateDropped,
}

/// A trace taken out of the table to be decided.
pub(crate) struct ReadyTrace {
    pub trace_id: TraceId,
    pub hash: u64,
    pub spans: Vec<Span>,
    pub first_seen: Duration,
    pub flags: TraceFlags,
}

pub(crate) struct Shard {
    traces: HashTable<TraceEntry>,
    wait_queue: VecDeque<WaitEntry>,
    completion: BinaryHeap<Reverse<(Duration, u64, u64)>>,
    pub cache: DecisionCache,
    pub spans: usize,
    pub bytes: usize,
    next_generation: u64,
    pub counters: ShardCounters,
}

impl Shard {
    pub fn new(cache: DecisionCache) -> Shard {
        Shard {
            traces: HashTable::new(),
            wait_queue: VecDeque::new(),
            completion: BinaryHeap::new(),
            cache,
            spans: 0,
            bytes: 0,
            next_generation: 0,
            counters: ShardCounters::default(),
        }
    }

    pub fn trace_count(&self) -> usize {
        self.traces.len()
    }

    /// Offers one validated span. `wait` is `decision_wait`, `grace` is `completion_grace`.
    pub fn offer(
        &mut self,
        hash: u64,
        span: Span,
        size: usize,
        now: Duration,
        wait: Duration,
        grace: Duration,
    ) -> Offer {
        self.counters.spans_in += 1;
        let trace_id = span.trace_id;
        let is_root = span.is_root();
        if let Some(entry) = self.traces.find_mut(hash, |e| e.trace_id == trace_id) {
            entry.spans.push(span);
            entry.bytes += size;
            entry.last_seen = entry.last_seen.max(now);
            if is_root && !entry.root_seen {
                entry.root_seen = true;
                self.completion
                    .push(Reverse((now + grace, hash, entry.generation)));
            }
            self.spans += 1;
            self.bytes += size;
            return Offer::Buffered;
        }
        match self.cache.get(hash, &trace_id) {
            Some(Cached::Kept(entry)) => {
                self.counters.late_forwarded += 1;
                self.counters.spans_forwarded += 1;
                return Offer::LateKept(entry.clone(), Box::new(span));
            }
            Some(Cached::Dropped) => {
                self.counters.late_dropped += 1;
                self.counters.spans_dropped += 1;
                return Offer::LateDropped;
            }
            None => {}
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.counters.traces_started += 1;
        let mut spans = Vec::with_capacity(4);
        spans.push(span);
        self.traces.insert_unique(
            hash,
            TraceEntry {
                trace_id,
                hash,
                generation,
                spans,
                bytes: size,
                first_seen: now,
                last_seen: now,
                root_seen: is_root,
            },
            |e| e.hash,
        );
        self.wait_queue.push_back(WaitEntry {
            hash,
            generation,
            due: now + wait,
        });
        if is_root {
            self.completion
                .push(Reverse((now + grace, hash, generation)));
        }
        self.spans += 1;
        self.bytes += size;
        Offer::Buffered
    }

    fn take(&mut self, hash: u64, generation: u64) -> Option<TraceEntry> {
        let entry = self
            .traces
            .find_entry(hash, |e| e.generation == generation)
            .ok()?;
        let (trace, _) = entry.remove();
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
