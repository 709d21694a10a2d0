//! Every variable an expression can read, through the public API.

mod common;

use common::*;
use tailsift::span::{KeyValue, Value};
use tailsift::Verdict;

#[test]
fn trace_facts_are_numbers_of_the_documented_types() {
    let spans = checkout_trace(true);
    let v = view(&spans, None);
    assert!(keeps("trace.duration_ms == 100.0", &v));
    assert!(keeps("type(trace.duration_ms) == double", &v));
    assert!(keeps(
        "trace.span_count == 4 && type(trace.span_count) == int",
        &v
    ));
    assert!(keeps("trace.error_count == 1", &v));
    let randomness = v.randomness() as i64;
    assert!(keeps(&format!("trace.randomness == {randomness}"), &v));
    assert!(keeps(
        "trace.randomness >= 0 && trace.randomness < 72057594037927936",
        &v
    ));
}

#[test]
fn root_has_the_span_fields() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    assert!(keeps(r#"trace.root.service == "frontend""#, &v));
    assert!(keeps(r#"trace.root.name == "GET /checkout""#, &v));
    assert!(keeps(r#"trace.root.kind == "server""#, &v));
    assert!(keeps(r#"trace.root.status == "UNSET""#, &v));
    assert!(keeps("trace.root.duration_ms == 100.0", &v));
    assert!(keeps(
        r#"trace.root.attributes["http.status_code"] == 200"#,
        &v
    ));
    assert!(keeps(r#"trace.root.resource["host.name"] == "node-1""#, &v));
    assert!(keeps(
        "has(trace.root) && !has(trace.root.no_such_field)",
        &v
    ));
}

#[test]
fn baseline_quantiles_are_milliseconds_when_present() {
    let spans = checkout_trace(false);
    let v = view(&spans, Some(baseline(20, 80, 150, 500)));
    assert!(keeps("trace.baseline.p50_ms == 20.0", &v));
    assert!(keeps("trace.baseline.p95_ms == 80.0", &v));
    assert!(keeps("trace.baseline.p99_ms == 150.0", &v));
    assert!(keeps("trace.baseline.samples == 500", &v));
    assert!(keeps("trace.duration_ms > trace.baseline.p95_ms", &v));
}

#[test]
fn baseline_without_samples_has_no_quantiles() {
    let spans = checkout_trace(false);
    for baseline in [None, Some(baseline(20, 80, 150, 0))] {
        let v = view(&spans, baseline);
        assert!(keeps(
            "has(trace.baseline) && !has(trace.baseline.p95_ms)",
            &v
        ));
        assert!(keeps("trace.baseline.samples == 0", &v));
        assert!(keeps(
            "has(trace.baseline.p95_ms) && trace.duration_ms > trace.baseline.p95_ms || true",
            &v
        ));
        let err = eval("trace.duration_ms > trace.baseline.p95_ms", &v).unwrap_err();
        assert!(err.message.contains("p95_ms"), "{err}");
    }
}

#[test]
fn critical_path_lists_the_spans_that_set_the_duration() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    assert!(keeps("size(trace.critical_path) == 4", &v));
    assert!(keeps(
        r#"trace.critical_path[0].name == "GET /checkout""#,
        &v
    ));
    assert!(keeps(
        r#"trace.critical_path.exists(s, s.service == "payment" && s.name == "charge" && s.self_ms == 50.0)"#,
        &v
    ));
    // Self times add up to the trace's duration.
    assert!(keeps(
        "trace.critical_path.map(s, s.self_ms).exists(x, x == 10.0)",
        &v
    ));
    let total = "trace.critical_path[0].self_ms + trace.critical_path[1].self_ms + \
                 trace.critical_path[2].self_ms + trace.critical_path[3].self_ms == 100.0";
    assert!(keeps(total, &v));
}

#[test]
fn spans_have_every_documented_field() {
    let spans = checkout_trace(true);
    let v = view(&spans, None);
    assert!(keeps("size(spans) == 4", &v));
    assert!(keeps(r#"spans[0].service == "frontend""#, &v));
    assert!(keeps(
        r#"spans.exists(s, s.kind == "client" && s.name == "GetCart")"#,
        &v
    ));
    assert!(keeps(
        r#"spans.exists_one(s, s.status == "ERROR" && s.status_message == "boom")"#,
        &v
    ));
    assert!(keeps(
        r#"spans.filter(s, s.duration_ms >= 50.0).size() == 3"#,
        &v
    ));
    assert!(keeps(
        r#"spans.all(s, s.resource["host.name"] == "node-1")"#,
        &v
    ));
    assert!(keeps(
        r#"spans.exists(s, s.events.exists(e, e.name == "exception" && e.attributes["exception.type"] == "CardDeclined"))"#,
        &v
    ));
    assert!(keeps(
        r#"spans.map(s, s.service).exists(x, x == "cart")"#,
        &v
    ));
}

#[test]
fn attribute_values_keep_their_types() {
    let mut spans = checkout_trace(false);
    let extra = [
        KeyValue::new("n", 7i64),
        KeyValue::new("ratio", 0.5),
        KeyValue::new("flag", true),
        KeyValue {
            key: "raw".into(),
            value: Value::Bytes(vec![1u8, 2].into()),
        },
        KeyValue {
            key: "list".into(),
            value: Value::Array(vec![Value::from("a"), Value::from(2i64)].into()),
        },
        KeyValue {
            key: "nested".into(),
            value: Value::KvList(vec![KeyValue::new("inner", "x")].into()),
        },
        KeyValue {
            key: "empty".into(),
            value: Value::Empty,
        },
    ];
    spans[0].attributes = spans[0].attributes.iter().cloned().chain(extra).collect();
    let v = view(&spans, None);
    let root = "trace.root.attributes";
    assert!(keeps(
        &format!("{root}.n == 7 && type({root}.n) == int"),
        &v
    ));
    assert!(keeps(&format!(r#"{root}["ratio"] == 0.5"#), &v));
    assert!(keeps(&format!("{root}.flag"), &v));
    assert!(keeps(&format!("{root}.raw == b'\\x01\\x02'"), &v));
    assert!(keeps(
        &format!(r#"{root}.list[0] == "a" && {root}.list[1] == 2"#),
        &v
    ));
    assert!(keeps(
        &format!(r#"size({root}.list) == 2 && "a" in {root}.list"#),
        &v
    ));
    assert!(keeps(&format!(r#"{root}.list.exists(x, x == 2)"#), &v));
    assert!(keeps(&format!(r#"{root}.nested.inner == "x""#), &v));
    assert!(keeps(&format!("{root}.empty == null"), &v));
    assert!(keeps(
        &format!(r#""flag" in {root} && size({root}) == 9"#),
        &v
    ));
    assert!(keeps(&format!(r#"{root}.exists(k, k == "nested")"#), &v));
}

#[test]
fn premium_exists_keeps_traces_with_a_premium_span() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    let expr = r#"spans.exists(s, s.attributes["user.tier"] == "premium")"#;
    // Only the root has `user.tier`; the other spans' "no such key" errors are absorbed.
    assert_eq!(eval(expr, &v), Ok(Verdict::keep("test")));

    let mut basic = checkout_trace(false);
    for s in &mut basic {
        s.attributes = s
            .attributes
            .iter()
            .filter(|kv| &*kv.key != "user.tier")
            .cloned()
            .collect();
        s.push_attribute(KeyValue::new("user.tier", "basic"));
    }
    assert_eq!(eval(expr, &view(&basic, None)), Ok(Verdict::Abstain));
}

#[test]
fn missing_attribute_is_absent_not_null() {
    // No premium span, and most spans lack `user.tier`.
    let mut spans = checkout_trace(false);
    spans[0].attributes = spans[0]
        .attributes
        .iter()
        .filter(|kv| &*kv.key != "user.tier")
        .cloned()
        .collect();
    let v = view(&spans, None);
    // Reading it is an error (the policy set's fallback applies)...
    let err = eval(
        r#"spans.exists(s, s.attributes["user.tier"] == "premium")"#,
        &v,
    )
    .unwrap_err();
    assert!(err.message.contains("user.tier"), "{err}");
    assert!(eval(r#"trace.root.attributes["user.tier"] == "x""#, &v).is_err());
    // ...testing it is not.
    assert!(!keeps(
        r#"spans.exists(s, "user.tier" in s.attributes)"#,
        &v
    ));
    assert!(!keeps(r#"has(trace.root.attributes.tier)"#, &v));
    assert!(!keeps(
        r#"spans.exists(s, s.attributes[?"user.tier"] == optional.of("premium"))"#,
        &v
    ));
    assert!(!keeps(
        r#"spans.exists(s, "user.tier" in s.attributes && s.attributes["user.tier"] == "premium")"#,
        &v
    ));
    assert!(keeps(
        r#"trace.root.attributes[?"user.tier"].orValue("none") == "none""#,
        &v
    ));
}

#[test]
fn matches_uses_patterns_compiled_at_load() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    assert!(keeps(r#"spans.exists(s, s.name.matches("^GET /"))"#, &v));
    assert!(keeps(r#"matches(trace.root.name, "check(out)?$")"#, &v));
    assert!(!keeps(r#"spans.exists(s, s.name.matches("^POST"))"#, &v));
    assert!(eval(r#"trace.span_count.matches("4")"#, &v).is_err());
}

#[test]
fn spans_list_is_only_built_when_mentioned() {
    let p = tailsift_cel::CelPolicy::compile("a", "trace.error_count > 0").unwrap();
    assert!(!p.reads_spans());
    let p = tailsift_cel::CelPolicy::compile("b", "spans.exists(s, s.status == 'ERROR')").unwrap();
    assert!(p.reads_spans());
    let p = tailsift_cel::CelPolicy::compile("c", "[1].exists(spans, spans > 0)").unwrap();
    assert!(!p.reads_spans());
}
