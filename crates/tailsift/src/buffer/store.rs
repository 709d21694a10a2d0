//! [`SpanStore`]: where one shard keeps the spans of its buffered traces.
//!
//! Every span of the shard sits in one slot of a pool of fixed-size pages, and a trace's spans
//! are a linked list of slots ([`SpanList`]: head, tail and length in the trace's entry, a
//! 4-byte link per slot). A trace's spans are gathered into one vector, exactly as long as the
//! trace, when it is decided.
//!
//! Why not a vector per trace: a vector that grows by doubling holds on average a third more
//! slots than spans, and a span is the largest thing the engine keeps (each slot is a whole
//! `Span`). The engine cannot size a trace's vector in advance: spans of one trace come in any
//! number of batches. Here a buffered span costs its slot and its link, and the only spare room
//! is the free slots — those of decided traces, reused first (most recently freed first, the
//! ones still in cache), and the unused rest of the last page.
//!
//! The pool keeps its pages while any span is buffered, so its size follows the shard's high
//! water mark (bounded by `buffer.max_spans`); it gives them all back but one when the shard
//! empties.

use crate::span::Span;

/// Spans per page: a page of 152-byte spans is about 38 KiB, so an engine's shards hold at most
/// a page each of unused slots beyond the free list.
const PAGE_SPANS: usize = 256;

/// No slot: the end of a list or of the free list.
const NONE: u32 = u32::MAX;

/// The spans of one trace in a [`SpanStore`]: the first and last slot and how many there are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanList {
    head: u32,
    tail: u32,
    len: u32,
}

impl SpanList {
    /// An empty list.
    pub const EMPTY: SpanList = SpanList {
        head: NONE,
        tail: NONE,
        len: 0,
    };

    /// How many spans the list holds.
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

struct Page {
    /// A slot holds a span or is free.
    spans: Box<[Option<Span>]>,
    /// The next slot of the same trace, or of the free list.
    next: Box<[u32]>,
}

impl Page {
    fn new() -> Page {
        Page {
            spans: (0..PAGE_SPANS).map(|_| None).collect(),
            next: vec![NONE; PAGE_SPANS].into_boxed_slice(),
        }
    }
}

/// The span slots of one shard. See the [module documentation](self).
#[derive(Default)]
pub(crate) struct SpanStore {
    pages: Vec<Page>,
    /// The most recently freed slot; the free list goes on through `next`.
    free: u32,
    /// Slots handed out at least once: those at and after it have never been used.
    used: u32,
    /// Spans held.
    len: usize,
}

/// Whether `u32` slot numbers suffice for `spans` buffered spans in one shard.
pub(crate) fn fits(spans: usize) -> bool {
    spans < (NONE as usize) - PAGE_SPANS
}

impl SpanStore {
    /// An empty store; it allocates its first page with its first span.
    pub fn new() -> SpanStore {
        SpanStore {
            pages: Vec::new(),
            free: NONE,
            used: 0,
            len: 0,
        }
    }

    /// Spans held.
    pub fn len(&self) -> usize {
        self.len
    }

    fn slot(&mut self, index: u32) -> (&mut Option<Span>, &mut u32) {
        let (page, at) = (index as usize / PAGE_SPANS, index as usize % PAGE_SPANS);
        let page = &mut self.pages[page];
        (&mut page.spans[at], &mut page.next[at])
    }

    /// A free slot's number: the most recently freed one, else a new one. The engine bounds a
    /// shard's spans far below `u32::MAX` (`buffer.max_spans` and `buffer.max_batch_spans`
    /// are validated against [`fits`]), so slot numbers do not run out.
    fn allocate(&mut self) -> u32 {
        if self.free != NONE {
            let index = self.free;
            self.free = *self.slot(index).1;
            return index;
        }
        if self.used as usize == self.pages.len() * PAGE_SPANS {
            self.pages.push(Page::new());
        }
        self.used += 1;
        self.used - 1
    }

    /// Appends `span` to `list`.
    pub fn push(&mut self, list: &mut SpanList, span: Span) {
        let index = self.allocate();
        let (slot, next) = self.slot(index);
        *slot = Some(span);
        *next = NONE;
        if list.len == 0 {
            list.head = index;
        } else {
            *self.slot(list.tail).1 = index;
        }
        list.tail = index;
        list.len += 1;
        self.len += 1;
    }

    /// Moves the spans of `list`, in the order they were pushed, onto the end of `out`, and
    /// frees their slots.
    pub fn take(&mut self, list: SpanList, out: &mut Vec<Span>) {
        out.reserve_exact(list.len());
        let mut index = list.head;
        for _ in 0..list.len {
            let free = self.free;
            let (slot, next) = self.slot(index);
            out.extend(slot.take());
            let following = std::mem::replace(next, free);
            self.free = index;
            index = following;
        }
        self.len -= list.len();
        if self.len == 0 && self.pages.len() > 1 {
            // The shard is empty: give back what a burst left behind.
            self.pages.truncate(1);
            self.free = NONE;
            self.used = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SpanId;

    fn span(id: u64) -> Span {
        Span {
            span_id: SpanId::from_u64(id),
            ..Span::default()
        }
    }

    fn ids(spans: &[Span]) -> Vec<u64> {
        spans.iter().map(|s| s.span_id.to_u64()).collect()
    }

    #[test]
    fn an_empty_slot_costs_no_more_than_a_span() {
        assert_eq!(
            std::mem::size_of::<Option<Span>>(),
            std::mem::size_of::<Span>()
        );
    }

    #[test]
    fn interleaved_traces_come_out_whole_and_in_order() {
        let mut store = SpanStore::new();
        let mut lists = [SpanList::EMPTY; 3];
        for id in 0..3 * PAGE_SPANS as u64 + 7 {
            store.push(&mut lists[(id % 3) as usize], span(id));
        }
        assert_eq!(store.len(), 3 * PAGE_SPANS + 7);
        let mut out = Vec::new();
        store.take(lists[1], &mut out);
        assert_eq!(
            ids(&out),
            (0..3 * PAGE_SPANS as u64 + 7)
                .filter(|id| id % 3 == 1)
                .collect::<Vec<_>>()
        );
        assert_eq!(out.capacity(), out.len(), "gathered with no spare room");
        assert_eq!(store.len(), 2 * PAGE_SPANS + 5);
    }

    #[test]
    fn freed_slots_are_reused_before_new_pages() {
        let mut store = SpanStore::new();
        let mut keep = SpanList::EMPTY;
        store.push(&mut keep, span(0));
        for round in 0..100u64 {
            let mut list = SpanList::EMPTY;
            for i in 0..PAGE_SPANS as u64 - 1 {
                store.push(&mut list, span(round * 1000 + i));
            }
            let mut out = Vec::new();
            store.take(list, &mut out);
            assert_eq!(out.len(), PAGE_SPANS - 1);
        }
        assert_eq!(store.pages.len(), 1, "one page holds every round");
        let mut out = Vec::new();
        store.take(keep, &mut out);
        assert_eq!(ids(&out), [0]);
    }

    #[test]
    fn an_emptied_store_gives_back_all_pages_but_one() {
        let mut store = SpanStore::new();
        let mut list = SpanList::EMPTY;
        for id in 0..10 * PAGE_SPANS as u64 {
            store.push(&mut list, span(id));
        }
        assert_eq!(store.pages.len(), 10);
        let mut out = Vec::new();
        store.take(list, &mut out);
        assert_eq!(out.len(), 10 * PAGE_SPANS);
        assert_eq!((store.pages.len(), store.len()), (1, 0));
        let mut again = SpanList::EMPTY;
        store.push(&mut again, span(1));
        store.push(&mut again, span(2));
        out.clear();
        store.take(again, &mut out);
        assert_eq!(ids(&out), [1, 2]);
    }

    #[test]
    fn spans_left_in_the_store_are_dropped_with_it() {
        let resource = std::sync::Arc::new(crate::span::Resource::default());
        let mut store = SpanStore::new();
        let mut list = SpanList::EMPTY;
        for id in 1..=300 {
            store.push(
                &mut list,
                Span {
                    resource: resource.clone(),
                    ..span(id)
                },
            );
        }
        assert_eq!(std::sync::Arc::strong_count(&resource), 301);
        drop(store);
        assert_eq!(std::sync::Arc::strong_count(&resource), 1);
    }
}
