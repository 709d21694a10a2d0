//! The shop's tables ([`crate::services`]) resolved once into shared values: one `Arc`
//! origin (resource and scope) per service, one `Str` per name and key, one `Value` per constant
//! attribute, calls by index. Making a span then costs reference-count increments, not
//! allocations of strings.

use std::sync::Arc;

use tailsift::{KeyValue, Origin, Resource, Scope, SpanKind, Str, Value};

use crate::services::{
    CallMode, Protocol, CRITICAL_OPERATIONS, FAILURES, MAX_DEPTH, OPERATIONS, ROOTS, SERVICES,
};

/// One service: what its spans share.
pub(crate) struct Service {
    pub(crate) origin: Arc<Origin>,
    /// Its host name, as callees see it in `net.peer.name`.
    pub(crate) host: Value,
    pub(crate) exception_type: Value,
    pub(crate) exception_message: Value,
    pub(crate) status_message: Str,
}

/// The attribute that reports a call's outcome, with its value on success, on failure where
/// the failure arose, and on failure passed up from a callee.
pub(crate) struct OutcomeAttribute {
    pub(crate) key: Str,
    pub(crate) ok: Value,
    pub(crate) failed: Value,
    pub(crate) upstream_failed: Value,
}

/// One operation, resolved.
pub(crate) struct Operation {
    pub(crate) service: usize,
    pub(crate) name: Str,
    pub(crate) kind: SpanKind,
    pub(crate) self_median_nanos: f64,
    pub(crate) sigma: f64,
    pub(crate) calls: Vec<Call>,
    pub(crate) critical: bool,
    /// A queue consumer: the kind of span a slow consumer makes late.
    pub(crate) consumer: bool,
    pub(crate) constant_attributes: Vec<KeyValue>,
    pub(crate) outcome: Option<OutcomeAttribute>,
    /// Carries `user.tier` (the HTTP entry points).
    pub(crate) user_tier: bool,
    /// Carries `net.peer.name` of the calling service (RPC servers).
    pub(crate) caller_peer: bool,
}

/// One call of an operation, resolved.
#[derive(Clone, Copy)]
pub(crate) struct Call {
    pub(crate) operation: usize,
    pub(crate) probability: f64,
    pub(crate) min: u8,
    pub(crate) max: u8,
    pub(crate) mode: CallMode,
}

/// Keys and values that spans add depending on what happened to them.
pub(crate) struct DynamicKeys {
    pub(crate) user_tier: Str,
    pub(crate) premium: Value,
    pub(crate) standard: Value,
    pub(crate) free: Value,
    pub(crate) net_peer_name: Str,
    pub(crate) error_type: Str,
    pub(crate) exception: Str,
    pub(crate) exception_type: Str,
    pub(crate) exception_message: Str,
    /// Status message of a span that failed because a callee did.
    pub(crate) upstream_message: Str,
}

/// The whole shop.
pub(crate) struct Catalog {
    pub(crate) services: Vec<Service>,
    pub(crate) operations: Vec<Operation>,
    /// Root operations with the running total of their weights, for weighted choice.
    pub(crate) roots: Vec<(usize, f64)>,
    pub(crate) keys: DynamicKeys,
}

/// A constant attribute; its key is immortal, as an OTLP bridge's interner would make it.
fn kv(key: &str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(Str::immortal(key), value)
}

impl Catalog {
    /// Resolves the tables. They are constants, checked by this module's tests, so a call to
    /// an unknown operation is a bug in them: it panics on first use in any test.
    pub(crate) fn build() -> Catalog {
        let services: Vec<Service> = SERVICES
            .iter()
            .zip(FAILURES)
            .enumerate()
            .map(|(index, (&(name, language), &(exception, message)))| {
                let host = format!("{name}-6d8f9b{index:x}c4-x{}q", index * 7 % 10);
                Service {
                    origin: Arc::new(Origin {
                        resource: Arc::new(Resource {
                            attributes: vec![
                                kv("service.name", name),
                                kv("service.namespace", "shop"),
                                kv(
                                    "service.version",
                                    format!("1.{}.{}", index % 4, index).as_str(),
                                ),
                                kv("service.instance.id", host.as_str()),
                                kv("host.name", host.as_str()),
                                kv("deployment.environment.name", "production"),
                                kv("telemetry.sdk.language", language),
                                kv("telemetry.sdk.name", "opentelemetry"),
                            ],
                            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                            ..Resource::default()
                        }),
                        scope: Scope {
                            name: format!("opentelemetry.instrumentation.{language}").into(),
                            version: "1.30.0".into(),
                            ..Scope::default()
                        },
                    }),
                    host: host.as_str().into(),
                    exception_type: exception.into(),
                    exception_message: message.into(),
                    status_message: format!("{name}: {message}").into(),
                }
            })
            .collect();

        let key_of = |service: &str, name: &str| format!("{service}/{name}");
        let index_of = |target: &str| {
            OPERATIONS
                .iter()
                .position(|o| key_of(o.service, o.name) == target)
                .unwrap_or_else(|| panic!("the shop's tables call unknown operation {target:?}"))
        };
        let service_of = |service: &str| {
            SERVICES
                .iter()
                .position(|&(name, _)| name == service)
                .unwrap_or_else(|| panic!("the shop's tables name unknown service {service:?}"))
        };

        let operations = OPERATIONS
            .iter()
            .map(|spec| {
                let (kind, constant_attributes, outcome) = protocol_attributes(spec.protocol);
                Operation {
                    service: service_of(spec.service),
                    name: Str::immortal(spec.name),
                    kind,
                    self_median_nanos: spec.self_median_ms * 1e6,
                    sigma: spec.sigma,
                    calls: spec
                        .calls
                        .iter()
                        .map(|c| Call {
                            operation: index_of(c.to),
                            probability: c.probability,
                            min: c.min,
                            max: c.max.max(c.min),
                            mode: c.mode,
                        })
                        .collect(),
                    critical: CRITICAL_OPERATIONS.contains(&spec.name),
                    consumer: kind == SpanKind::Consumer,
                    constant_attributes,
                    outcome,
                    user_tier: matches!(spec.protocol, Protocol::HttpServer { .. }),
                    caller_peer: matches!(spec.protocol, Protocol::Rpc { .. }),
                }
            })
            .collect();

        let mut total = 0.0;
        let roots = ROOTS
            .iter()
            .map(|&(target, weight)| {
                total += weight;
                (index_of(target), total)
            })
            .collect();

        Catalog {
            services,
            operations,
            roots,
            keys: DynamicKeys {
                user_tier: Str::immortal("user.tier"),
                premium: "premium".into(),
                standard: "standard".into(),
                free: "free".into(),
                net_peer_name: Str::immortal("net.peer.name"),
                error_type: Str::immortal("error.type"),
                exception: Str::immortal("exception"),
                exception_type: Str::immortal("exception.type"),
                exception_message: Str::immortal("exception.message"),
                upstream_message: "upstream call failed".into(),
            },
        }
    }

    /// Picks a root operation by weight; `unit` is uniform in `[0, 1)`.
    pub(crate) fn pick_root(&self, unit: f64) -> usize {
        let total = self.roots.last().map_or(0.0, |&(_, t)| t);
        let target = unit * total;
        let at = self
            .roots
            .partition_point(|&(_, running)| running <= target);
        self.roots[at.min(self.roots.len() - 1)].0
    }

    /// Expected spans in a trace rooted at `operation` at `depth` (the root is depth 1).
    pub(crate) fn expected_spans(&self, operation: usize, depth: u8) -> f64 {
        if depth >= MAX_DEPTH {
            return 1.0;
        }
        1.0 + self.operations[operation]
            .calls
            .iter()
            .map(|c| {
                let repetitions = (f64::from(c.min) + f64::from(c.max)) / 2.0;
                c.probability * repetitions * self.expected_spans(c.operation, depth + 1)
            })
            .sum::<f64>()
    }

    /// Expected spans per trace over the mix of root operations.
    pub(crate) fn mean_spans_per_trace(&self) -> f64 {
        let mut previous = 0.0;
        let mut weighted = 0.0;
        for &(operation, running) in &self.roots {
            weighted += (running - previous) * self.expected_spans(operation, 1);
            previous = running;
        }
        weighted / previous.max(f64::MIN_POSITIVE)
    }
}

/// Span kind, constant attributes and outcome attribute of a protocol.
fn protocol_attributes(protocol: Protocol) -> (SpanKind, Vec<KeyValue>, Option<OutcomeAttribute>) {
    let http_status = |ok: i64| OutcomeAttribute {
        key: Str::immortal("http.response.status_code"),
        ok: Value::Int(ok),
        failed: Value::Int(500),
        upstream_failed: Value::Int(502),
    };
    match protocol {
        Protocol::HttpServer { method, route } => (
            SpanKind::Server,
            vec![
                kv("http.request.method", method),
                kv("http.route", route),
                kv("net.peer.name", "ingress-nginx"),
            ],
            Some(http_status(if method == "POST" { 201 } else { 200 })),
        ),
        Protocol::HttpClient { method, url, peer } => (
            SpanKind::Client,
            vec![
                kv("http.request.method", method),
                kv("url.full", url),
                kv("net.peer.name", peer),
                kv("server.port", 443i64),
            ],
            Some(OutcomeAttribute {
                failed: Value::Int(503),
                upstream_failed: Value::Int(503),
                ..http_status(200)
            }),
        ),
        Protocol::Rpc { service, method } => (
            SpanKind::Server,
            vec![
                kv("rpc.system", "grpc"),
                kv("rpc.service", service),
                kv("rpc.method", method),
            ],
            Some(OutcomeAttribute {
                key: Str::immortal("rpc.grpc.status_code"),
                ok: Value::Int(0),
                failed: Value::Int(13),
                upstream_failed: Value::Int(14),
            }),
        ),
        Protocol::Db {
            system,
            operation,
            collection,
            peer,
        } => (
            SpanKind::Client,
            vec![
                kv("db.system", system),
                kv("db.operation.name", operation),
                kv("db.collection.name", collection),
                kv("net.peer.name", peer),
            ],
            None,
        ),
        Protocol::Messaging {
            destination,
            operation,
        } => (
            if operation == "publish" {
                SpanKind::Producer
            } else {
                SpanKind::Consumer
            },
            vec![
                kv("messaging.system", "kafka"),
                kv("messaging.destination.name", destination),
                kv("messaging.operation.type", operation),
                kv("net.peer.name", "kafka-0.kafka"),
            ],
            None,
        ),
        Protocol::Internal => (SpanKind::Internal, Vec::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_resolve_and_every_service_has_its_failure() {
        assert_eq!(SERVICES.len(), FAILURES.len());
        let catalog = Catalog::build();
        assert_eq!(catalog.services.len(), 12);
        assert!(catalog.operations.iter().all(|o| o.self_median_nanos > 0.0));
        for name in CRITICAL_OPERATIONS {
            assert!(
                catalog.operations.iter().any(|o| &*o.name == *name),
                "critical operation {name} is not in the tables"
            );
        }
    }

    #[test]
    fn weighted_root_choice_covers_every_root() {
        let catalog = Catalog::build();
        assert_eq!(catalog.pick_root(0.0), catalog.roots[0].0);
        assert_eq!(
            catalog.pick_root(0.999_999_9),
            catalog.roots[catalog.roots.len() - 1].0
        );
        let mean = catalog.mean_spans_per_trace();
        assert!((3.0..30.0).contains(&mean), "mean spans per trace {mean}");
    }
}
