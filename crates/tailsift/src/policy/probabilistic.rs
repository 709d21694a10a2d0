//! `probabilistic`: a plain consistent sample at one rate.
//!
//! The OpenTelemetry Collector's `probabilistic` policy, on tailsift's shared randomness: every
//! trace matches at `rate`, and the set keeps it iff its randomness passes the rate's threshold
//! (see [`crate::verdict`]), so a trace another policy also keeps is kept with the larger rate's
//! probability and carries the matching adjusted count. There is no hash salt to configure: every
//! policy, and every node, reads the same randomness from the trace id, so the sample is the same
//! wherever it is taken. OpenTelemetry's `sampling_percentage: 10` is `rate = 0.1` here.
//!
//! Unlike [`super::representative`] it keeps no strata: no per-key table, no floor, no
//! per-stratum rates, so it costs nothing beyond the verdict. The controller still scales its
//! rate through the policy's multiplier, as it does every policy's; use `representative` when
//! rare root operations must stay in the sample or the controller should retune each one.

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::Policy;
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of a `probabilistic` policy.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticConfig {
    /// Keep rate, in `[0, 1]` (0.1 keeps one trace in ten).
    pub rate: f64,
}

impl ProbabilisticConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        super::rates::validate_rate(policy, self.rate)
    }
}

/// Matches every trace at one rate: a consistent probabilistic sample.
#[derive(Clone, Debug)]
pub struct ProbabilisticPolicy {
    name: Str,
    rate: f64,
}

impl ProbabilisticPolicy {
    /// A `probabilistic` policy named `name`.
    pub fn new(
        name: &str,
        config: &ProbabilisticConfig,
    ) -> Result<ProbabilisticPolicy, PolicyConfigError> {
        config.validate(name)?;
        Ok(ProbabilisticPolicy {
            name: super::name_str(name),
            rate: config.rate,
        })
    }
}

impl Policy for ProbabilisticPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, _trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        Ok(Verdict::keep_at(self.name.clone(), self.rate))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::span::TraceId;
    use crate::verdict::{combine, RANDOMNESS_RANGE};
    use crate::view::TraceFlags;

    fn policy(rate: f64) -> ProbabilisticPolicy {
        ProbabilisticPolicy::new("sample", &ProbabilisticConfig { rate }).unwrap()
    }

    /// A view of an empty trace whose id carries `randomness`.
    fn view(randomness: u64) -> TraceView<'static> {
        let view = TraceView::new(
            TraceId::from_u128(randomness as u128 | 1 << 100),
            &[],
            TraceFlags::default(),
            Duration::ZERO,
        );
        assert_eq!(view.randomness(), randomness);
        view
    }

    /// Whether the policy alone keeps the trace with `randomness`.
    fn kept(p: &ProbabilisticPolicy, randomness: u64) -> (bool, f64) {
        let view = view(randomness);
        let outcome = combine(view.randomness(), [p.evaluate(&view).unwrap()], false);
        (outcome.keep, outcome.adjusted_count)
    }

    #[test]
    fn keeps_the_traces_whose_randomness_passes_the_rate() {
        let p = policy(0.25);
        // Rate 1/4: the threshold is 3/4 of the range; kept ones count for 4.
        let threshold = RANDOMNESS_RANGE / 4 * 3;
        assert_eq!(kept(&p, threshold), (true, 4.0));
        assert_eq!(kept(&p, RANDOMNESS_RANGE - 1), (true, 4.0));
        assert!(!kept(&p, threshold - 1).0);
        assert!(!kept(&p, 0).0);
        assert!(kept(&policy(1.0), 0).0, "rate 1 keeps every trace");
        assert!(
            !kept(&policy(0.0), RANDOMNESS_RANGE - 1).0,
            "rate 0 keeps none"
        );
    }

    #[test]
    fn matches_every_trace_with_its_name_and_rate() {
        for randomness in [0, 7, RANDOMNESS_RANGE - 1] {
            assert_eq!(
                policy(0.1).evaluate(&view(randomness)).unwrap(),
                Verdict::keep_at("sample", 0.1)
            );
        }
    }

    #[test]
    fn a_rate_outside_zero_to_one_is_refused_with_the_key() {
        for rate in [-0.1, 1.5, f64::NAN] {
            let e = ProbabilisticPolicy::new("sample", &ProbabilisticConfig { rate })
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("policy `sample`")
                    && e.contains("`rate`")
                    && e.contains("between 0 and 1"),
                "{e}"
            );
        }
    }
}
