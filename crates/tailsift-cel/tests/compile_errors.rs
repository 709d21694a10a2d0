//! Compile errors name the policy, the position and what is wrong.

use tailsift_cel::{CelError, CelLimits, CelPolicy};

fn compile_err(expr: &str) -> CelError {
    CelPolicy::compile("slow-checkout", expr).expect_err(expr)
}

#[test]
fn syntax_error_names_policy_line_and_column() {
    let err = compile_err("trace.duration_ms > 250.0 &&\n  (trace.error_count > 0");
    assert!(matches!(err, CelError::Syntax { .. }), "{err:?}");
    assert_eq!(err.policy(), "slow-checkout");
    assert_eq!(err.position(), Some((2, 25)));
    let text = err.to_string();
    assert!(text.starts_with("CEL policy `slow-checkout`, line 2, column 25: syntax error: "));
    assert!(text.contains("missing ')'"), "{text}");

    let err = compile_err("trace.span_count >");
    assert_eq!(err.position(), Some((1, 19)));
    let err = compile_err("");
    assert!(
        matches!(
            err,
            CelError::Syntax {
                line: 1,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = compile_err("'unterminated");
    assert!(
        matches!(
            err,
            CelError::Syntax {
                line: 1,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let err = compile_err("'héllo' == trce.root.name");
    assert_eq!(err.position(), Some((1, 12)), "{err}");
}

#[test]
fn unknown_variables_fail_at_load() {
    let err = compile_err("trace.duration_ms > 250.0 &&\n  trce.error_count > 0");
    assert_eq!(
        err,
        CelError::UnknownVariable {
            policy: "slow-checkout".into(),
            line: 2,
            column: 3,
            name: "trce".into(),
        }
    );
    assert!(err.to_string().contains("unknown variable `trce`"));
    // Loop variables are in scope only inside their loop.
    let err = compile_err("spans.exists(s, s.name == 'x') && s.name == 'y'");
    assert!(
        matches!(err, CelError::UnknownVariable { ref name, column: 35, .. } if name == "s"),
        "{err:?}"
    );
    // Type names, `optional` and loop variables are known.
    for ok in [
        "type(trace.span_count) == int",
        "optional.none() == optional.none()",
        "spans.all(s, s.events.all(e, e.name != s.name))",
        ".trace.span_count > 0",
    ] {
        CelPolicy::compile("ok", ok).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn bad_patterns_fail_at_load() {
    let err = compile_err("spans.exists(s, s.name.matches('(unclosed'))");
    assert!(
        matches!(err, CelError::InvalidPattern { column: 32, .. }),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("invalid regular expression \"(unclosed\""));
    let err = compile_err("spans.exists(s, s.name.matches(s.service))");
    assert!(
        matches!(err, CelError::Unsupported { column: 33, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("string literal pattern"));
}

#[test]
fn message_literals_are_refused() {
    let err = compile_err("Foo{bar: 1} == trace");
    assert!(
        matches!(
            err,
            CelError::Unsupported {
                line: 1,
                column: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn long_expressions_are_refused() {
    let long = format!("trace.span_count > 0 {}", "|| true ".repeat(600));
    let err = compile_err(&long);
    assert!(
        matches!(err, CelError::TooLong { max: 4096, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("more than the 4096 allowed"));
    let mut limits = CelLimits::default();
    limits.max_expression_bytes = 10_000;
    CelPolicy::compile_with_limits("long", &long, &limits).unwrap();
}

#[test]
fn deep_expressions_are_refused_with_a_position() {
    let brackets = format!("{}1{} > 0", "(".repeat(100), ")".repeat(100));
    let err = compile_err(&brackets);
    assert!(
        matches!(
            err,
            CelError::TooDeep {
                line: 1,
                column: 65,
                max: 64,
                ..
            }
        ),
        "{err:?}"
    );
    let lists = format!("size({}1{}) > 0", "[".repeat(70), "]".repeat(70));
    assert!(matches!(compile_err(&lists), CelError::TooDeep { .. }));
    let chain = format!("trace.span_count{} > 0", " + 1".repeat(100));
    let err = compile_err(&chain);
    assert!(matches!(err, CelError::TooDeep { .. }), "{err:?}");
    assert!(err.position().is_some());
    let ternaries = format!("{}true", "trace.span_count > 0 ? true : ".repeat(120));
    assert!(matches!(compile_err(&ternaries), CelError::TooDeep { .. }));
    // A long chain of `&&` parses into a balanced tree and is fine.
    let ands = format!("true{}", " && trace.span_count > 0".repeat(150));
    CelPolicy::compile("ands", &ands).unwrap();
}

#[test]
fn pathological_sources_compile_or_fail_without_crashing() {
    for source in [
        "!".repeat(4000) + "true",
        "-".repeat(4000) + "1",
        vec!["1"; 2000].join("<"),
        format!("a{}", ".b".repeat(2000)),
        format!("a{}", "[0]".repeat(1300)),
        "(".repeat(4000),
        "[".repeat(2000) + &"]".repeat(2000),
        "'\\".repeat(1000),
        "\u{0}\u{1}\u{ffff}".repeat(100),
        "{".repeat(1000) + "1:" + &"}".repeat(1000),
    ] {
        let _ = CelPolicy::compile("weird", &source);
    }
}
