//! Policies: what decides whether a trace is kept.
//!
//! A [`Policy`] looks at one whole trace through its [`TraceView`] and returns a [`Verdict`].
//! Native built-ins live in this module tree; CEL expressions (`tailsift-cel`) and WASM modules
//! (`tailsift-wasm`) implement the same trait in their own crates, so heavy dependencies stay
//! out of the engine.

use crate::verdict::Verdict;
use crate::view::TraceView;

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
