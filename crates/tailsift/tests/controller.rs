//! The adaptive controller through the public API: a `Sampler` fed simulated traffic on a
//! manual clock, kept output counted by the sink, against the budget.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tailsift::config_file::Format;
use tailsift::{
    Clock, Config, Decision, ManualClock, Origin, Resource, Sampler, Span, SpanId, StatusCode,
    TraceId,
};

const BUDGET: f64 = 4_000.0;

fn config(budget: f64) -> Config {
    let text = format!(
        r#"
[buffer]
shards = 2
completion_grace = "50ms"
decision_wait = "2s"

[budget]
spans_per_second = {budget}
interval = "1s"

[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "baseline"
kind = "representative"
rate = 1.0
"#
    );
    Config::parse(&text, Format::Toml, "test.toml".as_ref()).expect("valid test config")
}

#[derive(Default, Clone, Copy)]
struct Kept {
    spans: u64,
    adjusted: f64,
}

struct Sim {
    sampler: Sampler,
    clock: ManualClock,
    rng: SmallRng,
    kept: Arc<Mutex<BTreeMap<u64, Kept>>>,
    origins: Vec<Arc<Origin>>,
    traces_in: u64,
    second: u64,
}

impl Sim {
    fn new(budget: f64, seed: u64) -> Sim {
        let clock = ManualClock::new();
        let kept: Arc<Mutex<BTreeMap<u64, Kept>>> = Arc::default();
        let sink_kept = kept.clone();
        let sampler = Sampler::builder(config(budget))
            .clock(clock.clone())
            .sink(move |d: Decision| {
                if d.keep {
                    let mut map = sink_kept.lock().unwrap();
                    let e = map.entry(d.decided_at.as_secs()).or_default();
                    e.spans += d.span_count as u64;
                    e.adjusted += d.adjusted_count;
                }
            })
            .build()
            .expect("sampler builds");
        // A few strata of very different sizes.
        let origins = ["checkout", "cart", "search"]
            .iter()
            .map(|s| {
                Arc::new(Origin {
                    resource: Arc::new(Resource {
                        attributes: vec![tailsift::KeyValue::new("service.name", *s)],
                        ..Resource::default()
                    }),
                    scope: tailsift::Scope::default(),
                })
            })
            .collect();
        Sim {
            sampler,
            clock,
            rng: SmallRng::seed_from_u64(seed),
            kept,
            origins,
            traces_in: 0,
            second: 0,
        }
    }

    /// One second of traffic: `traces` one-span traces, `errors` of them in error, in ten ticks.
    fn run_second(&mut self, traces: usize, errors: usize) {
        for tick in 0..10 {
            let n = traces / 10;
            let e = errors / 10;
            let now_ns = self.clock.now().as_nanos() as u64;
            let batch: Vec<Span> = (0..n)
                .map(|i| {
                    // Strata: 80% search, 19% cart, 1% checkout.
                    let pick = self.rng.gen_range(0..100);
                    let origin = match pick {
                        0 => &self.origins[0],
                        1..=19 => &self.origins[1],
                        _ => &self.origins[2],
                    };
                    Span {
                        trace_id: TraceId::from_u128(self.rng.gen::<u128>() | 1),
                        span_id: SpanId::from_u64(1),
                        name: "GET /".into(),
                        start_time_unix_nano: now_ns,
                        end_time_unix_nano: now_ns + 1_000_000,
                        status_code: if i < e {
                            StatusCode::Error
                        } else {
                            StatusCode::Unset
                        },
                        origin: origin.clone(),
                        ..Span::default()
                    }
                })
                .collect();
            self.traces_in += n as u64;
            self.sampler.ingest(batch);
            let _ = tick;
            self.clock.advance(Duration::from_millis(100));
            self.sampler.poll(self.clock.now());
        }
        self.second += 1;
    }

    /// Kept spans of every second so far.
    fn kept_per_second(&self) -> Vec<f64> {
        let map = self.kept.lock().unwrap();
        (0..self.second)
            .map(|s| map.get(&s).map_or(0.0, |k| k.spans as f64))
            .collect()
    }

    fn rates(&self, policy: usize) -> Vec<f64> {
        self.sampler
            .controller_history()
            .iter()
            .map(|s| s.policies[policy].rate)
            .collect()
    }

    fn adjusted_total(&self) -> f64 {
        self.kept.lock().unwrap().values().map(|k| k.adjusted).sum()
    }
}

fn within(value: f64, target: f64, tolerance: f64) -> bool {
    (value - target).abs() <= tolerance * target
}

/// Sign changes of successive non-zero rate moves.
fn sign_flips(rates: &[f64]) -> usize {
    let moves: Vec<f64> = rates
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| d.abs() > 1e-12)
        .collect();
    moves
        .windows(2)
        .filter(|w| w[0].signum() != w[1].signum())
        .count()
}

#[test]
fn demand_below_budget_keeps_every_rate_at_one() {
    let mut sim = Sim::new(BUDGET, 1);
    for _ in 0..8 {
        sim.run_second(2_000, 20);
    }
    let state = sim
        .sampler
        .controller_state()
        .expect("a budget is configured");
    assert!(state.policies.iter().all(|p| p.rate == 1.0), "{state:?}");
    let kept = sim.kept_per_second();
    assert!(
        kept[1..7].iter().all(|&k| within(k, 2_000.0, 0.02)),
        "{kept:?}"
    );
}

#[test]
fn steady_demand_ten_times_the_budget_converges_within_ten_intervals_and_stays() {
    let mut sim = Sim::new(BUDGET, 2);
    for _ in 0..24 {
        sim.run_second(40_000, 0);
    }
    let kept = sim.kept_per_second();
    let converged = (0..kept.len())
        .find(|&i| {
            kept[i..kept.len() - 1]
                .iter()
                .all(|&k| within(k, BUDGET, 0.05))
        })
        .expect("kept output converges");
    assert!(
        converged <= 10,
        "converged at interval {converged}: {kept:?}"
    );
    let history = sim.sampler.controller_history();
    let from = converged.min(history.len());
    let policy = sim.rates(1);
    assert!(
        sign_flips(&policy[from..]) <= 2,
        "rates oscillate: {policy:?}"
    );
    for (label, _, _) in &history[history.len() - 1].policies[1].strata {
        let rates: Vec<f64> = history[from..]
            .iter()
            .filter_map(|s| {
                s.policies[1]
                    .strata
                    .iter()
                    .find(|(l, _, _)| l == label)
                    .map(|(_, _, r)| *r)
            })
            .collect();
        assert!(
            sign_flips(&rates) <= 2,
            "stratum {label} oscillates: {rates:?}"
        );
    }
}

#[test]
fn a_step_to_ten_times_demand_overshoots_for_at_most_two_intervals() {
    let mut sim = Sim::new(BUDGET, 3);
    for _ in 0..6 {
        sim.run_second(4_000, 0);
    }
    for _ in 0..12 {
        sim.run_second(40_000, 0);
    }
    let kept = sim.kept_per_second();
    let over: Vec<usize> = (6..kept.len() - 1)
        .filter(|&i| kept[i] > 1.05 * BUDGET)
        .collect();
    assert!(
        over.len() <= 2,
        "over budget in intervals {over:?}: {kept:?}"
    );
    assert!(
        kept[10..kept.len() - 1]
            .iter()
            .all(|&k| within(k, BUDGET, 0.05)),
        "{kept:?}"
    );
}

#[test]
fn errors_alone_over_budget_are_sampled_and_lower_policies_get_their_floor() {
    let mut sim = Sim::new(BUDGET, 4);
    for _ in 0..14 {
        // 8,000 error traces a second: twice the budget by themselves.
        sim.run_second(40_000, 8_000);
    }
    let state = sim.sampler.controller_state().unwrap();
    let errors = state.policies[0].rate;
    assert!((0.4..=0.6).contains(&errors), "errors rate {errors}");
    let floor = 1e-4;
    assert!(state.policies[1]
        .strata
        .iter()
        .all(|(_, _, rate)| (rate - floor).abs() < 1e-9 || *rate <= 2.0 * floor));
    let kept = sim.kept_per_second();
    assert!(kept[12] > 0.0, "errors are never all dropped");
    assert!(within(kept[12], BUDGET, 0.1), "{kept:?}");
}

#[test]
fn reload_with_a_new_budget_moves_there_without_resetting_forecasts() {
    let mut sim = Sim::new(BUDGET, 5);
    for _ in 0..12 {
        sim.run_second(40_000, 0);
    }
    let steps_before = sim.sampler.controller_state().unwrap().steps;
    sim.sampler
        .reload(config(2.0 * BUDGET))
        .expect("valid reload");
    for _ in 0..12 {
        sim.run_second(40_000, 0);
    }
    let state = sim.sampler.controller_state().unwrap();
    assert!(
        state.steps > steps_before,
        "controller state survives the reload"
    );
    let kept = sim.kept_per_second();
    // No reset to rate 1 after the reload: no burst of kept output.
    assert!(
        kept[12..].iter().all(|&k| k <= 2.0 * BUDGET * 1.1),
        "{kept:?}"
    );
    assert!(
        kept[20..23].iter().all(|&k| within(k, 2.0 * BUDGET, 0.05)),
        "{kept:?}"
    );
    // An invalid reload keeps the running config, and says why.
    let mut bad = config(BUDGET);
    if let Some(b) = bad.budget.as_mut() {
        b.interval = Duration::from_millis(1);
    }
    bad.policies.truncate(1);
    let err = sim
        .sampler
        .reload(bad)
        .expect_err("a 1ms interval is refused");
    assert!(err.to_string().contains("budget.interval"), "{err}");
    assert_eq!(sim.sampler.policies().len(), 2);
    assert_eq!(
        sim.sampler.config().budget.unwrap().spans_per_second,
        Some(2.0 * BUDGET)
    );
}

#[test]
fn adjusted_counts_estimate_the_true_count_while_rates_change() {
    let mut sim = Sim::new(BUDGET, 6);
    for second in 0..30 {
        // Demand swings between 2× and 12× the budget.
        let traces = if (second / 5) % 2 == 0 { 8_000 } else { 48_000 };
        sim.run_second(traces, traces / 100);
    }
    sim.sampler.shutdown();
    let estimate = sim.adjusted_total();
    let truth = sim.traces_in as f64;
    assert!(
        within(estimate, truth, 0.03),
        "estimated {estimate} traces, true {truth}"
    );
    let rates = sim.rates(1);
    assert!(
        rates.iter().any(|&r| r < 0.5) && rates.windows(2).any(|w| w[1] > w[0]),
        "rates changed: {rates:?}"
    );
}

#[test]
fn after_an_error_burst_lower_policies_recover_within_a_few_intervals() {
    let mut sim = Sim::new(BUDGET, 7);
    for _ in 0..6 {
        sim.run_second(40_000, 0);
    }
    for _ in 0..4 {
        // A burst: errors alone are twice the budget.
        sim.run_second(40_000, 8_000);
    }
    for _ in 0..10 {
        sim.run_second(40_000, 0);
    }
    let kept = sim.kept_per_second();
    let back = (10..kept.len())
        .find(|&i| within(kept[i], BUDGET, 0.05))
        .unwrap_or_else(|| panic!("kept output never returns to the budget: {kept:?}"));
    // Kept output may rise by max_change (20%) of the budget per interval: from nothing back to
    // the budget in five intervals, plus one to see the burst end and one to settle.
    assert!(
        back <= 10 + 5 + 2,
        "back on budget at interval {back}: {kept:?}"
    );
}
