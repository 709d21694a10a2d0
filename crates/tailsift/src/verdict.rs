//! Verdicts of single policies and how they combine into one decision.
//!
//! Every probabilistic keep in tailsift uses the *same* randomness per trace: the low 56 bits of
//! the trace id (or the `rv` sub-key of the `ot` tracestate entry when present), as the W3C
//! Trace Context level 2 and OpenTelemetry sampling specifications define it. A rate `p` becomes
//! a rejection threshold `T = round((1 - p) * 2^56)` and a trace is kept iff `randomness >= T`
//! (OpenTelemetry's convention, so the `ot=th:` value we write means what collectors expect).
//!
//! Because all policies compare the same number, a trace matched by several policies with rates
//! `p_i` is kept iff it would be kept at `max(p_i)`: it is kept with probability `max(p_i)`, and
//! its adjusted count `1 / max(p_i)` makes downstream counts unbiased.

use std::cell::Cell;

use crate::span::Str;

/// The number of distinct randomness values: 2^56.
pub const RANDOMNESS_RANGE: u64 = 1 << 56;

/// What one policy says about one trace.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Keep the trace with probability `rate` (1.0 keeps it always), decided by the trace's
    /// shared randomness.
    Keep {
        /// Why, for the decision's reasons (normally the policy's name).
        reason: Str,
        /// The keep rate in `[0, 1]`.
        rate: f64,
    },
    /// The policy has no opinion on this trace.
    Abstain,
    /// Veto: drop the trace whatever other policies say.
    Drop {
        /// Why, for the decision's reasons.
        reason: Str,
    },
}

impl Verdict {
    /// Keep always, for `reason`.
    pub fn keep(reason: impl Into<Str>) -> Verdict {
        Verdict::Keep {
            reason: reason.into(),
            rate: 1.0,
        }
    }

    /// Keep with probability `rate`, for `reason`.
    pub fn keep_at(reason: impl Into<Str>, rate: f64) -> Verdict {
        Verdict::Keep {
            reason: reason.into(),
            rate,
        }
    }

    /// Veto, for `reason`.
    pub fn drop(reason: impl Into<Str>) -> Verdict {
        Verdict::Drop {
            reason: reason.into(),
        }
    }
}

/// The rejection threshold for keep rate `rate`: traces with randomness at or above it are kept.
/// Rates outside `[0, 1]` (or NaN) are clamped; NaN counts as 0.
pub fn threshold_for_rate(rate: f64) -> u64 {
    if rate.is_nan() || rate <= 0.0 {
        return RANDOMNESS_RANGE;
    }
    if rate >= 1.0 {
        return 0;
    }
    let t = ((1.0 - rate) * RANDOMNESS_RANGE as f64).round() as u64;
    t.min(RANDOMNESS_RANGE)
}

/// The exact keep probability of threshold `threshold` (the inverse of [`threshold_for_rate`]).
pub fn rate_for_threshold(threshold: u64) -> f64 {
    (RANDOMNESS_RANGE - threshold.min(RANDOMNESS_RANGE)) as f64 / RANDOMNESS_RANGE as f64
}

/// Whether a trace with `randomness` is kept at `rate`.
pub fn keeps(randomness: u64, rate: f64) -> bool {
    randomness >= threshold_for_rate(rate)
}

/// The OpenTelemetry `th` value for a threshold: up to 14 lower-case hex digits, trailing
/// zeroes removed (`"0"` for keep-all).
pub fn th_value(threshold: u64) -> String {
    if threshold == 0 {
        return "0".to_string();
    }
    let s = format!("{:014x}", threshold.min(RANDOMNESS_RANGE - 1));
    s.trim_end_matches('0').to_string()
}

/// The combination of all policies' verdicts for one trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Whether the trace is kept.
    pub keep: bool,
    /// The policies that decided: those whose `Keep` matched (kept or not by their rate), or
    /// those that vetoed.
    pub reasons: Vec<Str>,
    /// For a kept trace, `1 / p` where `p` is the largest keep rate among matching policies:
    /// how many traces this one stands for. Zero for a dropped trace.
    pub adjusted_count: f64,
    /// The rejection threshold that decided the keep (0 = keep all), when kept.
    pub threshold: u64,
}

impl Outcome {
    /// A drop with no reasons.
    pub fn dropped() -> Outcome {
        Outcome {
            keep: false,
            reasons: Vec::new(),
            adjusted_count: 0.0,
            threshold: RANDOMNESS_RANGE,
        }
    }
}

/// Combines verdicts (in configured order) for a trace of `randomness`:
/// any `Drop` vetoes; otherwise the trace is kept iff its randomness passes the threshold of the
/// largest keep rate; otherwise `default_keep` decides (with adjusted count 1).
pub fn combine<I>(randomness: u64, verdicts: I, default_keep: bool) -> Outcome
where
    I: IntoIterator<Item = Verdict>,
{
    let mut combiner = Combiner::new();
    for verdict in verdicts {
        combiner.add(verdict);
    }
    combiner.finish(randomness, default_keep)
}

/// [`combine`], one verdict at a time: a caller that produces verdicts in order hands each over
/// as it comes (its reason moved, not cloned) instead of collecting them first.
///
/// Its reasons vector is the thread's spare one when there is one ([`recycle_reasons`]): the
/// engine gives each outcome's vector back once it has shared the list, so a decision does not
/// allocate one.
#[derive(Debug, Default)]
pub(crate) struct Combiner {
    reasons: Vec<Str>,
    vetoes: Vec<Str>,
    min_threshold: Option<u64>,
}

/// Spare reasons vectors up to this capacity are kept for the next decision.
const MAX_SPARE_REASONS: usize = 16;

thread_local! {
    /// An outcome's reasons vector, emptied, for the next combiner on this thread.
    static SPARE_REASONS: Cell<Vec<Str>> = const { Cell::new(Vec::new()) };
}

/// Gives an outcome's reasons vector back (emptied) for the next [`Combiner`] on this thread.
pub(crate) fn recycle_reasons(mut reasons: Vec<Str>) {
    reasons.clear();
    if reasons.capacity() <= MAX_SPARE_REASONS {
        SPARE_REASONS.set(reasons);
    }
}

impl Combiner {
    /// A combiner with no verdicts yet.
    pub(crate) fn new() -> Combiner {
        Combiner {
            reasons: SPARE_REASONS.take(),
            ..Combiner::default()
        }
    }

    /// Adds the next verdict in configured order.
    pub(crate) fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Keep { reason, rate } => {
                let t = threshold_for_rate(rate);
                self.min_threshold = Some(self.min_threshold.map_or(t, |m| m.min(t)));
                self.reasons.push(reason);
            }
            Verdict::Abstain => {}
            Verdict::Drop { reason } => self.vetoes.push(reason),
        }
    }

    /// The outcome of the verdicts added so far.
    pub(crate) fn finish(self, randomness: u64, default_keep: bool) -> Outcome {
        let Combiner {
            reasons,
            vetoes,
            min_threshold,
        } = self;
        if !vetoes.is_empty() {
            return Outcome {
                reasons: vetoes,
                ..Outcome::dropped()
            };
        }
        match min_threshold {
            Some(t) if t < RANDOMNESS_RANGE && randomness >= t => Outcome {
                keep: true,
                reasons,
                adjusted_count: 1.0 / rate_for_threshold(t),
                threshold: t,
            },
            Some(_) => Outcome {
                reasons,
                ..Outcome::dropped()
            },
            None if default_keep => Outcome {
                keep: true,
                reasons,
                adjusted_count: 1.0,
                threshold: 0,
            },
            // No reasons: the (empty) vector goes along all the same, so that the engine hands
            // it back for the next decision rather than this one freeing it.
            None => Outcome {
                reasons,
                ..Outcome::dropped()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_otel_convention() {
        assert_eq!(threshold_for_rate(1.0), 0);
        assert_eq!(threshold_for_rate(0.0), RANDOMNESS_RANGE);
        assert_eq!(threshold_for_rate(0.5), RANDOMNESS_RANGE / 2);
        assert_eq!(th_value(threshold_for_rate(0.5)), "8");
        assert_eq!(th_value(threshold_for_rate(0.25)), "c");
        assert_eq!(th_value(0), "0");
        assert!((rate_for_threshold(threshold_for_rate(0.1)) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn a_recycled_reasons_vector_serves_the_next_decision_empty() {
        let first = combine(0, [Verdict::keep("a"), Verdict::keep("b")], false);
        let allocation = first.reasons.as_ptr();
        recycle_reasons(first.reasons);
        let second = combine(0, [Verdict::keep("c")], false);
        assert_eq!(second.reasons, vec![Str::from("c")]);
        assert_eq!(second.reasons.as_ptr(), allocation, "no new allocation");
    }

    #[test]
    fn a_decision_without_reasons_hands_its_vector_back_too() {
        let first = combine(0, [Verdict::keep("a"), Verdict::keep("b")], false);
        let allocation = first.reasons.as_ptr();
        recycle_reasons(first.reasons);
        // No policy keeps: the outcome's reasons are empty, in the same vector.
        let dropped = combine(0, [Verdict::Abstain], false);
        assert!(!dropped.keep);
        assert!(dropped.reasons.is_empty());
        assert_eq!(dropped.reasons.as_ptr(), allocation);
        recycle_reasons(dropped.reasons);
        let kept = combine(0, [Verdict::keep("c")], false);
        assert_eq!(kept.reasons.as_ptr(), allocation, "no new allocation");
    }

    #[test]
    fn drop_vetoes_every_keep() {
        let out = combine(
            u64::MAX >> 8,
            [Verdict::keep("errors"), Verdict::drop("health")],
            true,
        );
        assert!(!out.keep);
        assert_eq!(out.reasons, vec![Str::from("health")]);
    }

    #[test]
    fn adjusted_count_is_one_over_the_largest_rate() {
        let r = RANDOMNESS_RANGE - 1;
        let out = combine(
            r,
            [
                Verdict::keep_at("base", 0.01),
                Verdict::Abstain,
                Verdict::keep_at("slow", 0.25),
            ],
            false,
        );
        assert!(out.keep);
        assert!((out.adjusted_count - 4.0).abs() < 1e-9);
        assert_eq!(out.reasons.len(), 2);
        // Randomness below the largest rate's threshold is dropped, with its reasons kept.
        let out = combine(0, [Verdict::keep_at("slow", 0.25)], false);
        assert!(!out.keep);
        assert_eq!(out.reasons, vec![Str::from("slow")]);
    }

    #[test]
    fn no_match_falls_to_the_default() {
        assert!(!combine(5, [Verdict::Abstain], false).keep);
        let kept = combine(5, [Verdict::Abstain], true);
        assert!(kept.keep);
        assert_eq!(kept.adjusted_count, 1.0);
    }
}
