//! The traffic `tailsift demo` generates, as one stream of batches in time order.
//!
//! - `mission`: the traffic generator's mission workload as it is (a surge in the middle).
//! - `step`: steady traffic at `base` spans/s that steps to 10 × `base` halfway. The generator
//!   has no step of its own, so a second mission stream (another seed, 9 × `base`, no surge)
//!   starts at the halfway mark, its timeline shifted there, and the two are merged in time
//!   order. Error bursts are off in both, so the step is the only change the controller sees.

use std::iter::Peekable;
use std::time::Duration;

use tailsift_traffic::{Batch, MissionConfig, Traffic};

use crate::error::CliError;
use crate::Scenario;

/// The mission workload's default average rate.
pub const MISSION_SPANS_PER_SECOND: f64 = 5_000.0;
/// How much the `step` scenario's traffic grows halfway.
pub const STEP_FACTOR: f64 = 10.0;

/// A scenario's batches in time order.
pub type Batches = Box<dyn Iterator<Item = Batch> + Send>;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The scenario.
    pub scenario: Scenario,
    /// Simulated time during which traces start.
    pub duration: Duration,
    /// Mission: the average rate. Step: the rate before the step.
    pub spans_per_second: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

/// The batches of `plan`.
pub fn batches(plan: &Plan) -> Result<Batches, CliError> {
    match plan.scenario {
        Scenario::Mission => {
            let config = MissionConfig {
                seed: plan.seed,
                duration: plan.duration,
                spans_per_second: plan.spans_per_second,
                ..MissionConfig::default()
            };
            Ok(Box::new(config.traffic()?))
        }
        Scenario::Step => {
            let steady = |seed, duration, spans_per_second| MissionConfig {
                seed,
                duration,
                spans_per_second,
                surge: false,
                error_bursts: false,
                ..MissionConfig::default()
            };
            let half = plan.duration / 2;
            let base = steady(plan.seed, plan.duration, plan.spans_per_second).traffic()?;
            let mut extra = steady(
                plan.seed.wrapping_add(1),
                plan.duration.saturating_sub(half),
                plan.spans_per_second * (STEP_FACTOR - 1.0),
            );
            extra.timeline.epoch_unix_nanos += half.as_nanos() as u64;
            let extra = Shifted {
                inner: extra.traffic()?,
                by: half,
            };
            Ok(Box::new(Merge {
                a: base.peekable(),
                b: extra.peekable(),
            }))
        }
    }
}

/// A stream whose batches are delivered `by` later.
struct Shifted {
    inner: Traffic,
    by: Duration,
}

impl Iterator for Shifted {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let mut batch = self.inner.next()?;
        batch.at += self.by;
        for truth in &mut batch.completed {
            truth.root_arrival += self.by;
            truth.last_arrival += self.by;
        }
        Some(batch)
    }
}

/// Two streams merged in time order.
struct Merge {
    a: Peekable<Traffic>,
    b: Peekable<Shifted>,
}

impl Iterator for Merge {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if b.at < a.at => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_traffic_is_in_time_order_and_steps_up_halfway() {
        let plan = Plan {
            scenario: Scenario::Step,
            duration: Duration::from_secs(4),
            spans_per_second: 500.0,
            seed: 1,
        };
        let mut last = Duration::ZERO;
        let (mut before, mut after) = (0usize, 0usize);
        for batch in batches(&plan).unwrap() {
            assert!(batch.at >= last, "batches out of order");
            last = batch.at;
            if batch.at < Duration::from_secs(2) {
                before += batch.spans.len();
            } else if batch.at < Duration::from_secs(4) {
                after += batch.spans.len();
            }
        }
        let ratio = after as f64 / before.max(1) as f64;
        assert!((5.0..20.0).contains(&ratio), "step ratio {ratio}");
    }
}
