//! `rate_limit`: keep traces while the kept spans stay under a rate.
//!
//! A token bucket of `burst` spans refilled at `spans_per_second`: a trace is kept (at rate 1)
//! when the bucket holds at least its span count, which is then taken out; otherwise the policy
//! abstains. A trace larger than `burst` is never kept by it.
//!
//! Time comes from the trace view (`TraceView::now()`), never the wall clock, so tests drive
//! refills with explicit times and replays give the same answers. The bucket is one `AtomicU64`
//! updated by compare-and-swap (the "generic cell rate algorithm" form of a token bucket: it
//! stores the time at which the bucket will be full again), so deciding threads never take a
//! lock and a refill needs no timer.
//!
//! Kept traces carry adjusted count 1: a rate limit is not a probability sample. For unbiased
//! counts under a budget, use `representative` with the adaptive controller.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::Policy;
use crate::span::Str;
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of a `rate_limit` policy.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained spans per second kept. Greater than 0.
    pub spans_per_second: f64,
    /// Bucket size in spans: the most kept at once after a quiet spell. Default
    /// `spans_per_second` (one second's worth), at least 1.
    #[serde(default)]
    pub burst: Option<f64>,
}

impl RateLimitConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        if !(self.spans_per_second > 0.0 && self.spans_per_second.is_finite()) {
            return Err(PolicyConfigError::invalid(
                policy,
                "spans_per_second",
                format!(
                    "must be a number greater than 0, got {}",
                    self.spans_per_second
                ),
            ));
        }
        if let Some(b) = self.burst {
            if !(b >= 1.0 && b.is_finite()) {
                return Err(PolicyConfigError::invalid(
                    policy,
                    "burst",
                    format!("must be a number of spans >= 1, got {b}"),
                ));
            }
        }
        Ok(())
    }
}

/// Keeps traces under a spans-per-second limit.
#[derive(Debug)]
pub struct RateLimitPolicy {
    name: Str,
    /// Nanoseconds one span's token takes to refill.
    nanos_per_span: f64,
    /// Nanoseconds of tokens the full bucket holds.
    capacity_nanos: u64,
    /// The time (nanoseconds on the view's clock) at which the bucket will be full again.
    full_at: AtomicU64,
}

impl RateLimitPolicy {
    /// A `rate_limit` policy named `name`.
    pub fn new(name: &str, config: &RateLimitConfig) -> Result<RateLimitPolicy, PolicyConfigError> {
        config.validate(name)?;
        let nanos_per_span = 1e9 / config.spans_per_second;
        let burst = config.burst.unwrap_or(config.spans_per_second).max(1.0);
        Ok(RateLimitPolicy {
            name: super::name_str(name),
            nanos_per_span,
            capacity_nanos: (burst * nanos_per_span).round() as u64,
            full_at: AtomicU64::new(0),
        })
    }

    /// Takes `spans` tokens at `now` if the bucket holds them.
    fn take(&self, spans: usize, now_nanos: u64) -> bool {
        let cost = (spans as f64 * self.nanos_per_span).round() as u64;
        let mut full_at = self.full_at.load(Ordering::Acquire);
        loop {
            let next = full_at.max(now_nanos).saturating_add(cost);
            if next - now_nanos > self.capacity_nanos {
                return false;
            }
            match self.full_at.compare_exchange_weak(
                full_at,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => full_at = seen,
            }
        }
    }
}

impl Policy for RateLimitPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let now = crate::clock::nanos(trace.now());
        Ok(if self.take(trace.spans().len(), now) {
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
    use std::sync::Arc;
    use std::time::Duration;

    fn keeps(p: &RateLimitPolicy, spans: usize, now: Duration) -> bool {
        let spans = vec![Span::default(); spans];
        let view = TraceView::new(TraceId::from_u128(1), &spans, TraceFlags::default(), now);
        matches!(p.evaluate(&view).unwrap(), Verdict::Keep { .. })
    }

    fn limit(sps: f64, burst: Option<f64>) -> RateLimitPolicy {
        RateLimitPolicy::new(
            "limit",
            &RateLimitConfig {
                spans_per_second: sps,
                burst,
            },
        )
        .unwrap()
    }

    #[test]
    fn token_bucket_refills_with_explicit_times() {
        let p = limit(10.0, None);
        let t = Duration::from_millis;
        // A clock far from zero: the bucket starts full.
        let base = 1_000_000;
        assert!(keeps(&p, 6, t(base)));
        assert!(!keeps(&p, 5, t(base)), "6 + 5 > 10");
        assert!(keeps(&p, 4, t(base)));
        assert!(!keeps(&p, 1, t(base)));
        // Half a second refills 5 spans.
        assert!(!keeps(&p, 6, t(base + 500)));
        assert!(keeps(&p, 5, t(base + 500)));
        assert!(!keeps(&p, 1, t(base + 500)));
        // A long pause refills to the burst, not beyond.
        assert!(keeps(&p, 10, t(base + 60_000)));
        assert!(!keeps(&p, 1, t(base + 60_000)));
        assert!(
            !keeps(&p, 11, t(base + 120_000)),
            "bigger than the bucket: never"
        );
    }

    #[test]
    fn a_clock_behind_the_bucket_does_not_refill() {
        let p = limit(1.0, Some(2.0));
        assert!(keeps(&p, 2, Duration::from_secs(100)));
        // Another thread decides with a slightly older time: no tokens appear.
        assert!(!keeps(&p, 1, Duration::from_secs(99)));
        assert!(keeps(&p, 1, Duration::from_secs(101)));
    }

    #[test]
    fn concurrent_takes_never_exceed_the_bucket() {
        let p = Arc::new(limit(1.0, Some(1000.0)));
        let kept: usize = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .filter(|_| keeps(&p, 1, Duration::from_secs(5)))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(kept, 1000);
    }

    #[test]
    fn bad_rates_are_refused() {
        let e = RateLimitConfig::default()
            .validate("limit")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`spans_per_second`") && e.contains("greater than 0"),
            "{e}"
        );
        let e = RateLimitConfig {
            spans_per_second: 1.0,
            burst: Some(0.5),
        }
        .validate("limit")
        .unwrap_err()
        .to_string();
        assert!(e.contains("`burst`"), "{e}");
    }
}
