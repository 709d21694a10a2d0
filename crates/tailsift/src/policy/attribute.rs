//! `string_attribute`, `numeric_attribute`, `boolean_attribute`: keep traces by attribute value.
//!
//! The three kinds share one shape, hence one module: an attribute `key`, a test on its value,
//! a `scope` saying where to look, and `invert`. A trace matches when *any* of its spans passes
//! the test:
//!
//! - `scope = "span"`: the span's own attributes;
//! - `scope = "resource"`: the attributes of the span's resource (`deployment.environment`, ...);
//! - `scope = "any"` (default): either.
//!
//! Tests: `string_attribute` takes exactly one of `value` (equal), `values` (one of a set) or
//! `regex` (compiled once at load, unanchored: use `^...$` to match whole values);
//! `numeric_attribute` takes `value`, `values`, or a range `min`/`max` (inclusive, either may be
//! left out), over integer and float attributes; `boolean_attribute` takes `value`. With
//! `invert = true` the policy keeps the traces where *no* span matches (to veto matching traces
//! instead, wrap the policy in `drop`).
//!
//! Spans of one service share one resource, so a resource already checked is skipped.

use std::sync::Arc;

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::Policy;
use crate::span::{find_attribute, Span, Str, Value};
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Where an attribute is looked up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeScope {
    /// Span attributes.
    Span,
    /// Resource attributes.
    Resource,
    /// Span attributes, then resource attributes (default).
    #[default]
    Any,
}

/// Parameters of a `string_attribute` policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringAttributeConfig {
    /// The attribute key.
    pub key: String,
    /// Match values equal to this.
    #[serde(default)]
    pub value: Option<String>,
    /// Match values in this set.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// Match values this regular expression finds a match in (Rust `regex` syntax).
    #[serde(default)]
    pub regex: Option<String>,
    /// Keep traces where no span matches. Default false.
    #[serde(default)]
    pub invert: bool,
    /// Where to look. Default `any`.
    #[serde(default)]
    pub scope: AttributeScope,
}

/// Parameters of a `numeric_attribute` policy.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericAttributeConfig {
    /// The attribute key.
    pub key: String,
    /// Match values equal to this.
    #[serde(default)]
    pub value: Option<f64>,
    /// Match values in this set.
    #[serde(default)]
    pub values: Option<Vec<f64>>,
    /// Match values >= this.
    #[serde(default)]
    pub min: Option<f64>,
    /// Match values <= this.
    #[serde(default)]
    pub max: Option<f64>,
    /// Keep traces where no span matches. Default false.
    #[serde(default)]
    pub invert: bool,
    /// Where to look. Default `any`.
    #[serde(default)]
    pub scope: AttributeScope,
}

/// Parameters of a `boolean_attribute` policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooleanAttributeConfig {
    /// The attribute key.
    pub key: String,
    /// The value to match.
    pub value: bool,
    /// Keep traces where no span matches. Default false.
    #[serde(default)]
    pub invert: bool,
    /// Where to look. Default `any`.
    #[serde(default)]
    pub scope: AttributeScope,
}

fn check_key(policy: &str, key: &str) -> Result<(), PolicyConfigError> {
    if key.is_empty() {
        return Err(PolicyConfigError::invalid(
            policy,
            "key",
            "must name an attribute",
        ));
    }
    Ok(())
}

impl StringAttributeConfig {
    /// Checks the values (and compiles the regex).
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        StringTest::build(policy, self).map(|_| ())
    }
}

impl NumericAttributeConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        NumericTest::build(policy, self).map(|_| ())
    }
}

impl BooleanAttributeConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        check_key(policy, &self.key)
    }
}

#[derive(Clone, Debug)]
enum StringTest {
    Exact(String),
    Set(hashbrown::HashSet<String>),
    Regex(regex::Regex),
}

impl StringTest {
    fn build(policy: &str, c: &StringAttributeConfig) -> Result<StringTest, PolicyConfigError> {
        check_key(policy, &c.key)?;
        let one_of = "needs exactly one of `value`, `values` or `regex`";
        match (&c.value, &c.values, &c.regex) {
            (Some(v), None, None) => Ok(StringTest::Exact(v.clone())),
            (None, Some(vs), None) if vs.is_empty() => Err(PolicyConfigError::invalid(
                policy,
                "values",
                "must list at least one value",
            )),
            (None, Some(vs), None) => Ok(StringTest::Set(vs.iter().cloned().collect())),
            (None, None, Some(re)) => regex::Regex::new(re).map(StringTest::Regex).map_err(|e| {
                PolicyConfigError::invalid(policy, "regex", format!("does not compile: {e}"))
            }),
            (None, None, None) => Err(PolicyConfigError::invalid(policy, "value", one_of)),
            (_, Some(_), _) => Err(PolicyConfigError::invalid(policy, "values", one_of)),
            (_, _, Some(_)) => Err(PolicyConfigError::invalid(policy, "regex", one_of)),
        }
    }

    fn matches(&self, value: &Value) -> bool {
        let Some(s) = value.as_str() else {
            return false;
        };
        match self {
            StringTest::Exact(v) => s == v,
            StringTest::Set(set) => set.contains(s),
            StringTest::Regex(re) => re.is_match(s),
        }
    }
}

#[derive(Clone, Debug)]
enum NumericTest {
    Set(Vec<f64>),
    Range(f64, f64),
}

impl NumericTest {
    fn build(policy: &str, c: &NumericAttributeConfig) -> Result<NumericTest, PolicyConfigError> {
        check_key(policy, &c.key)?;
        let finite = |key: &str, v: f64| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(PolicyConfigError::invalid(
                    policy,
                    key,
                    format!("must be a finite number, got {v}"),
                ))
            }
        };
        let one_of = "needs exactly one of `value`, `values`, or a range `min`/`max`";
        let range = c.min.is_some() || c.max.is_some();
        match (&c.value, &c.values, range) {
            (Some(v), None, false) => Ok(NumericTest::Set(vec![finite("value", *v)?])),
            (None, Some(vs), false) if vs.is_empty() => Err(PolicyConfigError::invalid(
                policy,
                "values",
                "must list at least one value",
            )),
            (None, Some(vs), false) => Ok(NumericTest::Set(
                vs.iter()
                    .map(|&v| finite("values", v))
                    .collect::<Result<_, _>>()?,
            )),
            (None, None, true) => {
                let min = c
                    .min
                    .map(|v| finite("min", v))
                    .transpose()?
                    .unwrap_or(f64::NEG_INFINITY);
                let max = c
                    .max
                    .map(|v| finite("max", v))
                    .transpose()?
                    .unwrap_or(f64::INFINITY);
                if min > max {
                    return Err(PolicyConfigError::invalid(
                        policy,
                        "min",
                        format!("must not exceed `max` ({min} > {max})"),
                    ));
                }
                Ok(NumericTest::Range(min, max))
            }
            (None, None, false) => Err(PolicyConfigError::invalid(policy, "value", one_of)),
            (Some(_), _, _) => Err(PolicyConfigError::invalid(policy, "value", one_of)),
            (None, Some(_), true) => Err(PolicyConfigError::invalid(policy, "values", one_of)),
        }
    }

    fn matches(&self, value: &Value) -> bool {
        let Some(v) = value.as_f64() else {
            return false;
        };
        match self {
            NumericTest::Set(set) => set.contains(&v),
            NumericTest::Range(min, max) => *min <= v && v <= *max,
        }
    }
}

#[derive(Clone, Debug)]
enum Test {
    Str(StringTest),
    Num(NumericTest),
    Bool(bool),
}

impl Test {
    fn matches(&self, value: &Value) -> bool {
        match self {
            Test::Str(t) => t.matches(value),
            Test::Num(t) => t.matches(value),
            Test::Bool(b) => value.as_bool() == Some(*b),
        }
    }
}

/// Keeps traces with a span whose attribute passes a test.
#[derive(Clone, Debug)]
pub struct AttributePolicy {
    name: Str,
    key: String,
    test: Test,
    scope: AttributeScope,
    invert: bool,
}

impl AttributePolicy {
    /// A `string_attribute` policy.
    pub fn string(
        name: &str,
        c: &StringAttributeConfig,
    ) -> Result<AttributePolicy, PolicyConfigError> {
        Ok(Self::with(
            name,
            &c.key,
            Test::Str(StringTest::build(name, c)?),
            c.scope,
            c.invert,
        ))
    }

    /// A `numeric_attribute` policy.
    pub fn numeric(
        name: &str,
        c: &NumericAttributeConfig,
    ) -> Result<AttributePolicy, PolicyConfigError> {
        Ok(Self::with(
            name,
            &c.key,
            Test::Num(NumericTest::build(name, c)?),
            c.scope,
            c.invert,
        ))
    }

    /// A `boolean_attribute` policy.
    pub fn boolean(
        name: &str,
        c: &BooleanAttributeConfig,
    ) -> Result<AttributePolicy, PolicyConfigError> {
        c.validate(name)?;
        Ok(Self::with(
            name,
            &c.key,
            Test::Bool(c.value),
            c.scope,
            c.invert,
        ))
    }

    fn with(
        name: &str,
        key: &str,
        test: Test,
        scope: AttributeScope,
        invert: bool,
    ) -> AttributePolicy {
        AttributePolicy {
            name: super::name_str(name),
            key: key.to_string(),
            test,
            scope,
            invert,
        }
    }

    fn any_span_matches(&self, spans: &[Span]) -> bool {
        let mut checked_resource: Option<&Arc<crate::span::Resource>> = None;
        spans.iter().any(|span| {
            if self.scope != AttributeScope::Resource
                && span
                    .attribute(&self.key)
                    .is_some_and(|v| self.test.matches(v))
            {
                return true;
            }
            if self.scope == AttributeScope::Span
                || checked_resource.is_some_and(|r| Arc::ptr_eq(r, &span.origin.resource))
            {
                return false;
            }
            checked_resource = Some(&span.origin.resource);
            find_attribute(&span.resource().attributes, &self.key)
                .is_some_and(|v| self.test.matches(v))
        })
    }
}

impl Policy for AttributePolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        Ok(if self.any_span_matches(trace.spans()) != self.invert {
            Verdict::keep(self.name.clone())
        } else {
            Verdict::Abstain
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{KeyValue, Origin, Resource, Scope, TraceId};
    use crate::view::TraceFlags;
    use std::time::Duration;

    fn span(attrs: Vec<KeyValue>, resource: Vec<KeyValue>) -> Span {
        Span {
            attributes: attrs.into(),
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: resource,
                    ..Resource::default()
                }),
                scope: Scope::default(),
            }),
            ..Span::default()
        }
    }

    fn keeps(policy: &AttributePolicy, spans: &[Span]) -> bool {
        let view = TraceView::new(
            TraceId::from_u128(1),
            spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        matches!(policy.evaluate(&view).unwrap(), Verdict::Keep { .. })
    }

    fn string(c: StringAttributeConfig) -> AttributePolicy {
        AttributePolicy::string("attr", &c).unwrap()
    }

    fn route(value: &str) -> StringAttributeConfig {
        StringAttributeConfig {
            key: "http.route".into(),
            value: Some(value.into()),
            ..StringAttributeConfig::default()
        }
    }

    #[test]
    fn string_exact_set_and_regex() {
        let trace = [span(vec![KeyValue::new("http.route", "/health")], vec![])];
        assert!(keeps(&string(route("/health")), &trace));
        assert!(!keeps(&string(route("/ready")), &trace));
        let set = StringAttributeConfig {
            key: "http.route".into(),
            values: Some(vec!["/ready".into(), "/health".into()]),
            ..StringAttributeConfig::default()
        };
        assert!(keeps(&string(set), &trace));
        let re = StringAttributeConfig {
            key: "http.route".into(),
            regex: Some("^/(health|ready)$".into()),
            ..StringAttributeConfig::default()
        };
        assert!(keeps(&string(re.clone()), &trace));
        let other = [span(vec![KeyValue::new("http.route", "/healthz")], vec![])];
        assert!(!keeps(&string(re), &other));
        // Non-string values and empty attribute lists never match.
        let int = [span(vec![KeyValue::new("http.route", 5i64)], vec![])];
        assert!(!keeps(&string(route("5")), &int));
        assert!(!keeps(&string(route("")), &[span(vec![], vec![])]));
        assert!(!keeps(&string(route("/health")), &[]));
    }

    #[test]
    fn invert_keeps_traces_where_no_span_matches() {
        let c = StringAttributeConfig {
            invert: true,
            ..route("/health")
        };
        let health = [span(vec![KeyValue::new("http.route", "/health")], vec![])];
        let other = [span(vec![KeyValue::new("http.route", "/pay")], vec![])];
        assert!(!keeps(&string(c.clone()), &health));
        assert!(keeps(&string(c.clone()), &other));
        assert!(
            keeps(&string(c), &[]),
            "an empty trace has no matching span"
        );
    }

    #[test]
    fn scope_picks_span_or_resource_attributes() {
        let env = |scope| StringAttributeConfig {
            key: "deployment.environment".into(),
            value: Some("prod".into()),
            scope,
            ..StringAttributeConfig::default()
        };
        let on_resource = [span(
            vec![],
            vec![KeyValue::new("deployment.environment", "prod")],
        )];
        let on_span = [span(
            vec![KeyValue::new("deployment.environment", "prod")],
            vec![],
        )];
        assert!(keeps(&string(env(AttributeScope::Any)), &on_resource));
        assert!(keeps(&string(env(AttributeScope::Any)), &on_span));
        assert!(keeps(&string(env(AttributeScope::Resource)), &on_resource));
        assert!(!keeps(&string(env(AttributeScope::Resource)), &on_span));
        assert!(keeps(&string(env(AttributeScope::Span)), &on_span));
        assert!(!keeps(&string(env(AttributeScope::Span)), &on_resource));
    }

    #[test]
    fn numeric_values_and_ranges_accept_ints_and_floats() {
        let range = NumericAttributeConfig {
            key: "http.response.status_code".into(),
            min: Some(500.0),
            max: Some(599.0),
            ..NumericAttributeConfig::default()
        };
        let p = AttributePolicy::numeric("attr", &range).unwrap();
        let status = |v: Value| {
            [span(
                vec![KeyValue::new("http.response.status_code", v)],
                vec![],
            )]
        };
        assert!(keeps(&p, &status(503i64.into())));
        assert!(keeps(&p, &status(500.0.into())));
        assert!(keeps(&p, &status(599i64.into())));
        assert!(!keeps(&p, &status(600i64.into())));
        assert!(!keeps(&p, &status("503".into())));
        let open = NumericAttributeConfig {
            min: None,
            max: Some(10.0),
            ..range.clone()
        };
        let p = AttributePolicy::numeric("attr", &open).unwrap();
        assert!(keeps(&p, &status((-5i64).into())));
        let exact = NumericAttributeConfig {
            key: "retries".into(),
            values: Some(vec![3.0, 4.0]),
            ..NumericAttributeConfig::default()
        };
        let p = AttributePolicy::numeric("attr", &exact).unwrap();
        assert!(keeps(
            &p,
            &[span(vec![KeyValue::new("retries", 4i64)], vec![])]
        ));
        assert!(!keeps(
            &p,
            &[span(vec![KeyValue::new("retries", 5i64)], vec![])]
        ));
    }

    #[test]
    fn boolean_matches_only_booleans() {
        let c = BooleanAttributeConfig {
            key: "cache.hit".into(),
            value: false,
            ..BooleanAttributeConfig::default()
        };
        let p = AttributePolicy::boolean("attr", &c).unwrap();
        assert!(keeps(
            &p,
            &[span(vec![KeyValue::new("cache.hit", false)], vec![])]
        ));
        assert!(!keeps(
            &p,
            &[span(vec![KeyValue::new("cache.hit", true)], vec![])]
        ));
        assert!(!keeps(
            &p,
            &[span(vec![KeyValue::new("cache.hit", "false")], vec![])]
        ));
    }

    #[test]
    fn bad_configs_name_the_key() {
        let e = |r: Result<AttributePolicy, PolicyConfigError>| r.unwrap_err().to_string();
        let bad_re = StringAttributeConfig {
            key: "k".into(),
            regex: Some("(".into()),
            ..StringAttributeConfig::default()
        };
        let msg = e(AttributePolicy::string("p", &bad_re));
        assert!(msg.contains("`regex` does not compile"), "{msg}");
        let both = StringAttributeConfig {
            value: Some("a".into()),
            ..bad_re
        };
        assert!(e(AttributePolicy::string("p", &both)).contains("exactly one of"));
        let none = NumericAttributeConfig {
            key: "k".into(),
            ..NumericAttributeConfig::default()
        };
        assert!(e(AttributePolicy::numeric("p", &none)).contains("exactly one of"));
        let inverted = NumericAttributeConfig {
            min: Some(5.0),
            max: Some(1.0),
            ..none
        };
        assert!(e(AttributePolicy::numeric("p", &inverted)).contains("`min` must not exceed"));
        let nokey = BooleanAttributeConfig::default();
        assert!(e(AttributePolicy::boolean("p", &nokey)).contains("`key`"));
    }
}
