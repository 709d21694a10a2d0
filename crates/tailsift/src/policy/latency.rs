//! `latency`: keep traces that were slow — slow for what they are.
//!
//! A fixed threshold (`threshold = "500ms"`) is what other samplers offer, and tailsift has it
//! too. But 500 ms is fast for a report export and very slow for a cache read, so by default the
//! policy compares a trace's duration with a quantile (p95) of the recent durations of its own
//! group (root service + root span name, or `group_by`): "the slowest 5% of checkouts", whatever
//! a checkout normally costs. Quantiles come from a windowed DDSketch per group
//! ([`crate::sketch`]), so the baseline follows traffic within `window`.
//!
//! Every trace updates its group's baseline, kept or not, and is compared with the baseline
//! *before* it was added. Until a group has seen `min_samples` traces its quantile means little,
//! so `fallback_threshold` applies (none: abstain).
//!
//! Inside a `PolicySet`, a latency policy with the default grouping and window shares the set's
//! baseline — the one it attaches to every view for CEL and WASM policies — so the work is done
//! once per trace; the set records the trace after all policies ran.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::group::GroupBy;
use super::Policy;
use crate::sketch::{BaselineConfig, GroupedSketches};
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::{Baseline, TraceView};
use crate::PolicyError;

/// Default quantile of the relative mode.
pub const DEFAULT_QUANTILE: f64 = 0.95;
/// Default traces a group needs before its quantile is trusted.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;

/// Parameters of a `latency` policy. Either `threshold` (absolute mode) or the relative keys.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// Absolute mode: keep traces lasting at least this long (`"500ms"`).
    #[serde(default, with = "humantime_serde::option")]
    pub threshold: Option<Duration>,
    /// Relative mode: keep traces longer than this quantile of their group, in (0, 1).
    /// Default 0.95.
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Relative mode: how traces are grouped. Default `["service.name", "root.name"]`; other
    /// keys read the root span's attribute, then its resource's.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Relative mode: traces a group needs before its quantile applies. Default 100.
    #[serde(default)]
    pub min_samples: Option<u64>,
    /// Relative mode: the absolute threshold used until `min_samples`; none = abstain.
    #[serde(default, with = "humantime_serde::option")]
    pub fallback_threshold: Option<Duration>,
    /// Relative mode: how far back the baseline looks. Default 5 minutes.
    #[serde(default, with = "humantime_serde::option")]
    pub window: Option<Duration>,
    /// Relative mode: most groups tracked; the coldest is forgotten past it. Default 1,024.
    #[serde(default)]
    pub max_groups: Option<usize>,
}

impl LatencyConfig {
    /// An absolute-mode config.
    pub fn absolute(threshold: Duration) -> LatencyConfig {
        LatencyConfig {
            threshold: Some(threshold),
            ..LatencyConfig::default()
        }
    }

    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        let bad = |key: &str, msg: &str| Err(PolicyConfigError::invalid(policy, key, msg));
        if let Some(t) = self.threshold {
            let relative = [
                ("quantile", self.quantile.is_some()),
                ("group_by", self.group_by.is_some()),
                ("min_samples", self.min_samples.is_some()),
                ("fallback_threshold", self.fallback_threshold.is_some()),
                ("window", self.window.is_some()),
                ("max_groups", self.max_groups.is_some()),
            ];
            if let Some((key, _)) = relative.iter().find(|(_, set)| *set) {
                return bad(
                    key,
                    "belongs to the relative mode and cannot be combined with `threshold` \
                     (absolute mode); remove one of them",
                );
            }
            if t.is_zero() {
                return bad("threshold", "must be greater than zero (e.g. \"500ms\")");
            }
            return Ok(());
        }
        if let Some(q) = self.quantile {
            if !(q > 0.0 && q < 1.0) {
                return Err(PolicyConfigError::invalid(
                    policy,
                    "quantile",
                    format!("must be strictly between 0 and 1 (e.g. 0.95), got {q}"),
                ));
            }
        }
        if let Some(keys) = &self.group_by {
            GroupBy::new(keys).map_err(|m| PolicyConfigError::invalid(policy, "group_by", m))?;
        }
        if self.window.is_some_and(|w| w < Duration::from_secs(1)) {
            return bad("window", "must be at least 1s (e.g. \"5m\")");
        }
        if self.max_groups == Some(0) {
            return bad("max_groups", "must be at least 1");
        }
        if self.fallback_threshold == Some(Duration::ZERO) {
            return bad(
                "fallback_threshold",
                "must be greater than zero (or left out to abstain)",
            );
        }
        Ok(())
    }

    fn baseline_config(&self) -> BaselineConfig {
        let default = BaselineConfig::default();
        BaselineConfig {
            window: self.window.unwrap_or(default.window),
            max_groups: self.max_groups.unwrap_or(default.max_groups),
            ..default
        }
    }

    fn group_by(&self) -> GroupBy {
        self.group_by
            .as_deref()
            .and_then(|keys| GroupBy::new(keys).ok())
            .unwrap_or_default()
    }

    /// Whether this policy can read the policy set's shared baseline (configured with
    /// `shared`): relative mode, default grouping, same window and bound.
    pub(crate) fn shares(&self, shared: &BaselineConfig) -> bool {
        self.threshold.is_none()
            && self.group_by().is_root_operation()
            && self.baseline_config() == *shared
    }
}

/// Keeps slow traces.
pub struct LatencyPolicy {
    name: Str,
    mode: Mode,
}

enum Mode {
    Absolute(Duration),
    Relative(Relative),
}

struct Relative {
    quantile: f64,
    min_samples: u64,
    fallback: Option<Duration>,
    group_by: GroupBy,
    baselines: Arc<GroupedSketches>,
    /// Whether this policy adds traces to `baselines` itself (false when the policy set does).
    records: bool,
}

impl LatencyPolicy {
    /// A `latency` policy with its own baselines.
    pub fn new(name: &str, config: &LatencyConfig) -> Result<LatencyPolicy, PolicyConfigError> {
        Self::build(name, config, None)
    }

    /// A relative-mode policy reading `shared` baselines, which the caller keeps up to date.
    pub(crate) fn with_shared(
        name: &str,
        config: &LatencyConfig,
        shared: Arc<GroupedSketches>,
    ) -> Result<LatencyPolicy, PolicyConfigError> {
        Self::build(name, config, Some(shared))
    }

    fn build(
        name: &str,
        config: &LatencyConfig,
        shared: Option<Arc<GroupedSketches>>,
    ) -> Result<LatencyPolicy, PolicyConfigError> {
        config.validate(name)?;
        let mode = match config.threshold {
            Some(t) => Mode::Absolute(t),
            None => Mode::Relative(Relative {
                quantile: config.quantile.unwrap_or(DEFAULT_QUANTILE),
                min_samples: config.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
                fallback: config.fallback_threshold,
                group_by: config.group_by(),
                records: shared.is_none(),
                baselines: shared
                    .unwrap_or_else(|| Arc::new(GroupedSketches::new(config.baseline_config()))),
            }),
        };
        Ok(LatencyPolicy {
            name: super::name_str(name),
            mode,
        })
    }

    /// The baselines this policy compares with (`None` in absolute mode).
    pub fn baselines(&self) -> Option<&Arc<GroupedSketches>> {
        match &self.mode {
            Mode::Relative(r) => Some(&r.baselines),
            Mode::Absolute(_) => None,
        }
    }
}

impl Relative {
    /// The group's quantile before this trace, and the group's sample count.
    fn threshold(&self, trace: &TraceView<'_>) -> (Option<Duration>, u64) {
        let now = trace.now();
        let mut out = [None];
        if self.records {
            let key = self.group_by.key(trace);
            let samples =
                self.baselines
                    .observe(key, now, trace.duration(), &[self.quantile], &mut out);
            return (out[0], samples);
        }
        // Shared: the set attached p50/p95/p99 of this very group before any policy ran, and
        // attaches nothing while the group has no samples.
        let attached = |b: Baseline| {
            let q = self.quantile;
            if q == 0.5 {
                Some(b.p50)
            } else if q == 0.95 {
                Some(b.p95)
            } else if q == 0.99 {
                Some(b.p99)
            } else {
                None
            }
        };
        if [0.5, 0.95, 0.99].contains(&self.quantile) {
            return match trace.baseline() {
                Some(b) => (attached(b), b.samples),
                None => (None, 0),
            };
        }
        // Another quantile of the shared baseline: read (not learned: the set learns it).
        let key = self.group_by.key(trace);
        let samples = self
            .baselines
            .quantiles(key, now, &[self.quantile], &mut out);
        (out[0], samples)
    }
}

impl Policy for LatencyPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let duration = trace.duration();
        let slow = match &self.mode {
            Mode::Absolute(t) => duration >= *t,
            Mode::Relative(r) => match r.threshold(trace) {
                (Some(q), samples) if samples >= r.min_samples => duration > q,
                _ => r.fallback.is_some_and(|t| duration >= t),
            },
        };
        Ok(if slow {
            Verdict::keep(self.name.clone())
        } else {
            Verdict::Abstain
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{KeyValue, Origin, Resource, Scope, Span, SpanId, TraceId};
    use crate::view::TraceFlags;

    fn trace(service: &str, millis: u64) -> Vec<Span> {
        vec![Span {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(1),
            name: "GET /".into(),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 1_000 + millis * 1_000_000,
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::new("service.name", service)],
                    ..Resource::default()
                }),
                scope: Scope::default(),
            }),
            ..Span::default()
        }]
    }

    fn keeps(policy: &LatencyPolicy, spans: &[Span], now: Duration) -> bool {
        let view = TraceView::new(TraceId::from_u128(1), spans, TraceFlags::default(), now);
        matches!(policy.evaluate(&view).unwrap(), Verdict::Keep { .. })
    }

    #[test]
    fn absolute_mode_keeps_at_or_above_the_threshold() {
        let p = LatencyPolicy::new("slow", &LatencyConfig::absolute(Duration::from_millis(500)))
            .unwrap();
        let now = Duration::ZERO;
        assert!(keeps(&p, &trace("a", 500), now));
        assert!(keeps(&p, &trace("a", 900), now));
        assert!(!keeps(&p, &trace("a", 499), now));
        assert!(!keeps(&p, &[], now));
        assert!(p.baselines().is_none());
    }

    #[test]
    fn fallback_applies_until_min_samples_then_the_quantile() {
        let config = LatencyConfig {
            min_samples: Some(100),
            fallback_threshold: Some(Duration::from_millis(500)),
            ..LatencyConfig::default()
        };
        let p = LatencyPolicy::new("slow", &config).unwrap();
        let now = Duration::from_secs(1);
        // Before 100 samples: 300 ms is below the fallback, 600 ms above.
        assert!(!keeps(&p, &trace("a", 300), now));
        assert!(keeps(&p, &trace("a", 600), now));
        // Fill the group with 10..=1000 ms (p95 ≈ 950 ms).
        for i in 1..=100 {
            keeps(&p, &trace("a", i * 10), now);
        }
        assert!(!keeps(&p, &trace("a", 600), now), "600 ms is now ordinary");
        assert!(!keeps(&p, &trace("a", 930), now));
        assert!(keeps(&p, &trace("a", 990), now));
        // Another group has its own baseline, still on the fallback.
        assert!(keeps(&p, &trace("b", 600), now));
    }

    #[test]
    fn no_fallback_abstains_until_min_samples() {
        let config = LatencyConfig {
            min_samples: Some(3),
            ..LatencyConfig::default()
        };
        let p = LatencyPolicy::new("slow", &config).unwrap();
        let now = Duration::ZERO;
        for _ in 0..3 {
            assert!(!keeps(&p, &trace("a", 10_000), now));
        }
        assert!(!keeps(&p, &trace("a", 10_000), now), "equal is not above");
        assert!(keeps(&p, &trace("a", 20_000), now));
    }

    #[test]
    fn custom_groups_read_root_attributes() {
        let config = LatencyConfig {
            group_by: Some(vec!["tenant".into()]),
            min_samples: Some(1),
            quantile: Some(0.5),
            ..LatencyConfig::default()
        };
        let p = LatencyPolicy::new("slow", &config).unwrap();
        let mut fast = trace("a", 10);
        fast[0].push_attribute(KeyValue::new("tenant", "t1"));
        let mut slow = trace("a", 1000);
        slow[0].push_attribute(KeyValue::new("tenant", "t2"));
        let now = Duration::ZERO;
        keeps(&p, &fast, now);
        keeps(&p, &slow, now);
        // t2's baseline is 1000 ms: 500 ms is fast there even though t1 is at 10 ms.
        let mut mid = trace("a", 500);
        mid[0].push_attribute(KeyValue::new("tenant", "t2"));
        assert!(!keeps(&p, &mid, now));
        mid[0].attributes[0] = KeyValue::new("tenant", "t1");
        assert!(keeps(&p, &mid, now));
    }

    #[test]
    fn validation_names_the_key_and_the_rule() {
        let err = |c: LatencyConfig| c.validate("slow").unwrap_err().to_string();
        let e = err(LatencyConfig {
            quantile: Some(1.5),
            ..LatencyConfig::default()
        });
        assert!(
            e.contains("`quantile`") && e.contains("between 0 and 1"),
            "{e}"
        );
        let e = err(LatencyConfig {
            quantile: Some(0.9),
            ..LatencyConfig::absolute(Duration::from_millis(1))
        });
        assert!(e.contains("`quantile`") && e.contains("threshold"), "{e}");
        let e = err(LatencyConfig::absolute(Duration::ZERO));
        assert!(e.contains("`threshold`"), "{e}");
        let e = err(LatencyConfig {
            group_by: Some(vec![String::new()]),
            ..LatencyConfig::default()
        });
        assert!(e.contains("`group_by`"), "{e}");
    }
}
