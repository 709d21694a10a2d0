//! The `mission` workload: the demo's traffic, a shop of a dozen microservices.
//!
//! What it exercises, and why:
//! - **Root operations of very different volumes** (health checks and page views by the
//!   thousand, checkouts by the dozen, invoices and the admin reindex a handful of times), so a
//!   sampler that is not stratified loses the rare ones.
//! - **Error bursts**: windows in which one service fails often (ERROR status, HTTP 5xx or gRPC
//!   13, an `exception` event), with failures passed up to callers; plus a low background error
//!   rate everywhere.
//! - **Slow outliers**: a few percent of traces have one synchronous dependency that stalls for
//!   about a second.
//! - **The critical checkout path**: `checkout:PlaceOrder` → `payment:Charge` →
//!   `payment:ChargeCard`, `shipping:Quote` ([`crate::CRITICAL_OPERATIONS`]).
//! - **A traffic surge**: the trace rate ramps to `surge_factor` times the base rate in the
//!   middle of the run (from 40% to 60% of it, with 5% ramps at both ends).
//! - **Late spans**: a queue consumer sometimes picks its message up seconds to minutes later,
//!   so its spans arrive long after the trace's root.
//! - **Malformed spans**, behind a flag: zero trace ids and spans that end before they start.
//!
//! Trace starts follow a Poisson process whose rate is scaled so that the run averages
//! `spans_per_second`.

use std::time::Duration;

use tailsift::{Interner, Span, SpanId, Str, TraceId, Value};

use crate::calltree::{CallTree, TracePlan};
use crate::catalog::Catalog;
use crate::random::Draw;
use crate::services::SERVICES;
use crate::stream::{BuiltTrace, Stream, Timeline, TraceSource};
use crate::values::SpanValues;
use crate::{ConfigError, Traffic};

/// Services that error bursts hit, in the order a seed picks from.
const BURST_SERVICES: &[&str] = &[
    "payment",
    "cart",
    "currency",
    "recommendation",
    "shipping",
    "catalog",
    "inventory",
    "auth",
    "ad",
];

/// Where the surge starts and ends, and how long its ramps last, as fractions of the run.
const SURGE_START: f64 = 0.40;
const SURGE_END: f64 = 0.60;
const SURGE_RAMP: f64 = 0.05;

/// Configuration of the `mission` workload.
#[derive(Clone, Debug, PartialEq)]
pub struct MissionConfig {
    /// Seed of every random choice. Default 42.
    pub seed: u64,
    /// Simulated time during which traces start. Late spans arrive after it. Default 60 s.
    pub duration: Duration,
    /// Average spans per second of simulated time over the whole run, surge included. Must be
    /// positive and finite. Default 5,000.
    pub spans_per_second: f64,
    /// Whether the run has a traffic surge in its middle. Default true.
    pub surge: bool,
    /// Peak trace rate during the surge, as a multiple of the base rate. At least 1. Default 4.
    pub surge_factor: f64,
    /// Whether the run has error bursts. Default true.
    pub error_bursts: bool,
    /// One error burst per this much simulated time (at least one per run when bursts are
    /// on), each lasting 15–35% of its share of the run. Default 20 s.
    pub burst_every: Duration,
    /// Probability that any span fails on its own, outside bursts. Default 0.001.
    pub background_error_rate: f64,
    /// Fraction of traces with one slow synchronous dependency (about a second more).
    /// Default 0.03.
    pub slow_outlier_fraction: f64,
    /// Probability that a queue consumer picks its message up late (3 s to 2 min, median
    /// 15 s), so its spans arrive long after the root. Default 0.05.
    pub late_consumer_fraction: f64,
    /// Whether to mix in malformed spans (zero trace id; end before start). Default false.
    pub malformed_spans: bool,
    /// With `malformed_spans`, the probability per trace of one malformed span alongside it.
    /// Default 0.002.
    pub malformed_fraction: f64,
    /// Timeline and batching.
    pub timeline: Timeline,
    /// How the spans hold their string values. Default [`SpanValues::Shared`].
    pub values: SpanValues,
}

impl Default for MissionConfig {
    fn default() -> MissionConfig {
        MissionConfig {
            seed: 42,
            duration: Duration::from_secs(60),
            spans_per_second: 5_000.0,
            surge: true,
            surge_factor: 4.0,
            error_bursts: true,
            burst_every: Duration::from_secs(20),
            background_error_rate: 0.001,
            slow_outlier_fraction: 0.03,
            late_consumer_fraction: 0.05,
            malformed_spans: false,
            malformed_fraction: 0.002,
            timeline: Timeline::default(),
            values: SpanValues::Shared,
        }
    }
}

/// A window of simulated time during which one service fails often.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBurst {
    /// The failing service's `service.name`.
    pub service: &'static str,
    /// When the burst starts, since the simulation start.
    pub start: Duration,
    /// When it ends.
    pub end: Duration,
    /// Probability that a span of the service fails on its own during the burst.
    pub error_rate: f64,
}

impl ErrorBurst {
    /// Whether the burst covers `at`.
    pub fn covers(&self, at: Duration) -> bool {
        self.start <= at && at < self.end
    }
}

fn fraction(name: &str, value: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "mission {name} must be between 0 and 1, got {value}"
        )))
    }
}

impl MissionConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.duration.is_zero() {
            return Err(ConfigError::Invalid(
                "mission duration must be positive, got 0s".into(),
            ));
        }
        if !(self.spans_per_second.is_finite() && self.spans_per_second > 0.0) {
            return Err(ConfigError::Invalid(format!(
                "mission spans_per_second must be positive and finite, got {}",
                self.spans_per_second
            )));
        }
        if !(self.surge_factor.is_finite() && self.surge_factor >= 1.0) {
            return Err(ConfigError::Invalid(format!(
                "mission surge_factor must be at least 1, got {}",
                self.surge_factor
            )));
        }
        if self.error_bursts && self.burst_every.is_zero() {
            return Err(ConfigError::Invalid(
                "mission burst_every must be positive when error_bursts is on, got 0s".into(),
            ));
        }
        fraction("background_error_rate", self.background_error_rate)?;
        fraction("slow_outlier_fraction", self.slow_outlier_fraction)?;
        fraction("late_consumer_fraction", self.late_consumer_fraction)?;
        fraction("malformed_fraction", self.malformed_fraction)?;
        crate::validate_timeline(&self.timeline)
    }

    /// The workload as a stream of batches in arrival order.
    pub fn traffic(&self) -> Result<Traffic, ConfigError> {
        self.validate()?;
        Ok(Traffic::mission(Stream::new(
            MissionSource::new(self),
            &self.timeline,
        )))
    }

    /// The run's error bursts, in time order: a function of the seed and the duration only.
    pub fn error_burst_schedule(&self) -> Vec<ErrorBurst> {
        if !self.error_bursts || self.burst_every.is_zero() {
            return Vec::new();
        }
        // Its own stream of randomness, so the schedule does not shift with other settings.
        let mut draw = Draw::new(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        let run = self.duration.as_secs_f64();
        let count = ((run / self.burst_every.as_secs_f64()) as usize).max(1);
        let share = run / count as f64;
        (0..count)
            .map(|k| {
                let length = share * (0.15 + 0.20 * draw.unit());
                let offset = (share - length) * (0.1 + 0.8 * draw.unit());
                let start = share * k as f64 + offset;
                ErrorBurst {
                    service: BURST_SERVICES[draw.index(BURST_SERVICES.len())],
                    start: Duration::from_secs_f64(start),
                    end: Duration::from_secs_f64(start + length),
                    error_rate: 0.3 + 0.3 * draw.unit(),
                }
            })
            .collect()
    }

    /// The trace rate at `fraction` of the run, as a multiple of the base rate.
    fn rate_multiplier(&self, fraction: f64) -> f64 {
        if !self.surge {
            return 1.0;
        }
        let peak = self.surge_factor;
        let ramp_up_end = SURGE_START + SURGE_RAMP;
        let ramp_down_start = SURGE_END - SURGE_RAMP;
        if !(SURGE_START..SURGE_END).contains(&fraction) {
            1.0
        } else if fraction < ramp_up_end {
            1.0 + (peak - 1.0) * (fraction - SURGE_START) / SURGE_RAMP
        } else if fraction < ramp_down_start {
            peak
        } else {
            1.0 + (peak - 1.0) * (SURGE_END - fraction) / SURGE_RAMP
        }
    }

    /// The run's average of [`MissionConfig::rate_multiplier`].
    fn mean_rate_multiplier(&self) -> f64 {
        if !self.surge {
            return 1.0;
        }
        // The plateau at full height, the two ramps at half.
        let plateau = SURGE_END - SURGE_START - 2.0 * SURGE_RAMP;
        1.0 + (self.surge_factor - 1.0) * (plateau + SURGE_RAMP)
    }
}

/// Makes mission traces.
pub(crate) struct MissionSource {
    config: MissionConfig,
    draw: Draw,
    catalog: Catalog,
    tree: CallTree,
    bursts: Vec<ErrorBurst>,
    /// Catalog index of each burst's service, parallel to `bursts`.
    burst_services: Vec<usize>,
    /// Simulated nanoseconds of the latest trace start.
    clock: f64,
    duration_nanos: f64,
    /// Traces per nanosecond before the surge multiplier.
    base_rate: f64,
    malformed_made: u64,
    malformed_name: Str,
    /// Where [`SpanValues::Immortal`] values are made immortal (one copy per distinct value).
    interner: Interner,
}

impl MissionSource {
    fn new(config: &MissionConfig) -> MissionSource {
        let catalog = Catalog::build();
        let mean_spans = catalog.mean_spans_per_trace();
        let traces_per_second =
            config.spans_per_second / (mean_spans * config.mean_rate_multiplier());
        let bursts = config.error_burst_schedule();
        let burst_services = bursts
            .iter()
            .map(|b| {
                SERVICES
                    .iter()
                    .position(|&(name, _)| name == b.service)
                    .unwrap_or(0)
            })
            .collect();
        MissionSource {
            config: config.clone(),
            draw: Draw::new(config.seed),
            catalog,
            tree: CallTree::default(),
            bursts,
            burst_services,
            clock: 0.0,
            duration_nanos: config.duration.as_nanos() as f64,
            base_rate: traces_per_second / 1e9,
            malformed_made: 0,
            malformed_name: "GET /api/products/{id}".into(),
            interner: Interner::default(),
        }
    }

    pub(crate) fn error_bursts(&self) -> &[ErrorBurst] {
        &self.bursts
    }

    fn user_tier(&mut self) -> Value {
        let keys = &self.catalog.keys;
        let roll = self.draw.unit();
        if roll < 0.04 {
            keys.premium.clone()
        } else if roll < 0.60 {
            keys.standard.clone()
        } else {
            keys.free.clone()
        }
    }

    /// One malformed span near `start`: alternately a zero trace id and an end before start.
    fn malformed_span(&mut self, start: u64, out: &mut BuiltTrace) {
        let epoch = self.config.timeline.epoch_unix_nanos;
        let zero_trace_id = self.malformed_made % 2 == 0;
        self.malformed_made += 1;
        let service = &self.catalog.services[0];
        let (trace_id, start_time, end_time) = if zero_trace_id {
            (TraceId::INVALID, epoch + start, epoch + start + 1_000_000)
        } else {
            // A clock that jumped backwards mid-span.
            let trace_id = self.draw.trace_id();
            (trace_id, epoch + start + 1_000_000, epoch + start)
        };
        let span = Span {
            trace_id,
            span_id: self.draw.span_id(),
            parent_span_id: SpanId::INVALID,
            name: self.malformed_name.clone(),
            start_time_unix_nano: start_time,
            end_time_unix_nano: end_time,
            origin: service.origin.clone(),
            ..Span::default()
        };
        out.malformed.push((start + 1_000_000, span));
    }
}

impl TraceSource for MissionSource {
    fn next_start(&mut self) -> Option<u64> {
        let fraction = self.clock / self.duration_nanos;
        let rate = self.base_rate * self.config.rate_multiplier(fraction);
        self.clock += self.draw.exponential(1.0 / rate);
        (self.clock < self.duration_nanos).then_some(self.clock as u64)
    }

    fn build(&mut self, start: u64, out: &mut BuiltTrace) {
        let at = Duration::from_nanos(start);
        let burst = self
            .bursts
            .iter()
            .position(|b| b.covers(at))
            .map(|i| (self.burst_services[i], self.bursts[i].error_rate));
        let plan = TracePlan {
            root: self.catalog.pick_root(self.draw.unit()),
            start,
            burst,
            background_error_rate: self.config.background_error_rate,
            slow_outlier: self.draw.chance(self.config.slow_outlier_fraction),
            late_consumer_fraction: self.config.late_consumer_fraction,
            user_tier: self.user_tier(),
        };
        self.tree.build(
            &self.catalog,
            &mut self.draw,
            &plan,
            self.config.timeline.epoch_unix_nanos,
            self.config.timeline.max_export_delay.as_nanos() as u64,
            out,
        );
        self.config.values.hold_all(&mut out.spans, &self.interner);
        if self.config.malformed_spans && self.draw.chance(self.config.malformed_fraction) {
            self.malformed_span(start, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{built_each_way, string_values};

    #[test]
    fn values_are_held_as_asked_and_the_traffic_is_the_same() {
        let [shared, unique, immortal, decoded] = built_each_way(|values| {
            MissionConfig {
                duration: Duration::from_secs(5),
                values,
                ..MissionConfig::default()
            }
            .traffic()
            .unwrap()
            .flat_map(|b| b.spans)
            .collect()
        });
        // Decoded: a long value is interned (immortal) exactly when its key's values are
        // low-cardinality, and there are both kinds.
        let mut kinds = [0usize; 2];
        for span in &decoded {
            for kv in span.attributes.iter() {
                if let Value::Str(text) = &kv.value {
                    let Some(s) = text.as_shared() else { continue };
                    let low = tailsift::has_low_cardinality_values(&kv.key);
                    assert_eq!(s.is_immortal(), low, "{} = {s}", kv.key);
                    kinds[usize::from(low)] += 1;
                }
            }
        }
        assert!(kinds[0] > 100 && kinds[1] > 100, "{kinds:?}");
        let (shared, unique, immortal) = (
            string_values(&shared),
            string_values(&unique),
            string_values(&immortal),
        );
        assert!(shared.len() > 1_000, "{} string values", shared.len());
        // Shared: values repeat as one counted string; unique: never the same allocation twice.
        let distinct = |values: &[&Str]| {
            let mut ptrs: Vec<_> = values.iter().map(|s| s.as_str().as_ptr()).collect();
            ptrs.sort();
            ptrs.dedup();
            ptrs.len()
        };
        assert!(distinct(&shared) < shared.len() / 10);
        assert!(shared.iter().all(|s| !s.is_immortal()));
        assert_eq!(distinct(&unique), unique.len());
        assert!(unique.iter().all(|s| !s.is_immortal()));
        assert!(immortal.iter().all(|s| s.is_immortal()));
        assert!(distinct(&immortal) < immortal.len() / 10);
    }

    #[test]
    fn surge_multiplier_peaks_in_the_middle_and_averages_as_stated() {
        let config = MissionConfig::default();
        assert_eq!(config.rate_multiplier(0.1), 1.0);
        assert_eq!(config.rate_multiplier(0.5), 4.0);
        assert_eq!(config.rate_multiplier(0.9), 1.0);
        let steps = 100_000;
        let mean = (0..steps)
            .map(|i| config.rate_multiplier((i as f64 + 0.5) / steps as f64))
            .sum::<f64>()
            / steps as f64;
        assert!(
            (mean - config.mean_rate_multiplier()).abs() < 1e-3,
            "{mean}"
        );
    }

    #[test]
    fn burst_schedule_has_one_burst_per_period_inside_the_run() {
        let config = MissionConfig::default();
        let bursts = config.error_burst_schedule();
        assert_eq!(bursts.len(), 3);
        for pair in bursts.windows(2) {
            assert!(pair[0].end <= pair[1].start);
        }
        assert!(bursts.iter().all(|b| b.end <= config.duration));
        let off = MissionConfig {
            error_bursts: false,
            ..MissionConfig::default()
        };
        assert!(off.error_burst_schedule().is_empty());
    }

    #[test]
    fn rejects_out_of_range_settings() {
        let bad = [
            MissionConfig {
                spans_per_second: 0.0,
                ..MissionConfig::default()
            },
            MissionConfig {
                surge_factor: 0.5,
                ..MissionConfig::default()
            },
            MissionConfig {
                slow_outlier_fraction: 1.5,
                ..MissionConfig::default()
            },
            MissionConfig {
                duration: Duration::ZERO,
                ..MissionConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
