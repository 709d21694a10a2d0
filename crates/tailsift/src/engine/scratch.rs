//! [`Scratch`]: the per-thread working memory of `Engine::ingest` and `Engine::poll` — a batch's
//! routing (a counting sort of its spans by shard), the traces of one chunk from their taking
//! through their policies to their decisions, emptied span vectors for the next traces decided
//! — reused so that the span path allocates nothing in steady state.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use super::{RejectCounts, RejectReason};
use crate::buffer::{ReadyTrace, SortKey, Ticket};
use crate::cache::SharedReasons;
use crate::decision::Decision;
use crate::ring::Ring;
use crate::span::{Span, Str, TraceId, Value};
use crate::view::TraceFlags;

/// A trace taken out of its shard to be decided: its spans gathered (sorted), its registration
/// in the shard while the policies run with the lock released, and then their outcome.
pub(super) struct Pending {
    pub trace_id: TraceId,
    pub hash: u64,
    pub bytes: usize,
    pub first_seen: Duration,
    pub flags: TraceFlags,
    pub spans: Vec<Span>,
    pub ticket: Ticket,
    /// What the policies made of it, once they have run.
    pub judged: Option<Judged>,
}

/// What the policies made of a [`Pending`] trace.
pub(super) struct Judged {
    pub keep: bool,
    pub reasons: Arc<[Str]>,
    pub adjusted_count: f64,
    pub threshold: u64,
}

/// Where one valid span of a batch goes.
#[derive(Clone, Copy)]
pub(super) struct Route {
    pub hash: u64,
    pub size: usize,
    pub shard: u32,
}

/// Marks a rejected span in [`Scratch::routes`].
const REJECTED: u32 = u32::MAX;

/// The most span slots a thread keeps in emptied vectors (192 KiB of 96-byte spans).
const MAX_SPARE_SPANS: usize = 2048;

/// Per-thread working memory of `ingest` and `poll` (see the module documentation). Taken out
/// of the thread-local for the duration of a call; a call re-entering the engine from the sink
/// finds it empty and works with fresh vectors.
#[derive(Default)]
pub(super) struct Scratch {
    /// Per span of the batch, by index.
    pub routes: Vec<Route>,
    /// Batch indices grouped by shard (batch order within a shard): a counting sort.
    pub order: Vec<u32>,
    /// `order[starts[i]..starts[i + 1]]` are the spans of shard `i`.
    pub starts: Vec<u32>,
    /// Fill positions of the counting sort.
    pub cursor: Vec<u32>,
    /// The live bitmap of the batch's `Slots` (`engine::slots`).
    pub live: Vec<u64>,
    /// The shards an ingest or a poll found held by another thread (`ShardOrder`).
    pub busy: Vec<usize>,
    /// Traces taken out of a shard to be decided.
    pub ready: Vec<ReadyTrace>,
    /// Those traces with their spans gathered, for the policies, then for their decisions.
    pub pending: Vec<Pending>,
    /// The reasons of this thread's recent decisions, shared between them.
    pub reasons: SharedReasons,
    /// Spans that arrived for a trace while it was being decided, once it is.
    pub parked: Vec<Span>,
    /// Decisions recorded, emitted after the shard lock is released.
    pub decided: Vec<Decision>,
    /// Late decisions of kept traces' parked spans, sent after `decided`.
    pub late: Vec<Decision>,
    /// Span vectors of dropped traces, emptied after the shard lock is released.
    pub discard: Vec<Vec<Span>>,
    /// The sort keys of the trace being gathered (`Shard::gather_sorted`).
    pub sort_keys: Vec<SortKey>,
    /// Emptied span vectors, by capacity class ([`class`]): a decided trace's spans are
    /// gathered into one.
    spare: Vec<Vec<Vec<Span>>>,
    /// The summed capacity of `spare`, in spans.
    spare_spans: usize,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            routes: Vec::new(),
            order: Vec::new(),
            starts: Vec::new(),
            cursor: Vec::new(),
            live: Vec::new(),
            busy: Vec::new(),
            ready: Vec::new(),
            pending: Vec::new(),
            reasons: SharedReasons::new(),
            parked: Vec::new(),
            decided: Vec::new(),
            late: Vec::new(),
            discard: Vec::new(),
            sort_keys: Vec::new(),
            spare: Vec::new(),
            spare_spans: 0,
        }
    }

    /// Validates every span of the batch and routes the valid ones to one of `shards` shards
    /// on `ring`: `routes` gets each span's hash, size and shard, `order` and `starts` the spans
    /// grouped by shard. Rejected spans are counted in `rejected` (and left in the batch, to be
    /// dropped with it).
    pub fn route(
        &mut self,
        spans: &[Span],
        ring: &Ring<usize>,
        shards: usize,
        rejected: &mut RejectCounts,
    ) {
        let n = shards;
        let Scratch {
            routes,
            order,
            starts,
            cursor,
            ..
        } = self;
        routes.clear();
        starts.clear();
        starts.resize(n + 1, 0);
        let nowhere = Route {
            hash: 0,
            size: 0,
            shard: REJECTED,
        };
        for (i, span) in spans.iter().enumerate() {
            prefetch_ahead(spans, i);
            let reason = if !span.trace_id.is_valid() {
                Some(RejectReason::ZeroTraceId)
            } else if !span.span_id.is_valid() {
                Some(RejectReason::ZeroSpanId)
            } else if span.end_time_unix_nano < span.start_time_unix_nano {
                Some(RejectReason::EndBeforeStart)
            } else {
                None
            };
            if let Some(reason) = reason {
                rejected.add(reason, 1);
                routes.push(nowhere);
                continue;
            }
            let hash = span.trace_id.hash64();
            let shard = ring
                .owner_for_hash(hash)
                .copied()
                .filter(|&s| s < n)
                .unwrap_or(0);
            starts[shard + 1] += 1;
            routes.push(Route {
                hash,
                size: span.size_estimate(),
                shard: shard as u32,
            });
        }
        for i in 1..=n {
            starts[i] += starts[i - 1];
        }
        cursor.clear();
        cursor.extend_from_slice(&starts[..n]);
        order.clear();
        order.resize(starts[n] as usize, 0);
        for (i, route) in routes.iter().enumerate() {
            if route.shard != REJECTED {
                let at = &mut cursor[route.shard as usize];
                order[*at as usize] = i as u32;
                *at += 1;
            }
        }
    }

    /// Drops the spans of dropped traces, with no lock held (each span drop is a few
    /// reference-count decrements and frees), and keeps their emptied vectors, up to
    /// [`MAX_SPARE_SPANS`] of capacity, for the next traces decided.
    pub fn release_discarded(&mut self) {
        for mut spans in self.discard.drain(..) {
            spans.clear();
            let capacity = spans.capacity();
            if capacity > 0 && self.spare_spans + capacity <= MAX_SPARE_SPANS {
                let c = class(capacity);
                if self.spare.len() <= c {
                    self.spare.resize_with(c + 1, Vec::new);
                }
                self.spare_spans += capacity;
                self.spare[c].push(spans);
            }
        }
    }

    /// An empty vector for a decided trace of `len` spans: a spare one if one fits the trace
    /// (room for it, and not over four times its size: a kept trace's vector goes to the
    /// sink, which should not hold a large buffer for a small trace), else a new one of
    /// exactly that size. Traces come in all sizes, so the spares are kept by capacity class
    /// and the last one of each class that could fit is tried (three to five classes): a new
    /// vector of a few kilobytes can cost glibc's allocator over a thousand instructions.
    #[inline]
    pub fn span_vector(&mut self, len: usize) -> Vec<Span> {
        let most = 4 * len + 16;
        let fits = |spans: &Vec<Span>| (len..=most).contains(&spans.capacity());
        for c in class(len)..=class(most) {
            let Some(spares) = self.spare.get_mut(c) else {
                break;
            };
            if spares.last().is_some_and(fits) {
                if let Some(spans) = spares.pop() {
                    self.spare_spans -= spans.capacity();
                    return spans;
                }
            }
        }
        Vec::with_capacity(len)
    }
}

/// How far ahead of the span being routed its attribute lists are prefetched, and then (once
/// those lists are in cache) their string values: see [`prefetch_ahead`].
const LIST_AHEAD: usize = 16;
const VALUES_AHEAD: usize = 8;

/// Starts loading what [`Span::size_estimate`] will read of the spans a little further on: the
/// attribute list of the span [`LIST_AHEAD`] ahead, and the headers of the string values of the
/// span [`VALUES_AHEAD`] ahead (whose list the first prefetch brought in). The estimate is the
/// first touch of each span's heap; for a batch that is no longer in cache (built or queued a
/// while before), each list and each value of its own is a wait for memory, and these hints
/// overlap the waits of several spans. Measured in `docs/BENCHMARKS.md` (session 12): the
/// anchor +5% to +14% in one process, its spans' values unique per span +10% to +14%; about
/// 3% the other way for a batch small enough to stay in cache whose values are all shared.
#[inline]
fn prefetch_ahead(spans: &[Span], i: usize) {
    if let Some(span) = spans.get(i + LIST_AHEAD) {
        if let (Some(first), Some(last)) = (span.attributes.first(), span.attributes.last()) {
            crate::prefetch::prefetch(first);
            crate::prefetch::prefetch(last);
        }
    }
    if let Some(span) = spans.get(i + VALUES_AHEAD) {
        for kv in span.attributes.iter() {
            if let Value::Str(s) = &kv.value {
                s.prefetch();
            }
        }
    }
}

/// The capacity class of a spare vector: capacities in `[2^c, 2^(c + 1))` are class `c` (0 and
/// 1 are class 0).
#[inline]
fn class(capacity: usize) -> usize {
    capacity.max(1).ilog2() as usize
}

thread_local! {
    pub(super) static SCRATCH: Cell<Scratch> = const { Cell::new(Scratch::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn released(scratch: &mut Scratch, capacities: &[usize]) -> Vec<*const Span> {
        let vectors: Vec<Vec<Span>> = capacities.iter().map(|&c| Vec::with_capacity(c)).collect();
        let addresses = vectors.iter().map(|v| v.as_ptr()).collect();
        scratch.discard.extend(vectors);
        scratch.release_discarded();
        addresses
    }

    #[test]
    fn a_fitting_spare_is_found_whatever_was_released_after_it() {
        let mut scratch = Scratch::new();
        let at = released(&mut scratch, &[40, 3, 100, 9]);
        // Every vector handed out is held to the end, so no address is freed and reused.
        let mut taken = Vec::new();
        let mut take = |scratch: &mut Scratch, len: usize| {
            let v = scratch.span_vector(len);
            let found = (v.as_ptr(), v.capacity());
            taken.push(v);
            found
        };
        // 40 spans: the vector of 40, though three others came back after it.
        assert_eq!(take(&mut scratch, 40), (at[0], 40));
        // 20 spans: 40 is gone, 100 is over 4 × 20 + 16: a new vector of exactly 20.
        let (new, capacity) = take(&mut scratch, 20);
        assert!(!at.contains(&new) && capacity == 20);
        // 8 spans: the vector of 9; then 3 spans: the vector of 3; 25: 100 fits (at most 116).
        assert_eq!(take(&mut scratch, 8), (at[3], 9));
        assert_eq!(take(&mut scratch, 3), (at[1], 3));
        assert_eq!(take(&mut scratch, 25), (at[2], 100));
        assert_eq!(scratch.spare_spans, 0);
    }

    #[test]
    fn spares_stay_within_their_bound() {
        let mut scratch = Scratch::new();
        released(&mut scratch, &[MAX_SPARE_SPANS - 10, 20, 10, 0]);
        assert_eq!(scratch.spare_spans, MAX_SPARE_SPANS);
        let kept: usize = scratch.spare.iter().flatten().map(Vec::capacity).sum();
        assert_eq!(
            kept, MAX_SPARE_SPANS,
            "the 20 was freed, the empty one not kept"
        );
        assert_eq!(scratch.spare.iter().flatten().count(), 2);
        // One span: the spare of 10 fits (at most 4 + 16); then the large one does not.
        assert_eq!(scratch.span_vector(1).capacity(), 10);
        assert_eq!(scratch.span_vector(1).capacity(), 1);
        assert_eq!(scratch.spare_spans, MAX_SPARE_SPANS - 10);
    }
}
