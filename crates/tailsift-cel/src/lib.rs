//! # tailsift-cel
//!
//! Tail-sampling policies written in [CEL](https://cel.dev), the Common Expression Language,
//! for the [`tailsift`] engine. A [`CelPolicy`] is compiled once, when the config is loaded,
//! and implements [`tailsift::Policy`]: the engine evaluates it over each whole trace.
//!
//! ```
//! use tailsift_cel::CelPolicy;
//!
//! let premium = CelPolicy::compile(
//!     "premium-errors",
//!     r#"trace.error_count > 0 && spans.exists(s, s.attributes[?"user.tier"] == optional.of("premium"))"#,
//! )?;
//! # Ok::<(), tailsift_cel::CelError>(())
//! ```
//!
//! ## Results
//!
//! | The expression gives | Verdict |
//! |---|---|
//! | `true` | `Keep { rate: 1 }` |
//! | `false` | `Abstain` |
//! | a `double` in `(0, 1]` | `Keep { rate }`: kept with that probability, decided by the trace's shared randomness, so every policy agrees on which traces a rate keeps |
//! | `0.0` | `Abstain` |
//! | a `double` below 0, above 1, or NaN | a policy error |
//! | anything else (`int`, `string`, `null`, ...) | a policy error |
//! | a runtime error (missing key, no such overload, division by zero, iteration budget spent) | a policy error |
//!
//! A policy error is never a panic: the policy set applies the policy's configured fallback
//! verdict (`on_error`) and counts it.
//!
//! ## Variables
//!
//! `trace`, the whole trace:
//!
//! | Field | Type | |
//! |---|---|---|
//! | `duration_ms` | double | earliest start to latest end |
//! | `span_count`, `error_count` | int | spans; spans with status `ERROR` |
//! | `randomness` | int | the 56-bit randomness every probabilistic keep uses |
//! | `root` | span | the root span; absent (`has(trace.root)` is false) in a trace without one |
//! | `baseline` | object | `p50_ms`, `p95_ms`, `p99_ms` (double) and `samples` (int): the latency baseline of the trace's group (root service and operation) |
//! | `critical_path` | list | the spans on the critical path, root first, each a span plus `self_ms`, its self time on the path |
//!
//! `spans`, every span of the trace in start order. A span has `service`, `name`, `kind`
//! (lower case: `"server"`, `"client"`, `"internal"`, `"producer"`, `"consumer"`,
//! `"unspecified"`), `status` (`"UNSET"`, `"OK"`, `"ERROR"`), `status_message`,
//! `duration_ms` (double), `attributes` and `resource` (maps of the span's and its resource's
//! attributes) and `events` (a list of `{name, attributes}`).
//!
//! **Without a baseline** (no latency baseline configured, or none of the group's traces seen
//! yet), `trace.baseline` is still there but its quantile fields are absent: `samples` is 0,
//! `has(trace.baseline.p95_ms)` is false, and reading `trace.baseline.p95_ms` is a "no such
//! key" error. Guard with `has()`.
//!
//! **Attributes** are maps keyed by attribute name; values are `string`, `int`, `double`,
//! `bool`, `bytes`, `list` (an OTLP array), `map` (an OTLP key-value list) or `null` (an empty
//! value). A **missing attribute** follows CEL's map semantics: `"k" in s.attributes` and
//! `has(s.attributes.k)` are false, `s.attributes[?"k"]` is `optional.none()`, and reading
//! `s.attributes["k"]` is a "no such key" error. Inside `exists()` that error is absorbed when
//! another span matches (CEL's `true || error == true`), so
//! `spans.exists(s, s.attributes["user.tier"] == "premium")` keeps every trace with a premium
//! span, but on a trace with no premium span where some span has no `user.tier` it is an error
//! (and the fallback applies). Write
//! `spans.exists(s, s.attributes[?"user.tier"] == optional.of("premium"))` (or guard with
//! `"user.tier" in s.attributes && ...`) for `false` there instead.
//!
//! Objects (`trace`, spans, events, the baseline) are compared field by field, not whole:
//! `==` on two of them is always false.
//!
//! Functions: the CEL standard library (`size`, `contains`, `startsWith`, `endsWith`,
//! `matches`, conversions, `optional`), without timestamps and durations (times are
//! milliseconds as doubles). `matches()` takes a string literal pattern (RE2 syntax), compiled
//! once at load.
//!
//! ## Native evaluation
//!
//! Most expressions never reach the cel crate's interpreter. An expression that uses only the
//! common part of CEL (the variables and their fields; attribute lookups with `[]`, `[?]`,
//! `.?`, `in` and `has()`; literals and lists of literals; `==`, `!=`, `<`, `<=`, `>`, `>=`,
//! `&&`, `||`, `!`, `?:` and arithmetic; `size()`, `startsWith()`, `endsWith()`,
//! `contains()`, `matches()`; `int()` and `double()` of numbers; `optional.of()`,
//! `optional.none()`, `or()`, `orValue()`, `hasValue()`, `value()`; `exists()`, `all()` and
//! `exists_one()`) is compiled at load into a tree that a small native evaluator walks over
//! the trace with borrowed, unboxed values: nothing is allocated, field names are resolved
//! once, string tests of a loop variable's fields compare in place.
//! [`CelPolicy::is_native`] tells which expressions are. An `exists()` over
//! `trace.critical_path` whose predicate reads only span fields first tries every span of the
//! trace, as the native `critical_path` policy does, and computes the path only when one
//! matches.
//!
//! The results are the interpreter's, by construction and by test: every node mirrors the
//! interpreter's rule for it (operand order, short-circuits, error absorption, iteration
//! budget), a case it cannot answer exactly (a string built at run time, an optional of an
//! optional, `size()` of bytes) goes to the interpreter, and a runtime error is worded by the
//! interpreter, which evaluates the expression again to say it (errors are the rare path).
//! Everything else (`map()`, `filter()`, `type()`, `string()`, map literals) is evaluated by
//! the interpreter as before. Differential tests hold the two paths to the same results on
//! generated mission traffic, random traces and random expressions
//! ([`CelPolicy::evaluate_interpreted`] evaluates with the interpreter alone).
//!
//! Measured with `cargo bench -p tailsift-benches --bench cel` (mission traces, about 8 spans
//! each, and traces of 100 spans; a shared 2-core machine, so ±30%):
//!
//! | Expression | interpreter | native |
//! |---|---|---|
//! | `trace.error_count > 0` | 384 ns | 35 ns |
//! | the mission's `errors` (a scan of every span's kind and HTTP status) | 12.1 µs | 0.45 µs |
//! | the mission's `checkout` (`trace.critical_path.exists(...)`) | 6.5 µs | 0.36 µs |
//! | `spans.exists(s, s.attributes[?"http.response.status_code"] == optional.of(500))`, per span scanned | 560 ns | 43 ns |
//! | the mission's four policies as a policy set, per trace (native policies: 0.7 µs) | 16.2 µs | 1.8 µs |
//!
//! ## How the interpreter sees the trace, and what it costs
//!
//! Nothing is converted up front. The cel crate (0.15) lets a host implement its `Val` trait
//! and the operator traits (`Indexer` for `x.f` and `x[k]`, `Iterable` for comprehensions,
//! `Sizer`, `Container` for `in`) on its own types, and resolve variables through a
//! `VariableResolver` that hands out borrowed values. `trace` is a small struct over the
//! [`tailsift::TraceView`] whose fields are computed when read; `spans` is built on first read
//! (one pointer per span) and not at all by an expression that does not mention it (see
//! [`CelPolicy::reads_spans`]); a span's fields are read from the engine's span when selected,
//! and strings borrow its bytes instead of copying them. Facts that cost more than a field read
//! (the critical path, the parent/child index) are computed once per trace by the
//! `TraceView` and shared by every policy that asks, native, CEL or WASM.
//!
//! Measured once with the interpreter (release build, a shared 2-core machine, so ±30%; spans
//! with 8 attributes, 3 resource attributes and an event; a throwaway harness, not a bench):
//!
//! | Expression | 10 spans | 100 spans |
//! |---|---|---|
//! | `0.05` (`representative.cel`) | 0.05 µs | 0.05 µs |
//! | `trace.error_count > 0` | 0.24 µs | 0.24 µs |
//! | `latency.cel` (three `trace.baseline` reads) | 0.8 µs | 0.8 µs |
//! | `critical_path.cel`, path computed by this policy | 4.7 µs | 9.4 µs |
//! | `spans.exists(s, false)`: the interpreter's loop alone | 2.4 µs | 36 µs |
//! | `spans.exists(s, s.attributes["user.tier"] == "premium")`, no match | 4.1 µs | 59 µs |
//! | `errors.cel` (statuses, events, HTTP codes of every span) | 18 µs | 270 µs |
//! | converting the spans to `cel::Value` maps, before evaluating anything | 44 µs | 510 µs |
//! | the same `exists` over those maps, conversion included | 96 µs | 1,420 µs |
//!
//! So a loop costs about 0.3 µs per element in the cel interpreter itself (a scope and a
//! boxed loop variable per iteration), and a field read here 0.05–0.15 µs; converting a span
//! eagerly would cost about 5 µs, more than evaluating the whole `exists` lazily.
//!
//! ## Limits
//!
//! An expression can neither crash nor stall the engine: see [`CelLimits`] for the bounds
//! checked at compile time (length, nesting) and at run time (loop iterations), and
//! `compile.rs` for why each is needed. A panic inside the cel crate, should there be one, is
//! caught and becomes a policy error (Rust's panic hook still reports it on stderr).
#![warn(missing_docs)]

mod collections;
mod compile;
mod error;
mod fast;
mod policy;
mod runtime;
mod values;

use std::sync::Arc;

use tailsift::policy::CelPolicyConfig;
use tailsift::Policy;

pub use error::CelError;
pub use policy::CelPolicy;

/// The builder of `cel` policies for [`tailsift::policy::PolicyBuilders::with_cel`]: compiles
/// each configured expression once, with the default [`CelLimits`]. A compile error becomes the
/// builder's message, positioned (`line 2, column 3: unknown variable `trce`; ...`).
///
/// ```
/// use tailsift::policy::{PolicyBuilders, PolicyConfig, PolicyKind, CelPolicyConfig, PolicySet};
///
/// let builders = PolicyBuilders::new().with_cel(tailsift_cel::builder());
/// let slow = PolicyConfig::new(
///     "slow",
///     PolicyKind::Cel(CelPolicyConfig { expr: "trace.duration_ms > 500.0".into() }),
/// );
/// let set = PolicySet::new(&[slow], &builders, false)?;
/// assert_eq!(set.len(), 1);
/// # Ok::<(), tailsift::policy::PolicyConfigError>(())
/// ```
pub fn builder(
) -> impl Fn(&str, &CelPolicyConfig) -> Result<Arc<dyn Policy>, String> + Send + Sync + 'static {
    builder_with_limits(CelLimits::default())
}

/// [`builder`], compiling within `limits`.
pub fn builder_with_limits(
    limits: CelLimits,
) -> impl Fn(&str, &CelPolicyConfig) -> Result<Arc<dyn Policy>, String> + Send + Sync + 'static {
    move |name, config| {
        CelPolicy::compile_with_limits(name, &config.expr, &limits)
            .map(|policy| Arc::new(policy) as Arc<dyn Policy>)
            .map_err(|e| e.detail())
    }
}

/// Bounds on what a CEL policy may cost. Every expression is checked against them when it is
/// compiled, and every evaluation against `max_iterations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CelLimits {
    /// The longest expression accepted, in bytes. Default: 4,096.
    ///
    /// Bounds the parser's work and, with `max_depth`, its stack use; the mission policies are
    /// under 200 bytes.
    pub max_expression_bytes: usize,
    /// How deep the expression may nest (brackets, and the parsed tree: `a + b + c` is three
    /// levels deep, `a && b && c` two). Default: 64.
    ///
    /// Evaluation recurses once per level, about 1 KiB of stack each, so the default keeps an
    /// evaluation well within the smallest worker thread stack.
    pub max_depth: usize,
    /// How many loop iterations one evaluation may run, summed over every comprehension
    /// (`exists`, `all`, `exists_one`, `map`, `filter`), each charged the size of its list
    /// before it starts. Default: 1,000,000.
    ///
    /// A loop over `spans` costs one iteration per span; nested loops multiply. An evaluation
    /// over budget fails with a policy error instead of running on: at a few hundred
    /// nanoseconds an iteration, the default caps one evaluation at well under a second.
    pub max_iterations: u64,
}

impl Default for CelLimits {
    fn default() -> CelLimits {
        CelLimits {
            max_expression_bytes: 4096,
            max_depth: 64,
            max_iterations: 1_000_000,
        }
    }
}
