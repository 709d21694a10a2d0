//! The values the compiled fast path computes with, and the cel crate's rules for comparing
//! them.
//!
//! A value is a small `Copy` enum borrowing the trace (or the program's literals): nothing is
//! boxed or allocated. Each rule below is the cel crate's (0.15) for the same pair of
//! values, cited where it is not obvious; where the interpreter's answer would need anything
//! this module cannot express (a list literal compared with a list, a string built at run
//! time), evaluation stops with [`Stop::Bail`] and the interpreter answers instead.

use std::cmp::Ordering;

use cel::common::ast::LiteralValue;
use tailsift::span::{Event, KeyValue, Span, Value};

/// Why an evaluation stopped without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A CEL runtime error, of this class. CEL may absorb it (`true || error`).
    Error(ErrClass),
    /// The fast path cannot say what the interpreter would: it must evaluate instead. Never
    /// absorbed.
    Bail,
    /// The iteration budget is spent: the evaluation fails whatever else happens.
    Exhausted,
}

/// The class of a runtime error: what the differential tests compare, as error messages are
/// the interpreter's to word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrClass {
    /// A missing field, map key or attribute (`NoSuchKey`).
    NoSuchKey,
    /// An operator or function applied to values of the wrong types (no such overload, not
    /// comparable, unexpected type, unsupported operator).
    Type,
    /// Division or remainder by zero, integer overflow.
    Arithmetic,
    /// A list index outside the list.
    OutOfBounds,
    /// A function failed on its input (`optional.none().value()`, a conversion overflow).
    Function,
}

pub(crate) type Eval<T> = Result<T, Stop>;

pub(crate) fn error<T>(class: ErrClass) -> Eval<T> {
    Err(Stop::Error(class))
}

/// A literal of the expression, owned by the compiled program.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Const {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Box<str>),
    Bytes(Box<[u8]>),
    Null,
}

impl Const {
    pub(crate) fn of(literal: &LiteralValue) -> Const {
        match literal {
            LiteralValue::Boolean(b) => Const::Bool(*b.inner()),
            LiteralValue::Int(i) => Const::Int(*i.inner()),
            LiteralValue::UInt(u) => Const::UInt(*u.inner()),
            LiteralValue::Double(d) => Const::Double(*d.inner()),
            LiteralValue::String(s) => Const::Str(s.inner().into()),
            LiteralValue::Bytes(b) => Const::Bytes(b.inner().into()),
            LiteralValue::Null => Const::Null,
        }
    }

    pub(crate) fn base(&self) -> Base<'_> {
        match self {
            Const::Bool(b) => Base::Bool(*b),
            Const::Int(i) => Base::Int(*i),
            Const::UInt(u) => Base::UInt(*u),
            Const::Double(d) => Base::Double(*d),
            Const::Str(s) => Base::Str(s),
            Const::Bytes(b) => Base::Bytes(b),
            Const::Null => Base::Null,
        }
    }
}

/// A value that is not an optional.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Base<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Null,
    /// `trace`.
    Trace,
    /// `trace.baseline`.
    Baseline,
    /// An element of `spans`, or `trace.root`.
    Span(&'a Span),
    /// An element of `trace.critical_path`: a span and its self time on the path.
    PathSpan(&'a Span, u64),
    /// An element of `s.events`.
    Event(&'a Event),
    /// An attribute map (span, resource or event attributes, or a key-value list value).
    Attrs(&'a [KeyValue]),
    /// An array attribute value.
    Array(&'a [Value]),
    /// `spans`.
    Spans,
    /// `trace.critical_path`.
    CriticalPath,
    /// `s.events`.
    Events(&'a [Event]),
    /// A list literal of literals.
    ConstList(&'a [Const]),
}

/// Any value: a [`Base`] or an optional holding one (an optional of an optional is beyond
/// the fast path).
#[derive(Clone, Copy, Debug)]
pub(crate) enum V<'a> {
    B(Base<'a>),
    OptNone,
    OptSome(Base<'a>),
}

impl<'a> V<'a> {
    pub(crate) fn bool(b: bool) -> V<'a> {
        V::B(Base::Bool(b))
    }

    /// `optional.of(self)`.
    pub(crate) fn into_optional(self) -> Eval<V<'a>> {
        match self {
            V::B(b) => Ok(V::OptSome(b)),
            V::OptNone | V::OptSome(_) => Err(Stop::Bail),
        }
    }
}

/// An attribute value as CEL sees it (as `collections::attribute_value` converts it).
pub(crate) fn attribute(value: &Value) -> Base<'_> {
    match value {
        Value::Empty => Base::Null,
        Value::Str(s) => Base::Str(s),
        Value::Bool(b) => Base::Bool(*b),
        Value::Int(i) => Base::Int(*i),
        Value::Double(d) => Base::Double(*d),
        Value::Bytes(b) => Base::Bytes(b.as_slice()),
        Value::Array(values) => Base::Array(values.as_slice()),
        Value::KvList(kvs) => Base::Attrs(kvs.as_slice()),
    }
}

/// The first attribute named `key` (as `AttrsVal` looks keys up).
pub(crate) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| &*kv.key == key).map(|kv| &kv.value)
}

/// `a == b`: the cel crate's `a.equals(b)`.
///
/// Numbers compare across `int`, `uint` and `double` by value (NaN equals nothing); strings,
/// bytes, bools and null by value; optionals when both are empty or both hold equal values;
/// list literals element by element. The trace's objects, lists and maps equal nothing (their
/// `Val` implementations keep the default `equals`).
#[inline(always)]
pub(crate) fn equals(a: V<'_>, b: V<'_>) -> bool {
    match (a, b) {
        (V::B(x), V::B(y)) | (V::OptSome(x), V::OptSome(y)) => base_equals(x, y),
        (V::OptNone, V::OptNone) => true,
        _ => false,
    }
}

pub(crate) fn base_equals(a: Base<'_>, b: Base<'_>) -> bool {
    match (a, b) {
        (Base::Bool(x), Base::Bool(y)) => x == y,
        (Base::Str(x), Base::Str(y)) => x == y,
        (Base::Bytes(x), Base::Bytes(y)) => x == y,
        (Base::Null, Base::Null) => true,
        (Base::ConstList(x), Base::ConstList(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| base_equals(x.base(), y.base()))
        }
        // Numbers are equal when they compare equal (`Int::equals` is `compare == Equal`).
        (
            Base::Int(_) | Base::UInt(_) | Base::Double(_),
            Base::Int(_) | Base::UInt(_) | Base::Double(_),
        ) => compare_numbers(a, b) == Some(Ordering::Equal),
        _ => false,
    }
}

/// The cel crate's `Comparer` for two numbers; `None` for NaN (an error in `<`, inequality in
/// `==`).
fn compare_numbers(a: Base<'_>, b: Base<'_>) -> Option<Ordering> {
    match (a, b) {
        (Base::Int(x), Base::Int(y)) => Some(x.cmp(&y)),
        // A negative int is below every uint.
        (Base::Int(x), Base::UInt(y)) => {
            Some(u64::try_from(x).map_or(Ordering::Less, |x| x.cmp(&y)))
        }
        (Base::Int(x), Base::Double(y)) => (x as f64).partial_cmp(&y),
        // A uint above i64::MAX is above every int.
        (Base::UInt(x), Base::Int(y)) => {
            Some(i64::try_from(x).map_or(Ordering::Greater, |x| x.cmp(&y)))
        }
        (Base::UInt(x), Base::UInt(y)) => Some(x.cmp(&y)),
        (Base::UInt(x), Base::Double(y)) => (x as f64).partial_cmp(&y),
        (Base::Double(x), Base::Double(y)) => x.partial_cmp(&y),
        (Base::Double(x), Base::Int(y)) => x.partial_cmp(&(y as f64)),
        (Base::Double(x), Base::UInt(y)) => x.partial_cmp(&(y as f64)),
        _ => None,
    }
}

/// `a < b` and friends: the cel crate's `Comparer` of the left operand. Numbers compare
/// across types, strings, bytes and bools with their own kind; everything else (and NaN) is
/// a type error.
#[inline(always)]
pub(crate) fn compare(a: V<'_>, b: V<'_>) -> Eval<Ordering> {
    let (V::B(a), V::B(b)) = (a, b) else {
        return error(ErrClass::Type);
    };
    let ordering = match (a, b) {
        (Base::Str(x), Base::Str(y)) => Some(x.cmp(y)),
        (Base::Bytes(x), Base::Bytes(y)) => Some(x.cmp(y)),
        (Base::Bool(x), Base::Bool(y)) => Some(x.cmp(&y)),
        _ => compare_numbers(a, b),
    };
    ordering.map_or(error(ErrClass::Type), Ok)
}

/// The arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// `a <op> b` on numbers of one kind: checked for `int` and `uint` (overflow and division by
/// zero are errors), IEEE for `double` (which has no `%`). Mixed kinds are type errors, and so
/// is any other left operand but for `+` on strings, bytes and lists, which bails (it builds a
/// new value).
pub(crate) fn arithmetic<'a>(op: Arith, a: V<'a>, b: V<'a>) -> Eval<V<'a>> {
    let V::B(a) = a else {
        // An optional has no operators.
        return error(ErrClass::Type);
    };
    let b = match b {
        V::B(b) => b,
        V::OptNone | V::OptSome(_) => Base::Null,
    };
    let arithmetic = ErrClass::Arithmetic;
    match (a, b) {
        (Base::Int(x), Base::Int(y)) => {
            let result = match op {
                Arith::Add => x.checked_add(y),
                Arith::Sub => x.checked_sub(y),
                Arith::Mul => x.checked_mul(y),
                Arith::Div | Arith::Rem if y == 0 => return error(arithmetic),
                Arith::Div => x.checked_div(y),
                Arith::Rem => x.checked_rem(y),
            };
            result.map_or(error(arithmetic), |r| Ok(V::B(Base::Int(r))))
        }
        (Base::UInt(x), Base::UInt(y)) => {
            let result = match op {
                Arith::Add => x.checked_add(y),
                Arith::Sub => x.checked_sub(y),
                Arith::Mul => x.checked_mul(y),
                Arith::Div | Arith::Rem if y == 0 => return error(arithmetic),
                Arith::Div => x.checked_div(y),
                Arith::Rem => x.checked_rem(y),
            };
            result.map_or(error(arithmetic), |r| Ok(V::B(Base::UInt(r))))
        }
        (Base::Double(x), Base::Double(y)) => Ok(V::B(Base::Double(match op {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
            Arith::Rem => return error(ErrClass::Type),
        }))),
        // `+` on strings, bytes and list literals builds a new value.
        (Base::Str(_) | Base::Bytes(_) | Base::ConstList(_), _) if op == Arith::Add => {
            Err(Stop::Bail)
        }
        // Nothing else has arithmetic operators.
        _ => error(ErrClass::Type),
    }
}

/// The fields of the trace's objects, resolved when the expression is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    DurationMs,
    SpanCount,
    ErrorCount,
    Randomness,
    Root,
    Baseline,
    CriticalPath,
    Samples,
    P50Ms,
    P95Ms,
    P99Ms,
    Service,
    Name,
    Kind,
    Status,
    StatusMessage,
    Attributes,
    Resource,
    Events,
    SelfMs,
    /// No object has this field (it may still be a map key).
    Other,
}

impl Field {
    pub(crate) fn of(name: &str) -> Field {
        match name {
            "duration_ms" => Field::DurationMs,
            "span_count" => Field::SpanCount,
            "error_count" => Field::ErrorCount,
            "randomness" => Field::Randomness,
            "root" => Field::Root,
            "baseline" => Field::Baseline,
            "critical_path" => Field::CriticalPath,
            "samples" => Field::Samples,
            "p50_ms" => Field::P50Ms,
            "p95_ms" => Field::P95Ms,
            "p99_ms" => Field::P99Ms,
            "service" => Field::Service,
            "name" => Field::Name,
            "kind" => Field::Kind,
            "status" => Field::Status,
            "status_message" => Field::StatusMessage,
            "attributes" => Field::Attributes,
            "resource" => Field::Resource,
            "events" => Field::Events,
            "self_ms" => Field::SelfMs,
            _ => Field::Other,
        }
    }
}

/// A field name or map key known when the expression is compiled.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub(crate) field: Field,
    pub(crate) name: Box<str>,
}

impl Key {
    pub(crate) fn new(name: &str) -> Key {
        Key {
            field: Field::of(name),
            name: name.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_kinds_as_the_cel_crate_does() {
        let int = |i| V::B(Base::Int(i));
        let uint = |u| V::B(Base::UInt(u));
        let double = |d| V::B(Base::Double(d));
        assert!(equals(int(1), double(1.0)));
        assert!(equals(uint(1), int(1)));
        assert!(!equals(int(-1), uint(u64::MAX)));
        assert!(!equals(double(f64::NAN), double(f64::NAN)));
        assert_eq!(compare(int(-1), uint(0)), Ok(Ordering::Less));
        assert_eq!(compare(uint(u64::MAX), int(0)), Ok(Ordering::Greater));
        assert_eq!(
            compare(double(f64::NAN), int(0)),
            Err(Stop::Error(ErrClass::Type))
        );
        assert_eq!(
            compare(V::B(Base::Str("a")), int(0)),
            Err(Stop::Error(ErrClass::Type))
        );
    }

    #[test]
    fn optionals_equal_only_optionals() {
        let one = V::B(Base::Int(1));
        assert!(equals(
            V::OptSome(Base::Int(1)),
            V::OptSome(Base::Double(1.0))
        ));
        assert!(equals(V::OptNone, V::OptNone));
        assert!(!equals(V::OptSome(Base::Int(1)), one));
        assert!(!equals(one, V::OptSome(Base::Int(1))));
        assert!(!equals(V::OptNone, V::B(Base::Null)));
    }

    #[test]
    fn integer_arithmetic_is_checked() {
        let int = |i| V::B(Base::Int(i));
        assert!(matches!(
            arithmetic(Arith::Add, int(i64::MAX), int(1)),
            Err(Stop::Error(ErrClass::Arithmetic))
        ));
        assert!(matches!(
            arithmetic(Arith::Rem, int(1), int(0)),
            Err(Stop::Error(ErrClass::Arithmetic))
        ));
        assert!(matches!(
            arithmetic(Arith::Add, int(1), V::B(Base::Double(1.0))),
            Err(Stop::Error(ErrClass::Type))
        ));
        assert!(matches!(
            arithmetic(Arith::Add, V::B(Base::Str("a")), V::B(Base::Str("b"))),
            Err(Stop::Bail)
        ));
    }
}
