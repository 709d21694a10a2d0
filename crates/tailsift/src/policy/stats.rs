//! Controller hooks, outbound: what each policy matched and kept, per interval and in total.
//!
//! A controller sharing a budget among policies needs each policy's *demand* (what it would keep
//! at rate 1: the traces it returned `Keep` for, before any rate) and what was actually kept with
//! it among the reasons. Both are counted per trace on the hot path, so they are plain relaxed
//! atomics: no lock, and a drain (`swap(0)`) that never loses a count — one landing between two
//! swaps simply belongs to the next interval.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// A [`Volume`] counted with atomics.
#[derive(Debug, Default)]
pub(crate) struct VolumeCounter {
    traces: AtomicU64,
    spans: AtomicU64,
    bytes: AtomicU64,
}

impl VolumeCounter {
    pub(crate) fn add(&self, v: Volume) {
        self.traces.fetch_add(v.traces, Ordering::Relaxed);
        self.spans.fetch_add(v.spans, Ordering::Relaxed);
        self.bytes.fetch_add(v.bytes, Ordering::Relaxed);
    }

    pub(crate) fn take(&self) -> Volume {
        Volume {
            traces: self.traces.swap(0, Ordering::Relaxed),
            spans: self.spans.swap(0, Ordering::Relaxed),
            bytes: self.bytes.swap(0, Ordering::Relaxed),
        }
    }

    pub(crate) fn peek(&self) -> Volume {
        Volume {
            traces: self.traces.load(Ordering::Relaxed),
            spans: self.spans.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
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

/// The per-policy counters of a policy set.
#[derive(Debug, Default)]
pub(crate) struct PolicyCounters {
    pub(crate) matched: VolumeCounter,
    pub(crate) first: VolumeCounter,
    pub(crate) kept: VolumeCounter,
    pub(crate) errors: AtomicU64,
}
