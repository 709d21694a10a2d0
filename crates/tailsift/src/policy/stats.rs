//! Controller hooks, outbound: what each policy matched and kept, per interval and in total.
//!
//! A controller sharing a budget among policies needs each policy's *demand* (what it would keep
//! at rate 1: the traces it returned `Keep` for, before any rate) and what was actually kept with
//! it among the reasons. Both are counted per trace on the hot path, by every deciding thread. A
//! shared atomic counter would cost a locked read-modify-write per count — on x86 a full barrier,
//! the dearest instructions of a decision — so each deciding thread counts in a block of its own
//! ([`thread_local::ThreadLocal`]) with a plain load and store per count, and readers sum the
//! blocks.
//!
//! A reader cannot reset a block another thread is writing, so counts only grow: totals are the
//! sums, and an interval is the sums minus those the previous drain read. Drains read under one
//! mutex, so each sees sums at least as large as the last: a count landing during a drain simply
//! belongs to the next interval, and none is lost or counted twice. A thread that exits leaves
//! its block behind (the next thread given its id carries on in it), so its counts stay.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use thread_local::ThreadLocal;

use super::group::GroupKey;
use crate::span::Str;

/// An amount of traffic: traces, their spans, and their bytes (by `Span::size_estimate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    /// Traces.
    pub traces: u64,
    /// Spans of those traces.
    pub spans: u64,
    /// Estimated OTLP bytes of those spans.
    pub bytes: u64,
}

impl std::ops::AddAssign for Volume {
    fn add_assign(&mut self, other: Volume) {
        self.traces += other.traces;
        self.spans += other.spans;
        self.bytes += other.bytes;
    }
}

impl Volume {
    /// One trace of `spans` spans and `bytes` bytes.
    pub fn trace(spans: u64, bytes: u64) -> Volume {
        Volume {
            traces: 1,
            spans,
            bytes,
        }
    }
}

impl Volume {
    /// What was added since `earlier`, an earlier reading of the same (growing) counts.
    fn since(self, earlier: Volume) -> Volume {
        Volume {
            traces: self.traces - earlier.traces,
            spans: self.spans - earlier.spans,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

/// A count written by one thread only (the owner of the block it is in) and read by any.
///
/// Adding is a relaxed load and a relaxed store — plain moves, no locked instruction — which
/// loses nothing only because no other thread ever writes the counter. Readers see its values in
/// the order they were stored.
#[derive(Debug, Default)]
struct OwnedCounter(AtomicU64);

impl OwnedCounter {
    fn add(&self, n: u64) {
        let count = self.0.load(Ordering::Relaxed);
        self.0.store(count + n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A [`Volume`] counted by one thread (see [`OwnedCounter`]).
#[derive(Debug, Default)]
pub(crate) struct VolumeCounter {
    traces: OwnedCounter,
    spans: OwnedCounter,
    bytes: OwnedCounter,
}

impl VolumeCounter {
    /// Adds `v`. Only the thread owning the block may call it.
    pub(crate) fn add(&self, v: Volume) {
        self.traces.add(v.traces);
        self.spans.add(v.spans);
        self.bytes.add(v.bytes);
    }

    fn get(&self) -> Volume {
        Volume {
            traces: self.traces.get(),
            spans: self.spans.get(),
            bytes: self.bytes.get(),
        }
    }
}

/// One policy's counts over one controller interval.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyInterval {
    /// The policy's position in the set (the index of `PolicyRates`).
    pub index: usize,
    /// The policy's name.
    pub name: Str,
    /// The policy's kind (`"errors"`, `"cel"`, ...; `"custom"` for policies given in code).
    pub kind: &'static str,
    /// Traces the policy returned `Keep` for, whatever the rate: its demand.
    pub matched: Volume,
    /// Traces for which this policy was the first, in priority (configured) order, to return
    /// `Keep`: its demand net of higher-priority policies, what the controller allocates by.
    pub first: Volume,
    /// Traces kept with this policy among the reasons.
    pub kept: Volume,
    /// Evaluations that failed (answered by the policy's `on_error` fallback).
    pub errors: u64,
    /// For a `representative` policy, each stratum's counts; empty otherwise.
    pub strata: Vec<StratumInterval>,
}

/// One stratum of a `representative` policy over one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct StratumInterval {
    /// The stratum's key (for `PolicyRates::set_stratum_rate`).
    pub key: GroupKey,
    /// The stratum's values, joined by `|` (e.g. `checkout|POST /pay`).
    pub label: Str,
    /// Traces of the stratum seen this interval (all of them match a representative policy).
    pub matched: Volume,
    /// The last effective rate used for the stratum (after multiplier and floor).
    pub rate: f64,
}

/// One policy's counts since the set was built (for reports: kept by policy).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyTotals {
    /// The policy's name.
    pub name: Str,
    /// The policy's kind.
    pub kind: &'static str,
    /// Traces the policy returned `Keep` for.
    pub matched: Volume,
    /// Traces kept with this policy among the reasons.
    pub kept: Volume,
    /// Evaluations that failed.
    pub errors: u64,
}

/// One policy's counters in one thread's block.
///
/// Aligned to 128 bytes (two cache lines, as the adjacent-line prefetcher pairs them) so that no
/// other thread's block shares a line with it: threads would otherwise slow each other down
/// writing their own counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct PolicyCounters {
    /// Traces the policy returned `Keep` for.
    pub(crate) matched: VolumeCounter,
    /// Traces the policy was the first to return `Keep` for.
    pub(crate) first: VolumeCounter,
    /// Traces kept with the policy among the reasons.
    pub(crate) kept: VolumeCounter,
    errors: OwnedCounter,
}

impl PolicyCounters {
    /// Counts a failed evaluation. Only the thread owning the block may call it.
    pub(crate) fn add_error(&self) {
        self.errors.add(1);
    }

    fn get(&self) -> PolicyCounts {
        PolicyCounts {
            matched: self.matched.get(),
            first: self.first.get(),
            kept: self.kept.get(),
            errors: self.errors.get(),
        }
    }
}

/// What one deciding thread counted for a policy set: written by that thread only.
/// (Aligned as [`PolicyCounters`] is, for `kept`: the blocks lie side by side.)
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct ThreadCounters {
    /// Per policy, in evaluation order.
    pub(crate) policies: Box<[PolicyCounters]>,
    /// Every kept trace once, whichever policies kept it.
    pub(crate) kept: VolumeCounter,
}

/// A policy's counts, as read from the counters (summed over threads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PolicyCounts {
    pub(crate) matched: Volume,
    pub(crate) first: Volume,
    pub(crate) kept: Volume,
    pub(crate) errors: u64,
}

impl PolicyCounts {
    fn since(self, earlier: PolicyCounts) -> PolicyCounts {
        PolicyCounts {
            matched: self.matched.since(earlier.matched),
            first: self.first.since(earlier.first),
            kept: self.kept.since(earlier.kept),
            errors: self.errors - earlier.errors,
        }
    }
}

/// The sums the drains read last: where the current interval (and the kept volume not yet
/// taken) starts.
struct Marks {
    interval: Vec<PolicyCounts>,
    kept: Volume,
}

/// Every counter of a policy set: one [`ThreadCounters`] block per deciding thread.
pub(crate) struct SetCounters {
    threads: ThreadLocal<ThreadCounters>,
    policies: usize,
    marks: Mutex<Marks>,
}

impl SetCounters {
    /// Counters for a set of `policies` policies, all at zero.
    pub(crate) fn new(policies: usize) -> SetCounters {
        SetCounters {
            threads: ThreadLocal::new(),
            policies,
            marks: Mutex::new(Marks {
                interval: vec![PolicyCounts::default(); policies],
                kept: Volume::default(),
            }),
        }
    }

    /// The calling thread's block, created on its first decision. Never hand it to another
    /// thread to write: its counters are exact only with one writer.
    pub(crate) fn local(&self) -> &ThreadCounters {
        // The lookup alone, inlined into the decision; the first one on a thread out of line.
        match self.threads.get() {
            Some(block) => block,
            None => self.new_local(),
        }
    }

    #[cold]
    fn new_local(&self) -> &ThreadCounters {
        self.threads.get_or(|| ThreadCounters {
            policies: (0..self.policies)
                .map(|_| PolicyCounters::default())
                .collect(),
            kept: VolumeCounter::default(),
        })
    }

    /// Each policy's counts since the counters were made.
    pub(crate) fn totals(&self) -> Vec<PolicyCounts> {
        let mut sums = vec![PolicyCounts::default(); self.policies];
        for block in self.threads.iter() {
            for (sum, counters) in sums.iter_mut().zip(block.policies.iter()) {
                let c = counters.get();
                sum.matched += c.matched;
                sum.first += c.first;
                sum.kept += c.kept;
                sum.errors += c.errors;
            }
        }
        sums
    }

    /// Each policy's counts since the previous call (since the counters were made, the first
    /// time).
    pub(crate) fn drain_interval(&self) -> Vec<PolicyCounts> {
        // Summed under the lock: a drain reading smaller sums than the previous one would
        // count backwards.
        let mut marks = self.marks.lock();
        let sums = self.totals();
        let interval = sums
            .iter()
            .zip(&marks.interval)
            .map(|(now, start)| now.since(*start))
            .collect();
        marks.interval = sums;
        interval
    }

    /// Policy `policy`'s first-match demand since the last [`SetCounters::drain_interval`].
    pub(crate) fn peek_first(&self, policy: usize) -> Volume {
        let marks = self.marks.lock();
        let mut sum = Volume::default();
        for block in self.threads.iter() {
            if let Some(counters) = block.policies.get(policy) {
                sum += counters.first.get();
            }
        }
        let start = marks
            .interval
            .get(policy)
            .map_or(Volume::default(), |m| m.first);
        sum.since(start)
    }

    /// The volume kept since the previous call (since the counters were made, the first time).
    pub(crate) fn take_kept(&self) -> Volume {
        let mut marks = self.marks.lock();
        let mut sum = Volume::default();
        for block in self.threads.iter() {
            sum += block.kept.get();
        }
        let kept = sum.since(marks.kept);
        marks.kept = sum;
        kept
    }
}
