//! Controller hooks, inbound: the rates an adaptive controller publishes to a policy set.
//!
//! The controller retunes rates every interval while traces are being decided on other threads.
//! It must never make a decision wait, and a decision must never see half an update (the new
//! multiplier of one policy with the old stratum rates of another). So all rates live in one
//! immutable [`PolicyRates`] table, and publishing is one atomic pointer swap
//! ([`arc_swap::ArcSwap`]) followed by the bump of a stamp. A decision uses one table for every
//! policy of the trace: the copy its thread loaded last, as long as the stamp it was loaded under
//! is still the current one (one plain load per trace), else a fresh load (see
//! `PublishedRates`). Loading the shared table on every trace would cost locked instructions —
//! on x86 full barriers — in every decision, for a table that changes once an interval.
//!
//! The controller's loop is: `let mut r = (*set.rates()).clone();` change what it wants,
//! `set.publish_rates(r)`. Cloning is cheap: per-stratum maps are shared behind `Arc` until
//! changed.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use thread_local::ThreadLocal;

use super::config::PolicyConfigError;
use super::group::GroupKey;

type StratumRates = hashbrown::HashMap<GroupKey, f64, ahash::RandomState>;

/// Every rate a controller sets, for one policy set, indexed by policy position (the order of
/// the configured policies; see `PolicySet::index_of`).
///
/// - A **multiplier** per policy (default 1.0) scales the rate of every `Keep` the policy
///   returns; the product is clamped to `[0, 1]`. It is the controller's knob for policies whose
///   own rate is 1 (errors, latency, critical path): a multiplier of 0.5 keeps half of them,
///   consistently (by the trace's randomness) and with exact adjusted counts.
/// - **Stratum rates** (for `representative` policies) replace the configured `rate` of single
///   strata, keyed by [`GroupKey`] (reported by `PolicySet::drain_interval`). The policy's
///   multiplier applies on top, and its `min_per_minute` floor last, so a cut never starves a
///   stratum below its floor.
///
/// Out-of-range indices are ignored by setters and read as defaults by getters.
#[derive(Clone, Debug, Default)]
pub struct PolicyRates {
    multipliers: Vec<f64>,
    strata: Vec<Arc<StratumRates>>,
}

impl PolicyRates {
    /// Defaults for `policies` policies: multipliers 1, no stratum rates.
    pub fn new(policies: usize) -> PolicyRates {
        PolicyRates {
            multipliers: vec![1.0; policies],
            strata: vec![Arc::default(); policies],
        }
    }

    /// How many policies the table covers.
    pub fn len(&self) -> usize {
        self.multipliers.len()
    }

    /// Whether the table covers no policy.
    pub fn is_empty(&self) -> bool {
        self.multipliers.is_empty()
    }

    /// The multiplier of policy `policy` (1.0 when out of range).
    pub fn multiplier(&self, policy: usize) -> f64 {
        self.multipliers.get(policy).copied().unwrap_or(1.0)
    }

    /// Sets the multiplier of policy `policy`. Negative and NaN values count as 0; values above
    /// 1 raise rates below 1 (the product is still capped at 1).
    pub fn set_multiplier(&mut self, policy: usize, multiplier: f64) {
        if let Some(m) = self.multipliers.get_mut(policy) {
            *m = if multiplier.is_nan() {
                0.0
            } else {
                multiplier.max(0.0)
            };
        }
    }

    /// The controller's rate for one stratum of representative policy `policy`, if set.
    pub fn stratum_rate(&self, policy: usize, stratum: GroupKey) -> Option<f64> {
        self.strata.get(policy)?.get(&stratum).copied()
    }

    /// Sets the rate of one stratum of representative policy `policy` (clamped to `[0, 1]`,
    /// NaN counts as 0).
    pub fn set_stratum_rate(&mut self, policy: usize, stratum: GroupKey, rate: f64) {
        if let Some(map) = self.strata.get_mut(policy) {
            Arc::make_mut(map).insert(stratum, clamp_rate(rate));
        }
    }

    /// Replaces every stratum rate of representative policy `policy`.
    pub fn set_stratum_rates(
        &mut self,
        policy: usize,
        rates: impl IntoIterator<Item = (GroupKey, f64)>,
    ) {
        if let Some(map) = self.strata.get_mut(policy) {
            *map = Arc::new(rates.into_iter().map(|(k, r)| (k, clamp_rate(r))).collect());
        }
    }

    /// Forgets every stratum rate of policy `policy` (its configured `rate` applies again).
    pub fn clear_stratum_rates(&mut self, policy: usize) {
        if let Some(map) = self.strata.get_mut(policy) {
            *map = Arc::default();
        }
    }

    /// How many stratum rates are set for policy `policy`.
    pub fn stratum_rate_count(&self, policy: usize) -> usize {
        self.strata.get(policy).map_or(0, |m| m.len())
    }

    /// Makes the table cover exactly `policies` policies (new ones at defaults).
    pub(crate) fn resize(&mut self, policies: usize) {
        self.multipliers.resize(policies, 1.0);
        self.strata.resize_with(policies, Arc::default);
    }
}

/// The table in force for one policy set, and each deciding thread's copy of it.
///
/// Why a thread's copy is never older than the table published before the stamp it read:
/// [`PublishedRates::publish`] stores the table, then bumps the stamp with `Release`; a reader
/// loads the stamp with `Acquire`. The bumps are read-modify-writes, so reading any stamp `s`
/// synchronizes with every bump up to `s`, and every table stored before those bumps happens
/// before the reader's next step: a `load_full` after reading `s` returns the table whose
/// publish made `s`, or a newer one, never an older one. A copy is kept with the stamp read
/// *before* loading it, and used only while the stamp still reads the same: the copy is at least
/// as new as that stamp's table. A publish whose bump is not yet seen has not finished (its
/// `publish` has not returned), and a decision reading the previous table then is like one in
/// flight when the table was swapped: it finishes with the old one.
pub(crate) struct PublishedRates {
    table: ArcSwap<PolicyRates>,
    /// How many tables were published after the first: bumped after each store.
    stamp: AtomicU64,
    /// Each thread's copy of the table, with the stamp read before loading it. `None` before a
    /// thread's first decision, and while it decides (see [`PublishedRates::with_current`]).
    copies: ThreadLocal<Cell<Option<ThreadCopy>>>,
}

/// A table as one thread loaded it, under the stamp it read first.
struct ThreadCopy {
    stamp: u64,
    table: Arc<PolicyRates>,
}

impl PublishedRates {
    /// Publishes `table` as the first table.
    pub(crate) fn new(table: PolicyRates) -> PublishedRates {
        PublishedRates {
            table: ArcSwap::from_pointee(table),
            stamp: AtomicU64::new(0),
            copies: ThreadLocal::new(),
        }
    }

    /// The table in force.
    pub(crate) fn load_full(&self) -> Arc<PolicyRates> {
        self.table.load_full()
    }

    /// Replaces the table in force; a thread's next decision uses the new one.
    pub(crate) fn publish(&self, table: PolicyRates) {
        self.table.store(Arc::new(table));
        self.stamp.fetch_add(1, Ordering::Release);
    }

    /// Runs `f` with the table in force: the calling thread's copy when still current (no
    /// locked instruction), else a fresh load that becomes its copy.
    pub(crate) fn with_current<R>(&self, f: impl FnOnce(&PolicyRates) -> R) -> R {
        let stamp = self.stamp.load(Ordering::Acquire);
        let slot = self.copies.get_or(|| Cell::new(None));
        // Taken out of the slot for `f` and put back after, rather than borrowed: a decision
        // nested in `f` on this thread (a policy deciding through its own set) finds the slot
        // empty and loads a table of its own, instead of panicking on a borrow.
        let copy = match slot.take() {
            Some(copy) if copy.stamp == stamp => copy,
            _ => ThreadCopy {
                stamp,
                table: self.table.load_full(),
            },
        };
        let result = f(&copy.table);
        slot.set(Some(copy));
        result
    }
}

/// Checks a configured keep `rate` (the key `rate` of policy `policy`): within `[0, 1]`.
pub(crate) fn validate_rate(policy: &str, rate: f64) -> Result<(), PolicyConfigError> {
    if (0.0..=1.0).contains(&rate) {
        return Ok(());
    }
    Err(PolicyConfigError::invalid(
        policy,
        "rate",
        format!("must be between 0 and 1 (e.g. 0.01 for 1%), got {rate}"),
    ))
}

/// A rate clamped into `[0, 1]`, NaN as 0.
pub(crate) fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_clamping() {
        let mut r = PolicyRates::new(2);
        assert_eq!(r.multiplier(0), 1.0);
        assert_eq!(r.multiplier(9), 1.0);
        r.set_multiplier(0, -3.0);
        r.set_multiplier(1, f64::NAN);
        r.set_multiplier(7, 0.5);
        assert_eq!((r.multiplier(0), r.multiplier(1)), (0.0, 0.0));
        r.set_stratum_rate(1, GroupKey(5), 1.5);
        assert_eq!(r.stratum_rate(1, GroupKey(5)), Some(1.0));
        assert_eq!(r.stratum_rate(0, GroupKey(5)), None);
        let copy = r.clone();
        r.set_stratum_rates(1, [(GroupKey(6), 0.25)]);
        assert_eq!(r.stratum_rate(1, GroupKey(5)), None);
        assert_eq!(
            copy.stratum_rate(1, GroupKey(5)),
            Some(1.0),
            "clones are independent"
        );
        r.clear_stratum_rates(1);
        assert_eq!(r.stratum_rate_count(1), 0);
    }

    fn with_multiplier(m: f64) -> PolicyRates {
        let mut r = PolicyRates::new(1);
        r.set_multiplier(0, m);
        r
    }

    #[test]
    fn a_decision_nested_in_one_on_the_same_thread_loads_its_own_table() {
        let published = PublishedRates::new(with_multiplier(0.1));
        let outer = published.with_current(|outer| {
            published.publish(with_multiplier(0.2));
            let inner = published.with_current(|inner| inner.multiplier(0));
            assert_eq!(inner, 0.2, "published before the nested decision began");
            outer.multiplier(0)
        });
        assert_eq!(outer, 0.1, "the outer decision finishes with its table");
        assert_eq!(published.with_current(|r| r.multiplier(0)), 0.2);
    }
}
