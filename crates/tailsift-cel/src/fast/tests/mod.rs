//! Differential tests: the fast path against the cel crate's interpreter, outcome by outcome.
//!
//! For every expression and every trace of a corpus, both evaluate; where the fast path gives
//! an outcome (rather than leaving the expression to the interpreter), it must be the
//! interpreter's: the same value (same type, same bits), or an error of the same class, or the
//! iteration budget spent on both. The corpus is generated mission traffic
//! (`tailsift-traffic`) in five variants (as generated; statuses reset; statuses reset and
//! events removed; HTTP codes as doubles; spans given attributes of every kind, NaN, extreme
//! integers and string status codes), with and without latency baselines, plus an empty trace,
//! a rootless one and a single span. The expressions are a hand-written list that reaches
//! every node kind and its edge cases, the mission's policies, and a few thousand generated
//! at random from a grammar of the trace's fields (well and ill typed).
//!
//! (Over 600 lines: one differential suite, whose corpus, expression list and checks belong
//! together; the random expression grammar is the `generator` module.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelNull, CelOptional, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tailsift::span::{KeyValue, SpanId, StatusCode, Value};
use tailsift::view::sort_spans;
use tailsift::{Baseline, Span, TraceFlags, TraceId, TraceView};
use tailsift_traffic::{MissionConfig, Workload};

use super::value::{Base, ErrClass, Stop, V};
use crate::{CelLimits, CelPolicy};
use generator::Generator;

mod generator;

/// An evaluation's outcome, comparable across the two paths.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// The bits (all NaNs alike).
    Double(u64),
    Str(String),
    Bytes(Vec<u8>),
    Null,
    OptNone,
    OptSome(Box<Outcome>),
    /// Any other value, by type name.
    Other(String),
    Error(ErrClass),
    Exhausted,
}

fn double(d: f64) -> Outcome {
    Outcome::Double(if d.is_nan() { f64::NAN } else { d }.to_bits())
}

fn fast_base(b: Base<'_>) -> Outcome {
    match b {
        Base::Bool(b) => Outcome::Bool(b),
        Base::Int(i) => Outcome::Int(i),
        Base::UInt(u) => Outcome::UInt(u),
        Base::Double(d) => double(d),
        Base::Str(s) => Outcome::Str(s.to_owned()),
        Base::Bytes(b) => Outcome::Bytes(b.to_vec()),
        Base::Null => Outcome::Null,
        Base::Trace => Outcome::Other("tailsift.Trace".into()),
        Base::Baseline => Outcome::Other("tailsift.Baseline".into()),
        Base::Span(_) => Outcome::Other("tailsift.Span".into()),
        Base::PathSpan(..) => Outcome::Other("tailsift.PathSpan".into()),
        Base::Event(_) => Outcome::Other("tailsift.Event".into()),
        Base::Attrs(_) => Outcome::Other("map".into()),
        Base::Array(_)
        | Base::Spans
        | Base::CriticalPath
        | Base::Events(_)
        | Base::ConstList(_) => Outcome::Other("list".into()),
    }
}

/// The fast path's outcome; `None` when it left the expression to the interpreter.
fn fast_outcome(result: Result<V<'_>, Stop>) -> Option<Outcome> {
    Some(match result {
        Ok(V::B(b)) => fast_base(b),
        Ok(V::OptNone) => Outcome::OptNone,
        Ok(V::OptSome(b)) => Outcome::OptSome(Box::new(fast_base(b))),
        Err(Stop::Error(class)) => Outcome::Error(class),
        Err(Stop::Exhausted) => Outcome::Exhausted,
        Err(Stop::Bail) => return None,
    })
}

fn interpreted_value(value: &dyn Val) -> Outcome {
    if let Some(b) = value.downcast_ref::<CelBool>() {
        Outcome::Bool(*b.inner())
    } else if let Some(i) = value.downcast_ref::<CelInt>() {
        Outcome::Int(*i.inner())
    } else if let Some(u) = value.downcast_ref::<CelUInt>() {
        Outcome::UInt(*u.inner())
    } else if let Some(d) = value.downcast_ref::<CelDouble>() {
        double(*d.inner())
    } else if let Some(s) = value.downcast_ref::<CelString>() {
        Outcome::Str(s.inner().to_owned())
    } else if let Some(b) = value.downcast_ref::<CelBytes>() {
        Outcome::Bytes(b.inner().to_vec())
    } else if value.downcast_ref::<CelNull>().is_some() {
        Outcome::Null
    } else if let Some(o) = value.downcast_ref::<CelOptional>() {
        match o.option() {
            None => Outcome::OptNone,
            Some(inner) => Outcome::OptSome(Box::new(interpreted_value(inner))),
        }
    } else {
        Outcome::Other(value.get_type().name().to_owned())
    }
}

fn class(error: &ExecutionError) -> ErrClass {
    match error {
        ExecutionError::NoSuchKey(_) => ErrClass::NoSuchKey,
        ExecutionError::DivisionByZero(_)
        | ExecutionError::RemainderByZero(_)
        | ExecutionError::Overflow(..) => ErrClass::Arithmetic,
        ExecutionError::IndexOutOfBounds(_) => ErrClass::OutOfBounds,
        ExecutionError::FunctionError { .. } => ErrClass::Function,
        _ => ErrClass::Type,
    }
}

fn interpreted_outcome(result: Result<CowVal<'_, '_>, ExecutionError>, exhausted: bool) -> Outcome {
    if exhausted {
        return Outcome::Exhausted;
    }
    match result {
        Ok(value) => interpreted_value(value.as_ref()),
        Err(e) => Outcome::Error(class(&e)),
    }
}

/// How one expression fared over a corpus.
#[derive(Debug, Default)]
struct Tally {
    agreed: usize,
    values: usize,
    errors: usize,
    bailed: usize,
}

/// Evaluates `policy` both ways on every view; panics at the first disagreement.
fn compare(policy: &CelPolicy, views: &[TraceView<'_>]) -> Tally {
    let mut tally = Tally::default();
    for (i, view) in views.iter().enumerate() {
        let (fast, interpreted) =
            policy.raw_results(view, fast_outcome, |r, e| Some(interpreted_outcome(r, e)));
        let interpreted = interpreted.expect("the interpreter always has an outcome");
        match fast.flatten() {
            None => tally.bailed += 1,
            Some(fast) => {
                assert_eq!(
                    fast,
                    interpreted,
                    "`{}` on trace {i} ({} spans): fast path {fast:?}, interpreter \
                     {interpreted:?}",
                    policy.expression(),
                    view.spans().len(),
                );
                tally.agreed += 1;
                match fast {
                    Outcome::Error(_) | Outcome::Exhausted => tally.errors += 1,
                    _ => tally.values += 1,
                }
            }
        }
    }
    tally
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

/// Attributes of every kind, under keys a `.` selection can name.
fn odd_attributes() -> Vec<KeyValue> {
    vec![
        kv("flag", Value::Bool(true)),
        kv(
            "nested",
            Value::KvList(Arc::new(vec![
                kv("inner", Value::from("x")),
                kv("n", Value::Int(7)),
            ])),
        ),
        kv(
            "list",
            Value::Array(Arc::new(vec![
                Value::from("a"),
                Value::Int(2),
                Value::Double(2.0),
                Value::Array(Arc::new(vec![Value::Int(1)])),
            ])),
        ),
        kv("empty", Value::Empty),
        kv("raw", Value::Bytes(Arc::new(vec![1, 2]))),
        kv("nan", Value::Double(f64::NAN)),
        kv("big", Value::Int(i64::MAX)),
        kv("neg", Value::Int(-1)),
        kv("code", Value::from("503")),
        kv("flag", Value::Bool(false)),
    ]
}

/// Applies variant `index % 5` (see the module docs).
fn vary(index: usize, spans: &mut [Span]) {
    let variant = index % 5;
    for (i, span) in spans.iter_mut().enumerate() {
        match variant {
            1 | 2 => {
                span.status_code = StatusCode::Unset;
                if variant == 2 {
                    if let Some(extra) = &mut span.extra {
                        extra.events.clear();
                    }
                }
            }
            3 => {
                for kv in &mut span.attributes {
                    if let Value::Int(code) = kv.value {
                        kv.value = Value::Double(code as f64);
                    }
                }
            }
            4 if i % 2 == 0 => {
                span.attributes = span
                    .attributes
                    .iter()
                    .cloned()
                    .chain(odd_attributes())
                    .collect();
                for kv in &mut span.attributes {
                    if &*kv.key == "http.response.status_code" {
                        kv.value = Value::from("503");
                    }
                }
            }
            _ => {}
        }
    }
}

/// At least `min` complete, sorted, varied traces of mission traffic, and three odd ones.
fn corpus(min: usize) -> Vec<Vec<Span>> {
    let mut traces = Vec::new();
    let mut open: HashMap<TraceId, Vec<Span>> = HashMap::new();
    let workload = Workload::Mission(MissionConfig::default());
    for batch in workload.traffic().expect("the default mission is valid") {
        for span in batch.spans {
            open.entry(span.trace_id).or_default().push(span);
        }
        for truth in batch.completed {
            if let Some(mut spans) = open.remove(&truth.trace_id) {
                sort_spans(&mut spans);
                vary(traces.len(), &mut spans);
                traces.push(spans);
            }
        }
        if traces.len() >= min {
            break;
        }
    }
    let sample = traces[0].clone();
    // Rootless: every parent missing.
    let mut rootless = sample.clone();
    for span in &mut rootless {
        span.parent_span_id = SpanId::from_u64(0xdead);
    }
    traces.push(rootless);
    traces.push(sample[..1].to_vec());
    traces.push(Vec::new());
    traces
}

/// The views of `traces`, with a baseline on two of three (none yet seen on one of those).
fn views(traces: &[Vec<Span>]) -> Vec<TraceView<'_>> {
    traces
        .iter()
        .enumerate()
        .map(|(i, spans)| {
            let id = spans.first().map_or(TraceId::from_u128(1), |s| s.trace_id);
            let mut view = TraceView::new(id, spans, TraceFlags::default(), Duration::from_secs(9));
            let ms = |m: u64| Duration::from_millis(m);
            view.set_baseline(match i % 3 {
                0 => None,
                1 => Some(Baseline {
                    p50: ms(20),
                    p95: ms(80),
                    p99: ms(150),
                    samples: 0,
                }),
                _ => Some(Baseline {
                    p50: ms(i as u64 % 40),
                    p95: ms(i as u64 % 300),
                    p99: ms(400),
                    samples: i as u64,
                }),
            });
            view
        })
        .collect()
}

/// Every node kind, with its edge cases. All of them are native.
const EXPRESSIONS: &[&str] = &[
    // Literals and trace facts.
    "true",
    "0.25",
    "1",
    "1u",
    "'yes'",
    "b'ab'",
    "null",
    "trace",
    "trace.duration_ms",
    "trace.span_count > 3 && trace.error_count == 0",
    "trace.randomness % 100 < 10",
    "trace.duration_ms / 400.0",
    "trace.no_such_field > 1.0",
    "has(trace.root) && trace.root.kind == 'server'",
    "trace.root.name",
    "trace.root.attributes['http.route']",
    "trace.root.resource['host.name'] == trace.root.resource['host.name']",
    // Baselines, present or not.
    "has(trace.baseline.p95_ms) && trace.baseline.samples >= 50 && trace.duration_ms > trace.baseline.p95_ms",
    "trace.duration_ms > trace.baseline.p99_ms",
    "trace.baseline.p50_ms",
    "has(trace.baseline.nope)",
    "trace.baseline",
    // Logic and its error absorption.
    "trace.root.attributes['nope'] == 1 || true",
    "true || trace.root.attributes['nope'] == 1",
    "trace.root.attributes['nope'] == 1 && false",
    "trace.root.attributes['nope'] == 1 || false",
    "1 || true",
    "true && 1",
    "false || 'x'",
    "!trace.span_count",
    "!(trace.error_count > 0)",
    "trace.error_count > 0 ? 0.5 : 0.1",
    "trace.span_count ? 1 : 2",
    // Equality and comparison across kinds.
    "trace.span_count == 4.0 || trace.span_count == 4u",
    "trace.duration_ms == trace.span_count",
    "1 == 1.0 && 1u == 1 && -1 != 18446744073709551615u",
    "-1 < 1u && 18446744073709551615u > 1 && 1.5 > 1 && 'a' < 'b' && b'a' < b'b' && false < true",
    "'a' < 1",
    "null == null && null != 0",
    "0.0 / 0.0 == 0.0 / 0.0",
    "0.0 / 0.0 < 1.0",
    "trace == trace",
    "spans == spans",
    "[1, 2] == [1, 2.0]",
    "[1, 2] == spans",
    // Arithmetic.
    "trace.span_count + 1",
    "trace.span_count - 100",
    "trace.span_count * 3 / 2 % 5",
    "trace.span_count / 0",
    "trace.span_count % 0",
    "9223372036854775807 + trace.span_count",
    "-trace.span_count",
    "-trace.duration_ms",
    "-(9223372036854775807 - 9223372036854775807 - 9223372036854775807 - 1)",
    "trace.span_count + 1.0",
    "trace.duration_ms % 2.0",
    "1u + 2u - 3u",
    "2u / 0u",
    "true + 1",
    "int(trace.duration_ms) + int(1u)",
    "int(1e300)",
    "int(18446744073709551615u)",
    "double(trace.span_count) / double(trace.error_count)",
    // Spans and their fields.
    "spans.exists(s, s.kind == 'client' && s.duration_ms > 10.0)",
    "spans.all(s, s.status != 'ERROR')",
    "spans.exists_one(s, s.status == 'ERROR')",
    "spans.exists(s, s.attributes['user.tier'] == 'premium')",
    "spans.exists(s, s.attributes[?'user.tier'] == optional.of('premium'))",
    "spans.exists(s, 'user.tier' in s.attributes && s.attributes['user.tier'] == 'premium')",
    "spans.all(s, s.attributes['http.route'].startsWith('/'))",
    "spans.exists(s, s.status_message.contains('fail') || s.name.endsWith('Charge'))",
    "spans.exists(s, s.name.matches('^payment:'))",
    "spans.exists(s, s.events.exists(e, e.name == 'exception' && e.attributes['exception.type'] != ''))",
    "spans.exists(s, s.kind == 'server' && s.attributes[?'http.response.status_code'].or(s.attributes[?'http.status_code']).orValue(0) >= 500)",
    "spans.exists(s, s.attributes.exists(k, k.startsWith('http.')))",
    "spans.exists(s, s.resource.all(k, size(k) > 3))",
    "spans.exists(s, s.attributes.flag)",
    "spans.all(s, s.attributes.nested.inner == 'x')",
    "spans.exists(s, s.attributes.list.exists(x, x == 2))",
    "spans.exists(s, 2 in s.attributes.list && 'a' in s.attributes.list)",
    "spans.exists(s, s.attributes.list[0] == 'a' && s.attributes.list[3][0] == 1)",
    "spans.exists(s, s.attributes.list[4] == 1)",
    "spans.exists(s, s.attributes.list[-1] == 1)",
    "spans.exists(s, s.attributes.list[1.0] == 2)",
    "spans.exists(s, s.attributes.list[1.5] == 2)",
    "spans.exists(s, s.attributes.list['x'] == 2)",
    "spans.exists(s, s.attributes.empty == null)",
    "spans.exists(s, s.attributes.raw == b'\\x01\\x02')",
    "spans.exists(s, s.attributes.nan == s.attributes.nan)",
    "spans.exists(s, s.attributes.nan < 1.0)",
    "spans.exists(s, s.attributes.big + 1 > 0)",
    "spans.exists(s, s.attributes.code >= 500)",
    "spans.exists(s, size(s.attributes.raw) == 2)",
    "spans.exists(s, size(s.attributes) > 12 && size(s.name) > 0 && s.attributes.size() > 0)",
    "spans.exists(s, has(s.attributes.nested.inner) && !has(s.attributes.nested.nope))",
    "spans.exists(s, has(s.attributes.list.x))",
    "spans.exists(s, has(s.name.x))",
    "spans.exists(s, s.attributes['http.response.status_code'] >= 500)",
    "size(spans) == trace.span_count && spans[0].name == trace.root.name",
    "spans[trace.span_count].name",
    "spans[1u].name == spans[1].name",
    "spans['x']",
    "spans.name",
    "has(spans.name)",
    "trace.root in spans",
    "'name' in trace.root",
    "'x' in 'xyz'",
    "spans.exists(s, s.name in ['checkout:PlaceOrder', 'payment:Charge'])",
    "1 in [1, 2] && !(3 in [1, 2]) && 1.0 in [1u]",
    "[1, 2, 3].exists(x, x > 2)",
    "[].all(x, false)",
    "'abc'.exists(c, true)",
    "trace.exists(x, true)",
    "spans.exists(s, s.trace == 1)",
    // The critical path.
    "trace.critical_path.exists(s, s.service == 'checkout' && s.name == 'checkout:PlaceOrder' || s.service == 'payment' && s.name in ['payment:Charge', 'payment:ChargeCard'] || s.service == 'shipping' && s.name == 'shipping:Quote')",
    "trace.critical_path.exists(s, s.self_ms > trace.duration_ms / 2.0)",
    "size(trace.critical_path) > 0 ? trace.critical_path[0].self_ms / (trace.duration_ms + 1.0) : 0.0",
    "trace.critical_path[0].attributes",
    "size(trace.critical_path[0].events)",
    // Optionals.
    "optional.of(1) == optional.of(1.0)",
    "optional.none() == optional.none()",
    "optional.of(1) == 1",
    "trace.root.attributes[?'nope'].orValue('none') == 'none'",
    "trace.root.attributes[?'nope'].hasValue()",
    "trace.root.attributes[?'http.route'].value()",
    "trace.root.attributes[?'nope'].value()",
    "trace.root.attributes[?'nope'].or(optional.of(2))",
    "trace.root.attributes[?'nope'].or(2)",
    "trace.root.attributes[?'http.route'].or(2)",
    "trace.root.attributes['http.route'].or(optional.none())",
    "trace.root.attributes['http.route'].orValue(1)",
    "trace.root.attributes['http.route'].hasValue()",
    "trace.root.attributes.?nested.inner",
    "trace.root.?attributes.nested",
    "trace.root.?nope",
    "optional.of(trace.root).name",
    "optional.of(trace.root).nope",
    "optional.of(1).name",
    "has(optional.of(trace.root).name)",
    "has(optional.of(1).name)",
    "has(optional.none().name)",
    "optional.none().name",
    "optional.of(spans)[0].name",
    "optional.of(spans)[?0].name",
    "optional.none()[0]",
    "optional.of(trace)[?'root']",
    "spans[?100]",
    "spans[?0].name",
    "1.?x",
    "has(1.x)",
    "(1).x",
    "optional.of(spans).size()",
    // Budget-sized loops (the default budget is not reached here).
    "spans.exists(a, spans.exists(b, a.name == b.name && a.service != b.service))",
    // Shadowing: loop variables hide the globals and each other.
    "spans.exists(trace, trace.name == spans[0].name)",
    "spans.exists(s, s.events.exists(s, s.name == 'exception'))",
    "[1].exists(optional, optional.of(optional) == optional.of(1))",
];

/// The mission's policies as the examples and benches write them.
fn mission_expressions() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cel");
    ["errors", "latency", "critical_path", "representative"]
        .iter()
        .map(|name| {
            std::fs::read_to_string(format!("{dir}/{name}.cel"))
                .unwrap_or_else(|e| panic!("reading {name}.cel: {e}"))
        })
        .chain([
            r#"trace.error_count > 0 || spans.exists(s, s.kind == "server" && s.attributes[?"http.response.status_code"].or(s.attributes[?"http.status_code"]).orValue(0) >= 500)"#.to_owned(),
            r#"spans.exists(s, "http.route" in s.attributes && s.attributes["http.route"].startsWith("/api/check"))"#.to_owned(),
        ])
        .collect()
}

fn compile(expr: &str) -> CelPolicy {
    CelPolicy::compile("differential", expr).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn listed_expressions_agree_with_the_interpreter() {
    let traces = corpus(1_500);
    let views = views(&traces);
    let (mut values, mut errors, mut unanswered) = (0, 0, Vec::new());
    for expr in EXPRESSIONS {
        let policy = compile(expr);
        assert!(policy.is_native(), "`{expr}` should be native");
        let tally = compare(&policy, &views);
        if tally.agreed == 0 {
            unanswered.push(expr);
        }
        values += tally.values;
        errors += tally.errors;
    }
    assert!(
        unanswered.is_empty(),
        "the fast path never answered {unanswered:?}"
    );
    assert!(values > 0 && errors > 0, "values {values}, errors {errors}");
}

#[test]
fn mission_policies_are_native_and_agree_on_every_trace() {
    let traces = corpus(5_000);
    let views = views(&traces);
    for expr in mission_expressions() {
        let policy = compile(&expr);
        assert!(policy.is_native(), "`{expr}` should be native");
        let tally = compare(&policy, &views);
        assert_eq!(tally.bailed, 0, "`{expr}` left traces to the interpreter");
        assert_eq!(tally.agreed, views.len());
    }
}

#[test]
fn the_iteration_budget_runs_out_on_the_same_expressions() {
    let traces = corpus(300);
    let views = views(&traces);
    let mut exhausted = 0;
    for max_iterations in [1, 5, 20, 60] {
        let limits = CelLimits {
            max_iterations,
            ..CelLimits::default()
        };
        for expr in [
            "spans.exists(a, spans.exists(b, a.name == b.name && a.service != b.service))",
            "spans.exists(s, s.kind == 'server') || trace.critical_path.all(s, s.self_ms >= 0.0)",
            "spans.exists(s, s.status == 'ERROR' || s.events.exists(e, e.name == 'exception'))",
            "[1, 2].exists(x, x == 2 || [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].exists(y, y > 100))",
            "spans.exists_one(s, s.attributes.exists(k, k == 'http.route'))",
            // The critical path's prefilter charges the longest path the trace could have.
            "trace.critical_path.exists(s, s.name == 'nope') || spans.exists(s, s.kind == 'x')",
            "spans.exists(s, s.kind == 'x') || trace.critical_path.exists(s, s.service == 'checkout') || spans.all(s, s.kind != 'x')",
        ] {
            let policy = CelPolicy::compile_with_limits("budget", expr, &limits)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(policy.is_native());
            for view in &views {
                let (fast, interpreted) =
                    policy.raw_results(view, fast_outcome, |r, e| Some(interpreted_outcome(r, e)));
                let fast = fast.flatten();
                assert!(
                    fast.is_none() || fast == interpreted,
                    "`{expr}` with {max_iterations} iterations: fast {fast:?}, interpreter \
                     {interpreted:?}"
                );
                exhausted += usize::from(interpreted == Some(Outcome::Exhausted));
            }
        }
    }
    assert!(exhausted > 100, "only {exhausted} evaluations ran out");
}

#[test]
fn random_expressions_agree_with_the_interpreter() {
    let traces = corpus(400);
    let all = views(&traces);
    let mut rng = SmallRng::seed_from_u64(0x7a11_51f7);
    let (mut native, mut total, mut values, mut errors) = (0, 0, 0, 0);
    for round in 0..3_000 {
        let expr = Generator::new(&mut rng).bool_expr(4);
        let Ok(policy) = CelPolicy::compile("random", &expr) else {
            continue;
        };
        total += 1;
        if !policy.is_native() {
            continue;
        }
        native += 1;
        // A different slice of the corpus each time, always with the odd traces at its end.
        let start = (round * 7) % (all.len() - 40);
        let tally = compare(&policy, &all[start..start + 24]);
        let odd = compare(&policy, &all[all.len() - 3..]);
        values += tally.values + odd.values;
        errors += tally.errors + odd.errors;
    }
    eprintln!("random: {native} of {total} native, {values} values, {errors} errors");
    assert!(
        native * 10 >= total * 8,
        "only {native} of {total} generated expressions are native"
    );
    assert!(
        values > 10_000 && errors > 10_000,
        "values {values}, errors {errors}"
    );
}
