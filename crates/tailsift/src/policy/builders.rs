//! Building policies from their configs, including the kinds other crates provide.
//!
//! CEL and WASM policies need heavy dependencies (a CEL interpreter, wasmtime) that the engine
//! crate must not carry, so their configs are parsed here but built by *extension builders* the
//! caller registers: `tailsift-cel` and `tailsift-wasm` each export one. A config that names a
//! kind whose builder is missing is refused with a message saying which crate provides it.

use std::fmt;
use std::sync::Arc;

use super::always::{AlwaysPolicy, NeverPolicy};
use super::attribute::AttributePolicy;
use super::composite::{CompositeOp, CompositePolicy, SubPolicy};
use super::config::{
    CelPolicyConfig, PolicyConfig, PolicyConfigError, PolicyKind, WasmPolicyConfig,
};
use super::critical_path::CriticalPathPolicy;
use super::errors::ErrorsPolicy;
use super::latency::LatencyPolicy;
use super::probabilistic::ProbabilisticPolicy;
use super::rate_limit::RateLimitPolicy;
use super::representative::RepresentativePolicy;
use super::span_count::SpanCountPolicy;
use super::status_code::StatusCodePolicy;
use super::Policy;
use crate::sketch::GroupedSketches;

/// Builds one extension policy from its name and config; an `Err` is a message for the operator
/// (an expression that does not compile, a module that cannot be loaded).
pub type ExtensionBuilder<C> =
    Arc<dyn Fn(&str, &C) -> Result<Arc<dyn Policy>, String> + Send + Sync>;

/// The builders of policy kinds implemented outside the engine crate.
#[derive(Clone, Default)]
pub struct PolicyBuilders {
    /// Builds `cel` policies (from `tailsift-cel`).
    pub cel: Option<ExtensionBuilder<CelPolicyConfig>>,
    /// Builds `wasm` policies (from `tailsift-wasm`).
    pub wasm: Option<ExtensionBuilder<WasmPolicyConfig>>,
}

impl PolicyBuilders {
    /// No extension builders: native kinds only.
    pub fn new() -> PolicyBuilders {
        PolicyBuilders::default()
    }

    /// With `builder` for `cel` policies.
    pub fn with_cel(
        mut self,
        builder: impl Fn(&str, &CelPolicyConfig) -> Result<Arc<dyn Policy>, String>
            + Send
            + Sync
            + 'static,
    ) -> PolicyBuilders {
        self.cel = Some(Arc::new(builder));
        self
    }

    /// With `builder` for `wasm` policies.
    pub fn with_wasm(
        mut self,
        builder: impl Fn(&str, &WasmPolicyConfig) -> Result<Arc<dyn Policy>, String>
            + Send
            + Sync
            + 'static,
    ) -> PolicyBuilders {
        self.wasm = Some(Arc::new(builder));
        self
    }
}

impl fmt::Debug for PolicyBuilders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyBuilders")
            .field("cel", &self.cel.is_some())
            .field("wasm", &self.wasm.is_some())
            .finish()
    }
}

/// Builds one policy (and its sub-policies) on its own, outside a policy set. Stateful kinds
/// (latency baselines, representative strata, rate limits) get their own state.
pub fn build_policy(
    config: &PolicyConfig,
    builders: &PolicyBuilders,
) -> Result<Arc<dyn Policy>, PolicyConfigError> {
    build(config, builders, None).map(Built::into_dyn)
}

/// A built policy; representative policies stay concrete so a set can attach its rate table.
pub(crate) enum Built {
    Dyn(Arc<dyn Policy>),
    Representative(RepresentativePolicy),
}

impl Built {
    pub(crate) fn into_dyn(self) -> Arc<dyn Policy> {
        match self {
            Built::Dyn(p) => p,
            Built::Representative(p) => Arc::new(p),
        }
    }
}

/// Builds `config`; latency policies that can share `shared` baselines read them.
pub(crate) fn build(
    config: &PolicyConfig,
    builders: &PolicyBuilders,
    shared: Option<&Arc<GroupedSketches>>,
) -> Result<Built, PolicyConfigError> {
    config.validate()?;
    let name = config.name.as_str();
    let dyn_policy: Arc<dyn Policy> = match &config.kind {
        PolicyKind::Always => Arc::new(AlwaysPolicy::new(name)),
        PolicyKind::Never => Arc::new(NeverPolicy::new(name)),
        PolicyKind::Errors(c) => Arc::new(ErrorsPolicy::new(name, c)),
        PolicyKind::Latency(c) => match shared {
            Some(s) if c.shares(s.config()) => {
                Arc::new(LatencyPolicy::with_shared(name, c, s.clone())?)
            }
            _ => Arc::new(LatencyPolicy::new(name, c)?),
        },
        PolicyKind::CriticalPath(c) => Arc::new(CriticalPathPolicy::new(name, c)?),
        PolicyKind::Representative(c) => {
            return Ok(Built::Representative(RepresentativePolicy::new(name, c)?))
        }
        PolicyKind::Probabilistic(c) => Arc::new(ProbabilisticPolicy::new(name, c)?),
        PolicyKind::StatusCode(c) => Arc::new(StatusCodePolicy::new(name, c)?),
        PolicyKind::StringAttribute(c) => Arc::new(AttributePolicy::string(name, c)?),
        PolicyKind::NumericAttribute(c) => Arc::new(AttributePolicy::numeric(name, c)?),
        PolicyKind::BooleanAttribute(c) => Arc::new(AttributePolicy::boolean(name, c)?),
        PolicyKind::SpanCount(c) => Arc::new(SpanCountPolicy::new(name, c)?),
        PolicyKind::RateLimit(c) => Arc::new(RateLimitPolicy::new(name, c)?),
        PolicyKind::And(c) | PolicyKind::Or(c) => {
            let op = match config.kind {
                PolicyKind::And(_) => CompositeOp::And,
                _ => CompositeOp::Or,
            };
            let children = c
                .policies
                .iter()
                .map(|child| sub(child, builders, shared))
                .collect::<Result<_, _>>()?;
            Arc::new(CompositePolicy::new(name, op, children))
        }
        PolicyKind::Not(c) | PolicyKind::Drop(c) => {
            let op = match config.kind {
                PolicyKind::Not(_) => CompositeOp::Not,
                _ => CompositeOp::Drop,
            };
            let child = sub(&c.policy, builders, shared)?;
            Arc::new(CompositePolicy::new(name, op, vec![child]))
        }
        PolicyKind::Cel(c) => {
            let builder = builders
                .cel
                .as_ref()
                .ok_or(PolicyConfigError::MissingBuilder {
                    policy: name.to_string(),
                    kind: "cel",
                    provider: "tailsift-cel",
                })?;
            builder(name, c).map_err(|message| PolicyConfigError::Build {
                policy: name.to_string(),
                message,
            })?
        }
        PolicyKind::Wasm(c) => {
            let builder = builders
                .wasm
                .as_ref()
                .ok_or(PolicyConfigError::MissingBuilder {
                    policy: name.to_string(),
                    kind: "wasm",
                    provider: "tailsift-wasm",
                })?;
            builder(name, c).map_err(|message| PolicyConfigError::Build {
                policy: name.to_string(),
                message,
            })?
        }
    };
    Ok(Built::Dyn(dyn_policy))
}

fn sub(
    config: &PolicyConfig,
    builders: &PolicyBuilders,
    shared: Option<&Arc<GroupedSketches>>,
) -> Result<SubPolicy, PolicyConfigError> {
    Ok(SubPolicy {
        policy: build(config, builders, shared)?.into_dyn(),
        on_error: config.on_error,
    })
}

/// Whether `config` (or a sub-policy) may read the trace's latency baseline: latency policies
/// that share it, and CEL and WASM policies, which can read it from the view.
pub(crate) fn needs_baseline(
    config: &PolicyConfig,
    shared: &crate::sketch::BaselineConfig,
) -> bool {
    match &config.kind {
        PolicyKind::Latency(c) => c.shares(shared),
        PolicyKind::Cel(_) | PolicyKind::Wasm(_) => true,
        PolicyKind::And(c) | PolicyKind::Or(c) => {
            c.policies.iter().any(|p| needs_baseline(p, shared))
        }
        PolicyKind::Not(c) | PolicyKind::Drop(c) => needs_baseline(&c.policy, shared),
        _ => false,
    }
}
