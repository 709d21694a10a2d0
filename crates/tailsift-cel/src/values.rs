//! The trace as CEL sees it: lazy [`Val`] views over the engine's own structures.
//!
//! Nothing here copies a span. Each CEL object (`trace`, a span, an event, an attribute map) is
//! a small struct holding references into the [`TraceView`] and answering field selections
//! through the cel crate's [`Indexer`] trait, so a field is computed only when an expression
//! reads it, and strings are handed out as [`CelString`]s that borrow the span's own `Arc<str>`
//! bytes. The lists and maps these objects hand out are in [`crate::collections`].
//!
//! Missing fields and missing map keys fail with the cel crate's "no such key" error: that is
//! what makes `has(trace.baseline.p95_ms)` false rather than an error, and what `in`,
//! `[?key]` and `has()` build on.

use std::sync::OnceLock;

use cel::common::traits::Indexer;
use cel::common::types::{CelDouble, CelInt, CelString, Type};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;
use tailsift::span::{Event, Span};
use tailsift::{Baseline, TraceView};

use crate::collections::{field_name, no_such_key, AttrsVal, ListVal};

static TRACE_TYPE: Type = Type::new_struct_type("tailsift.Trace");
static SPAN_TYPE: Type = Type::new_struct_type("tailsift.Span");
static PATH_SPAN_TYPE: Type = Type::new_struct_type("tailsift.PathSpan");
static EVENT_TYPE: Type = Type::new_struct_type("tailsift.Event");
static BASELINE_TYPE: Type = Type::new_struct_type("tailsift.Baseline");

/// Nanoseconds to the fractional milliseconds expressions compare in.
pub(crate) fn nanos_to_ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// A duration in fractional milliseconds (the trace's duration, baseline quantiles).
pub(crate) fn duration_ms(d: std::time::Duration) -> f64 {
    nanos_to_ms(d.as_nanos().try_into().unwrap_or(u64::MAX))
}

/// A count or id as a CEL `int`, saturating at `i64::MAX`.
pub(crate) fn int_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn owned<'b, 'w, T: Val + 'w>(value: T) -> Option<CowVal<'b, 'w>> {
    Some(CowVal::owned(value))
}

fn int<'b, 'w>(value: u64) -> Option<CowVal<'b, 'w>> {
    owned(CelInt::from(int_of(value)))
}

fn string<'b, 'w>(value: &'w str) -> Option<CowVal<'b, 'w>> {
    owned(CelString::from(value))
}

/// A CEL object with named fields: the part each object type writes by hand. The
/// [`object_val!`] macro derives the cel crate's traits from it.
trait Fields<'a> {
    /// The value of field `name`, or `None` when the object has no such field.
    fn field<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'a>>;
}

/// Implements [`Val`] and [`Indexer`] for an object type from its [`Fields`].
macro_rules! object_val {
    ($ty:ident, $cel_type:ident) => {
        impl<'a> Val for $ty<'a> {
            fn get_type(&self) -> &Type {
                &$cel_type
            }

            fn cel_type() -> &'static Type {
                &$cel_type
            }

            fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
            where
                Self: 'w,
            {
                Some(self)
            }

            fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
            where
                Self: 'w,
            {
                Box::new(self.clone())
            }
        }

        impl<'a> Indexer for $ty<'a> {
            fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
            where
                Self: 'w,
            {
                field_name(idx)
                    .and_then(|name| self.field(name))
                    .ok_or_else(|| no_such_key(idx))
            }

            fn steal<'w>(
                self: Box<Self>,
                idx: &dyn Val,
            ) -> Result<Box<dyn Val + 'w>, ExecutionError>
            where
                Self: 'w,
            {
                self.get(idx).map(CowVal::into_owned)
            }
        }
    };
}

/// `trace`: the whole trace's facts, each computed on first read.
#[derive(Clone, Debug)]
pub(crate) struct TraceVal<'a> {
    view: &'a TraceView<'a>,
    root: Option<SpanVal<'a>>,
    baseline: BaselineVal,
    critical_path: OnceLock<ListVal<PathSpanVal<'a>>>,
}

impl<'a> TraceVal<'a> {
    pub(crate) fn new(view: &'a TraceView<'a>) -> TraceVal<'a> {
        TraceVal {
            view,
            root: view.root().map(|span| SpanVal { span }),
            baseline: BaselineVal(view.baseline().filter(|b| b.samples > 0)),
            critical_path: OnceLock::new(),
        }
    }

    fn critical_path(&self) -> &ListVal<PathSpanVal<'a>> {
        self.critical_path.get_or_init(|| {
            let path = self.view.critical_path();
            let spans = self.view.spans();
            let items = path
                .spans()
                .iter()
                .zip(path.self_times())
                .filter_map(|(&index, &self_nanos)| {
                    spans.get(index as usize).map(|span| PathSpanVal {
                        span: SpanVal { span },
                        self_nanos,
                    })
                })
                .collect();
            ListVal(items)
        })
    }
}

impl<'a> Fields<'a> for TraceVal<'a> {
    fn field<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'a>> {
        let view = self.view;
        match name {
            "duration_ms" => owned(CelDouble::from(duration_ms(view.duration()))),
            "span_count" => int(view.spans().len() as u64),
            "error_count" => int(view.error_count() as u64),
            "randomness" => int(view.randomness()),
            "root" => self.root.as_ref().map(|r| CowVal::Borrowed(r as &dyn Val)),
            "baseline" => Some(CowVal::Borrowed(&self.baseline)),
            "critical_path" => Some(CowVal::Borrowed(self.critical_path())),
            _ => None,
        }
    }
}

object_val!(TraceVal, TRACE_TYPE);

/// `trace.baseline`: the latency quantiles of the trace's group. Without a baseline (none
/// attached, or no samples yet) the quantile fields are absent and `samples` is 0.
#[derive(Clone, Debug)]
pub(crate) struct BaselineVal(Option<Baseline>);

impl<'a> Fields<'a> for BaselineVal {
    fn field<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'a>> {
        let ms = |d: std::time::Duration| owned(CelDouble::from(duration_ms(d)));
        match (name, self.0) {
            ("samples", b) => int(b.map_or(0, |b| b.samples)),
            ("p50_ms", Some(b)) => ms(b.p50),
            ("p95_ms", Some(b)) => ms(b.p95),
            ("p99_ms", Some(b)) => ms(b.p99),
            _ => None,
        }
    }
}

// `BaselineVal` borrows nothing, so it implements the traits by hand rather than through
// `object_val!`.
impl Val for BaselineVal {
    fn get_type(&self) -> &Type {
        &BASELINE_TYPE
    }

    fn cel_type() -> &'static Type {
        &BASELINE_TYPE
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }
}

impl Indexer for BaselineVal {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        field_name(idx)
            .and_then(|name| Fields::<'w>::field(self, name))
            .ok_or_else(|| no_such_key(idx))
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

/// One span (an element of `spans`, or `trace.root`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanVal<'a> {
    pub(crate) span: &'a Span,
}

impl<'a> Fields<'a> for SpanVal<'a> {
    fn field<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'a>> {
        let span: &'a Span = self.span;
        match name {
            "service" => string(span.service_name()),
            "name" => string(&span.name),
            "kind" => string(span.kind.as_str()),
            "status" => string(span.status_code.as_str()),
            "status_message" => string(span.status_message()),
            "duration_ms" => owned(CelDouble::from(nanos_to_ms(span.duration_nanos()))),
            "attributes" => owned(AttrsVal::new(&span.attributes)),
            "resource" => owned(AttrsVal::new(&span.resource().attributes)),
            "events" => owned(ListVal(
                span.events()
                    .iter()
                    .map(|event| EventVal { event })
                    .collect(),
            )),
            _ => None,
        }
    }
}

object_val!(SpanVal, SPAN_TYPE);

/// One element of `trace.critical_path`: a span's fields plus its self time on the path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PathSpanVal<'a> {
    span: SpanVal<'a>,
    self_nanos: u64,
}

impl<'a> Fields<'a> for PathSpanVal<'a> {
    fn field<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'a>> {
        match name {
            "self_ms" => owned(CelDouble::from(nanos_to_ms(self.self_nanos))),
            _ => self.span.field(name),
        }
    }
}

object_val!(PathSpanVal, PATH_SPAN_TYPE);

/// One span event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventVal<'a> {
    event: &'a Event,
}

impl<'a> Fields<'a> for EventVal<'a> {
    fn field<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'a>> {
        let event: &'a Event = self.event;
        match name {
            "name" => string(&event.name),
            "attributes" => owned(AttrsVal::new(&event.attributes)),
            _ => None,
        }
    }
}

object_val!(EventVal, EVENT_TYPE);
