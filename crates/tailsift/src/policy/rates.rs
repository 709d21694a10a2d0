//! Controller hooks, inbound: the rates an adaptive controller publishes to a policy set.
//!
//! The controller retunes rates every interval while traces are being decided on other threads.
//! It must never make a decision wait, and a decision must never see half an update (the new
//! multiplier of one policy with the old stratum rates of another). So all rates live in one
//! immutable [`PolicyRates`] table, and publishing is one atomic pointer swap
//! ([`arc_swap::ArcSwap`]): a decision loads the table once (a few atomic operations, no lock)
//! and uses that table for every policy of the trace.
//!
//! The controller's loop is: `let mut r = (*set.rates()).clone();` change what it wants,
//! `set.publish_rates(r)`. Cloning is cheap: per-stratum maps are shared behind `Arc` until
//! changed.

use std::sync::Arc;

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
}
