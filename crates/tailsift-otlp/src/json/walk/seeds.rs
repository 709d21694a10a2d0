//! The serde pieces the walk is built of: objects read as messages, arrays element by element,
//! `null` as absent, and the scalar fields by the mirrors' rules.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::json::scalars::{hex_digit, int, span_kind, status_code, IntTarget};

/// What the walk does not take, as an error of the parser's kind.
pub(super) fn declined<E: de::Error>() -> E {
    E::custom("not taken by the walk; read through the mirror types")
}

/// The fields of one object read so far, by their proto field numbers: a field given twice is
/// declined, as the mirrors reject it.
#[derive(Default)]
pub(super) struct Seen(u32);

impl Seen {
    pub(super) fn first<E: de::Error>(&mut self, number: u32) -> Result<(), E> {
        let bit = 1 << number;
        if self.0 & bit != 0 {
            return Err(declined());
        }
        self.0 |= bit;
        Ok(())
    }
}

/// Skips the value of a field the walk does not read, as the mirrors do.
pub(super) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// An object's key, borrowed from the text; a key written with escapes is declined.
pub(super) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'de str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'de str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = &'de str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<&'de str, E> {
        Ok(v)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<&'de str, E> {
        Err(declined())
    }
}

/// `null`, read as absent, or what `S` reads.
pub(super) struct OrNull<S>(pub(super) S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OrNull<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OrNull<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// A string, made into what `.0` makes of it.
pub(super) struct Text<F>(pub(super) F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for Text<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for Text<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

/// A string field (`null` is the empty string), made into what `make` makes of it.
pub(super) fn string_field<'de, A: MapAccess<'de>, T>(
    map: &mut A,
    make: impl FnOnce(&str) -> T,
) -> Result<T, A::Error> {
    map.next_value_seed(StringField(make))
}

/// A string or `null` (the empty string), made into what `.0` makes of it.
pub(super) struct StringField<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for StringField<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for StringField<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok((self.0)(""))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(Text(self.0))
    }
}

/// An integer field (`null` is 0), by the mirrors' rule: a number or a decimal string.
pub(super) struct IntField<T>(pub(super) T);

impl<'de, T: IntTarget> Deserialize<'de> for IntField<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IntField<T>, D::Error> {
        int(d).map(IntField)
    }
}

/// `kind`, by the mirrors' rule.
pub(super) struct KindField(pub(super) i32);

impl<'de> Deserialize<'de> for KindField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KindField, D::Error> {
        span_kind(d).map(KindField)
    }
}

/// `status.code`, by the mirrors' rule.
pub(super) struct CodeField(pub(super) i32);

impl<'de> Deserialize<'de> for CodeField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CodeField, D::Error> {
        status_code(d).map(CodeField)
    }
}

/// An id of `N` bytes, as hex digits of either case; `None` for `null` or the empty string.
/// Any other length, or a character that is not a hex digit, is declined.
pub(super) struct Hex<const N: usize>;

impl<'de, const N: usize> DeserializeSeed<'de> for Hex<N> {
    type Value = Option<[u8; N]>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Hex<N> {
    type Value = Option<[u8; N]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} hex digits", 2 * N)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        let digits = v.as_bytes();
        if digits.len() != 2 * N {
            return Err(declined());
        }
        let mut id = [0; N];
        for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(high), Some(low)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
                return Err(declined());
            };
            *byte = high << 4 | low;
        }
        Ok(Some(id))
    }
}

/// A required id: `null` and the empty string are `convert`'s error, so declined.
pub(super) fn id_field<'de, A: MapAccess<'de>, const N: usize>(
    map: &mut A,
) -> Result<[u8; N], A::Error> {
    map.next_value_seed(Hex::<N>)?.ok_or_else(declined)
}

/// An OTLP message read from a JSON object.
pub(super) trait Message<'de> {
    type Value;

    fn fields<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error>;
}

/// Reads the message `.0` from an object.
pub(super) struct Object<M>(pub(super) M);

impl<'de, M: Message<'de>> DeserializeSeed<'de> for Object<M> {
    type Value = M::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<M::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, M: Message<'de>> Visitor<'de> for Object<M> {
    type Value = M::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OTLP message as a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<M::Value, A::Error> {
        self.0.fields(map)
    }
}

/// Reads one element of a list, made afresh for each element from what it borrows.
pub(super) trait Element<'de> {
    /// Reads the next element; `false` at the end of the list.
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error>;
}

/// Reads a list, element by element, with `.0`.
pub(super) struct Array<E>(pub(super) E);

impl<'de, E: Element<'de>> DeserializeSeed<'de> for Array<E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, E: Element<'de>> Visitor<'de> for Array<E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while self.0.next(&mut seq)? {}
        Ok(())
    }
}

/// A list field (`null` is empty), each element read by `element`.
pub(super) fn list_field<'de, A: MapAccess<'de>, E: Element<'de>>(
    map: &mut A,
    element: E,
) -> Result<(), A::Error> {
    map.next_value_seed(OrNull(Array(element))).map(drop)
}

/// Reads the next element with `seed` and pushes it onto `out`; `false` at the end of the list.
pub(super) fn push<'de, A: SeqAccess<'de>, S: DeserializeSeed<'de>>(
    seq: &mut A,
    seed: S,
    out: &mut Vec<S::Value>,
) -> Result<bool, A::Error> {
    match seq.next_element_seed(seed)? {
        Some(element) => {
            out.push(element);
            Ok(true)
        }
        None => Ok(false),
    }
}
