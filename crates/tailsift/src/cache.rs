//! The decision cache: a bounded memory of recent decisions, so that a span arriving after its
//! trace was decided follows that decision instead of starting a new trace.
//!
//! Two structures, because kept and dropped decisions need different things:
//! - **Kept** traces need their reasons and adjusted count, so late spans are forwarded with the
//!   same metadata: a map from trace id.
//! - **Dropped** traces need only "yes, dropped", and there are usually far more of them: a set of
//!   64-bit fingerprints (the trace id's xxh3 hash, already computed for routing), about 9 bytes
//!   an entry. A 64-bit fingerprint makes a false "dropped" for a new trace practically
//!   impossible (about n / 2^64), which a 32-bit one would not (n / 2^32: one new trace in a few
//!   thousand dropped wrongly with millions of entries).
//!
//! Both are bounded by rotating two generations: when the current generation is full, the
//! previous one is forgotten (counted as evictions) and the current becomes the previous. A
//! lookup checks both, so an entry lives for between one and two generations' worth of newer
//! decisions. Each shard owns its own cache, under the shard's lock.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use crate::span::{Str, TraceId};

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

/// The reasons of a shard's recent decisions, shared: most decisions give one of a few reason
/// lists (one policy, or the same two), so a decision usually clones a shared `Arc<[Str]>`
/// rather than allocating its own.
#[derive(Default)]
pub(crate) struct SharedReasons {
    recent: Vec<Arc<[Str]>>,
    /// The slot the next new list replaces.
    next: usize,
}

/// Reason lists remembered per shard.
const SHARED_REASONS: usize = 8;

impl SharedReasons {
    /// `reasons`, as a shared list.
    pub fn share(&mut self, reasons: Vec<Str>) -> Arc<[Str]> {
        if let Some(found) = self.recent.iter().find(|r| ***r == *reasons) {
            return found.clone();
        }
        let shared: Arc<[Str]> = Arc::from(reasons);
        if self.recent.len() < SHARED_REASONS {
            self.recent.push(shared.clone());
        } else {
            self.recent[self.next] = shared.clone();
            self.next = (self.next + 1) % SHARED_REASONS;
        }
        shared
    }
}

/// A cached decision.
pub(crate) enum Cached<'a> {
    Kept(&'a KeptEntry),
    Dropped,
}

struct Generations<T> {
    current: T,
    previous: T,
    capacity: usize,
}

/// The per-shard decision cache.
pub(crate) struct DecisionCache {
    kept: Generations<HashMap<u64, KeptEntry, PassThroughBuild>>,
    dropped: Generations<HashSet<u64, PassThroughBuild>>,
    /// Entries forgotten by rotation since creation.
    pub evicted: u64,
}

impl DecisionCache {
    /// A cache remembering about `kept` kept and `dropped` dropped decisions (each split into
    /// two generations of half that size).
    pub fn new(kept: usize, dropped: usize) -> DecisionCache {
        let kept_gen = kept.div_ceil(2).max(1);
        let dropped_gen = dropped.div_ceil(2).max(1);
        DecisionCache {
            kept: Generations {
                current: HashMap::default(),
                previous: HashMap::default(),
                capacity: kept_gen,
            },
            dropped: Generations {
                current: HashSet::default(),
                previous: HashSet::default(),
                capacity: dropped_gen,
            },
            evicted: 0,
        }
    }

    pub fn get(&self, hash: u64, trace_id: &TraceId) -> Option<Cached<'_>> {
        let kept = self
            .kept
            .current
            .get(&hash)
            .or_else(|| self.kept.previous.get(&hash));
        if let Some(entry) = kept.filter(|e| e.trace_id == *trace_id) {
            return Some(Cached::Kept(entry));
        }
        if self.dropped.current.contains(&hash) || self.dropped.previous.contains(&hash) {
            return Some(Cached::Dropped);
        }
        None
    }

    pub fn insert_kept(&mut self, hash: u64, entry: KeptEntry) {
        let g = &mut self.kept;
        if g.current.len() >= g.capacity {
            self.evicted += g.previous.len() as u64;
            // The forgotten generation's table, emptied, becomes the current one: its
            // allocation is reused rather than freed and grown again.
            std::mem::swap(&mut g.current, &mut g.previous);
            g.current.clear();
            g.current.reserve(g.capacity.min(1 << 16));
        }
        g.current.insert(hash, entry);
    }

    pub fn insert_dropped(&mut self, hash: u64) {
        let g = &mut self.dropped;
        if g.current.len() >= g.capacity {
            self.evicted += g.previous.len() as u64;
            // The forgotten generation's table, emptied, becomes the current one: its
            // allocation is reused rather than freed and grown again.
            std::mem::swap(&mut g.current, &mut g.previous);
            g.current.clear();
            g.current.reserve(g.capacity.min(1 << 16));
        }
        g.current.insert(hash);
    }

    /// Bytes held (table allocations, not counting the reasons they share).
    pub fn memory_bytes(&self) -> usize {
        let kept_slot = std::mem::size_of::<(u64, KeptEntry)>() + 1;
        let dropped_slot = std::mem::size_of::<u64>() + 1;
        (self.kept.current.capacity() + self.kept.previous.capacity()) * kept_slot
            + (self.dropped.current.capacity() + self.dropped.previous.capacity()) * dropped_slot
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
