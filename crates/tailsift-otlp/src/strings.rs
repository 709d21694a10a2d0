//! How the readers hold the strings they read, shared by [`convert`](crate::convert), the
//! protobuf walk ([`wire`](crate::wire)) and the OTLP/JSON walk ([`json`](crate::json)), so
//! that all three make the same spans: which string values go through the interner, the
//! interned strings a walk was given last, and lists without spare room.

use std::convert::Infallible;

use tailsift::{Interner, Str, Text};

/// Which list an attribute is in, which says what goes through the interner.
#[derive(Clone, Copy)]
pub(crate) enum List {
    /// A resource's or a scope's: the key, and every string value too long to be held in place
    /// (they are few, and repeat across requests).
    Origin,
    /// A span's, an event's or a link's: the key, and a long string value if its key's values
    /// are low-cardinality ([`Interner::attribute_value`]).
    Span,
    /// A key-value list nested in a value: nothing.
    Nested,
}

impl List {
    /// Whether the list's keys are interned.
    pub(crate) fn interns_keys(self) -> bool {
        !matches!(self, List::Nested)
    }

    /// How the value of the attribute with key `key` (interned, if the list interns keys) is
    /// held.
    pub(crate) fn values(self, key: &Str) -> Intern<'_> {
        match self {
            List::Origin => Intern::All,
            List::Span => Intern::ByKey(key),
            List::Nested => Intern::None,
        }
    }
}

/// Which string values go through the interner.
#[derive(Clone, Copy)]
pub(crate) enum Intern<'a> {
    /// Every one too long to be held in place (resources and scopes).
    All,
    /// Those of key `.0`, if its values are low-cardinality (a span's, an event's or a link's
    /// attributes).
    ByKey(&'a Str),
    /// None (values nested in arrays and key-value lists).
    None,
}

impl Intern<'_> {
    /// The string value `s`, held by this rule: in place if short enough
    /// ([`Text::INLINE_CAPACITY`]), else interned or a copy of its own. `recent` answers the
    /// values interned last without the interner's lock.
    pub(crate) fn text(self, interner: &Interner, recent: &mut Recent, s: &str) -> Text {
        match self {
            Intern::All if s.len() > Text::INLINE_CAPACITY => recent.intern(interner, s).into(),
            Intern::ByKey(key) => recent.attribute_value(interner, key, s),
            _ => Text::from(s),
        }
    }
}

/// The interned strings a walk was given last, one per slot, found by their bytes: the keys
/// and names of one request repeat span after span, and a string found here costs neither its
/// UTF-8 check (the bytes equal a `str`'s) nor the interner's lock and hash.
pub(crate) struct Recent {
    slots: [Option<Str>; Recent::SLOTS],
    /// The attribute values interned last, with the address of their key: what
    /// [`Interner::attribute_value`] gave for that key and value.
    values: [Option<(usize, Text)>; Recent::SLOTS],
}

impl Recent {
    const SLOTS: usize = 64;

    pub(crate) fn new() -> Recent {
        Recent {
            slots: [const { None }; Recent::SLOTS],
            values: [const { None }; Recent::SLOTS],
        }
    }

    /// The interned string for `bytes`: the one remembered for them, or `fresh()`'s, then
    /// remembered if the interner holds it (a copy of its own is not worth a slot).
    #[inline]
    pub(crate) fn get_or_intern<E>(
        &mut self,
        bytes: &[u8],
        fresh: impl FnOnce() -> Result<Str, E>,
    ) -> Result<Str, E> {
        let slot = &mut self.slots[Recent::slot(bytes)];
        if let Some(found) = slot {
            if found.as_str().as_bytes() == bytes {
                return Ok(found.clone());
            }
        }
        let fresh = fresh()?;
        if fresh.is_immortal() {
            *slot = Some(fresh.clone());
        }
        Ok(fresh)
    }

    /// `s` interned: the string remembered for its bytes, or `interner`'s.
    #[inline]
    pub(crate) fn intern(&mut self, interner: &Interner, s: &str) -> Str {
        let Ok(interned) =
            self.get_or_intern(s.as_bytes(), || Ok::<_, Infallible>(interner.intern(s)));
        interned
    }

    /// What [`Interner::attribute_value`] gives for `key` and `value`: the value remembered
    /// for them if there is one, else the interner's answer, remembered if it is interned.
    ///
    /// The key is known by its address, so only an interned key is remembered: its bytes are
    /// never freed, so no other key ever has its address. And an interned value stays in the
    /// interner, so for that key and value `attribute_value` gives it again: the memory gives
    /// what the interner would, without its lock (a lock every span takes once or twice, for
    /// its route or RPC service, and two threads decoding with one interner contend for).
    #[inline]
    pub(crate) fn attribute_value(&mut self, interner: &Interner, key: &Str, value: &str) -> Text {
        // Held in place whatever its key: no interner, nothing to remember.
        if value.len() <= Text::INLINE_CAPACITY {
            return Text::from(value);
        }
        let address = key.as_str().as_ptr() as usize;
        let at = (Recent::slot(value.as_bytes()) ^ address >> 4) % Recent::SLOTS;
        let slot = &mut self.values[at];
        if let Some((remembered, text)) = slot {
            if *remembered == address && text.as_str() == value {
                return text.clone();
            }
        }
        let text = interner.attribute_value(key.as_str(), value);
        if key.is_immortal() && text.is_immortal() {
            *slot = Some((address, text.clone()));
        }
        text
    }

    /// Whether no string is remembered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none) && self.values.iter().all(Option::is_none)
    }

    /// The slot of `bytes`: from its length and its first and last eight bytes, which tell
    /// apart the keys of one namespace (`http.request.method`, `http.response.status_code`).
    #[inline]
    pub(crate) fn slot(bytes: &[u8]) -> usize {
        let n = bytes.len();
        let key = if n >= 8 {
            let head: [u8; 8] = bytes[..8].try_into().unwrap_or_default();
            let tail: [u8; 8] = bytes[n - 8..].try_into().unwrap_or_default();
            u64::from_le_bytes(head) ^ u64::from_le_bytes(tail).rotate_left(29)
        } else {
            bytes.iter().fold(0, |key, &b| key << 8 | u64::from(b))
        } ^ n as u64;
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - Recent::SLOTS.trailing_zeros())) as usize
    }
}

/// Gives back the room a list built by pushing holds beyond its length, as `convert`'s lists,
/// collected at their exact length, hold none: a buffered span keeps its lists (one event
/// pushed into an empty vector holds room for four).
pub(crate) fn exact<T>(list: &mut Vec<T>) {
    if list.capacity() > list.len() {
        list.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_values_are_what_the_interner_gives() {
        let interner = Interner::default();
        let route = interner.intern("http.route");
        let url = interner.intern("url.full");
        let copied_route = Str::from("http.route");
        assert!(route.is_immortal() && url.is_immortal() && !copied_route.is_immortal());
        let values: Vec<String> = (0..200)
            .map(|i| format!("/api/v1/items/{{id}}/part-{}", i % 70))
            .chain(["short".to_owned(), "x".repeat(16), "x".repeat(15)])
            .collect();
        let mut recent = Recent::new();
        for _ in 0..3 {
            for value in &values {
                for key in [&route, &url, &copied_route] {
                    let remembered = recent.attribute_value(&interner, key, value);
                    let direct = interner.attribute_value(key.as_str(), value);
                    assert_eq!(remembered.as_str(), direct.as_str());
                    assert_eq!(
                        remembered.is_immortal(),
                        direct.is_immortal(),
                        "{key} {value}"
                    );
                    assert_eq!(remembered.is_inline(), direct.is_inline());
                    if direct.is_immortal() && !direct.is_inline() {
                        // The same copy, not an equal one.
                        assert_eq!(remembered.as_str().as_ptr(), direct.as_str().as_ptr());
                    }
                }
            }
        }
        // A route's long value is interned; the same bytes as another key's value are not,
        // whichever slot that key's address gives them (many keys: some share the route's).
        let keys: Vec<Str> = (0..256)
            .map(|i| interner.intern(&format!("custom.key.{i}")))
            .collect();
        for value in &values[..4] {
            assert!(recent
                .attribute_value(&interner, &route, value)
                .is_immortal());
            for key in &keys {
                let text = recent.attribute_value(&interner, key, value);
                assert!(!text.is_immortal(), "{key} {value}");
            }
        }
    }

    #[test]
    fn values_a_full_interner_copies_are_not_remembered() {
        // Values may take half the interner's bound: here none.
        let interner = Interner::new(1);
        let route = interner.intern("http.route");
        assert!(route.is_immortal());
        let mut recent = Recent::new();
        for _ in 0..2 {
            let text = recent.attribute_value(&interner, &route, "/api/v1/items/{id}");
            assert_eq!(text.as_str(), "/api/v1/items/{id}");
            assert!(!text.is_immortal());
        }
        assert!(recent.values.iter().all(Option::is_none));
    }
}
