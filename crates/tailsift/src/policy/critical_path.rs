//! `critical_path`: keep traces in which a configured critical operation shaped the latency.
//!
//! Operators name the operations they care about most — `"checkout:*"`, `"payment:Charge*"` —
//! as `service:span-name` glob patterns (a pattern without `:` matches the span name in any
//! service). Since some instrumentations prefix span names with their service, a pattern with a
//! `:` also matches a span whose whole name matches it (`payment:Charge*` matches a span named
//! `payment:ChargeCard` in any service). By default a trace is kept only when a matching span lies on its *critical path*
//! (the chain of work that determined its end-to-end duration, [`crate::critical_path`]): a
//! payment call that ran in parallel and finished early did not make the user wait. With
//! `anywhere = true` a matching span anywhere in the trace is enough.
//!
//! The critical path costs O(n log n) per trace, so it is computed only when some span matches
//! at all (and then shared with every other policy through the view).
//!
//! Globs: `*` matches any run of characters (including none, and `/`), `?` one character, `\`
//! escapes the next character. Everything else is literal — braces and brackets included, since
//! span names such as `GET /users/{id}` are common and must match as written. A pattern splits at
//! its first unescaped `:`; to match a span name that itself contains `:` in any service, write
//! `*:name:with:colons`.

use serde::Deserialize;

use super::config::PolicyConfigError;
use super::Policy;
use crate::span::{Span, Str};
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of a `critical_path` policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalPathConfig {
    /// `service:span-name` glob patterns (or `span-name` in any service). At least one.
    pub operations: Vec<String>,
    /// Keep traces with a matching span anywhere, not only on the critical path. Default false.
    #[serde(default)]
    pub anywhere: bool,
}

impl CriticalPathConfig {
    /// Checks the values.
    pub fn validate(&self, policy: &str) -> Result<(), PolicyConfigError> {
        if self.operations.is_empty() {
            return Err(PolicyConfigError::invalid(
                policy,
                "operations",
                "must list at least one `service:span-name` pattern (e.g. \"checkout:*\")",
            ));
        }
        for op in &self.operations {
            Operation::parse(op)
                .map_err(|m| PolicyConfigError::invalid(policy, "operations", m))?;
        }
        Ok(())
    }
}

/// A compiled glob: the common shapes get a fast path, the rest a regex.
#[derive(Clone, Debug)]
enum Glob {
    Any,
    Exact(Literal),
    Prefix(Literal),
    Regex(regex::Regex),
}

/// A glob's literal text, with its first eight bytes kept as a word. This runs for every span
/// of every trace (a few patterns each), and nearly every span name differs from a pattern
/// within eight bytes: one word compare rejects it without a call to `memcmp`.
#[derive(Clone, Debug)]
struct Literal {
    text: String,
    /// The first `min(8, len)` bytes, little-endian, the rest zero.
    head: u64,
    /// Ones over the bytes of `head` that come from `text`.
    mask: u64,
}

impl Literal {
    fn new(text: String) -> Literal {
        let n = text.len().min(8);
        let mut bytes = [0u8; 8];
        bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
        Literal {
            head: u64::from_le_bytes(bytes),
            mask: u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0),
            text,
        }
    }

    /// Whether `text` (at least as long as the literal) surely differs from it in its first
    /// eight bytes. False when unsure: a text under eight bytes is left to the full compare.
    fn head_differs(&self, text: &str) -> bool {
        match text.as_bytes().first_chunk::<8>() {
            Some(word) => (u64::from_le_bytes(*word) ^ self.head) & self.mask != 0,
            None => false,
        }
    }

    fn is(&self, text: &str) -> bool {
        text.len() == self.text.len() && !self.head_differs(text) && text == self.text
    }

    fn starts(&self, text: &str) -> bool {
        text.len() >= self.text.len()
            && !self.head_differs(text)
            && text.starts_with(self.text.as_str())
    }
}

impl Glob {
    fn parse(pattern: &str) -> Result<Glob, String> {
        let mut literal = String::new();
        let mut re = String::from("^(?s:");
        let mut wildcards = 0;
        let mut only_trailing_star = false;
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            only_trailing_star = false;
            match c {
                '*' => {
                    wildcards += 1;
                    only_trailing_star = wildcards == 1;
                    re.push_str(".*");
                }
                '?' => {
                    wildcards += 2;
                    re.push('.');
                }
                '\\' => {
                    let Some(next) = chars.next() else {
                        return Err(format!("pattern `{pattern}` ends with a lone `\\`"));
                    };
                    if wildcards == 0 {
                        literal.push(next);
                    }
                    re.push_str(&regex::escape(&next.to_string()));
                }
                c => {
                    if wildcards == 0 {
                        literal.push(c);
                    }
                    re.push_str(&regex::escape(&c.to_string()));
                }
            }
        }
        re.push_str(")$");
        Ok(match wildcards {
            0 => Glob::Exact(Literal::new(literal)),
            1 if only_trailing_star && literal.is_empty() => Glob::Any,
            1 if only_trailing_star => Glob::Prefix(Literal::new(literal)),
            _ => Glob::Regex(
                regex::Regex::new(&re).map_err(|e| format!("pattern `{pattern}`: {e}"))?,
            ),
        })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(literal) => literal.is(text),
            Glob::Prefix(literal) => literal.starts(text),
            Glob::Regex(re) => re.is_match(text),
        }
    }
}

/// One `service:span-name` pattern.
#[derive(Clone, Debug)]
struct Operation {
    service: Option<Glob>,
    name: Glob,
    /// The whole pattern against the span name: some instrumentations prefix span names with
    /// their service (`payment:Charge`), and `payment:Charge*` should match those too.
    whole: Option<Glob>,
}

impl Operation {
    fn parse(pattern: &str) -> Result<Operation, String> {
        if pattern.is_empty() {
            return Err("must not contain an empty pattern".to_string());
        }
        // Split at the first `:` not escaped by `\`.
        let mut escaped = false;
        let split = pattern.char_indices().find_map(|(i, c)| {
            let hit = c == ':' && !escaped;
            escaped = c == '\\' && !escaped;
            hit.then_some(i)
        });
        Ok(match split {
            Some(i) => Operation {
                service: Some(Glob::parse(&pattern[..i])?),
                name: Glob::parse(&pattern[i + 1..])?,
                whole: Some(Glob::parse(pattern)?),
            },
            None => Operation {
                service: None,
                name: Glob::parse(pattern)?,
                whole: None,
            },
        })
    }

    fn matches(&self, span: &Span) -> bool {
        let split = self.name.matches(&span.name)
            && self
                .service
                .as_ref()
                .is_none_or(|s| s.matches(span.service_name()));
        split || self.whole.as_ref().is_some_and(|w| w.matches(&span.name))
    }
}

/// Keeps traces touching critical operations (on the critical path by default).
#[derive(Clone, Debug)]
pub struct CriticalPathPolicy {
    name: Str,
    operations: Vec<Operation>,
    anywhere: bool,
}

impl CriticalPathPolicy {
    /// A `critical_path` policy named `name`.
    pub fn new(
        name: &str,
        config: &CriticalPathConfig,
    ) -> Result<CriticalPathPolicy, PolicyConfigError> {
        config.validate(name)?;
        let operations = config
            .operations
            .iter()
            .map(|op| Operation::parse(op))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| PolicyConfigError::invalid(name, "operations", m))?;
        Ok(CriticalPathPolicy {
            name: super::name_str(name),
            operations,
            anywhere: config.anywhere,
        })
    }

    fn critical(&self, span: &Span) -> bool {
        self.operations.iter().any(|op| op.matches(span))
    }
}

impl Policy for CriticalPathPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let spans = trace.spans();
        // Cheap scan first: most traces touch no critical operation and never need the path.
        let touched = spans.iter().any(|s| self.critical(s));
        let keep = touched
            && (self.anywhere
                || trace
                    .critical_path()
                    .spans()
                    .iter()
                    .any(|&i| spans.get(i as usize).is_some_and(|s| self.critical(s))));
        Ok(if keep {
            Verdict::keep(self.name.clone())
        } else {
            Verdict::Abstain
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{KeyValue, Origin, Resource, Scope, SpanId, TraceId};
    use crate::view::{sort_spans, TraceFlags};
    use std::sync::Arc;
    use std::time::Duration;

    fn span(id: u64, parent: u64, service: &str, name: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId::from_u128(3),
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::new("service.name", service)],
                    ..Resource::default()
                }),
                scope: Scope::default(),
            }),
            ..Span::default()
        }
    }

    fn keeps(ops: &[&str], anywhere: bool, mut spans: Vec<Span>) -> bool {
        let config = CriticalPathConfig {
            operations: ops.iter().map(|s| s.to_string()).collect(),
            anywhere,
        };
        let policy = CriticalPathPolicy::new("checkout", &config).unwrap();
        sort_spans(&mut spans);
        let view = TraceView::new(
            TraceId::from_u128(3),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        matches!(policy.evaluate(&view).unwrap(), Verdict::Keep { .. })
    }

    /// frontend 0..100 calls payment:ChargeCard 10..90 (on the path) and, in parallel,
    /// audit:Record 10..20 (off the path).
    fn shop() -> Vec<Span> {
        vec![
            span(1, 0, "frontend", "GET /buy", 0, 100),
            span(2, 1, "payment", "ChargeCard", 10, 90),
            span(3, 1, "audit", "Record", 10, 20),
        ]
    }

    #[test]
    fn globs_cover_the_usual_shapes() {
        let g = |p: &str| Glob::parse(p).unwrap();
        assert!(g("*").matches("anything"));
        assert!(g("Charge*").matches("ChargeCard") && !g("Charge*").matches("Refund"));
        assert!(g("*Card").matches("ChargeCard") && !g("*Card").matches("Cards"));
        assert!(g("GET /users/{id}").matches("GET /users/{id}"));
        assert!(g("a?c").matches("abc") && g("a?c").matches("aéc") && !g("a?c").matches("ac"));
        assert!(g("a\\*").matches("a*") && !g("a\\*").matches("ab"));
        assert!(g("*/api/*").matches("GET /api/v1"));
        assert!(Glob::parse("oops\\").is_err());
    }

    proptest::proptest! {
        /// The head-word check only ever skips a compare that would fail: literal matches
        /// agree with `==` and `starts_with` for texts and literals around eight bytes, with
        /// two-byte characters among them.
        #[test]
        fn literals_agree_with_plain_compares(
            literal in "[abé]{0,11}",
            text in "[abé]{0,13}",
        ) {
            let l = Literal::new(literal.clone());
            proptest::prop_assert_eq!(l.is(&text), text == literal);
            proptest::prop_assert_eq!(l.starts(&text), text.starts_with(literal.as_str()));
            let extended = format!("{literal}{text}");
            proptest::prop_assert!(l.starts(&extended) && l.is(&literal));
        }
    }

    #[test]
    fn matching_span_on_the_critical_path_keeps() {
        assert!(keeps(&["payment:Charge*"], false, shop()));
        assert!(
            keeps(&["ChargeCard"], false, shop()),
            "no service = any service"
        );
        assert!(
            !keeps(&["frontend:Charge*"], false, shop()),
            "service must match too"
        );
    }

    #[test]
    fn service_prefixed_span_names_match_the_whole_pattern() {
        let prefixed = vec![
            span(1, 0, "frontend", "GET /buy", 0, 100),
            span(2, 1, "payment", "payment:ChargeCard", 10, 90),
        ];
        assert!(keeps(&["payment:Charge*"], false, prefixed.clone()));
        assert!(!keeps(&["payment:Refund*"], false, prefixed));
    }

    #[test]
    fn matching_span_off_the_critical_path_needs_anywhere() {
        assert!(!keeps(&["audit:*"], false, shop()));
        assert!(keeps(&["audit:*"], true, shop()));
    }

    #[test]
    fn clock_skew_does_not_hide_a_critical_child() {
        // The payment host's clock runs 1 s behind: its span starts before its parent.
        let spans = vec![
            span(1, 0, "frontend", "GET /buy", 1_000_000_000, 1_000_000_100),
            span(2, 1, "payment", "ChargeCard", 999_999_990, 1_000_000_090),
        ];
        assert!(keeps(&["payment:*"], false, spans));
    }

    #[test]
    fn odd_traces_do_not_panic() {
        assert!(!keeps(&["*"], false, vec![]));
        // Rootless: the latest orphan stands in for the root.
        let spans = vec![span(2, 9, "payment", "ChargeCard", 0, 50)];
        assert!(keeps(&["payment:*"], false, spans));
    }

    #[test]
    fn empty_or_bad_operations_are_refused() {
        let e = CriticalPathConfig::default()
            .validate("checkout")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("policy `checkout`") && e.contains("`operations`"),
            "{e}"
        );
        let bad = CriticalPathConfig {
            operations: vec![String::new()],
            anywhere: false,
        };
        assert!(bad.validate("checkout").is_err());
    }
}
