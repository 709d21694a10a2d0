//! [`Sampler`]: the engine as an operator runs it — configured from the budget file, with its
//! policy set, the adaptive controller, and config reload.
//!
//! [`crate::Engine`] alone takes any decider; a `Sampler` builds the [`PolicySet`] from the
//! file's `[[policy]]` list, drives the [`Controller`] from the engine's clock on every
//! [`Sampler::poll`] (at each interval's end, and at once when a policy's demand surges), and
//! publishes the controller's rates to the policy set with one atomic swap.
//!
//! Reload ([`Sampler::reload`], or [`SamplerBuilder::watch`] for a file checked on poll): a valid new
//! config replaces the policy set and the budget without losing buffered traces (the engine is
//! untouched), the shared latency baselines (carried into the new set), or the controller's
//! forecasts and rates (matched by policy name). An invalid one keeps the running config; the
//! error is returned, logged and counted (`tailsift_config_reloads_total{outcome}`). Settings of
//! the engine itself (`[buffer]`, `[decision_cache]`, `[output]`) take effect on restart only; a
//! reload that changes them says so in the log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use metrics::{counter, gauge, Counter, Gauge};
use parking_lot::{Mutex, RwLock};

use crate::budget::BudgetConfig;
use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::config_file::{Config, ConfigFileError};
use crate::controller::{
    Controller, ControllerState, Demand, IntervalMeasure, PolicyMeasure, Rates,
};
use crate::decision::Sink;
use crate::engine::{Engine, EngineStats, IngestReport, PollReport};
use crate::policy::config::{PolicyConfigError, PolicyKind};
use crate::policy::{GroupKey, PolicyBuilders, PolicySet, PolicyTotals, Volume};
use crate::span::{Span, Str};

/// Why a sampler could not be built or reloaded.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// The config file has problems.
    #[error("{0}")]
    File(#[from] ConfigFileError),
    /// A policy could not be built.
    #[error("{0}")]
    Policy(#[from] PolicyConfigError),
    /// The engine refused its settings.
    #[error("{0}")]
    Engine(#[from] ConfigError),
}

/// Builds a [`Sampler`].
pub struct SamplerBuilder {
    config: Config,
    builders: PolicyBuilders,
    sink: Option<Arc<dyn Sink>>,
    clock: Arc<dyn Clock>,
    watch: Option<PathBuf>,
}

impl SamplerBuilder {
    /// Builders for `cel` and `wasm` policies (from `tailsift-cel`, `tailsift-wasm`).
    pub fn builders(mut self, builders: PolicyBuilders) -> Self {
        self.builders = builders;
        self
    }

    /// Where decisions go. Required.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// The clock (default: the system's monotonic clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reload the config from `path` when the file changes (checked at most once a second of
    /// engine time, on poll).
    pub fn watch(mut self, path: impl Into<PathBuf>) -> Self {
        self.watch = Some(path.into());
        self
    }

    /// Builds the policy set, the engine and the controller.
    pub fn build(self) -> Result<Sampler, SamplerError> {
        self.config.validate()?;
        let policies = Arc::new(PolicySet::new(
            &self.config.policies,
            &self.builders,
            self.config.default_keep,
        )?);
        let sink = self.sink.ok_or_else(|| ConfigError {
            key: "sink".into(),
            problem: "is required: call SamplerBuilder::sink".into(),
        })?;
        let engine = Engine::builder(self.config.engine())
            .shared_decider(policies.clone())
            .clock(ArcClock(self.clock.clone()))
            .shared_sink(sink)
            .build()?;
        let params = self
            .config
            .budget
            .as_ref()
            .map(BudgetConfig::control_params)
            .unwrap_or_default();
        let modified = self.watch.as_deref().and_then(modified_time);
        Ok(Sampler {
            engine,
            clock: self.clock,
            policies: RwLock::new(policies),
            builders: self.builders,
            control: Mutex::new(Control {
                gauges: PolicyGauges::new(&self.config),
                controller: Controller::new(params),
                budget: self.config.budget.clone(),
                interval_start: None,
                surge_checked: None,
                partial: IntervalMeasure::default(),
                last_rates: Rates::default(),
                last_keys: HashMap::new(),
                history: Vec::new(),
            }),
            config: RwLock::new(self.config),
            retired: Mutex::new(HashMap::new()),
            watch: self.watch.map(|path| {
                Mutex::new(Watch {
                    path,
                    modified,
                    checked: None,
                })
            }),
            reloads_ok: counter!("tailsift_config_reloads_total", "outcome" => "ok"),
            reloads_failed: counter!("tailsift_config_reloads_total", "outcome" => "error"),
        })
    }
}

/// Shares the sampler's clock with its engine.
struct ArcClock(Arc<dyn Clock>);

impl Clock for ArcClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

struct Control {
    controller: Controller,
    budget: Option<BudgetConfig>,
    interval_start: Option<Duration>,
    /// When demand was last compared with the forecasts for a surge (engine time).
    surge_checked: Option<Duration>,
    /// The partial measure of surge checks, kept so a check allocates nothing: its policy
    /// names are rebuilt only when the policy set changes.
    partial: IntervalMeasure,
    last_rates: Rates,
    /// Stratum labels to keys, per policy, from the latest step: stratum keys hash the
    /// stratum's values, so they stay valid in a rebuilt policy set.
    last_keys: HashMap<(Str, Str), GroupKey>,
    history: Vec<ControllerState>,
    gauges: PolicyGauges,
}

struct Watch {
    path: PathBuf,
    modified: Option<SystemTime>,
    checked: Option<Duration>,
}

/// Controller gauges, one set per policy, registered when the policies are (re)built.
struct PolicyGauges {
    rate: Vec<Gauge>,
    forecast: Vec<Gauge>,
    budget_spans: Gauge,
    kept_spans: Gauge,
}

impl PolicyGauges {
    fn new(config: &Config) -> PolicyGauges {
        let per = |metric: &'static str| -> Vec<Gauge> {
            config
                .policies
                .iter()
                .map(|p| gauge!(metric, "policy" => p.name.clone()))
                .collect()
        };
        PolicyGauges {
            rate: per("tailsift_controller_rate"),
            forecast: per("tailsift_controller_forecast_spans"),
            budget_spans: gauge!("tailsift_controller_budget_spans"),
            kept_spans: gauge!("tailsift_controller_kept_spans"),
        }
    }
}

/// Surge checks per controller interval, at most. Each is cheap (no allocation), but a poller
/// may poll every millisecond. Every 1/10 of an interval would shift when the controller reacts
/// to the mission's surge by up to half a second (40 steps instead of 42 and 5.7% more traces
/// kept over its 60 s); every 1/100 (50 ms at the demo's 5 s) keeps its reactions as with a
/// check on every 10 ms poll, within 0.1% of traces kept.
const SURGE_CHECKS: u32 = 100;

/// Most controller states kept for [`Sampler::controller_history`].
const HISTORY: usize = 4096;

/// The engine, its policy set, the controller and reload, configured from one [`Config`].
pub struct Sampler {
    engine: Engine,
    clock: Arc<dyn Clock>,
    policies: RwLock<Arc<PolicySet>>,
    builders: PolicyBuilders,
    control: Mutex<Control>,
    config: RwLock<Config>,
    retired: Mutex<HashMap<Str, PolicyTotals>>,
    watch: Option<Mutex<Watch>>,
    reloads_ok: Counter,
    reloads_failed: Counter,
}

impl Sampler {
    /// Starts building a sampler from `config`.
    pub fn builder(config: Config) -> SamplerBuilder {
        SamplerBuilder {
            config,
            builders: PolicyBuilders::default(),
            sink: None,
            clock: Arc::new(SystemClock::new()),
            watch: None,
        }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The policy set in force.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies.read().clone()
    }

    /// The config in force.
    pub fn config(&self) -> Config {
        self.config.read().clone()
    }

    /// Hands spans to the engine (see [`Engine::ingest`]).
    pub fn ingest(&self, batch: Vec<Span>) -> IngestReport {
        self.engine.ingest(batch)
    }

    /// Decides every due trace, steps the controller when an interval has passed (or demand
    /// surged), and reloads a watched config file that changed.
    pub fn poll(&self, now: Duration) -> PollReport {
        let report = self.engine.poll(now);
        self.tick(now);
        self.check_watch(now);
        report
    }

    /// [`Sampler::poll`] at the clock's time.
    pub fn poll_now(&self) -> PollReport {
        self.poll(self.clock.now())
    }

    /// Decides every pending trace and stops accepting spans (see [`Engine::shutdown`]).
    pub fn shutdown(&self) -> PollReport {
        self.engine.shutdown()
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// Per policy, what it matched and kept since the sampler started (across reloads).
    pub fn policy_totals(&self) -> Vec<PolicyTotals> {
        let retired = self.retired.lock();
        self.policies
            .read()
            .totals()
            .into_iter()
            .map(|mut t| {
                if let Some(old) = retired.get(&t.name) {
                    t.matched += old.matched;
                    t.kept += old.kept;
                    t.errors += old.errors;
                }
                t
            })
            .collect()
    }

    /// The controller's state after its latest step; `None` without a `[budget]`.
    pub fn controller_state(&self) -> Option<ControllerState> {
        let control = self.control.lock();
        control.budget.as_ref()?;
        Some(control.controller.state().clone())
    }

    /// The controller's states after each of its steps so far (the latest 4,096): the data of
    /// the demo's charts.
    pub fn controller_history(&self) -> Vec<ControllerState> {
        self.control.lock().history.clone()
    }

    /// Replaces the policies and the budget with those of `config`, keeping buffered traces,
    /// shared baselines and controller state. On error nothing changes.
    pub fn reload(&self, config: Config) -> Result<(), SamplerError> {
        let result = self.apply(config);
        match &result {
            Ok(()) => self.reloads_ok.increment(1),
            Err(e) => {
                self.reloads_failed.increment(1);
                tracing::warn!(error = %e, "config reload refused; the running config stays");
            }
        }
        result
    }

    /// Re-reads the watched file now (whether or not it changed).
    pub fn reload_file(&self) -> Option<Result<(), SamplerError>> {
        let path = self.watch.as_ref()?.lock().path.clone();
        Some(
            Config::load(&path)
                .map_err(SamplerError::from)
                .and_then(|config| self.apply(config))
                .inspect(|()| self.reloads_ok.increment(1))
                .inspect_err(|e| {
                    self.reloads_failed.increment(1);
                    tracing::warn!(error = %e, path = %path.display(), "config reload refused; the running config stays");
                }),
        )
    }

    fn apply(&self, config: Config) -> Result<(), SamplerError> {
        config.validate()?;
        let old = self.policies.read().clone();
        let new = Arc::new(PolicySet::rebuild(
            &old,
            &config.policies,
            &self.builders,
            config.default_keep,
        )?);
        let now = self.clock.now();
        {
            let mut control = self.control.lock();
            // Close the old set's interval so its counts reach the controller, then carry the
            // rates over by name.
            if control.budget.is_some() {
                self.step(&mut control, &old, now);
            }
            if self.config.read().engine() != config.engine() {
                tracing::warn!(
                    "[buffer], [decision_cache] and [output] changes take effect on restart"
                );
            }
            let mut retired = self.retired.lock();
            for t in old.totals() {
                let e = retired.entry(t.name.clone()).or_insert(PolicyTotals {
                    matched: Volume::default(),
                    kept: Volume::default(),
                    errors: 0,
                    ..t.clone()
                });
                e.matched += t.matched;
                e.kept += t.kept;
                e.errors += t.errors;
            }
            control.budget = config.budget.clone();
            if let Some(budget) = &config.budget {
                control.controller.set_params(budget.control_params());
                publish(&new, &control.last_rates, &control.last_keys);
            }
            control.gauges = PolicyGauges::new(&config);
            *self.policies.write() = new.clone();
            self.engine.set_decider(new);
            *self.config.write() = config;
        }
        Ok(())
    }

    fn tick(&self, now: Duration) {
        let mut control = self.control.lock();
        let Some(interval) = control.budget.as_ref().map(|b| b.interval) else {
            return;
        };
        let start = *control.interval_start.get_or_insert(now);
        let elapsed = now.saturating_sub(start);
        if elapsed >= interval {
            let set = self.policies.read().clone();
            self.step(&mut control, &set, now);
            return;
        }
        // A surge should not wait for the interval's end: from a fifth of the interval on,
        // compare demand so far with the forecasts, at most every 1/SURGE_CHECKS of an interval
        // (polls may come every millisecond; a surge needs no finer watch than that).
        if elapsed < interval / 5
            || control
                .surge_checked
                .is_some_and(|t| t <= now && now - t < interval / SURGE_CHECKS)
        {
            return;
        }
        control.surge_checked = Some(now);
        let set = self.policies.read().clone();
        let control = &mut *control;
        let partial = &mut control.partial;
        let same_policies = partial.policies.len() == set.len()
            && partial
                .policies
                .iter()
                .zip(set.names())
                .all(|(m, name)| &*m.name == name);
        if !same_policies {
            partial.policies = set
                .names()
                .map(|name| PolicyMeasure {
                    name: Str::from(name),
                    ..PolicyMeasure::default()
                })
                .collect();
        }
        for (m, first) in partial.policies.iter_mut().zip(set.peek_first_each()) {
            m.demand = demand(first);
        }
        partial.fraction = elapsed.as_secs_f64() / interval.as_secs_f64();
        if control.controller.is_burst(partial) {
            self.step(control, &set, now);
        }
    }

    /// Ends the current interval at `now`: measures, steps the controller, publishes rates.
    fn step(&self, control: &mut Control, set: &PolicySet, now: Duration) {
        let Some(budget) = control.budget.clone() else {
            return;
        };
        let start = control.interval_start.unwrap_or(now);
        let elapsed = now.saturating_sub(start).as_secs_f64();
        let fraction = (elapsed / budget.interval.as_secs_f64()).max(1e-3);
        let drained = set.drain_interval();
        let kept = set.take_kept();
        let config = self.config.read();
        let mut strata_keys: HashMap<(Str, Str), GroupKey> = HashMap::new();
        let policies = drained
            .iter()
            .map(|d| {
                let share_of_first = if d.matched.spans > 0 {
                    d.first.spans as f64 / d.matched.spans as f64
                } else {
                    0.0
                };
                let strata = d
                    .strata
                    .iter()
                    .map(|s| {
                        strata_keys.insert((d.name.clone(), s.label.clone()), s.key);
                        (s.label.clone(), demand_scaled(s.matched, share_of_first))
                    })
                    .collect();
                let min_per_minute = config
                    .policies
                    .get(d.index)
                    .and_then(|p| match &p.kind {
                        PolicyKind::Representative(c) => Some(c.min_per_minute),
                        _ => None,
                    })
                    .unwrap_or(0.0);
                PolicyMeasure {
                    name: d.name.clone(),
                    demand: demand(d.first),
                    strata,
                    min_per_minute,
                    shares: budget.shares(&d.name),
                }
            })
            .collect();
        drop(config);
        let measure = IntervalMeasure {
            policies,
            kept_spans: kept.spans as f64,
            kept_bytes: kept.bytes as f64,
            kept_traces: kept.traces as f64,
            fraction,
        };
        let rates = control.controller.step(&measure);
        publish(set, &rates, &strata_keys);
        let state = control.controller.state().clone();
        for (i, p) in state.policies.iter().enumerate() {
            if let (Some(r), Some(f)) = (control.gauges.rate.get(i), control.gauges.forecast.get(i))
            {
                r.set(p.rate);
                f.set(p.forecast.spans);
            }
        }
        control.gauges.kept_spans.set(state.kept_spans);
        control
            .gauges
            .budget_spans
            .set(state.budget_spans.unwrap_or(0.0));
        if control.history.len() >= HISTORY {
            control.history.remove(0);
        }
        control.history.push(state);
        control.last_rates = rates;
        control.last_keys = strata_keys;
        control.interval_start = Some(now);
    }

    fn check_watch(&self, now: Duration) {
        let Some(watch) = &self.watch else { return };
        {
            let mut w = watch.lock();
            if w.checked
                .is_some_and(|c| now.saturating_sub(c) < Duration::from_secs(1))
            {
                return;
            }
            w.checked = Some(now);
            let modified = modified_time(&w.path);
            if modified == w.modified {
                return;
            }
            w.modified = modified;
        }
        let _ = self.reload_file();
    }
}

fn modified_time(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn demand(v: Volume) -> Demand {
    demand_scaled(v, 1.0)
}

fn demand_scaled(v: Volume, k: f64) -> Demand {
    Demand {
        traces: v.traces as f64 * k,
        spans: v.spans as f64 * k,
        bytes: v.bytes as f64 * k,
    }
}

/// Publishes controller rates to `set`, matched by policy name; stratum rates go to the strata
/// whose keys are known.
fn publish(set: &PolicySet, rates: &Rates, strata_keys: &HashMap<(Str, Str), GroupKey>) {
    let mut table = (*set.rates()).clone();
    for r in &rates.policies {
        let Some(i) = set.index_of(&r.name) else {
            continue;
        };
        if r.strata.is_empty() {
            table.set_multiplier(i, r.rate);
            continue;
        }
        table.set_multiplier(i, 1.0);
        table.set_stratum_rates(
            i,
            r.strata.iter().filter_map(|(label, rate)| {
                strata_keys
                    .get(&(r.name.clone(), label.clone()))
                    .map(|k| (*k, *rate))
            }),
        );
    }
    set.publish_rates(table);
}
