//! The `[budget]` table: what the adaptive controller keeps kept output within.
//!
//! ```toml
//! [budget]
//! spans_per_second = 5000        # kept spans per second (optional)
//! bytes_per_second = "4MiB"      # kept bytes per second, by span size estimate (optional)
//! interval = "10s"               # how often rates are retuned
//! max_change = 0.2               # largest upward rate change per interval
//! floor_rate = 1e-4              # the lowest rate any policy gets
//!
//! [budget.policy.baseline]       # per-policy shares of the budget (optional)
//! min_share = 0.1
//! max_share = 0.5
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::controller::{ControlParams, Shares};

/// A policy's share limits, as fractions of the budget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareConfig {
    /// Budget reserved for this policy even when higher policies want it all. Default 0.
    #[serde(default)]
    pub min_share: Option<f64>,
    /// Most of the budget this policy may take. Default 1.
    #[serde(default)]
    pub max_share: Option<f64>,
}

/// The budget of kept output and the controller's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Kept spans per second. At least one of this and `bytes_per_second` is required.
    pub spans_per_second: Option<f64>,
    /// Kept bytes per second by span size estimate (`"4MiB"` or a number of bytes).
    pub bytes_per_second: Option<bytesize::ByteSize>,
    /// How often the controller retunes rates. Default 10s, at least 100ms.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Largest upward rate change per interval, as a fraction (0.2 = ×1.2). Downward changes
    /// larger than this happen only when kept output exceeds the budget by more than 10%.
    /// Default 0.2, in (0, 1].
    pub max_change: f64,
    /// The lowest rate any policy or stratum gets. Default 1e-4, in (0, 1].
    pub floor_rate: f64,
    /// Weight of the newest interval in the demand forecast (EMA). Default 0.5, in (0, 1].
    pub ema_weight: f64,
    /// A policy's demand above this multiple of its forecast retunes rates at once, without
    /// waiting for the interval's end. Default 2.0, more than 1.
    pub burst_factor: f64,
    /// Per-policy share limits, by policy name.
    #[serde(rename = "policy")]
    pub policies: BTreeMap<String, ShareConfig>,
}

impl Default for BudgetConfig {
    fn default() -> BudgetConfig {
        BudgetConfig {
            spans_per_second: None,
            bytes_per_second: None,
            interval: Duration::from_secs(10),
            max_change: 0.2,
            floor_rate: 1e-4,
            ema_weight: 0.5,
            burst_factor: 2.0,
            policies: BTreeMap::new(),
        }
    }
}

impl BudgetConfig {
    /// Every problem, as (key under `budget`, message); `policy_names` are the configured
    /// policies, which share entries must name.
    pub fn problems(&self, policy_names: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));
        match (self.spans_per_second, self.bytes_per_second) {
            (None, None) => bad(
                "spans_per_second",
                "or bytes_per_second is required: a budget needs at least one".into(),
            ),
            (Some(s), _) if !(s.is_finite() && s > 0.0) => bad(
                "spans_per_second",
                format!("must be a positive number, got {s}"),
            ),
            (_, Some(b)) if b.as_u64() == 0 => {
                bad("bytes_per_second", "must be more than 0 bytes".into())
            }
            _ => {}
        }
        if self.interval < Duration::from_millis(100) {
            bad(
                "interval",
                format!(
                    "must be at least 100ms, got {}",
                    humantime::format_duration(self.interval)
                ),
            );
        }
        let fraction = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        if !fraction(self.max_change) {
            bad(
                "max_change",
                format!("must be in (0, 1], got {}", self.max_change),
            );
        }
        if !fraction(self.floor_rate) {
            bad(
                "floor_rate",
                format!("must be in (0, 1], got {}", self.floor_rate),
            );
        }
        if !fraction(self.ema_weight) {
            bad(
                "ema_weight",
                format!("must be in (0, 1], got {}", self.ema_weight),
            );
        }
        if !(self.burst_factor.is_finite() && self.burst_factor > 1.0) {
            bad(
                "burst_factor",
                format!("must be more than 1, got {}", self.burst_factor),
            );
        }
        let mut min_total = 0.0;
        for (name, share) in &self.policies {
            if !policy_names.contains(&name.as_str()) {
                bad(
                    &format!("policy.{name}"),
                    format!(
                        "names no configured policy; configured: {}",
                        policy_names.join(", ")
                    ),
                );
            }
            for (key, v) in [
                ("min_share", share.min_share),
                ("max_share", share.max_share),
            ] {
                if let Some(v) = v {
                    if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                        bad(
                            &format!("policy.{name}.{key}"),
                            format!("must be in [0, 1], got {v}"),
                        );
                    }
                }
            }
            if let (Some(min), Some(max)) = (share.min_share, share.max_share) {
                if min > max {
                    bad(
                        &format!("policy.{name}.min_share"),
                        format!("must not exceed max_share ({max}), got {min}"),
                    );
                }
            }
            min_total += share.min_share.unwrap_or(0.0);
        }
        if min_total > 1.0 {
            bad(
                "policy",
                format!("min_share values add up to {min_total}, more than the whole budget (1)"),
            );
        }
        out
    }

    /// The controller's parameters.
    pub fn control_params(&self) -> ControlParams {
        ControlParams {
            spans_per_second: self.spans_per_second,
            bytes_per_second: self.bytes_per_second.map(|b| b.as_u64() as f64),
            interval_secs: self.interval.as_secs_f64(),
            max_change: self.max_change,
            floor_rate: self.floor_rate,
            ema_weight: self.ema_weight,
            burst_factor: self.burst_factor,
        }
    }

    /// The share limits of policy `name`.
    pub fn shares(&self, name: &str) -> Shares {
        self.policies
            .get(name)
            .map(|s| Shares {
                min_share: s.min_share.unwrap_or(0.0),
                max_share: s.max_share,
            })
            .unwrap_or_default()
    }
}
