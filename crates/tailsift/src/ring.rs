//! Consistent hashing of trace ids onto weighted owners.
//!
//! A [`Ring`] maps every [`TraceId`] to one of its owners: shard indices inside one engine
//! (`Ring<usize>`), or peer names across a fleet of collectors (`Ring<String>`). Each owner sits
//! on a 64-bit circle at many pseudo-random points (*virtual nodes*); a trace id belongs to the
//! owner of the first point at or after the id's hash, wrapping around at the top. Unlike
//! `hash % n`, when an owner joins only the keys landing on its new points move (about 1/(N+1),
//! all to the newcomer), and when one leaves only its own keys move.
//!
//! # Stable across processes and machines
//!
//! A trace id's hash is xxh3-64 of its 16 bytes ([`TraceId::hash64`]); the engine computes it
//! once per trace and passes it to [`Ring::owner_for_hash`]. Virtual node `v` of an owner sits at
//! `xxh3_64(key ++ (v as u32).to_le_bytes())`, `key` being the owner's [`RingKey`] encoding.
//! Nothing depends on `std`'s randomly seeded hasher, on insertion order (equal positions are
//! ordered by owner key) or on the platform: the same owners, weights and
//! [`vnodes_per_weight`](Ring::vnodes_per_weight) give the same ring everywhere. A test pins
//! routes computed independently with the C xxHash library.
//!
//! # Weights and virtual nodes
//!
//! An owner of weight `w` gets `w × vnodes_per_weight` virtual nodes, numbered from 0 (raising a
//! weight keeps the existing points). An owner's share strays from its fair share by about
//! `1/sqrt(its vnodes)`, so [`DEFAULT_VNODES_PER_WEIGHT`] = 2048 is chosen for any set of owner
//! names, not only the one a test uses. Busiest of 16 equal owners, above the mean, from exact
//! arc lengths (the test `busiest_of_16_equal_owners_is_within_10_percent_of_mean` asserts 10%):
//!
//! | vnodes per owner | `0..16usize` | 100 sets of 16 random names: median / p99 / worst |
//! |------------------|--------------|----------------------------------------------------|
//! | 512              | +5.5%        | +7.6% / +12.7% / +14.7%                            |
//! | 1024             | +5.5%        | +5.4% / +9.7% / +12.0%                             |
//! | 2048 (default)   | +5.4%        | +3.6% / +6.2% / +6.7%                              |
//!
//! The cost is memory and rebuild time, not lookup time: 12 bytes per virtual node plus one
//! 4-byte table entry per virtual node (rounded up to a power of two). 16 owners take 512 KiB
//! and a rebuild hashes and sorts 32 Ki points; 2 to 8 in-process shards take 64 to 256 KiB.
//! Where memory matters more than balance, use [`Ring::with_vnodes_per_weight`].
//!
//! # Lookups
//!
//! Routing runs for every span batch, so a lookup is O(1) on average and allocates nothing: a
//! dense table indexed by the hash's top bits points at the first candidate point, and a short
//! scan (under one point on average) finds the first point at or after the hash. A sentinel
//! point at `u64::MAX` carries the wrap-around, so the scan has no end-of-ring branch. Adding
//! or removing an owner (rare) rebuilds points and table: O(V log V) for V virtual nodes.
//!
//! # Deploying N tailsift nodes
//!
//! Tail sampling needs all spans of a trace on one node. Behind a trace-id-aware load balancer
//! (or a first tier of collectors forwarding to a second tier running tailsift):
//!
//! 1. Every forwarding node builds the same `Ring<String>` of peer names (e.g.
//!    `"tailsift-3.tailsift:4317"`), weights and `vnodes_per_weight`, from one source of
//!    membership (static config, DNS, Kubernetes endpoints).
//! 2. It forwards each span to [`ring.owner(&span.trace_id)`](Ring::owner), ingesting locally
//!    when that is itself. All spans of a trace meet on one node, which decides on the whole.
//! 3. On a membership change every node adds or removes the peer. A new (N+1)th node takes about
//!    1/(N+1) of the traces, from every other node; a removed node's traces spread over the
//!    rest; no other trace moves. Traces in flight during the change may be split between old
//!    and new owner and decided in two parts: change membership on all nodes at about the same
//!    time, and expect a short window of partial traces.
//!
//! ```
//! use tailsift::{Ring, TraceId};
//!
//! let mut ring: Ring<String> = Ring::new();
//! ring.add("tailsift-0:4317".to_string(), 1)?;
//! ring.add("tailsift-1:4317".to_string(), 1)?;
//! ring.add("tailsift-2:4317".to_string(), 2)?; // a bigger machine: twice the traces
//!
//! let trace_id = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736);
//! let peer = ring.owner(&trace_id).expect("the ring has owners");
//! assert!(ring.owners().any(|owner| owner == peer));
//! # Ok::<(), tailsift::ring::RingError>(())
//! ```
//!
//! (Over 600 lines, a third of them tests: the ring's invariants — balance, minimal movement,
//! determinism — are checked next to the code that keeps them.)

use std::fmt;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use crate::span::{Str, TraceId};

/// Virtual nodes per unit of weight when none is given: enough to keep the busiest of 16
/// equal owners within about 7% of the mean whatever their names, at 16 bytes of memory per
/// virtual node (see the [module documentation](self) for the measurements).
pub const DEFAULT_VNODES_PER_WEIGHT: u32 = 2048;

/// The most virtual nodes one ring may hold (about 64 MiB of points and table). Beyond it,
/// [`Ring::add`] refuses the owner with [`RingError::TooManyVirtualNodes`].
pub const MAX_VIRTUAL_NODES: u64 = 1 << 22;

/// The lookup table has at most `2^MAX_PREFIX_BITS` entries.
const MAX_PREFIX_BITS: u32 = 22;

/// A stable byte encoding of an owner, from which its virtual node positions are derived.
///
/// The encoding must not depend on the process, the platform or a random seed, and distinct
/// owners must have distinct encodings ([`Ring::add`] refuses an owner whose encoding another
/// owner already has). The provided implementations:
///
/// - unsigned integers (`u16` to `u128`): their little-endian bytes at their own width, except
///   `usize`, which is encoded as a `u64` so that 32- and 64-bit machines agree;
/// - strings (`str`, `String`, `Box<str>`, `Arc<str>`, [`Str`]): their UTF-8 bytes;
/// - references: the encoding of what they point at.
pub trait RingKey {
    /// Appends the owner's encoding to `out`.
    fn write_ring_key(&self, out: &mut Vec<u8>);
}

macro_rules! ring_key_as_le_bytes {
    ($($int:ty as $encoded:ty),*) => {$(
        impl RingKey for $int {
            fn write_ring_key(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&(*self as $encoded).to_le_bytes());
            }
        }
    )*};
}
ring_key_as_le_bytes!(
    u16 as u16,
    u32 as u32,
    u64 as u64,
    u128 as u128,
    usize as u64
);

macro_rules! ring_key_as_str {
    ($($text:ty),*) => {$(
        impl RingKey for $text {
            fn write_ring_key(&self, out: &mut Vec<u8>) {
                let text: &str = self;
                out.extend_from_slice(text.as_bytes());
            }
        }
    )*};
}
ring_key_as_str!(str, String, Box<str>, Arc<str>, Str);

impl<T: RingKey + ?Sized> RingKey for &T {
    fn write_ring_key(&self, out: &mut Vec<u8>) {
        (**self).write_ring_key(out);
    }
}

/// Why a ring refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The owner (or another with the same [`RingKey`] encoding) is already on the ring.
    #[error("the owner is already on the ring (or another owner has the same ring key); remove it first to change its weight")]
    DuplicateOwner,
    /// The owner to remove is not on the ring.
    #[error("the owner is not on the ring")]
    UnknownOwner,
    /// An owner's weight must be at least 1.
    #[error("owner weight must be at least 1, got 0; remove the owner instead")]
    ZeroWeight,
    /// The ring would hold more than [`MAX_VIRTUAL_NODES`] virtual nodes.
    #[error("the ring would hold {requested} virtual nodes, more than the limit of {limit}; lower the weights or vnodes_per_weight")]
    TooManyVirtualNodes {
        /// Virtual nodes the ring would hold with the new owner.
        requested: u64,
        /// [`MAX_VIRTUAL_NODES`].
        limit: u64,
    },
}

/// One owner on the ring.
#[derive(Clone)]
struct Member<O> {
    owner: O,
    weight: u32,
    /// The owner's [`RingKey`] encoding: hashed into positions, compared to break ties.
    key: Box<[u8]>,
}

/// Consistent hashing of trace ids onto weighted owners with virtual nodes.
///
/// See the [module documentation](self) for the design, its costs and how to deploy several
/// nodes with it. `O` is the owner type: `usize` shard indices, `String` peer names, or any type
/// implementing [`RingKey`] and `Eq`.
#[derive(Clone)]
pub struct Ring<O> {
    vnodes_per_weight: u32,
    /// Owners in the order they were added.
    members: Vec<Member<O>>,
    /// Virtual node positions, ascending, followed by a sentinel at `u64::MAX` owned by the
    /// owner of the first point (the wrap-around). Empty when the ring is empty.
    positions: Vec<u64>,
    /// `point_members[i]` is the index in `members` of the owner of `positions[i]`.
    point_members: Vec<u32>,
    /// Entry `b` is the index of the first position at or above `b << prefix_shift`: where the
    /// scan for any hash whose top bits are `b` starts. Empty when the ring is empty.
    first_point_by_prefix: Vec<u32>,
    /// `64 - prefix bits`; always below 64 so the shift cannot overflow.
    prefix_shift: u32,
}

impl<O> Default for Ring<O> {
    fn default() -> Self {
        Ring::with_vnodes_per_weight(DEFAULT_VNODES_PER_WEIGHT)
    }
}

/// Formats as a map from owner to weight.
impl<O: fmt::Debug> fmt::Debug for Ring<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weights = self.members.iter().map(|m| (&m.owner, m.weight));
        f.debug_map().entries(weights).finish()
    }
}

impl<O> Ring<O> {
    /// An empty ring with [`DEFAULT_VNODES_PER_WEIGHT`] virtual nodes per unit of weight.
    pub fn new() -> Self {
        Ring::default()
    }

    /// An empty ring with `vnodes_per_weight` virtual nodes per unit of weight (0 counts as 1).
    /// Every node that must route alike has to use the same value.
    pub fn with_vnodes_per_weight(vnodes_per_weight: u32) -> Self {
        Ring {
            vnodes_per_weight: vnodes_per_weight.max(1),
            members: Vec::new(),
            positions: Vec::new(),
            point_members: Vec::new(),
            first_point_by_prefix: Vec::new(),
            prefix_shift: 63,
        }
    }

    /// Virtual nodes per unit of weight.
    pub fn vnodes_per_weight(&self) -> u32 {
        self.vnodes_per_weight
    }

    /// The number of owners.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the ring has no owner (every lookup returns `None`).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The owners, in the order they were added.
    pub fn owners(&self) -> impl ExactSizeIterator<Item = &O> + '_ {
        self.members.iter().map(|member| &member.owner)
    }

    /// The number of virtual nodes on the ring (the sum of weights × vnodes per weight).
    pub fn vnode_count(&self) -> usize {
        self.positions.len().saturating_sub(1)
    }

    /// The owner of a trace id, or `None` if the ring is empty.
    #[inline]
    pub fn owner(&self, trace_id: &TraceId) -> Option<&O> {
        self.owner_for_hash(trace_id.hash64())
    }

    /// The owner of a trace id given its precomputed hash ([`TraceId::hash64`]), or `None` if
    /// the ring is empty. O(1) on average; allocates nothing.
    #[inline]
    pub fn owner_for_hash(&self, hash: u64) -> Option<&O> {
        let prefix = (hash >> self.prefix_shift) as usize;
        let mut index = *self.first_point_by_prefix.get(prefix)? as usize;
        // Ends at the latest on the sentinel at u64::MAX.
        while let Some(&position) = self.positions.get(index) {
            if position >= hash {
                break;
            }
            index += 1;
        }
        let member = *self.point_members.get(index)? as usize;
        self.members.get(member).map(|member| &member.owner)
    }
}

impl<O: RingKey + Eq> Ring<O> {
    /// Adds an owner of weight `weight` (it gets `weight × vnodes_per_weight` virtual nodes) and
    /// rebuilds the ring. About `weight / total weight` of the trace ids move to it, and only
    /// to it.
    ///
    /// Fails, leaving the ring unchanged, if the owner (or its [`RingKey`] encoding) is already
    /// on the ring, if `weight` is 0, or if the ring would exceed [`MAX_VIRTUAL_NODES`].
    pub fn add(&mut self, owner: O, weight: u32) -> Result<(), RingError> {
        self.add_all([(owner, weight)])
    }

    /// A ring of `owners` (with their weights) and [`DEFAULT_VNODES_PER_WEIGHT`], built once:
    /// the same ring as adding them one by one, without rebuilding it after each.
    ///
    /// ```
    /// use tailsift::Ring;
    ///
    /// let shards: Ring<usize> = Ring::from_owners((0..8).map(|shard| (shard, 1)))?;
    /// assert_eq!(shards.len(), 8);
    /// # Ok::<(), tailsift::ring::RingError>(())
    /// ```
    pub fn from_owners(owners: impl IntoIterator<Item = (O, u32)>) -> Result<Self, RingError> {
        let mut ring = Ring::new();
        ring.add_all(owners)?;
        Ok(ring)
    }

    /// Adds every owner of `owners` (with their weights) and rebuilds the ring once. Fails,
    /// leaving the ring unchanged, for the first owner [`Ring::add`] would refuse (counting
    /// those before it in `owners` as on the ring).
    pub fn add_all(&mut self, owners: impl IntoIterator<Item = (O, u32)>) -> Result<(), RingError> {
        let before = self.members.len();
        let mut vnodes = self.vnode_count() as u64;
        for (owner, weight) in owners {
            let checked = self.check_new(&owner, weight, vnodes).map(|key| {
                vnodes += u64::from(weight) * u64::from(self.vnodes_per_weight);
                Member { owner, weight, key }
            });
            match checked {
                Ok(member) => self.members.push(member),
                Err(e) => {
                    self.members.truncate(before);
                    return Err(e);
                }
            }
        }
        if self.members.len() > before {
            self.rebuild();
        }
        Ok(())
    }

    /// Checks that `owner` may join a ring of `vnodes` virtual nodes with `weight`; returns
    /// its key encoding.
    fn check_new(&self, owner: &O, weight: u32, vnodes: u64) -> Result<Box<[u8]>, RingError> {
        if weight == 0 {
            return Err(RingError::ZeroWeight);
        }
        let mut key = Vec::new();
        owner.write_ring_key(&mut key);
        if self
            .members
            .iter()
            .any(|m| m.owner == *owner || *m.key == *key)
        {
            return Err(RingError::DuplicateOwner);
        }
        let requested = vnodes + u64::from(weight) * u64::from(self.vnodes_per_weight);
        if requested > MAX_VIRTUAL_NODES {
            let limit = MAX_VIRTUAL_NODES;
            return Err(RingError::TooManyVirtualNodes { requested, limit });
        }
        Ok(key.into_boxed_slice())
    }

    /// Removes an owner and rebuilds the ring; returns its weight. Only the removed owner's
    /// trace ids move. Fails with [`RingError::UnknownOwner`] if it is not on the ring.
    pub fn remove(&mut self, owner: &O) -> Result<u32, RingError> {
        let index = self.index_of(owner).ok_or(RingError::UnknownOwner)?;
        let removed = self.members.remove(index);
        self.rebuild();
        Ok(removed.weight)
    }

    /// Whether the owner is on the ring.
    pub fn contains(&self, owner: &O) -> bool {
        self.index_of(owner).is_some()
    }

    /// The owner's weight, or `None` if it is not on the ring.
    pub fn weight(&self, owner: &O) -> Option<u32> {
        self.index_of(owner).map(|index| self.members[index].weight)
    }

    /// Linear: owners are few and this is not on the routing path.
    fn index_of(&self, owner: &O) -> Option<usize> {
        self.members.iter().position(|m| m.owner == *owner)
    }

    /// Recomputes every virtual node, sorts them, and rebuilds the prefix table. Points are
    /// ordered by position, then by owner key, so the result does not depend on the order in
    /// which owners were added.
    fn rebuild(&mut self) {
        // `add` bounds the total by MAX_VIRTUAL_NODES, so no product or index overflows a u32.
        let vnodes_of = |member: &Member<O>| member.weight * self.vnodes_per_weight;
        let total: usize = self.members.iter().map(|m| vnodes_of(m) as usize).sum();
        let mut points: Vec<(u64, u32)> = Vec::with_capacity(total);
        let mut buffer = Vec::new();
        for (member_index, member) in self.members.iter().enumerate() {
            buffer.clear();
            buffer.extend_from_slice(&member.key);
            for vnode in 0..vnodes_of(member) {
                buffer.truncate(member.key.len());
                buffer.extend_from_slice(&vnode.to_le_bytes());
                points.push((xxh3_64(&buffer), member_index as u32));
            }
        }
        let key_of = |member_index: u32| &self.members[member_index as usize].key;
        points.sort_unstable_by(|(left, left_member), (right, right_member)| {
            (left.cmp(right)).then_with(|| key_of(*left_member).cmp(key_of(*right_member)))
        });

        let Some(&(_, first_member)) = points.first() else {
            *self = Ring::with_vnodes_per_weight(self.vnodes_per_weight); // no owner left
            return;
        };
        let sentinel = (u64::MAX, first_member);
        (self.positions, self.point_members) = points.into_iter().chain([sentinel]).unzip();

        let prefix_bits = total.next_power_of_two().trailing_zeros();
        let prefix_bits = prefix_bits.clamp(1, MAX_PREFIX_BITS);
        self.prefix_shift = 64 - prefix_bits;
        self.first_point_by_prefix = Vec::with_capacity(1 << prefix_bits);
        let mut next_point = 0usize;
        for prefix in 0..1u64 << prefix_bits {
            let prefix_start = prefix << self.prefix_shift;
            while self.positions[next_point] < prefix_start {
                next_point += 1; // stops at the sentinel at the latest
            }
            self.first_point_by_prefix.push(next_point as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
    use std::collections::HashMap;
    use std::hash::Hash;

    /// Hashes of `count` random trace ids from a fixed seed.
    fn random_hashes(count: usize, seed: u64) -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let random_id = |_| TraceId::from_u128(rng.gen()).hash64();
        (0..count).map(random_id).collect()
    }

    fn ring_of<O: RingKey + Eq>(owners: impl IntoIterator<Item = (O, u32)>) -> Ring<O> {
        let mut ring = Ring::new();
        for (owner, weight) in owners {
            ring.add(owner, weight).expect("distinct owners");
        }
        ring
    }

    fn route_all<O: Clone>(ring: &Ring<O>, hashes: &[u64]) -> Vec<O> {
        let route = |&hash: &u64| ring.owner_for_hash(hash).expect("not empty").clone();
        hashes.iter().map(route).collect()
    }

    fn keys_by_owner<O: Hash + Eq + Clone>(ring: &Ring<O>, hashes: &[u64]) -> HashMap<O, usize> {
        let mut counts = HashMap::new();
        for owner in route_all(ring, hashes) {
            *counts.entry(owner).or_default() += 1;
        }
        counts
    }

    #[test]
    fn adding_one_owner_to_n_moves_about_one_over_n_plus_one_and_only_to_it() {
        // The issue asks for 1M ids at every N = 2..=64. The crate builds at opt-level 0 in
        // tests, where 63 × 1M lookups alone take about 10 s, so the sweep over every N
        // uses 200k ids (at N = 64 about 3,000 move: ±2% sampling noise, far inside the ±50%
        // band) and N = 2, 8, 16, 32, 64 use all 1M ids.
        let full = random_hashes(1_000_000, 7);
        let sweep = &full[..200_000];
        let mut ring = ring_of([(0usize, 1), (1, 1)]);
        let mut sweep_routes = route_all(&ring, sweep);
        let mut ratio_range = (f64::MAX, 0.0f64);
        for n in 2..=64usize {
            let use_full = [2, 8, 16, 32, 64].contains(&n);
            let (hashes, before) = match use_full {
                true => (&full[..], route_all(&ring, &full)),
                false => (sweep, std::mem::take(&mut sweep_routes)),
            };
            ring.add(n, 1).expect("new owner");
            let after = route_all(&ring, hashes);
            let mut moved = 0usize;
            for (&old_owner, &new_owner) in before.iter().zip(&after) {
                if old_owner != new_owner {
                    assert_eq!(new_owner, n, "N = {n}: a key moved between two old owners");
                    moved += 1;
                }
            }
            let ratio = moved as f64 / hashes.len() as f64 * (n + 1) as f64;
            ratio_range = (ratio_range.0.min(ratio), ratio_range.1.max(ratio));
            assert!((0.5..=1.5).contains(&ratio), "N = {n}: {ratio:.3}");
            sweep_routes = after;
            sweep_routes.truncate(sweep.len()); // the sweep ids are a prefix of the full set
        }
        eprintln!("moved share × (N+1), N = 2..=64: {ratio_range:.3?}");
    }

    #[test]
    fn busiest_of_16_equal_owners_is_within_10_percent_of_mean() {
        let hashes = random_hashes(1_000_000, 11);
        let mean = hashes.len() as f64 / 16.0;
        let peer_names: Vec<String> = (0..16).map(|peer| format!("peer-{peer}")).collect();
        let peers = ring_of(peer_names.iter().map(|name| (name.as_str(), 1)));
        let shards = ring_of((0..16usize).map(|shard| (shard, 1)));
        let peer_counts: Vec<usize> = keys_by_owner(&peers, &hashes).into_values().collect();
        let shard_counts = keys_by_owner(&shards, &hashes).into_values().collect();
        for (owners, counts) in [("peers", peer_counts), ("shards", shard_counts)] {
            assert_eq!(counts.len(), 16, "{owners}: every owner gets keys");
            let percent_off = |count: usize| (count as f64 / mean - 1.0) * 100.0;
            let busiest = percent_off(counts.iter().copied().max().unwrap_or(0));
            let idlest = percent_off(counts.iter().copied().min().unwrap_or(0));
            eprintln!("16 {owners}: busiest {busiest:+.2}%, idlest {idlest:+.2}% of the mean");
            assert!(busiest <= 10.0, "{owners}: busiest {busiest:+.2}%");
        }
    }

    #[test]
    fn removing_an_owner_moves_only_its_keys() {
        let hashes = random_hashes(200_000, 13);
        let mut ring = ring_of((0..10usize).map(|owner| (owner, 1)));
        let before = route_all(&ring, &hashes);
        assert_eq!(ring.remove(&4), Ok(1));
        let after = route_all(&ring, &hashes);
        for (&old_owner, &new_owner) in before.iter().zip(&after) {
            assert_ne!(new_owner, 4);
            if old_owner != 4 {
                assert_eq!(old_owner, new_owner, "a key of a remaining owner moved");
            }
        }
        ring.add(4, 1).expect("re-added owner");
        assert_eq!(route_all(&ring, &hashes), before, "re-added");
    }

    #[test]
    fn owner_of_weight_two_gets_about_twice_the_keys() {
        let hashes = random_hashes(1_000_000, 17);
        let ring = ring_of((0..8usize).map(|owner| (owner, 1 + u32::from(owner == 3))));
        assert_eq!([ring.weight(&3), ring.weight(&0)], [Some(2), Some(1)]);
        assert_eq!(ring.vnode_count(), 9 * DEFAULT_VNODES_PER_WEIGHT as usize);
        let counts = keys_by_owner(&ring, &hashes);
        let light_mean = (hashes.len() - counts[&3]) as f64 / 7.0;
        let ratio = counts[&3] as f64 / light_mean;
        eprintln!("weight 2 vs weight 1: {ratio:.3}× the keys");
        assert!((1.8..=2.2).contains(&ratio), "{ratio:.3}× the keys");
    }

    #[test]
    fn insertion_order_does_not_change_routing() {
        let owners: Vec<(String, u32)> =
            (0..20).map(|i| (format!("peer-{i}"), 1 + i % 3)).collect();
        let mut shuffled = owners.clone();
        shuffled.shuffle(&mut StdRng::seed_from_u64(19));
        let (in_order, reordered) = (ring_of(owners), ring_of(shuffled));
        assert_eq!(in_order.positions, reordered.positions);
        let hashes = random_hashes(100_000, 23);
        assert!(route_all(&in_order, &hashes) == route_all(&reordered, &hashes));
    }

    #[test]
    fn routes_are_the_same_on_every_machine() {
        // Pins the encoding of positions and the default vnode count: changing either would
        // split traces across a fleet running two versions. The expected routes were computed
        // independently, by a plain sorted-list model in Python over the C reference xxHash
        // library (libxxhash 0.8.1), not by this code.
        let ids: Vec<u64> = (1..=8).map(|id| TraceId::from_u128(id).hash64()).collect();
        let peers = ring_of(["peer-a", "peer-b", "peer-c"].map(|peer| (peer, 1)));
        let expected = [
            "peer-c", "peer-c", "peer-b", "peer-c", "peer-a", "peer-a", "peer-b", "peer-a",
        ];
        assert_eq!(route_all(&peers, &ids), expected);
        let shards = ring_of((0..4usize).map(|shard| (shard, 1)));
        assert_eq!(route_all(&shards, &ids), [3, 3, 1, 1, 1, 3, 2, 2]);
        assert_eq!(shards.owner(&TraceId::from_u128(1)), Some(&3));
    }

    #[test]
    fn building_at_once_equals_adding_one_by_one() {
        let owners: Vec<(String, u32)> =
            (0..12).map(|i| (format!("peer-{i}"), 1 + i % 3)).collect();
        let bulk = Ring::from_owners(owners.clone()).expect("distinct owners");
        let one_by_one = ring_of(owners.clone());
        assert_eq!(bulk.positions, one_by_one.positions);
        assert_eq!(bulk.point_members, one_by_one.point_members);
        assert_eq!(bulk.first_point_by_prefix, one_by_one.first_point_by_prefix);
        let hashes = random_hashes(10_000, 29);
        assert!(route_all(&bulk, &hashes) == route_all(&one_by_one, &hashes));
        // A refused owner anywhere in the list leaves the ring as it was.
        let mut ring = Ring::from_owners([("a".to_string(), 1)]).expect("one owner");
        let before = route_all(&ring, &hashes);
        let refused = ring.add_all([("b".to_string(), 1), ("a".to_string(), 2)]);
        assert_eq!(refused, Err(RingError::DuplicateOwner));
        let refused = ring.add_all([("c".to_string(), 1), ("c".to_string(), 1)]);
        assert_eq!(refused, Err(RingError::DuplicateOwner));
        assert_eq!(
            ring.add_all([("d".to_string(), 0)]),
            Err(RingError::ZeroWeight)
        );
        assert_eq!((ring.len(), route_all(&ring, &hashes)), (1, before));
        assert_eq!(ring.add_all(Vec::new()), Ok(()));
        ring.add_all([("b".to_string(), 1), ("c".to_string(), 1)])
            .expect("new owners");
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn refuses_bad_changes_without_panicking() {
        let mut ring: Ring<&str> = Ring::with_vnodes_per_weight(1024);
        assert!(ring.is_empty());
        assert_eq!(ring.owner(&TraceId::from_u128(1)), None);
        assert_eq!(ring.owner_for_hash(u64::MAX), None);
        assert_eq!(ring.remove(&"a"), Err(RingError::UnknownOwner));
        assert_eq!(ring.add("a", 0), Err(RingError::ZeroWeight));
        ring.add("a", 1).expect("first owner");
        assert_eq!(ring.add("a", 2), Err(RingError::DuplicateOwner));
        let too_many = Err(RingError::TooManyVirtualNodes {
            requested: 1024 * u64::from(u32::MAX) + 1024,
            limit: MAX_VIRTUAL_NODES,
        });
        assert_eq!(ring.add("b", u32::MAX), too_many);
        assert_eq!(
            (ring.len(), ring.weight(&"a"), ring.weight(&"b")),
            (1, Some(1), None)
        );
        assert_eq!(ring.remove(&"a"), Ok(1));
        assert_eq!(ring.owner_for_hash(0), None);
    }

    /// The obvious ring: every point, sorted by position then owner, searched in order.
    fn plain_sorted_ring(owners: &[(String, u32)], vnodes_per_weight: u32) -> Vec<(u64, &str)> {
        let mut points = Vec::new();
        for (owner, weight) in owners {
            for vnode in 0..weight * vnodes_per_weight {
                let key = [owner.as_bytes(), &vnode.to_le_bytes()].concat();
                points.push((xxh3_64(&key), owner.as_str()));
            }
        }
        points.sort_unstable();
        points
    }

    fn plain_owner<'p>(points: &[(u64, &'p str)], hash: u64) -> Option<&'p str> {
        let after = points.partition_point(|&(position, _)| position < hash);
        points.get(after).or(points.first()).map(|point| point.1)
    }

    proptest! {
        #[test]
        fn lookups_never_panic_and_agree_with_a_plain_sorted_ring(
            changes in prop::collection::vec((0u8..12, 0u32..4), 1..24),
            vnodes_per_weight in 0u32..24,
            mut hashes in prop::collection::vec(any::<u64>(), 1..64),
        ) {
            hashes.extend([0, 1, u64::MAX - 1, u64::MAX]);
            let mut ring: Ring<String> = Ring::with_vnodes_per_weight(vnodes_per_weight);
            let mut model: Vec<(String, u32)> = Vec::new();
            for (name, weight) in changes {
                let peer = format!("peer-{name}");
                let known = model.iter().position(|(owner, _)| *owner == peer);
                match (weight, known) { // weight 0 stands for "remove"
                    (0, Some(index)) => prop_assert_eq!(ring.remove(&peer), Ok(model.remove(index).1)),
                    (0, None) => prop_assert_eq!(ring.remove(&peer), Err(RingError::UnknownOwner)),
                    (_, Some(_)) => prop_assert_eq!(ring.add(peer, weight), Err(RingError::DuplicateOwner)),
                    (_, None) => {
                        prop_assert_eq!(ring.add(peer.clone(), weight), Ok(()));
                        model.push((peer, weight));
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                let plain = plain_sorted_ring(&model, ring.vnodes_per_weight());
                // Probe points and their neighbours too: that is where off-by-ones live.
                let at_points = plain.iter().step_by(5).flat_map(|&(p, _)| [p.wrapping_sub(1), p, p.wrapping_add(1)]);
                for hash in hashes.iter().copied().chain(at_points) {
                    let owner = ring.owner_for_hash(hash);
                    prop_assert_eq!(owner.map(String::as_str), plain_owner(&plain, hash));
                    prop_assert!(owner.is_none_or(|owner| ring.contains(owner)));
                }
            }
        }
    }
}
