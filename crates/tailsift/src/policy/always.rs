//! `always` and `never`: the constant policies.
//!
//! `always` keeps every trace at rate 1 (a controller multiplier turns it into a uniform
//! consistent sample); `never` has no opinion on any trace. They are the building blocks of
//! composites (`not`, `or`) and the simplest way to switch a policy set to "keep everything"
//! while debugging. `never` abstains rather than vetoing: to drop traces, use `drop`.

use super::Policy;
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Keeps every trace.
#[derive(Clone, Debug)]
pub struct AlwaysPolicy {
    name: Str,
}

impl AlwaysPolicy {
    /// An `always` policy named `name`.
    pub fn new(name: &str) -> AlwaysPolicy {
        AlwaysPolicy {
            name: super::name_str(name),
        }
    }
}

impl Policy for AlwaysPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, _trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        Ok(Verdict::keep(self.name.clone()))
    }
}

/// Keeps no trace (abstains on every one).
#[derive(Clone, Debug)]
pub struct NeverPolicy {
    name: Str,
}

impl NeverPolicy {
    /// A `never` policy named `name`.
    pub fn new(name: &str) -> NeverPolicy {
        NeverPolicy {
            name: super::name_str(name),
        }
    }
}

impl Policy for NeverPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, _trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        Ok(Verdict::Abstain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::TraceId;
    use crate::view::TraceFlags;
    use std::time::Duration;

    #[test]
    fn always_keeps_and_never_abstains_even_on_empty_traces() {
        let view = TraceView::new(
            TraceId::from_u128(1),
            &[],
            TraceFlags::default(),
            Duration::ZERO,
        );
        assert_eq!(
            AlwaysPolicy::new("all").evaluate(&view).unwrap(),
            Verdict::keep("all")
        );
        assert_eq!(
            NeverPolicy::new("none").evaluate(&view).unwrap(),
            Verdict::Abstain
        );
    }
}
