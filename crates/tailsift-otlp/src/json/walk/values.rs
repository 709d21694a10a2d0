//! Attributes and the values they hold: `KeyValue`, `AnyValue`, and the arrays and key-value
//! lists values nest.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{MapAccess, SeqAccess};
use tailsift::{KeyValue, Str, Value};

use super::seeds::{
    declined, list_field, push, skip, string_field, Element, IntField, Key, Message, Object,
    OrNull, Seen, Text,
};
use super::{Walk, MAX_DEPTH};
use crate::json::scalars::{Bytes, Double, Int};
use crate::strings::{exact, Intern, List};

/// The attributes of `.1`, pushed onto `.2`.
pub(super) struct Attributes<'w, 'i>(
    pub(super) &'w mut Walk<'i>,
    pub(super) List,
    pub(super) &'w mut Vec<KeyValue>,
);

impl<'de> Element<'de> for Attributes<'_, '_> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let seed = Object(KeyValueFields {
            walk: &mut *self.0,
            list: self.1,
            depth: 0,
        });
        push(seq, seed, self.2)
    }
}

/// One `KeyValue` of `list`, at `depth` in the values that hold it.
struct KeyValueFields<'w, 'i> {
    walk: &'w mut Walk<'i>,
    list: List,
    depth: usize,
}

impl<'de> Message<'de> for KeyValueFields<'_, '_> {
    type Value = KeyValue;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyValue, A::Error> {
        let KeyValueFields { walk, list, depth } = self;
        let mut seen = Seen::default();
        let mut key = None;
        let mut value = Value::Empty;
        let mut value_first = false;
        while let Some(field) = map.next_key_seed(Key)? {
            match field {
                "key" => {
                    seen.first(1)?;
                    key = Some(string_field(&mut map, |s| {
                        if list.interns_keys() {
                            walk.intern(s)
                        } else {
                            Str::from(s)
                        }
                    })?);
                }
                "value" => {
                    seen.first(2)?;
                    value_first = key.is_none();
                    let empty = Str::empty();
                    let seed = AnyValueFields {
                        walk: &mut *walk,
                        intern: list.values(key.as_ref().unwrap_or(&empty)),
                        depth,
                    };
                    value = map
                        .next_value_seed(OrNull(Object(seed)))?
                        .unwrap_or(Value::Empty);
                }
                "keyStrindex" => {
                    seen.first(3)?;
                    // The profiles-only key index: `convert` warns of it.
                    if map.next_value::<IntField<i32>>()?.0 != 0 {
                        return Err(declined());
                    }
                }
                _ => skip(&mut map)?,
            }
        }
        let key = key.unwrap_or_default();
        // A string value read before its key was held by the rule of the empty key: held again
        // by its own key's rule (a span's attribute values are interned by their key).
        if let (true, Value::Str(text)) = (value_first, &value) {
            let intern = list.values(&key);
            value = Value::Str(intern.text(walk.interner, &mut walk.recent, text.as_str()));
        }
        Ok(KeyValue { key, value })
    }
}

/// One `AnyValue`, its string held by `intern`.
struct AnyValueFields<'w, 'i, 'k> {
    walk: &'w mut Walk<'i>,
    intern: Intern<'k>,
    depth: usize,
}

impl<'de> Message<'de> for AnyValueFields<'_, '_, '_> {
    type Value = Value;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let AnyValueFields {
            walk,
            intern,
            depth,
        } = self;
        if depth >= MAX_DEPTH {
            return Err(declined());
        }
        let mut value = None;
        while let Some(key) = map.next_key_seed(Key)? {
            let next = match key {
                "stringValue" => {
                    let Walk {
                        interner, recent, ..
                    } = &mut *walk;
                    let text = |s: &str| intern.text(interner, recent, s);
                    map.next_value_seed(OrNull(Text(text)))?.map(Value::Str)
                }
                "boolValue" => map.next_value::<Option<bool>>()?.map(Value::Bool),
                "intValue" => map
                    .next_value::<Option<Int<i64>>>()?
                    .map(|i| Value::Int(i.0)),
                "doubleValue" => map
                    .next_value::<Option<Double>>()?
                    .map(|d| Value::Double(d.0)),
                "bytesValue" => map
                    .next_value::<Option<Bytes>>()?
                    .map(|b| Value::Bytes(Arc::new(b.0))),
                "arrayValue" => {
                    let seed = Object(ListValueFields(&mut *walk, depth + 1, PhantomData));
                    map.next_value_seed(OrNull(seed))?
                        .map(|values| Value::Array(Arc::new(values)))
                }
                "kvlistValue" => {
                    let seed = Object(ListValueFields(&mut *walk, depth + 1, PhantomData));
                    map.next_value_seed(OrNull(seed))?
                        .map(|values| Value::KvList(Arc::new(values)))
                }
                // The profiles-only `stringValueStrindex`: `convert` warns of it.
                "stringValueStrindex" => match map.next_value::<Option<Int<i32>>>()? {
                    Some(_) => return Err(declined()),
                    None => None,
                },
                _ => {
                    skip(&mut map)?;
                    None
                }
            };
            // A second value of the oneof: the mirror's error.
            if let Some(next) = next {
                if value.replace(next).is_some() {
                    return Err(declined());
                }
            }
        }
        Ok(value.unwrap_or(Value::Empty))
    }
}

/// An `ArrayValue` (of `Value`s) or a `KeyValueList` (of `KeyValue`s) at depth `.1`:
/// `{"values": [...]}`.
struct ListValueFields<'w, 'i, T>(&'w mut Walk<'i>, usize, PhantomData<T>);

impl<'de, 'i, T> Message<'de> for ListValueFields<'_, 'i, T>
where
    for<'w> Nested<'w, 'i, T>: Element<'de>,
{
    type Value = Vec<T>;

    fn fields<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut seen = Seen::default();
        let mut values = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                "values" => {
                    seen.first(1)?;
                    list_field(&mut map, Nested(&mut *self.0, self.1, &mut values))?;
                }
                _ => skip(&mut map)?,
            }
        }
        exact(&mut values);
        Ok(values)
    }
}

/// The elements of an array or a key-value list at depth `.1`, pushed onto `.2`.
struct Nested<'w, 'i, T>(&'w mut Walk<'i>, usize, &'w mut Vec<T>);

impl<'de> Element<'de> for Nested<'_, '_, Value> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let seed = Object(AnyValueFields {
            walk: &mut *self.0,
            intern: Intern::None,
            depth: self.1,
        });
        push(seq, seed, self.2)
    }
}

impl<'de> Element<'de> for Nested<'_, '_, KeyValue> {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let seed = Object(KeyValueFields {
            walk: &mut *self.0,
            list: List::Nested,
            depth: self.1,
        });
        push(seq, seed, self.2)
    }
}
