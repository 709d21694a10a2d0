//! `tailsift replay`: OTLP files through the engine, on the spans' own clock.
//!
//! The engine's clock is the spans' time: each batch (one OTLP request) is delivered at the
//! latest end time among its spans, measured from the first batch's earliest start, and the
//! clock never goes back. A collector receives a span when it ends, so this is the time the
//! engine would have seen it; and since nothing reads the wall clock, two replays of the same
//! files give the same decisions. At the end of the input the clock moves on by
//! `decision_wait`, so every trace is decided as it would have been live (complete, or timed
//! out), and a shutdown decides anything left.
//!
//! `--speed X` paces the batches by the wall clock, X times faster than the spans' own pace.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tailsift::{ChannelSink, Config, Interner, Span, Str};
use tailsift_otlp::{RawRequest, RequestReader, SpanWriter};

use crate::error::CliError;
use crate::pipeline::Pipeline;
use crate::report::Report;
use crate::series::{Recorder, Tally};
use crate::summary::{self, Summary};
use crate::{chart, metrics_server, policies};

/// What `replay` was asked to do.
pub struct Options {
    /// The budget file.
    pub config: PathBuf,
    /// Where kept spans go.
    pub kept: Option<PathBuf>,
    /// Where the JSON report goes.
    pub report: Option<PathBuf>,
    /// Where the chart goes.
    pub chart: Option<PathBuf>,
    /// Wall-clock pacing multiplier.
    pub speed: Option<f64>,
    /// Where to serve Prometheus metrics.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The OTLP inputs.
    pub inputs: Vec<PathBuf>,
}

/// What [`drive`] measured.
pub struct Driven {
    /// The engine's time at the end of the input.
    pub now: Duration,
    /// Time spent inside the engine.
    pub engine_time: Duration,
    /// Span time covered: the earliest start to the latest end, in seconds.
    pub span_time_seconds: f64,
}

/// Batches read ahead of the engine: enough to keep it busy while the decoders decode, few
/// enough to bound the memory they hold.
const READ_AHEAD: usize = 64;

/// One request's spans, or the error in their place.
type Decoded = Result<Vec<Span>, tailsift_otlp::ReadError>;

/// Threads decoding requests: one per core the machine runs at once (the engine's thread mostly
/// waits for them), at most 8.
fn decoders() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Replays `inputs` through `pipeline` on the spans' clock; `after` runs after every batch
/// (to drain decisions). Does not decide what is still buffered at the end: see [`drain_tail`].
///
/// The files are read on a thread of their own and their requests decoded on as many threads
/// as the machine has cores, a few batches ahead, while this one drives the engine: the batches
/// arrive in the files' order, so the replay is as deterministic as one thread's. The first
/// error, reading or decoding, ends the replay.
pub fn drive(
    inputs: &[PathBuf],
    pipeline: &mut Pipeline,
    config: &Config,
    speed: Option<f64>,
    mut after: impl FnMut(&mut Pipeline, Duration) -> Result<(), CliError>,
) -> Result<Driven, CliError> {
    let max_batch = config.buffer.max_batch_spans.max(1);
    let mut origin: Option<u64> = None;
    let mut last_end = 0u64;
    let mut now = Duration::ZERO;
    let mut engine_time = Duration::ZERO;
    let wall_start = Instant::now();
    // Each request gets a slot in `batches`, in file order, which its decoder fills.
    let (batches, received) = crossbeam_channel::bounded(READ_AHEAD);
    let (work, jobs) = crossbeam_channel::bounded(READ_AHEAD);
    let interner = Interner::default();
    std::thread::scope(|scope| {
        scope.spawn(move || read_ahead(inputs, &batches, &work));
        for _ in 0..decoders() {
            let (jobs, interner) = (jobs.clone(), &interner);
            scope.spawn(move || decode(&jobs, interner));
        }
        drop(jobs);
        // On an early return the receiver is dropped: the reader stops at its next send, and
        // the decoders when the requests already sent to them are done.
        for slot in received {
            // A decoder drops a slot unfilled only if it panics, which the scope raises.
            let Ok(batch) = slot.recv() else { break };
            let spans = batch?;
            if spans.is_empty() {
                continue;
            }
            let (start, end) = times(&spans);
            let origin = *origin.get_or_insert(start.unwrap_or(0));
            if let Some(end) = end {
                last_end = last_end.max(end);
                now = now.max(Duration::from_nanos(end.saturating_sub(origin)));
            }
            if let Some(speed) = speed {
                let due = wall_start + now.div_f64(speed);
                let wait = due.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            }
            let t0 = Instant::now();
            pipeline.advance(now);
            let mut spans = spans;
            // An OTLP request may hold more spans than the engine takes in one batch.
            while spans.len() > max_batch {
                let rest = spans.split_off(max_batch);
                pipeline.ingest(spans);
                spans = rest;
            }
            pipeline.ingest(spans);
            engine_time += t0.elapsed();
            after(pipeline, now)?;
        }
        Ok::<(), CliError>(())
    })?;
    let span_time_seconds = match origin {
        Some(o) if last_end > o => (last_end - o) as f64 / 1e9,
        _ => 0.0,
    };
    Ok(Driven {
        now,
        engine_time,
        span_time_seconds,
    })
}

/// Reads `inputs` in order, one OTLP request at a time, until the first read error or until
/// the engine's thread is gone: each request's slot goes to `batches` in file order, the
/// request and the slot's filler to the decoders. A read error goes in a slot of its own.
fn read_ahead(
    inputs: &[PathBuf],
    batches: &crossbeam_channel::Sender<crossbeam_channel::Receiver<Decoded>>,
    work: &crossbeam_channel::Sender<(RawRequest, crossbeam_channel::Sender<Decoded>)>,
) {
    let failed = |e| {
        let (fill, slot) = crossbeam_channel::bounded(1);
        let _ = fill.send(Err(e));
        let _ = batches.send(slot);
    };
    for input in inputs {
        let mut reader = match RequestReader::open(input) {
            Ok(reader) => reader,
            Err(e) => return failed(e),
        };
        while let Some(raw) = reader.next_raw() {
            let raw = match raw {
                Ok(raw) => raw,
                Err(e) => return failed(e),
            };
            let (fill, slot) = crossbeam_channel::bounded(1);
            if batches.send(slot).is_err() || work.send((raw, fill)).is_err() {
                return;
            }
        }
    }
}

/// Decodes the requests of `jobs` into spans, each into its slot.
fn decode(
    jobs: &crossbeam_channel::Receiver<(RawRequest, crossbeam_channel::Sender<Decoded>)>,
    interner: &Interner,
) {
    for (raw, fill) in jobs {
        // The engine's thread may be gone (an earlier error): the batch is dropped with it.
        let _ = fill.send(raw.decode_spans(interner));
    }
}

/// Moves the clock `decision_wait` past the end of the input (so traces are decided as they
/// would have been live), then shuts the engine down to decide anything left. Returns the time
/// spent inside the engine.
pub fn drain_tail(pipeline: &mut Pipeline, config: &Config, now: Duration) -> Duration {
    let t0 = Instant::now();
    pipeline.advance(now + config.buffer.decision_wait + Duration::from_millis(1));
    pipeline.finish();
    t0.elapsed()
}

/// The earliest start and latest end among spans with plausible (non-zero) times.
fn times(spans: &[Span]) -> (Option<u64>, Option<u64>) {
    let start = spans
        .iter()
        .map(|s| s.start_time_unix_nano)
        .filter(|&t| t > 0)
        .min();
    let end = spans
        .iter()
        .map(|s| s.end_time_unix_nano.max(s.start_time_unix_nano))
        .filter(|&t| t > 0)
        .max();
    (start, end)
}

/// Runs `replay`.
pub fn run(opts: Options) -> Result<(), CliError> {
    // The endpoint serves from its own threads for as long as the process runs.
    let _server = opts.metrics_addr.map(metrics_server::serve).transpose()?;
    let loaded = policies::load(Some(&opts.config))?;
    let config = &loaded.config;
    let mut writer = opts.kept.as_deref().map(SpanWriter::create).transpose()?;
    let (sink, decisions) = ChannelSink::new(None);
    let mut pipeline = Pipeline::new(config, sink)?;
    let names: Vec<String> = config.policies.iter().map(|p| p.name.clone()).collect();
    let mut tally = Tally::new(names.iter().map(|n| Str::from(n.as_str())).collect());
    let budget = config.budget.as_ref();
    let mut recorder = Recorder::new(
        &pipeline,
        names,
        budget.and_then(|b| b.spans_per_second),
        budget
            .and_then(|b| b.bytes_per_second)
            .map(|b| b.as_u64() as f64),
    );
    let started = Instant::now();
    let mut drain = |tally: &mut Tally| -> Result<(), CliError> {
        for d in decisions.try_iter() {
            tally.record(&d);
            if let (true, Some(w)) = (d.keep, writer.as_mut()) {
                w.write_spans(&d.spans)?;
            }
        }
        Ok(())
    };
    let driven = drive(
        &opts.inputs,
        &mut pipeline,
        config,
        opts.speed,
        |pipeline, now| {
            drain(&mut tally)?;
            recorder.observe(now, pipeline, &tally);
            Ok(())
        },
    )?;
    recorder.finish(driven.now, &pipeline, &tally);
    let tail = drain_tail(&mut pipeline, config, driven.now);
    drain(&mut tally)?;
    if let Some(w) = writer {
        w.finish()?;
    }
    let stats = pipeline.stats();
    let totals = pipeline.policy_totals();
    let report = Report::new(
        loaded.source.clone(),
        opts.inputs.clone(),
        driven.span_time_seconds,
        &stats,
        &totals,
        tally.estimated_traces,
    );
    if let Some(path) = &opts.report {
        write_json(path, &report)?;
    }
    println!(
        "tailsift replay: {} input{}, {:.1} s of span time, config {}",
        opts.inputs.len(),
        if opts.inputs.len() == 1 { "" } else { "s" },
        driven.span_time_seconds,
        loaded.source.display()
    );
    print!(
        "{}",
        summary::render(&Summary {
            stats: &stats,
            tally: &tally,
            totals: &totals,
            series: &recorder.series,
            truth: &[],
            engine_time: driven.engine_time + tail,
            wall: started.elapsed(),
        })
    );
    if let Some(p) = &opts.kept {
        println!("  kept spans: {}", p.display());
    }
    if let Some(p) = &opts.report {
        println!("  report: {}", p.display());
    }
    if let Some(path) = &opts.chart {
        for p in chart::write(path, &recorder.series, "tailsift replay")? {
            println!("  chart: {}", p.display());
        }
    }
    Ok(())
}

fn write_json(path: &Path, report: &Report) -> Result<(), CliError> {
    let mut text =
        serde_json::to_string_pretty(report).map_err(|e| CliError::io(path, e.into()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| CliError::io(path, e))
}
