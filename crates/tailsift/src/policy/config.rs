//! Policy configuration: one `[[policy]]` table per policy, its kind naming its parameters.
//!
//! ```toml
//! [[policy]]
//! name = "slow"
//! kind = "latency"
//! quantile = 0.95
//! on_error = "abstain"
//! ```
//!
//! Every table has a `name` (unique; reasons, metrics and the controller use it), a `kind`, and
//! the optional common key `on_error`; the other keys belong to the kind. Unknown keys and kinds
//! are refused with a message that names the policy and the key, and values are validated when
//! parsed (and again when built, for configs made in code).
//!
//! Why a hand-written `Deserialize`: serde's internally tagged enums buffer the table and then
//! lose the policy's name in their errors, and `deny_unknown_fields` does not work through
//! `#[serde(flatten)]`. Here the table is read once into generic values; `name`, `kind` and
//! `on_error` are taken out; the rest is handed to the kind's own parameter struct
//! (`deny_unknown_fields`), and every error is prefixed with the policy's name and the key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::attribute::{BooleanAttributeConfig, NumericAttributeConfig, StringAttributeConfig};
use super::composite::{CompositeConfig, SubPolicyConfig};
use super::critical_path::CriticalPathConfig;
use super::errors::ErrorsConfig;
use super::latency::LatencyConfig;
use super::probabilistic::ProbabilisticConfig;
use super::rate_limit::RateLimitConfig;
use super::representative::RepresentativeConfig;
use super::span_count::SpanCountConfig;
use super::status_code::StatusCodeConfig;
use crate::span::Str;
use crate::verdict::Verdict;

/// A configuration error, naming the policy and the key, saying what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyConfigError {
    /// A key has a value that is not allowed.
    #[error("policy `{policy}`: `{key}` {message}")]
    Invalid {
        /// The policy's name.
        policy: String,
        /// The offending key.
        key: String,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// A top-level policy without a name.
    #[error("policy #{index} (kind `{kind}`) has no `name`; every policy needs a unique name")]
    MissingName {
        /// Position in the configured list, from 1.
        index: usize,
        /// The policy's kind.
        kind: &'static str,
    },
    /// Two policies with one name.
    #[error("policy `{name}` is configured more than once; policy names must be unique")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A `cel` or `wasm` policy, but no builder for its kind was registered.
    #[error("policy `{policy}`: kind `{kind}` needs the {provider} crate's builder (register it in `PolicyBuilders`)")]
    MissingBuilder {
        /// The policy's name.
        policy: String,
        /// `cel` or `wasm`.
        kind: &'static str,
        /// The crate that provides the builder.
        provider: &'static str,
    },
    /// An extension builder refused the policy (a CEL expression that does not compile, a WASM
    /// module that cannot be loaded).
    #[error("policy `{policy}`: {message}")]
    Build {
        /// The policy's name.
        policy: String,
        /// The builder's message.
        message: String,
    },
}

impl PolicyConfigError {
    /// An [`PolicyConfigError::Invalid`] error.
    pub fn invalid(policy: &str, key: &str, message: impl Into<String>) -> PolicyConfigError {
        PolicyConfigError::Invalid {
            policy: policy.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// What a policy's failure on one trace (a CEL runtime error, a WASM trap or timeout) turns into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// No opinion (the default).
    #[default]
    Abstain,
    /// Keep the trace (at rate 1, times the controller's multiplier).
    Keep,
    /// Veto the trace.
    Drop,
}

impl OnError {
    /// The fallback verdict, with `reason` (the policy's name).
    pub fn verdict(self, reason: &Str) -> Verdict {
        match self {
            OnError::Abstain => Verdict::Abstain,
            OnError::Keep => Verdict::keep(reason.clone()),
            OnError::Drop => Verdict::drop(reason.clone()),
        }
    }
}

/// A `cel` policy: a CEL expression over the trace, built by the `tailsift-cel` crate.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CelPolicyConfig {
    /// The expression; the trace is kept when it evaluates to `true`.
    pub expr: String,
}

/// A `wasm` policy: a WebAssembly module, built by the `tailsift-wasm` crate.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmPolicyConfig {
    /// Path of the module (`.wasm`, or a precompiled `.cwasm`).
    pub module: PathBuf,
    /// Most time one evaluation may take (a duration string); the builder's default when absent.
    #[serde(default, with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// Most linear memory the module may use (`"16MiB"` or bytes); the builder's default when
    /// absent.
    #[serde(default)]
    pub max_memory: Option<bytesize::ByteSize>,
    /// Fuel (instructions, roughly) per evaluation; unlimited when absent.
    #[serde(default)]
    pub fuel: Option<u64>,
}

/// One configured policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyConfig {
    /// The policy's unique name (reasons, metrics, controller). Sub-policies of composites may
    /// leave it empty; they are then named after their place (`parent.policies[0]`).
    pub name: String,
    /// The fallback verdict when the policy fails on a trace. Top-level default: abstain. A
    /// sub-policy without it passes its failure up to its composite.
    pub on_error: Option<OnError>,
    /// The kind and its parameters.
    pub kind: PolicyKind,
}

/// Every policy kind, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyKind {
    /// `always`: keep every trace.
    Always,
    /// `never`: keep no trace (abstains; use `drop` to veto).
    Never,
    /// `errors`: traces with an error.
    Errors(ErrorsConfig),
    /// `latency`: traces slower than a threshold or a quantile of their group.
    Latency(LatencyConfig),
    /// `critical_path`: traces that touch configured critical operations.
    CriticalPath(CriticalPathConfig),
    /// `representative`: a consistent, stratified probabilistic sample.
    Representative(RepresentativeConfig),
    /// `probabilistic`: a plain consistent sample at one rate.
    Probabilistic(ProbabilisticConfig),
    /// `status_code`: traces with a span of one of the given status codes.
    StatusCode(StatusCodeConfig),
    /// `string_attribute`: a string attribute equal to, in, or matching a regex.
    StringAttribute(StringAttributeConfig),
    /// `numeric_attribute`: a numeric attribute equal to, in, or within a range.
    NumericAttribute(NumericAttributeConfig),
    /// `boolean_attribute`: a boolean attribute with the given value.
    BooleanAttribute(BooleanAttributeConfig),
    /// `span_count`: traces with a span count within bounds.
    SpanCount(SpanCountConfig),
    /// `rate_limit`: keeps traces while under a spans-per-second limit.
    RateLimit(RateLimitConfig),
    /// `and`: keeps when every sub-policy keeps.
    And(CompositeConfig),
    /// `or`: keeps when any sub-policy keeps.
    Or(CompositeConfig),
    /// `not`: keeps when the sub-policy does not.
    Not(SubPolicyConfig),
    /// `drop`: vetoes the trace when the sub-policy keeps it.
    Drop(SubPolicyConfig),
    /// `cel`: a CEL expression (needs the `tailsift-cel` builder).
    Cel(CelPolicyConfig),
    /// `wasm`: a WebAssembly module (needs the `tailsift-wasm` builder).
    Wasm(WasmPolicyConfig),
}

/// The names of every kind, as written in `kind = "..."`.
pub const POLICY_KINDS: [&str; 19] = [
    "always",
    "never",
    "errors",
    "latency",
    "critical_path",
    "representative",
    "probabilistic",
    "status_code",
    "string_attribute",
    "numeric_attribute",
    "boolean_attribute",
    "span_count",
    "rate_limit",
    "and",
    "or",
    "not",
    "drop",
    "cel",
    "wasm",
];

impl PolicyKind {
    /// The kind's name, as written in `kind = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            PolicyKind::Always => "always",
            PolicyKind::Never => "never",
            PolicyKind::Errors(_) => "errors",
            PolicyKind::Latency(_) => "latency",
            PolicyKind::CriticalPath(_) => "critical_path",
            PolicyKind::Representative(_) => "representative",
            PolicyKind::Probabilistic(_) => "probabilistic",
            PolicyKind::StatusCode(_) => "status_code",
            PolicyKind::StringAttribute(_) => "string_attribute",
            PolicyKind::NumericAttribute(_) => "numeric_attribute",
            PolicyKind::BooleanAttribute(_) => "boolean_attribute",
            PolicyKind::SpanCount(_) => "span_count",
            PolicyKind::RateLimit(_) => "rate_limit",
            PolicyKind::And(_) => "and",
            PolicyKind::Or(_) => "or",
            PolicyKind::Not(_) => "not",
            PolicyKind::Drop(_) => "drop",
            PolicyKind::Cel(_) => "cel",
            PolicyKind::Wasm(_) => "wasm",
        }
    }
}

impl PolicyConfig {
    /// A policy of `kind` named `name`, with the default `on_error`.
    pub fn new(name: impl Into<String>, kind: PolicyKind) -> PolicyConfig {
        PolicyConfig {
            name: name.into(),
            on_error: None,
            kind,
        }
    }

    /// Checks every value (and every sub-policy's), naming the policy and the key on failure.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        let name = self.name.as_str();
        match &self.kind {
            PolicyKind::Always | PolicyKind::Never => Ok(()),
            PolicyKind::Errors(_) => Ok(()),
            PolicyKind::Latency(c) => c.validate(name),
            PolicyKind::CriticalPath(c) => c.validate(name),
            PolicyKind::Representative(c) => c.validate(name),
            PolicyKind::Probabilistic(c) => c.validate(name),
            PolicyKind::StatusCode(c) => c.validate(name),
            PolicyKind::StringAttribute(c) => c.validate(name),
            PolicyKind::NumericAttribute(c) => c.validate(name),
            PolicyKind::BooleanAttribute(c) => c.validate(name),
            PolicyKind::SpanCount(c) => c.validate(name),
            PolicyKind::RateLimit(c) => c.validate(name),
            PolicyKind::And(c) | PolicyKind::Or(c) => c.validate(name),
            PolicyKind::Not(c) | PolicyKind::Drop(c) => c.policy.validate(),
            PolicyKind::Cel(c) if c.expr.trim().is_empty() => Err(PolicyConfigError::invalid(
                name,
                "expr",
                "must be a non-empty CEL expression",
            )),
            PolicyKind::Cel(_) => Ok(()),
            PolicyKind::Wasm(c) if c.module.as_os_str().is_empty() => Err(
                PolicyConfigError::invalid(name, "module", "must be the path of a .wasm module"),
            ),
            PolicyKind::Wasm(c) if c.timeout == Some(Duration::ZERO) => Err(
                PolicyConfigError::invalid(name, "timeout", "must be greater than zero"),
            ),
            PolicyKind::Wasm(_) => Ok(()),
        }
    }

    /// Names unnamed sub-policies after their place (`parent.policies[1]`, `parent.policy`).
    fn name_children(&mut self) {
        let parent = self.name.clone();
        match &mut self.kind {
            PolicyKind::And(c) | PolicyKind::Or(c) => {
                for (i, child) in c.policies.iter_mut().enumerate() {
                    if child.name.is_empty() {
                        child.name = format!("{parent}.policies[{i}]");
                        child.name_children();
                    }
                }
            }
            PolicyKind::Not(c) | PolicyKind::Drop(c) if c.policy.name.is_empty() => {
                c.policy.name = format!("{parent}.policy");
                c.policy.name_children();
            }
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for PolicyConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PolicyConfig, D::Error> {
        deserializer.deserialize_map(PolicyConfigVisitor)
    }
}

struct PolicyConfigVisitor;

impl<'de> Visitor<'de> for PolicyConfigVisitor {
    type Value = PolicyConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy table with `name` and `kind`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PolicyConfig, A::Error> {
        let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: serde_json::Value = map.next_value()?;
            entries.push((key, value));
        }
        let mut take = |key: &str| {
            entries
                .iter()
                .position(|(k, _)| k == key)
                .map(|i| entries.remove(i).1)
        };
        let name = match take("name") {
            None => String::new(),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(de::Error::custom(format!(
                    "policy `name` must be a string, got {other}"
                )))
            }
        };
        // Sub-policies may be unnamed; their errors are prefixed with the parent's name.
        let label = if name.is_empty() {
            "sub-policy".to_string()
        } else {
            format!("policy `{name}`")
        };
        let fail = |msg: String| de::Error::custom(format!("{label}: {msg}"));
        let kind = match take("kind") {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => return Err(fail(format!("`kind` must be a string, got {other}"))),
            None => {
                return Err(fail(format!(
                    "missing `kind`; expected one of {}",
                    POLICY_KINDS.join(", ")
                )))
            }
        };
        let on_error = take("on_error")
            .map(|v| OnError::deserialize(v).map_err(|e| fail(format!("`on_error`: {e}"))))
            .transpose()?;
        let kind = parse_kind(&kind, entries).map_err(|e| fail(e.0))?;
        let mut config = PolicyConfig {
            name,
            on_error,
            kind,
        };
        config.name_children();
        // Unnamed sub-policies are checked by their parent, under the name it gives them.
        if !config.name.is_empty() {
            config.validate().map_err(de::Error::custom)?;
        }
        Ok(config)
    }
}

fn parse_kind(
    kind: &str,
    params: Vec<(String, serde_json::Value)>,
) -> Result<PolicyKind, ParamError> {
    fn p<T: for<'a> Deserialize<'a>>(
        params: Vec<(String, serde_json::Value)>,
    ) -> Result<T, ParamError> {
        T::deserialize(Params(params))
    }
    Ok(match kind {
        "always" => p::<NoParams>(params).map(|_| PolicyKind::Always)?,
        "never" => p::<NoParams>(params).map(|_| PolicyKind::Never)?,
        "errors" => PolicyKind::Errors(p(params)?),
        "latency" => PolicyKind::Latency(p(params)?),
        "critical_path" => PolicyKind::CriticalPath(p(params)?),
        "representative" => PolicyKind::Representative(p(params)?),
        "probabilistic" => PolicyKind::Probabilistic(p(params)?),
        "status_code" => PolicyKind::StatusCode(p(params)?),
        "string_attribute" => PolicyKind::StringAttribute(p(params)?),
        "numeric_attribute" => PolicyKind::NumericAttribute(p(params)?),
        "boolean_attribute" => PolicyKind::BooleanAttribute(p(params)?),
        "span_count" => PolicyKind::SpanCount(p(params)?),
        "rate_limit" => PolicyKind::RateLimit(p(params)?),
        "and" => PolicyKind::And(p(params)?),
        "or" => PolicyKind::Or(p(params)?),
        "not" => PolicyKind::Not(p(params)?),
        "drop" => PolicyKind::Drop(p(params)?),
        "cel" => PolicyKind::Cel(p(params)?),
        "wasm" => PolicyKind::Wasm(p(params)?),
        other => {
            return Err(ParamError(format!(
                "unknown kind `{other}`; expected one of {}",
                POLICY_KINDS.join(", ")
            )))
        }
    })
}

/// The parameters of kinds that take none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// An error while reading a kind's parameters.
#[derive(Debug)]
struct ParamError(String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

impl de::Error for ParamError {
    fn custom<T: fmt::Display>(msg: T) -> ParamError {
        ParamError(msg.to_string())
    }
}

/// A kind's parameters, as a map deserializer whose value errors name their key.
struct Params(Vec<(String, serde_json::Value)>);

impl<'de> Deserializer<'de> for Params {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_map(ParamsAccess {
            entries: self.0.into_iter(),
            current: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct ParamsAccess {
    entries: std::vec::IntoIter<(String, serde_json::Value)>,
    current: Option<(String, serde_json::Value)>,
}

impl<'de> MapAccess<'de> for ParamsAccess {
    type Error = ParamError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ParamError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                let k = seed.deserialize(key.as_str().into_deserializer())?;
                self.current = Some((key, value));
                Ok(Some(k))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ParamError> {
        let Some((key, value)) = self.current.take() else {
            return Err(ParamError("a value without a key".to_string()));
        };
        seed.deserialize(value)
            .map_err(|e| ParamError(format!("`{key}`: {e}")))
    }
}
