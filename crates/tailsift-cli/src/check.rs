//! `tailsift check FILE`: validate a budget file, build (compile) every policy, print the plan.
//!
//! On success the plan says what the engine will do: the policies in priority order with their
//! parameters, the budget and the controller's knobs, the buffer's bounds, the decision cache
//! and what is written into kept spans. On failure every problem is printed with file, line and
//! key (see [`crate::policies::load`]) and the exit code is 1.

use std::fmt::Write;
use std::path::Path;

use tailsift::config::ShutdownMode;
use tailsift::policy::attribute::AttributeScope;
use tailsift::policy::PolicyKind;
use tailsift::{Config, PolicyConfig};

use crate::error::CliError;
use crate::policies;
use crate::table::{count, Table};

/// Runs `check`.
pub fn run(file: &Path) -> Result<(), CliError> {
    let loaded = policies::load(Some(file))?;
    print!("{}", plan(&loaded.config, file));
    Ok(())
}

/// The plan of a valid config, as text.
pub fn plan(c: &Config, file: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: OK — {} {}, {}",
        file.display(),
        c.policies.len(),
        if c.policies.len() == 1 {
            "policy"
        } else {
            "policies"
        },
        if c.budget.is_some() {
            "budgeted"
        } else {
            "no budget"
        }
    );

    let _ = writeln!(out, "\npolicies, in priority order:");
    let mut t = Table::new(["  #", "name", "kind", "parameters"]).left_aligned();
    for (i, p) in c.policies.iter().enumerate() {
        t.row([
            format!("  {}", i + 1),
            p.name.clone(),
            p.kind.name().to_string(),
            describe(p),
        ]);
    }
    out.push_str(&t.render(0));
    let _ = writeln!(
        out,
        "  traces no policy keeps: {}",
        if c.default_keep {
            "kept (default_keep = true)"
        } else {
            "dropped (default_keep = false)"
        }
    );

    let _ = writeln!(out, "\nbudget:");
    match &c.budget {
        None => {
            let _ = writeln!(
                out,
                "  none: no controller; every policy keeps at its configured rate"
            );
        }
        Some(b) => {
            let spans = b
                .spans_per_second
                .map_or("-".into(), |s| format!("{s} spans/s"));
            let bytes = b.bytes_per_second.map_or("-".into(), |s| format!("{s}/s"));
            let _ = writeln!(out, "  kept output at most {spans}; bytes {bytes}");
            let _ = writeln!(
                out,
                "  controller: retunes every {}, rates rise at most {:.0}% per interval, \
                 never below {}; demand EMA weight {}, burst retune at {}× the forecast",
                humantime::format_duration(b.interval),
                100.0 * b.max_change,
                b.floor_rate,
                b.ema_weight,
                b.burst_factor
            );
            let _ = writeln!(
                out,
                "  shares in priority order: {}",
                c.policies
                    .iter()
                    .map(|p| {
                        let s = b.shares(&p.name);
                        match (s.min_share, s.max_share) {
                            (0.0, None) => p.name.clone(),
                            (min, max) => format!(
                                "{} (min {:.0}%, max {:.0}%)",
                                p.name,
                                100.0 * min,
                                100.0 * max.unwrap_or(1.0)
                            ),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" → ")
            );
        }
    }

    let e = c.engine();
    let b = &e.buffer;
    let _ = writeln!(out, "\nbuffer:");
    let _ = writeln!(
        out,
        "  a trace is decided {} after its root ends (no new span meanwhile), or {} after its \
         first span at the latest",
        humantime::format_duration(b.completion_grace),
        humantime::format_duration(b.decision_wait)
    );
    let _ = writeln!(
        out,
        "  holds at most {} spans and {}; over either, the oldest traces are decided early",
        count(b.max_spans as u64),
        b.max_bytes
    );
    let _ = writeln!(
        out,
        "  {} shards{}; batches over {} spans are rejected; at shutdown pending traces are {}",
        e.shard_count(),
        if b.shards == 0 { " (4 × cores)" } else { "" },
        count(b.max_batch_spans as u64),
        match b.on_shutdown {
            ShutdownMode::Decide => "decided",
            ShutdownMode::Drop => "dropped",
        }
    );
    let _ = writeln!(
        out,
        "decision cache: remembers {} kept and {} dropped decisions for late spans",
        count(e.decision_cache.kept_entries as u64),
        count(e.decision_cache.dropped_entries as u64)
    );
    let _ = writeln!(
        out,
        "output: {}; {}",
        if e.output.write_threshold {
            "writes the `ot=th:` sampling threshold into kept spans' tracestate"
        } else {
            "kept spans leave unchanged (write_threshold = false)"
        },
        match &e.output.adjusted_count_attribute {
            Some(k) => format!("adds the adjusted count as attribute `{k}`"),
            None => "no adjusted-count attribute".into(),
        }
    );
    out
}

/// A policy's parameters in a few words.
fn describe(p: &PolicyConfig) -> String {
    let mut parts: Vec<String> = match &p.kind {
        PolicyKind::Always => vec!["keeps every trace".into()],
        PolicyKind::Never => vec!["keeps no trace (abstains)".into()],
        PolicyKind::Errors(c) => {
            let mut v = vec!["spans with status ERROR".to_string()];
            if c.http_server_errors {
                v.push("server spans with HTTP 5xx".into());
            }
            if c.exception_events {
                v.push("spans with an exception event".into());
            }
            vec![v.join(" or ")]
        }
        PolicyKind::Latency(c) => match c.threshold {
            Some(t) => vec![format!("duration ≥ {}", humantime::format_duration(t))],
            None => {
                let mut v = vec![format!(
                    "duration above p{} of its group ({})",
                    trim_quantile(c.quantile.unwrap_or(0.95)),
                    c.group_by
                        .as_ref()
                        .map_or("service.name, root.name".into(), |g| g.join(", "))
                )];
                v.push(format!("after {} samples", c.min_samples.unwrap_or(100)));
                if let Some(f) = c.fallback_threshold {
                    v.push(format!("before: ≥ {}", humantime::format_duration(f)));
                }
                if let Some(w) = c.window {
                    v.push(format!("window {}", humantime::format_duration(w)));
                }
                v
            }
        },
        PolicyKind::CriticalPath(c) => vec![format!(
            "{} {}",
            c.operations.join(", "),
            if c.anywhere {
                "anywhere in the trace"
            } else {
                "on the critical path"
            }
        )],
        PolicyKind::Representative(c) => {
            let mut v = vec![format!("rate {}", c.rate)];
            if c.min_per_minute > 0.0 {
                v.push(format!("at least {}/min per stratum", c.min_per_minute));
            }
            v.push(format!(
                "strata by {}",
                c.group_by
                    .as_ref()
                    .map_or("service.name, root.name".into(), |g| g.join(", "))
            ));
            v
        }
        PolicyKind::Probabilistic(c) => vec![format!("rate {}, no strata", c.rate)],
        PolicyKind::Cel(c) => vec![format!("`{}`", one_line(&c.expr))],
        PolicyKind::Wasm(c) => {
            let mut v = vec![format!("module {}", c.module.display())];
            if let Some(t) = c.timeout {
                v.push(format!("timeout {}", humantime::format_duration(t)));
            }
            if let Some(m) = c.max_memory {
                v.push(format!("memory ≤ {m}"));
            }
            if let Some(f) = c.fuel {
                v.push(format!("fuel {f}"));
            }
            v
        }
        PolicyKind::And(c) | PolicyKind::Or(c) => vec![format!(
            "{} of: {}",
            if p.kind.name() == "and" { "all" } else { "any" },
            c.policies
                .iter()
                .map(|s| format!("{} [{}]", s.kind.name(), describe(s)))
                .collect::<Vec<_>>()
                .join("; ")
        )],
        PolicyKind::Not(c) | PolicyKind::Drop(c) => vec![format!(
            "{} {} [{}]",
            if p.kind.name() == "not" {
                "keeps when this does not:"
            } else {
                "vetoes what this keeps:"
            },
            c.policy.kind.name(),
            describe(&c.policy)
        )],
        PolicyKind::StatusCode(c) => vec![format!(
            "a span with status {}",
            c.status_codes.join(" or ")
        )],
        PolicyKind::StringAttribute(c) => {
            let test = match (&c.value, &c.values, &c.regex) {
                (Some(v), _, _) => format!("= {v:?}"),
                (_, Some(vs), _) => format!("in {vs:?}"),
                (_, _, Some(r)) => format!("matches /{r}/"),
                _ => "set".into(),
            };
            vec![attribute(&c.key, &test, c.invert, c.scope)]
        }
        PolicyKind::NumericAttribute(c) => {
            let test = match (c.value, &c.values, c.min, c.max) {
                (Some(v), _, _, _) => format!("= {v}"),
                (_, Some(vs), _, _) => format!("in {vs:?}"),
                (_, _, min, max) => format!(
                    "in [{}, {}]",
                    min.map_or("-∞".into(), |m| m.to_string()),
                    max.map_or("∞".into(), |m| m.to_string())
                ),
            };
            vec![attribute(&c.key, &test, c.invert, c.scope)]
        }
        PolicyKind::BooleanAttribute(c) => {
            vec![attribute(
                &c.key,
                &format!("= {}", c.value),
                c.invert,
                c.scope,
            )]
        }
        PolicyKind::SpanCount(c) => vec![format!(
            "span count in [{}, {}]",
            c.min.unwrap_or(0),
            c.max.map_or("∞".into(), |m| m.to_string())
        )],
        PolicyKind::RateLimit(c) => vec![format!(
            "at most {} spans/s (burst {})",
            c.spans_per_second,
            c.burst.unwrap_or(c.spans_per_second)
        )],
    };
    if let Some(on_error) = p.on_error {
        parts.push(format!("on error: {on_error:?}").to_lowercase());
    }
    parts.join("; ")
}

fn attribute(key: &str, test: &str, invert: bool, scope: AttributeScope) -> String {
    let scope = match scope {
        AttributeScope::Span => "span",
        AttributeScope::Resource => "resource",
        AttributeScope::Any => "span or resource",
    };
    format!(
        "{}{scope} attribute `{key}` {test}",
        if invert { "no " } else { "a " }
    )
}

fn trim_quantile(q: f64) -> String {
    let s = format!("{}", q * 100.0);
    if s.len() > 6 {
        format!("{:.2}", q * 100.0)
    } else {
        s
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
