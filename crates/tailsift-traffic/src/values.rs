//! [`SpanValues`]: how a workload's spans hold their string values.

use tailsift::{Interner, KeyValue, Span, Str, Value};

use crate::ConfigError;

/// How the string values of a workload's spans (their attributes', their events' and links',
/// their status message and trace state) are held. Names and keys are immortal in every case,
/// as an OTLP bridge's interner makes them; the values are what differ between the ways spans
/// reach an engine, and what the engine pays to measure and free them. The traffic is the same
/// whichever is chosen, field for field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanValues {
    /// One reference-counted string per distinct value, cloned into every span that carries
    /// it: spans built from shared templates. Freeing a span decrements the counts, which two
    /// threads dropping spans at once contend for. The default, and the condition of every
    /// figure that does not say otherwise.
    #[default]
    Shared,
    /// A string of its own per span and value, as an OTLP decoder produces: freeing a span frees
    /// each of them.
    Unique,
    /// Immortal strings (never freed, never counted), as an interner of low-cardinality values
    /// makes them: freeing a span touches none of them.
    Immortal,
}

impl SpanValues {
    /// Parses `shared`, `unique` or `immortal`.
    pub fn from_name(name: &str) -> Result<SpanValues, ConfigError> {
        match name {
            "shared" => Ok(SpanValues::Shared),
            "unique" => Ok(SpanValues::Unique),
            "immortal" => Ok(SpanValues::Immortal),
            other => Err(ConfigError::Invalid(format!(
                "span values must be shared, unique or immortal, got {other:?}"
            ))),
        }
    }

    /// The name [`SpanValues::from_name`] parses.
    pub fn name(self) -> &'static str {
        match self {
            SpanValues::Shared => "shared",
            SpanValues::Unique => "unique",
            SpanValues::Immortal => "immortal",
        }
    }

    /// The string `s` as a source's constant: immortal, or a shared string.
    pub(crate) fn constant(self, s: &str) -> Str {
        match self {
            SpanValues::Immortal => Str::immortal(s),
            SpanValues::Shared | SpanValues::Unique => Str::from(s),
        }
    }

    /// `s` as it goes into one span: a clone of the constant, or a copy of its own.
    pub(crate) fn place(self, s: &Str) -> Str {
        match self {
            SpanValues::Unique => Str::from(s.as_str()),
            SpanValues::Shared | SpanValues::Immortal => s.clone(),
        }
    }

    /// Re-holds the string values of `span`, built with shared ones, as `self` says: copies of
    /// their own, or the `interner`'s immortal copies. Values nested in arrays and key-value
    /// lists are left as they are (the workloads have none).
    pub(crate) fn hold(self, span: &mut Span, interner: &Interner) {
        let remake = |s: &mut Str| match self {
            SpanValues::Shared => {}
            SpanValues::Unique => *s = Str::from(s.as_str()),
            SpanValues::Immortal => *s = interner.intern(s),
        };
        let values = |attributes: &mut [KeyValue]| {
            for kv in attributes {
                if let Value::Str(s) = &mut kv.value {
                    remake(s);
                }
            }
        };
        if self == SpanValues::Shared {
            return;
        }
        values(&mut span.attributes);
        if let Some(extra) = span.extra.as_mut() {
            remake(&mut extra.status_message);
            remake(&mut extra.trace_state);
            for event in &mut extra.events {
                values(&mut event.attributes);
            }
            for link in &mut extra.links {
                remake(&mut link.trace_state);
                values(&mut link.attributes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in [SpanValues::Shared, SpanValues::Unique, SpanValues::Immortal] {
            assert_eq!(SpanValues::from_name(v.name()).unwrap(), v);
        }
        assert!(SpanValues::from_name("interned").is_err());
    }
}
