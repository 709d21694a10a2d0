//! The adaptive controller: every interval, retunes policy rates so kept output fits the budget.
//!
//! This module is the control law alone, free of engine plumbing: it takes one interval's
//! measurements ([`IntervalMeasure`]) and returns the rates for the next ([`Rates`]). The
//! [`crate::budget`] glue feeds it from the policy set and publishes its rates. The law, its
//! parameters and a chart of its step response are written down in `docs/CONTROLLER.md`.
//!
//! 1. **Forecast** each policy's demand (what it matched, at rate 1, attributed to the first
//!    policy in priority order that matched) with an EMA; a surge to `burst_factor` × the
//!    forecast, or a fall to 1/`burst_factor` of it, replaces the forecast at once.
//! 2. **Allocate** the budget in priority order: each policy takes what its forecast needs at
//!    rate 1, or what is left after reserving the lower policies' `min_share`s, capped by its own
//!    `max_share`; what it does not use flows down. A stratified policy (`representative`) shares
//!    its allotment among strata by water-filling: small strata keep rate 1, large ones are cut
//!    first, and a `min_per_minute` floor keeps rare strata represented. Spans and bytes budgets
//!    are allocated separately; the lower rate wins.
//! 3. **Correct** for what the forecast cannot see (overlaps between policies, floors): the ratio
//!    of kept output to what the previous rates predicted is smoothed and divides the budget.
//! 4. **Clamp**: a rate rises at most `max_change` per interval; it falls by more only when kept
//!    output exceeded the budget by more than 10% (an overload must not wait minutes). Changes
//!    under 2% are not made, so steady traffic does not make rates flutter.
//!
//! Rates never go below `floor_rate`: under a budget smaller than the error volume, errors are
//! sampled, consistently, never all dropped.
//!
//! (Over 600 lines, a sixth of them tests: the forecast, the allocation and the clamp are one
//! control law, kept in one place with `docs/CONTROLLER.md` beside it.)

use std::collections::HashMap;

use crate::span::Str;

/// The control law's parameters (the `[budget]` table without the per-policy shares).
#[derive(Clone, Debug, PartialEq)]
pub struct ControlParams {
    /// Kept spans per second, if budgeted.
    pub spans_per_second: Option<f64>,
    /// Kept bytes per second (by span size estimate), if budgeted.
    pub bytes_per_second: Option<f64>,
    /// Interval length in seconds.
    pub interval_secs: f64,
    /// Largest upward rate change per interval, as a fraction (0.2 = ×1.2).
    pub max_change: f64,
    /// Lowest rate any policy or stratum gets.
    pub floor_rate: f64,
    /// Weight of the newest interval in the demand EMA.
    pub ema_weight: f64,
    /// Demand above this multiple of the forecast replaces the forecast at once.
    pub burst_factor: f64,
}

impl Default for ControlParams {
    fn default() -> ControlParams {
        ControlParams {
            spans_per_second: None,
            bytes_per_second: None,
            interval_secs: 10.0,
            max_change: 0.2,
            floor_rate: 1e-4,
            ema_weight: 0.5,
            burst_factor: 2.0,
        }
    }
}

/// A policy's share limits, as fractions of the budget.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shares {
    /// Budget reserved for this policy even when higher policies want it all.
    pub min_share: f64,
    /// Most of the budget this policy may take (1.0 when unset).
    pub max_share: Option<f64>,
}

/// Demand of one group (a policy, or a stratum of one) over one interval, at rate 1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Demand {
    /// Traces matched.
    pub traces: f64,
    /// Spans in them.
    pub spans: f64,
    /// Bytes in them (span size estimates).
    pub bytes: f64,
}

impl Demand {
    fn scaled(self, k: f64) -> Demand {
        Demand {
            traces: self.traces * k,
            spans: self.spans * k,
            bytes: self.bytes * k,
        }
    }
}

/// One policy's measurement over an interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyMeasure {
    /// The policy's name.
    pub name: Str,
    /// What it matched first (no higher-priority policy matched), at rate 1.
    pub demand: Demand,
    /// For a stratified policy: demand per stratum (summing to `demand`); empty otherwise.
    pub strata: Vec<(Str, Demand)>,
    /// For a stratified policy: the fewest traces per minute each stratum must keep.
    pub min_per_minute: f64,
    /// Its share limits.
    pub shares: Shares,
}

/// Everything measured over one interval, policies in priority order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntervalMeasure {
    /// Per policy, in priority order.
    pub policies: Vec<PolicyMeasure>,
    /// Spans actually kept.
    pub kept_spans: f64,
    /// Bytes actually kept.
    pub kept_bytes: f64,
    /// Traces actually kept (sets how much sampling noise to expect in the kept counts).
    pub kept_traces: f64,
    /// The fraction of a full interval this measure covers (1.0 normally; less for a burst
    /// retune).
    pub fraction: f64,
}

/// Rates for one policy: a multiplier on its own keep rate, and per-stratum rates.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyRate {
    /// The policy's name.
    pub name: Str,
    /// Rate for the policy's keeps (or default rate for strata not listed).
    pub rate: f64,
    /// Per-stratum rates of a stratified policy.
    pub strata: HashMap<Str, f64>,
}

/// The controller's output: rates for every policy, in priority order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    /// Per policy.
    pub policies: Vec<PolicyRate>,
}

#[derive(Clone, Debug, Default)]
struct GroupState {
    forecast: Option<Demand>,
    rate: f64,
}

impl GroupState {
    fn new() -> GroupState {
        GroupState {
            forecast: None,
            rate: 1.0,
        }
    }

    fn observe(&mut self, seen: Demand, weight: f64, burst: f64) -> Demand {
        let next = match self.forecast {
            None => seen,
            // A surge or a collapse by `burst`× replaces the forecast: a burst must be cut at
            // once, and budget a vanished burst no longer needs must flow down at once.
            Some(f) if seen.spans > burst * f.spans.max(1.0) || seen.spans * burst < f.spans => {
                seen
            }
            Some(f) => Demand {
                traces: weight * seen.traces + (1.0 - weight) * f.traces,
                spans: weight * seen.spans + (1.0 - weight) * f.spans,
                bytes: weight * seen.bytes + (1.0 - weight) * f.bytes,
            },
        };
        self.forecast = Some(next);
        next
    }
}

#[derive(Clone, Debug, Default)]
struct PolicyState {
    name: Str,
    group: GroupState,
    strata: HashMap<Str, GroupState>,
}

/// A policy's state as the controller sees it, for metrics, the API and charts.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyView {
    /// The policy.
    pub name: Str,
    /// Forecast demand per interval.
    pub forecast: Demand,
    /// The rate in effect.
    pub rate: f64,
    /// Strata: key, forecast, rate.
    pub strata: Vec<(Str, Demand, f64)>,
}

/// The controller's state after its latest step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControllerState {
    /// Steps taken so far.
    pub steps: u64,
    /// Spans budget per interval, if any.
    pub budget_spans: Option<f64>,
    /// Bytes budget per interval, if any.
    pub budget_bytes: Option<f64>,
    /// Spans kept in the latest interval (scaled to a full interval).
    pub kept_spans: f64,
    /// Bytes kept in the latest interval (scaled to a full interval).
    pub kept_bytes: f64,
    /// The smoothed ratio of kept output to what the rates predicted.
    pub correction: f64,
    /// Whether the latest interval was an overload (kept > 110% of budget).
    pub overloaded: bool,
    /// Per policy, in priority order.
    pub policies: Vec<PolicyView>,
}

/// The adaptive controller's state machine.
#[derive(Clone, Debug)]
pub struct Controller {
    params: ControlParams,
    policies: Vec<PolicyState>,
    correction: f64,
    state: ControllerState,
}

/// Relative rate changes smaller than this are not made.
const DEADBAND: f64 = 0.02;
/// Kept output this far above budget is an overload: rates may fall without the clamp.
const OVERLOAD: f64 = 1.1;

impl Controller {
    /// A controller with every rate at 1.
    pub fn new(params: ControlParams) -> Controller {
        Controller {
            params,
            policies: Vec::new(),
            correction: 1.0,
            state: ControllerState::default(),
        }
    }

    /// The parameters in effect.
    pub fn params(&self) -> &ControlParams {
        &self.params
    }

    /// Replaces the parameters (a budget reload), keeping forecasts, rates and correction.
    pub fn set_params(&mut self, params: ControlParams) {
        self.params = params;
    }

    /// The state after the latest step.
    pub fn state(&self) -> &ControllerState {
        &self.state
    }

    /// Whether `partial`, covering `partial.fraction` of an interval, shows a surge that should
    /// be acted on now rather than at the interval's end: some policy's demand, extrapolated to
    /// a full interval, is above `burst_factor` × its forecast.
    pub fn is_burst(&self, partial: &IntervalMeasure) -> bool {
        if partial.fraction <= 0.0 {
            return false;
        }
        let k = 1.0 / partial.fraction;
        partial.policies.iter().any(|m| {
            self.policies
                .iter()
                .find(|p| p.name == m.name)
                .and_then(|p| p.group.forecast)
                .is_some_and(|f| {
                    m.demand.spans * k > self.params.burst_factor * f.spans.max(1.0)
                        && m.demand.spans > 0.0
                })
        })
    }

    /// Takes one interval's measure and returns the rates for the next.
    pub fn step(&mut self, measure: &IntervalMeasure) -> Rates {
        let p = self.params.clone();
        let k = if measure.fraction > 0.0 {
            1.0 / measure.fraction
        } else {
            1.0
        };
        self.sync_policies(measure);
        let budget_spans = p.spans_per_second.map(|b| b * p.interval_secs);
        let budget_bytes = p.bytes_per_second.map(|b| b * p.interval_secs);
        let kept_spans = measure.kept_spans * k;
        let kept_bytes = measure.kept_bytes * k;

        // Correction: kept output over what the rates in force predicted for this demand.
        let predicted: f64 = measure
            .policies
            .iter()
            .zip(&self.policies)
            .map(|(m, s)| predicted_spans(m, s) * k)
            .sum();
        if predicted >= 1.0 && kept_spans > 0.0 {
            // Sampling makes kept output wander by about 1/sqrt(kept traces) each interval: a
            // slow average finds the bias without chasing the noise (which the rate deadband
            // absorbs), and a deviation far beyond the noise is taken at once.
            let ratio = (kept_spans / predicted).clamp(0.25, 4.0);
            let noise = 1.0 / measure.kept_traces.max(1.0).sqrt();
            let weight = if (ratio / self.correction - 1.0).abs() > 4.0 * noise {
                0.5
            } else {
                0.25
            };
            self.correction = ((1.0 - weight) * self.correction + weight * ratio).clamp(0.25, 4.0);
        }
        let overloaded = budget_spans.is_some_and(|b| kept_spans > OVERLOAD * b)
            || budget_bytes.is_some_and(|b| kept_bytes > OVERLOAD * b);

        // Forecasts.
        let mut forecasts = Vec::with_capacity(measure.policies.len());
        for (m, s) in measure.policies.iter().zip(self.policies.iter_mut()) {
            let f = s
                .group
                .observe(m.demand.scaled(k), p.ema_weight, p.burst_factor);
            let strata: Vec<(Str, Demand)> = m
                .strata
                .iter()
                .map(|(key, d)| {
                    let g = s.strata.entry(key.clone()).or_insert_with(GroupState::new);
                    (
                        key.clone(),
                        g.observe(d.scaled(k), p.ema_weight, p.burst_factor),
                    )
                })
                .collect();
            forecasts.push((f, strata));
        }

        // Allocation in each budgeted unit; the lower rate wins.
        let mut targets: Vec<(f64, HashMap<Str, f64>)> = measure
            .policies
            .iter()
            .map(|_| (1.0, HashMap::new()))
            .collect();
        for (budget, unit) in [(budget_spans, Unit::Spans), (budget_bytes, Unit::Bytes)] {
            let Some(budget) = budget else { continue };
            let alloc = allocate(
                budget / self.correction,
                budget,
                &measure.policies,
                &forecasts,
                unit,
                &p,
            );
            for (t, a) in targets.iter_mut().zip(alloc) {
                t.0 = t.0.min(a.0);
                for (key, r) in a.1 {
                    let e = t.1.entry(key).or_insert(1.0);
                    *e = e.min(r);
                }
            }
        }

        // Clamp and publish. A policy's kept output may rise by `max_change` of the budget per
        // interval beyond the relative ×(1 + max_change): `room` is that much, in the unit the
        // budget is counted in.
        let unit = match (budget_spans, budget_bytes) {
            (Some(b), _) => Some((b, Unit::Spans)),
            (None, Some(b)) => Some((b, Unit::Bytes)),
            (None, None) => None,
        };
        let mut rates = Rates::default();
        for (s, ((target, strata), (forecast, strata_forecast))) in self
            .policies
            .iter_mut()
            .zip(targets.into_iter().zip(&forecasts))
        {
            let room = unit.map(|(b, u)| (p.max_change * b, u));
            let lift = match room {
                Some((room, u)) if u.of(forecast) > 0.0 => room / u.of(forecast),
                _ => 1.0,
            };
            s.group.rate = clamp_change(s.group.rate, target, lift, overloaded, &p);
            // Strata share the policy's room in proportion to how far each is below its target,
            // so they all reach their targets together rather than the largest first.
            let demand_of = |key: &Str| {
                strata_forecast
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, d)| *d)
                    .unwrap_or_default()
            };
            let deficits: Vec<(Str, f64, f64)> = strata
                .into_iter()
                .map(|(key, target)| {
                    let old = s.strata.get(&key).map_or(1.0, |g| g.rate);
                    let need = room.map_or(0.0, |(_, u)| u.of(&demand_of(&key)));
                    let deficit = (target - old).max(0.0) * need;
                    (key, target, deficit)
                })
                .collect();
            let total_deficit: f64 = deficits.iter().map(|d| d.2).sum();
            let mut out = HashMap::new();
            for (key, target, deficit) in deficits {
                let g = s.strata.entry(key.clone()).or_insert_with(GroupState::new);
                let share = match room {
                    Some((room, u)) if deficit > 0.0 => {
                        let granted = deficit * (room / total_deficit).min(1.0);
                        granted / u.of(&demand_of(&key))
                    }
                    _ => 1.0,
                };
                g.rate = clamp_change(g.rate, target, share, overloaded, &p);
                out.insert(key, g.rate);
            }
            rates.policies.push(PolicyRate {
                name: s.name.clone(),
                rate: s.group.rate,
                strata: out,
            });
        }
        self.state = ControllerState {
            steps: self.state.steps + 1,
            budget_spans,
            budget_bytes,
            kept_spans,
            kept_bytes,
            correction: self.correction,
            overloaded,
            policies: self
                .policies
                .iter()
                .map(|s| PolicyView {
                    name: s.name.clone(),
                    forecast: s.group.forecast.unwrap_or_default(),
                    rate: s.group.rate,
                    strata: s
                        .strata
                        .iter()
                        .map(|(k, g)| (k.clone(), g.forecast.unwrap_or_default(), g.rate))
                        .collect(),
                })
                .collect(),
        };
        rates
    }

    /// Keeps per-policy state aligned with the measured policies (a reload may add, remove or
    /// reorder them): state is matched by name, so surviving policies keep their forecasts.
    fn sync_policies(&mut self, measure: &IntervalMeasure) {
        let mut old: HashMap<Str, PolicyState> = self
            .policies
            .drain(..)
            .map(|s| (s.name.clone(), s))
            .collect();
        self.policies = measure
            .policies
            .iter()
            .map(|m| {
                old.remove(&m.name).unwrap_or_else(|| PolicyState {
                    name: m.name.clone(),
                    group: GroupState::new(),
                    strata: HashMap::new(),
                })
            })
            .collect();
        // Strata that no longer appear are forgotten after they go quiet, bounding memory.
        for (m, s) in measure.policies.iter().zip(self.policies.iter_mut()) {
            if !m.strata.is_empty() || s.strata.len() > 10_000 {
                let seen: std::collections::HashSet<&Str> =
                    m.strata.iter().map(|(k, _)| k).collect();
                s.strata
                    .retain(|k, g| seen.contains(k) || g.forecast.is_some_and(|f| f.traces >= 0.5));
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Spans,
    Bytes,
}

impl Unit {
    fn of(self, d: &Demand) -> f64 {
        match self {
            Unit::Spans => d.spans,
            Unit::Bytes => d.bytes,
        }
    }
}

fn predicted_spans(m: &PolicyMeasure, s: &PolicyState) -> f64 {
    if m.strata.is_empty() {
        return m.demand.spans * s.group.rate;
    }
    m.strata
        .iter()
        .map(|(k, d)| d.spans * s.strata.get(k).map_or(s.group.rate, |g| g.rate))
        .sum()
}

type Forecast = (Demand, Vec<(Str, Demand)>);

/// Shares `available` (the corrected budget) among policies in priority order. `budget` is the
/// uncorrected budget that shares are fractions of.
fn allocate(
    available: f64,
    budget: f64,
    measures: &[PolicyMeasure],
    forecasts: &[Forecast],
    unit: Unit,
    p: &ControlParams,
) -> Vec<(f64, HashMap<Str, f64>)> {
    let mut left = available;
    let mut out = Vec::with_capacity(measures.len());
    for (i, (m, (f, strata))) in measures.iter().zip(forecasts).enumerate() {
        let reserved: f64 = measures[i + 1..]
            .iter()
            .map(|m| m.shares.min_share * budget)
            .sum();
        let mut allot = (left - reserved).max(m.shares.min_share * budget).max(0.0);
        if let Some(max) = m.shares.max_share {
            allot = allot.min(max * budget);
        }
        let need = unit.of(f);
        if strata.is_empty() {
            let rate = if need > 0.0 {
                (allot / need).clamp(p.floor_rate, 1.0)
            } else {
                1.0
            };
            left = (left - rate * need).max(0.0);
            out.push((rate, HashMap::new()));
            continue;
        }
        let (rates, used) = water_fill(allot, strata, unit, m.min_per_minute, p);
        left = (left - used).max(0.0);
        let default = if need > 0.0 {
            (allot / need).clamp(p.floor_rate, 1.0)
        } else {
            1.0
        };
        out.push((default, rates));
    }
    out
}

/// Water-filling: strata in ascending order of demand each take an equal share of what is left,
/// or all they need if that is less. Returns each stratum's rate and the amount used.
fn water_fill(
    allot: f64,
    strata: &[(Str, Demand)],
    unit: Unit,
    min_per_minute: f64,
    p: &ControlParams,
) -> (HashMap<Str, f64>, f64) {
    let mut order: Vec<&(Str, Demand)> = strata.iter().collect();
    order.sort_by(|a, b| unit.of(&a.1).total_cmp(&unit.of(&b.1)));
    let mut left = allot.max(0.0);
    let mut used = 0.0;
    let mut rates = HashMap::with_capacity(order.len());
    let n = order.len();
    let per_interval_floor = min_per_minute * p.interval_secs / 60.0;
    for (i, (key, d)) in order.into_iter().enumerate() {
        let need = unit.of(d);
        let share = left / (n - i) as f64;
        let mut rate = if need <= share || need <= 0.0 {
            1.0
        } else {
            share / need
        };
        if d.traces > 0.0 {
            rate = rate.max((per_interval_floor / d.traces).min(1.0));
        }
        rate = rate.clamp(p.floor_rate, 1.0);
        left = (left - rate * need).max(0.0);
        used += rate * need;
        rates.insert(key.clone(), rate);
    }
    (rates, used)
}

/// Moves a rate from `old` toward `target` within the clamps. `lift` is the rate step that adds
/// `max_change` of the budget at the policy's forecast demand: a rise may always go that far,
/// so a rate cut to the floor by an overload recovers in a few intervals, not dozens of ×1.2
/// steps.
fn clamp_change(old: f64, target: f64, lift: f64, overloaded: bool, p: &ControlParams) -> f64 {
    let target = target.clamp(p.floor_rate, 1.0);
    if (target / old - 1.0).abs() < DEADBAND && target < 1.0 {
        return old;
    }
    let up = (old * (1.0 + p.max_change)).max(old + lift);
    let down = old * (1.0 - p.max_change);
    let next = if target > up {
        up
    } else if target < down && !overloaded {
        down
    } else {
        target
    };
    next.clamp(p.floor_rate, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(spans_per_second: f64) -> ControlParams {
        ControlParams {
            spans_per_second: Some(spans_per_second),
            interval_secs: 1.0,
            ..ControlParams::default()
        }
    }

    fn demand(spans: f64) -> Demand {
        Demand {
            traces: spans / 10.0,
            spans,
            bytes: spans * 200.0,
        }
    }

    fn measure(errors: f64, rest: f64, rates: &Rates) -> IntervalMeasure {
        let rate = |i: usize| rates.policies.get(i).map_or(1.0, |p| p.rate);
        IntervalMeasure {
            policies: vec![
                PolicyMeasure {
                    name: "errors".into(),
                    demand: demand(errors),
                    ..PolicyMeasure::default()
                },
                PolicyMeasure {
                    name: "rest".into(),
                    demand: demand(rest),
                    ..PolicyMeasure::default()
                },
            ],
            kept_spans: errors * rate(0) + rest * rate(1),
            kept_bytes: (errors * rate(0) + rest * rate(1)) * 200.0,
            kept_traces: (errors * rate(0) + rest * rate(1)) / 10.0,
            fraction: 1.0,
        }
    }

    #[test]
    fn under_budget_every_rate_stays_at_one() {
        let mut c = Controller::new(params(1_000.0));
        let mut rates = Rates::default();
        for _ in 0..5 {
            rates = c.step(&measure(100.0, 500.0, &rates));
        }
        assert!(rates.policies.iter().all(|p| p.rate == 1.0));
    }

    #[test]
    fn errors_over_budget_are_sampled_and_lower_policies_get_the_floor() {
        let mut c = Controller::new(params(1_000.0));
        let mut rates = Rates::default();
        for _ in 0..10 {
            rates = c.step(&measure(4_000.0, 50_000.0, &rates));
        }
        let errors = rates.policies[0].rate;
        assert!((errors - 0.25).abs() < 0.02, "errors rate {errors}");
        assert_eq!(rates.policies[1].rate, 1e-4);
    }

    #[test]
    fn upward_moves_are_clamped_downward_overloads_are_not() {
        let mut c = Controller::new(params(1_000.0));
        let mut rates = c.step(&measure(0.0, 10_000.0, &Rates::default()));
        assert!(
            (rates.policies[1].rate - 0.1).abs() < 0.01,
            "overload cuts at once"
        );
        // Demand falls to a tenth (a collapse: the forecast follows at once): the rate may rise
        // by ×1.2, or by the step that adds 20% of the budget at that demand, whichever is more.
        rates = c.step(&measure(0.0, 1_000.0, &rates));
        let r = rates.policies[1].rate;
        let lift = 0.2 * 1_000.0 / 1_000.0;
        assert!(r > 0.1 * 1.2 && r <= 0.1 + lift + 1e-9, "{r}");
    }

    #[test]
    fn a_rate_cut_to_the_floor_recovers_in_a_few_intervals() {
        let mut c = Controller::new(params(1_000.0));
        let mut rates = Rates::default();
        // Errors take the whole budget: the rest is cut to the floor.
        for _ in 0..3 {
            rates = c.step(&measure(2_000.0, 10_000.0, &rates));
        }
        assert_eq!(rates.policies[1].rate, 1e-4);
        // The errors stop: the rest should be back near its share (0.1) within 8 intervals.
        let mut steps = 0;
        while rates.policies[1].rate < 0.095 && steps < 20 {
            rates = c.step(&measure(0.0, 10_000.0, &rates));
            steps += 1;
        }
        assert!(steps <= 8, "recovered after {steps} intervals");
    }

    #[test]
    fn strata_are_water_filled_with_small_ones_kept_whole() {
        let p = params(1_000.0);
        let strata = vec![
            (Str::from("rare"), demand(50.0)),
            (Str::from("mid"), demand(400.0)),
            (Str::from("huge"), demand(20_000.0)),
        ];
        let (rates, used) = water_fill(1_000.0, &strata, Unit::Spans, 0.0, &p);
        assert_eq!(rates[&Str::from("rare")], 1.0);
        assert_eq!(rates[&Str::from("mid")], 1.0);
        assert!((rates[&Str::from("huge")] - 550.0 / 20_000.0).abs() < 1e-9);
        assert!((used - 1_000.0).abs() < 1e-6);
    }

    #[test]
    fn min_per_minute_raises_a_starved_stratum() {
        let p = params(10.0);
        let strata = vec![(Str::from("a"), demand(10_000.0))];
        // 600 per minute at a 1 s interval is 10 traces per interval of 1,000.
        let (rates, _) = water_fill(0.0, &strata, Unit::Spans, 600.0, &p);
        assert!((rates[&Str::from("a")] - 0.01).abs() < 1e-9);
    }

    #[test]
    fn a_burst_is_seen_before_the_interval_ends() {
        let mut c = Controller::new(params(1_000.0));
        c.step(&measure(0.0, 800.0, &Rates::default()));
        let mut partial = measure(0.0, 500.0, &Rates::default());
        partial.fraction = 0.25;
        assert!(c.is_burst(&partial));
        partial.fraction = 0.9;
        assert!(!c.is_burst(&partial));
    }
}
