//! [`Slots`]: a batch of spans moved out one at a time, in any order, each exactly once.
//!
//! `Engine::ingest` routes a batch by shard and then, shard by shard, moves each span straight
//! from the caller's vector into its slot in the shard's span store. Safe Rust can only move out
//! of a `Vec` front to back (`into_iter`) or by leaving something behind (`mem::take`, `Option`),
//! and going through a per-shard staging vector copies every span once more; so this type owns
//! the batch's buffer and hands out its spans by index. The unsafe code is confined here: a bitmap
//! records which slots still hold a span, every read checks and clears its bit, and `Drop` drops
//! whatever was never taken (also when a panic unwinds mid-batch), so no span is read twice,
//! leaked or lost.

use std::mem::ManuallyDrop;

use crate::span::Span;

/// A batch whose spans are moved out by index. See the [module documentation](self).
pub(crate) struct Slots {
    /// The batch's buffer. Its length is kept at 0 so that `Vec` never drops or reads the spans
    /// itself; slot `i < len` holds a span iff bit `i` of `live` is set.
    buffer: ManuallyDrop<Vec<Span>>,
    len: usize,
    live: Vec<u64>,
}

impl Slots {
    /// Takes ownership of `batch`. `live` is scratch storage for the bitmap, reused across
    /// batches (see [`Slots::finish`]).
    pub fn new(mut batch: Vec<Span>, mut live: Vec<u64>) -> Slots {
        let len = batch.len();
        live.clear();
        live.resize(len.div_ceil(64), u64::MAX);
        if len % 64 != 0 {
            if let Some(last) = live.last_mut() {
                *last = (1u64 << (len % 64)) - 1;
            }
        }
        // SAFETY: shrinking the length only; the spans stay initialized in the buffer and are
        // owned from now on through `live`.
        unsafe { batch.set_len(0) };
        Slots {
            buffer: ManuallyDrop::new(batch),
            len,
            live,
        }
    }

    fn is_live(&self, index: usize) -> bool {
        index < self.len && self.live[index / 64] & (1 << (index % 64)) != 0
    }

    /// The span in slot `index`, if it is still there.
    pub fn get(&self, index: usize) -> Option<&Span> {
        if !self.is_live(index) {
            return None;
        }
        // SAFETY: `index < len` is inside the buffer's allocation, and the live bit says the
        // slot holds an initialized span that has not been moved out.
        Some(unsafe { &*self.buffer.as_ptr().add(index) })
    }

    /// Moves the span out of slot `index`; `None` if it was taken already.
    pub fn take(&mut self, index: usize) -> Option<Span> {
        if !self.is_live(index) {
            return None;
        }
        self.live[index / 64] &= !(1 << (index % 64));
        // SAFETY: as in `get`; the live bit was cleared first, so this span is read once.
        Some(unsafe { self.buffer.as_ptr().add(index).read() })
    }

    /// Drops the spans never taken and returns the bitmap's storage for the next batch.
    pub fn finish(mut self) -> Vec<u64> {
        self.drop_live();
        std::mem::take(&mut self.live)
    }

    fn drop_live(&mut self) {
        for word in 0..self.live.len() {
            // Usually every span was taken: one test per 64 slots.
            while self.live[word] != 0 {
                let bit = self.live[word].trailing_zeros();
                if self.take(word * 64 + bit as usize).is_none() {
                    self.live[word] &= !(1 << bit); // past `len`: never set, but never loop
                }
            }
        }
        self.len = 0;
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.drop_live();
        // SAFETY: every span was moved out or dropped above and the length is 0, so dropping
        // the vector only frees its buffer; it is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.buffer) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Origin, SpanId, Str};
    use std::sync::Arc;

    fn batch(n: u64) -> Vec<Span> {
        (1..=n)
            .map(|i| Span {
                span_id: SpanId::from_u64(i),
                name: Str::from(format!("span-{i}")),
                ..Span::default()
            })
            .collect()
    }

    #[test]
    fn every_span_comes_out_once_in_any_order() {
        for n in [0u64, 1, 63, 64, 65, 130] {
            let mut slots = Slots::new(batch(n), Vec::new());
            let mut out = Vec::new();
            // Odd indices back to front, then even ones front to back.
            let odd = (0..n as usize).rev().filter(|i| i % 2 == 1);
            for i in odd.chain((0..n as usize).filter(|i| i % 2 == 0)) {
                assert!(slots.get(i).is_some());
                out.push(slots.take(i).expect("live"));
                assert!(slots.take(i).is_none(), "slot {i} twice");
                assert!(slots.get(i).is_none());
            }
            assert!(slots.take(n as usize).is_none(), "out of range");
            let mut ids: Vec<u64> = out.iter().map(|s| s.span_id.to_u64()).collect();
            ids.sort_unstable();
            assert_eq!(ids, (1..=n).collect::<Vec<_>>());
            assert!(out
                .iter()
                .all(|s| s.name == format!("span-{}", s.span_id.to_u64()).as_str()));
            let live = slots.finish();
            assert_eq!(live.len(), (n as usize).div_ceil(64));
        }
    }

    #[test]
    fn spans_not_taken_are_dropped_with_the_slots() {
        let origin = Arc::new(Origin::default());
        let spans: Vec<Span> = (1..=100u64)
            .map(|i| Span {
                span_id: SpanId::from_u64(i),
                origin: origin.clone(),
                ..Span::default()
            })
            .collect();
        let mut slots = Slots::new(spans, Vec::new());
        assert_eq!(slots.get(7).map(|s| s.span_id.to_u64()), Some(8));
        let kept = slots.take(7);
        assert_eq!(Arc::strong_count(&origin), 101);
        drop(slots);
        assert_eq!(
            Arc::strong_count(&origin),
            2,
            "the 99 left in the batch dropped once"
        );
        drop(kept);
        assert_eq!(Arc::strong_count(&origin), 1);
        let slots = Slots::new(batch(3), Vec::new());
        assert_eq!(slots.finish(), vec![0]);
    }
}
