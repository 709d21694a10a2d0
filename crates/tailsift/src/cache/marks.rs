//! The decision cache's table of marks: open addressing with linear probing over one array of
//! `u64`, where `0` is an empty slot.
//!
//! Why not a `hashbrown` table, as everywhere else: the cache is the one structure every new
//! trace probes that is too large to stay in the CPU's caches (2 MiB or more per shard when
//! full), so its probe is a miss to memory. Here a slot's address follows from the hash alone,
//! so the engine can [`MarkTable::prefetch`] it while it does other work (the rest of a batch,
//! or a trace's policies before its decision is marked), and a probe reads one run of adjacent
//! slots (one cache line, usually) where a `hashbrown` probe reads a control group and then a
//! bucket elsewhere. Marks are never removed one at a time, only by [`MarkTable::retain`], which
//! clears them and then moves back, in place, the marks an emptied slot cut off from their
//! homes.

/// A table of non-zero marks, each found by its fingerprint (the caller's `key` function: a
/// mark's bits without its tag).
pub(super) struct MarkTable {
    slots: Box<[u64]>,
    /// `64 - log2(slots.len())`: a home slot is the top bits of a 64-bit mix.
    shift: u32,
    len: usize,
}

/// Marks per slot at most, as a fraction: 3/4. At that load a probe for an absent mark reads
/// about 8.5 slots (two cache lines at worst), and the usual load is lower.
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

/// Slots of a new table.
const INITIAL_SLOTS: usize = 64;

impl MarkTable {
    /// An empty table. It grows (doubling) to keep its load at most 3/4; the cache bounds how
    /// many marks it holds.
    pub fn new() -> MarkTable {
        MarkTable::with_slots(INITIAL_SLOTS)
    }

    fn with_slots(slots: usize) -> MarkTable {
        debug_assert!(slots.is_power_of_two() && slots >= 2);
        MarkTable {
            slots: vec![0; slots].into_boxed_slice(),
            shift: 64 - slots.trailing_zeros(),
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }

    /// A fingerprint's first slot: its bits mixed by a multiply (Fibonacci hashing), then the
    /// high bits. Not the fingerprint's own high bits: the engine routes traces to shards by
    /// their hash, so within one shard those are far from uniform.
    fn home(&self, fp: u64) -> usize {
        (fp.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Asks the CPU to start loading the home slot of `fp`, so that a later [`MarkTable::get`]
    /// or [`MarkTable::set`] of it finds it in cache. Only a hint: no effect on what is stored.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        crate::prefetch::prefetch(&self.slots[self.home(fp)]);
    }

    /// The mark whose `key` is `fp`, if any.
    #[inline]
    pub fn get(&self, fp: u64, key: impl Fn(u64) -> u64) -> Option<u64> {
        let mask = self.mask();
        let mut i = self.home(fp);
        loop {
            let mark = self.slots[i];
            if mark == 0 {
                return None;
            }
            if key(mark) == fp {
                return Some(mark);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `mark` (non-zero, with `key(mark) == fp`), replacing the mark with the same key
    /// if there is one, which it returns.
    #[inline]
    pub fn set(&mut self, fp: u64, mark: u64, key: impl Fn(u64) -> u64) -> Option<u64> {
        debug_assert!(mark != 0 && key(mark) == fp);
        if (self.len + 1) * LOAD_DEN > self.slots.len() * LOAD_NUM {
            self.grow(&key);
        }
        let mask = self.mask();
        let mut i = self.home(fp);
        loop {
            let slot = &mut self.slots[i];
            if *slot == 0 {
                *slot = mark;
                self.len += 1;
                return None;
            }
            if key(*slot) == fp {
                return Some(std::mem::replace(slot, mark));
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the slots (until the load with one more mark is at most 3/4).
    fn grow(&mut self, key: &impl Fn(u64) -> u64) {
        let mut slots = self.slots.len() * 2;
        while (self.len + 1) * LOAD_DEN > slots * LOAD_NUM {
            slots *= 2;
        }
        let old = std::mem::replace(self, MarkTable::with_slots(slots));
        for &mark in old.slots.iter().filter(|&&m| m != 0) {
            self.place(mark, key(mark));
        }
        self.len = old.len;
    }

    /// Puts `mark` in the first empty slot from its home (it is known to be absent).
    fn place(&mut self, mark: u64, fp: u64) {
        let mask = self.mask();
        let mut i = self.home(fp);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = mark;
    }

    /// Removes every mark for which `keep` is false; returns how many. Two passes, with no
    /// tombstones: the first clears the marks to remove; the second walks the slots in order
    /// and moves back each mark that an emptied slot now separates from its home (its home at
    /// or before the last empty slot behind it), to the first empty slot from its home. Both
    /// passes are written without a branch per slot (whether a slot is empty is a coin toss at
    /// half load, and mispredicting it was most of the cost); the move is the rare branch. So
    /// `keep` is asked about every slot, empty ones (`0`) too, and must not count its calls:
    /// its answer for an empty slot is ignored.
    pub fn retain(&mut self, mut keep: impl FnMut(u64) -> bool, key: impl Fn(u64) -> u64) -> u64 {
        let (mask, n) = (self.mask(), self.slots.len());
        // An empty slot before anything is removed: no run crosses it, and nothing is ever
        // moved into it (a mark only moves back within its run), so a walk that starts after it
        // meets each run from its start.
        let Some(start) = self.slots.iter().position(|&s| s == 0) else {
            return 0;
        };
        let mut removed = 0u64;
        for slot in self.slots.iter_mut() {
            // `&`, not `&&`: no branch on whether the slot is empty.
            let remove = (*slot != 0) & !keep(*slot);
            removed += u64::from(remove);
            *slot *= u64::from(!remove);
        }
        if removed == 0 {
            return 0;
        }
        self.len -= removed as usize;
        let mut last_empty = start;
        for step in 1..n {
            let i = (start + step) & mask;
            let mark = self.slots[i];
            let occupied = mark != 0;
            let from_home = i.wrapping_sub(self.home(key(mark))) & mask;
            let from_gap = i.wrapping_sub(last_empty) & mask;
            let displaced = occupied & (from_home >= from_gap);
            if displaced {
                self.slots[i] = 0;
                self.place(mark, key(mark));
            }
            // The slot is empty now if it was, or if its mark just moved back.
            let empty = !occupied | displaced;
            last_empty = if empty { i } else { last_empty };
        }
        removed
    }

    /// Every mark, in slot order.
    #[cfg(test)]
    pub fn marks(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().copied().filter(|&m| m != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Tags in the low two bits, as the cache's marks.
    fn key(mark: u64) -> u64 {
        mark & !0b11
    }

    #[test]
    fn grows_to_keep_a_quarter_of_its_slots_empty() {
        let mut table = MarkTable::new();
        for i in 1..=1_000u64 {
            let fp = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !0b11;
            assert_eq!(table.set(fp, fp | 1, key), None);
        }
        assert_eq!(table.len(), 1_000);
        // 1,000 marks at most 3/4 of the slots: 2,048.
        assert_eq!(table.memory_bytes(), 2_048 * 8);
        for i in 1..=1_000u64 {
            let fp = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !0b11;
            assert_eq!(table.get(fp, key), Some(fp | 1));
        }
    }

    /// 48 distinct fingerprints whose homes, in the proptest's table of 64 slots, are its
    /// last eight slots or its first four: their runs are long and wrap around the table's end.
    fn fingerprints() -> Vec<u64> {
        let table = MarkTable::new();
        assert_eq!(table.slots.len(), 64);
        (1u64..)
            .map(|v| (v << 2) | 0b100)
            .filter(|&fp| !(4..56).contains(&table.home(fp)))
            .take(48)
            .collect()
    }

    proptest! {
        /// Against a map: any sequence of sets and retains leaves exactly the marks the map
        /// holds, each found from its home.
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((0u64..4, 0u64..48, 0u64..4), 1..400)) {
            let fps = fingerprints();
            let mut table = MarkTable::new();
            let mut model = std::collections::HashMap::new();
            for (op, value, tag) in ops {
                let fp = fps[value as usize];
                if op == 0 {
                    // Forget the marks with this tag.
                    let removed = table.retain(|m| m & 0b11 != tag, key);
                    let before = model.len();
                    model.retain(|_, m: &mut u64| *m & 0b11 != tag);
                    prop_assert_eq!(removed as usize, before - model.len());
                } else if model.len() < 40 || model.contains_key(&fp) {
                    let old = table.set(fp, fp | tag, key);
                    prop_assert_eq!(old, model.insert(fp, fp | tag));
                }
                prop_assert_eq!(table.len(), model.len());
                for value in 0..48u64 {
                    let fp = fps[value as usize];
                    prop_assert_eq!(table.get(fp, key), model.get(&fp).copied());
                }
            }
            let mut marks: Vec<u64> = table.marks().collect();
            marks.sort_unstable();
            let mut expected: Vec<u64> = model.values().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(marks, expected);
        }
    }
}
