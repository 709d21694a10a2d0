//! Groups of traces: what puts a trace in a latency baseline or a representative stratum, and
//! the bounded table that holds per-group state.
//!
//! A group is named by a few values read off the trace's root (`group_by`): by default the root
//! span's service and name, the "operation" a user thinks of. The values are hashed into a
//! [`GroupKey`] without allocating, so looking a group up costs one hash per trace; the
//! human-readable label is only built when a group is first seen.
//!
//! Per-group state lives in a `GroupTable`: sharded by key so threads deciding traces of
//! different groups rarely meet on a lock, and bounded, because group values come from traffic
//! (a `group_by` on a high-cardinality attribute must not grow memory without limit). When a shard
//! is full, the group seen least recently is evicted: cold groups are the cheapest to forget, and
//! a group that comes back simply starts over.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::span::{find_attribute, Str, Value};
use crate::view::TraceView;

/// The `group_by` keys used when none are configured: root service and root span name.
pub const DEFAULT_GROUP_BY: [&str; 2] = ["service.name", "root.name"];

/// The hashed identity of a group (a latency baseline's group, a representative stratum).
///
/// Equal group values give equal keys on every node and in every run (xxh3, no random seed), so
/// a controller can publish per-stratum rates keyed by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey(pub u64);

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum GroupPart {
    Service,
    RootName,
    Attribute(Str),
}

/// How traces are grouped: a list of keys read off the root span.
///
/// - `"service.name"`: the root span's service;
/// - `"root.name"`: the root span's name;
/// - any other key: the root span's attribute of that name, else its resource's attribute.
///
/// A trace without a root has empty values for every key, so rootless traces share one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupBy {
    parts: Vec<GroupPart>,
}

impl Default for GroupBy {
    fn default() -> GroupBy {
        GroupBy::root_operation()
    }
}

impl GroupBy {
    /// Root service + root span name (the default).
    pub fn root_operation() -> GroupBy {
        GroupBy {
            parts: vec![GroupPart::Service, GroupPart::RootName],
        }
    }

    /// Grouping by `keys`, in order. An empty key is refused; an empty list puts every trace in
    /// one group.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Result<GroupBy, String> {
        let mut parts = Vec::with_capacity(keys.len());
        for key in keys {
            let part = match key.as_ref() {
                "" => return Err("must not contain an empty key".to_string()),
                "service.name" => GroupPart::Service,
                "root.name" => GroupPart::RootName,
                other => GroupPart::Attribute(Str::from(other)),
            };
            parts.push(part);
        }
        Ok(GroupBy { parts })
    }

    /// Whether this is the default grouping (root service, then root name).
    pub fn is_root_operation(&self) -> bool {
        matches!(self.parts[..], [GroupPart::Service, GroupPart::RootName])
    }

    /// The trace's group key. No allocation.
    pub fn key(&self, trace: &TraceView<'_>) -> GroupKey {
        let mut h = KeyHasher::default();
        let root = trace.root();
        for part in &self.parts {
            match part {
                GroupPart::Service => {
                    h.part(b's', root.map_or("", |r| r.service_name()).as_bytes())
                }
                GroupPart::RootName => h.part(b's', root.map_or("", |r| &*r.name).as_bytes()),
                GroupPart::Attribute(key) => hash_value(&mut h, root_attribute(trace, key)),
            }
        }
        GroupKey(h.0)
    }

    /// The trace's group values joined by `|`, for reports. Allocates.
    pub fn label(&self, trace: &TraceView<'_>) -> String {
        let root = trace.root();
        let mut out = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            match part {
                GroupPart::Service => out.push_str(root.map_or("", |r| r.service_name())),
                GroupPart::RootName => out.push_str(root.map_or("", |r| &*r.name)),
                GroupPart::Attribute(key) => push_value(&mut out, root_attribute(trace, key)),
            }
        }
        out
    }
}

/// The root's attribute `key`, else the root resource's.
fn root_attribute<'a>(trace: &TraceView<'a>, key: &str) -> Option<&'a Value> {
    let root = trace.root()?;
    root.attribute(key)
        .or_else(|| find_attribute(&root.resource().attributes, key))
}

/// Hashes a group's parts one at a time: each part is one xxh3 call over its bytes, seeded with
/// the hash so far and the part's type tag, so ("ab", "c") and ("a", "bc") differ. Short keys
/// (a service and an operation name) cost two one-shot calls, where xxh3's streaming state
/// costs several hundred instructions to set up and finish per trace.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn part(&mut self, tag: u8, bytes: &[u8]) {
        let seed = self.0.rotate_left(17) ^ u64::from(tag).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed);
    }
}

fn hash_value(h: &mut KeyHasher, value: Option<&Value>) {
    match value {
        None | Some(Value::Empty) => h.part(b'-', &[]),
        Some(Value::Str(s)) => h.part(b's', s.as_bytes()),
        Some(Value::Bool(b)) => h.part(b'b', &[u8::from(*b)]),
        Some(Value::Int(i)) => h.part(b'i', &i.to_le_bytes()),
        Some(Value::Double(d)) => h.part(b'd', &d.to_bits().to_le_bytes()),
        Some(Value::Bytes(b)) => h.part(b'x', b),
        // Structured values make poor group keys; they all share one group per key.
        Some(Value::Array(_)) => h.part(b'a', &[]),
        Some(Value::KvList(_)) => h.part(b'k', &[]),
    }
}

fn push_value(out: &mut String, value: Option<&Value>) {
    use std::fmt::Write;
    match value {
        None | Some(Value::Empty) => {}
        Some(Value::Str(s)) => out.push_str(s),
        Some(Value::Bool(b)) => {
            let _ = write!(out, "{b}");
        }
        Some(Value::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::Double(d)) => {
            let _ = write!(out, "{d}");
        }
        Some(Value::Bytes(_)) => out.push_str("<bytes>"),
        Some(Value::Array(_)) => out.push_str("<array>"),
        Some(Value::KvList(_)) => out.push_str("<kvlist>"),
    }
}

struct Slot<V> {
    value: V,
    last_seen: Duration,
}

type Shard<V> = hashbrown::HashMap<u64, Slot<V>, ahash::RandomState>;

/// A bounded, sharded map from [`GroupKey`] to per-group state, evicting the least recently
/// seen group of a full shard.
pub(crate) struct GroupTable<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    per_shard: usize,
    evicted: AtomicU64,
}

/// Shards per table: enough that two cores rarely contend, few enough to scan cheaply.
const SHARDS: usize = 16;

impl<V> GroupTable<V> {
    /// A table holding at most `max_groups` groups (at least one).
    pub(crate) fn new(max_groups: usize) -> GroupTable<V> {
        let max_groups = max_groups.max(1);
        let shards = SHARDS.min(max_groups);
        GroupTable {
            shards: (0..shards)
                .map(|_| Mutex::new(Shard::with_hasher(ahash::RandomState::new())))
                .collect(),
            per_shard: max_groups / shards,
            evicted: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: GroupKey) -> &Mutex<Shard<V>> {
        // The key is already a good hash; its high bits pick the shard, the map rehashes.
        &self.shards[((key.0 >> 40) as usize) % self.shards.len()]
    }

    /// Runs `f` on the group's state, creating it with `create` (and evicting the coldest group
    /// of a full shard) when absent. Marks the group seen at `now`.
    pub(crate) fn with<R>(
        &self,
        key: GroupKey,
        now: Duration,
        create: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mut shard = self.shard(key).lock();
        // The usual case, a group seen before: one probe.
        if let Some(slot) = shard.get_mut(&key.0) {
            slot.last_seen = slot.last_seen.max(now);
            return f(&mut slot.value);
        }
        if shard.len() >= self.per_shard {
            let coldest = shard
                .iter()
                .min_by_key(|(k, slot)| (slot.last_seen, **k))
                .map(|(k, _)| *k);
            if let Some(coldest) = coldest {
                shard.remove(&coldest);
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        let slot = shard.entry(key.0).insert(Slot {
            value: create(),
            last_seen: now,
        });
        f(&mut slot.into_mut().value)
    }

    /// Runs `f` on the group's state if the group exists; never creates it.
    pub(crate) fn get<R>(&self, key: GroupKey, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        self.shard(key)
            .lock()
            .get_mut(&key.0)
            .map(|slot| f(&mut slot.value))
    }

    /// Runs `f` on every group, one shard locked at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(GroupKey, &mut V)) {
        for shard in self.shards.iter() {
            for (k, slot) in shard.lock().iter_mut() {
                f(GroupKey(*k), &mut slot.value);
            }
        }
    }

    /// How many groups are held.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// How many groups were evicted to stay within the bound.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The most groups the table holds.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{KeyValue, Origin, Resource, Scope, Span, SpanId, TraceId};
    use crate::view::TraceFlags;
    use std::sync::Arc;

    fn root(service: &str, name: &str, attrs: Vec<KeyValue>) -> Span {
        Span {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(1),
            name: name.into(),
            attributes: attrs.into(),
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![
                        KeyValue::new("service.name", service),
                        KeyValue::new("deployment.environment", "prod"),
                    ],
                    ..Resource::default()
                }),
                scope: Scope::default(),
            }),
            ..Span::default()
        }
    }

    fn key_and_label(by: &GroupBy, spans: &[Span]) -> (GroupKey, String) {
        let view = TraceView::new(
            TraceId::from_u128(1),
            spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        (by.key(&view), by.label(&view))
    }

    #[test]
    fn keys_chain_one_xxh3_call_per_part_whatever_their_length() {
        for len in [0, 5, 60, 127, 128, 300] {
            let name = "n".repeat(len);
            let (key, _) = key_and_label(
                &GroupBy::root_operation(),
                &[root("checkout", &name, vec![])],
            );
            let mut expected = 0u64;
            for part in ["checkout", name.as_str()] {
                let seed =
                    expected.rotate_left(17) ^ u64::from(b's').wrapping_mul(0x9E37_79B9_7F4A_7C15);
                expected = xxhash_rust::xxh3::xxh3_64_with_seed(part.as_bytes(), seed);
            }
            assert_eq!(key, GroupKey(expected), "name of {len} bytes");
        }
        // Where one part ends and the next begins matters.
        let by = GroupBy::root_operation();
        let (a, _) = key_and_label(&by, &[root("ab", "c", vec![])]);
        let (b, _) = key_and_label(&by, &[root("a", "bc", vec![])]);
        assert_ne!(a, b);
    }

    #[test]
    fn default_group_is_root_service_and_name() {
        let by = GroupBy::root_operation();
        let (a, label) = key_and_label(&by, &[root("checkout", "POST /pay", vec![])]);
        let (b, _) = key_and_label(&by, &[root("checkout", "POST /pay", vec![])]);
        let (c, _) = key_and_label(&by, &[root("checkou", "tPOST /pay", vec![])]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(label, "checkout|POST /pay");
        assert!(by.is_root_operation());
        assert!(GroupBy::new(&DEFAULT_GROUP_BY).unwrap().is_root_operation());
        for other in [
            &["service.name"][..],
            &["root.name", "service.name"],
            &["service.name", "root.name", "http.route"],
            &[],
        ] {
            assert!(
                !GroupBy::new(other).unwrap().is_root_operation(),
                "{other:?}"
            );
        }
    }

    #[test]
    fn attributes_come_from_the_root_then_its_resource() {
        let by = GroupBy::new(&["http.route", "deployment.environment"]).unwrap();
        let spans = [root("a", "b", vec![KeyValue::new("http.route", 7i64)])];
        let (_, label) = key_and_label(&by, &spans);
        assert_eq!(label, "7|prod");
        let (int_key, _) = key_and_label(&by, &spans);
        let spans = [root("a", "b", vec![KeyValue::new("http.route", "7")])];
        let (str_key, _) = key_and_label(&by, &spans);
        assert_ne!(int_key, str_key, "an int and a string are different values");
        assert!(GroupBy::new(&[""]).is_err());
    }

    #[test]
    fn rootless_traces_share_one_group() {
        let by = GroupBy::root_operation();
        let mut orphan = root("x", "y", vec![]);
        orphan.parent_span_id = SpanId::from_u64(9);
        let (a, label) = key_and_label(&by, &[orphan]);
        let (b, _) = key_and_label(&by, &[]);
        assert_eq!(a, b);
        assert_eq!(label, "|");
    }

    #[test]
    fn full_tables_evict_the_coldest_group() {
        let table: GroupTable<u32> = GroupTable::new(1);
        let t = Duration::from_secs;
        table.with(GroupKey(1), t(1), || 10, |_| ());
        table.with(GroupKey(2), t(2), || 20, |_| ());
        assert_eq!(table.len(), 1);
        assert_eq!(table.evicted(), 1);
        assert_eq!(table.get(GroupKey(1), |v| *v), None);
        assert_eq!(table.get(GroupKey(2), |v| *v), Some(20));

        // Two groups a shard (32 over 16 shards); keys 1, 2 and 3 share shard 0. Seeing group 1
        // again makes group 2 the coldest.
        let table: GroupTable<u32> = GroupTable::new(32);
        table.with(GroupKey(1), t(1), || 10, |_| ());
        table.with(GroupKey(2), t(2), || 20, |_| ());
        assert_eq!(table.with(GroupKey(1), t(3), || 0, |v| *v), 10);
        table.with(GroupKey(3), t(4), || 30, |_| ());
        assert_eq!(table.get(GroupKey(1), |v| *v), Some(10));
        assert_eq!(table.get(GroupKey(2), |v| *v), None);
        assert_eq!(table.get(GroupKey(3), |v| *v), Some(30));

        let table: GroupTable<u32> = GroupTable::new(64);
        for k in 0..10_000u64 {
            let key = GroupKey(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            table.with(key, t(k), || 0, |v| *v += 1);
        }
        assert!(table.len() <= 64);
        assert_eq!(table.capacity(), 64);
    }
}
