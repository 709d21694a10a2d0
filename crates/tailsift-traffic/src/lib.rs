//! # tailsift-traffic
//!
//! One deterministic generator of realistic trace traffic, shared by the `tailsift demo`
//! command, the throughput harness, the benches and the simulation tests, so that every figure
//! and every test speaks of the same traffic.
//!
//! - **Deterministic.** A seed fully determines the output; nothing reads the wall clock or the
//!   OS's entropy. Trace ids are uniformly random 128-bit values, so the engine's sampling
//!   randomness (their low 56 bits) is uniform.
//! - **Simulated time, arrival order.** Traces live on a simulated timeline that starts at a
//!   configurable unix epoch. A span arrives when it ends, plus a small export delay, as a
//!   collector sees it: children before parents, the root last, a slow consumer's span long
//!   after. [`Traffic`] is an iterator of [`Batch`]es, one per tick of simulated time.
//! - **Ground truth.** Each batch carries a [`TraceTruth`] for every trace whose last span it
//!   holds: what a sampler should know about the trace, to check decisions and unbiased counts.
//! - **Cheap.** Resources, scopes, names, keys and constant values are built once and shared
//!   (`Arc`), so a span costs a few reference-count increments and one small allocation (two
//!   for a failed span, whose status message and exception event sit in its `SpanExtra`).
//!
//! Two workloads: [`AnchorConfig`] (`anchor`, the fixed benchmark shape) and [`MissionConfig`]
//! (`mission`, a dozen microservices with error bursts, slow outliers, a critical checkout path,
//! rare endpoints and a traffic surge).
//!
//! ```
//! use tailsift_traffic::Workload;
//!
//! let workload = Workload::from_name("mission")?.with_seed(7);
//! let mut spans = 0;
//! for batch in workload.traffic()?.take(100) {
//!     // Hand `batch.spans` to the engine at `batch.at`; check its decisions against
//!     // `batch.completed`.
//!     spans += batch.spans.len();
//! }
//! assert!(spans > 0);
//! # Ok::<(), tailsift_traffic::ConfigError>(())
//! ```
#![warn(missing_docs)]

mod anchor;
mod calltree;
mod catalog;
mod mission;
mod random;
mod services;
mod stream;
mod truth;
mod values;

use std::time::Duration;

pub use anchor::{
    AnchorConfig, ANCHOR_FAST_MAX, ANCHOR_RESOURCE_ATTRIBUTES, ANCHOR_SLOW_ROOT,
    ANCHOR_SPANS_PER_TRACE, ANCHOR_SPAN_ATTRIBUTES,
};
pub use mission::{ErrorBurst, MissionConfig};
pub use services::{CRITICAL_OPERATIONS, SERVICES};
pub use stream::{Batch, Timeline, TrafficStats};
pub use truth::{TraceKind, TraceTruth};
pub use values::SpanValues;

use anchor::AnchorSource;
use mission::MissionSource;
use stream::Stream;

/// A configuration that cannot generate traffic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// [`Workload::from_name`] was given a name it does not know.
    #[error("unknown workload {0:?}: expected \"anchor\" or \"mission\"")]
    UnknownWorkload(String),
    /// A setting is out of range; the message names it and what it was.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn validate_timeline(timeline: &Timeline) -> Result<(), ConfigError> {
    if timeline.tick.is_zero() {
        return Err(ConfigError::Invalid(
            "timeline.tick must be non-zero, got 0s".into(),
        ));
    }
    if timeline.max_batch_spans == Some(0) {
        return Err(ConfigError::Invalid(
            "timeline.max_batch_spans must be at least 1 (or None for whole ticks), got 0".into(),
        ));
    }
    Ok(())
}

/// A named workload with its configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// The fixed benchmark shape: see [`AnchorConfig`].
    Anchor(AnchorConfig),
    /// The demo's microservice traffic: see [`MissionConfig`].
    Mission(MissionConfig),
}

impl Workload {
    /// The workload named `"anchor"` or `"mission"` (case-insensitive), with default settings.
    pub fn from_name(name: &str) -> Result<Workload, ConfigError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "anchor" => Ok(Workload::Anchor(AnchorConfig::default())),
            "mission" => Ok(Workload::Mission(MissionConfig::default())),
            _ => Err(ConfigError::UnknownWorkload(name.to_string())),
        }
    }

    /// The workload's name, as [`Workload::from_name`] takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Anchor(_) => "anchor",
            Workload::Mission(_) => "mission",
        }
    }

    /// The same workload with another seed.
    pub fn with_seed(mut self, seed: u64) -> Workload {
        match &mut self {
            Workload::Anchor(config) => config.seed = seed,
            Workload::Mission(config) => config.seed = seed,
        }
        self
    }

    /// The workload's timeline and batching settings, to adjust them.
    pub fn timeline_mut(&mut self) -> &mut Timeline {
        match self {
            Workload::Anchor(config) => &mut config.timeline,
            Workload::Mission(config) => &mut config.timeline,
        }
    }

    /// The workload as a stream of batches in arrival order.
    pub fn traffic(&self) -> Result<Traffic, ConfigError> {
        match self {
            Workload::Anchor(config) => config.traffic(),
            Workload::Mission(config) => config.traffic(),
        }
    }
}

/// A stream of [`Batch`]es in arrival order: an iterator that ends once every trace of the
/// workload has been handed out whole. Made by [`AnchorConfig::traffic`],
/// [`MissionConfig::traffic`] or [`Workload::traffic`].
pub struct Traffic {
    inner: Inner,
}

enum Inner {
    Anchor(Box<Stream<AnchorSource>>),
    Mission(Box<Stream<MissionSource>>),
}

impl Traffic {
    pub(crate) fn anchor(stream: Stream<AnchorSource>) -> Traffic {
        Traffic {
            inner: Inner::Anchor(Box::new(stream)),
        }
    }

    pub(crate) fn mission(stream: Stream<MissionSource>) -> Traffic {
        Traffic {
            inner: Inner::Mission(Box::new(stream)),
        }
    }

    /// What has been handed out so far.
    pub fn stats(&self) -> TrafficStats {
        match &self.inner {
            Inner::Anchor(stream) => stream.stats(),
            Inner::Mission(stream) => stream.stats(),
        }
    }

    /// The error bursts of the run (empty for the anchor workload).
    pub fn error_bursts(&self) -> &[ErrorBurst] {
        match &self.inner {
            Inner::Anchor(_) => &[],
            Inner::Mission(stream) => stream.source().error_bursts(),
        }
    }

    /// Every remaining span, with the time its batch is delivered: for callers that want a
    /// flat stream.
    pub fn spans(self) -> impl Iterator<Item = (Duration, tailsift::Span)> {
        self.flat_map(|batch| {
            let at = batch.at;
            batch.spans.into_iter().map(move |span| (at, span))
        })
    }
}

impl Iterator for Traffic {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        match &mut self.inner {
            Inner::Anchor(stream) => stream.next(),
            Inner::Mission(stream) => stream.next(),
        }
    }
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
