//! [`Text`], a string attribute value: a short one held in place, a longer one a shared [`Str`].

use super::Str;

/// A string attribute value ([`Value::Str`](super::Value::Str)): one of at most
/// [`Text::INLINE_CAPACITY`] bytes is held in place, a longer one is a shared [`Str`].
///
/// Sixteen bytes, as wide as a [`Value`](super::Value) and no wider: the compiler keeps the
/// value's kind in the byte that holds a short text's length. Most attribute values are short
/// (`GET`, `200`, `postgresql`, `premium`, a tenant or a pod name), and an OTLP decoder makes a
/// string per value and span: held in place, such a value costs no allocation, no reference
/// count and no free, and reading it reads no memory beyond the attribute itself.
///
/// The held-in-place form is exact: every string of at most [`Text::INLINE_CAPACITY`] bytes is
/// held in place however it was made (from a `&str`, a `String` or a [`Str`]), so texts of
/// different forms are different strings. Names and keys stay [`Str`]s: one word, interned.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    /// A string of at most `INLINE_CAPACITY` bytes: its length, and its bytes followed by zeros
    /// (so that two equal strings are equal bytes).
    Inline(InlineLen, [u8; Text::INLINE_CAPACITY]),
    /// A longer string.
    Shared(Str),
}

/// The length of a string held in place. An enum of sixteen values, not a `u8`, so that the
/// compiler can keep the form, and an enclosing [`Value`](super::Value)'s kind, in this byte's
/// other 240 values.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum InlineLen {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

const INLINE_LENS: [InlineLen; Text::INLINE_CAPACITY + 1] = {
    use InlineLen::*;
    [
        L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
    ]
};

impl Text {
    /// The longest string held in place, with no allocation of its own.
    pub const INLINE_CAPACITY: usize = 15;

    /// The empty string.
    pub const fn empty() -> Text {
        Text(Repr::Inline(InlineLen::L0, [0; Text::INLINE_CAPACITY]))
    }

    /// The string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(len, bytes) => {
                let bytes = &bytes[..*len as usize];
                // SAFETY: `Text::inline` is the only maker of `Repr::Inline`, and it copies a
                // whole `&str` into the first `len` bytes; they are never changed after.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Shared(s) => s.as_str(),
        }
    }

    /// The length in bytes: for a text held in place, read from the text itself.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline(len, _) => *len as usize,
            Repr::Shared(s) => s.len(),
        }
    }

    /// Whether the text is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this text is held in place (it is at most [`Text::INLINE_CAPACITY`] bytes).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(..))
    }

    /// Whether clones and drops of this text skip reference counting: it is held in place, or
    /// an immortal [`Str`].
    pub fn is_immortal(&self) -> bool {
        match &self.0 {
            Repr::Inline(..) => true,
            Repr::Shared(s) => s.is_immortal(),
        }
    }

    /// The shared string of a long text, `None` for one held in place.
    pub fn as_shared(&self) -> Option<&Str> {
        match &self.0 {
            Repr::Inline(..) => None,
            Repr::Shared(s) => Some(s),
        }
    }

    /// The text as a [`Str`]: the shared string of a long text, a new one for a short text.
    pub fn to_str(&self) -> Str {
        match &self.0 {
            Repr::Inline(..) => Str::from(self.as_str()),
            Repr::Shared(s) => s.clone(),
        }
    }

    /// `s` held in place, if it is short enough.
    #[inline]
    fn inline(s: &str) -> Option<Text> {
        let len = s.len();
        let mut bytes = [0; Text::INLINE_CAPACITY];
        bytes.get_mut(..len)?.copy_from_slice(s.as_bytes());
        Some(Text(Repr::Inline(INLINE_LENS[len], bytes)))
    }

    /// Starts loading a long text's header into the cache without reading it (see
    /// [`Str::prefetch`]); a text held in place has nothing to load.
    #[inline]
    pub(crate) fn prefetch(&self) {
        if let Repr::Shared(s) = &self.0 {
            s.prefetch();
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::empty()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::inline(s).unwrap_or_else(|| Text(Repr::Shared(Str::from(s))))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::from(s.as_str())
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::from(s.as_str())
    }
}

impl From<Str> for Text {
    /// Holds a short `s` in place (a copy of its bytes), and keeps a longer one as it is.
    fn from(s: Str) -> Text {
        Text::inline(&s).unwrap_or(Text(Repr::Shared(s)))
    }
}

impl From<&Str> for Text {
    fn from(s: &Str) -> Text {
        Text::inline(s).unwrap_or_else(|| Text(Repr::Shared(s.clone())))
    }
}

impl PartialEq for Text {
    #[inline]
    fn eq(&self, other: &Text) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline(a, x), Repr::Inline(b, y)) => a == b && x == y,
            (Repr::Shared(a), Repr::Shared(b)) => a == b,
            // Every string of at most `INLINE_CAPACITY` bytes is held in place, and no longer
            // one is: different forms, different lengths.
            _ => false,
        }
    }
}

impl Eq for Text {}

str_like!(Text);

impl PartialEq<Str> for Text {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Interner, Value};
    use std::hash::{Hash, Hasher};

    #[test]
    fn strings_up_to_fifteen_bytes_are_held_in_place_however_made() {
        let interner = Interner::new(64);
        for len in 0..=Text::INLINE_CAPACITY + 2 {
            let text: String = "abcdefghijklmnopq".chars().take(len).collect();
            let long = len > Text::INLINE_CAPACITY;
            let made = [
                Text::from(text.as_str()),
                Text::from(text.clone()),
                Text::from(Str::from(text.as_str())),
                Text::from(&interner.intern(&text)),
            ];
            for t in &made {
                assert_eq!(t.as_str(), text);
                assert_eq!(t.len(), len);
                assert_eq!(t.is_inline(), !long, "{len} bytes");
                assert_eq!(t.as_shared().is_some(), long);
                assert_eq!(t.clone(), made[0]);
                assert_eq!(t.to_str(), text.as_str());
            }
            // Made from an interned string, a long text keeps it, immortal; a short one is
            // held in place, which costs nothing to clone or drop either.
            assert!(made[3].is_immortal());
            assert_eq!(made[0].is_immortal(), !long);
        }
        // Multi-byte characters: the limit is in bytes.
        let accented = Text::from("caf\u{e9}-cr\u{e8}me!!!"); // 15 bytes
        assert!(accented.is_inline() && accented == "caf\u{e9}-cr\u{e8}me!!!");
        assert!(!Text::from("caf\u{e9}-cr\u{e8}me!!!!").is_inline());
    }

    #[test]
    fn equality_order_and_hash_are_the_text_s_whatever_the_form() {
        let short = Text::from("items");
        let long = Text::from("items.internal.example");
        assert_eq!(short, Text::from(Str::immortal("items")));
        assert_eq!(long, Text::from(Str::immortal("items.internal.example")));
        assert_ne!(short, long);
        assert_ne!(Text::from("item"), short);
        assert!(short < long && Text::empty() < short);
        let items = Str::immortal("items");
        assert!(short == items && long == "items.internal.example");
        let hash = |t: &Text| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&short), hash(&Text::from(Str::from("items"))));
        let set: std::collections::HashSet<Text> = [short.clone(), long.clone()].into();
        assert!(set.contains("items") && set.contains("items.internal.example"));
    }

    proptest::proptest! {
        /// Whatever the string and however it is made, a text reads back as it, is held in
        /// place exactly when it fits, and compares, orders and hashes as its `str` does.
        #[test]
        fn a_text_behaves_as_its_str(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            let hash = |t: &Text| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                t.hash(&mut h);
                h.finish()
            };
            let hash_str = |s: &str| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                s.hash(&mut h);
                h.finish()
            };
            for (x, y) in [(&a, &b), (&a, &a)] {
                let (tx, ty) = (Text::from(x.as_str()), Text::from(Str::from(y.as_str())));
                proptest::prop_assert_eq!(tx.as_str(), x.as_str());
                proptest::prop_assert_eq!(tx.len(), x.len());
                proptest::prop_assert_eq!(tx.is_inline(), x.len() <= Text::INLINE_CAPACITY);
                proptest::prop_assert_eq!(tx == ty, x == y);
                proptest::prop_assert_eq!(tx.cmp(&ty), x.cmp(y));
                proptest::prop_assert_eq!(hash(&tx), hash_str(x));
                proptest::prop_assert_eq!(tx.to_str(), x.as_str());
            }
        }
    }

    #[test]
    fn a_prefetch_leaves_a_text_alone() {
        for t in [Text::from("GET"), Text::from("/internal/items/load")] {
            let copy = t.clone();
            t.prefetch();
            assert_eq!(t, copy);
        }
    }

    #[test]
    fn a_text_is_as_wide_as_a_value_and_no_wider() {
        assert_eq!(std::mem::size_of::<Text>(), 16);
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Option<Value>>(), 16);
    }
}
