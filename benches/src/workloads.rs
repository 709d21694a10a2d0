//! What the benches and the harness measure: the anchor's and the mission's policies, engine
//! settings, synthetic traces of any size, and the OTLP-encoded size of a span.
//!
//! Every figure in `docs/BENCHMARKS.md` is stated for these definitions, so they live in one
//! place and the benches, the harness and its smoke test share them.

use std::sync::Arc;
use std::time::Duration;

use std::path::Path;

use tailsift::config_file::Format;
use tailsift::policy::latency::LatencyConfig;
use tailsift::policy::probabilistic::ProbabilisticConfig;
use tailsift::policy::status_code::StatusCodeConfig;
use tailsift::policy::{
    CelPolicyConfig, PolicyBuilders, PolicyConfig, PolicyConfigError, PolicyKind, PolicySet,
};
use tailsift::{
    Config, EngineConfig, KeyValue, Origin, Policy, Resource, Scope, Span, SpanId, SpanKind,
    StatusCode, Str, TraceId, Value,
};
use tailsift_otlp::prost::Message;

/// How the mission's four policies are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyForm {
    /// The engine's native built-ins.
    Native,
    /// The same four as CEL expressions (`tailsift-cel`).
    Cel,
}

impl PolicyForm {
    /// `"native"` or `"cel"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyForm::Native => "native",
            PolicyForm::Cel => "cel",
        }
    }

    /// Parses `"native"` or `"cel"` (`"wasm"` is refused until the WASM policies exist).
    pub fn from_name(name: &str) -> Result<PolicyForm, String> {
        match name {
            "native" => Ok(PolicyForm::Native),
            "cel" => Ok(PolicyForm::Cel),
            "wasm" => {
                Err("WASM policies do not exist yet (the WASM issue); use native or cel".into())
            }
            other => Err(format!(
                "unknown policy form {other:?}: expected native or cel"
            )),
        }
    }
}

/// The anchor's policies, exactly: status ERROR, latency ≥ 500 ms (absolute), probabilistic
/// 10% (a `probabilistic` policy at rate 0.1, as the reference's: one rate, no strata; until
/// session 7 it was a `representative` policy at 0.1 without a floor, which also keeps a
/// table of strata).
pub fn anchor_policies() -> Vec<PolicyConfig> {
    vec![
        PolicyConfig::new(
            "errors",
            PolicyKind::StatusCode(StatusCodeConfig {
                status_codes: vec!["ERROR".into()],
            }),
        ),
        PolicyConfig::new(
            "slow",
            PolicyKind::Latency(LatencyConfig::absolute(Duration::from_millis(500))),
        ),
        PolicyConfig::new(
            "sample",
            PolicyKind::Probabilistic(ProbabilisticConfig { rate: 0.1 }),
        ),
    ]
}

/// The anchor's policy set.
pub fn anchor_policy_set() -> Result<PolicySet, PolicyConfigError> {
    PolicySet::new(&anchor_policies(), &PolicyBuilders::new(), false)
}

/// The demo's embedded config (`tailsift demo` without `--config`): the mission's four policies
/// (`errors`, `slow` above the p95 of the root operation, `checkout` on the critical path,
/// `baseline` representative) and its budget. Read from the CLI's own file, so the mission
/// measured here is the demo's, policy for policy.
pub const DEMO_CONFIG: &str = include_str!("../../crates/tailsift-cli/src/default.toml");

/// CEL expressions equivalent to the demo's four policies, by policy name.
///
/// - `errors` (native: `http_server_errors = true`): status ERROR, or a server span answering
///   HTTP 5xx;
/// - `slow` (native: p95 of the root operation, `min_samples = 50`);
/// - `checkout` (native: `checkout:PlaceOrder`, `payment:Charge*`, `shipping:Quote` on the
///   critical path);
/// - `baseline` (native: representative at 0.1; CEL cannot stratify with a floor, so a flat
///   rate the controller's multiplier scales).
pub fn demo_cel_expressions() -> [(&'static str, &'static str); 4] {
    [
        (
            "errors",
            r#"trace.error_count > 0 || spans.exists(s, s.kind == "server" && s.attributes[?"http.response.status_code"].or(s.attributes[?"http.status_code"]).orValue(0) >= 500)"#,
        ),
        (
            "slow",
            "has(trace.baseline.p95_ms) && trace.baseline.samples >= 50 && trace.duration_ms > trace.baseline.p95_ms",
        ),
        (
            "checkout",
            r#"trace.critical_path.exists(s, s.service == "checkout" && s.name == "checkout:PlaceOrder" || s.service == "payment" && s.name.startsWith("payment:Charge") || s.service == "shipping" && s.name == "shipping:Quote")"#,
        ),
        ("baseline", "0.1"),
    ]
}

/// The demo's config, with its four policies in the given form.
pub fn demo_config(form: PolicyForm) -> Result<Config, String> {
    let mut config = Config::parse(DEMO_CONFIG, Format::Toml, Path::new("default.toml"))
        .map_err(|e| e.to_string())?;
    if form == PolicyForm::Cel {
        for policy in &mut config.policies {
            let expr = demo_cel_expressions()
                .iter()
                .find(|(name, _)| *name == policy.name)
                .map(|(_, expr)| expr.to_string())
                .ok_or_else(|| format!("no CEL form for the demo's policy {:?}", policy.name))?;
            policy.kind = PolicyKind::Cel(CelPolicyConfig { expr });
        }
    }
    Ok(config)
}

/// The mission's policies (the demo's four), in priority order, in the given form.
pub fn mission_policies(form: PolicyForm) -> Result<Vec<PolicyConfig>, String> {
    demo_config(form).map(|c| c.policies)
}

/// Extension builders with CEL.
pub fn builders() -> PolicyBuilders {
    PolicyBuilders::new().with_cel(|name, config| {
        tailsift_cel::CelPolicy::compile(name, &config.expr)
            .map(|p| Arc::new(p) as Arc<dyn Policy>)
            .map_err(|e| e.to_string())
    })
}

/// The mission's policy set in the given form (no controller: for per-trace benches).
pub fn mission_policy_set(form: PolicyForm) -> Result<PolicySet, String> {
    let policies = mission_policies(form)?;
    PolicySet::new(&policies, &builders(), false).map_err(|e| e.to_string())
}

/// The engine settings every figure is taken with: the defaults (8 shards on this 2-core
/// machine, 2 s completion grace, 30 s decision wait).
pub fn engine_config() -> EngineConfig {
    EngineConfig::default()
}

/// Builds spans of synthetic traces of any size, shaped like the anchor's (one shared resource
/// with 5 attributes, 5 attributes per span, shared names and keys), for benches that vary the
/// trace size.
pub struct SpanFactory {
    origin: Arc<Origin>,
    names: Vec<Str>,
    keys: [Str; 5],
    values: Vec<Value>,
}

impl Default for SpanFactory {
    fn default() -> SpanFactory {
        SpanFactory::new()
    }
}

impl SpanFactory {
    /// A factory with its shared strings built.
    pub fn new() -> SpanFactory {
        SpanFactory {
            origin: Arc::new(Origin {
                resource: Arc::new(Resource {
                    attributes: vec![
                        KeyValue::new("service.name", "bench-items"),
                        KeyValue::new("service.version", "1.4.2"),
                        KeyValue::new("host.name", "items-7d9f6c-x2k4q"),
                        KeyValue::new("deployment.environment.name", "bench"),
                        KeyValue::new("telemetry.sdk.language", "rust"),
                    ],
                    ..Resource::default()
                }),
                scope: Scope {
                    name: "tailsift-benches".into(),
                    ..Scope::default()
                },
            }),
            names: (0..16).map(|i| Str::from(format!("op-{i}"))).collect(),
            keys: [
                "http.request.method".into(),
                "http.route".into(),
                "http.response.status_code".into(),
                "server.address".into(),
                "app.tenant".into(),
            ],
            values: vec![
                Value::from("GET"),
                Value::from("/api/items/{id}"),
                Value::Int(200),
                Value::from("items.internal"),
                Value::from("tenant-3"),
            ],
        }
    }

    /// The spans of trace `trace` (any non-zero number) with `n` spans (at least 1): a tree of
    /// fan-out 10 whose children split their parent's interval, lasting `duration`, children
    /// first and the root last (the order they end in). `error` puts one ERROR span in it.
    pub fn trace(&self, trace: u128, n: usize, duration: Duration, error: bool) -> Vec<Span> {
        let n = n.max(1);
        let trace_id = TraceId::from_u128(mix(trace));
        let base = 1_700_000_000_000_000_000u64;
        let total = duration.as_nanos().max(1) as u64;
        // Interval of each span: parent i's children (10i+1 ..= 10i+10) share its interval.
        let mut intervals = vec![(base, base + total); n];
        for i in 1..n {
            let parent = (i - 1) / 10;
            let slot = ((i - 1) % 10) as u64;
            let siblings = (n - 1 - parent * 10).min(10) as u64;
            let (ps, pe) = intervals[parent];
            let share = ((pe - ps) / siblings.max(1)).max(1);
            let start = ps + slot * share;
            intervals[i] = (start, (start + share).min(pe).max(start));
        }
        let mut spans = Vec::with_capacity(n);
        for i in (0..n).rev() {
            let failed = error && i == n / 2;
            let attributes = self
                .keys
                .iter()
                .zip(&self.values)
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: if failed && k.as_str() == "http.response.status_code" {
                        Value::Int(500)
                    } else {
                        v.clone()
                    },
                })
                .collect();
            spans.push(Span {
                trace_id,
                span_id: SpanId::from_u64(i as u64 + 1),
                parent_span_id: if i == 0 {
                    SpanId::INVALID
                } else {
                    SpanId::from_u64(((i - 1) / 10) as u64 + 1)
                },
                flags: 1,
                name: self.names[i % self.names.len()].clone(),
                kind: if i == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Internal
                },
                start_time_unix_nano: intervals[i].0,
                end_time_unix_nano: intervals[i].1,
                attributes,
                status_code: if failed {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                extra: None,
                origin: self.origin.clone(),
            });
        }
        spans
    }
}

/// Spreads small trace numbers over the whole id space (SplitMix64 on both halves), so ids
/// hash and sample like real random ids. Never zero.
pub fn mix(v: u128) -> u128 {
    let half = |x: u64| {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let hi = half(v as u64 ^ 0x5555);
    let lo = half((v as u64).wrapping_add(1));
    (u128::from(hi) << 64 | u128::from(lo)).max(1)
}

/// The first `max` whole traces of `workload` (spans sorted by start time, as the engine
/// hands them to policies), for benches that evaluate policies on real-looking traces.
pub fn collect_traces(
    workload: &tailsift_traffic::Workload,
    max: usize,
) -> Result<Vec<Vec<Span>>, tailsift_traffic::ConfigError> {
    collect_traces_with(workload, max, |spans| spans)
}

/// [`collect_traces`], each batch's spans first passed through `batch` (as a collector would
/// receive them: [`through_otlp`]).
pub fn collect_traces_with(
    workload: &tailsift_traffic::Workload,
    max: usize,
    mut batch: impl FnMut(Vec<Span>) -> Vec<Span>,
) -> Result<Vec<Vec<Span>>, tailsift_traffic::ConfigError> {
    let mut open: std::collections::HashMap<TraceId, Vec<Span>> = std::collections::HashMap::new();
    let mut done = Vec::with_capacity(max);
    for traffic in workload.traffic()? {
        for span in batch(traffic.spans) {
            open.entry(span.trace_id).or_default().push(span);
        }
        for truth in traffic.completed {
            if let Some(mut spans) = open.remove(&truth.trace_id) {
                tailsift::view::sort_spans(&mut spans);
                done.push(spans);
                if done.len() == max {
                    return Ok(done);
                }
            }
        }
    }
    Ok(done)
}

/// `spans` written as one OTLP protobuf request and read back by the OTLP bridge, as a
/// collector receives them: each resource and scope of the request behind `Arc`s of its own.
pub fn through_otlp(spans: Vec<Span>, interner: &tailsift::Interner) -> Vec<Span> {
    let mut request = Vec::new();
    tailsift_otlp::encode_spans(&spans, &mut request);
    tailsift_otlp::spans_from_protobuf(&request, interner).expect("the bridge reads what it writes")
}

/// The OTLP protobuf-encoded size of `span` as a `Span` message (its resource and scope are
/// encoded once per batch, not per span, so they are not counted).
pub fn otlp_encoded_len(span: &Span) -> usize {
    let request = tailsift_otlp::request_from_spans(std::slice::from_ref(span));
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.encoded_len())
        .sum()
}

/// Bytes of heap a span owns alone (its attributes, its extra box if any, and the box's event
/// and link vectors, by capacity), without the strings and origin it shares with other spans.
pub fn owned_heap_bytes(span: &Span) -> usize {
    let kv = std::mem::size_of::<KeyValue>();
    let mut n = span.attributes.len() * kv;
    if let Some(extra) = &span.extra {
        n += std::mem::size_of::<tailsift::SpanExtra>();
        n += extra.events.capacity() * std::mem::size_of::<tailsift::Event>();
        for e in &extra.events {
            n += e.attributes.capacity() * kv;
        }
        n += extra.links.capacity() * std::mem::size_of::<tailsift::Link>();
        for l in &extra.links {
            n += l.attributes.capacity() * kv;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_sets_build() {
        assert_eq!(anchor_policy_set().map(|s| s.len()).ok(), Some(3));
        assert_eq!(
            mission_policy_set(PolicyForm::Native).map(|s| s.len()).ok(),
            Some(4)
        );
        assert_eq!(
            mission_policy_set(PolicyForm::Cel).map(|s| s.len()).ok(),
            Some(4)
        );
    }

    #[test]
    fn synthetic_traces_have_one_root_and_nested_children() {
        let factory = SpanFactory::new();
        for n in [1, 10, 11, 1000] {
            let spans = factory.trace(7, n, Duration::from_millis(50), true);
            assert_eq!(spans.len(), n);
            assert_eq!(spans.iter().filter(|s| s.is_root()).count(), 1);
            assert!(spans
                .iter()
                .all(|s| s.end_time_unix_nano >= s.start_time_unix_nano));
        }
    }
}
