//! CEL lists and maps over the engine's data: `spans`, `trace.critical_path`, `s.events`,
//! attribute maps and OTLP array values.
//!
//! The cel crate's comprehensions borrow each element from the list they iterate over, so a
//! list holds one small value per element (a reference into the trace). Attribute maps scan the
//! span's attributes on each lookup (spans carry few) and convert a value only when it is read.

use std::sync::OnceLock;

use cel::common::traits::{self, Container, Indexer, Iterable, Sizer};
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelNull, CelString, CelUInt, Kind, Type, LIST_TYPE,
    MAP_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;
use tailsift::span::{KeyValue, Value};

/// The field name of a selection (`x.f`) or a string index (`x["f"]`).
pub(crate) fn field_name(idx: &dyn Val) -> Option<&str> {
    idx.downcast_ref::<CelString>().map(CelString::inner)
}

pub(crate) fn no_such_key(idx: &dyn Val) -> ExecutionError {
    match field_name(idx) {
        Some(name) => ExecutionError::no_such_key(name),
        None => ExecutionError::no_such_key(&format!("{idx:?}")),
    }
}

/// A CEL `list` of lazily-read objects (`spans`, `trace.critical_path`, `s.events`).
#[derive(Clone, Debug)]
pub(crate) struct ListVal<T>(pub(crate) Vec<T>);

/// The position a list index names: an `int`, a `uint` or a whole `double`, as the cel crate's
/// own lists accept.
fn list_position(idx: &dyn Val) -> Result<usize, ExecutionError> {
    let position = match idx.get_type().kind() {
        Kind::Int => idx.downcast_ref::<CelInt>().map(|i| *i.inner()),
        Kind::UInt => idx
            .downcast_ref::<CelUInt>()
            .and_then(|u| i64::try_from(*u.inner()).ok()),
        Kind::Double => idx
            .downcast_ref::<CelDouble>()
            .map(|d| *d.inner())
            .filter(|d| d.fract() == 0.0 && d.abs() < 9.0e15)
            .map(|d| d as i64),
        _ => None,
    };
    match position {
        Some(p) => usize::try_from(p).map_err(|_| ExecutionError::IndexOutOfBounds(p.into())),
        None => Err(ExecutionError::UnexpectedType {
            got: idx.get_type().name().to_owned(),
            want: "int".to_owned(),
        }),
    }
}

impl<T: Val + Clone> Val for ListVal<T> {
    fn get_type(&self) -> &Type {
        &LIST_TYPE
    }

    fn cel_type() -> &'static Type {
        &LIST_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }
}

impl<T: Val + Clone> Container for ListVal<T> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self.0.iter().any(|item| item.equals(value)))
    }
}

impl<T: Val + Clone> Indexer for ListVal<T> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        let position = list_position(idx)?;
        match self.0.get(position) {
            Some(item) => Ok(CowVal::Borrowed(item)),
            None => Err(ExecutionError::IndexOutOfBounds((position as i64).into())),
        }
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl<T: Val + Clone> Iterable for ListVal<T> {
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        Box::new(SliceIter(self.0.iter()))
    }
}

impl<T: Val + Clone> Sizer for ListVal<T> {
    fn size(&self) -> CelInt {
        CelInt::from(self.0.len() as i64)
    }
}

/// Lends the elements of a slice of values.
struct SliceIter<'b, T>(std::slice::Iter<'b, T>);

impl<'b, 'w, T: Val + 'w> traits::Iterator<'b, 'w> for SliceIter<'b, T> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.0.next().map(|item| item as &dyn Val)
    }
}

/// Lends the elements of a slice of boxed values.
struct BoxedIter<'b, 'v>(std::slice::Iter<'b, Box<dyn Val + 'v>>);

impl<'b, 'v: 'w, 'w> traits::Iterator<'b, 'w> for BoxedIter<'b, 'v> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.0.next().map(|item| item.as_ref() as &(dyn Val + 'w))
    }
}

/// A CEL `map` over OTLP attributes (span, resource or event attributes, or a `KvList`
/// value), keyed by attribute name. Lookups scan the attributes (spans carry few) and take the
/// first match; values convert on read.
#[derive(Clone, Debug)]
pub(crate) struct AttrsVal<'a> {
    attrs: &'a [KeyValue],
    /// The keys as CEL strings, for comprehensions over the map; built on first iteration.
    keys: OnceLock<Vec<CelString<'a>>>,
}

impl<'a> AttrsVal<'a> {
    pub(crate) fn new(attrs: &'a [KeyValue]) -> AttrsVal<'a> {
        AttrsVal {
            attrs,
            keys: OnceLock::new(),
        }
    }

    fn find(&self, idx: &dyn Val) -> Option<&'a Value> {
        let key = field_name(idx)?;
        self.attrs
            .iter()
            .find(|kv| &*kv.key == key)
            .map(|kv| &kv.value)
    }
}

impl<'a> Val for AttrsVal<'a> {
    fn get_type(&self) -> &Type {
        &MAP_TYPE
    }

    fn cel_type() -> &'static Type {
        &MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(AttrsVal::new(self.attrs))
    }
}

impl Container for AttrsVal<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self.find(value).is_some())
    }
}

impl<'a> Indexer for AttrsVal<'a> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        match self.find(idx) {
            Some(value) => Ok(attribute_value(value)),
            None => Err(no_such_key(idx)),
        }
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl<'a> Iterable for AttrsVal<'a> {
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        let keys = self.keys.get_or_init(|| {
            self.attrs
                .iter()
                .map(|kv| CelString::from(&*kv.key))
                .collect()
        });
        Box::new(SliceIter(keys.iter()))
    }
}

impl Sizer for AttrsVal<'_> {
    fn size(&self) -> CelInt {
        CelInt::from(self.attrs.len() as i64)
    }
}

/// An OTLP array attribute value as a CEL `list`. Elements convert on read; iterating converts
/// them once (one level deep: nested arrays stay lazy, so a deeply nested value costs no
/// recursion).
#[derive(Debug)]
pub(crate) struct ArrayVal<'a> {
    values: &'a [Value],
    items: OnceLock<Vec<Box<dyn Val + 'a>>>,
}

impl<'a> ArrayVal<'a> {
    fn new(values: &'a [Value]) -> ArrayVal<'a> {
        ArrayVal {
            values,
            items: OnceLock::new(),
        }
    }
}

impl<'a> Val for ArrayVal<'a> {
    fn get_type(&self) -> &Type {
        &LIST_TYPE
    }

    fn cel_type() -> &'static Type {
        &LIST_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(ArrayVal::new(self.values))
    }
}

impl Container for ArrayVal<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self
            .values
            .iter()
            .any(|item| attribute_value(item).equals(value)))
    }
}

impl<'a> Indexer for ArrayVal<'a> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        let position = list_position(idx)?;
        match self.values.get(position) {
            Some(value) => Ok(attribute_value(value)),
            None => Err(ExecutionError::IndexOutOfBounds((position as i64).into())),
        }
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl<'a> Iterable for ArrayVal<'a> {
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        let items = self.items.get_or_init(|| {
            self.values
                .iter()
                .map(|value| attribute_value(value).into_owned())
                .collect()
        });
        Box::new(BoxedIter(items.iter()))
    }
}

impl Sizer for ArrayVal<'_> {
    fn size(&self) -> CelInt {
        CelInt::from(self.values.len() as i64)
    }
}

/// An attribute value as a CEL value: strings and bytes borrow the span's data; arrays and
/// key-value lists stay lazy; an empty `AnyValue` is `null`.
pub(crate) fn attribute_value<'b, 'a>(value: &'a Value) -> CowVal<'b, 'a> {
    match value {
        Value::Empty => CowVal::owned(CelNull),
        Value::Str(s) => CowVal::owned(CelString::from(&**s)),
        Value::Bool(b) => CowVal::owned(CelBool::from(*b)),
        Value::Int(i) => CowVal::owned(CelInt::from(*i)),
        Value::Double(d) => CowVal::owned(CelDouble::from(*d)),
        Value::Bytes(b) => CowVal::owned(CelBytes::from(b.as_slice())),
        Value::Array(values) => CowVal::owned(ArrayVal::new(values)),
        Value::KvList(kvs) => CowVal::owned(AttrsVal::new(kvs)),
    }
}
