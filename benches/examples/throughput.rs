//! The throughput harness.
//!
//! ```text
//! cargo run --release --example throughput -- --workload anchor|mission [--threads N]
//!     [--policies native|cel] [--quick] [--runs N] [--group-batches N]
//!     [--prefill-traces N] [--no-controller] [--pace SPANS_PER_S [--pace-seconds S]]
//!     [--max-spans N] [--no-surge] [--poll-every-ms N | --pollers N]
//!     [--values shared|unique|immortal|decoded]
//! cargo run --release --example throughput -- --workload anchor --growth PAIRS
//!     [--input built|warm|early]
//! ```
//!
//! Prints spans/s, allocations and retained bytes per buffered span, peak RSS and decision
//! latency percentiles; the last line reads
//! `<workload>: <N> spans/s, <B> B retained/span, <A> allocs/span`. What each figure means:
//! the `tailsift_benches::harness` module docs and `docs/BENCHMARKS.md`.
//!
//! `--pollers N` runs a paced run's driver with N polling threads (`DriverConfig::pollers`).
//!
//! `--values` says how the spans hold their string values (`tailsift_traffic::SpanValues`): one
//! counted string per value shared by every span that carries it (the default, and every
//! figure's condition unless it says otherwise), a string of their own (`unique`: a decoder
//! that interns no value), immortal strings (as an interner makes them), or as the OTLP
//! bridge `tailsift-otlp` decodes them (`decoded`: long values of low-cardinality keys, such as
//! routes and RPC services, interned; the others of their own).
//!
//! `--growth PAIRS` measures the growth figure instead: PAIRS pairs of runs with 10^4 and 10^6
//! never-complete traces buffered first (`harness::growth`), and prints each pair's ratio and
//! their geometric mean. `--input` says where the prebuilt traffic stands when the clock starts
//! (`harness::InputState`): built just before the run (the default), read once more after the
//! prefill (`warm`), or built for every run before the first (`early`).

use std::process::ExitCode;

use tailsift_benches::counting::CountingAlloc;
use tailsift_benches::harness::{growth, run, InputState, Options, WorkloadKind};
use tailsift_benches::workloads::PolicyForm;
use tailsift_traffic::SpanValues;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const USAGE: &str = "usage: throughput --workload anchor|mission [--threads N] \
[--policies native|cel] [--quick] [--runs N] [--group-batches N] [--prefill-traces N] \
[--no-controller] [--pace SPANS_PER_S [--pace-seconds S]] [--max-spans N] [--no-surge] [--poll-every-ms N] [--pollers N] \
[--values shared|unique|immortal|decoded] [--growth PAIRS] [--input built|warm|early]";

/// The growth figure's two sizes: traces buffered before the timed part.
const GROWTH_SIZES: (usize, usize) = (10_000, 1_000_000);

/// The options, and the number of pairs with `--growth`.
fn parse(args: &[String]) -> Result<(Options, Option<usize>), String> {
    let mut workload = None;
    let mut threads = 1usize;
    let mut form = PolicyForm::Native;
    let mut quick = false;
    let mut runs = None;
    let mut group_batches = None;
    let mut prefill = 0usize;
    let mut controller = true;
    let mut pace = None;
    let mut pace_seconds = None;
    let mut max_spans = None;
    let mut surge = true;
    let mut poll_every = None;
    let mut pollers = 1usize;
    let mut growth_pairs = None;
    let mut input = InputState::Built;
    let mut values = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, v: String| {
            v.replace('_', "")
                .parse::<f64>()
                .map_err(|_| format!("{name} takes a number, got {v:?}"))
        };
        match arg.as_str() {
            "--workload" => workload = Some(WorkloadKind::from_name(&value("--workload")?)?),
            "--threads" => threads = number("--threads", value("--threads")?)? as usize,
            "--policies" => form = PolicyForm::from_name(&value("--policies")?)?,
            "--quick" => quick = true,
            "--runs" => runs = Some(number("--runs", value("--runs")?)? as usize),
            "--group-batches" => {
                group_batches = Some(number("--group-batches", value("--group-batches")?)? as usize)
            }
            "--prefill-traces" => {
                prefill = number("--prefill-traces", value("--prefill-traces")?)? as usize
            }
            "--no-controller" => controller = false,
            "--no-surge" => surge = false,
            "--pace" => pace = Some(number("--pace", value("--pace")?)?),
            "--pace-seconds" => {
                pace_seconds = Some(number("--pace-seconds", value("--pace-seconds")?)?)
            }
            "--max-spans" => {
                max_spans = Some(number("--max-spans", value("--max-spans")?)? as usize)
            }
            "--poll-every-ms" => {
                poll_every = Some(std::time::Duration::from_secs_f64(
                    number("--poll-every-ms", value("--poll-every-ms")?)? / 1000.0,
                ))
            }
            "--pollers" => pollers = number("--pollers", value("--pollers")?)? as usize,
            "--growth" => growth_pairs = Some(number("--growth", value("--growth")?)? as usize),
            "--input" => input = InputState::from_name(&value("--input")?)?,
            "--values" => {
                values =
                    Some(SpanValues::from_name(&value("--values")?).map_err(|e| e.to_string())?)
            }
            "--help" | "-h" => return Err(USAGE.to_string()),
            // `cargo bench` passes `--bench`; ignore it.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let workload = workload.ok_or_else(|| format!("--workload is required\n{USAGE}"))?;
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    let mut options = Options::new(workload);
    options.threads = threads;
    options.form = form;
    options.prefill_traces = prefill;
    options.controller = controller;
    options.pace = pace;
    options.max_spans = max_spans;
    options.surge = surge;
    if poll_every.is_some() && pollers > 1 {
        return Err(
            "--pollers sets the driver's threads; --poll-every-ms replaces the driver \
            with a loop: give one or the other"
                .into(),
        );
    }
    options.poll_every = poll_every;
    options.pollers = pollers.max(1);
    options.input = input;
    if let Some(v) = values {
        options.values = v;
    }
    if let Some(s) = pace_seconds {
        options.pace_seconds = s;
    }
    if let Some(g) = group_batches {
        options.group_batches = g.max(1);
    }
    if quick {
        options = options.quick();
    }
    if let Some(r) = runs {
        options.runs = r.max(1);
    }
    Ok((options, growth_pairs))
}

fn main() -> ExitCode {
    tailsift_benches::counting::set_up();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, growth_pairs) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Some(pairs) = growth_pairs {
        return match growth(&options, GROWTH_SIZES, pairs) {
            Ok(growth) => {
                let (small, large) = growth.medians();
                let ratios: Vec<String> =
                    growth.ratios().iter().map(|r| format!("{r:.3}")).collect();
                println!(
                    "growth, {} pairs: {:.0} spans/s with {} traces buffered, {:.0} with {} (medians); \
                     ratios {}",
                    growth.pairs.len(),
                    small,
                    growth.sizes.0,
                    large,
                    growth.sizes.1,
                    ratios.join(" ")
                );
                let runs: Vec<String> = growth
                    .pairs
                    .iter()
                    .map(|(small, large)| format!("{:.2}/{:.2}", small / 1e6, large / 1e6))
                    .collect();
                println!("pairs (M spans/s, small/large): {}", runs.join(" "));
                let (small_first, large_first) = growth.ratios_by_order();
                println!(
                    "median ratio of pairs run small size first {small_first:.3}, \
                     large size first {large_first:.3}"
                );
                println!(
                    "growth: {:.3} ratio, geometric mean ({:+.1}%)",
                    growth.ratio(),
                    (growth.ratio() - 1.0) * 100.0
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("throughput: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&options) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("throughput: {e}");
            ExitCode::FAILURE
        }
    }
}
