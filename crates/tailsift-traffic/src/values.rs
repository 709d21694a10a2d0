//! [`SpanValues`]: how a workload's spans hold their string values.

use tailsift::{Interner, KeyValue, Span, Str, Text, Value};

use crate::ConfigError;

/// How the string values of a workload's spans (their attributes', their events' and links',
/// their status message and trace state) are held. Names and keys are immortal in every case,
/// as an OTLP bridge's interner makes them; the values are what differ between the ways spans
/// reach an engine, and what the engine pays to measure and free them. The traffic is the same
/// whichever is chosen, field for field. A short attribute value (at most
/// [`Text::INLINE_CAPACITY`] bytes) is held in place in its attribute whichever is chosen, as
/// any maker of a [`Text`] holds it: the choice is about the longer ones, and about status
/// messages and trace states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanValues {
    /// One reference-counted string per distinct value, cloned into every span that carries
    /// it: spans built from shared templates. Freeing a span decrements the counts, which two
    /// threads dropping spans at once contend for. The default, and the condition of every
    /// figure that does not say otherwise.
    #[default]
    Shared,
    /// A string of its own per span and long value, as a decoder that interns no value
    /// produces: freeing a span frees each of them.
    Unique,
    /// Immortal strings (never freed, never counted), as an interner of low-cardinality values
    /// makes them: freeing a span touches none of them.
    Immortal,
    /// As the OTLP bridge (`tailsift-otlp`) decodes them: the values of keys whose values are
    /// low-cardinality ([`tailsift::has_low_cardinality_values`]: routes, RPC services, tables)
    /// interned, immortal; every other long value, status message and trace state a string of
    /// its own ([`Interner::attribute_value`]).
    Decoded,
}

impl SpanValues {
    /// Parses `shared`, `unique`, `immortal` or `decoded`.
    pub fn from_name(name: &str) -> Result<SpanValues, ConfigError> {
        match name {
            "shared" => Ok(SpanValues::Shared),
            "unique" => Ok(SpanValues::Unique),
            "immortal" => Ok(SpanValues::Immortal),
            "decoded" => Ok(SpanValues::Decoded),
            other => Err(ConfigError::Invalid(format!(
                "span values must be shared, unique, immortal or decoded, got {other:?}"
            ))),
        }
    }

    /// The name [`SpanValues::from_name`] parses.
    pub fn name(self) -> &'static str {
        match self {
            SpanValues::Shared => "shared",
            SpanValues::Unique => "unique",
            SpanValues::Immortal => "immortal",
            SpanValues::Decoded => "decoded",
        }
    }

    /// Re-holds the string values of `spans`, built shared, as `self` says: see
    /// [`SpanValues::hold`].
    pub(crate) fn hold_all(self, spans: &mut [Span], interner: &Interner) {
        if self != SpanValues::Shared {
            for span in spans {
                self.hold(span, interner);
            }
        }
    }

    /// Re-holds the string values of `span`, built shared, as `self` says: copies of its own,
    /// or the `interner`'s immortal copies, or as decoded. Values nested in arrays and
    /// key-value lists are left as they are (the workloads have none).
    pub(crate) fn hold(self, span: &mut Span, interner: &Interner) {
        if self == SpanValues::Shared {
            return;
        }
        let remake = |s: &mut Str| match self {
            SpanValues::Shared => {}
            SpanValues::Unique | SpanValues::Decoded => *s = Str::from(s.as_str()),
            SpanValues::Immortal => *s = interner.intern(s),
        };
        // A short text is held in place whichever way is asked: only long ones are remade.
        let values = |attributes: &mut [KeyValue]| {
            for kv in attributes {
                if let Value::Str(text) = &mut kv.value {
                    if let Some(s) = text.as_shared() {
                        *text = if self == SpanValues::Decoded {
                            interner.attribute_value(&kv.key, s)
                        } else {
                            let mut s = s.clone();
                            remake(&mut s);
                            Text::from(s)
                        };
                    }
                }
            }
        };
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

/// A workload's spans built each way — shared, unique, immortal, decoded — after checking that
/// they are the same traffic, field for field (for the workloads' tests).
#[cfg(test)]
pub(crate) fn built_each_way(build: impl Fn(SpanValues) -> Vec<Span>) -> [Vec<Span>; 4] {
    let [shared, unique, immortal, decoded] = [
        SpanValues::Shared,
        SpanValues::Unique,
        SpanValues::Immortal,
        SpanValues::Decoded,
    ]
    .map(build);
    assert_eq!(shared, unique);
    assert_eq!(shared, immortal);
    assert_eq!(shared, decoded);
    [shared, unique, immortal, decoded]
}

/// Every string value of `spans` too long to be held in place, in order: attributes', events'
/// attributes', status messages (for the workloads' tests). These are the values whose holding
/// [`SpanValues`] chooses: a short one is held in place whichever way is asked, and the
/// function checks that it is.
#[cfg(test)]
pub(crate) fn string_values(spans: &[Span]) -> Vec<&Str> {
    fn attributes(kvs: &[KeyValue]) -> impl Iterator<Item = &Str> {
        kvs.iter().filter_map(|kv| match &kv.value {
            Value::Str(text) => {
                assert_eq!(text.is_inline(), text.len() <= Text::INLINE_CAPACITY);
                text.as_shared()
            }
            _ => None,
        })
    }
    let mut out = Vec::new();
    for span in spans {
        out.extend(attributes(&span.attributes));
        if let Some(extra) = &span.extra {
            out.push(&extra.status_message);
            for event in &extra.events {
                out.extend(attributes(&event.attributes));
            }
        }
    }
    out
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
