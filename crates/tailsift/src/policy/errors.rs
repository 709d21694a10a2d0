//! `errors`: keep every trace that failed somewhere.
//!
//! Errors are the traces an operator is least willing to lose, and they are cheap to find: the
//! view counts spans with status ERROR in the pass that builds it, so the default check is one
//! comparison. Instrumentations disagree on what marks a failure, hence two options:
//!
//! - `http_server_errors`: a *server* span answering HTTP 5xx counts even when the
//!   instrumentation left its status unset (`http.response.status_code`, or the older
//!   `http.status_code`; integer or string values). Client spans are left out: a 5xx seen by a
//!   client is already a server error elsewhere, or a dependency the operator does not own.
//! - `exception_events`: a span carrying an `exception` event counts (a caught and recorded
//!   exception on a span that otherwise succeeded).

use serde::Deserialize;

use super::Policy;
use crate::span::{Span, SpanKind, Str, Value};
use crate::verdict::Verdict;
use crate::view::TraceView;
use crate::PolicyError;

/// Parameters of an `errors` policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsConfig {
    /// Also count server spans with HTTP status >= 500. Default false.
    #[serde(default)]
    pub http_server_errors: bool,
    /// Also count spans with an `exception` event. Default false.
    #[serde(default)]
    pub exception_events: bool,
}

/// Keeps traces with a span in error.
#[derive(Clone, Debug)]
pub struct ErrorsPolicy {
    name: Str,
    config: ErrorsConfig,
}

impl ErrorsPolicy {
    /// An `errors` policy named `name`.
    pub fn new(name: &str, config: &ErrorsConfig) -> ErrorsPolicy {
        ErrorsPolicy {
            name: super::name_str(name),
            config: config.clone(),
        }
    }

    fn span_failed(&self, span: &Span) -> bool {
        (self.config.http_server_errors
            && span.kind == SpanKind::Server
            && http_status(span).is_some_and(|s| s >= 500))
            || (self.config.exception_events
                && span.events().iter().any(|e| &*e.name == "exception"))
    }
}

/// The span's HTTP response status, from the current or the older semantic convention (the
/// current one's key wins wherever it appears; the first of each counts). One pass over the
/// attributes.
pub fn http_status(span: &Span) -> Option<i64> {
    let mut older = None;
    for kv in span.attributes.iter() {
        match &*kv.key {
            "http.response.status_code" => return status_number(&kv.value),
            "http.status_code" if older.is_none() => older = Some(&kv.value),
            _ => {}
        }
    }
    status_number(older?)
}

fn status_number(value: &Value) -> Option<i64> {
    match value {
        Value::Str(s) => s.trim().parse().ok(),
        other => other.as_i64(),
    }
}

impl Policy for ErrorsPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let failed = trace.error_count() > 0
            || ((self.config.http_server_errors || self.config.exception_events)
                && trace.spans().iter().any(|s| self.span_failed(s)));
        Ok(if failed {
            Verdict::keep(self.name.clone())
        } else {
            Verdict::Abstain
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Event, KeyValue, SpanExtra, SpanId, StatusCode, TraceId};
    use crate::view::TraceFlags;
    use std::time::Duration;

    fn verdict(config: ErrorsConfig, spans: &[Span]) -> Verdict {
        let view = TraceView::new(
            TraceId::from_u128(1),
            spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        ErrorsPolicy::new("errors", &config)
            .evaluate(&view)
            .unwrap()
    }

    fn server(status: Value) -> Span {
        Span {
            span_id: SpanId::from_u64(1),
            kind: SpanKind::Server,
            attributes: vec![KeyValue::new("http.response.status_code", status)].into(),
            ..Span::default()
        }
    }

    #[test]
    fn error_status_is_kept_by_default() {
        let mut span = Span::default();
        assert_eq!(
            verdict(ErrorsConfig::default(), std::slice::from_ref(&span)),
            Verdict::Abstain
        );
        span.status_code = StatusCode::Error;
        assert_eq!(
            verdict(ErrorsConfig::default(), &[span]),
            Verdict::keep("errors")
        );
        assert_eq!(verdict(ErrorsConfig::default(), &[]), Verdict::Abstain);
    }

    #[test]
    fn http_5xx_on_server_spans_counts_only_when_enabled() {
        let http = ErrorsConfig {
            http_server_errors: true,
            ..ErrorsConfig::default()
        };
        assert_eq!(
            verdict(ErrorsConfig::default(), &[server(503i64.into())]),
            Verdict::Abstain
        );
        assert_eq!(
            verdict(http.clone(), &[server(503i64.into())]),
            Verdict::keep("errors")
        );
        assert_eq!(
            verdict(http.clone(), &[server("502".into())]),
            Verdict::keep("errors")
        );
        assert_eq!(
            verdict(http.clone(), &[server(500.0.into())]),
            Verdict::keep("errors")
        );
        assert_eq!(
            verdict(http.clone(), &[server(404i64.into())]),
            Verdict::Abstain
        );
        assert_eq!(
            verdict(http.clone(), &[server("oops".into())]),
            Verdict::Abstain
        );
        assert_eq!(
            verdict(http.clone(), &[server(Value::Empty)]),
            Verdict::Abstain
        );
        let mut client = server(500i64.into());
        client.kind = SpanKind::Client;
        assert_eq!(verdict(http.clone(), &[client]), Verdict::Abstain);
        let older = Span {
            kind: SpanKind::Server,
            attributes: vec![KeyValue::new("http.status_code", 500i64)].into(),
            ..Span::default()
        };
        assert_eq!(verdict(http, &[older]), Verdict::keep("errors"));
    }

    #[test]
    fn http_status_prefers_the_current_key_and_the_first_of_each() {
        let status = |attributes: Vec<(&str, Value)>| {
            http_status(&Span {
                attributes: attributes
                    .into_iter()
                    .map(|(k, v)| KeyValue::new(k, v))
                    .collect::<Vec<_>>()
                    .into(),
                ..Span::default()
            })
        };
        let (current, older) = ("http.response.status_code", "http.status_code");
        assert_eq!(status(vec![]), None);
        assert_eq!(status(vec![("http.method", "GET".into())]), None);
        assert_eq!(status(vec![(older, 503i64.into())]), Some(503));
        assert_eq!(status(vec![(older, " 502 ".into())]), Some(502));
        assert_eq!(
            status(vec![(older, 500i64.into()), (current, 200i64.into())]),
            Some(200)
        );
        assert_eq!(
            status(vec![(current, 404i64.into()), (current, 500i64.into())]),
            Some(404)
        );
        assert_eq!(
            status(vec![(older, 501i64.into()), (older, 200i64.into())]),
            Some(501)
        );
        // An unreadable current value is not replaced by the older one.
        assert_eq!(
            status(vec![(current, "oops".into()), (older, 500i64.into())]),
            None
        );
    }

    #[test]
    fn exception_events_count_only_when_enabled() {
        let span = Span {
            extra: SpanExtra {
                events: vec![Event {
                    name: "exception".into(),
                    ..Event::default()
                }],
                ..SpanExtra::default()
            }
            .boxed_unless_empty(),
            ..Span::default()
        };
        assert_eq!(
            verdict(ErrorsConfig::default(), std::slice::from_ref(&span)),
            Verdict::Abstain
        );
        let config = ErrorsConfig {
            exception_events: true,
            ..ErrorsConfig::default()
        };
        assert_eq!(verdict(config, &[span]), Verdict::keep("errors"));
    }
}
