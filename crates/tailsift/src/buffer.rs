//! One shard of the trace buffer: its trace table, its deadline queues and its decision cache.
//!
//! A shard is only ever touched under its own lock (held by the engine); nothing here locks.
//!
//! Readiness is tracked with two queues instead of scanning the table:
//! - the **wait queue**, FIFO in arrival order of each trace's first span, answers both "which
//!   traces have waited `decision_wait`" and "which trace is oldest" (for early decisions under
//!   memory pressure);
//! - the **completion queue**, FIFO in due order, holds an entry for a trace's root and for each
//!   span that arrives after it, due `completion_grace` after its arrival. Engine time only
//!   moves forward, so entries are pushed in due order and the front is always the earliest:
//!   push and pop are O(1), where a heap paid O(log n) per trace. (Two ingest threads may read
//!   the clock in one order and take the shard lock in the other; an entry due before the back
//!   one is queued at the back's due time, so it is decided at most that inversion late, never
//!   early.) A popped entry whose trace got a span since is skipped: that span's own entry is
//!   further back. The cost: a 24-byte entry per span that arrives after its trace's root (a run
//!   of one trace's spans at the back shares one), each popped a grace after it arrived, where
//!   the heap re-queued a trace once when it found it not yet quiet. Roots usually end, and so
//!   arrive, last.
//!
//! Entries of traces decided by another route go stale; each entry carries the trace's
//! generation number, and a stale entry is skipped when popped.
//!
//! A trace is decided with the shard's lock released (policies may be slow: CEL over a large
//! trace, a WASM module up to its deadline): taken out of the table, it is registered as being
//! decided ([`Shard::begin_deciding`]) until its decision is recorded in the decision cache
//! ([`Shard::finish_deciding`]). A span that arrives for it meanwhile waits in the store, on the
//! registration, and then follows the decision as a late span: it never starts a second trace.

use std::collections::VecDeque;
use std::time::Duration;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::cache::{Cached, DecisionCache, KeptEntry};
use crate::clock::nanos;
use crate::span::{Span, TraceId};
use crate::view::TraceFlags;

mod store;

pub(crate) use store::fits as store_fits;
use store::SpanStore;
pub(crate) use store::{SortKey, SpanList};

/// A trace being buffered: its spans are in the shard's [`SpanStore`]. Times are engine time in
/// nanoseconds (8 bytes, where a `Duration` takes 16): the entry is kept small, as every
/// buffered trace has one, in a hash table that is rarely full.
pub(crate) struct TraceEntry {
    trace_id: TraceId,
    generation: u64,
    spans: SpanList,
    root_seen: bool,
    bytes: usize,
    first_seen: u64,
    last_seen: u64,
}

/// A trace in the wait queue, by its first span's arrival. Its due time (`first_seen` plus
/// `decision_wait`) is read from the entry.
#[derive(Clone, Copy)]
struct WaitEntry {
    hash: u64,
    generation: u64,
}

/// A trace in the completion queue: due `completion_grace` after its root or a later span
/// arrived (engine nanoseconds).
#[derive(Clone, Copy)]
struct DueEntry {
    due: u64,
    hash: u64,
    generation: u64,
}

/// The completion queue (see the module's doc): due times never decrease from front to back.
#[derive(Default)]
struct CompletionQueue(VecDeque<DueEntry>);

impl CompletionQueue {
    /// Queues `generation` of the trace `hash` as due at `due`, or at the back's due time if
    /// that is later. A trace already at the back has its entry moved later instead, so a run
    /// of one trace's spans after its root takes one entry.
    fn push(&mut self, due: u64, hash: u64, generation: u64) {
        match self.0.back_mut() {
            Some(back) if back.hash == hash && back.generation == generation => {
                back.due = back.due.max(due);
            }
            Some(back) => {
                let due = due.max(back.due);
                self.0.push_back(DueEntry {
                    due,
                    hash,
                    generation,
                });
            }
            None => self.0.push_back(DueEntry {
                due,
                hash,
                generation,
            }),
        }
    }

    /// The front entry, if it is due at `now`.
    fn pop_due(&mut self, now: u64) -> Option<DueEntry> {
        if self.0.front()?.due > now {
            return None;
        }
        self.0.pop_front()
    }

    fn next_due(&self) -> Option<u64> {
        self.0.front().map(|e| e.due)
    }
}

/// Whether a table or queue of `len` entries and room for `capacity` is worth shrinking (see
/// [`Shard::shrink_if_sparse`]): less than an eighth full, and larger than a shard needs at
/// a quiet rate.
fn sparse(len: usize, capacity: usize) -> bool {
    const KEEP: usize = 4_096;
    capacity > KEEP && len < capacity / 8
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
    /// Buffer it with its trace: the caller hands the span to this (the shard has counted it
    /// already).
    Buffer(Pusher<'a>),
    /// Its trace was kept earlier: forward it at once with this decision's metadata.
    LateKept(KeptEntry),
    /// Its trace was dropped earlier: drop it (counted).
    LateDropped,
}

/// Appends one span to a trace's spans (see [`Offer::Buffer`]).
pub(crate) struct Pusher<'a> {
    store: &'a mut SpanStore,
    list: &'a mut SpanList,
}

impl Pusher<'_> {
    /// Moves `span` into its trace's spans.
    #[inline]
    pub fn push(self, span: Span) {
        self.store.push(self.list, span);
    }
}

/// A trace being decided with the shard's lock released (see the module's doc).
struct Deciding {
    hash: u64,
    trace_id: TraceId,
    /// Its own spans, out of the store while the policies run.
    spans: usize,
    /// Spans that arrived for it since, waiting in the store for its decision.
    parked: SpanList,
    parked_bytes: usize,
}

/// The traces of a shard being decided, each in a slot its [`Ticket`] names: a chunk per
/// deciding thread at most. A span of a new trace looks through them only when one of them
/// shares its hash's low byte ([`InFlight::buckets`]).
struct InFlight {
    slots: Vec<Option<Deciding>>,
    free: Vec<u32>,
    /// The summed `spans` of the live slots.
    spans: usize,
    /// How many live slots' hashes have each low byte.
    buckets: [u16; 256],
}

impl Default for InFlight {
    fn default() -> InFlight {
        InFlight {
            slots: Vec::new(),
            free: Vec::new(),
            spans: 0,
            buckets: [0; 256],
        }
    }
}

/// A hash's bucket in [`InFlight::buckets`].
fn bucket(hash: u64) -> usize {
    (hash & 0xff) as usize
}

impl InFlight {
    /// The registration of `trace_id` (hashed `hash`), if it is being decided.
    #[inline]
    fn find(&mut self, hash: u64, trace_id: &TraceId) -> Option<&mut Deciding> {
        if self.buckets[bucket(hash)] == 0 {
            return None;
        }
        self.slots
            .iter_mut()
            .flatten()
            .find(|d| d.hash == hash && d.trace_id == *trace_id)
    }
}

/// A trace's registration as being decided ([`Shard::begin_deciding`]); handed back, once, to
/// [`Shard::finish_deciding`].
#[derive(Debug)]
pub(crate) struct Ticket(u32);

/// A trace taken out of the table to be decided.
pub(crate) struct ReadyTrace {
    pub trace_id: TraceId,
    pub hash: u64,
    /// Its spans, still in the shard's store: [`Shard::gather`] moves them out.
    pub spans: SpanList,
    /// The spans' summed size estimates.
    pub bytes: usize,
    pub first_seen: Duration,
    pub flags: TraceFlags,
}

pub(crate) struct Shard {
    traces: HashTable<TraceEntry>,
    store: SpanStore,
    wait_queue: VecDeque<WaitEntry>,
    /// Traces whose root has arrived, in due order.
    completion: CompletionQueue,
    pub cache: DecisionCache,
    /// Traces being decided with the lock released.
    in_flight: InFlight,
    /// The size estimates of the spans in the store (parked ones included).
    pub bytes: usize,
    next_generation: u64,
    pub counters: ShardCounters,
}

impl Shard {
    pub fn new(cache: DecisionCache) -> Shard {
        Shard {
            traces: HashTable::new(),
            store: SpanStore::new(),
            wait_queue: VecDeque::new(),
            completion: CompletionQueue::default(),
            cache,
            in_flight: InFlight::default(),
            bytes: 0,
            next_generation: 0,
            counters: ShardCounters::default(),
        }
    }

    pub fn trace_count(&self) -> usize {
        self.traces.len()
    }

    /// Spans buffered: in the store, parked ones included (not those of traces being decided).
    pub fn span_count(&self) -> usize {
        self.store.len()
    }

    /// The spans of traces being decided with the lock released: out of the store, not yet
    /// forwarded or dropped.
    pub fn deciding_spans(&self) -> usize {
        self.in_flight.spans
    }

    /// Registers a trace taken out of the table, its `spans` spans gathered, as being decided
    /// with the lock released (see the module's doc). Until [`Shard::finish_deciding`] a span
    /// that arrives for it is parked in the store for its decision.
    pub fn begin_deciding(&mut self, hash: u64, trace_id: TraceId, spans: usize) -> Ticket {
        let f = &mut self.in_flight;
        let deciding = Deciding {
            hash,
            trace_id,
            spans,
            parked: SpanList::EMPTY,
            parked_bytes: 0,
        };
        f.spans += spans;
        f.buckets[bucket(hash)] += 1;
        match f.free.pop() {
            Some(slot) => {
                f.slots[slot as usize] = Some(deciding);
                Ticket(slot)
            }
            None => {
                f.slots.push(Some(deciding));
                Ticket(f.slots.len() as u32 - 1)
            }
        }
    }

    /// Ends a registration, once the trace's decision is in the cache: moves the spans parked
    /// for it onto the end of `out` (arrival order), for the caller to forward or drop as late
    /// spans.
    pub fn finish_deciding(&mut self, ticket: Ticket, out: &mut Vec<Span>) {
        let f = &mut self.in_flight;
        let Some(deciding) = f.slots.get_mut(ticket.0 as usize).and_then(Option::take) else {
            return;
        };
        f.free.push(ticket.0);
        f.spans -= deciding.spans;
        f.buckets[bucket(deciding.hash)] -= 1;
        if deciding.parked.len() > 0 {
            self.bytes -= deciding.parked_bytes;
            self.store.take(deciding.parked, out);
        }
    }

    /// Offers one validated span (`hash` is its trace id's xxh3 hash, `size` its size
    /// estimate). `wait` is `decision_wait`, `grace` is `completion_grace`. On
    /// [`Offer::Buffer`] the span is already counted and the caller must push it (the span is
    /// only looked at here, so that it is moved once, from the caller's batch straight into its
    /// slot).
    pub fn offer(
        &mut self,
        hash: u64,
        span: &Span,
        size: usize,
        now: Duration,
        grace: Duration,
    ) -> Offer<'_> {
        let Shard {
            traces,
            store,
            wait_queue,
            completion,
            cache,
            in_flight,
            bytes,
            next_generation,
            counters,
        } = self;
        counters.spans_in += 1;
        let (trace_id, is_root, now) = (span.trace_id, span.is_root(), nanos(now));
        let entry = match traces.entry(hash, |e| e.trace_id == trace_id, |e| e.trace_id.hash64()) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.bytes += size;
                entry.last_seen = entry.last_seen.max(now);
                entry.root_seen |= is_root;
                if entry.root_seen {
                    let due = entry.last_seen.saturating_add(nanos(grace));
                    completion.push(due, hash, entry.generation);
                }
                entry
            }
            Entry::Vacant(vacant) => {
                if let Some(deciding) = in_flight.find(hash, &trace_id) {
                    deciding.parked_bytes += size;
                    *bytes += size;
                    return Offer::Buffer(Pusher {
                        store,
                        list: &mut deciding.parked,
                    });
                }
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
                wait_queue.push_back(WaitEntry { hash, generation });
                if is_root {
                    completion.push(now.saturating_add(nanos(grace)), hash, generation);
                }
                let entry = TraceEntry {
                    trace_id,
                    generation,
                    spans: SpanList::EMPTY,
                    root_seen: is_root,
                    bytes: size,
                    first_seen: now,
                    last_seen: now,
                };
                vacant.insert(entry).into_mut()
            }
        };
        *bytes += size;
        Offer::Buffer(Pusher {
            store,
            list: &mut entry.spans,
        })
    }

    /// Moves the spans of a trace taken out of the table onto the end of `out`, in arrival
    /// order, and frees their slots.
    pub fn gather(&mut self, spans: SpanList, out: &mut Vec<Span>) {
        self.store.take(spans, out);
    }

    /// As [`Shard::gather`], sorted as [`crate::view::sort_spans`] sorts (`keys` is scratch).
    pub fn gather_sorted(&mut self, spans: SpanList, out: &mut Vec<Span>, keys: &mut Vec<SortKey>) {
        self.store.take_sorted(spans, out, keys);
    }

    /// Takes a trace out of the table; its spans stay in the store until [`Shard::gather`]
    /// (under the same lock hold).
    fn take(&mut self, hash: u64, generation: u64, flags: TraceFlags) -> Option<ReadyTrace> {
        let entry = self
            .traces
            .find_entry(hash, |e| e.generation == generation)
            .ok()?;
        let (trace, _) = entry.remove();
        Some(self.taken(hash, trace, flags))
    }

    /// The bookkeeping of a trace just removed from the table.
    fn taken(&mut self, hash: u64, trace: TraceEntry, mut flags: TraceFlags) -> ReadyTrace {
        self.bytes -= trace.bytes;
        flags.incomplete = !trace.root_seen;
        ReadyTrace {
            trace_id: trace.trace_id,
            hash,
            spans: trace.spans,
            bytes: trace.bytes,
            first_seen: Duration::from_nanos(trace.first_seen),
            flags,
        }
    }

    /// Takes up to `limit` traces that are due at `now`: complete ones first, then those that
    /// waited `decision_wait` (`wait`).
    pub fn take_due(
        &mut self,
        now: Duration,
        grace: Duration,
        wait: Duration,
        limit: usize,
        out: &mut Vec<ReadyTrace>,
    ) {
        let (now, grace, wait) = (nanos(now), nanos(grace), nanos(wait));
        while out.len() < limit {
            let Some(DueEntry {
                hash, generation, ..
            }) = self.completion.pop_due(now)
            else {
                break;
            };
            let Ok(entry) = self.traces.find_entry(hash, |e| e.generation == generation) else {
                continue;
            };
            // Not quiet yet: the entry of the span that arrived since is further back.
            if entry.get().last_seen.saturating_add(grace) <= now {
                let (trace, _) = entry.remove();
                out.push(self.taken(hash, trace, TraceFlags::default()));
            }
        }
        while out.len() < limit {
            let Some(&WaitEntry { hash, generation }) = self.wait_queue.front() else {
                break;
            };
            let first_seen = self
                .traces
                .find(hash, |e| e.generation == generation)
                .map(|e| e.first_seen);
            match first_seen {
                // Decided by another route: a stale entry.
                None => {}
                Some(first_seen) if first_seen.saturating_add(wait) > now => break,
                Some(_) => {
                    let flags = TraceFlags {
                        timed_out: true,
                        ..TraceFlags::default()
                    };
                    if let Some(trace) = self.take(hash, generation, flags) {
                        self.counters.timed_out += 1;
                        out.push(trace);
                    }
                }
            }
            self.wait_queue.pop_front();
        }
    }

    /// The completion queue's part of the earliest time at which [`Shard::take_due`] may find
    /// a trace due: its front's due time (`None` when it is empty). The earliest time is the
    /// sooner of this and [`Shard::wait_due`]; both may be early (an entry of a decided trace,
    /// or of a trace that got a span since) but never late, so a poller that waits until then
    /// misses nothing already buffered.
    pub fn completion_due(&self) -> Option<Duration> {
        self.completion.next_due().map(Duration::from_nanos)
    }

    /// The wait queue's part of the earliest due time (see [`Shard::completion_due`]): when its
    /// front has waited `wait` (`decision_wait`). A front whose trace was decided already (a
    /// poll clears those it meets) answers "now": the poller polls again soon and clears it.
    pub fn wait_due(&self, wait: Duration) -> Option<Duration> {
        self.wait_queue.front().map(|front| {
            self.traces
                .find(front.hash, |e| e.generation == front.generation)
                .map_or(Duration::ZERO, |e| {
                    Duration::from_nanos(e.first_seen).saturating_add(wait)
                })
        })
    }

    /// The earliest time at which a buffered trace's entry in either queue comes due, stale
    /// entries left out: what [`Shard::completion_due`] and [`Shard::wait_due`] may only
    /// answer early. Walks both queues.
    #[cfg(test)]
    pub fn earliest_live_due(&self, wait: Duration) -> Option<Duration> {
        let live = |hash: u64, generation: u64| {
            self.traces
                .find(hash, |e| e.generation == generation)
                .map(|e| e.first_seen)
        };
        let completion = self
            .completion
            .0
            .iter()
            .filter(|e| live(e.hash, e.generation).is_some())
            .map(|e| e.due);
        let waited = self
            .wait_queue
            .iter()
            .filter_map(|e| live(e.hash, e.generation))
            .map(|first_seen| first_seen.saturating_add(nanos(wait)));
        completion.chain(waited).min().map(Duration::from_nanos)
    }

    /// Whether the wait queue holds an entry (of a buffered trace, or a stale one).
    pub fn has_waiting(&self) -> bool {
        !self.wait_queue.is_empty()
    }

    /// Gives back what a surge left: the trace table and the queues keep the capacity they
    /// grew to, and a table sized for a million traces that now holds a few thousand puts
    /// every new trace in a cold corner of it (and holds its memory). Once one holds less than
    /// an eighth of its capacity, it is rebuilt at twice its length. After its last change of
    /// size it held more than a quarter of its capacity, so a rebuild moves fewer entries than
    /// have left since: its cost is spread over the traces that left.
    pub fn shrink_if_sparse(&mut self) {
        if sparse(self.traces.len(), self.traces.capacity()) {
            self.traces
                .shrink_to(self.traces.len() * 2, |e| e.trace_id.hash64());
        }
        if sparse(self.wait_queue.len(), self.wait_queue.capacity()) {
            self.wait_queue.shrink_to(self.wait_queue.len() * 2);
        }
        let completion = &mut self.completion.0;
        if sparse(completion.len(), completion.capacity()) {
            completion.shrink_to(completion.len() * 2);
        }
    }

    /// Takes the oldest trace (by first span), for an early decision or shutdown.
    pub fn take_oldest(&mut self, flags: TraceFlags) -> Option<ReadyTrace> {
        while let Some(front) = self.wait_queue.pop_front() {
            if let Some(trace) = self.take(front.hash, front.generation, flags) {
                return Some(trace);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_entry_fits_in_a_cache_line() {
        assert_eq!(std::mem::size_of::<TraceEntry>(), 64);
    }

    /// Offers a root span of trace `t` at `now`, buffering it.
    fn offer_root(shard: &mut Shard, t: u128, now: Duration, grace: Duration) {
        let span = Span {
            trace_id: TraceId::from_u128(t),
            span_id: crate::span::SpanId::from_u64(1),
            ..Span::default()
        };
        let hash = span.trace_id.hash64();
        if let Offer::Buffer(pusher) = shard.offer(hash, &span, 100, now, grace) {
            pusher.push(span);
        }
    }

    #[test]
    fn a_drained_surge_gives_its_table_and_queues_back() {
        let (grace, wait) = (Duration::from_secs(2), Duration::from_secs(30));
        let mut shard = Shard::new(DecisionCache::new(16, 16));
        // A surge of 50,000 one-span traces, then 100 more a second later.
        for t in 0..50_000 {
            offer_root(&mut shard, t + 1, Duration::ZERO, grace);
        }
        for t in 0..100 {
            offer_root(&mut shard, 1_000_000 + t, Duration::from_secs(1), grace);
        }
        let grown = shard.traces.capacity();
        assert!(grown >= 50_100);
        // The surge comes due and is decided; the late hundred stay.
        let mut out = Vec::new();
        shard.take_due(grace, grace, wait, usize::MAX, &mut out);
        assert_eq!(out.len(), 50_000);
        for trace in out {
            let mut spans = Vec::new();
            shard.gather(trace.spans, &mut spans);
        }
        shard.shrink_if_sparse();
        assert!(
            shard.traces.capacity() < 1_000,
            "table of {} slots for {} traces (it grew to {grown})",
            shard.traces.capacity(),
            shard.trace_count()
        );
        assert!(shard.wait_queue.capacity() < 1_000);
        assert!(shard.completion.0.capacity() < 1_000);
        // What stayed is still found and decided when due.
        assert_eq!(shard.trace_count(), 100);
        let mut out = Vec::new();
        let later = Duration::from_secs(1) + grace;
        shard.take_due(later, grace, wait, usize::MAX, &mut out);
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|t| t.trace_id.to_u128() >= 1_000_000));
        // A table already small is left as it is.
        let small = shard.traces.capacity();
        shard.shrink_if_sparse();
        assert_eq!(shard.traces.capacity(), small);
    }

    #[test]
    fn spans_of_traces_being_decided_are_parked_for_their_decision() {
        let grace = Duration::from_secs(2);
        let mut shard = Shard::new(DecisionCache::new(16, 16));
        for t in 1..=3 {
            offer_root(&mut shard, t, Duration::ZERO, grace);
        }
        let mut out = Vec::new();
        shard.take_due(grace, grace, grace, 2, &mut out);
        let mut tickets = Vec::new();
        for trace in out {
            let mut spans = Vec::new();
            shard.gather(trace.spans, &mut spans);
            tickets.push((
                trace.trace_id,
                shard.begin_deciding(trace.hash, trace.trace_id, 1),
            ));
        }
        assert_eq!(
            (shard.span_count(), shard.deciding_spans(), shard.bytes),
            (1, 2, 100)
        );
        // Two spans of the first trace being decided, one of a new trace: the first two are
        // parked, counted in the store and the bytes, and start no trace.
        for (t, id) in [(1, 2), (1, 3), (9, 1)] {
            let span = Span {
                trace_id: TraceId::from_u128(t),
                span_id: crate::span::SpanId::from_u64(id),
                ..Span::default()
            };
            match shard.offer(span.trace_id.hash64(), &span, 10, grace, grace) {
                Offer::Buffer(pusher) => pusher.push(span),
                _ => panic!("a span of a trace being decided is buffered, not late"),
            }
        }
        assert_eq!(shard.trace_count(), 2, "traces 3 and 9");
        assert_eq!((shard.span_count(), shard.bytes), (4, 130));
        let mut parked = Vec::new();
        for (trace_id, ticket) in tickets {
            shard.finish_deciding(ticket, &mut parked);
            let ids: Vec<u64> = parked.drain(..).map(|s| s.span_id.to_u64()).collect();
            let expected: &[u64] = if trace_id.to_u128() == 1 {
                &[2, 3]
            } else {
                &[]
            };
            assert_eq!(ids, expected);
        }
        assert_eq!(
            (shard.span_count(), shard.deciding_spans(), shard.bytes),
            (2, 0, 110)
        );
        // Once finished, its slot serves the next registration; a span of a trace no longer
        // being decided starts a new trace (the engine's decision cache answers first).
        let ticket = shard.begin_deciding(7, TraceId::from_u128(7), 0);
        assert!(ticket.0 < 2, "a freed slot is reused");
        shard.finish_deciding(ticket, &mut parked);
        offer_root(&mut shard, 1, grace, grace);
        assert_eq!(shard.trace_count(), 3);
    }

    proptest::proptest! {
        /// Against a model, over any mix of spans offered, oldest traces taken out and
        /// registered as being decided, and registrations finished in any order: a span of a
        /// trace being decided is parked for it (never a new trace) and comes back, in arrival
        /// order, when its registration ends; every span is in the table, parked, or being
        /// decided, and the counts and bytes say so.
        #[test]
        fn parked_spans_agree_with_a_model(
            ops in proptest::collection::vec((0u8..3, 0u128..5, 0usize..8), 1..200)
        ) {
            use std::collections::VecDeque;
            let grace = Duration::from_secs(2);
            let mut shard = Shard::new(DecisionCache::new(16, 16));
            // Buffered traces in first-arrival order, with their spans' ids.
            let mut buffered: VecDeque<(u128, Vec<u64>)> = VecDeque::new();
            // Registrations: trace, own span count, parked ids, ticket.
            let mut deciding: Vec<(u128, usize, Vec<u64>, Ticket)> = Vec::new();
            let mut next_id = 1u64;
            for (op, t, pick) in ops {
                match op {
                    0 => {
                        let id = next_id;
                        next_id += 1;
                        let span = Span {
                            trace_id: TraceId::from_u128(t + 1),
                            span_id: crate::span::SpanId::from_u64(id),
                            parent_span_id: crate::span::SpanId::from_u64(1),
                            ..Span::default()
                        };
                        let hash = span.trace_id.hash64();
                        match shard.offer(hash, &span, 10, Duration::ZERO, grace) {
                            Offer::Buffer(pusher) => pusher.push(span),
                            _ => proptest::prop_assert!(false, "no decision is cached here"),
                        }
                        if let Some(d) = deciding.iter_mut().find(|d| d.0 == t) {
                            d.2.push(id);
                        } else if let Some(b) = buffered.iter_mut().find(|b| b.0 == t) {
                            b.1.push(id);
                        } else {
                            buffered.push_back((t, vec![id]));
                        }
                    }
                    1 => {
                        let Some(trace) = shard.take_oldest(TraceFlags::default()) else {
                            proptest::prop_assert!(buffered.is_empty());
                            continue;
                        };
                        let (t, ids) = buffered.pop_front().unwrap();
                        proptest::prop_assert_eq!(trace.trace_id, TraceId::from_u128(t + 1));
                        let mut spans = Vec::new();
                        shard.gather(trace.spans, &mut spans);
                        let got: Vec<u64> = spans.iter().map(|s| s.span_id.to_u64()).collect();
                        proptest::prop_assert_eq!(&got, &ids);
                        let ticket = shard.begin_deciding(trace.hash, trace.trace_id, spans.len());
                        deciding.push((t, spans.len(), Vec::new(), ticket));
                    }
                    _ => {
                        if deciding.is_empty() {
                            continue;
                        }
                        let (_, _, parked, ticket) = deciding.remove(pick % deciding.len());
                        let mut out = Vec::new();
                        shard.finish_deciding(ticket, &mut out);
                        let got: Vec<u64> = out.iter().map(|s| s.span_id.to_u64()).collect();
                        proptest::prop_assert_eq!(got, parked);
                    }
                }
                let in_table: usize = buffered.iter().map(|b| b.1.len()).sum();
                let parked: usize = deciding.iter().map(|d| d.2.len()).sum();
                let own: usize = deciding.iter().map(|d| d.1).sum();
                proptest::prop_assert_eq!(shard.trace_count(), buffered.len());
                proptest::prop_assert_eq!(shard.span_count(), in_table + parked);
                proptest::prop_assert_eq!(shard.deciding_spans(), own);
                proptest::prop_assert_eq!(shard.bytes, 10 * (in_table + parked));
            }
        }
    }
}
