//! The `anchor` workload: the fixed benchmark shape every throughput figure is stated for.
//!
//! Exactly: `traces` traces (default 10,000) of 10 spans each; one resource with 5 attributes
//! shared by every span; 5 attributes on every span; 5% of the traces (rounded to the nearest
//! whole trace, exactly, not in expectation) have one ERROR span, another 5% have an 800 ms
//! root span, and every other trace lasts at most 100 ms. Every trace has its root. The error
//! and slow traces are disjoint and spread over the run at random (seeded).
//!
//! Each trace is a root with three children, each of which has two children (1 + 3 + 6 = 10);
//! children split their parent's interval evenly, one after another, so every span lies inside
//! its parent and the root's duration is the trace's duration.
//!
//! Names and keys are immortal strings; the values' strings are shared by the spans, each span's
//! own, or immortal, as [`SpanValues`] says (the same traffic either way).

use std::sync::Arc;

use tailsift::{
    Interner, KeyValue, Origin, Resource, Scope, Span, SpanExtra, SpanKind, StatusCode, Str, Text,
    Value,
};

use crate::random::Draw;
use crate::stream::{BuiltTrace, Stream, Timeline, TraceSource};
use crate::truth::TraceKind;
use crate::values::SpanValues;
use crate::{Batch, ConfigError, Traffic};

/// Spans in every anchor trace.
pub const ANCHOR_SPANS_PER_TRACE: usize = 10;
/// Attributes on the anchor workload's one resource.
pub const ANCHOR_RESOURCE_ATTRIBUTES: usize = 5;
/// Attributes on every anchor span.
pub const ANCHOR_SPAN_ATTRIBUTES: usize = 5;
/// Duration of the root span of an anchor trace labelled [`TraceKind::Slow`].
pub const ANCHOR_SLOW_ROOT: std::time::Duration = std::time::Duration::from_millis(800);
/// Longest duration of any other anchor trace.
pub const ANCHOR_FAST_MAX: std::time::Duration = std::time::Duration::from_millis(100);

/// Parent (index into the trace) of each span; the root is its own "parent" and is skipped.
const PARENTS: [usize; ANCHOR_SPANS_PER_TRACE] = [0, 0, 1, 1, 0, 4, 4, 0, 7, 7];
const NAMES: [&str; ANCHOR_SPANS_PER_TRACE] = [
    "GET /api/items/{id}",
    "items:Load",
    "SELECT items",
    "GET items-cache",
    "items:Price",
    "pricing:Quote",
    "currency:Convert",
    "items:Render",
    "templates:Load",
    "templates:Execute",
];
const ROUTES: [&str; ANCHOR_SPANS_PER_TRACE] = [
    "/api/items/{id}",
    "/internal/items/load",
    "/internal/items/select",
    "/internal/items/cache",
    "/internal/items/price",
    "/internal/pricing/quote",
    "/internal/currency/convert",
    "/internal/items/render",
    "/internal/templates/load",
    "/internal/templates/execute",
];
const FAST_MIN_NANOS: u64 = 5_000_000;

/// Configuration of the `anchor` workload. The shape (10 spans, 5 + 5 attributes, 5% errors,
/// 5% slow) is fixed: it is what the benchmark figures mean.
#[derive(Clone, Debug, PartialEq)]
pub struct AnchorConfig {
    /// Seed of every random choice. Default 1.
    pub seed: u64,
    /// How many traces. Default 10,000.
    pub traces: usize,
    /// Traces started per second of simulated time, evenly spaced. Must be positive and
    /// finite. Default 1,000 (10,000 spans/s; the default run covers 10 s).
    pub traces_per_second: f64,
    /// Timeline and batching.
    pub timeline: Timeline,
    /// How the spans hold their string values. Default [`SpanValues::Shared`].
    pub values: SpanValues,
}

impl Default for AnchorConfig {
    fn default() -> AnchorConfig {
        AnchorConfig {
            seed: 1,
            traces: 10_000,
            traces_per_second: 1_000.0,
            timeline: Timeline::default(),
            values: SpanValues::Shared,
        }
    }
}

impl AnchorConfig {
    /// How many traces have an ERROR span (and how many have an 800 ms root): 5% of
    /// [`AnchorConfig::traces`], rounded to the nearest trace.
    pub fn labelled_traces(&self) -> usize {
        ((self.traces as u128 * 5 + 50) / 100) as usize
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.traces_per_second.is_finite() && self.traces_per_second > 0.0) {
            return Err(ConfigError::Invalid(format!(
                "anchor traces_per_second must be positive and finite, got {}",
                self.traces_per_second
            )));
        }
        crate::validate_timeline(&self.timeline)
    }

    /// The workload as a stream of batches in arrival order.
    pub fn traffic(&self) -> Result<Traffic, ConfigError> {
        self.validate()?;
        Ok(Traffic::anchor(Stream::new(
            AnchorSource::new(self),
            &self.timeline,
        )))
    }

    /// Every batch of the workload, built up front: for benchmarks that must not time the
    /// generator. Holds `traces × 10` spans in memory.
    pub fn prebuild(&self) -> Result<Vec<Batch>, ConfigError> {
        Ok(self.traffic()?.collect())
    }
}

/// Makes anchor traces.
pub(crate) struct AnchorSource {
    draw: Draw,
    kinds: Vec<TraceKind>,
    next_trace: usize,
    spacing_nanos: f64,
    epoch: u64,
    max_export_delay: u64,
    origin: Arc<Origin>,
    names: Vec<Str>,
    routes: Vec<Text>,
    keys: AnchorKeys,
    tenants: Vec<Text>,
    values: SpanValues,
    /// Where [`SpanValues::Immortal`] values are made immortal (one copy per distinct value).
    interner: Interner,
}

struct AnchorKeys {
    method: Str,
    route: Str,
    status_code: Str,
    server_address: Str,
    tenant: Str,
    get: Text,
    ok: Value,
    internal_error: Value,
    server: Text,
    error_message: Str,
}

impl AnchorSource {
    fn new(config: &AnchorConfig) -> AnchorSource {
        let mut draw = Draw::new(config.seed);
        let labelled = config.labelled_traces().min(config.traces / 2);
        let mut kinds = vec![TraceKind::Normal; config.traces];
        kinds[..labelled].fill(TraceKind::Error);
        kinds[labelled..2 * labelled].fill(TraceKind::Slow);
        draw.shuffle(&mut kinds);

        let resource = Arc::new(Resource {
            attributes: vec![
                KeyValue::new("service.name", "anchor-items"),
                KeyValue::new("service.version", "1.4.2"),
                KeyValue::new("host.name", "items-7d9f6c-x2k4q"),
                KeyValue::new("deployment.environment.name", "bench"),
                KeyValue::new("telemetry.sdk.language", "rust"),
            ],
            ..Resource::default()
        });
        let origin = Arc::new(Origin {
            resource,
            scope: Scope {
                name: "tailsift-traffic/anchor".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Scope::default()
            },
        });
        AnchorSource {
            draw,
            kinds,
            next_trace: 0,
            spacing_nanos: 1e9 / config.traces_per_second,
            epoch: config.timeline.epoch_unix_nanos,
            max_export_delay: config.timeline.max_export_delay.as_nanos() as u64,
            origin,
            // Span names and attribute keys are immortal, as an OTLP bridge's interner makes
            // them; values as `config.values` says.
            names: NAMES.iter().map(|&n| Str::immortal(n)).collect(),
            routes: ROUTES.iter().map(|&r| Text::from(r)).collect(),
            keys: AnchorKeys {
                method: Str::immortal("http.request.method"),
                route: Str::immortal("http.route"),
                status_code: Str::immortal("http.response.status_code"),
                server_address: Str::immortal("server.address"),
                tenant: Str::immortal("app.tenant"),
                get: "GET".into(),
                ok: Value::Int(200),
                internal_error: Value::Int(500),
                server: "items.internal".into(),
                error_message: "items backend returned 500".into(),
            },
            tenants: (0..8).map(|t| Text::from(format!("tenant-{t}"))).collect(),
            values: config.values,
            interner: Interner::default(),
        }
    }
}

impl TraceSource for AnchorSource {
    fn next_start(&mut self) -> Option<u64> {
        (self.next_trace < self.kinds.len())
            .then_some((self.next_trace as f64 * self.spacing_nanos) as u64)
    }

    fn build(&mut self, start: u64, out: &mut BuiltTrace) {
        let kind = self.kinds[self.next_trace];
        self.next_trace += 1;

        let root_nanos = match kind {
            TraceKind::Slow => ANCHOR_SLOW_ROOT.as_nanos() as u64,
            _ => self
                .draw
                .between(FAST_MIN_NANOS, ANCHOR_FAST_MAX.as_nanos() as u64),
        };
        let error_span =
            (kind == TraceKind::Error).then(|| self.draw.index(ANCHOR_SPANS_PER_TRACE));
        let tenant = &self.tenants[self.draw.index(self.tenants.len())];
        let trace_id = self.draw.trace_id();

        // Intervals: each child takes an even share of its parent's interval, one after another.
        let mut intervals = [(0u64, 0u64); ANCHOR_SPANS_PER_TRACE];
        let mut child_slot = [0u64; ANCHOR_SPANS_PER_TRACE];
        let mut child_count = [0u64; ANCHOR_SPANS_PER_TRACE];
        for &parent in &PARENTS[1..] {
            child_count[parent] += 1;
        }
        intervals[0] = (start, start + root_nanos);
        for index in 1..ANCHOR_SPANS_PER_TRACE {
            let parent = PARENTS[index];
            let (parent_start, parent_end) = intervals[parent];
            let share = (parent_end - parent_start) / child_count[parent].max(1);
            let pad = share / 10;
            let slot_start = parent_start + child_slot[parent] * share;
            child_slot[parent] += 1;
            intervals[index] = (slot_start + pad, slot_start + share - pad);
        }

        let mut span_ids = [tailsift::SpanId::INVALID; ANCHOR_SPANS_PER_TRACE];
        for id in &mut span_ids {
            *id = self.draw.span_id();
        }
        // Children first, root last: the order they end in, roughly.
        for index in (0..ANCHOR_SPANS_PER_TRACE).rev() {
            let (span_start, span_end) = intervals[index];
            let failed = error_span == Some(index);
            let keys = &self.keys;
            // A boxed array: exactly five attributes, no spare capacity to shed.
            let attributes: Box<[KeyValue]> = Box::new([
                KeyValue {
                    key: keys.method.clone(),
                    value: Value::Str(keys.get.clone()),
                },
                KeyValue {
                    key: keys.route.clone(),
                    value: Value::Str(self.routes[index].clone()),
                },
                KeyValue {
                    key: keys.status_code.clone(),
                    value: if failed {
                        keys.internal_error.clone()
                    } else {
                        keys.ok.clone()
                    },
                },
                KeyValue {
                    key: keys.server_address.clone(),
                    value: Value::Str(keys.server.clone()),
                },
                KeyValue {
                    key: keys.tenant.clone(),
                    value: Value::Str(tenant.clone()),
                },
            ]);
            let mut span = Span {
                trace_id,
                span_id: span_ids[index],
                parent_span_id: if index == 0 {
                    tailsift::SpanId::INVALID
                } else {
                    span_ids[PARENTS[index]]
                },
                name: self.names[index].clone(),
                kind: match index {
                    0 => SpanKind::Server,
                    _ if child_count[index] == 0 => SpanKind::Client,
                    _ => SpanKind::Internal,
                },
                start_time_unix_nano: self.epoch + span_start,
                end_time_unix_nano: self.epoch + span_end,
                attributes,
                status_code: if failed {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                extra: failed.then(|| {
                    Box::new(SpanExtra {
                        status_message: keys.error_message.clone(),
                        ..SpanExtra::default()
                    })
                }),
                // Spelled out rather than `..Span::default()`, which would clone and drop the
                // default origin for every span.
                origin: self.origin.clone(),
                flags: 1,
            };
            // Its values re-held as the span is made, so that a span's own strings lie beside it
            // in the heap, as a decoder allocates them.
            self.values.hold(&mut span, &self.interner);
            out.spans.push(span);
            out.arrivals
                .push(span_end + self.draw.between(0, self.max_export_delay));
        }
        out.label.slow = kind == TraceKind::Slow;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{built_each_way, string_values};

    #[test]
    fn labelled_traces_round_to_the_nearest_trace() {
        let config = |traces| AnchorConfig {
            traces,
            ..AnchorConfig::default()
        };
        assert_eq!(config(10_000).labelled_traces(), 500);
        assert_eq!(config(30).labelled_traces(), 2);
        assert_eq!(config(9).labelled_traces(), 0);
    }

    #[test]
    fn values_are_held_as_asked_and_the_spans_are_the_same() {
        // The same traffic whatever the values' ownership: the same spans, field for field.
        let [shared, unique, immortal, decoded] = built_each_way(|values| {
            AnchorConfig {
                traces: 200,
                values,
                ..AnchorConfig::default()
            }
            .prebuild()
            .unwrap()
            .into_iter()
            .flat_map(|b| b.spans)
            .collect()
        });
        assert!(shared.iter().any(|s| s.extra.is_some()), "an error span");
        // A long value that two spans of one operation carry (its route) is held as asked;
        // short ones ("GET", "items.internal") are held in place whichever is asked.
        let pair = |spans: &[Span]| {
            let a = &spans[1];
            let b = spans[2..].iter().find(|s| s.name == a.name).unwrap();
            let pairs: Vec<(Str, Str)> = string_values(std::slice::from_ref(a))
                .into_iter()
                .cloned()
                .zip(string_values(std::slice::from_ref(b)).into_iter().cloned())
                .collect();
            assert!(!pairs.is_empty());
            pairs
        };
        for (a, b) in pair(&shared) {
            assert!(
                a.ptr_eq(&b) && !a.is_immortal(),
                "shared: one counted string"
            );
        }
        for (a, b) in pair(&unique) {
            assert!(
                !a.ptr_eq(&b) && !a.is_immortal(),
                "unique: a string per span"
            );
        }
        for span in &immortal {
            assert!(string_values(std::slice::from_ref(span))
                .iter()
                .all(|s| s.is_immortal()));
        }
        // Decoded: the route interned (one immortal string), the others a string per span.
        let decoded = pair(&decoded);
        assert!(decoded.iter().any(|(a, _)| a.is_immortal()));
        for (a, b) in decoded {
            assert_eq!(a.ptr_eq(&b), a.is_immortal(), "{a}");
        }
        // Two spans of the same trace with the same value share it unless unique.
        let errors: Vec<&Span> = unique.iter().filter(|s| s.extra.is_some()).collect();
        assert!(errors.len() >= 2);
        let (a, b) = (&errors[0].extra, &errors[1].extra);
        let (a, b) = (
            &a.as_ref().unwrap().status_message,
            &b.as_ref().unwrap().status_message,
        );
        assert!(a == b && !a.ptr_eq(b));
    }

    #[test]
    fn rejects_a_zero_rate() {
        let config = AnchorConfig {
            traces_per_second: 0.0,
            ..AnchorConfig::default()
        };
        assert!(config.traffic().is_err());
    }
}
