//! # tailsift — the command-line binary
//!
//! A thin layer over the engine crates, the way a person first meets the project:
//!
//! - `tailsift demo` — simulated microservice traffic (`tailsift-traffic`) through the engine
//!   with the embedded default config, a progress bar and a summary table; `--chart` draws the
//!   controller at work.
//! - `tailsift replay` — OTLP files through the engine on the spans' own clock; kept spans out
//!   as OTLP/JSON lines, a JSON report (schema in `docs/REPLAY.md`).
//! - `tailsift check` — validates a budget file, compiles its CEL expressions, prints the plan.
//! - `tailsift explain` — why each trace of a file was or was not kept.
//!
//! The binary leaves glibc's malloc as the environment sets it (`GLIBC_TUNABLES`); it does not
//! call [`tailsift::malloc::tune_glibc_malloc`]. That tuning evens out the polls of a process
//! deciding on the wall clock, and none of these commands does; and `demo` builds its spans on
//! one thread and frees them on another, where fastbins off makes every free wait for the
//! allocating thread's arena lock: its engine ran at 0.6–1.3 M spans/s tuned against 1.0–2.2 M
//! on glibc's defaults (`docs/BENCHMARKS.md`, session 12).
//!
//! Exit codes: 0 on success, 1 on failure (a bad config, an unreadable input), 2 on bad usage
//! (clap's own). Errors go to stderr; nothing here panics on bad input.
//!
//! Room left for later: `tailsift policy ...` subcommands (WASM policies: build, test, inspect)
//! will sit beside these; `wasm` entries in a config are parsed and reported by `check` today,
//! and built once the WASM host crate registers its builder in [`policies::builders`].
#![warn(missing_docs)]

mod chart;
mod check;
mod demo;
mod error;
mod explain;
mod metrics_server;
mod pipeline;
mod policies;
mod replay;
mod report;
mod scenario;
mod series;
mod summary;
mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::CliError;

/// The embedded default config: the four mission policies and a budget (`tailsift demo`).
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// tailsift: a tail-sampling decision engine for distributed traces.
///
/// Run `tailsift demo` to see it work on simulated traffic, `tailsift check FILE` to validate a
/// budget file, `tailsift replay` and `tailsift explain` on OTLP captures.
#[derive(Debug, Parser)]
#[command(name = "tailsift", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulated microservice traffic through the engine, with a summary of what was kept.
    ///
    /// A dozen services, call trees of varied depth and width, error bursts, slow outliers, a
    /// critical checkout path and a traffic surge, on a simulated clock, through the embedded
    /// default config (errors, latency p95, critical path, representative, and a budget) or
    /// `--config FILE`.
    Demo(DemoArgs),
    /// Replays OTLP files through the engine on the spans' own timestamps.
    ///
    /// Deterministic: the clock is the spans' end times, so two runs give the same output.
    /// Kept spans go to `--kept` (OTLP/JSON lines, or length-prefixed protobuf for .pb/.binpb),
    /// counts to `--report` (JSON; schema in docs/REPLAY.md) and a summary to stdout.
    Replay(ReplayArgs),
    /// Validates a budget file and prints its plan, or every error with file, line and key.
    Check(CheckArgs),
    /// For each trace of OTLP files: the verdict, each policy's opinion and why, the adjusted
    /// count, and the critical path.
    Explain(ExplainArgs),
}

/// The traffic `demo` generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// A dozen microservices with error bursts, slow outliers, a critical checkout path and a
    /// traffic surge in the middle of the run.
    Mission,
    /// Steady traffic at the budget (1×) that steps to 10× the budget halfway: the
    /// controller's step response (docs/CONTROLLER.md).
    Step,
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Budget file to run with instead of the embedded default (see examples/tailsift.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Simulated time during which traces start (e.g. 90s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    duration: Duration,
    /// Average incoming spans per second of simulated time. Default: 5000 for `mission`; the
    /// budget's spans_per_second for `step`.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    spans_per_second: Option<f64>,
    /// The traffic to generate.
    #[arg(long, value_enum, default_value_t = Scenario::Mission)]
    scenario: Scenario,
    /// Seed of the traffic generator (same seed, same traffic).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write a chart of kept output and per-policy rates against the budget: an SVG at FILE
    /// and a PNG beside it (FILE with the extension .png).
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Also write the generated spans to FILE as OTLP (JSON lines for .jsonl/.json, protobuf
    /// for .pb/.binpb), to try `replay` and `explain` on them.
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    /// Serve the engine's metrics in the Prometheus text format at this address while the
    /// demo runs (e.g. 127.0.0.1:9464; scrape /metrics).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Keep serving metrics this long after the run ends (so a scraper can read the totals).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "metrics_addr")]
    linger: Option<Duration>,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The budget file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Where to write kept spans: OTLP/JSON lines (.jsonl, .json, .ndjson) or length-prefixed
    /// OTLP protobuf (.pb, .binpb, .otlp).
    #[arg(long, value_name = "OUT")]
    kept: Option<PathBuf>,
    /// Where to write the JSON report (schema in docs/REPLAY.md).
    #[arg(long, value_name = "REPORT.json")]
    report: Option<PathBuf>,
    /// Write a chart of kept output and per-policy rates against the budget (SVG and PNG).
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Pace the replay by the wall clock at this multiple of the spans' own pace (1 = real
    /// time, 10 = ten times faster). Without it the replay runs as fast as it can.
    #[arg(long, value_name = "MULTIPLIER", value_parser = parse_rate)]
    speed: Option<f64>,
    /// With --speed: serve the engine's metrics in the Prometheus text format at this address.
    #[arg(long, value_name = "ADDR", requires = "speed")]
    metrics_addr: Option<SocketAddr>,
    /// OTLP files (.json, .jsonl, .ndjson, .pb, .binpb, .otlp), replayed in the order given.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The budget file (TOML, or YAML by its .yaml/.yml extension).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// The budget file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Only explain these traces (hex trace ids; repeat the flag for several).
    #[arg(long = "trace", value_name = "TRACE_ID")]
    traces: Vec<String>,
    /// Only explain traces that were kept (`kept`) or dropped (`dropped`).
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Most traces to explain (the rest are still decided, so baselines stay the same).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// OTLP files, replayed in the order given on the spans' own clock.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
}

/// Which decisions `explain` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// Kept traces only.
    Kept,
    /// Dropped traces only.
    Dropped,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; write a duration such as 10s, 5m or 1h30m"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number; write e.g. 5000 or 2.5"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("must be a positive number, got {s}"));
    }
    Ok(v)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(demo::Options {
            config: args.config,
            duration: args.duration,
            spans_per_second: args.spans_per_second,
            scenario: args.scenario,
            seed: args.seed,
            chart: args.chart,
            export: args.export,
            metrics_addr: args.metrics_addr,
            linger: args.linger,
        }),
        Command::Replay(args) => replay::run(replay::Options {
            config: args.config,
            kept: args.kept,
            report: args.report,
            chart: args.chart,
            speed: args.speed,
            metrics_addr: args.metrics_addr,
            inputs: args.inputs,
        }),
        Command::Check(args) => check::run(&args.file),
        Command::Explain(args) => explain::run(explain::Options {
            config: args.config,
            traces: args.traces,
            only: args.only,
            limit: args.limit,
            inputs: args.inputs,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
