//! [`Scratch`]: the per-thread working memory of `Engine::ingest` and `Engine::poll` — a batch's
//! routing (a counting sort of its spans by shard), the traces and decisions of one lock hold,
//! emptied span vectors for the next traces decided — reused so that the span path allocates
//! nothing in steady state.

use std::cell::Cell;

use super::slots::Slots;
use super::{RejectCounts, RejectReason};
use crate::buffer::{ReadyTrace, SortKey};
use crate::decision::Decision;
use crate::ring::Ring;
use crate::span::Span;

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
    /// The live bitmap of the batch's [`Slots`].
    pub live: Vec<u64>,
    /// Traces taken out of a shard to be decided.
    pub ready: Vec<ReadyTrace>,
    /// Decisions made under a shard lock, emitted after it is released.
    pub decided: Vec<Decision>,
    /// Span vectors of dropped traces, emptied after the shard lock is released.
    pub discard: Vec<Vec<Span>>,
    /// The sort keys of the trace being gathered (`Shard::gather_sorted`).
    pub sort_keys: Vec<SortKey>,
    /// Emptied span vectors: a decided trace's spans are gathered into one.
    pub spare: Vec<Vec<Span>>,
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
            ready: Vec::new(),
            decided: Vec::new(),
            discard: Vec::new(),
            sort_keys: Vec::new(),
            spare: Vec::new(),
            spare_spans: 0,
        }
    }

    /// Validates every span of the batch and routes the valid ones to one of `shards` shards
    /// on `ring`: `routes` gets each span's hash, size and shard, `order` and `starts` the spans
    /// grouped by shard. Rejected spans are counted in `rejected` and left in `slots` (dropped
    /// with them).
    pub fn route(
        &mut self,
        slots: &Slots,
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
        for i in 0..slots.len() {
            let Some(span) = slots.get(i) else {
                routes.push(nowhere); // (every slot is full before routing)
                continue;
            };
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
            if self.spare_spans + spans.capacity() <= MAX_SPARE_SPANS {
                self.spare_spans += spans.capacity();
                self.spare.push(spans);
            }
        }
    }

    /// An empty vector for a decided trace of `len` spans: the last spare one if it fits the
    /// trace (room for it, and not over four times its size: a kept trace's vector goes to the
    /// sink, which should not hold a large buffer for a small trace), else a new one of
    /// exactly that size.
    pub fn span_vector(&mut self, len: usize) -> Vec<Span> {
        let fits = |spans: &Vec<Span>| (len..=4 * len + 16).contains(&spans.capacity());
        if self.spare.last().is_some_and(fits) {
            if let Some(spans) = self.spare.pop() {
                self.spare_spans -= spans.capacity();
                return spans;
            }
        }
        Vec::with_capacity(len)
    }
}

thread_local! {
    pub(super) static SCRATCH: Cell<Scratch> = const { Cell::new(Scratch::new()) };
}
