//! What results and runtime errors turn into.

mod common;

use common::*;
use tailsift::Verdict;
use tailsift_cel::{CelLimits, CelPolicy};

#[test]
fn bool_results_keep_or_abstain() {
    let spans = checkout_trace(true);
    let v = view(&spans, None);
    assert_eq!(eval("trace.error_count > 0", &v), Ok(Verdict::keep("test")));
    assert_eq!(eval("trace.error_count > 5", &v), Ok(Verdict::Abstain));
}

#[test]
fn double_results_are_keep_rates() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    assert_eq!(eval("0.25", &v), Ok(Verdict::keep_at("test", 0.25)));
    assert_eq!(eval("1.0", &v), Ok(Verdict::keep_at("test", 1.0)));
    assert_eq!(eval("0.0", &v), Ok(Verdict::Abstain));
    assert_eq!(
        eval(r#"trace.root.service == "frontend" ? 0.1 : 0.5"#, &v),
        Ok(Verdict::keep_at("test", 0.1))
    );
    assert_eq!(
        eval("trace.duration_ms / 400.0", &v),
        Ok(Verdict::keep_at("test", 0.25))
    );
}

#[test]
fn rates_outside_zero_to_one_are_errors() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    for expr in ["1.5", "-0.1", "0.0 / 0.0", "1.0 / 0.0"] {
        let err = eval(expr, &v).unwrap_err();
        assert_eq!(err.policy, "test");
        assert!(err.message.contains("outside [0, 1]"), "`{expr}`: {err}");
    }
}

#[test]
fn other_result_types_are_errors() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    for (expr, ty) in [
        ("1", "int"),
        ("1u", "uint"),
        ("'yes'", "string"),
        ("null", "null_type"),
        ("[true]", "list"),
        ("trace", "tailsift.Trace"),
        ("optional.of(true)", "optional_type"),
    ] {
        let err = eval(expr, &v).unwrap_err();
        assert!(err.message.contains("must give a bool"), "`{expr}`: {err}");
        assert!(err.message.contains(ty), "`{expr}`: {err}");
    }
}

#[test]
fn runtime_errors_are_policy_errors() {
    let spans = checkout_trace(false);
    let v = view(&spans, None);
    for (expr, says) in [
        ("trace.no_such_field > 1.0", "no_such_field"),
        (r#"trace.root.attributes["absent"] == 1"#, "absent"),
        ("trace.duration_ms + 'ms' == 'x'", "add"),
        ("trace.span_count > 'four'", "_>_"),
        (
            "trace.span_count / (trace.error_count) > 1",
            "ivision by zero",
        ),
        ("trace.span_count % 0 == 1", "emainder by zero"),
        ("spans[10].name == 'x'", "out of bounds"),
        ("nosuchfunction(trace.span_count)", "nosuchfunction"),
        ("9223372036854775807 + trace.span_count > 0", "verflow"),
    ] {
        let err = eval(expr, &v).unwrap_err();
        assert_eq!(err.policy, "test");
        assert!(err.message.contains(says), "`{expr}`: {err}");
    }
}

#[test]
fn nested_loops_over_large_traces_stop_at_the_iteration_budget() {
    let mut spans: Vec<_> = (1..=2_000u64)
        .map(|i| span(i, if i == 1 { 0 } else { 1 }, "svc", "op", i, i + 1))
        .collect();
    tailsift::view::sort_spans(&mut spans);
    let v = view(&spans, None);
    let quadratic = "spans.exists(a, spans.exists(b, a.duration_ms > b.duration_ms * 100.0))";
    let err = eval(quadratic, &v).unwrap_err();
    assert!(err.message.contains("loop iterations"), "{err}");
    // A linear pass fits easily.
    assert!(keeps("spans.all(s, s.service == 'svc')", &v));

    // The budget counts every loop, including ones over literals, and is configurable.
    let mut limits = CelLimits::default();
    limits.max_iterations = 10;
    let small =
        CelPolicy::compile_with_limits("small", "[1, 2, 3].all(x, x > 0)", &limits).unwrap();
    use tailsift::Policy;
    assert!(small.evaluate(&v).is_ok());
    let nested = CelPolicy::compile_with_limits(
        "small",
        "[1, 2, 3].all(x, [1, 2, 3].all(y, y > 0))",
        &limits,
    )
    .unwrap();
    assert!(nested.evaluate(&v).is_err());
    // `map` and `filter` are charged too.
    let mapped = CelPolicy::compile_with_limits(
        "small",
        "[1, 2, 3].map(x, [1, 2, 3].filter(y, y > x)).size() == 3",
        &limits,
    )
    .unwrap();
    assert!(mapped.evaluate(&v).is_err());
    // Even when CEL's error absorption would have produced a value.
    let absorbed =
        CelPolicy::compile_with_limits("small", "[1, 2, 3, 4, 5, 6, 7].exists(x, x > 2)", &limits)
            .unwrap();
    assert!(absorbed.evaluate(&v).is_ok());
    let absorbed = CelPolicy::compile_with_limits(
        "small",
        "[1, 2].exists(x, x == 2 || [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].exists(y, y > 100))",
        &limits,
    )
    .unwrap();
    assert!(absorbed.evaluate(&v).is_err());
}

#[test]
fn policy_reports_its_name_and_expression() {
    let p = CelPolicy::compile("slow", "trace.duration_ms > 250.0").unwrap();
    use tailsift::Policy;
    assert_eq!(p.name(), "slow");
    assert_eq!(p.expression(), "trace.duration_ms > 250.0");
    let spans = checkout_trace(false);
    assert_eq!(p.evaluate(&view(&spans, None)), Ok(Verdict::Abstain));
}
