//! Policies through the public API: configs as an operator writes them, a `PolicySet` deciding
//! traces, the controller hooks, and the unbiasedness of adjusted counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tailsift::policy::GroupBy;
use tailsift::{
    Decider, KeyValue, Origin, Outcome, Policy, PolicyBuilders, PolicyConfig, PolicyError,
    PolicySet, Resource, Scope, Span, SpanId, StatusCode, TraceFlags, TraceId, TraceView, Verdict,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    policy: Vec<PolicyConfig>,
}

fn parse(toml_text: &str) -> Result<Vec<PolicyConfig>, String> {
    toml::from_str::<File>(toml_text)
        .map(|f| f.policy)
        .map_err(|e| e.to_string())
}

const MISSION: &str = r#"
[[policy]]
name = "errors"
kind = "errors"
http_server_errors = true

[[policy]]
name = "slow"
kind = "latency"
quantile = 0.95
group_by = ["service.name", "root.name"]
min_samples = 100
fallback_threshold = "500ms"

[[policy]]
name = "checkout"
kind = "critical_path"
operations = ["checkout:*", "payment:Charge*"]

[[policy]]
name = "premium"
kind = "cel"
expr = 'spans.exists(s, s.attributes["user.tier"] == "premium")'

[[policy]]
name = "baseline"
kind = "representative"
rate = 0.01
min_per_minute = 1
"#;

/// Stands in for tailsift-cel: keeps traces with `user.tier = premium` on any span.
struct StubCel {
    name: String,
}

impl Policy for StubCel {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let premium = trace.spans().iter().any(|s| {
            s.attribute("user.tier")
                .and_then(|v| v.as_str())
                .is_some_and(|t| t == "premium")
        });
        Ok(if premium {
            Verdict::keep(self.name.as_str())
        } else {
            Verdict::Abstain
        })
    }
}

fn cel_builders() -> PolicyBuilders {
    PolicyBuilders::new().with_cel(|name, config| {
        assert!(config.expr.contains("premium"));
        Ok(Arc::new(StubCel {
            name: name.to_string(),
        }) as Arc<dyn Policy>)
    })
}

fn span(service: &str, name: &str, id: u64, parent: u64, start_ms: u64, end_ms: u64) -> Span {
    Span {
        span_id: SpanId::from_u64(id),
        parent_span_id: SpanId::from_u64(parent),
        name: name.into(),
        start_time_unix_nano: start_ms * 1_000_000,
        end_time_unix_nano: end_ms * 1_000_000,
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

fn decide(set: &PolicySet, id: u128, spans: &[Span], now: Duration) -> Outcome {
    let mut view = TraceView::new(TraceId::from_u128(id), spans, TraceFlags::default(), now);
    set.decide(&mut view)
}

/// Randomness 0: kept only by rate-1 policies.
const LOW: u128 = 1 << 64;

#[test]
fn mission_config_parses_and_builds() {
    let configs = parse(MISSION).unwrap();
    let kinds: Vec<_> = configs.iter().map(|c| c.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "errors",
            "latency",
            "critical_path",
            "cel",
            "representative"
        ]
    );
    let set = PolicySet::new(&configs, &cel_builders(), false).unwrap();
    assert_eq!(set.index_of("premium"), Some(3));
    assert!(set.baselines().is_some());

    let t = Duration::from_secs(10);
    let reasons = |out: &Outcome| {
        out.reasons
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
    };
    // A premium user's trace: kept by the CEL stand-in, at rate 1.
    let mut premium = vec![span("shop", "GET /", 1, 0, 0, 10)];
    premium[0].push_attribute(KeyValue::new("user.tier", "premium"));
    let out = decide(&set, LOW, &premium, t);
    assert!(out.keep);
    assert!(reasons(&out).contains(&"premium".to_string()));
    // An HTTP 503 on a server span: errors.
    let mut failed = vec![span("shop", "GET /", 1, 0, 0, 10)];
    failed[0].kind = tailsift::SpanKind::Server;
    failed[0].push_attribute(KeyValue::new("http.status_code", "503"));
    assert_eq!(reasons(&decide(&set, LOW, &failed, t))[0], "errors");
    // A checkout whose payment charge is on the critical path.
    let checkout = vec![
        span("checkout", "POST /buy", 1, 0, 0, 100),
        span("payment", "ChargeCard", 2, 1, 5, 95),
    ];
    assert!(reasons(&decide(&set, LOW, &checkout, t)).contains(&"checkout".to_string()));
    // A slow trace before min_samples: the 500 ms fallback.
    let slow = vec![span("search", "GET /q", 1, 0, 0, 700)];
    assert!(reasons(&decide(&set, LOW, &slow, t)).contains(&"slow".to_string()));
    // An ordinary trace: only the representative sample, which randomness 0 fails (its
    // stratum's floor gave rate 1 to the first trace of "search", so use a fresh trace later).
    let plain = vec![span("search", "GET /q", 1, 0, 0, 20)];
    let out = decide(&set, LOW, &plain, t + Duration::from_secs(1));
    assert_eq!(reasons(&out), ["baseline"]);
}

#[test]
fn unknown_keys_name_the_policy_and_the_key() {
    let e = parse(
        r#"
[[policy]]
name = "slow"
kind = "latency"
quantil = 0.9
"#,
    )
    .unwrap_err();
    assert!(e.contains("policy `slow`") && e.contains("quantil"), "{e}");
    assert!(
        e.contains("expected one of"),
        "serde lists the allowed keys: {e}"
    );
}

#[test]
fn unknown_kinds_name_the_policy_and_list_the_kinds() {
    let e = parse(
        r#"
[[policy]]
name = "slow"
kind = "latencyy"
"#,
    )
    .unwrap_err();
    assert!(
        e.contains("policy `slow`") && e.contains("unknown kind `latencyy`"),
        "{e}"
    );
    assert!(e.contains("critical_path"), "{e}");
    let e = parse("[[policy]]\nname = \"x\"\n").unwrap_err();
    assert!(e.contains("policy `x`: missing `kind`"), "{e}");
}

#[test]
fn bad_values_name_the_policy_the_key_and_what_is_allowed() {
    let e = parse("[[policy]]\nname = \"slow\"\nkind = \"latency\"\nquantile = 1.5\n").unwrap_err();
    assert!(
        e.contains("policy `slow`") && e.contains("`quantile`") && e.contains("between 0 and 1"),
        "{e}"
    );
    let e = parse("[[policy]]\nname = \"slow\"\nkind = \"latency\"\nquantile = \"high\"\n")
        .unwrap_err();
    assert!(
        e.contains("policy `slow`") && e.contains("`quantile`"),
        "{e}"
    );
    let e =
        parse("[[policy]]\nname = \"slow\"\nkind = \"latency\"\nfallback_threshold = \"soon\"\n")
            .unwrap_err();
    assert!(e.contains("`fallback_threshold`"), "{e}");
    let e =
        parse("[[policy]]\nname = \"b\"\nkind = \"representative\"\nrate = -0.5\n").unwrap_err();
    assert!(e.contains("policy `b`") && e.contains("`rate`"), "{e}");
    let e = parse("[[policy]]\nname = \"b\"\nkind = \"representative\"\n").unwrap_err();
    assert!(
        e.contains("policy `b`") && e.contains("missing field `rate`"),
        "{e}"
    );
    let e =
        parse("[[policy]]\nname = \"c\"\nkind = \"critical_path\"\noperations = []\n").unwrap_err();
    assert!(
        e.contains("policy `c`") && e.contains("`operations`"),
        "{e}"
    );
    let e =
        parse("[[policy]]\nname = \"e\"\nkind = \"errors\"\non_error = \"explode\"\n").unwrap_err();
    assert!(
        e.contains("policy `e`") && e.contains("`on_error`") && e.contains("abstain"),
        "{e}"
    );
    let e = parse("[[policy]]\nname = \"a\"\nkind = \"always\"\nrate = 1\n").unwrap_err();
    assert!(e.contains("policy `a`") && e.contains("`rate`"), "{e}");
}

#[test]
fn a_missing_extension_builder_is_a_clear_error() {
    let configs = parse(MISSION).unwrap();
    let e = PolicySet::new(&configs, &PolicyBuilders::new(), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("policy `premium`: kind `cel` needs the tailsift-cel crate's builder"),
        "{e}"
    );
    let failing = PolicyBuilders::new().with_cel(|_, _| Err("syntax error at 3".to_string()));
    let e = PolicySet::new(&configs, &failing, false)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "policy `premium`: syntax error at 3");
    let wasm = parse("[[policy]]\nname = \"w\"\nkind = \"wasm\"\nmodule = \"p.wasm\"\ntimeout = \"2ms\"\nmax_memory = \"16MiB\"\nfuel = 100000\n").unwrap();
    let e = PolicySet::new(&wasm, &PolicyBuilders::new(), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kind `wasm` needs the tailsift-wasm crate's builder"),
        "{e}"
    );
}

#[test]
fn probabilistic_keeps_the_rate_consistently_beside_other_policies() {
    let configs = parse(
        r#"
[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "sample"
kind = "probabilistic"
rate = 0.1
"#,
    )
    .unwrap();
    let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
    let t = Duration::from_secs(10);
    let plain = vec![span("shop", "GET /", 1, 0, 0, 10)];
    // Over 20,000 random trace ids, about a tenth is kept, each counting for ten traces, and
    // the same ids decide the same way a second time.
    let mut rng = SmallRng::seed_from_u64(7);
    let ids: Vec<u128> = (0..20_000).map(|_| rng.gen()).collect();
    let decided: Vec<Outcome> = ids.iter().map(|&id| decide(&set, id, &plain, t)).collect();
    let kept: Vec<&Outcome> = decided.iter().filter(|o| o.keep).collect();
    assert!((1_800..=2_200).contains(&kept.len()), "kept {}", kept.len());
    for out in &kept {
        assert_eq!(out.reasons, ["sample"]);
        assert!(
            (out.adjusted_count - 10.0).abs() < 1e-9,
            "{}",
            out.adjusted_count
        );
    }
    for (&id, first) in ids.iter().zip(&decided).take(1_000) {
        assert_eq!(decide(&set, id, &plain, t).keep, first.keep);
    }
    // An error is kept whatever its randomness, at rate 1, with both reasons.
    let mut failed = plain.clone();
    failed[0].status_code = StatusCode::Error;
    let out = decide(&set, LOW, &failed, t);
    assert!(out.keep && out.adjusted_count == 1.0);
    assert_eq!(out.reasons, ["errors", "sample"]);
    // OpenTelemetry's key is not ours: refused, naming it.
    let e = parse(
        r#"
[[policy]]
name = "sample"
kind = "probabilistic"
sampling_percentage = 10
"#,
    )
    .unwrap_err();
    assert!(
        e.contains("policy `sample`") && e.contains("sampling_percentage"),
        "{e}"
    );
}

#[test]
fn composites_are_configured_inline_and_drop_vetoes_health_checks() {
    let configs = parse(
        r#"
[[policy]]
name = "health"
kind = "drop"
policy = { kind = "string_attribute", key = "http.route", values = ["/health", "/ready"] }

[[policy]]
name = "everything"
kind = "always"

[[policy]]
name = "big-or-failed"
kind = "or"
policies = [
  { kind = "span_count", min = 3 },
  { kind = "status_code", status_codes = ["ERROR"] },
]

[[policy]]
name = "not-batch"
kind = "not"
policy = { kind = "string_attribute", key = "service.name", value = "batch", scope = "resource" }
"#,
    )
    .unwrap();
    let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
    let mut health = vec![span("web", "GET /health", 1, 0, 0, 1)];
    health[0].push_attribute(KeyValue::new("http.route", "/health"));
    let out = decide(&set, LOW, &health, Duration::ZERO);
    assert!(!out.keep);
    assert_eq!(out.reasons.len(), 1);
    assert_eq!(&*out.reasons[0], "health");

    let mut failed = vec![span("batch", "job", 1, 0, 0, 1)];
    failed[0].status_code = StatusCode::Error;
    let out = decide(&set, LOW, &failed, Duration::ZERO);
    let reasons: Vec<&str> = out.reasons.iter().map(|r| &**r).collect();
    assert_eq!(reasons, ["everything", "big-or-failed"]);

    // Errors in sub-policies name them by their place.
    let e = parse(
        r#"
[[policy]]
name = "health"
kind = "drop"
policy = { kind = "string_attribute", key = "http.route", regex = "(" }
"#,
    )
    .unwrap_err();
    assert!(
        e.contains("policy `health.policy`: `regex` does not compile"),
        "{e}"
    );
    let e = parse("[[policy]]\nname = \"o\"\nkind = \"or\"\npolicies = [{ kind = \"nope\" }]\n")
        .unwrap_err();
    assert!(
        e.contains("policy `o`: `policies`: sub-policy: unknown kind `nope`"),
        "{e}"
    );
}

#[test]
fn latency_keeps_above_the_groups_p95_after_min_samples() {
    let configs = parse(
        r#"
[[policy]]
name = "slow"
kind = "latency"
min_samples = 100
fallback_threshold = "500ms"
"#,
    )
    .unwrap();
    let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
    let now = Duration::from_secs(30);
    let trace = |service: &str, ms: u64| vec![span(service, "GET /", 1, 0, 0, ms)];
    // Search is normally 1..2 s: before 100 samples the fallback keeps all of them.
    assert!(decide(&set, LOW, &trace("search", 1_000), now).keep);
    for i in 0..200u64 {
        decide(&set, LOW, &trace("search", 1_000 + i * 5), now);
    }
    // Now its p95 is about 1.95 s: 1.5 s is ordinary, 2.5 s slow.
    assert!(!decide(&set, LOW, &trace("search", 1_500), now).keep);
    assert!(decide(&set, LOW, &trace("search", 2_500), now).keep);
    // A cache group with no history yet is still on the fallback.
    assert!(!decide(&set, LOW, &trace("cache", 300), now).keep);
    assert!(decide(&set, LOW, &trace("cache", 600), now).keep);
}

#[test]
fn custom_policies_read_the_baseline_attached_before_them() {
    /// Keeps traces over twice their group's median, once the baseline has 10 samples.
    struct TwiceMedian;
    impl Policy for TwiceMedian {
        fn name(&self) -> &str {
            "twice-median"
        }
        fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
            Ok(match trace.baseline() {
                Some(b) if b.samples >= 10 && trace.duration() > b.p50 * 2 => {
                    Verdict::keep("twice-median")
                }
                _ => Verdict::Abstain,
            })
        }
    }
    let set = PolicySet::from_policies(vec![Arc::new(TwiceMedian)], false);
    let now = Duration::from_secs(1);
    let trace = |ms: u64| vec![span("api", "GET /", 1, 0, 0, ms)];
    for _ in 0..10 {
        assert!(!decide(&set, LOW, &trace(1_000), now).keep);
    }
    assert!(decide(&set, LOW, &trace(2_100), now).keep);
    assert!(!decide(&set, LOW, &trace(1_900), now).keep);
}

#[test]
fn controller_hooks_drain_demand_and_publish_rates_atomically() {
    let configs = parse(
        r#"
[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "baseline"
kind = "representative"
rate = 0.5
"#,
    )
    .unwrap();
    let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
    let mut failed = vec![span("api", "GET /", 1, 0, 0, 1)];
    failed[0].status_code = StatusCode::Error;
    let ok = vec![span("api", "GET /", 1, 0, 0, 1)];
    let high = (1u128 << 56) - 1;
    decide(&set, LOW, &failed, Duration::ZERO); // kept by errors
    decide(&set, LOW, &ok, Duration::ZERO); // dropped: randomness 0 fails 0.5
    decide(&set, high, &ok, Duration::ZERO); // kept by baseline
    let interval = set.drain_interval();
    let (errors, baseline) = (&interval[0], &interval[1]);
    assert_eq!((errors.matched.traces, errors.kept.traces), (1, 1));
    assert_eq!((baseline.matched.traces, baseline.kept.traces), (3, 2));
    assert_eq!(baseline.strata.len(), 1);
    assert_eq!(baseline.strata[0].matched.traces, 3);
    assert_eq!(&*baseline.strata[0].label, "api|GET /");
    assert_eq!(baseline.matched.spans, 3);
    let (ok_bytes, failed_bytes) = (ok[0].size_estimate(), failed[0].size_estimate());
    assert_eq!(baseline.matched.bytes, (2 * ok_bytes + failed_bytes) as u64);

    // Cut errors to 0 and the api stratum to rate 1, in one swap.
    let mut rates = (*set.rates()).clone();
    rates.set_multiplier(0, 0.0);
    rates.set_stratum_rate(1, baseline.strata[0].key, 1.0);
    set.publish_rates(rates);
    let out = decide(&set, LOW, &failed, Duration::ZERO);
    assert!(out.keep, "kept by the stratum at rate 1");
    assert_eq!(out.adjusted_count, 1.0);
    let totals = set.totals();
    assert_eq!(totals[1].matched.traces, 4);
    assert_eq!(
        totals[0].kept.traces, 2,
        "errors still matched the kept trace"
    );
}

/// The unbiased-estimator check: over 100,000 traces with known counts per stratum, the adjusted
/// counts of kept traces add up to the true counts within 3%, with different rates per stratum
/// (set through the controller hook), a floor raising the rare stratum, and an errors policy
/// overlapping all of them.
#[test]
fn adjusted_counts_estimate_true_counts_per_stratum() {
    let configs = parse(
        r#"
[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "baseline"
kind = "representative"
rate = 0.05
min_per_minute = 500
"#,
    )
    .unwrap();
    let set = PolicySet::new(&configs, &PolicyBuilders::new(), false).unwrap();
    // (service, share of traffic, controller rate; None = the configured rate and floor)
    let strata: [(&str, f64, Option<f64>); 4] = [
        ("web", 0.45, Some(0.2)),
        ("api", 0.30, Some(0.5)),
        ("batch", 0.15, Some(0.8)),
        ("rare", 0.10, None),
    ];
    let by = GroupBy::root_operation();
    let key_of = |service: &str| {
        let spans = [span(service, "op", 1, 0, 0, 1)];
        by.key(&TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        ))
    };
    let mut rates = (*set.rates()).clone();
    for (service, _, rate) in &strata {
        if let Some(r) = rate {
            rates.set_stratum_rate(1, key_of(service), *r);
        }
    }
    set.publish_rates(rates);

    let templates: Vec<Vec<Span>> = strata
        .iter()
        .map(|(s, _, _)| vec![span(s, "op", 1, 0, 0, 1)])
        .collect();
    let mut failed_templates = templates.clone();
    for t in &mut failed_templates {
        t[0].status_code = StatusCode::Error;
    }

    let mut rng = SmallRng::seed_from_u64(0x7a11_5157);
    let mut truth: HashMap<&str, f64> = HashMap::new();
    let mut estimate: HashMap<&str, f64> = HashMap::new();
    let mut kept = 0u64;
    for i in 0..100_000u64 {
        let pick: f64 = rng.gen();
        let mut acc = 0.0;
        let s = strata
            .iter()
            .position(|(_, share, _)| {
                acc += share;
                pick < acc
            })
            .unwrap_or(strata.len() - 1);
        let error = rng.gen_bool(0.03);
        let spans = if error {
            &failed_templates[s]
        } else {
            &templates[s]
        };
        let id: u128 = rng.gen();
        // 10,000 traces a minute.
        let out = decide(&set, id, spans, Duration::from_millis(i * 6));
        let service = strata[s].0;
        *truth.entry(service).or_default() += 1.0;
        if out.keep {
            kept += 1;
            *estimate.entry(service).or_default() += out.adjusted_count;
        }
        if error {
            assert!(
                out.keep && out.adjusted_count == 1.0,
                "errors are kept at rate 1"
            );
        }
    }
    for (service, _, _) in &strata {
        let (t, e) = (truth[service], estimate[service]);
        let err = (e - t).abs() / t;
        assert!(
            err < 0.03,
            "{service}: true {t}, estimated {e:.0} ({:.2}%)",
            err * 100.0
        );
    }
    assert!(kept < 50_000, "a sample, not everything: kept {kept}");
    // The floor lifted the rare stratum (1,000 a minute, floor 500) to about 0.5.
    let rare = set
        .drain_interval()
        .remove(1)
        .strata
        .into_iter()
        .find(|s| &*s.label == "rare|op")
        .unwrap();
    assert!((0.4..=0.6).contains(&rare.rate), "rare rate {}", rare.rate);
}

#[test]
fn decide_explained_gives_each_verdict_and_counts_once() {
    let configs = parse(
        r#"
[[policy]]
name = "errors"
kind = "errors"

[[policy]]
name = "sample"
kind = "representative"
rate = 0.5

[[policy]]
name = "health"
kind = "drop"
policy = { kind = "string_attribute", key = "http.route", values = ["/healthz"] }
"#,
    )
    .expect("valid policies");
    let set = PolicySet::new(&configs, &PolicyBuilders::default(), false).expect("builds");
    let spans = vec![Span {
        trace_id: TraceId::from_u128(u128::MAX),
        span_id: SpanId::from_u64(1),
        status_code: StatusCode::Error,
        ..Span::default()
    }];
    let mut view = TraceView::new(
        TraceId::from_u128(u128::MAX),
        &spans,
        TraceFlags::default(),
        Duration::ZERO,
    );
    let explained = set.decide_explained(&mut view);
    let kinds: Vec<&str> = explained.policies.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, ["errors", "representative", "drop"]);
    assert!(matches!(explained.policies[0].verdict, Verdict::Keep { rate, .. } if rate == 1.0));
    assert!(matches!(explained.policies[1].verdict, Verdict::Keep { rate, .. } if rate == 0.5));
    assert_eq!(explained.policies[2].verdict, Verdict::Abstain);
    assert!(explained.outcome.keep);
    let totals = set.totals();
    assert_eq!(totals[0].matched.traces, 1, "counted once, like decide");
    assert_eq!(totals[0].kept.traces, 1);
}
