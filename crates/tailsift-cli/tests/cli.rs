//! The `tailsift` binary, run as a user runs it: exit codes, output, files written.
//!
//! Every run is short (seconds of simulated traffic, small OTLP files) so the whole file stays
//! fast in the dev profile.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tailsift::{Interner, Span};
use tailsift_otlp::{SpanReader, SpanWriter};
use tailsift_traffic::MissionConfig;

fn tailsift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailsift"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn fixture(name: &str) -> String {
    repo("crates/tailsift-otlp/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path.display().to_string()
}

/// A few seconds of mission traffic (with malformed spans) as an OTLP/JSON lines file.
fn generated_traffic(dir: &Path, malformed: bool) -> String {
    let path = dir.join("traffic.jsonl");
    let mut writer = SpanWriter::create(&path).expect("creates");
    let config = MissionConfig {
        duration: Duration::from_secs(6),
        spans_per_second: 400.0,
        malformed_spans: malformed,
        malformed_fraction: 0.05,
        late_consumer_fraction: 0.2,
        seed: 7,
        ..MissionConfig::default()
    };
    for batch in config.traffic().expect("valid") {
        writer.write_spans(&batch.spans).expect("writes");
    }
    writer.finish().expect("flushes");
    path.display().to_string()
}

fn read_spans(path: &str) -> Vec<Span> {
    let interner = Interner::default();
    let mut spans: Vec<Span> = SpanReader::open(path, &interner)
        .expect("opens")
        .flat_map(|batch| batch.expect("reads"))
        .collect();
    spans.sort_by_key(|s| (s.trace_id, s.span_id));
    spans
}

const ALWAYS: &str = "[[policy]]\nname = \"everything\"\nkind = \"always\"\n";

const MIX: &str = r#"
[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "premium"
kind = "cel"
expr = 'spans.exists(s, s.attributes[?"user.tier"] == optional.of("premium"))'

[[policy]]
name = "baseline"
kind = "representative"
rate = 0.25
"#;

#[test]
fn demo_short_run_prints_the_summary() {
    let o = tailsift(&["demo", "--duration", "10s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "spans",
        "kept",
        "dropped",
        "kept by policy",
        "errors",
        "slow",
        "checkout",
        "baseline",
        "budget use per 5s interval",
        "all traces",
        "estimated",
        "engine:",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
}

#[test]
fn demo_step_scenario_writes_svg_and_png_charts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("step.svg");
    let o = tailsift(&[
        "demo",
        "--scenario",
        "step",
        "--duration",
        "30s",
        "--spans-per-second",
        "300",
        "--chart",
        &chart.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&chart).expect("the SVG is written");
    assert!(svg.starts_with("<svg") && svg.contains("budget") && svg.contains("rate of baseline"));
    let png = std::fs::read(dir.path().join("step.png")).expect("the PNG is written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn check_passes_on_the_example_config() {
    let example = repo("examples/tailsift.toml").display().to_string();
    let o = tailsift(&["check", &example]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("OK"), "{out}");
    assert!(out.contains("policies, in priority order"), "{out}");
    assert!(out.contains("budget:") && out.contains("buffer:"), "{out}");
}

#[test]
fn the_example_config_passes_with_its_commented_settings_enabled() {
    // `#key = value` and `#[[policy]]` lines are optional settings and more kinds: enabled, the
    // file must still pass, except for the `wasm` kind, which this build cannot load yet.
    let text = std::fs::read_to_string(repo("examples/tailsift.toml")).expect("reads");
    let enabled: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.starts_with([' ', '#']) && !rest.is_empty() => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "all.toml", &enabled);
    let o = tailsift(&["check", &path]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(err.contains("1 problem"), "{err}");
    assert!(err.contains("kind = \"wasm\""), "{err}");
}

#[test]
fn check_lists_every_error_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "broken.toml",
        r#"[buffer]
max_spans = 0

[budget]
spans_per_second = 100
interval = "10ms"

[[policy]]
name = "premium"
kind = "cel"
expr = 'spans.exists(s, s.name == )'

[[policy]]
name = "typo"
kind = "cel"
expr = 'trce.error_count > 0'
"#,
    );
    let o = tailsift(&["check", &path]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for (line, key) in [
        (2, "buffer.max_spans"),
        (6, "budget.interval"),
        (11, "policy[0].expr"),
        (16, "policy[1].expr"),
    ] {
        let located = format!("broken.toml:{line}");
        assert!(err.contains(&located), "{located} missing from:\n{err}");
        assert!(
            err.contains(&format!("`{key}`")),
            "{key} missing from:\n{err}"
        );
    }
    assert!(err.contains("unknown variable `trce`"), "{err}");
    assert!(err.contains("4 problems"), "{err}");
}

#[test]
fn check_reports_a_syntax_error_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "syntax.toml", "[buffer]\nmax_spanz = 10\n");
    let o = tailsift(&["check", &path]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("syntax.toml:2"), "{err}");
    assert!(err.contains("max_spanz"), "{err}");
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["demo", "--duration", "soon"][..],
        &["demo", "--spans-per-second", "-5"][..],
        &["replay", "input.jsonl"][..],
        &["check"][..],
        &["explain", "--config", "x.toml"][..],
    ] {
        let o = tailsift(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = tailsift(&["demo", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("--spans-per-second"));
}

#[test]
fn failures_exit_with_1_and_say_why() {
    let o = tailsift(&["check", "/nonexistent/tailsift.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read the file"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "always.toml", ALWAYS);
    let o = tailsift(&["replay", "--config", &config, "/nonexistent/in.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/in.jsonl"),
        "{}",
        stderr(&o)
    );
    let bad = write(dir.path(), "bad.jsonl", "{\"resourceSpans\": [ nope\n");
    let o = tailsift(&["replay", "--config", &config, &bad]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.jsonl:1"), "{}", stderr(&o));
}

#[test]
fn replay_stops_at_the_first_bad_request_in_file_order() {
    // Requests are decoded on several threads; the first bad one in the file still ends the
    // replay, whichever a decoder reaches first: here an id of the wrong length (found only by
    // decoding) before malformed JSON.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "always.toml", ALWAYS);
    let traffic = generated_traffic(dir.path(), false);
    let mut lines: Vec<String> = std::fs::read_to_string(&traffic)
        .expect("reads")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 300, "{} lines", lines.len());
    lines[199] = lines[199].replacen("\"traceId\":\"", "\"traceId\":\"00", 1);
    lines[259] = "{\"resourceSpans\": [ nope".to_owned();
    let bad = write(dir.path(), "bad.jsonl", &lines.join("\n"));
    for _ in 0..3 {
        let o = tailsift(&["replay", "--config", &config, &bad]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("bad.jsonl: line 200: resource_spans[0]"),
            "{}",
            stderr(&o)
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn replay_fails_when_the_kept_spans_cannot_be_written() {
    // A write error (here at the first flush) ends the replay, naming the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "always.toml", ALWAYS);
    let traffic = generated_traffic(dir.path(), false);
    let full = dir.path().join("full.jsonl");
    std::os::unix::fs::symlink("/dev/full", &full).expect("symlinks");
    let o = tailsift(&[
        "replay",
        "--config",
        &config,
        "--kept",
        &full.display().to_string(),
        &traffic,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("full.jsonl") && stderr(&o).contains("No space left"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn replay_with_always_keeps_every_span_field_for_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "always.toml", ALWAYS);
    let traffic = generated_traffic(dir.path(), false);
    for inputs in [
        vec![fixture("python-sdk.jsonl"), fixture("spec-trace.json")],
        vec![fixture("python-sdk.binpb")],
        vec![traffic],
    ] {
        let kept = dir.path().join("kept.jsonl").display().to_string();
        let mut args = vec!["replay", "--config", &config, "--kept", &kept];
        args.extend(inputs.iter().map(String::as_str));
        let o = tailsift(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let input: Vec<Span> = inputs.iter().flat_map(|i| read_spans(i)).collect();
        let mut input = input;
        input.sort_by_key(|s| (s.trace_id, s.span_id));
        let output = read_spans(&kept);
        assert!(!input.is_empty());
        assert_eq!(input.len(), output.len(), "{inputs:?}");
        assert!(
            input == output,
            "{inputs:?}: kept spans differ from the input"
        );
    }
}

#[test]
fn replay_report_adds_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "mix.toml", MIX);
    let traffic = generated_traffic(dir.path(), true);
    let report = dir.path().join("report.json");
    let kept = dir.path().join("kept.jsonl");
    let o = tailsift(&[
        "replay",
        "--config",
        &config,
        "--kept",
        &kept.display().to_string(),
        "--report",
        &report.display().to_string(),
        &traffic,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("written")).expect("JSON");
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {r}"));
    assert!(n("spans_in") > 1000, "{r}");
    assert_eq!(
        n("spans_in"),
        n("spans_kept") + n("spans_dropped") + n("spans_rejected"),
        "{r}"
    );
    assert!(n("spans_rejected") > 0, "malformed spans are rejected: {r}");
    assert_eq!(
        n("traces_in"),
        n("traces_kept") + n("traces_dropped"),
        "{r}"
    );
    assert_eq!(
        read_spans(&kept.display().to_string()).len() as u64,
        n("spans_kept")
    );
    let late = &r["late_spans"];
    assert!(late["kept"].as_u64().is_some() && late["dropped"].as_u64().is_some());
    let estimated = r["estimated_traces"].as_f64().expect("a number");
    let traces = n("traces_in") as f64;
    assert!(
        (estimated - traces).abs() < 0.2 * traces,
        "estimate {estimated} vs {traces}"
    );
    let by_policy = r["by_policy"].as_object().expect("an object");
    let names: Vec<&String> = by_policy.keys().collect();
    assert_eq!(
        names,
        ["baseline", "errors", "premium"].iter().collect::<Vec<_>>()
    );
    for (name, p) in by_policy {
        let (matched, kept) = (p["matched"].as_u64(), p["kept"].as_u64());
        assert!(matched.is_some() && kept.is_some(), "{name}: {p}");
        assert!(kept <= matched, "{name}: {p}");
    }
    assert_eq!(
        by_policy["baseline"]["matched"].as_u64(),
        Some(n("traces_in"))
    );
}

#[test]
fn replay_is_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "mix.toml", MIX);
    let traffic = generated_traffic(dir.path(), false);
    let run = |name: &str| {
        let kept = dir.path().join(name).display().to_string();
        let o = tailsift(&["replay", "--config", &config, "--kept", &kept, &traffic]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(&kept).expect("written")
    };
    assert_eq!(run("a.jsonl"), run("b.jsonl"));
}

#[test]
fn explain_prints_verdicts_and_critical_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "mix.toml", MIX);
    let o = tailsift(&[
        "explain",
        "--config",
        &config,
        &fixture("python-sdk.jsonl"),
        &fixture("spec-trace.json"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "trace 5b8efff798038103d269b633813fc60c  KEEP",
        "spans with status ERROR",
        "premium   abstain",
        "baseline  keep@0.25",
        "critical path (self time on it): checkout POST /checkout",
        "DROP",
        "no root span",
        "2 traces explained (1 kept, 1 dropped)",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
    let o = tailsift(&[
        "explain",
        "--config",
        &config,
        "--trace",
        "0af7651916cd43dd8448eb211c80319c",
        &fixture("python-sdk.jsonl"),
        &fixture("spec-trace.json"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 traces explained"), "{}", stdout(&o));
}

#[test]
fn demo_serves_prometheus_metrics() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tailsift"))
        .args([
            "demo",
            "--duration",
            "5s",
            "--metrics-addr",
            "127.0.0.1:0",
            "--linger",
            "20s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("metrics: http://")
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .map(str::to_string)
        })
        .expect("the address is printed");
    // Wait for the run to end (the linger notice), so the counters are final.
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in lines.by_ref().map_while(Result::ok) {
        if line.starts_with("serving metrics") || Instant::now() > deadline {
            break;
        }
    }
    let mut stream = TcpStream::connect(&addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("sends");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("reads");
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("tailsift_"), "{body}");
    assert!(body.contains("tailsift_policy_kept_total"), "{body}");
}

#[test]
fn explain_agrees_with_replay_under_a_budget() {
    // A budget far below the traffic, retuned every second: the controller cuts rates, and
    // explain must still report the very decisions replay makes.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "budget.toml",
        r#"
[budget]
spans_per_second = 60
interval = "1s"

[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "slow"
kind = "latency"
min_samples = 10

[[policy]]
name = "baseline"
kind = "representative"
rate = 0.5
min_per_minute = 2
"#,
    );
    let traffic = generated_traffic(dir.path(), false);
    let kept = dir.path().join("kept.jsonl").display().to_string();
    let o = tailsift(&["replay", "--config", &config, "--kept", &kept, &traffic]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut replayed: Vec<String> = read_spans(&kept)
        .iter()
        .map(|s| s.trace_id.to_string())
        .collect();
    replayed.sort();
    replayed.dedup();

    let o = tailsift(&["explain", "--config", &config, &traffic]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        !out.contains("note: the verdicts above combine"),
        "every explanation matches its decision:\n{out}"
    );
    let mut explained: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("trace ")?.split_once("  KEEP"))
        .map(|(id, _)| id.to_string())
        .collect();
    explained.sort();
    assert!(!explained.is_empty());
    assert!(
        out.contains("keep@"),
        "the controller cut some rates:\n{out}"
    );
    assert!(out.contains("dropped)"), "{out}");
    // Late spans may reach `kept` for traces kept earlier, never for others.
    assert_eq!(explained, replayed);
}
