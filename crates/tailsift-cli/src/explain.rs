//! `tailsift explain`: why each trace was or was not kept.
//!
//! The files are replayed exactly as `replay` does (same clock, same sampler, same controller),
//! with a decider put around the sampler's policy set: it lets the set decide — so its counts
//! feed the controller and its baselines learn, as in a replay — then, with the trace's view
//! still at hand (the latency baseline the set attached to it), asks each policy for its
//! verdict, and records what an operator needs: the verdicts and why, the randomness that
//! decided the probabilistic keeps, the adjusted count, and the critical path.
//!
//! Each verdict comes from a *twin* of the policy, built on its own and fed the same traces in
//! the same order, so its state (latency sketches, strata counts, token buckets) evolves as the
//! set's does without the set counting any trace twice. The controller's rates of the moment
//! are applied as the set applies them: a policy's multiplier to its keeps; for a
//! representative policy, its stratum's rate, raised to the stratum's `min_per_minute` floor
//! (its twin is built with rate 0, so what it returns is exactly that floor).

use std::collections::HashSet;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tailsift::policy::{build_policy, GroupBy, PolicyKind, PolicyRates};
use tailsift::verdict::{combine, keeps, Outcome};
use tailsift::{
    ChannelSink, Decider, Policy, PolicyConfig, PolicySet, Str, TraceId, TraceView, Verdict,
};

use crate::error::CliError;
use crate::pipeline::Pipeline;
use crate::replay::{drain_tail, drive};
use crate::{policies, Only};

/// What `explain` was asked to do.
pub struct Options {
    /// The budget file.
    pub config: PathBuf,
    /// Only these trace ids (hex).
    pub traces: Vec<String>,
    /// Only kept or only dropped traces.
    pub only: Option<Only>,
    /// Most traces to print.
    pub limit: Option<usize>,
    /// The OTLP inputs.
    pub inputs: Vec<PathBuf>,
}

/// One policy's opinion of one trace.
enum Opinion {
    Verdict(Verdict),
    Failed(String),
}

/// Everything printed about one trace.
struct Explanation {
    outcome: Outcome,
    text: String,
}

/// A policy's twin.
struct Twin {
    policy: Arc<dyn Policy>,
    /// For a representative policy: its strata and configured rate (the twin has rate 0).
    stratified: Option<(GroupBy, f64)>,
}

impl Twin {
    fn build(config: &PolicyConfig) -> Result<Twin, CliError> {
        let builders = policies::builders();
        let (config, stratified) = match &config.kind {
            PolicyKind::Representative(r) => {
                let group_by = match &r.group_by {
                    Some(keys) => GroupBy::new(keys).map_err(CliError::Usage)?,
                    None => GroupBy::root_operation(),
                };
                let mut zero = r.clone();
                zero.rate = 0.0;
                let mut twin = config.clone();
                twin.kind = PolicyKind::Representative(zero);
                (twin, Some((group_by, r.rate)))
            }
            _ => (config.clone(), None),
        };
        let policy =
            build_policy(&config, &builders).map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Twin { policy, stratified })
    }

    /// The verdict the set gives with its rate table `rates`, this policy being the `index`th.
    fn opinion(&self, view: &TraceView<'_>, rates: &PolicyRates, index: usize) -> Opinion {
        let multiplier = rates.multiplier(index);
        match (self.policy.evaluate(view), &self.stratified) {
            (
                Ok(Verdict::Keep {
                    reason,
                    rate: floor,
                }),
                Some((group_by, configured)),
            ) => {
                let base = rates
                    .stratum_rate(index, group_by.key(view))
                    .unwrap_or(*configured)
                    * multiplier;
                Opinion::Verdict(Verdict::Keep {
                    reason,
                    rate: base.max(floor).clamp(0.0, 1.0),
                })
            }
            (Ok(Verdict::Keep { reason, rate }), None) => Opinion::Verdict(Verdict::Keep {
                reason,
                rate: (rate * multiplier).clamp(0.0, 1.0),
            }),
            (Ok(v), _) => Opinion::Verdict(v),
            (Err(e), _) => Opinion::Failed(e.message),
        }
    }
}

/// The decider `explain` puts around the policy set.
struct Explainer {
    set: Arc<PolicySet>,
    twins: Vec<Twin>,
    configs: Vec<PolicyConfig>,
    wanted: Option<HashSet<TraceId>>,
    out: Mutex<Vec<Explanation>>,
}

impl Decider for Explainer {
    fn decide(&self, view: &mut TraceView<'_>) -> Outcome {
        let outcome = self.set.decide(view);
        if self
            .wanted
            .as_ref()
            .is_some_and(|w| !w.contains(&view.trace_id()))
        {
            return outcome;
        }
        let rates = self.set.rates();
        let opinions: Vec<Opinion> = self
            .twins
            .iter()
            .enumerate()
            .map(|(i, twin)| twin.opinion(view, &rates, i))
            .collect();
        let mut text = render(view, &outcome, &opinions, &self.configs);
        // The twins' verdicts must combine to the set's own decision; say so if they do not.
        let verdicts = opinions
            .iter()
            .zip(&self.configs)
            .enumerate()
            .map(|(i, (o, c))| match o {
                Opinion::Verdict(v) => v.clone(),
                Opinion::Failed(_) => match c
                    .on_error
                    .unwrap_or_default()
                    .verdict(&Str::from(c.name.as_str()))
                {
                    Verdict::Keep { reason, rate } => Verdict::Keep {
                        reason,
                        rate: (rate * rates.multiplier(i)).clamp(0.0, 1.0),
                    },
                    other => other,
                },
            });
        let check = combine(view.randomness(), verdicts, self.set.default_keep());
        let tolerance = 1e-9 * outcome.adjusted_count.max(1.0);
        if check.keep != outcome.keep
            || (check.adjusted_count - outcome.adjusted_count).abs() > tolerance
        {
            text.push_str(&format!(
                "\n  note: the verdicts above combine to {} (adjusted count {}), not to the \
                 decision made; a policy's state has drifted from its twin's (please report it)",
                if check.keep { "KEEP" } else { "DROP" },
                trim(check.adjusted_count)
            ));
        }
        self.out.lock().push(Explanation {
            outcome: outcome.clone(),
            text,
        });
        outcome
    }
}

/// Runs `explain`.
pub fn run(opts: Options) -> Result<(), CliError> {
    let loaded = policies::load(Some(&opts.config))?;
    let config = &loaded.config;
    let wanted = if opts.traces.is_empty() {
        None
    } else {
        let mut ids = HashSet::new();
        for t in &opts.traces {
            let id = TraceId::from_hex(t.trim()).ok_or_else(|| {
                CliError::Usage(format!(
                    "`{t}` is not a trace id: write 32 hex digits, e.g. 4bf92f3577b34da6a3ce929d0e0e4736"
                ))
            })?;
            ids.insert(id);
        }
        Some(ids)
    };
    let twins = config
        .policies
        .iter()
        .map(Twin::build)
        .collect::<Result<Vec<_>, _>>()?;
    let configs = config.policies.clone();
    let (sink, decisions) = ChannelSink::new(None);
    let mut pipeline = Pipeline::new(config, sink)?;
    let explainer = Arc::new(Explainer {
        set: pipeline.policy_set(),
        twins,
        configs,
        wanted,
        out: Mutex::new(Vec::new()),
    });
    pipeline.wrap_decider(explainer.clone());
    let mut printed = 0usize;
    let (mut kept, mut dropped) = (0u64, 0u64);
    let limit = opts.limit.unwrap_or(usize::MAX);
    let mut print_ready = |explainer: &Explainer| {
        let ready: Vec<Explanation> = std::mem::take(&mut *explainer.out.lock());
        for e in ready {
            if e.outcome.keep {
                kept += 1;
            } else {
                dropped += 1;
            }
            let show = match opts.only {
                Some(Only::Kept) => e.outcome.keep,
                Some(Only::Dropped) => !e.outcome.keep,
                None => true,
            };
            if show && printed < limit {
                printed += 1;
                println!("{}\n", e.text);
            }
        }
        // Decisions themselves (the spans) are not needed here.
        for _ in decisions.try_iter() {}
    };
    let driven = drive(&opts.inputs, &mut pipeline, config, None, |_, _| {
        print_ready(&explainer);
        Ok(())
    })?;
    drain_tail(&mut pipeline, config, driven.now);
    print_ready(&explainer);
    println!(
        "{} traces explained ({kept} kept, {dropped} dropped){}",
        printed,
        if printed < (kept + dropped) as usize {
            format!(" of {} decided", kept + dropped)
        } else {
            String::new()
        }
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

fn render(
    view: &TraceView<'_>,
    outcome: &Outcome,
    opinions: &[Opinion],
    configs: &[PolicyConfig],
) -> String {
    let mut s = String::new();
    let r = view.randomness() as f64 / (1u64 << 56) as f64;
    let verdict = if outcome.keep {
        format!("KEEP  adjusted count {}", trim(outcome.adjusted_count))
    } else {
        "DROP".into()
    };
    let _ = writeln!(s, "trace {}  {verdict}", view.trace_id());
    let (service, op) = view.root_operation();
    let flags = view.flags();
    let mut state = Vec::new();
    if flags.incomplete || view.root().is_none() {
        state.push("no root span");
    }
    if flags.timed_out {
        state.push("timed out");
    }
    if flags.early {
        state.push("decided early (buffer full)");
    }
    if flags.shutdown {
        state.push("decided at the end of input");
    }
    let _ = writeln!(
        s,
        "  root: {} {} · {} spans · {} · {} error{} · {}",
        if service.is_empty() { "?" } else { service },
        if op.is_empty() { "?" } else { op },
        view.spans().len(),
        ms(view.duration()),
        view.error_count(),
        if view.error_count() == 1 { "" } else { "s" },
        if state.is_empty() {
            "complete".to_string()
        } else {
            state.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "  randomness: kept by any keep rate ≥ {} (the trace id's low 56 bits: {r:.4})",
        trim(1.0 - r)
    );
    let _ = writeln!(s, "  policies:");
    let width = configs.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for (config, opinion) in configs.iter().zip(opinions) {
        let (label, why) = match opinion {
            Opinion::Verdict(Verdict::Keep { rate, .. }) => {
                let passes = keeps(view.randomness(), *rate);
                let label = if *rate >= 1.0 {
                    "keep".to_string()
                } else {
                    format!("keep@{}", trim(*rate))
                };
                let mut why = keep_reason(view, config);
                if *rate < 1.0 {
                    why.push_str(if passes {
                        "; the randomness passes this rate"
                    } else {
                        "; the randomness does not pass this rate"
                    });
                }
                (label, why)
            }
            Opinion::Verdict(Verdict::Abstain) => ("abstain".into(), abstain_reason(view, config)),
            Opinion::Verdict(Verdict::Drop { .. }) => (
                "DROP".into(),
                "vetoes the trace: no other policy can keep it".into(),
            ),
            Opinion::Failed(m) => (
                "error".into(),
                format!(
                    "{m}; its on_error verdict ({}) applies",
                    format!("{:?}", config.on_error.unwrap_or_default()).to_lowercase()
                ),
            ),
        };
        let _ = writeln!(s, "    {:<width$}  {:<10} {why}", config.name, label);
    }
    if outcome.keep {
        let _ = writeln!(
            s,
            "  kept by: {} (largest rate {}, so it stands for {} trace{})",
            outcome
                .reasons
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            trim(1.0 / outcome.adjusted_count.max(1.0)),
            trim(outcome.adjusted_count),
            if outcome.adjusted_count == 1.0 {
                ""
            } else {
                "s"
            }
        );
    } else if outcome.reasons.is_empty() {
        let _ = writeln!(s, "  dropped: no policy wanted it");
    } else {
        let _ = writeln!(
            s,
            "  dropped: {}",
            outcome
                .reasons
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let path = view.critical_path();
    let steps: Vec<String> = path
        .spans()
        .iter()
        .zip(path.self_times())
        .filter_map(|(&i, &self_ns)| {
            let span = view.spans().get(i as usize)?;
            Some(format!(
                "{} {} ({})",
                span.service_name(),
                span.name,
                ms(Duration::from_nanos(self_ns))
            ))
        })
        .collect();
    let _ = write!(
        s,
        "  critical path (self time on it): {}",
        if steps.is_empty() {
            "none".to_string()
        } else {
            steps.join(" → ")
        }
    );
    s
}

fn keep_reason(view: &TraceView<'_>, config: &PolicyConfig) -> String {
    match &config.kind {
        PolicyKind::Errors(_) => match view.error_count() {
            0 => "an error seen through HTTP 5xx or an exception event".into(),
            n => format!(
                "{n} span{} with status ERROR",
                if n == 1 { "" } else { "s" }
            ),
        },
        PolicyKind::Latency(c) => match (c.threshold, view.baseline()) {
            (Some(t), _) => format!("{} ≥ {}", ms(view.duration()), ms(t)),
            (None, Some(b)) => format!(
                "{} above p{} of its root operation (p95 {}, {} samples)",
                ms(view.duration()),
                trim(100.0 * c.quantile.unwrap_or(0.95)),
                ms(b.p95),
                b.samples
            ),
            (None, None) => format!("{} above its fallback threshold", ms(view.duration())),
        },
        PolicyKind::CriticalPath(c) => format!(
            "matches {} {}",
            c.operations.join(" | "),
            if c.anywhere {
                "in the trace"
            } else {
                "on the critical path"
            }
        ),
        PolicyKind::Representative(_) => {
            let (service, op) = view.root_operation();
            if view.root().is_none() {
                "sampled in the stratum of rootless traces".to_string()
            } else {
                format!("sampled in stratum {service} | {op}")
            }
        }
        PolicyKind::Cel(c) => format!("`{}` is true", one_line(&c.expr)),
        PolicyKind::Always => "keeps every trace".into(),
        other => format!("{} matched", other.name()),
    }
}

fn abstain_reason(view: &TraceView<'_>, config: &PolicyConfig) -> String {
    match &config.kind {
        PolicyKind::Errors(_) => "no span in error".into(),
        PolicyKind::Latency(c) => match (c.threshold, view.baseline()) {
            (Some(t), _) => format!("{} < {}", ms(view.duration()), ms(t)),
            (None, Some(b)) if b.samples >= c.min_samples.unwrap_or(100) => format!(
                "{} not above p{} of its root operation (p95 {}, {} samples)",
                ms(view.duration()),
                trim(100.0 * c.quantile.unwrap_or(0.95)),
                ms(b.p95),
                b.samples
            ),
            (None, b) => format!(
                "its root operation has {} samples, fewer than min_samples ({})",
                b.map_or(0, |b| b.samples),
                c.min_samples.unwrap_or(100)
            ),
        },
        PolicyKind::CriticalPath(c) => format!(
            "no {} {}",
            c.operations.join(" | "),
            if c.anywhere {
                "in the trace"
            } else {
                "on the critical path"
            }
        ),
        PolicyKind::Cel(c) => format!("`{}` is false", one_line(&c.expr)),
        PolicyKind::Never => "never keeps".into(),
        other => format!("{} did not match", other.name()),
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
