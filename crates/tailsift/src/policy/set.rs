//! [`PolicySet`]: the operator's policies, as the engine's [`Decider`].
//!
//! Per ready trace the set:
//! 1. takes the controller's rate table once (its thread's copy, reloaded only after a publish;
//!    see [`PolicyRates`]);
//! 2. attaches the latency baseline of the trace's group (root service + root name: p50, p95,
//!    p99, as they were *before* this trace) to the view, when any policy may read it (latency,
//!    CEL, WASM), so every kind sees the same numbers;
//! 3. evaluates every policy in configured order — a failure is counted and replaced by the
//!    policy's `on_error` verdict — and scales each `Keep` rate by the policy's multiplier;
//! 4. combines the verdicts as [`crate::verdict::combine`] does, each as it comes (any `Drop`
//!    vetoes; otherwise kept iff the shared randomness passes the largest rate; otherwise
//!    `default_keep`), which records every matching policy among the reasons;
//! 5. counts per policy what it matched (its demand: `Keep` before rates) and what was kept with
//!    it, in traces, spans and bytes, in its thread's own counters (see [`super::stats`]), and
//!    adds the trace's duration to its group's baseline.
//!
//! Controller hooks: [`PolicySet::rates`] / [`PolicySet::publish_rates`] (inbound rates, one
//! atomic swap), [`PolicySet::drain_interval`] (per-interval counts, per-stratum counts for
//! representative policies) and [`PolicySet::totals`] (since the set was built).
//!
//! The hot path takes no lock except the sharded ones of baselines and strata (and a
//! `rate_limit` policy's token bucket). Reading the rates and counting execute no locked
//! instruction; the `metrics` counters, in the recorder, may.
//!
//! Metrics (handles registered once, when the set is built):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tailsift_policy_matched_total` | counter | `policy` (traces the policy returned `Keep` for) |
//! | `tailsift_policy_kept_total` | counter | `policy` (kept traces with the policy among the reasons) |
//! | `tailsift_policy_errors_total` | counter | `policy` (failed evaluations) |
//!
//! (Over 600 lines, a quarter of them tests: evaluation order, the combine, the baseline and the
//! counters are one path per trace, and their tests need the whole set.)

use std::fmt;
use std::sync::Arc;

use metrics::{counter, Counter};

use super::builders::{build, needs_baseline, Built, PolicyBuilders};
use super::config::{OnError, PolicyConfig, PolicyConfigError};
use super::group::{GroupBy, GroupKey};
use super::rates::{clamp_rate, PolicyRates, PublishedRates};
use super::representative::RepresentativePolicy;
use super::stats::{PolicyInterval, PolicyTotals, SetCounters, Volume};
use super::{Decider, Policy};
use crate::sketch::{BaselineConfig, GroupedSketches};
use crate::span::Str;
use crate::verdict::{Combiner, Outcome, Verdict};
use crate::view::TraceView;

/// The operator's policies, evaluated and combined per trace.
pub struct PolicySet {
    entries: Vec<Entry>,
    default_keep: bool,
    baseline: Option<SharedBaseline>,
    rates: Arc<PublishedRates>,
    /// Per policy, what it matched and kept; and every kept trace once (whichever policies kept
    /// it, or the default).
    counters: SetCounters,
    /// Root service + root name: the baseline's groups and the default strata.
    root_operation: GroupBy,
}

struct SharedBaseline {
    sketches: Arc<GroupedSketches>,
    group_by: GroupBy,
}

enum Eval {
    Dyn(Arc<dyn Policy>),
    Representative(Arc<RepresentativePolicy>),
}

struct Entry {
    name: Str,
    kind: &'static str,
    eval: Eval,
    on_error: OnError,
    matched_metric: Counter,
    kept_metric: Counter,
    errors_metric: Counter,
}

impl Entry {
    fn new(name: Str, kind: &'static str, eval: Eval, on_error: OnError) -> Entry {
        let label = name.to_string();
        Entry {
            matched_metric: counter!("tailsift_policy_matched_total", "policy" => label.clone()),
            kept_metric: counter!("tailsift_policy_kept_total", "policy" => label.clone()),
            errors_metric: counter!("tailsift_policy_errors_total", "policy" => label),
            name,
            kind,
            eval,
            on_error,
        }
    }
}

impl PolicySet {
    /// Builds the set from configs (in evaluation order), with `builders` for extension kinds.
    /// A trace no policy matches is kept iff `default_keep` (with adjusted count 1).
    ///
    /// Every top-level policy needs a unique, non-empty name; every config is validated.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tailsift::policy::errors::ErrorsConfig;
    /// use tailsift::policy::representative::RepresentativeConfig;
    /// use tailsift::{
    ///     Decider, PolicyBuilders, PolicyConfig, PolicyKind, PolicySet, Span, SpanId, StatusCode,
    ///     TraceFlags, TraceId, TraceView,
    /// };
    ///
    /// let configs = [
    ///     PolicyConfig::new("errors", PolicyKind::Errors(ErrorsConfig::default())),
    ///     PolicyConfig::new(
    ///         "baseline",
    ///         PolicyKind::Representative(RepresentativeConfig {
    ///             rate: 0.01,
    ///             ..RepresentativeConfig::default()
    ///         }),
    ///     ),
    /// ];
    /// let set = PolicySet::new(&configs, &PolicyBuilders::new(), false)?;
    ///
    /// let spans = [Span {
    ///     span_id: SpanId::from_u64(1),
    ///     status_code: StatusCode::Error,
    ///     ..Span::default()
    /// }];
    /// let mut view = TraceView::new(TraceId::from_u128(7), &spans, TraceFlags::default(), Duration::ZERO);
    /// let outcome = set.decide(&mut view);
    /// assert!(outcome.keep);
    /// assert_eq!(outcome.adjusted_count, 1.0);
    /// assert_eq!(set.drain_interval()[0].kept.traces, 1);
    /// # Ok::<(), tailsift::PolicyConfigError>(())
    /// ```
    pub fn new(
        configs: &[PolicyConfig],
        builders: &PolicyBuilders,
        default_keep: bool,
    ) -> Result<PolicySet, PolicyConfigError> {
        PolicySet::with_baselines(configs, builders, default_keep, None)
    }

    fn with_baselines(
        configs: &[PolicyConfig],
        builders: &PolicyBuilders,
        default_keep: bool,
        reuse: Option<Arc<GroupedSketches>>,
    ) -> Result<PolicySet, PolicyConfigError> {
        let mut names = hashbrown::HashSet::new();
        for (i, c) in configs.iter().enumerate() {
            if c.name.is_empty() {
                return Err(PolicyConfigError::MissingName {
                    index: i + 1,
                    kind: c.kind.name(),
                });
            }
            if !names.insert(c.name.as_str()) {
                return Err(PolicyConfigError::DuplicateName {
                    name: c.name.clone(),
                });
            }
        }
        let shared = BaselineConfig::default();
        let baseline = configs
            .iter()
            .any(|c| needs_baseline(c, &shared))
            .then(|| SharedBaseline {
                sketches: reuse.unwrap_or_else(|| Arc::new(GroupedSketches::new(shared))),
                group_by: GroupBy::root_operation(),
            });
        let rates = Arc::new(PublishedRates::new(PolicyRates::new(configs.len())));
        let mut entries = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let eval = match build(c, builders, baseline.as_ref().map(|b| &b.sketches))? {
                Built::Dyn(p) => Eval::Dyn(p),
                Built::Representative(mut r) => {
                    r.attach(rates.clone(), i);
                    Eval::Representative(Arc::new(r))
                }
            };
            entries.push(Entry::new(
                super::name_str(&c.name),
                c.kind.name(),
                eval,
                c.on_error.unwrap_or_default(),
            ));
        }
        Ok(PolicySet::assemble(entries, default_keep, baseline, rates))
    }

    /// A set of policies built in code (their kind reads `"custom"`), failures abstaining. The
    /// latency baseline is maintained, since such policies may read it.
    pub fn from_policies(policies: Vec<Arc<dyn Policy>>, default_keep: bool) -> PolicySet {
        let entries = policies
            .into_iter()
            .map(|p| {
                Entry::new(
                    super::name_str(p.name()),
                    "custom",
                    Eval::Dyn(p),
                    OnError::Abstain,
                )
            })
            .collect::<Vec<_>>();
        let rates = Arc::new(PublishedRates::new(PolicyRates::new(entries.len())));
        let baseline = Some(SharedBaseline {
            sketches: Arc::new(GroupedSketches::new(BaselineConfig::default())),
            group_by: GroupBy::root_operation(),
        });
        PolicySet::assemble(entries, default_keep, baseline, rates)
    }

    fn assemble(
        entries: Vec<Entry>,
        default_keep: bool,
        baseline: Option<SharedBaseline>,
        rates: Arc<PublishedRates>,
    ) -> PolicySet {
        PolicySet {
            counters: SetCounters::new(entries.len()),
            root_operation: GroupBy::root_operation(),
            entries,
            default_keep,
            baseline,
            rates,
        }
    }

    /// How many (top-level) policies the set holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set holds no policy.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The policies' names, in evaluation order (position = index in [`PolicyRates`]).
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|e| &*e.name)
    }

    /// The position of the policy named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| &*e.name == name)
    }

    /// The kind of the policy at `index` (`"errors"`, ..., `"custom"`).
    pub fn kind_of(&self, index: usize) -> Option<&'static str> {
        self.entries.get(index).map(|e| e.kind)
    }

    /// Whether traces no policy matches are kept.
    pub fn default_keep(&self) -> bool {
        self.default_keep
    }

    /// The shared latency baselines (root service + root name), when some policy reads them.
    pub fn baselines(&self) -> Option<&Arc<GroupedSketches>> {
        self.baseline.as_ref().map(|b| &b.sketches)
    }

    /// The rate table in force. To change it: clone, modify, [`PolicySet::publish_rates`].
    pub fn rates(&self) -> Arc<PolicyRates> {
        self.rates.load_full()
    }

    /// Publishes a new rate table (one atomic swap; decisions in flight finish with the old
    /// one, and every decision started after this returns uses the new one). A table of the
    /// wrong length is padded with defaults or cut to the set's length.
    pub fn publish_rates(&self, mut rates: PolicyRates) {
        rates.resize(self.entries.len());
        self.rates.publish(rates);
    }

    /// Each policy's counts since the last drain (in evaluation order), starting the next
    /// interval: what a controller reads once per interval. Counts landing during the drain go
    /// to the next one.
    pub fn drain_interval(&self) -> Vec<PolicyInterval> {
        self.entries
            .iter()
            .zip(self.counters.drain_interval())
            .enumerate()
            .map(|(index, (e, counts))| PolicyInterval {
                index,
                name: e.name.clone(),
                kind: e.kind,
                matched: counts.matched,
                first: counts.first,
                kept: counts.kept,
                errors: counts.errors,
                strata: match &e.eval {
                    Eval::Representative(r) => r.drain_strata(),
                    Eval::Dyn(_) => Vec::new(),
                },
            })
            .collect()
    }

    /// Every trace kept since the last call, counted once whichever policies kept it: the
    /// controller's measure of kept output.
    pub fn take_kept(&self) -> Volume {
        self.counters.take_kept()
    }

    /// Each policy's first-match demand so far in the current interval, without draining: what
    /// a controller checks between intervals to see a surge early.
    pub fn peek_first(&self) -> Vec<Volume> {
        self.peek_first_each().collect()
    }

    /// [`PolicySet::peek_first`], without collecting (no allocation).
    pub fn peek_first_each(&self) -> impl ExactSizeIterator<Item = Volume> + '_ {
        (0..self.entries.len()).map(|i| self.counters.peek_first(i))
    }

    /// Decides `trace` exactly as [`Decider::decide`] does — counting, learning baselines and
    /// spending rate-limit tokens once — and also returns each policy's own verdict and
    /// failure: for `tailsift explain`.
    pub fn decide_explained(&self, trace: &mut TraceView<'_>) -> Explanation {
        let mut verdicts = Vec::with_capacity(self.entries.len());
        let outcome = self.evaluate(trace, Some(&mut verdicts));
        let policies = self
            .entries
            .iter()
            .zip(verdicts)
            .map(|(e, (verdict, error))| PolicyExplanation {
                name: e.name.clone(),
                kind: e.kind,
                verdict,
                error,
            })
            .collect();
        Explanation { policies, outcome }
    }

    /// Builds a set from `configs` like [`PolicySet::new`], carrying over what `previous` has
    /// learned where it still applies — the shared latency baselines — so a config reload does
    /// not forget the traffic. Rates start at 1 (the controller republishes its own).
    pub fn rebuild(
        previous: &PolicySet,
        configs: &[PolicyConfig],
        builders: &PolicyBuilders,
        default_keep: bool,
    ) -> Result<PolicySet, PolicyConfigError> {
        let reuse = previous.baseline.as_ref().map(|b| b.sketches.clone());
        PolicySet::with_baselines(configs, builders, default_keep, reuse)
    }

    /// Each policy's counts since the set was built (for reports: kept by policy).
    pub fn totals(&self) -> Vec<PolicyTotals> {
        self.entries
            .iter()
            .zip(self.counters.totals())
            .map(|(e, t)| PolicyTotals {
                name: e.name.clone(),
                kind: e.kind,
                matched: t.matched,
                kept: t.kept,
                errors: t.errors,
            })
            .collect()
    }
}

/// One policy's part in an [`Explanation`].
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyExplanation {
    /// The policy.
    pub name: Str,
    /// Its kind.
    pub kind: &'static str,
    /// Its verdict (its `on_error` fallback when it failed), with the controller's rate applied.
    pub verdict: Verdict,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Why a trace was, or was not, kept: every policy's verdict and the combined outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// Per policy, in evaluation order.
    pub policies: Vec<PolicyExplanation>,
    /// The combined outcome.
    pub outcome: Outcome,
}

/// Scales a `Keep` rate by a controller multiplier.
fn scale(verdict: Verdict, multiplier: f64) -> Verdict {
    match verdict {
        Verdict::Keep { reason, rate } if multiplier != 1.0 => Verdict::Keep {
            reason,
            rate: clamp_rate(rate * multiplier),
        },
        other => other,
    }
}

impl Decider for PolicySet {
    fn decide(&self, trace: &mut TraceView<'_>) -> Outcome {
        self.evaluate(trace, None)
    }
}

/// Which policies of a set returned `Keep` for one trace: a bit per policy, on the stack for
/// the first 64.
struct Matched {
    first: u64,
    more: Vec<bool>,
}

impl Matched {
    fn new(policies: usize) -> Matched {
        Matched {
            first: 0,
            more: vec![false; policies.saturating_sub(64)],
        }
    }

    fn set(&mut self, index: usize) {
        match index.checked_sub(64) {
            None => self.first |= 1 << index,
            Some(i) => self.more[i] = true,
        }
    }

    fn get(&self, index: usize) -> bool {
        match index.checked_sub(64) {
            None => self.first & (1 << index) != 0,
            Some(i) => self.more[i],
        }
    }
}

impl PolicySet {
    /// Evaluates every policy in order, counts demand and kept output, learns the baseline, and
    /// combines. With `explain`, records each policy's verdict and failure message (or `None`).
    fn evaluate(
        &self,
        trace: &mut TraceView<'_>,
        explain: Option<&mut Vec<(Verdict, Option<String>)>>,
    ) -> Outcome {
        self.rates
            .with_current(|rates| self.evaluate_with(rates, trace, explain))
    }

    /// [`PolicySet::evaluate`] with the rate table `rates`.
    fn evaluate_with(
        &self,
        rates: &PolicyRates,
        trace: &mut TraceView<'_>,
        mut explain: Option<&mut Vec<(Verdict, Option<String>)>>,
    ) -> Outcome {
        let counters = self.counters.local();
        let now = trace.now();
        // The root operation's key, computed at most once per trace: the baseline's group and
        // the stratum of representative policies grouped by default.
        let mut root_key: Option<GroupKey> = None;
        if let Some(b) = &self.baseline {
            let key = b.group_by.key(trace);
            // The group's baseline before this trace, which it then learns: one lock.
            trace.set_baseline(b.sketches.observe_baseline(key, now, trace.duration()));
            root_key = Some(key);
        }
        let trace: &TraceView<'_> = trace;
        let spans = trace.spans().len() as u64;
        let mut combiner = Combiner::new();
        let mut matched = Matched::new(self.entries.len());
        let mut first_seen = false;
        for (i, (e, c)) in self.entries.iter().zip(&counters.policies).enumerate() {
            let multiplier = rates.multiplier(i);
            let result = match &e.eval {
                // Representative applies its multiplier itself, under its stratum floor.
                Eval::Representative(r) => {
                    let key = if r.groups_by_root_operation() {
                        *root_key.get_or_insert_with(|| self.root_operation.key(trace))
                    } else {
                        r.stratum(trace)
                    };
                    Ok(r.decide_with(trace, Some(rates), trace.bytes(), key))
                }
                Eval::Dyn(p) => p.evaluate(trace).map(|v| scale(v, multiplier)),
            };
            let (verdict, error) = match result {
                Ok(v) => (v, None),
                Err(err) => {
                    c.add_error();
                    e.errors_metric.increment(1);
                    tracing::debug!(policy = %e.name, error = %err, "policy failed; using its on_error verdict");
                    (
                        scale(e.on_error.verdict(&e.name), multiplier),
                        Some(err.message),
                    )
                }
            };
            if matches!(verdict, Verdict::Keep { .. }) {
                matched.set(i);
                let volume = Volume::trace(spans, trace.bytes());
                c.matched.add(volume);
                if !first_seen {
                    first_seen = true;
                    c.first.add(volume);
                }
                e.matched_metric.increment(1);
            }
            if let Some(explain) = explain.as_deref_mut() {
                explain.push((verdict.clone(), error));
            }
            combiner.add(verdict);
        }
        let outcome = combiner.finish(trace.randomness(), self.default_keep);
        if outcome.keep {
            let volume = Volume::trace(spans, trace.bytes());
            counters.kept.add(volume);
            for (i, (e, c)) in self.entries.iter().zip(&counters.policies).enumerate() {
                if matched.get(i) {
                    c.kept.add(volume);
                    e.kept_metric.increment(1);
                }
            }
        }
        outcome
    }
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field(
                "policies",
                &self
                    .entries
                    .iter()
                    .map(|e| format!("{} ({})", e.name, e.kind))
                    .collect::<Vec<_>>(),
            )
            .field("default_keep", &self.default_keep)
            .field("baseline", &self.baseline.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::config::PolicyKind;
    use crate::policy::errors::ErrorsConfig;
    use crate::policy::latency::LatencyConfig;
    use crate::policy::representative::RepresentativeConfig;
    use crate::span::{Span, SpanId, StatusCode, TraceId};
    use crate::view::TraceFlags;
    use crate::PolicyError;
    use std::time::Duration;

    fn spans(error: bool, millis: u64) -> Vec<Span> {
        vec![Span {
            span_id: SpanId::from_u64(1),
            name: "op".into(),
            end_time_unix_nano: millis * 1_000_000,
            status_code: if error {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            ..Span::default()
        }]
    }

    fn decide(set: &PolicySet, id: u128, spans: &[Span], now: Duration) -> Outcome {
        let mut view = TraceView::new(TraceId::from_u128(id), spans, TraceFlags::default(), now);
        set.decide(&mut view)
    }

    const HIGH: u128 = (1 << 56) - 1; // randomness just under 2^56: kept at any rate > 0

    #[test]
    fn names_must_be_present_and_unique() {
        let errors = PolicyKind::Errors(ErrorsConfig::default());
        let e = PolicySet::new(
            &[PolicyConfig::new("", errors.clone())],
            &PolicyBuilders::new(),
            false,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("policy #1 (kind `errors`) has no `name`"),
            "{e}"
        );
        let twice = [
            PolicyConfig::new("a", errors.clone()),
            PolicyConfig::new("a", errors),
        ];
        let e = PolicySet::new(&twice, &PolicyBuilders::new(), false).unwrap_err();
        assert!(
            e.to_string().contains("`a` is configured more than once"),
            "{e}"
        );
    }

    #[test]
    fn multipliers_scale_keep_rates_and_stats_count_demand_and_kept() {
        let configs = [PolicyConfig::new(
            "errors",
            PolicyKind::Errors(ErrorsConfig::default()),
        )];
        let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
        assert!(set.baselines().is_none(), "errors alone needs no baseline");
        let error = spans(true, 1);
        assert!(decide(&set, HIGH, &error, Duration::ZERO).keep);
        let mut rates = (*set.rates()).clone();
        rates.set_multiplier(0, 0.5);
        set.publish_rates(rates);
        // Randomness 0 fails any rate below 1; the top one passes 0.5.
        let out = decide(&set, 1 << 64, &error, Duration::ZERO);
        assert!(!out.keep);
        assert_eq!(out.reasons, vec![Str::from("errors")]);
        let out = decide(&set, HIGH, &error, Duration::ZERO);
        assert!(out.keep && (out.adjusted_count - 2.0).abs() < 1e-9);
        decide(&set, HIGH, &spans(false, 1), Duration::ZERO);
        let interval = set.drain_interval();
        assert_eq!(interval[0].matched.traces, 3);
        assert_eq!(interval[0].kept.traces, 2);
        assert_eq!(interval[0].matched.spans, 3);
        assert!(interval[0].matched.bytes > 0);
        assert_eq!(set.drain_interval()[0].matched, Volume::default());
        assert_eq!(set.totals()[0].kept.traces, 2);
    }

    #[test]
    fn failures_count_and_fall_back_to_on_error() {
        struct Failing;
        impl Policy for Failing {
            fn name(&self) -> &str {
                "wasm"
            }
            fn evaluate(&self, _: &TraceView<'_>) -> Result<Verdict, PolicyError> {
                Err(PolicyError {
                    policy: "wasm".into(),
                    message: "trap".into(),
                })
            }
        }
        let builders =
            PolicyBuilders::new().with_wasm(|_, _| Ok(Arc::new(Failing) as Arc<dyn Policy>));
        let mut config = PolicyConfig::new(
            "wasm",
            PolicyKind::Wasm(crate::policy::config::WasmPolicyConfig {
                module: "p.wasm".into(),
                timeout: None,
                max_memory: None,
                fuel: None,
            }),
        );
        config.on_error = Some(OnError::Keep);
        let set = PolicySet::new(&[config], &builders, false).unwrap();
        assert!(
            set.baselines().is_some(),
            "wasm policies may read the baseline"
        );
        let out = decide(&set, HIGH, &spans(false, 1), Duration::ZERO);
        assert!(out.keep);
        assert_eq!(set.totals()[0].errors, 1);
    }

    #[test]
    fn baseline_is_attached_before_policies_and_shared_by_latency() {
        let latency = LatencyConfig {
            min_samples: Some(10),
            ..LatencyConfig::default()
        };
        let configs = [PolicyConfig::new("slow", PolicyKind::Latency(latency))];
        let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
        let now = Duration::from_secs(1);
        for i in 1..=100 {
            // Abstains (no fallback) until 10 samples; then each trace is the slowest so far.
            assert_eq!(
                decide(&set, HIGH, &spans(false, i), now).keep,
                i > 10,
                "trace {i}"
            );
        }
        let sketches = set.baselines().unwrap();
        assert_eq!(
            sketches.group_count(),
            1,
            "one group, recorded once per trace"
        );
        assert!(decide(&set, HIGH, &spans(false, 500), now).keep);
        assert!(!decide(&set, HIGH, &spans(false, 50), now).keep);
        let key = GroupBy::root_operation().key(&TraceView::new(
            TraceId::from_u128(1),
            &spans(false, 1),
            TraceFlags::default(),
            now,
        ));
        assert_eq!(sketches.baseline(key, now).unwrap().samples, 102);
    }

    #[test]
    fn representative_strata_are_drained_with_their_rates() {
        let rep = RepresentativeConfig {
            rate: 0.25,
            ..RepresentativeConfig::default()
        };
        let configs = [PolicyConfig::new(
            "baseline",
            PolicyKind::Representative(rep),
        )];
        let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
        let out = decide(&set, HIGH, &spans(false, 1), Duration::ZERO);
        assert!(out.keep && (out.adjusted_count - 4.0).abs() < 1e-9);
        let interval = set.drain_interval();
        assert_eq!(interval[0].kind, "representative");
        assert_eq!(interval[0].strata.len(), 1);
        assert_eq!(interval[0].strata[0].matched.traces, 1);
        assert_eq!(interval[0].strata[0].rate, 0.25);
        assert_eq!(&*interval[0].strata[0].label, "|op");
        // The controller sets that stratum's rate.
        let mut rates = (*set.rates()).clone();
        rates.set_stratum_rate(0, interval[0].strata[0].key, 0.5);
        set.publish_rates(rates);
        let out = decide(&set, HIGH, &spans(false, 1), Duration::ZERO);
        assert!((out.adjusted_count - 2.0).abs() < 1e-9);
    }
}
