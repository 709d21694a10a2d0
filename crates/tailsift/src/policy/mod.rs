//! Policies: what decides whether a trace is kept.
//!
//! A [`Policy`] looks at one whole trace through its [`TraceView`] and returns a [`Verdict`].
//! Native built-ins live in this module tree; CEL expressions (`tailsift-cel`) and WASM modules
//! (`tailsift-wasm`) implement the same trait in their own crates, so heavy dependencies stay
//! out of the engine.
//!
//! The operator's policies come as [`PolicyConfig`]s (one `[[policy]]` table each) and are
//! built into a [`PolicySet`], the engine's [`Decider`]: it evaluates them in order, combines
//! their verdicts, maintains the latency baseline the view carries, counts what each policy
//! matched and kept, and takes its rates from the adaptive controller ([`PolicyRates`]).
//!
//! One module per kind, with its config, evaluation and tests side by side:
//! [`errors`], [`latency`], [`critical_path`], [`representative`] (the four of the mission),
//! [`probabilistic`] (a plain sample at one rate, without strata), [`status_code`],
//! [`attribute`] (string, numeric, boolean), [`span_count`], [`rate_limit`], [`always`] (and
//! never), [`composite`] (and, or, not, drop). `cel` and `wasm` configs are
//! parsed here and built by other crates through [`PolicyBuilders`].

pub mod always;
pub mod attribute;
pub mod builders;
pub mod composite;
pub mod config;
pub mod critical_path;
pub mod errors;
pub mod group;
pub mod latency;
pub mod probabilistic;
pub mod rate_limit;
pub mod rates;
pub mod representative;
pub mod set;
pub mod span_count;
pub mod stats;
pub mod status_code;

pub use builders::{build_policy, ExtensionBuilder, PolicyBuilders};
pub use config::{
    CelPolicyConfig, OnError, PolicyConfig, PolicyConfigError, PolicyKind, WasmPolicyConfig,
    POLICY_KINDS,
};
pub use group::{GroupBy, GroupKey};
pub use rates::PolicyRates;
pub use set::{Explanation, PolicyExplanation, PolicySet};
pub use stats::{PolicyInterval, PolicyTotals, StratumInterval, Volume};

use std::sync::OnceLock;

use crate::span::{Interner, Str};
use crate::verdict::Verdict;
use crate::view::TraceView;

/// Most distinct policy names made immortal by [`name_str`]; past it names are counted copies.
const MAX_POLICY_NAMES: usize = 4096;

/// A policy's name as a [`Str`] that costs no atomic operation to clone or drop: it is the
/// reason in every verdict and decision of the policy, cloned and dropped once per trace or
/// more, from every deciding thread. Names are interned process-wide (immortal, see
/// [`Interner`]), so rebuilding a set with the same names — a reload — allocates nothing new.
pub(crate) fn name_str(name: &str) -> Str {
    static NAMES: OnceLock<Interner> = OnceLock::new();
    NAMES
        .get_or_init(|| Interner::new(MAX_POLICY_NAMES))
        .intern(name)
}

/// A failure of one policy on one trace (a CEL runtime error, a WASM trap or timeout). The
/// policy set turns it into the policy's configured fallback verdict and counts it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("policy {policy}: {message}")]
pub struct PolicyError {
    /// The failing policy's name.
    pub policy: String,
    /// What went wrong.
    pub message: String,
}

/// Decides about whole traces.
///
/// Implementations must be cheap to call concurrently: the engine evaluates traces of
/// different shards on different threads at once.
pub trait Policy: Send + Sync {
    /// The policy's configured name (used in reasons, metrics and the controller).
    fn name(&self) -> &str;

    /// The verdict on one trace.
    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError>;
}

/// What the engine calls to decide a ready trace: the operator's whole policy set, or any
/// closure. The view is mutable so a decider can attach facts (the latency baseline) before its
/// policies read it.
///
/// The engine calls it with no lock held, from whichever thread decides (a poller, or an ingest
/// over the buffer's bounds), for traces of one shard or of several at once: a slow decider
/// delays its own traces' decisions, never an `ingest` call, and it may call back into the
/// engine.
pub trait Decider: Send + Sync {
    /// Decides one trace.
    fn decide(&self, trace: &mut TraceView<'_>) -> crate::verdict::Outcome;
}

/// Any `Fn(&TraceView) -> Verdict` is a decider of one policy, combined by the shared
/// randomness rule with "drop" as the default.
impl<F> Decider for F
where
    F: Fn(&TraceView<'_>) -> Verdict + Send + Sync,
{
    fn decide(&self, trace: &mut TraceView<'_>) -> crate::verdict::Outcome {
        let verdict = self(trace);
        crate::verdict::combine(trace.randomness(), [verdict], false)
    }
}
