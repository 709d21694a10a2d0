//! The encoder's string table: each distinct string of a trace once, deduplicated through an
//! index that is cleared in O(1) between traces.

use alloc::vec::Vec;

/// The string table: each distinct string once, in first-use order, string 0 always `""`; and
/// an open-addressing index from a string's bytes to its number, for dedupe.
#[derive(Clone, Debug)]
pub(super) struct StringTable {
    bytes: Vec<u8>,
    /// Where each string starts in `bytes`, and one past the last: `len() + 1` entries.
    offsets: Vec<u32>,
    /// Linear probing over a power-of-two table. A slot is taken only if its generation is the
    /// table's: clearing bumps the generation instead of zeroing every slot, so a table grown
    /// by one large trace costs nothing to clear for the small ones after it.
    slots: Vec<Slot>,
    generation: u32,
    /// The strings interned last, by the address and length of the bytes they were given at:
    /// callers' repeated strings (span names, attribute keys, service names) are mostly one
    /// shared allocation, so the address finds them without hashing. Within one trace the
    /// bytes at an address do not change (see [`StringTable::intern`]), so a hit is not
    /// confirmed by comparing them; entries of earlier traces are ignored by generation.
    recent: [Recent; RECENT],
    /// The short strings ([`StringTable::intern_copy`]) interned last, by their bytes: a
    /// span's short values (methods, codes, tiers) are copies at new addresses, but few
    /// distinct ones, so their bytes find them without hashing.
    short: [Short; SHORT],
}

/// How many addresses [`StringTable::recent`] remembers (direct-mapped). A trace of the
/// demo's traffic has 64 distinct strings on average, at more addresses than that: with 64
/// places, which of them collided depended on where their bytes sat, and the instructions per
/// encode of those traces, received through the OTLP bridge, varied by 11% from one run to the
/// next (7% more than with 256, on average).
const RECENT: usize = 256;

/// How many short strings [`StringTable::short`] remembers (direct-mapped).
const SHORT: usize = 64;

/// The longest string [`StringTable::short`] can remember: its bytes fit [`ShortKey`].
pub(super) const SHORT_BYTES: usize = 15;

/// A string of at most [`SHORT_BYTES`] bytes, exactly: its length, and words that between them
/// hold every byte (see [`short_key`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ShortKey {
    len: u64,
    words: [u64; 2],
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Short {
    generation: u32,
    index: u32,
    key: ShortKey,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Recent {
    generation: u32,
    index: u32,
    address: usize,
    len: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    generation: u32,
    index: u32,
    /// The high half of the string's hash: most slots that are not the string are told apart
    /// without comparing bytes.
    tag: u32,
}

impl StringTable {
    pub(super) fn new() -> StringTable {
        let mut table = StringTable {
            bytes: Vec::new(),
            offsets: Vec::new(),
            slots: Vec::new(),
            generation: 0,
            recent: [Recent::default(); RECENT],
            short: [Short::default(); SHORT],
        };
        table.clear();
        table
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.offsets.clear();
        self.offsets.push(0);
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: old slots could now read as taken.
            self.slots.fill(Slot::default());
            self.recent.fill(Recent::default());
            self.short.fill(Short::default());
            self.generation = 1;
        }
        // String 0, `""`: never in the index, `intern` answers it first.
        self.offsets.push(0);
    }

    /// Where each string starts in [`StringTable::bytes`], and one past the last.
    pub(super) fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Every string's bytes, one after the other.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(super) fn get(&self, index: u32) -> &[u8] {
        let i = index as usize;
        &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The number of `s`, added if it is new.
    ///
    /// The caller promises that until the next [`StringTable::clear`], the bytes at `s`'s
    /// address and length stay `s`: a string found there again is taken to be the same
    /// without comparing its bytes. [`super::TraceEncoder`] keeps the promise through the
    /// type system: every string of a trace is borrowed for longer than the trace's encoding.
    /// Broken, the buffer would name the wrong string; nothing unsafe follows.
    #[inline]
    pub(super) fn intern(&mut self, s: &[u8]) -> u32 {
        // Unset trace states, status messages and scope versions: the commonest string.
        if s.is_empty() {
            return 0;
        }
        let address = s.as_ptr() as usize;
        let recent = recent_slot(address);
        let seen = self.recent[recent];
        if seen.generation == self.generation && seen.address == address && seen.len == s.len() {
            return seen.index;
        }
        let index = self.lookup(s);
        self.recent[recent] = Recent {
            generation: self.generation,
            index,
            address,
            len: s.len(),
        };
        index
    }

    /// [`StringTable::intern`] for a string of at most [`SHORT_BYTES`] bytes that is a fresh
    /// copy wherever it comes from: a short attribute value, which the engine holds in place in
    /// each span (a `Text`), at an address of its own every time. Remembered by its bytes, not
    /// its address (which would only evict a name or a key found again by its address); else
    /// through the index. A longer string goes to the index.
    #[inline]
    pub(super) fn intern_copy(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let Some(key) = short_key(s) else {
            return self.lookup(s);
        };
        let at = key.slot();
        let seen = self.short[at];
        if seen.generation == self.generation && seen.key == key {
            return seen.index;
        }
        let index = self.lookup(s);
        self.short[at] = Short {
            generation: self.generation,
            index,
            key,
        };
        index
    }

    /// [`StringTable::intern`] through the hash index. Out of line: it is the miss path of the
    /// two lookups above, which are inlined where attributes are pushed.
    #[inline(never)]
    fn lookup(&mut self, s: &[u8]) -> u32 {
        // At most half full, so probes stay short.
        if (self.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let h = hash(s);
        let tag = (h >> 32) as u32;
        let mut at = h as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.generation != self.generation {
                let index = self.len() as u32;
                self.bytes.extend_from_slice(s);
                self.offsets.push(self.bytes.len() as u32);
                self.slots[at] = Slot {
                    generation: self.generation,
                    index,
                    tag,
                };
                return index;
            }
            if slot.tag == tag && same_bytes(self.get(slot.index), s) {
                return slot.index;
            }
            at = (at + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(64);
        self.slots.clear();
        self.slots.resize(capacity, Slot::default());
        let mask = capacity - 1;
        for index in 0..self.len() as u32 {
            let h = hash(self.get(index));
            let mut at = h as usize & mask;
            while self.slots[at].generation == self.generation {
                at = (at + 1) & mask;
            }
            self.slots[at] = Slot {
                generation: self.generation,
                index,
                tag: (h >> 32) as u32,
            };
        }
    }

    pub(super) fn capacity_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.offsets.capacity() * 4
            + self.slots.capacity() * core::mem::size_of::<Slot>()
    }
}

/// An address's place in [`StringTable::recent`]: a multiply of its bits, the top ones (heap
/// addresses are multiples of 8 or 16, so their low bits alone would leave slots unused).
fn recent_slot(address: usize) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    ((address as u64).wrapping_mul(K) >> (64 - RECENT.trailing_zeros())) as usize
}

/// The exact key of `s` if it has 1 to [`SHORT_BYTES`] bytes: the first and the last eight
/// (overlapping) from eight bytes on, the first and the last four from four, else the first,
/// middle and last byte, which between them are every byte; with the length, no two strings
/// share a key.
#[inline]
fn short_key(s: &[u8]) -> Option<ShortKey> {
    let len = s.len();
    let word = |at: usize, n: usize| {
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&s[at..at + n]);
        u64::from_le_bytes(w)
    };
    let words = match len {
        1..=3 => [
            u64::from(s[0]) | u64::from(s[len / 2]) << 8 | u64::from(s[len - 1]) << 16,
            0,
        ],
        4..=7 => [word(0, 4) | word(len - 4, 4) << 32, 0],
        8..=SHORT_BYTES => [word(0, 8), word(len - 8, 8)],
        _ => return None,
    };
    Some(ShortKey {
        len: len as u64,
        words,
    })
}

impl ShortKey {
    /// Its place in [`StringTable::short`]: a multiply of its words, the top bits.
    fn slot(&self) -> usize {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mixed = (self.words[0] ^ self.words[1].rotate_left(29) ^ self.len).wrapping_mul(K);
        (mixed >> (64 - SHORT.trailing_zeros())) as usize
    }
}

/// `a == b`, without a call to `memcmp` for the short strings (names, keys) that most are.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    // Up to sixteen bytes: compare as two (possibly overlapping) eight-byte words, or byte by
    // byte below eight.
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    match a.len() {
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        n => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
    }
}

/// A fast hash of a short byte string: eight bytes at a time (the last eight overlapping the
/// ones before, so that no partial word is copied), multiply-rotate, then a final mix so that the
/// low bits (the table index) depend on every input bit.
fn hash(s: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let read = |at: usize| match s.get(at..at + 8) {
        Some(bytes) => {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            u64::from_le_bytes(word)
        }
        None => 0,
    };
    let len = s.len();
    let mut h = (len as u64).wrapping_mul(K);
    if len >= 8 {
        let mut at = 0;
        while at + 8 < len {
            h = mix(h, read(at));
            at += 8;
        }
        h = mix(h, read(len - 8));
    } else if len > 0 {
        // Up to seven bytes: the first, middle and last (which between them cover every byte
        // of strings up to three long), and the first and last four when there are four.
        let byte = |at: usize| u64::from(s[at]);
        let mut word = byte(0) << 16 | byte(len / 2) << 8 | byte(len - 1);
        if len >= 4 {
            let four = |at: usize| {
                let mut w = [0u8; 4];
                w.copy_from_slice(&s[at..at + 4]);
                u64::from(u32::from_le_bytes(w))
            };
            word = four(0) << 32 | four(len - 4);
        }
        h = mix(h, word);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn strings_are_deduplicated_and_string_zero_is_empty() {
        let mut table = StringTable::new();
        assert_eq!(table.intern(b""), 0);
        let a = table.intern(b"checkout");
        let b = table.intern(b"payment");
        assert_eq!(table.intern(b"checkout"), a);
        assert_ne!(a, b);
        // Enough strings to grow the index several times.
        let numbers: Vec<alloc::string::String> =
            (0..1000).map(|i| alloc::format!("s{i}")).collect();
        let indices: Vec<u32> = numbers.iter().map(|s| table.intern(s.as_bytes())).collect();
        for (s, &i) in numbers.iter().zip(&indices) {
            assert_eq!(table.intern(s.as_bytes()), i);
            assert_eq!(table.get(i), s.as_bytes());
        }
        assert_eq!(table.len(), 1003);
        table.clear();
        assert_eq!(table.len(), 1);
        assert_eq!(table.intern(b"payment"), 1);
    }

    #[test]
    fn a_remembered_address_stands_for_its_bytes_within_one_trace_only() {
        let mut table = StringTable::new();
        let mut buffer = *b"checkout";
        let first = table.intern(&buffer);
        assert_eq!(table.intern(&buffer), first, "same address, same bytes");
        // A shorter string at the same address is another string.
        let short = table.intern(&buffer[..3]);
        assert_ne!(short, first);
        assert_eq!(table.get(short), b"che");
        // The next trace forgets the addresses: other bytes there are a new string.
        table.clear();
        buffer.copy_from_slice(b"payments");
        let second = table.intern(&buffer);
        assert_eq!(second, 1);
        assert_eq!(table.get(second), b"payments");
        assert_eq!(table.intern(&buffer), second);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn copies_are_the_same_strings_and_leave_the_remembered_addresses_alone() {
        let mut table = StringTable::new();
        let key = *b"http.request.method";
        let first = table.intern(&key);
        let remembered = table.recent;
        // Short values, copied at new addresses: one string each, found through the index.
        let copies: Vec<[u8; 3]> = (0..40).map(|_| *b"GET").collect();
        let get = table.intern_copy(&copies[0]);
        assert!(copies.iter().all(|c| table.intern_copy(c) == get));
        let shared: &[u8] = b"GET";
        assert_eq!(table.intern(shared), get, "the same string either way");
        assert_eq!(table.intern_copy(b""), 0);
        assert_eq!(table.intern(&key), first);
        // Interning "GET" by address above remembered it; the copies did not.
        let mut expected = remembered;
        let slot = recent_slot(shared.as_ptr() as usize);
        expected[slot] = table.recent[slot];
        assert_eq!(table.recent, expected);
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn short_strings_are_found_by_their_bytes_exactly() {
        let mut table = StringTable::new();
        // Strings of every short length, and pairs that differ in one byte or in length only:
        // each is its own string, found again as a copy or by address.
        let mut strings: Vec<Vec<u8>> = Vec::new();
        for len in 1..=SHORT_BYTES {
            for fill in [b'a', b'b'] {
                let mut s = alloc::vec![fill; len];
                strings.push(s.clone());
                s[len / 2] = b'x';
                strings.push(s.clone());
                s[len - 1] = b'y';
                strings.push(s);
            }
        }
        strings.push(b"GET".to_vec());
        strings.push(b"GET\0".to_vec());
        strings.sort();
        strings.dedup();
        let first: Vec<u32> = strings.iter().map(|s| table.intern_copy(s)).collect();
        assert_eq!(
            table.len(),
            1 + strings.len(),
            "one string each, and the empty one"
        );
        // The last one is remembered by its bytes.
        let last = *first.last().unwrap();
        let generation = table.generation;
        assert!(table
            .short
            .iter()
            .any(|e| e.generation == generation && e.index == last));
        // Copies alive until the table is cleared, as its contract asks: an address stands for
        // its bytes until then.
        let rounds: Vec<Vec<Vec<u8>>> = (0..3).map(|_| strings.clone()).collect();
        for (round, copies) in rounds.iter().enumerate() {
            for ((s, copy), &index) in strings.iter().zip(copies).zip(&first) {
                assert_eq!(table.intern_copy(copy), index, "round {round}");
                assert_eq!(table.intern(copy), index);
                assert_eq!(table.get(index), s.as_slice());
            }
        }
        // Longer strings go to the index.
        let long = b"a string of more than fifteen bytes";
        let index = table.intern_copy(long);
        assert_eq!(table.intern(long), index);
        // Forgotten with the trace.
        table.clear();
        assert_eq!(table.intern_copy(b"GET"), 1);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn a_wrapped_generation_does_not_read_old_slots_as_taken() {
        let mut table = StringTable::new();
        table.intern(b"old");
        table.generation = u32::MAX;
        table.clear();
        assert_eq!(table.generation, 1);
        assert_eq!(table.intern(b"new"), 1);
        assert_eq!(table.get(1), b"new");
    }
}
