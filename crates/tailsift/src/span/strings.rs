//! [`Str`], the engine's shared string, and the [`Interner`] that makes repeated strings
//! immortal.

use arcstr::ArcStr;
use parking_lot::Mutex;

use super::Text;

/// A shared, immutable string: one pointer wide, cloned by a reference-count increment.
///
/// Two kinds of `Str` cost nothing to clone or drop (no atomic operation at all): the empty
/// string, and *immortal* strings — those interned by an [`Interner`] or made by
/// [`Str::immortal`], which are never freed. Span names, attribute keys and service names are
/// interned, so a buffered span's strings mostly cost no refcount traffic between threads; only
/// unique values (URLs, ids) are counted. (Built on `arcstr::ArcStr`.)
#[derive(Clone)]
pub struct Str(ArcStr);

impl Str {
    /// The empty string (static: no allocation, no reference counting).
    pub const fn empty() -> Str {
        Str(ArcStr::new())
    }

    /// A string that is never freed, so its clones and drops cost nothing. For strings that
    /// live as long as the process: interned names and keys, a generator's constant tables.
    pub fn immortal(s: &str) -> Str {
        let a = ArcStr::from(s);
        a.leak();
        Str(a)
    }

    /// Whether clones and drops of this string skip reference counting.
    pub fn is_immortal(&self) -> bool {
        ArcStr::is_static(&self.0)
    }

    /// The string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    fn new(s: &str) -> Str {
        Str(ArcStr::from(s))
    }

    /// Starts loading the string's header (its length and count, and its first bytes) into the
    /// cache without reading it: a hint for a loop that reads the string a little later.
    #[inline]
    pub(crate) fn prefetch(&self) {
        // SAFETY: the bitwise copy goes straight to `into_raw`, which only takes its pointer and
        // forgets it, so it is never dropped or used: `self` keeps the one count it holds, and
        // nothing is read through the pointer here.
        let header = ArcStr::into_raw(unsafe { std::ptr::read(&self.0) });
        crate::prefetch::prefetch_address(header.as_ptr().cast_const().cast());
    }

    /// Whether two `Str`s share one allocation (interned copies do).
    pub fn ptr_eq(&self, other: &Str) -> bool {
        ArcStr::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.ptr_eq(other) || self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

str_like!(Str);

impl Default for Str {
    fn default() -> Str {
        Str::empty()
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::new(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::new(&s)
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::new(s)
    }
}

/// Shares one copy of each repeated string.
///
/// Interned strings are immortal ([`Str::immortal`]): never freed, so clones and drops of them
/// cost no atomic operation — the point, since every span holds a dozen of them. The interner
/// is therefore bounded: once it holds `max_entries` strings it stops interning and hands out
/// ordinary counted copies, so a stream of unique values (request ids, URLs) cannot grow it
/// without limit. Intern low-cardinality strings only (keys, span names, service names; string
/// attribute values through [`Interner::attribute_value`], which picks the low-cardinality
/// ones), and keep one interner for the life of a pipeline rather than one per request.
pub struct Interner {
    table: Mutex<hashbrown::HashSet<Str, ahash::RandomState>>,
    max_entries: usize,
}

impl Interner {
    /// An interner that holds at most `max_entries` strings.
    pub fn new(max_entries: usize) -> Interner {
        Interner {
            table: Mutex::new(hashbrown::HashSet::default()),
            max_entries,
        }
    }

    /// The shared copy of `s`.
    pub fn intern(&self, s: &str) -> Str {
        self.intern_within(s, self.max_entries)
    }

    /// [`Interner::intern`], adding `s` only while fewer than `limit` strings are held.
    fn intern_within(&self, s: &str, limit: usize) -> Str {
        if s.is_empty() {
            return Str::empty();
        }
        let mut table = self.table.lock();
        if let Some(found) = table.get(s) {
            return found.clone();
        }
        if table.len() < limit {
            let fresh = Str::immortal(s);
            table.insert(fresh.clone());
            fresh
        } else {
            Str::from(s)
        }
    }

    /// A span attribute's string value as a decoder should hold it: in place when it fits
    /// ([`Text::INLINE_CAPACITY`] bytes); else interned when its key is one whose values are
    /// low-cardinality by the semantic conventions ([`has_low_cardinality_values`]: routes,
    /// services, systems, operations, hosts, types), so that every span shares one immortal
    /// copy and freeing a span frees nothing for it; else a copy of its own (URLs, statements,
    /// messages: often unique). A value is added only while the interner holds fewer than half
    /// its bound: values an instrumentation makes more numerous than the conventions say
    /// cannot take the room of the names and keys.
    pub fn attribute_value(&self, key: &str, value: &str) -> Text {
        if value.len() > Text::INLINE_CAPACITY && has_low_cardinality_values(key) {
            Text::from(self.intern_within(value, self.max_entries / 2))
        } else {
            Text::from(value)
        }
    }

    /// How many strings are interned.
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether no string is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether the OpenTelemetry semantic conventions make the values of attribute `key`
/// low-cardinality: a route template (not a URL), the name of a service (`rpc.service`,
/// `peer.service`), a system, an operation, a table or a queue template, the host a service
/// talks to (`server.address`), an error or exception type. These are what
/// [`Interner::attribute_value`] interns. Values that are often unique (`url.full`,
/// `db.query.text`, `exception.message`, ids) are not listed. An instrumentation that puts
/// unique values under a listed key only fills the interner sooner: past half its bound it
/// hands out copies of them, and the other half stays for names and keys.
pub fn has_low_cardinality_values(key: &str) -> bool {
    matches!(
        key,
        "http.route"
            | "http.request.method"
            | "url.scheme"
            | "url.template"
            | "rpc.system"
            | "rpc.service"
            | "rpc.method"
            | "db.system"
            | "db.system.name"
            | "db.namespace"
            | "db.name"
            | "db.operation"
            | "db.operation.name"
            | "db.collection.name"
            | "db.sql.table"
            | "messaging.system"
            | "messaging.operation"
            | "messaging.operation.name"
            | "messaging.operation.type"
            | "messaging.destination.template"
            | "server.address"
            | "net.peer.name"
            | "peer.service"
            | "network.protocol.name"
            | "error.type"
            | "exception.type"
            | "code.namespace"
            | "code.function"
            | "code.function.name"
    )
}

impl Default for Interner {
    /// An interner bounded at 65,536 strings.
    fn default() -> Interner {
        Interner::new(1 << 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefetch_leaves_the_string_and_its_count_alone() {
        let s = Str::from("a value of its own");
        let copy = s.clone();
        assert_eq!(ArcStr::strong_count(&s.0), Some(2));
        for _ in 0..3 {
            s.prefetch();
            copy.prefetch();
        }
        assert_eq!(ArcStr::strong_count(&s.0), Some(2));
        drop(copy);
        assert_eq!(ArcStr::strong_count(&s.0), Some(1));
        assert_eq!(s.as_str(), "a value of its own");
        // Immortal and empty strings (static headers) too.
        let immortal = Str::immortal("interned");
        immortal.prefetch();
        Str::empty().prefetch();
        assert!(immortal.is_immortal() && &*immortal == "interned");
    }

    #[test]
    fn attribute_values_are_interned_only_when_long_and_low_cardinality() {
        let interner = Interner::new(2);
        let route = "/api/orders/{id}/invoice";
        let a = interner.attribute_value("http.route", route);
        let b = interner.attribute_value("http.route", route);
        // Interned: one immortal copy for both.
        let (a, b) = (a.as_shared().unwrap(), b.as_shared().unwrap());
        assert!(a.is_immortal() && std::ptr::eq(a.as_ptr(), b.as_ptr()) && a == route);
        // A URL: a copy of its own, counted, each time.
        let url = "https://payments.internal/v1/charge?order=1234";
        let c = interner.attribute_value("url.full", url);
        let c = c.as_shared().unwrap();
        assert!(!c.is_immortal() && c == url);
        // Short values are held in place whatever the key.
        assert!(interner
            .attribute_value("rpc.method", "GetCart")
            .is_inline());
        assert!(interner.attribute_value("user.id", "u-17").is_inline());
        assert_eq!(interner.len(), 1);
        // Values take at most half the interner (here one string): past it, a listed key's
        // value is a copy, and names and keys are still interned.
        let late = interner.attribute_value("rpc.service", "oteldemo.PaymentService");
        assert!(!late.as_shared().unwrap().is_immortal());
        assert!(interner.intern("a.key.seen.late").is_immortal());
        assert_eq!(interner.len(), 2);
        assert!(!interner.intern("one.more.key").is_immortal());
    }
}
