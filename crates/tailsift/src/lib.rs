//! # tailsift
//!
//! An embeddable tail-sampling decision engine for distributed traces.
//!
//! A collector hands the [`Engine`] spans as they arrive. The engine holds each trace in a
//! sharded buffer until it is complete (its root span ended and no span came for a short grace)
//! or has waited `decision_wait`, then runs the decider (the operator's policies) over the whole
//! trace and hands a [`Decision`] — keep or drop, why, the adjusted count, and the spans to
//! forward — to the caller's [`Sink`].
//!
//! See `docs/ARCHITECTURE.md` in the repository for the bird's-eye view.
#![warn(missing_docs)]

pub mod abi;
pub mod budget;
mod buffer;
mod cache;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod controller;
pub mod critical_path;
pub mod decision;
pub mod driver;
pub mod engine;
pub mod malloc;
mod metrics;
pub mod policy;
mod prefetch;
pub mod ring;
pub mod sampler;
pub mod sketch;
pub mod span;
pub mod verdict;
pub mod view;

pub use budget::BudgetConfig;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{BufferConfig, ConfigError, DecisionCacheConfig, EngineConfig, OutputConfig};
pub use config_file::{Config, ConfigFileError, ConfigProblem};
pub use decision::{ChannelSink, Decision, DecisionFlags, Sink};
pub use driver::{Driver, DriverConfig, Pollable};
pub use engine::{Engine, EngineBuilder, EngineStats, IngestReport, PollReport, RejectReason};
pub use policy::{
    CelPolicyConfig, OnError, PolicyBuilders, PolicyConfig, PolicyConfigError, PolicyKind,
    PolicyRates, PolicySet, WasmPolicyConfig,
};
pub use policy::{Decider, Policy, PolicyError};
pub use ring::Ring;
pub use sampler::{Sampler, SamplerBuilder, SamplerError};
pub use span::{
    has_low_cardinality_values, Event, Interner, KeyValue, Link, Origin, Resource, Scope, Span,
    SpanExtra, SpanId, SpanKind, StatusCode, Str, Text, TraceId, Value,
};
pub use verdict::{Outcome, Verdict};
pub use view::{Baseline, TraceFlags, TraceView};

/// The README's code blocks, compiled and run as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
