//! Attribute values as the buffer holds them: a one-byte tag and an eight-byte payload.

/// An attribute value: what the encoder takes and the decoder gives back.
///
/// | kind | tag | payload (`u64`, little-endian) |
/// |---|---|---|
/// | empty (OTLP `AnyValue` with nothing set) | 0 | 0 |
/// | string | 1 | string index |
/// | bool | 2 | 0 or 1 (any non-zero reads as true) |
/// | int | 3 | the `i64`'s two's-complement bits |
/// | double | 4 | the `f64`'s IEEE 754 bits |
/// | bytes | 5 | string index: the bytes sit in the string table, unvalidated |
/// | array | 6 | element count; the elements are not in version 1 |
/// | key-value list | 7 | entry count; the entries are not in version 1 |
///
/// Arrays and key-value lists keep their kind and length but not their contents: span
/// attributes of those kinds are rare, no built-in policy reads inside them, and a nested
/// section (with the recursion limits a decoder would then need) can come with a later version.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// No value set.
    Empty,
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// An array of values, of which only the length is encoded.
    Array {
        /// How many elements the array has.
        len: u64,
    },
    /// A list of key-value pairs, of which only the length is encoded.
    KvList {
        /// How many entries the list has.
        len: u64,
    },
}

impl<'a> Value<'a> {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
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

    /// The boolean, if this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// The tag byte of each value kind.
pub(crate) mod tag {
    pub const EMPTY: u8 = 0;
    pub const STR: u8 = 1;
    pub const BOOL: u8 = 2;
    pub const INT: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const BYTES: u8 = 5;
    pub const ARRAY: u8 = 6;
    pub const KVLIST: u8 = 7;
}
