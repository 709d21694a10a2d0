//! `representative`: a consistent, stratified probabilistic sample of everything.
//!
//! Errors and slow traces say what went wrong; a representative sample says what normal looks
//! like, and lets downstream counts be estimated (every kept trace carries its adjusted count,
//! 1 / rate). The sample is *consistent*: a trace is kept iff its shared randomness passes the
//! rate's threshold, the same rule every policy and every node applies, so the policy returns
//! `Keep { rate }` and lets `combine` decide.
//!
//! It is *stratified*: traces are put in strata (`group_by`, by default root service + root
//! name), each with its own rate — the configured `rate`, or one the adaptive controller sets per
//! stratum. A plain 1% sample would almost never show an endpoint called ten times an hour, so
//! `min_per_minute` sets a floor: a stratum seeing `n` traces a minute gets its rate raised to at
//! least `min_per_minute / n` (capped at 1). The floor raises the *rate*; it never forces a keep
//! past the rate, so adjusted counts stay exact: each trace is kept with exactly the probability
//! its adjusted count inverts, and that probability depends only on traces before it and on
//! this trace's stratum, never on its randomness (Horvitz-Thompson stays unbiased).
//!
//! `n` is estimated per stratum from two one-minute counters (a sliding-window estimate:
//! the previous minute's count weighted by how much of it is still inside the last 60 s, plus the
//! current minute's), on the time of the trace view. The number of strata is bounded
//! (`max_strata`); past it the stratum seen least recently is forgotten.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::group::{GroupBy, GroupKey, GroupTable};
use super::rates::{clamp_rate, validate_rate, PolicyRates, PublishedRates};
use super::stats::{StratumInterval, Volume};
use super::Policy;
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Default bound on strata per policy.
pub const DEFAULT_MAX_STRATA: usize = 1024;

const MINUTE: Duration = Duration::from_secs(60);

/// Parameters of a `representative` policy.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepresentativeConfig {
    /// Keep rate of every stratum, in `[0, 1]` (until the controller sets per-stratum rates).
    pub rate: f64,
    /// Floor: each stratum keeps at least this many traces a minute (on average), by raising its
    /// rate. Default 0 (no floor).
    #[serde(default)]
    pub min_per_minute: f64,
    /// How traces are stratified. Default `["service.name", "root.name"]`.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Most strata tracked; the coldest is forgotten past it. Default 1,024.
    #[serde(default)]
    pub max_strata: Option<usize>,
}

impl RepresentativeConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        validate_rate(policy, self.rate)?;
        if !(self.min_per_minute >= 0.0 && self.min_per_minute.is_finite()) {
            return Err(PolicyConfigError::invalid(
                policy,
                "min_per_minute",
                format!(
                    "must be a number of traces >= 0, got {}",
                    self.min_per_minute
                ),
            ));
        }
        if let Some(keys) = &self.group_by {
            GroupBy::new(keys).map_err(|m| PolicyConfigError::invalid(policy, "group_by", m))?;
        }
        if self.max_strata == Some(0) {
            return Err(PolicyConfigError::invalid(
                policy,
                "max_strata",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// One stratum's state.
struct Stratum {
    label: Str,
    window_start: Duration,
    current: u64,
    previous: u64,
    matched: Volume,
    rate: f64,
}

impl Stratum {
    /// Counts one trace at `now`.
    fn count(&mut self, now: Duration) {
        if now >= self.window_start + MINUTE {
            self.previous = if now < self.window_start + 2 * MINUTE {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.window_start = if self.previous > 0 {
                self.window_start + MINUTE
            } else {
                now
            };
        }
        self.current += 1;
    }

    /// The estimated traces per minute at `now` (after [`Stratum::count`]): the previous
    /// minute's count weighted by how much of it is still inside the last 60 s, plus the
    /// current minute's.
    fn per_minute(&self, now: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.window_start).as_secs_f64() / 60.0;
        self.previous as f64 * (1.0 - elapsed.clamp(0.0, 1.0)) + self.current as f64
    }
}

/// The controller's table, and this policy's index in it.
struct ControllerSlot {
    rates: Arc<PublishedRates>,
    index: usize,
}

/// A stratified, consistent probabilistic sample.
pub struct RepresentativePolicy {
    name: Str,
    rate: f64,
    min_per_minute: f64,
    group_by: GroupBy,
    strata: GroupTable<Stratum>,
    controller: Option<ControllerSlot>,
}

impl RepresentativePolicy {
    /// A `representative` policy named `name`, at its configured rates.
    pub fn new(
        name: &str,
        config: &RepresentativeConfig,
    ) -> Result<RepresentativePolicy, PolicyConfigError> {
        config.validate(name)?;
        let group_by = match &config.group_by {
            Some(keys) => {
                GroupBy::new(keys).map_err(|m| PolicyConfigError::invalid(name, "group_by", m))?
            }
            None => GroupBy::root_operation(),
        };
        Ok(RepresentativePolicy {
            name: super::name_str(name),
            rate: config.rate,
            min_per_minute: config.min_per_minute,
            group_by,
            strata: GroupTable::new(config.max_strata.unwrap_or(DEFAULT_MAX_STRATA)),
            controller: None,
        })
    }

    /// Reads controller rates from `rates`, at position `index`.
    pub(crate) fn attach(&mut self, rates: Arc<PublishedRates>, index: usize) {
        self.controller = Some(ControllerSlot { rates, index });
    }

    /// The trace's stratum.
    pub fn stratum(&self, trace: &TraceView<'_>) -> GroupKey {
        self.group_by.key(trace)
    }

    /// How many strata are tracked.
    pub fn strata_count(&self) -> usize {
        self.strata.len()
    }

    /// How many strata were forgotten to stay within `max_strata`.
    pub fn evicted_strata(&self) -> u64 {
        self.strata.evicted()
    }

    /// Whether strata are the default groups (root service + root name), whose key the policy
    /// set computes once per trace for the latency baseline too.
    pub(crate) fn groups_by_root_operation(&self) -> bool {
        self.group_by.is_root_operation()
    }

    /// The verdict with the controller's table `rates` (taken once per trace by the policy set)
    /// for a trace of `bytes` bytes whose stratum is `key` (from [`RepresentativePolicy::stratum`]).
    pub(crate) fn decide_with(
        &self,
        trace: &TraceView<'_>,
        rates: Option<&PolicyRates>,
        bytes: u64,
        key: GroupKey,
    ) -> Verdict {
        let base = match (&self.controller, rates) {
            (Some(slot), Some(r)) => {
                r.stratum_rate(slot.index, key).unwrap_or(self.rate) * r.multiplier(slot.index)
            }
            _ => self.rate,
        };
        let now = trace.now();
        let volume = Volume::trace(trace.spans().len() as u64, bytes);
        let rate = self.strata.with(
            key,
            now,
            || Stratum {
                label: Str::from(self.group_by.label(trace)),
                window_start: now,
                current: 0,
                previous: 0,
                matched: Volume::default(),
                rate: 0.0,
            },
            |s| {
                s.count(now);
                // The estimate only matters under a floor: no float work without one.
                let floor = if self.min_per_minute > 0.0 {
                    self.min_per_minute / s.per_minute(now).max(1.0)
                } else {
                    0.0
                };
                s.matched += volume;
                s.rate = clamp_rate(base.max(floor));
                s.rate
            },
        );
        Verdict::keep_at(self.name.clone(), rate)
    }

    /// Each stratum's counts since the last drain (sorted by key), resetting them.
    pub(crate) fn drain_strata(&self) -> Vec<StratumInterval> {
        let mut out = Vec::new();
        self.strata.for_each(|key, s| {
            out.push(StratumInterval {
                key,
                label: s.label.clone(),
                matched: std::mem::take(&mut s.matched),
                rate: s.rate,
            })
        });
        out.sort_by_key(|s| s.key);
        out
    }
}

impl Policy for RepresentativePolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let bytes = trace.bytes();
        let key = self.stratum(trace);
        Ok(match &self.controller {
            Some(c) => c
                .rates
                .with_current(|rates| self.decide_with(trace, Some(rates), bytes, key)),
            None => self.decide_with(trace, None, bytes, key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{KeyValue, Origin, Resource, Scope, Span, SpanId, TraceId};
    use crate::view::TraceFlags;

    fn root(service: &str) -> Vec<Span> {
        vec![Span {
            span_id: SpanId::from_u64(1),
            name: "op".into(),
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

    fn rate_of(policy: &RepresentativePolicy, spans: &[Span], now: Duration) -> f64 {
        let view = TraceView::new(TraceId::from_u128(1), spans, TraceFlags::default(), now);
        match policy.evaluate(&view).unwrap() {
            Verdict::Keep { rate, .. } => rate,
            other => panic!("representative always matches, got {other:?}"),
        }
    }

    #[test]
    fn without_floor_every_stratum_gets_the_configured_rate() {
        let config = RepresentativeConfig {
            rate: 0.01,
            ..RepresentativeConfig::default()
        };
        let p = RepresentativePolicy::new("baseline", &config).unwrap();
        assert_eq!(rate_of(&p, &root("a"), Duration::ZERO), 0.01);
        assert_eq!(
            rate_of(&p, &[], Duration::ZERO),
            0.01,
            "rootless traces too"
        );
        assert_eq!(p.strata_count(), 2);
    }

    #[test]
    fn floor_raises_the_rate_of_a_rare_stratum() {
        let config = RepresentativeConfig {
            rate: 0.01,
            min_per_minute: 2.0,
            ..RepresentativeConfig::default()
        };
        let p = RepresentativePolicy::new("baseline", &config).unwrap();
        // A busy stratum: 1,000 traces in the first minute, then steady.
        let (busy, rare) = (root("busy"), root("rare"));
        for i in 0..2000u64 {
            rate_of(&p, &busy, Duration::from_millis(i * 60));
        }
        let t = Duration::from_secs(120);
        assert_eq!(rate_of(&p, &busy, t), 0.01, "1,000/min needs no floor");
        // The rare stratum's first trace of the minute: 2 / 1 → rate 1.
        assert_eq!(rate_of(&p, &rare, t), 1.0);
        // Ten a minute: 2 / 10 = 0.2, far above 1%.
        for s in 1..=9 {
            rate_of(&p, &rare, t + Duration::from_secs(s));
        }
        let r = rate_of(&p, &rare, t + Duration::from_secs(59));
        assert!((0.15..=0.25).contains(&r), "rare rate {r}");
        let drained = p.drain_strata();
        assert_eq!(drained.len(), 2);
        let rare_stats = drained.iter().find(|s| &*s.label == "rare|op").unwrap();
        assert_eq!(rare_stats.matched.traces, 11);
        assert!(p.drain_strata().iter().all(|s| s.matched.traces == 0));
    }

    #[test]
    fn controller_rates_replace_the_configured_rate_and_the_floor_wins_last() {
        let config = RepresentativeConfig {
            rate: 0.5,
            min_per_minute: 1.0,
            ..RepresentativeConfig::default()
        };
        let mut p = RepresentativePolicy::new("baseline", &config).unwrap();
        let spans = root("a");
        let view = TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        let key = p.stratum(&view);
        let mut rates = PolicyRates::new(1);
        rates.set_stratum_rate(0, key, 0.2);
        rates.set_multiplier(0, 0.5);
        p.attach(Arc::new(PublishedRates::new(rates)), 0);
        // First trace: the floor (1 per minute, 1 seen) gives 1.
        assert_eq!(rate_of(&p, &spans, Duration::ZERO), 1.0);
        for i in 1..100 {
            rate_of(&p, &spans, Duration::from_millis(i * 100));
        }
        let r = rate_of(&p, &spans, Duration::from_secs(10));
        assert!(
            (r - 0.1).abs() < 1e-12,
            "0.2 x 0.5 above a 1/101 floor, got {r}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let e = RepresentativeConfig {
            rate: 2.0,
            ..RepresentativeConfig::default()
        }
        .validate("baseline")
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("policy `baseline`")
                && e.contains("`rate`")
                && e.contains("between 0 and 1"),
            "{e}"
        );
        let e = RepresentativeConfig {
            rate: 0.1,
            min_per_minute: -1.0,
            ..RepresentativeConfig::default()
        }
        .validate("baseline")
        .unwrap_err()
        .to_string();
        assert!(e.contains("`min_per_minute`"), "{e}");
    }
}
