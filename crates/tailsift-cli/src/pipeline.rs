//! The config-driven whole the commands run: a [`tailsift::Sampler`] (engine, policy set,
//! adaptive controller) on a manual clock.
//!
//! Time is always explicit here: the caller says what time it is ([`Pipeline::advance`]) — the
//! simulated clock of the demo, the spans' own clock in a replay — so a run is deterministic.

use std::sync::Arc;
use std::time::Duration;

use tailsift::controller::ControllerState;
use tailsift::policy::PolicyTotals;
use tailsift::{
    Config, Decider, EngineStats, IngestReport, ManualClock, PolicySet, PollReport, Sampler, Sink,
    Span,
};

use crate::error::CliError;
use crate::policies;

/// The interval at which series are recorded when the config has no budget.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// A sampler on a manual clock.
pub struct Pipeline {
    sampler: Sampler,
    clock: ManualClock,
    interval: Duration,
    now: Duration,
}

impl Pipeline {
    /// Builds the sampler for `config`; decisions go to `sink`.
    pub fn new(config: &Config, sink: impl Sink + 'static) -> Result<Pipeline, CliError> {
        let clock = ManualClock::new();
        let sampler = Sampler::builder(config.clone())
            .builders(policies::builders())
            .sink(sink)
            .clock(clock.clone())
            .build()
            .map_err(CliError::Sampler)?;
        let interval = config
            .budget
            .as_ref()
            .map_or(DEFAULT_INTERVAL, |b| b.interval);
        Ok(Pipeline {
            sampler,
            clock,
            interval,
            now: Duration::ZERO,
        })
    }

    /// The policy set in force.
    pub fn policy_set(&self) -> Arc<PolicySet> {
        self.sampler.policies()
    }

    /// Puts `decider` in place of the policy set as the engine's decider (explain does, to see
    /// each trace's view). It must let the policy set decide, so the set's counts still feed
    /// the controller.
    pub fn wrap_decider(&self, decider: Arc<dyn Decider>) {
        self.sampler.engine().set_decider(decider);
    }

    /// The controller's interval (or 10 s without a budget): the step of recorded series.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Hands spans to the engine at the current time.
    pub fn ingest(&self, spans: Vec<Span>) -> IngestReport {
        self.sampler.ingest(spans)
    }

    /// Moves the clock to `now` (never backwards), decides what is due, and steps the
    /// controller when an interval has passed.
    pub fn advance(&mut self, now: Duration) -> PollReport {
        let now = now.max(self.now);
        self.now = now;
        self.clock.set(now);
        self.sampler.poll(now)
    }

    /// Decides every trace still buffered (flagged `shutdown`).
    pub fn finish(&self) -> PollReport {
        self.sampler.shutdown()
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        self.sampler.stats()
    }

    /// What each policy matched and kept since the start, in priority order.
    pub fn policy_totals(&self) -> Vec<PolicyTotals> {
        self.sampler.policy_totals()
    }

    /// The controller's state after its latest step (`None` without a budget).
    pub fn controller_state(&self) -> Option<ControllerState> {
        self.sampler.controller_state()
    }
}
