//! Attribute values and attributes: every OTLP `AnyValue` kind in sixteen bytes.

use std::sync::Arc;

use super::{Str, Text};

/// An attribute value: every OTLP `AnyValue` kind.
///
/// Sixteen bytes: a string of up to 15 bytes is held in place ([`Text`]), and every other
/// payload is one word (the rare composite kinds sit behind an `Arc` of a `Vec`), so an
/// attribute (key and value) is 24 bytes.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// An `AnyValue` with no value set.
    #[default]
    Empty,
    /// A string: held in place up to 15 bytes, shared beyond.
    Str(Text),
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(Arc<Vec<u8>>),
    /// An array of values.
    Array(Arc<Vec<Value>>),
    /// A list of key-value pairs (a map that keeps order and duplicates, as OTLP does).
    KvList(Arc<Vec<KeyValue>>),
}

impl Value {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a number, if it is an integer or a double.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Double(d) => Some(d),
            _ => None,
        }
    }

    /// The integer, if this is an integer value (or a double with no fractional part).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(d as i64),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Inline for the scalar kinds nearly every attribute has (this runs for each attribute of
    /// each span ingested); the composite kinds recurse out of line.
    #[inline]
    fn size_estimate(&self) -> usize {
        match self {
            Value::Empty => 0,
            Value::Str(s) => 2 + s.len(),
            Value::Bool(_) => 2,
            Value::Int(_) | Value::Double(_) => 9,
            Value::Bytes(b) => 2 + b.len(),
            Value::Array(a) => 2 + array_size_estimate(a),
            Value::KvList(kvs) => 2 + kvlist_size_estimate(kvs),
        }
    }
}

#[inline(never)]
fn array_size_estimate(values: &[Value]) -> usize {
    values.iter().map(|v| 2 + v.size_estimate()).sum()
}

#[inline(never)]
fn kvlist_size_estimate(attributes: &[KeyValue]) -> usize {
    attributes_size_estimate(attributes)
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s.into())
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::Str(s.into())
    }
}

impl From<Text> for Value {
    fn from(s: Text) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Double(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

/// One attribute.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    /// The attribute's key.
    pub key: Str,
    /// The attribute's value.
    pub value: Value,
}

impl KeyValue {
    /// Builds an attribute.
    pub fn new(key: impl Into<Str>, value: impl Into<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The value of the first attribute named `key`, if any.
pub fn find_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| &*kv.key == key)
        .map(|kv| &kv.value)
}

#[inline]
pub(super) fn attributes_size_estimate(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| 4 + kv.key.len() + kv.value.size_estimate())
        .sum()
}
