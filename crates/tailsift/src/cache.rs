//! The decision cache: a bounded memory of recent decisions, so that a span arriving after its
//! trace was decided follows that decision instead of starting a new trace.
//!
//! Every new trace asks it, and almost every answer is "never seen", so that answer must cost one
//! probe. Every remembered decision, kept or dropped, is therefore a **mark** in one table: the
//! trace id's 64-bit xxh3 hash (already computed for routing), whose two lowest bits are replaced
//! by the decision's kind and its generation's parity: an 8-byte slot of a table at most 3/4
//! full (see [`marks`]: the engine prefetches a trace's slot before it asks or marks). The
//! 62 bits left make a false "seen" for a new trace practically impossible (about n / 2^62,
//! which a 32-bit fingerprint would not be: one new trace in a few thousand with millions of
//! entries). Kept traces also need their reasons and adjusted count, so late spans are forwarded
//! with the same metadata: those are in a map beside the marks, read only after a kept mark.
//!
//! Each kind is bounded by rotating two generations: when its current generation is full, its
//! previous one is forgotten (its marks removed in one pass over the table, counted as
//! evictions) and the current one becomes the previous. An entry lives for between one and two
//! generations' worth of newer decisions of its kind. Each shard owns its own cache, under the
//! shard's lock.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::span::{Str, TraceId};

mod marks;

use marks::MarkTable;

/// A hasher for keys that are already xxh3 hashes: passes the value through.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are used; fold anything else to stay correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type PassThroughBuild = BuildHasherDefault<PassThrough>;

/// What a kept decision leaves behind for late spans.
#[derive(Clone, Debug)]
pub(crate) struct KeptEntry {
    pub trace_id: TraceId,
    pub reasons: Arc<[Str]>,
    pub adjusted_count: f64,
    pub threshold: u64,
}

/// The reasons of a deciding thread's recent decisions, shared: most decisions give one of a
/// few reason lists (one policy, or the same two), so a decision usually clones a shared
/// `Arc<[Str]>` rather than allocating its own.
#[derive(Default)]
pub(crate) struct SharedReasons {
    recent: Vec<Arc<[Str]>>,
    /// The slot the next new list replaces.
    next: usize,
}

/// Reason lists remembered per shard.
const SHARED_REASONS: usize = 8;

impl SharedReasons {
    /// No lists yet.
    pub const fn new() -> SharedReasons {
        SharedReasons {
            recent: Vec::new(),
            next: 0,
        }
    }

    /// `reasons`, as a shared list. The vector goes back to the thread's decisions
    /// ([`crate::verdict::recycle_reasons`]).
    pub fn share(&mut self, reasons: Vec<Str>) -> Arc<[Str]> {
        let shared = match self.recent.iter().find(|r| ***r == *reasons) {
            Some(found) => found.clone(),
            None => {
                let shared: Arc<[Str]> = Arc::from(reasons.as_slice());
                if self.recent.len() < SHARED_REASONS {
                    self.recent.push(shared.clone());
                } else {
                    self.recent[self.next] = shared.clone();
                    self.next = (self.next + 1) % SHARED_REASONS;
                }
                shared
            }
        };
        crate::verdict::recycle_reasons(reasons);
        shared
    }
}

/// A cached decision.
pub(crate) enum Cached<'a> {
    Kept(&'a KeptEntry),
    Dropped,
}

/// A mark's low bit: its generation's parity.
const PARITY: u64 = 0b01;
/// A mark's second bit: set for a kept decision.
const KEPT: u64 = 0b10;
const TAG: u64 = PARITY | KEPT;

/// A hash with its tag bits cleared: what marks are matched by. Never zero (an empty slot of
/// the table): the one hash whose 62 bits are all zero shares a fingerprint with `0b100`.
fn fingerprint(hash: u64) -> u64 {
    match hash & !TAG {
        0 => TAG + 1,
        fp => fp,
    }
}

/// Where a fingerprint goes in the map of kept entries: its 62 bits rotated so that every bit
/// of the map's hash carries some (the map takes its bucket from the low bits and a tag from
/// the high).
fn place(fingerprint: u64) -> u64 {
    (fingerprint >> 2) | (fingerprint << 60)
}

/// The generations of one kind of decision.
struct Generations {
    /// The current generation's parity (0 or [`PARITY`]).
    parity: u64,
    /// Marks in the current generation (the previous one's are counted when the pass that
    /// forgets them removes them).
    current: usize,
    /// Marks a generation holds before the next one starts.
    capacity: usize,
}

impl Generations {
    fn new(capacity: usize) -> Generations {
        Generations {
            parity: 0,
            current: 0,
            capacity,
        }
    }
}

/// The per-shard decision cache.
pub(crate) struct DecisionCache {
    /// One mark per remembered decision (see the module's doc).
    marks: MarkTable,
    /// The metadata of kept decisions, by fingerprint, with their generation's parity.
    /// (Keyed by the fingerprint's [`place`], so that the pass-through hasher gets every bit.)
    kept_entries: HashMap<u64, (KeptEntry, u64), PassThroughBuild>,
    kept: Generations,
    dropped: Generations,
    /// Entries forgotten by rotation since creation.
    pub evicted: u64,
}

impl DecisionCache {
    /// A cache remembering about `kept` kept and `dropped` dropped decisions (each split into
    /// two generations of half that size).
    pub fn new(kept: usize, dropped: usize) -> DecisionCache {
        DecisionCache {
            marks: MarkTable::new(),
            kept_entries: HashMap::default(),
            kept: Generations::new(kept.div_ceil(2).max(1)),
            dropped: Generations::new(dropped.div_ceil(2).max(1)),
            evicted: 0,
        }
    }

    /// Starts loading what [`DecisionCache::get`] or a decision's insert of `hash` will read
    /// first, so that work done in between hides the wait for memory (the table is too large to
    /// stay in the CPU's caches). A hint only.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        self.marks.prefetch(fingerprint(hash));
    }

    /// The decision recorded for `trace_id` (hashed `hash`), if the cache still holds it. Every
    /// new trace asks, so it is inlined into the offer of a span.
    #[inline]
    pub fn get(&self, hash: u64, trace_id: &TraceId) -> Option<Cached<'_>> {
        let fp = fingerprint(hash);
        let mark = self.marks.get(fp, fingerprint)?;
        if mark & KEPT == 0 {
            return Some(Cached::Dropped);
        }
        // The id itself is compared: a kept trace's metadata never goes to another trace.
        self.kept_entries
            .get(&place(fp))
            .filter(|(e, _)| e.trace_id == *trace_id)
            .map(|(e, _)| Cached::Kept(e))
    }

    pub fn insert_kept(&mut self, hash: u64, entry: KeptEntry) {
        if self.kept.current >= self.kept.capacity {
            self.rotate(KEPT);
        }
        let fp = fingerprint(hash);
        let parity = self.kept.parity;
        self.mark(fp, KEPT | parity);
        self.kept_entries.insert(place(fp), (entry, parity));
    }

    pub fn insert_dropped(&mut self, hash: u64) {
        if self.dropped.current >= self.dropped.capacity {
            self.rotate(0);
        }
        let fp = fingerprint(hash);
        let parity = self.dropped.parity;
        self.mark(fp, parity);
    }

    fn generations(&mut self, kind: u64) -> &mut Generations {
        if kind & KEPT != 0 {
            &mut self.kept
        } else {
            &mut self.dropped
        }
    }

    /// Marks `fp` with `tag` in the current generation of the tag's kind. A trace already marked
    /// (decided again after a late span found no mark, or a fingerprint shared by two traces)
    /// moves to the new mark, and out of the generation that counted it.
    fn mark(&mut self, fp: u64, tag: u64) {
        if let Some(old) = self.marks.set(fp, fp | tag, fingerprint) {
            let old_kind = old & KEPT;
            let was = self.generations(old_kind);
            if old & PARITY == was.parity {
                was.current = was.current.saturating_sub(1);
            }
            if old_kind != tag & KEPT {
                self.kept_entries.remove(&place(fp));
            }
        }
        self.generations(tag).current += 1;
    }

    /// Starts a new generation of `kind` ([`KEPT`] or 0): forgets its previous one.
    fn rotate(&mut self, kind: u64) {
        let g = self.generations(kind);
        let forget = kind | (g.parity ^ PARITY);
        g.current = 0;
        g.parity ^= PARITY;
        let forgotten = self.marks.retain(|m| m & TAG != forget, fingerprint);
        if kind == KEPT {
            let parity = forget & PARITY;
            self.kept_entries.retain(|_, (_, p)| *p != parity);
        }
        self.evicted += forgotten;
    }

    /// Bytes held (table allocations, not counting the reasons they share).
    pub fn memory_bytes(&self) -> usize {
        let kept_slot = std::mem::size_of::<(u64, (KeptEntry, u64))>() + 1;
        self.marks.memory_bytes() + self.kept_entries.capacity() * kept_slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(id: u128) -> (u64, KeptEntry) {
        let trace_id = TraceId::from_u128(id);
        (
            trace_id.hash64(),
            KeptEntry {
                trace_id,
                reasons: Arc::from(vec![Str::from("errors")]),
                adjusted_count: 1.0,
                threshold: 0,
            },
        )
    }

    #[test]
    fn remembers_both_kinds_and_forgets_the_oldest_generation() {
        let mut cache = DecisionCache::new(4, 4);
        for id in 1..=2 {
            let (h, e) = kept(id);
            cache.insert_kept(h, e);
        }
        let dropped = TraceId::from_u128(99);
        cache.insert_dropped(dropped.hash64());
        assert!(matches!(
            cache.get(dropped.hash64(), &dropped),
            Some(Cached::Dropped)
        ));
        let one = TraceId::from_u128(1);
        assert!(matches!(
            cache.get(one.hash64(), &one),
            Some(Cached::Kept(_))
        ));
        // Two more generations of kept decisions push id 1 out.
        for id in 3..=6 {
            let (h, e) = kept(id);
            cache.insert_kept(h, e);
        }
        assert!(cache.get(one.hash64(), &one).is_none());
        assert_eq!(cache.evicted, 2);
        let never = TraceId::from_u128(12345);
        assert!(cache.get(never.hash64(), &never).is_none());
    }

    #[test]
    fn rotations_keep_exactly_the_last_two_generations() {
        // Generations of 3: ids 0..14 fill four generations and start a fifth.
        let mut cache = DecisionCache::new(2, 6);
        let ids: Vec<TraceId> = (0..14).map(TraceId::from_u128).collect();
        for id in &ids {
            cache.insert_dropped(id.hash64());
        }
        // Four rotations: current 12, 13; previous 9, 10, 11; 0..9 forgotten.
        let remembered: Vec<bool> = ids
            .iter()
            .map(|id| cache.get(id.hash64(), id).is_some())
            .collect();
        assert_eq!(
            remembered,
            (0..14).map(|i| i >= 9).collect::<Vec<_>>(),
            "remembered by id"
        );
        assert_eq!(cache.evicted, 9);
    }

    #[test]
    fn kept_and_dropped_decisions_rotate_apart() {
        let mut cache = DecisionCache::new(4, 2);
        let (h, e) = kept(1);
        cache.insert_kept(h, e);
        // Many generations of dropped decisions do not push out the kept one.
        for id in 100..120 {
            cache.insert_dropped(TraceId::from_u128(id).hash64());
        }
        let one = TraceId::from_u128(1);
        assert!(matches!(cache.get(h, &one), Some(Cached::Kept(_))));
        assert!(cache.get(TraceId::from_u128(100).hash64(), &one).is_none());
        assert_eq!(cache.evicted, 18, "dropped decisions forgotten");
        // Two more generations of kept decisions do (generations of 2: 1 and 2 go).
        for id in 2..=5 {
            let (h, e) = kept(id);
            cache.insert_kept(h, e);
        }
        assert!(cache.get(h, &one).is_none());
        assert_eq!(cache.evicted, 20);
    }

    #[test]
    fn a_kept_decision_goes_only_to_its_own_trace() {
        let mut cache = DecisionCache::new(4, 4);
        let (h, e) = kept(1);
        cache.insert_kept(h, e);
        // Another trace with the same hash (a collision) is a new trace, not a late span.
        let other = TraceId::from_u128(2);
        assert!(cache.get(h, &other).is_none());
        // The same hash with different tag bits is the same mark.
        let one = TraceId::from_u128(1);
        assert!(matches!(cache.get(h ^ TAG, &one), Some(Cached::Kept(_))));
    }

    #[test]
    fn a_trace_decided_again_follows_its_latest_decision() {
        let mut cache = DecisionCache::new(4, 4);
        let one = TraceId::from_u128(1);
        cache.insert_dropped(one.hash64());
        let (h, e) = kept(1);
        cache.insert_kept(h, e);
        assert!(matches!(cache.get(h, &one), Some(Cached::Kept(_))));
        assert_eq!((cache.dropped.current, cache.kept.current), (0, 1));
        cache.insert_dropped(h);
        assert!(matches!(cache.get(h, &one), Some(Cached::Dropped)));
        assert_eq!((cache.dropped.current, cache.kept.current), (1, 0));
        assert!(cache.kept_entries.is_empty());
    }

    #[test]
    fn equal_reason_lists_are_shared() {
        let mut shared = SharedReasons::default();
        let errors = shared.share(vec![Str::from("errors")]);
        let again = shared.share(vec![Str::from("errors")]);
        assert!(Arc::ptr_eq(&errors, &again));
        let two = shared.share(vec![Str::from("errors"), Str::from("slow")]);
        assert_eq!(&*two, [Str::from("errors"), Str::from("slow")]);
        assert!(!Arc::ptr_eq(&errors, &two));
        assert!(shared.share(Vec::new()).is_empty());
        // More distinct lists than slots: the oldest are replaced, every answer stays right.
        for i in 0..3 * SHARED_REASONS {
            let name = Str::from(format!("p{i}"));
            assert_eq!(&*shared.share(vec![name.clone()]), [name]);
        }
        assert_eq!(shared.recent.len(), SHARED_REASONS);
    }

    #[test]
    fn dropped_entries_cost_a_few_bytes() {
        let mut cache = DecisionCache::new(2, 2_000_000);
        for i in 0..1_000_000u128 {
            cache.insert_dropped(TraceId::from_u128(i + 1).hash64());
        }
        let per_entry = cache.memory_bytes() as f64 / 1_000_000.0;
        assert!(per_entry < 20.0, "{per_entry} bytes per dropped entry");
    }
}
