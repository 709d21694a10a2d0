//! `and`, `or`, `not`, `drop`: policies made of policies.
//!
//! Sub-policies are configured inline — `policies = [{ kind = "...", ... }, ...]` for `and` and
//! `or`, `policy = { kind = "...", ... }` for `not` and `drop` — and may be of any kind, nested
//! at will. A sub-policy *matches* when it returns `Keep`; the composite returns its own verdict,
//! under its own name:
//!
//! - `and`: `Keep` when every sub-policy keeps, at the *smallest* of their rates — with one shared
//!   randomness per trace, "kept by all" is exactly "kept at the smallest rate", so the adjusted
//!   count stays exact. Stops at the first sub-policy that does not keep.
//! - `or`: `Keep` when any sub-policy keeps, at the *largest* of their rates (same reasoning).
//! - `not`: `Keep` (rate 1) when the sub-policy does not keep; a sub-policy's rate is ignored,
//!   its `Keep` counts as a match whatever the rate (the complement of a threshold sample is not
//!   one).
//! - `drop`: vetoes the trace (`Drop`) when the sub-policy keeps it — e.g. health checks; abstains
//!   otherwise.
//!
//! Otherwise the composite abstains. A sub-policy `Drop` counts as "does not keep": only a
//! top-level `drop` vetoes. A sub-policy that fails uses its own `on_error` when it has one, and
//! otherwise fails the whole composite (whose `on_error` then applies).
//!
//! Because `and` and `or` stop early, a stateful sub-policy after the deciding one does not see
//! every trace: a `latency` policy inside `and` learns the baseline of the traces that passed the
//! sub-policies before it, and a `rate_limit` there only spends tokens on them — usually what
//! the operator means. Sub-policies do not get controller multipliers or stratum rates; those
//! apply to top-level policies.

use std::sync::Arc;

use serde::Deserialize;

use super::config::{OnError, PolicyConfig, PolicyConfigError};
use super::Policy;
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of `and` and `or`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeConfig {
    /// The sub-policies, at least one.
    pub policies: Vec<PolicyConfig>,
}

impl CompositeConfig {
    /// Checks the values, sub-policies included.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        if self.policies.is_empty() {
            return Err(PolicyConfigError::invalid(
                policy,
                "policies",
                "must hold at least one sub-policy (e.g. policies = [{ kind = \"errors\" }])",
            ));
        }
        self.policies.iter().try_for_each(PolicyConfig::validate)
    }
}

/// Parameters of `not` and `drop`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubPolicyConfig {
    /// The sub-policy.
    pub policy: Box<PolicyConfig>,
}

/// A built sub-policy, with its own failure fallback.
#[derive(Clone)]
pub struct SubPolicy {
    /// The policy.
    pub policy: Arc<dyn Policy>,
    /// Its fallback verdict; `None` passes its failures up.
    pub on_error: Option<OnError>,
}

/// How a composite combines its sub-policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompositeOp {
    /// Every sub-policy keeps.
    And,
    /// Any sub-policy keeps.
    Or,
    /// The sub-policy does not keep.
    Not,
    /// The sub-policy keeps: veto.
    Drop,
}

/// A composite policy.
pub struct CompositePolicy {
    name: Str,
    op: CompositeOp,
    children: Vec<SubPolicy>,
}

impl CompositePolicy {
    /// A composite named `name` over `children` (`not` and `drop` use the first child only).
    pub fn new(name: &str, op: CompositeOp, children: Vec<SubPolicy>) -> CompositePolicy {
        CompositePolicy {
            name: super::name_str(name),
            op,
            children,
        }
    }

    fn child(c: &SubPolicy, trace: &TraceView<'_>) -> Result<Option<f64>, PolicyError> {
        let verdict = match c.policy.evaluate(trace) {
            Ok(v) => v,
            Err(e) => match c.on_error {
                Some(fallback) => fallback.verdict(&Str::from(c.policy.name())),
                None => return Err(e),
            },
        };
        Ok(match verdict {
            Verdict::Keep { rate, .. } => Some(rate),
            Verdict::Abstain | Verdict::Drop { .. } => None,
        })
    }
}

impl Policy for CompositePolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let keep = |rate| Ok(Verdict::keep_at(self.name.clone(), rate));
        match self.op {
            CompositeOp::And => {
                let mut rate = 1.0f64;
                for c in &self.children {
                    match Self::child(c, trace)? {
                        Some(r) => rate = rate.min(r),
                        None => return Ok(Verdict::Abstain),
                    }
                }
                if self.children.is_empty() {
                    return Ok(Verdict::Abstain);
                }
                keep(rate)
            }
            CompositeOp::Or => {
                let mut best: Option<f64> = None;
                for c in &self.children {
                    if let Some(r) = Self::child(c, trace)? {
                        best = Some(best.map_or(r, |b| b.max(r)));
                        if r >= 1.0 {
                            break;
                        }
                    }
                }
                best.map_or(Ok(Verdict::Abstain), keep)
            }
            CompositeOp::Not | CompositeOp::Drop => {
                let matched = match self.children.first() {
                    Some(c) => Self::child(c, trace)?.is_some(),
                    None => false,
                };
                Ok(match (self.op, matched) {
                    (CompositeOp::Not, false) => Verdict::keep(self.name.clone()),
                    (CompositeOp::Drop, true) => Verdict::drop(self.name.clone()),
                    _ => Verdict::Abstain,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::TraceId;
    use crate::view::TraceFlags;
    use std::time::Duration;

    /// A policy answering a fixed verdict, or failing.
    struct Fixed(Option<Verdict>);

    impl Policy for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn evaluate(&self, _: &TraceView<'_>) -> Result<Verdict, PolicyError> {
            self.0.clone().ok_or_else(|| PolicyError {
                policy: "fixed".into(),
                message: "trap".into(),
            })
        }
    }

    fn sub(v: Option<Verdict>) -> SubPolicy {
        SubPolicy {
            policy: Arc::new(Fixed(v)),
            on_error: None,
        }
    }

    fn run(op: CompositeOp, children: Vec<SubPolicy>) -> Result<Verdict, PolicyError> {
        let view = TraceView::new(
            TraceId::from_u128(1),
            &[],
            TraceFlags::default(),
            Duration::ZERO,
        );
        CompositePolicy::new("c", op, children).evaluate(&view)
    }

    fn keep(rate: f64) -> Option<Verdict> {
        Some(Verdict::keep_at("x", rate))
    }

    #[test]
    fn and_keeps_at_the_smallest_rate_only_when_all_keep() {
        use CompositeOp::And;
        assert_eq!(
            run(And, vec![sub(keep(0.5)), sub(keep(0.2))]),
            Ok(Verdict::keep_at("c", 0.2))
        );
        assert_eq!(
            run(And, vec![sub(keep(1.0)), sub(Some(Verdict::Abstain))]),
            Ok(Verdict::Abstain)
        );
        assert_eq!(
            run(And, vec![sub(keep(1.0)), sub(Some(Verdict::drop("d")))]),
            Ok(Verdict::Abstain)
        );
        assert_eq!(run(And, vec![]), Ok(Verdict::Abstain));
        // Stops at the first non-keep: the failing policy after it is never run.
        assert_eq!(
            run(And, vec![sub(Some(Verdict::Abstain)), sub(None)]),
            Ok(Verdict::Abstain)
        );
    }

    #[test]
    fn or_keeps_at_the_largest_rate() {
        use CompositeOp::Or;
        assert_eq!(
            run(
                Or,
                vec![sub(keep(0.1)), sub(Some(Verdict::Abstain)), sub(keep(0.3))]
            ),
            Ok(Verdict::keep_at("c", 0.3))
        );
        assert_eq!(
            run(Or, vec![sub(Some(Verdict::Abstain))]),
            Ok(Verdict::Abstain)
        );
    }

    #[test]
    fn not_and_drop_invert_and_veto() {
        assert_eq!(
            run(CompositeOp::Not, vec![sub(Some(Verdict::Abstain))]),
            Ok(Verdict::keep("c"))
        );
        assert_eq!(
            run(CompositeOp::Not, vec![sub(keep(0.01))]),
            Ok(Verdict::Abstain)
        );
        assert_eq!(
            run(CompositeOp::Drop, vec![sub(keep(1.0))]),
            Ok(Verdict::drop("c"))
        );
        assert_eq!(
            run(CompositeOp::Drop, vec![sub(Some(Verdict::Abstain))]),
            Ok(Verdict::Abstain)
        );
    }

    #[test]
    fn failures_use_the_sub_policy_fallback_or_fail_the_composite() {
        assert!(run(CompositeOp::Or, vec![sub(None)]).is_err());
        let with_fallback = SubPolicy {
            on_error: Some(OnError::Keep),
            ..sub(None)
        };
        assert_eq!(
            run(CompositeOp::Or, vec![with_fallback]),
            Ok(Verdict::keep("c"))
        );
    }
}
