//! Config reload through the public API: a watched budget file, invalid reloads, and buffered
//! traces and baselines surviving a reload.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tailsift::{Clock, Config, Decision, ManualClock, Sampler, Span, SpanId, TraceId};

const FIRST: &str = r#"
[buffer]
completion_grace = "1s"

[budget]
spans_per_second = 1000

[[policy]]
name = "everything"
kind = "always"
"#;

const SECOND: &str = r#"
[buffer]
completion_grace = "1s"

[budget]
spans_per_second = 2000

[[policy]]
name = "slow"
kind = "latency"
threshold = "1s"

[[policy]]
name = "everything"
kind = "always"
"#;

fn span(trace: u128, id: u64, parent: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(id),
        parent_span_id: SpanId::from_u64(parent),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        ..Span::default()
    }
}

struct Setup {
    sampler: Sampler,
    clock: ManualClock,
    decisions: Arc<Mutex<Vec<Decision>>>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tailsift.toml");
    std::fs::write(&path, FIRST).expect("write config");
    let clock = ManualClock::new();
    let decisions: Arc<Mutex<Vec<Decision>>> = Arc::default();
    let sink = decisions.clone();
    let sampler = Sampler::builder(Config::load(&path).expect("valid config"))
        .clock(clock.clone())
        .sink(move |d: Decision| sink.lock().unwrap().push(d))
        .watch(&path)
        .build()
        .expect("sampler builds");
    Setup {
        sampler,
        clock,
        decisions,
        path,
        _dir: dir,
    }
}

/// Rewrites the file so its modification time surely changes.
fn rewrite(path: &std::path::Path, text: &str) {
    let before = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    std::fs::write(path, text).expect("write config");
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open config");
    let later = before
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        .checked_add(Duration::from_secs(5))
        .expect("time in range");
    file.set_modified(later).expect("set mtime");
}

#[test]
fn a_changed_watched_file_is_reloaded_on_poll() {
    let s = setup();
    assert_eq!(s.sampler.policies().len(), 1);
    rewrite(&s.path, SECOND);
    s.clock.advance(Duration::from_secs(2));
    s.sampler.poll(s.clock.now());
    let names: Vec<String> = s.sampler.policies().names().map(String::from).collect();
    assert_eq!(names, ["slow", "everything"]);
    assert_eq!(
        s.sampler.config().budget.unwrap().spans_per_second,
        Some(2000.0)
    );
}

#[test]
fn an_invalid_file_keeps_the_running_config_and_says_why() {
    let s = setup();
    rewrite(
        &s.path,
        "[budget]\nspans_per_second = 1000\ninterval = \"1ms\"\n",
    );
    let result = s.sampler.reload_file().expect("a file is watched");
    let err = result.expect_err("a 1ms interval is refused");
    let text = err.to_string();
    assert!(text.contains("tailsift.toml:3"), "{text}");
    assert!(text.contains("budget.interval"), "{text}");
    assert_eq!(s.sampler.policies().len(), 1);
    // The watcher on poll refuses it the same way and keeps running.
    s.clock.advance(Duration::from_secs(2));
    s.sampler.poll(s.clock.now());
    assert_eq!(s.sampler.policies().len(), 1);
}

#[test]
fn buffered_traces_survive_a_reload_and_are_decided_by_the_new_policies() {
    let s = setup();
    s.sampler.ingest(vec![span(1, 2, 1)]);
    s.sampler
        .reload(
            Config::parse(
                SECOND,
                tailsift::config_file::Format::Toml,
                "x.toml".as_ref(),
            )
            .unwrap(),
        )
        .expect("valid reload");
    s.sampler.ingest(vec![span(1, 1, 0)]);
    s.clock.advance(Duration::from_secs(1));
    s.sampler.poll(s.clock.now());
    let decisions = s.decisions.lock().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        decisions[0].span_count, 2,
        "spans buffered before the reload are kept"
    );
    assert_eq!(&*decisions[0].reasons, [tailsift::Str::from("everything")]);
    assert!(s.sampler.stats().conserved());
}

#[test]
fn policy_totals_add_up_across_reloads() {
    let s = setup();
    s.sampler.ingest(vec![span(1, 1, 0)]);
    s.clock.advance(Duration::from_secs(1));
    s.sampler.poll(s.clock.now());
    s.sampler
        .reload(
            Config::parse(
                SECOND,
                tailsift::config_file::Format::Toml,
                "x.toml".as_ref(),
            )
            .unwrap(),
        )
        .expect("valid reload");
    s.sampler.ingest(vec![span(2, 1, 0)]);
    s.clock.advance(Duration::from_secs(1));
    s.sampler.poll(s.clock.now());
    let totals = s.sampler.policy_totals();
    let everything = totals.iter().find(|t| t.name == "everything").unwrap();
    assert_eq!(everything.kept.traces, 2);
}
