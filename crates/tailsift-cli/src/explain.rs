//! `tailsift explain`: why each trace was or was not kept.
//!
//! The files are replayed exactly as `replay` does (same clock, same sampler, same controller),
//! with a decider put around the sampler's policy set: it lets the set decide — so its counts
//! feed the controller and its baselines learn, as in a replay — then, with the trace's view
//! still at hand (the latency baseline the set attached to it), asks each policy for its
//! verdict, and records what an operator needs: the verdicts and why, the randomness that
//! decided the probabilistic keeps, the adjusted count, and the critical path.
//!
//! The verdicts come from the set itself ([`PolicySet::decide_explained`]): the very decision
//! the replay makes, counted once, with each policy's verdict (the controller's rates of the
//! moment applied) and failure beside it.

use std::collections::HashSet;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tailsift::policy::PolicyKind;
use tailsift::verdict::{keeps, Outcome};
use tailsift::{ChannelSink, Decider, PolicyConfig, PolicySet, TraceId, TraceView, Verdict};

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

/// The decider `explain` puts around the policy set.
struct Explainer {
    set: Arc<PolicySet>,
    configs: Vec<PolicyConfig>,
    wanted: Option<HashSet<TraceId>>,
    out: Mutex<Vec<Explanation>>,
}

impl Decider for Explainer {
    fn decide(&self, view: &mut TraceView<'_>) -> Outcome {
        if self
            .wanted
            .as_ref()
            .is_some_and(|w| !w.contains(&view.trace_id()))
        {
            return self.set.decide(view);
        }
        let explained = self.set.decide_explained(view);
        let opinions: Vec<Opinion> = explained
            .policies
            .into_iter()
            .map(|p| match p.error {
                Some(message) => Opinion::Failed(message),
                None => Opinion::Verdict(p.verdict),
            })
            .collect();
        let text = render(view, &explained.outcome, &opinions, &self.configs);
        self.out.lock().push(Explanation {
            outcome: explained.outcome.clone(),
            text,
        });
        explained.outcome
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
    let configs = config.policies.clone();
    let (sink, decisions) = ChannelSink::new(None);
    let mut pipeline = Pipeline::new(config, sink)?;
    let explainer = Arc::new(Explainer {
        set: pipeline.policy_set(),
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
        PolicyKind::Probabilistic(c) => format!("sampled at rate {}", c.rate),
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
