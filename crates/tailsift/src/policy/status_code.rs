//! `status_code`: keep traces with a span of one of the given status codes.
//!
//! The OpenTelemetry Collector's policy of the same name, for configs moving over:
//! `status_codes = ["ERROR"]` is the plain form of the `errors` policy, and
//! `status_codes = ["ERROR", "UNSET"]` keeps everything not explicitly marked OK.

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::Policy;
use crate::span::{StatusCode, Str};
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of a `status_code` policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCodeConfig {
    /// Status codes to keep: `"OK"`, `"ERROR"`, `"UNSET"` (any case). At least one.
    pub status_codes: Vec<String>,
}

fn parse_code(s: &str) -> Option<StatusCode> {
    match s.to_ascii_uppercase().as_str() {
        "OK" => Some(StatusCode::Ok),
        "ERROR" => Some(StatusCode::Error),
        "UNSET" => Some(StatusCode::Unset),
        _ => None,
    }
}

impl StatusCodeConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        self.codes(policy).map(|_| ())
    }

    fn codes(&self, policy: &str) -> Result<Vec<StatusCode>, PolicyConfigError> {
        if self.status_codes.is_empty() {
            return Err(PolicyConfigError::invalid(
                policy,
                "status_codes",
                "must list at least one of \"OK\", \"ERROR\", \"UNSET\"",
            ));
        }
        self.status_codes
            .iter()
            .map(|s| {
                parse_code(s).ok_or_else(|| {
                    PolicyConfigError::invalid(
                        policy,
                        "status_codes",
                        format!("has `{s}`; allowed: \"OK\", \"ERROR\", \"UNSET\""),
                    )
                })
            })
            .collect()
    }
}

/// Keeps traces with a span of a listed status.
#[derive(Clone, Debug)]
pub struct StatusCodePolicy {
    name: Str,
    codes: Vec<StatusCode>,
}

impl StatusCodePolicy {
    /// A `status_code` policy named `name`.
    pub fn new(
        name: &str,
        config: &StatusCodeConfig,
    ) -> Result<StatusCodePolicy, PolicyConfigError> {
        Ok(StatusCodePolicy {
            name: super::name_str(name),
            codes: config.codes(name)?,
        })
    }
}

impl Policy for StatusCodePolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let hit = trace
            .spans()
            .iter()
            .any(|s| self.codes.contains(&s.status_code));
        Ok(if hit {
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

    fn keeps(codes: &[&str], statuses: &[StatusCode]) -> bool {
        let config = StatusCodeConfig {
            status_codes: codes.iter().map(|s| s.to_string()).collect(),
        };
        let spans: Vec<Span> = statuses
            .iter()
            .map(|&status_code| Span {
                status_code,
                ..Span::default()
            })
            .collect();
        let view = TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        let p = StatusCodePolicy::new("status", &config).unwrap();
        matches!(p.evaluate(&view).unwrap(), Verdict::Keep { .. })
    }

    #[test]
    fn any_span_with_a_listed_code_keeps() {
        assert!(keeps(&["ERROR"], &[StatusCode::Ok, StatusCode::Error]));
        assert!(!keeps(&["ERROR"], &[StatusCode::Ok, StatusCode::Unset]));
        assert!(keeps(&["error", "unset"], &[StatusCode::Unset]));
        assert!(!keeps(&["ERROR"], &[]));
    }

    #[test]
    fn unknown_codes_are_refused() {
        let c = StatusCodeConfig {
            status_codes: vec!["FAILED".into()],
        };
        let e = c.validate("status").unwrap_err().to_string();
        assert!(
            e.contains("`status_codes`") && e.contains("FAILED") && e.contains("allowed"),
            "{e}"
        );
        assert!(StatusCodeConfig::default().validate("status").is_err());
    }
}
