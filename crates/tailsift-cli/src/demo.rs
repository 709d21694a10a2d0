//! `tailsift demo`: simulated microservice traffic through the engine, on a simulated clock.
//!
//! The generator runs on its own thread and hands batches over a bounded channel, so on two
//! cores generating and deciding overlap. The engine's clock is the simulation's: each batch is
//! delivered at its time, the engine decides what is due then, and the controller steps at its
//! interval boundaries. Time spent inside the engine is measured apart from the generator's, for
//! the throughput line.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tailsift::{ChannelSink, Str, TraceId};
use tailsift_traffic::{TraceKind, TraceTruth};

use crate::error::CliError;
use crate::pipeline::Pipeline;
use crate::scenario::{self, Plan, MISSION_SPANS_PER_SECOND};
use crate::series::{Recorder, Tally};
use crate::summary::{self, Summary, TruthRow};
use crate::{chart, metrics_server, policies, Scenario};

/// What `demo` was asked to do.
pub struct Options {
    /// A budget file instead of the embedded default.
    pub config: Option<PathBuf>,
    /// Simulated time during which traces start.
    pub duration: Duration,
    /// Incoming spans per second (default by scenario).
    pub spans_per_second: Option<f64>,
    /// The traffic.
    pub scenario: Scenario,
    /// Generator seed.
    pub seed: u64,
    /// Where to write the chart (SVG, and PNG beside it).
    pub chart: Option<PathBuf>,
    /// Where to write the generated spans (OTLP).
    pub export: Option<PathBuf>,
    /// Where to serve Prometheus metrics.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How long to keep serving metrics after the run.
    pub linger: Option<Duration>,
}

/// What the generator knew about one trace, kept for the estimated-vs-true table.
struct Known {
    trace_id: TraceId,
    kind: TraceKind,
    has_error: bool,
    critical_path: bool,
    root: Str,
}

impl From<&TraceTruth> for Known {
    fn from(t: &TraceTruth) -> Known {
        Known {
            trace_id: t.trace_id,
            kind: t.kind,
            has_error: t.has_error,
            critical_path: t.critical_path,
            root: t.root_operation.clone(),
        }
    }
}

/// Runs the demo.
pub fn run(opts: Options) -> Result<(), CliError> {
    // The recorder must be in place before the engine registers its metric handles.
    let server = opts.metrics_addr.map(metrics_server::serve).transpose()?;
    let loaded = policies::load(opts.config.as_deref())?;
    let config = &loaded.config;
    let budget = config.budget.as_ref();
    let spans_per_second = opts.spans_per_second.unwrap_or(match opts.scenario {
        Scenario::Mission => MISSION_SPANS_PER_SECOND,
        Scenario::Step => budget
            .and_then(|b| b.spans_per_second)
            .unwrap_or(MISSION_SPANS_PER_SECOND / scenario::STEP_FACTOR),
    });
    let plan = Plan {
        scenario: opts.scenario,
        duration: opts.duration,
        spans_per_second,
        seed: opts.seed,
    };
    let batches = scenario::batches(&plan)?;

    let (sink, decisions) = ChannelSink::new(None);
    let mut pipeline = Pipeline::new(config, sink)?;
    let names: Vec<String> = config.policies.iter().map(|p| p.name.clone()).collect();
    let mut tally = Tally::new(names.iter().map(|n| Str::from(n.as_str())).collect());
    let mut recorder = Recorder::new(
        &pipeline,
        names,
        budget.and_then(|b| b.spans_per_second),
        budget
            .and_then(|b| b.bytes_per_second)
            .map(|b| b.as_u64() as f64),
    );

    println!(
        "tailsift demo: {} traffic, {} simulated, {} spans/s{}, seed {}",
        match opts.scenario {
            Scenario::Mission => "mission",
            Scenario::Step => "step",
        },
        humantime::format_duration(opts.duration),
        crate::table::countf(spans_per_second),
        match opts.scenario {
            Scenario::Mission => " on average",
            Scenario::Step => " stepping to 10× halfway",
        },
        opts.seed
    );
    println!("config: {}", describe_config(&loaded));

    let mut export = opts
        .export
        .as_deref()
        .map(tailsift_otlp::SpanWriter::create)
        .transpose()?;
    let progress = progress_bar(opts.duration);
    let (tx, rx) = crossbeam_channel::bounded(256);
    let generator = std::thread::spawn(move || {
        for batch in batches {
            if tx.send(batch).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let mut engine_time = Duration::ZERO;
    let mut known: Vec<Known> = Vec::new();
    let mut kept: HashMap<TraceId, f64> = HashMap::new();
    let mut now = Duration::ZERO;
    for batch in rx {
        now = batch.at;
        known.extend(batch.completed.iter().map(Known::from));
        if let Some(w) = export.as_mut() {
            w.write_spans(&batch.spans)?;
        }
        let t0 = Instant::now();
        pipeline.advance(now);
        pipeline.ingest(batch.spans);
        engine_time += t0.elapsed();
        for d in decisions.try_iter() {
            tally.record(&d);
            if d.keep && !d.flags.late {
                kept.insert(d.trace_id, d.adjusted_count);
            }
        }
        // The chart and the per-interval table cover the traffic's own duration; what comes
        // after it is late spans only, counted in the totals.
        recorder.observe(now.min(opts.duration), &pipeline, &tally);
        progress.set_position(now.as_millis().min(u128::from(u64::MAX)) as u64);
    }
    // The generator thread only sends; it ends when its iterator does.
    let _ = generator.join();
    let t0 = Instant::now();
    pipeline.finish();
    engine_time += t0.elapsed();
    for d in decisions.try_iter() {
        tally.record(&d);
        if d.keep && !d.flags.late {
            kept.insert(d.trace_id, d.adjusted_count);
        }
    }
    recorder.finish(now.min(opts.duration), &pipeline, &tally);
    if let Some(w) = export {
        w.finish()?;
    }
    progress.finish_and_clear();
    let wall = started.elapsed();

    let stats = pipeline.stats();
    let totals = pipeline.policy_totals();
    let truth = truth_rows(&known, &kept);
    println!();
    print!(
        "{}",
        summary::render(&Summary {
            stats: &stats,
            tally: &tally,
            totals: &totals,
            series: &recorder.series,
            truth: &truth,
            engine_time,
            wall,
        })
    );
    if let Some(path) = &opts.export {
        println!("  generated spans: {}", path.display());
    }
    if let Some(path) = &opts.chart {
        let title = match opts.scenario {
            Scenario::Mission => "tailsift demo: mission traffic (surge in the middle)",
            Scenario::Step => "tailsift demo: step from 1× to 10× the budget",
        };
        let written = chart::write(path, &recorder.series, title)?;
        for p in written {
            println!("  chart: {}", p.display());
        }
    }
    if let (Some(server), Some(linger)) = (&server, opts.linger) {
        eprintln!(
            "serving metrics at http://{}/metrics for {}",
            server.addr(),
            humantime::format_duration(linger)
        );
        std::thread::sleep(linger);
    }
    Ok(())
}

fn describe_config(loaded: &policies::Loaded) -> String {
    let c = &loaded.config;
    let names: Vec<&str> = c.policies.iter().map(|p| p.name.as_str()).collect();
    let budget = match &c.budget {
        Some(b) => {
            let mut parts = Vec::new();
            if let Some(s) = b.spans_per_second {
                parts.push(format!("{} spans/s", crate::table::countf(s)));
            }
            if let Some(bytes) = b.bytes_per_second {
                parts.push(format!("{bytes}/s"));
            }
            format!(
                "budget {} per {} interval",
                parts.join(" and "),
                humantime::format_duration(b.interval)
            )
        }
        None => "no budget".into(),
    };
    format!(
        "{} — policies {} — {budget}",
        loaded.source.display(),
        names.join(", ")
    )
}

fn progress_bar(duration: Duration) -> ProgressBar {
    // indicatif draws only when stderr is a terminal, so piped runs print no bar.
    let bar = ProgressBar::new(duration.as_millis().min(u128::from(u64::MAX)) as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} simulated {msg} [{bar:40}] {percent:>3}% · {elapsed_precise} elapsed",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(humantime::format_duration(duration).to_string());
    bar
}

/// Estimated against true counts: all traces, by kind, errors, the critical path, and each
/// root operation (rare ones show the stratified sample at work).
fn truth_rows(known: &[Known], kept: &HashMap<TraceId, f64>) -> Vec<TruthRow> {
    let mut all = TruthRow {
        label: "all traces".into(),
        ..TruthRow::default()
    };
    let mut kinds: BTreeMap<TraceKind, TruthRow> = BTreeMap::new();
    let mut errors = TruthRow {
        label: "with an error".into(),
        ..TruthRow::default()
    };
    let mut critical = TruthRow {
        label: "on the checkout path".into(),
        ..TruthRow::default()
    };
    let mut roots: BTreeMap<Str, TruthRow> = BTreeMap::new();
    for k in known {
        let adjusted = kept.get(&k.trace_id).copied();
        let add = |row: &mut TruthRow| {
            row.traces += 1;
            if let Some(a) = adjusted {
                row.kept += 1;
                row.estimated += a;
            }
        };
        add(&mut all);
        add(kinds.entry(k.kind).or_insert_with(|| TruthRow {
            label: format!("kind {}", k.kind.as_str()),
            ..TruthRow::default()
        }));
        if k.has_error {
            add(&mut errors);
        }
        if k.critical_path {
            add(&mut critical);
        }
        add(roots.entry(k.root.clone()).or_insert_with(|| TruthRow {
            label: format!("root {}", k.root),
            ..TruthRow::default()
        }));
    }
    let mut rows = vec![all, errors, critical];
    rows.extend(kinds.into_values());
    let mut roots: Vec<TruthRow> = roots.into_values().collect();
    roots.sort_by_key(|r| std::cmp::Reverse(r.traces));
    rows.extend(roots);
    rows
}
