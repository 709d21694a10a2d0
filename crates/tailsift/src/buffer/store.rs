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
//! Slots are `MaybeUninit` so that a span is copied once into its slot and once out of it (an
//! `Option` per slot costs two more copies per span and a check on every write); the `unsafe`
//! code this takes is confined to this module, with its invariant stated on [`SpanStore`], and
//! its tests run under valgrind with the rest of the crate's (see `docs/ARCHITECTURE.md`).
//!
//! The pool keeps its pages while any span is buffered, so its size follows the shard's high
//! water mark (bounded by `buffer.max_spans`); it gives them all back but one when the shard
//! empties.

use std::mem::MaybeUninit;

use crate::span::Span;

/// Spans per page: a page of 96-byte spans is about 24 KiB, so an engine's shards hold at most
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
    /// A slot holds a span iff it was handed out and not freed since (see the module's
    /// invariant); the others are uninitialized.
    spans: Box<[MaybeUninit<Span>; PAGE_SPANS]>,
    /// The next slot of the same trace, or of the free list.
    next: Box<[u32; PAGE_SPANS]>,
}

impl Page {
    fn new() -> Page {
        Page {
            spans: Box::new([const { MaybeUninit::uninit() }; PAGE_SPANS]),
            next: Box::new([NONE; PAGE_SPANS]),
        }
    }
}

/// The span slots of one shard. See the [module documentation](self).
///
/// Invariant (what the `unsafe` blocks rely on): a slot below `used` that is not on the free
/// list is on exactly one trace's [`SpanList`] and holds an initialized span; every other slot
/// is uninitialized. `push` initializes a slot as it links it; `take` moves each span of a list
/// out exactly once and puts its slot on the free list; lists are moved into `take` by value,
/// so a list cannot be taken twice.
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

/// The page and the place in it of slot `index`.
#[inline]
fn split(index: u32) -> (usize, usize) {
    (index as usize / PAGE_SPANS, index as usize % PAGE_SPANS)
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

    #[inline]
    fn next(&mut self, index: u32) -> &mut u32 {
        let (page, at) = split(index);
        &mut self.pages[page].next[at]
    }

    /// A free slot's number: the most recently freed one, else a new one. The engine bounds a
    /// shard's spans far below `u32::MAX` (`buffer.max_spans` and `buffer.max_batch_spans`
    /// are validated against [`fits`]), so slot numbers do not run out.
    #[inline]
    fn allocate(&mut self) -> u32 {
        if self.free != NONE {
            let index = self.free;
            self.free = *self.next(index);
            return index;
        }
        if self.used as usize == self.pages.len() * PAGE_SPANS {
            self.pages.push(Page::new());
        }
        self.used += 1;
        self.used - 1
    }

    /// Appends `span` to `list`.
    #[inline]
    pub fn push(&mut self, list: &mut SpanList, span: Span) {
        let index = self.allocate();
        let (page, at) = split(index);
        let page = &mut self.pages[page];
        // A free slot is uninitialized: writing does not leak a span.
        page.spans[at].write(span);
        page.next[at] = NONE;
        if list.len == 0 {
            list.head = index;
        } else {
            *self.next(list.tail) = index;
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
            let (page, at) = split(index);
            let page = &mut self.pages[page];
            let at_out = out.len();
            // SAFETY: `index` is on `list` (its first `len` links), so by the invariant its slot
            // holds an initialized span; the slot goes on the free list right after, so the span
            // is read once. `reserve_exact` made room for every span of the list in `out`, and the
            // length grows only once the element is written. A slot and `out` never overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    page.spans[at].as_ptr(),
                    out.as_mut_ptr().add(at_out),
                    1,
                );
                out.set_len(at_out + 1);
            }
            let following = std::mem::replace(&mut page.next[at], self.free);
            self.free = index;
            index = following;
        }
        self.released(list.len());
    }
}

/// The order a decided trace's spans are handed out in: start time, then span id (as
/// [`crate::view::sort_spans`]; as a big-endian word, which orders as its bytes do and
/// compares in one step), then arrival (its slot's place in the list).
pub(crate) type SortKey = (u64, u64, u32);

impl SpanStore {
    /// Moves the spans of `list` onto the end of `out` sorted as [`crate::view::sort_spans`]
    /// sorts them (ties in arrival order), and frees their slots. Sorting the small keys and
    /// copying each span once, in order, costs less than copying the spans out and sorting
    /// them (a sort moves each 96-byte span several times). `keys` is scratch space.
    pub fn take_sorted(&mut self, list: SpanList, out: &mut Vec<Span>, keys: &mut Vec<SortKey>) {
        // One span is in order already: no keys to build and sort.
        if list.len <= 1 {
            return self.take(list, out);
        }
        keys.clear();
        let mut index = list.head;
        for _ in 0..list.len {
            let (page, at) = split(index);
            let page = &self.pages[page];
            // SAFETY: `index` is on `list`, so by the invariant its slot holds a span.
            let span = unsafe { page.spans[at].assume_init_ref() };
            keys.push((span.start_time_unix_nano, span.span_id.to_u64(), index));
            index = page.next[at];
        }
        keys.sort_unstable();
        out.reserve_exact(list.len());
        for &(_, _, index) in keys.iter() {
            let (page, at) = split(index);
            let at_out = out.len();
            // SAFETY: each slot of `list` appears once in `keys` and holds a span (the
            // invariant); it is read once here and freed below, before the store is used again.
            // `reserve_exact` made room for every span of the list in `out`, and the length
            // grows only once the element is written.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.pages[page].spans[at].as_ptr(),
                    out.as_mut_ptr().add(at_out),
                    1,
                );
                out.set_len(at_out + 1);
            }
        }
        for &(_, _, index) in keys.iter() {
            let free = self.free;
            *self.next(index) = free;
            self.free = index;
        }
        self.released(list.len());
    }

    fn released(&mut self, spans: usize) {
        self.len -= spans;
        if self.len == 0 && self.pages.len() > 1 {
            // The shard is empty: give back what a burst left behind. Every slot is free, so
            // no span is in the pages dropped (and `MaybeUninit` drops nothing anyway).
            self.pages.truncate(1);
            self.free = NONE;
            self.used = 0;
        }
    }
}

impl Default for SpanStore {
    fn default() -> SpanStore {
        SpanStore::new()
    }
}

impl Drop for SpanStore {
    /// Drops the spans still held (an engine dropped with traces buffered).
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        let mut free = vec![false; self.used as usize];
        let mut index = self.free;
        while index != NONE {
            free[index as usize] = true;
            index = *self.next(index);
        }
        for (index, is_free) in free.into_iter().enumerate() {
            if !is_free {
                let (page, at) = split(index as u32);
                // SAFETY: below `used` and not on the free list: by the invariant the slot holds
                // an initialized span, dropped once here, and the store is not used again.
                unsafe { self.pages[page].spans[at].assume_init_drop() };
            }
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
    fn sorted_take_orders_as_sort_spans_does() {
        let mut store = SpanStore::new();
        let (mut list, mut other) = (SpanList::EMPTY, SpanList::EMPTY);
        let mut expected = Vec::new();
        for id in 1..=40u64 {
            // Ids that differ in several bytes, so that ties on start are broken by the id's
            // byte order (a little-endian reading of the bytes would order them otherwise).
            let span = Span {
                start_time_unix_nano: (id * 7919) % 13,
                ..span(id.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            };
            expected.push(span.clone());
            store.push(&mut list, span);
            store.push(&mut other, self::span(1000 + id));
        }
        crate::view::sort_spans(&mut expected);
        let (mut out, mut keys) = (Vec::new(), Vec::new());
        store.take_sorted(list, &mut out, &mut keys);
        assert_eq!(out, expected);
        assert_eq!(store.len(), 40);
        out.clear();
        store.take(other, &mut out);
        assert_eq!(ids(&out), (1001..=1040).collect::<Vec<_>>());
        assert_eq!(store.pages.len(), 1);
        // One span (taken without sort keys) and none: appended, and the slot freed.
        let (mut one, mut kept) = (SpanList::EMPTY, SpanList::EMPTY);
        store.push(&mut kept, span(7));
        store.push(&mut one, span(9));
        out.clear();
        store.take_sorted(one, &mut out, &mut keys);
        store.take_sorted(SpanList::EMPTY, &mut out, &mut keys);
        assert_eq!((ids(&out), store.len()), (vec![9], 1));
        store.take_sorted(kept, &mut out, &mut keys);
        assert_eq!((ids(&out), store.len()), (vec![9, 7], 0));
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
    fn spans_left_in_the_store_are_dropped_with_it_once() {
        let origin = std::sync::Arc::new(crate::span::Origin::default());
        let mut store = SpanStore::new();
        let mut lists = [SpanList::EMPTY; 3];
        for id in 1..=600 {
            let span = Span {
                origin: origin.clone(),
                ..span(id)
            };
            store.push(&mut lists[id as usize % 3], span);
        }
        assert_eq!(std::sync::Arc::strong_count(&origin), 601);
        let mut out = Vec::new();
        store.take(lists[1], &mut out);
        drop(out);
        // Freed slots reused by a new trace, then left in the store too.
        let mut again = SpanList::EMPTY;
        for id in 1000..1100 {
            let span = Span {
                origin: origin.clone(),
                ..span(id)
            };
            store.push(&mut again, span);
        }
        assert_eq!(std::sync::Arc::strong_count(&origin), 501);
        drop(store);
        assert_eq!(std::sync::Arc::strong_count(&origin), 1);
    }
}
