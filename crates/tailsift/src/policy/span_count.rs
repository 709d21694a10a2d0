//! `span_count`: keep traces by their number of spans.
//!
//! Unusually large traces (a retry storm, an N+1 query loop) and unusually small ones (a request
//! that failed before reaching its backends) are both worth a look; `min` and `max` bound the
//! count, inclusive, either may be left out.

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::Policy;
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of a `span_count` policy. At least one bound.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCountConfig {
    /// Keep traces with at least this many spans.
    #[serde(default)]
    pub min: Option<u64>,
    /// Keep traces with at most this many spans.
    #[serde(default)]
    pub max: Option<u64>,
}

impl SpanCountConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        match (self.min, self.max) {
            (None, None) => Err(PolicyConfigError::invalid(
                policy,
                "min",
                "or `max` is needed: a span_count policy without bounds would keep everything",
            )),
            (Some(min), Some(max)) if min > max => Err(PolicyConfigError::invalid(
                policy,
                "min",
                format!("must not exceed `max` ({min} > {max})"),
            )),
            _ => Ok(()),
        }
    }
}

/// Keeps traces whose span count is within bounds.
#[derive(Clone, Debug)]
pub struct SpanCountPolicy {
    name: Str,
    min: u64,
    max: u64,
}

impl SpanCountPolicy {
    /// A `span_count` policy named `name`.
    pub fn new(name: &str, config: &SpanCountConfig) -> Result<SpanCountPolicy, PolicyConfigError> {
        config.validate(name)?;
        Ok(SpanCountPolicy {
            name: super::name_str(name),
            min: config.min.unwrap_or(0),
            max: config.max.unwrap_or(u64::MAX),
        })
    }
}

impl Policy for SpanCountPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let n = trace.spans().len() as u64;
        Ok(if (self.min..=self.max).contains(&n) {
            Verdict::keep(self.name.clone())
        } else {
            Verdict::Abstain
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Span, TraceId};
    use crate::view::TraceFlags;
    use std::time::Duration;

    fn keeps(min: Option<u64>, max: Option<u64>, n: usize) -> bool {
        let spans = vec![Span::default(); n];
        let view = TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        let p = SpanCountPolicy::new("big", &SpanCountConfig { min, max }).unwrap();
        matches!(p.evaluate(&view).unwrap(), Verdict::Keep { .. })
    }

    #[test]
    fn bounds_are_inclusive_and_optional() {
        assert!(keeps(Some(3), None, 3));
        assert!(!keeps(Some(3), None, 2));
        assert!(keeps(None, Some(1), 0));
        assert!(keeps(Some(2), Some(4), 4));
        assert!(!keeps(Some(2), Some(4), 5));
    }

    #[test]
    fn missing_or_crossed_bounds_are_refused() {
        assert!(SpanCountConfig::default().validate("big").is_err());
        let e = SpanCountConfig {
            min: Some(5),
            max: Some(2),
        }
        .validate("big")
        .unwrap_err()
        .to_string();
        assert!(e.contains("policy `big`: `min`"), "{e}");
    }
}
