//! Evaluating a lowered expression over one trace.
//!
//! Each case follows the cel crate's interpreter (`Value::resolve_val` and the `Val` types of
//! `crate::values` and `crate::collections`): operands in the same order, the same
//! short-circuits, the same error absorption (`&&`, `||`, `exists`, `all`), the same budget
//! charges. Comments name the interpreter's rule where it is not the obvious one.
//!
//! (Over 600 lines: the cases read best side by side, one per interpreter case, with the fused
//! nodes next to the cases they stand for.)

use tailsift::span::Span;
use tailsift::TraceView;

use super::lower::{LoopKind, Node, MAX_LOOP_DEPTH};
use super::value::{
    arithmetic, attribute, compare, equals, error, find, Base, ErrClass, Eval, Field, Key, Stop, V,
};
use crate::runtime::RegexVal;
use crate::values::{duration_ms, int_of, nanos_to_ms};

/// One evaluation's state.
pub(crate) struct Machine<'a> {
    view: &'a TraceView<'a>,
    regexes: &'a [RegexVal],
    /// Loop iterations left (see `runtime::Budget`).
    budget: u64,
    /// Whether `budget` was charged more than the interpreter's would have been (see
    /// `Machine::comprehension`): running out then proves nothing.
    overcharged: bool,
    /// The loop variables in scope, by nesting depth.
    vars: [Base<'a>; MAX_LOOP_DEPTH],
}

impl<'a> Machine<'a> {
    pub(crate) fn new(
        view: &'a TraceView<'a>,
        regexes: &'a [RegexVal],
        budget: u64,
    ) -> Machine<'a> {
        Machine {
            view,
            regexes,
            budget,
            overcharged: false,
            vars: [Base::Null; MAX_LOOP_DEPTH],
        }
    }

    /// Evaluates `node`. The common nodes are evaluated here, the others in
    /// [`Machine::eval_other`]: this function recurses for every node, so its stack frame is
    /// kept small.
    pub(crate) fn eval(&mut self, node: &'a Node) -> Eval<V<'a>> {
        match node {
            Node::Lit(c) => Ok(V::B(c.base())),
            Node::Trace => Ok(V::B(Base::Trace)),
            Node::Spans => Ok(V::B(Base::Spans)),
            Node::Var(depth) => Ok(V::B(self.vars[*depth])),
            Node::VarField(depth, key) => self.get_key(self.vars[*depth], key).map(V::B),
            Node::Select(operand, key) => {
                let value = self.eval(operand)?;
                self.select(value, key)
            }
            Node::IndexKey {
                value,
                key,
                optional,
            } => self.index_key(value, key, *optional),
            Node::OptOr(target, arg) => {
                let arg = self.operand(arg)?;
                match self.operand(target)? {
                    some @ V::OptSome(_) => Ok(some),
                    V::OptNone => Ok(arg),
                    V::B(_) => error(ErrClass::Type),
                }
            }
            Node::OptOrValue(target, arg) => {
                let arg = self.operand(arg)?;
                match self.operand(target)? {
                    V::OptSome(b) => Ok(V::B(b)),
                    V::OptNone => Ok(arg),
                    V::B(_) => error(ErrClass::Type),
                }
            }
            // These give a bool or an error.
            Node::And(..)
            | Node::Or(..)
            | Node::Not(_)
            | Node::VarStr { .. }
            | Node::Eq { .. }
            | Node::EqLit { .. }
            | Node::Cmp(..)
            | Node::CmpLit(..)
            | Node::In(..)
            | Node::StrMethod { .. }
            | Node::Matches(..)
            | Node::Has(..)
            | Node::OptHasValue(_)
            | Node::Loop { .. } => match self.eval_bool(node)? {
                Some(b) => Ok(V::bool(b)),
                None => error(ErrClass::Type),
            },
            _ => self.eval_other(node),
        }
    }

    #[inline(never)]
    fn eval_other(&mut self, node: &'a Node) -> Eval<V<'a>> {
        match node {
            Node::Lit(_)
            | Node::Trace
            | Node::Spans
            | Node::Var(_)
            | Node::VarField(..)
            | Node::Select(..)
            | Node::IndexKey { .. }
            | Node::OptOr(..)
            | Node::OptOrValue(..) => self.eval(node),
            Node::And(..)
            | Node::Or(..)
            | Node::Not(_)
            | Node::VarStr { .. }
            | Node::Eq { .. }
            | Node::EqLit { .. }
            | Node::Cmp(..)
            | Node::CmpLit(..)
            | Node::In(..)
            | Node::StrMethod { .. }
            | Node::Matches(..)
            | Node::Has(..)
            | Node::OptHasValue(_)
            | Node::Loop { .. } => self.eval(node),
            Node::List(items) => Ok(V::B(Base::ConstList(items))),
            Node::OptSelect(operand, key) => {
                // Any failure to select gives `optional.none()`.
                let target = match self.eval(operand)? {
                    V::B(b) | V::OptSome(b) => b,
                    V::OptNone => return Ok(V::OptNone),
                };
                optional(self.get_key(target, key))
            }
            Node::Index {
                value,
                index,
                optional: is_optional,
            } => {
                // An optional operand makes the result optional; an empty one short-circuits
                // (the index is not evaluated).
                let (value, is_optional) = match self.eval(value)? {
                    V::B(b) => (b, *is_optional),
                    V::OptSome(b) => (b, true),
                    V::OptNone => return Ok(V::OptNone),
                };
                let index = self.eval(index)?;
                let result = self.index(value, index);
                if is_optional {
                    optional(result)
                } else {
                    result.map(V::B)
                }
            }
            Node::Neg(operand) => match self.eval(operand)? {
                V::B(Base::Int(i)) => i
                    .checked_neg()
                    .map_or(error(ErrClass::Arithmetic), |n| Ok(V::B(Base::Int(n)))),
                V::B(Base::Double(d)) => Ok(V::B(Base::Double(-d))),
                _ => error(ErrClass::Type),
            },
            Node::Cond(cond, then, otherwise) => {
                if self.eval_bool(cond)?.ok_or(Stop::Error(ErrClass::Type))? {
                    self.eval(then)
                } else {
                    self.eval(otherwise)
                }
            }
            Node::Arith(op, left, right) => {
                let left = self.eval(left)?;
                let right = self.eval(right)?;
                arithmetic(*op, left, right)
            }
            Node::Size(operand) => {
                let size = match self.eval(operand)? {
                    V::B(Base::Str(s)) => s.chars().count(),
                    // `size(bytes)` is left to the interpreter.
                    V::B(Base::Bytes(_)) => return Err(Stop::Bail),
                    V::B(list) => match self.len(list) {
                        Some(n) => n,
                        None => return error(ErrClass::Type),
                    },
                    V::OptNone | V::OptSome(_) => return error(ErrClass::Type),
                };
                Ok(V::B(Base::Int(int_of(size as u64))))
            }
            Node::ToInt(operand) => match self.eval(operand)? {
                V::B(Base::Int(i)) => Ok(V::B(Base::Int(i))),
                V::B(Base::UInt(u)) => {
                    i64::try_from(u).map_or(error(ErrClass::Function), |i| Ok(V::B(Base::Int(i))))
                }
                // Only doubles strictly between i64::MIN and i64::MAX convert (the cel crate's
                // `int_from_double`).
                V::B(Base::Double(d)) => {
                    if d > i64::MIN as f64 && d < i64::MAX as f64 {
                        Ok(V::B(Base::Int(d as i64)))
                    } else {
                        error(ErrClass::Function)
                    }
                }
                _ => Err(Stop::Bail),
            },
            Node::ToDouble(operand) => match self.eval(operand)? {
                V::B(Base::Int(i)) => Ok(V::B(Base::Double(i as f64))),
                V::B(Base::UInt(u)) => Ok(V::B(Base::Double(u as f64))),
                V::B(Base::Double(d)) => Ok(V::B(Base::Double(d))),
                _ => Err(Stop::Bail),
            },
            Node::OptOf(operand) => self.eval(operand)?.into_optional(),
            Node::OptNone => Ok(V::OptNone),
            Node::OptValue(target) => match self.eval(target)? {
                V::OptSome(b) => Ok(V::B(b)),
                V::OptNone => error(ErrClass::Function),
                V::B(_) => error(ErrClass::Type),
            },
        }
    }

    /// `value["key"]` and `value[?"key"]`.
    fn index_key(&mut self, value: &'a Node, key: &'a Key, optional: bool) -> Eval<V<'a>> {
        let value = self.operand(value)?;
        self.index_key_of(value, key, optional)
    }

    /// [`Machine::index_key`], the value evaluated.
    #[inline(always)]
    fn index_key_of(&self, value: V<'a>, key: &'a Key, optional: bool) -> Eval<V<'a>> {
        // As `Node::Index`, with the index known to be the string `key`.
        let (value, is_optional) = match value {
            V::B(b) => (b, optional),
            V::OptSome(b) => (b, true),
            V::OptNone => return Ok(V::OptNone),
        };
        let result = match value {
            Base::ConstList(_) => Err(Stop::Bail),
            _ => self.get_key(value, key),
        };
        if is_optional {
            self::optional(result)
        } else {
            result.map(V::B)
        }
    }

    /// Evaluates an operand: a loop variable's field, a loop variable or a literal in place,
    /// anything else through [`Machine::eval`]. Inlined where a predicate reads its operands,
    /// so the common operands' values stay in registers (a value returned through memory and
    /// copied again costs a store-forwarding stall per copy).
    #[inline(always)]
    fn operand(&mut self, node: &'a Node) -> Eval<V<'a>> {
        match node {
            Node::VarField(depth, key) => self.get_key(self.vars[*depth], key).map(V::B),
            Node::Var(depth) => Ok(V::B(self.vars[*depth])),
            Node::Lit(c) => Ok(V::B(c.base())),
            Node::IndexKey {
                value,
                key,
                optional,
            } => match &**value {
                // `v.attributes["key"]` and the like.
                Node::VarField(depth, field) => match self.get_key(self.vars[*depth], field) {
                    Ok(map) => self.index_key_of(V::B(map), key, *optional),
                    Err(stop) => Err(stop),
                },
                _ => self.eval(node),
            },
            _ => self.eval(node),
        }
    }

    /// The string field `field` of a span or event, `None` when `object` is not one or the
    /// field is not a string (as [`Machine::field`] answers).
    #[inline(always)]
    fn str_field(&self, object: Base<'a>, field: Field) -> Option<&'a str> {
        match self.field(object, field) {
            Some(Base::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Evaluates `node` where the interpreter wants a bool: `Some(b)`, or `None` for a value of
    /// another type (whose error depends on the context). Boolean operators are evaluated here
    /// without building a value: they are most of what a predicate does.
    fn eval_bool(&mut self, node: &'a Node) -> Eval<Option<bool>> {
        match node {
            Node::And(left, right) => self.logical(left, right, false).map(Some),
            Node::Or(left, right) => self.logical(left, right, true).map(Some),
            Node::EqLit {
                left,
                literal,
                negate,
            } => {
                let left = self.operand(left)?;
                Ok(Some(equals(left, V::B(literal.base())) != *negate))
            }
            Node::CmpLit(op, left, literal) => {
                let left = self.operand(left)?;
                Ok(Some(op.holds(compare(left, V::B(literal.base()))?)))
            }
            Node::Not(operand) => match self.eval_bool(operand)? {
                Some(b) => Ok(Some(!b)),
                None => error(ErrClass::Type),
            },
            Node::VarStr {
                depth,
                field,
                test,
                literal,
                general,
            } => match self.str_field(self.vars[*depth], *field) {
                Some(s) => Ok(Some(test.holds(s, literal))),
                None => self.eval_bool(general),
            },
            Node::Eq {
                left,
                right,
                negate,
            } => {
                let left = self.operand(left)?;
                let right = self.operand(right)?;
                Ok(Some(equals(left, right) != *negate))
            }
            Node::Cmp(op, left, right) => {
                let left = self.operand(left)?;
                let right = self.operand(right)?;
                Ok(Some(op.holds(compare(left, right)?)))
            }
            Node::In(item, container) => {
                let item = self.operand(item)?;
                let container = self.operand(container)?;
                self.contains(container, item).map(Some)
            }
            Node::StrMethod {
                method,
                target,
                arg,
            } => {
                // A member call evaluates its arguments, then its target.
                let arg = self.operand(arg)?;
                let target = self.operand(target)?;
                match (target, arg) {
                    (V::B(Base::Str(s)), V::B(Base::Str(a))) => Ok(Some(method.holds(s, a))),
                    _ => error(ErrClass::Type),
                }
            }
            Node::Matches(text, index) => {
                let text = self.operand(text)?;
                let regex = self.regexes.get(*index).ok_or(Stop::Bail)?;
                match text {
                    V::B(Base::Str(s)) => Ok(Some(regex.0.is_match(s))),
                    _ => error(ErrClass::Type),
                }
            }
            Node::Has(operand, key) => {
                let value = self.eval(operand)?;
                self.has(value, key).map(Some)
            }
            Node::OptHasValue(target) => match self.eval(target)? {
                V::OptSome(_) => Ok(Some(true)),
                V::OptNone => Ok(Some(false)),
                V::B(_) => error(ErrClass::Type),
            },
            Node::Loop {
                kind,
                depth,
                range,
                pred,
                span_prefilter,
            } => self
                .comprehension(*kind, *depth, range, pred, *span_prefilter)
                .map(Some),
            _ => Ok(match self.eval(node)? {
                V::B(Base::Bool(b)) => Some(b),
                _ => None,
            }),
        }
    }

    /// [`Machine::eval_bool`], with a value of another type a type error (the interpreter's
    /// `try_bool`).
    fn eval_strict_bool(&mut self, node: &'a Node) -> Eval<bool> {
        self.eval_bool(node)?.ok_or(Stop::Error(ErrClass::Type))
    }

    /// `left && right` (`or` false) or `left || right` (`or` true). The interpreter evaluates
    /// `right` unless `left` decides; an error on one side is absorbed when the other side
    /// decides (`error || true`), and is the result otherwise (the right side's first; a
    /// right side that is not a bool yields to an error on the left).
    fn logical(&mut self, left: &'a Node, right: &'a Node, or: bool) -> Eval<bool> {
        let left = match self.eval_strict_bool(left) {
            Err(stop @ (Stop::Bail | Stop::Exhausted)) => return Err(stop),
            Ok(decides) if decides == or => return Ok(or),
            left => left,
        };
        match (left, self.eval_bool(right)?) {
            (Ok(_), Some(b)) => Ok(b),
            (Err(_), Some(b)) if b == or => Ok(or),
            (Err(stop), _) => Err(stop),
            (Ok(_), None) => error(ErrClass::Type),
        }
    }

    /// `range.exists(v, pred)` and friends, charging the budget as `@count` does: the size of
    /// the range plus one, before the loop, whether or not it runs to the end.
    #[inline(never)]
    fn comprehension(
        &mut self,
        kind: LoopKind,
        depth: usize,
        range: &'a Node,
        pred: &'a Node,
        span_prefilter: bool,
    ) -> Eval<bool> {
        let range = self.eval(range)?;
        if span_prefilter
            && matches!(range, V::B(Base::CriticalPath))
            && self.without_critical_path(depth, pred)
        {
            return Ok(false);
        }
        let size = match range {
            V::B(Base::Str(s)) => s.chars().count(),
            V::B(Base::Bytes(b)) => b.len(),
            V::B(list) => self.len(list).unwrap_or(0),
            V::OptNone | V::OptSome(_) => 0,
        };
        self.charge((size as u64).saturating_add(1))?;
        let (list, len) = match range {
            V::B(list @ (Base::Spans | Base::Events(_) | Base::Attrs(_) | Base::Array(_))) => {
                (list, size)
            }
            V::B(list @ Base::ConstList(_)) => (list, size),
            V::B(Base::CriticalPath) => {
                (Base::CriticalPath, self.view.critical_path().spans().len())
            }
            _ => return error(ErrClass::Type),
        };
        // `exists` and `all` go on past an error, which a later deciding element absorbs
        // (the interpreter's `DeferredErrors`); `exists_one` stops at the first.
        let mut pending = None;
        let mut count = 0u64;
        for i in 0..len {
            let Some(item) = self.item(list, i) else {
                continue;
            };
            self.vars[depth] = item;
            let step = self.eval_strict_bool(pred);
            match (kind, step) {
                (_, Err(stop @ (Stop::Bail | Stop::Exhausted))) => return Err(stop),
                (LoopKind::ExistsOne, Err(stop)) => return Err(stop),
                (LoopKind::ExistsOne, Ok(matched)) => count += u64::from(matched),
                (LoopKind::Exists, Ok(true)) => return Ok(true),
                (LoopKind::All, Ok(false)) => return Ok(false),
                (LoopKind::Exists | LoopKind::All, Ok(_)) => {}
                (LoopKind::Exists | LoopKind::All, Err(stop)) => pending = Some(stop),
            }
        }
        match (kind, pending) {
            (_, Some(stop)) => Err(stop),
            (LoopKind::Exists, None) => Ok(false),
            (LoopKind::All, None) => Ok(true),
            (LoopKind::ExistsOne, None) => Ok(count == 1),
        }
    }

    /// Takes `n` loop iterations from the budget.
    fn charge(&mut self, n: u64) -> Eval<()> {
        match self.budget.checked_sub(n) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            // Had the budget been charged exactly, it might have sufficed.
            None if self.overcharged => Err(Stop::Bail),
            None => Err(Stop::Exhausted),
        }
    }

    /// Whether `trace.critical_path.exists(v, pred)` is false, found without computing the
    /// critical path (true), or must be evaluated on the path (false). It is false when `pred` is false, without error, on every span of the trace, so on the
    /// path's spans too (`span_prefilter` says `pred` cannot tell them apart). As the
    /// native critical-path policy does, most traces then never compute their path.
    ///
    /// The budget is charged as for the longest path the trace could have (every span once:
    /// the path's spans are distinct), more than the interpreter would charge for the real
    /// one; `overcharged` then makes running out later inconclusive (the interpreter decides).
    fn without_critical_path(&mut self, depth: usize, pred: &'a Node) -> bool {
        let spans = self.view.spans();
        let bound = (spans.len() as u64).saturating_add(1);
        if self.budget < bound {
            return false;
        }
        for span in spans {
            self.vars[depth] = Base::Span(span);
            if !matches!(self.eval_bool(pred), Ok(Some(false))) {
                return false;
            }
        }
        self.budget -= bound;
        self.overcharged = true;
        true
    }

    /// The length of a list or map, `None` for anything else.
    fn len(&self, value: Base<'a>) -> Option<usize> {
        Some(match value {
            Base::Spans => self.view.spans().len(),
            Base::CriticalPath => {
                // The interpreter's list holds the path's spans that exist.
                let spans = self.view.spans().len();
                let path = self.view.critical_path().spans();
                path.iter().filter(|&&i| (i as usize) < spans).count()
            }
            Base::Events(events) => events.len(),
            Base::Attrs(attrs) => attrs.len(),
            Base::Array(values) => values.len(),
            Base::ConstList(items) => items.len(),
            _ => return None,
        })
    }

    /// Element `i` of an iterable: for a map its `i`th key; for the critical path its `i`th
    /// entry, `None` if that span does not exist (skipped, as the interpreter's list leaves
    /// it out).
    fn item(&self, list: Base<'a>, i: usize) -> Option<Base<'a>> {
        match list {
            Base::Spans => self.view.spans().get(i).map(Base::Span),
            Base::CriticalPath => {
                let path = self.view.critical_path();
                let index = *path.spans().get(i)? as usize;
                let self_nanos = *path.self_times().get(i)?;
                let span = self.view.spans().get(index)?;
                Some(Base::PathSpan(span, self_nanos))
            }
            Base::Events(events) => events.get(i).map(Base::Event),
            Base::Attrs(attrs) => attrs.get(i).map(|kv| Base::Str(&kv.key)),
            Base::Array(values) => values.get(i).map(attribute),
            Base::ConstList(items) => items.get(i).map(|c| c.base()),
            _ => None,
        }
    }

    /// Element `i` of a list, counting only the critical path's existing spans.
    fn list_element(&self, list: Base<'a>, i: usize) -> Option<Base<'a>> {
        match list {
            Base::CriticalPath => {
                let spans = self.view.spans();
                let path = self.view.critical_path();
                path.spans()
                    .iter()
                    .zip(path.self_times())
                    .filter_map(|(&index, &self_nanos)| {
                        spans
                            .get(index as usize)
                            .map(|span| Base::PathSpan(span, self_nanos))
                    })
                    .nth(i)
            }
            Base::Attrs(_) => None,
            _ => self.item(list, i),
        }
    }

    /// `x.f`: a field of an object or a key of a map. On an optional, the selection applies to
    /// its value and the result is optional (a missing field gives `optional.none()`).
    fn select(&self, value: V<'a>, key: &Key) -> Eval<V<'a>> {
        match value {
            V::B(b) => self.get_key(b, key).map(V::B),
            V::OptNone => Ok(V::OptNone),
            V::OptSome(inner) if !is_indexer(inner) => error(ErrClass::NoSuchKey),
            V::OptSome(inner) => optional(self.get_key(inner, key)),
        }
    }

    /// `has(x.f)`: whether the field or key is there. A value that has no fields at all is
    /// an error, and so is a list (its "index" is not a number).
    fn has(&self, value: V<'a>, key: &Key) -> Eval<bool> {
        match value {
            V::OptNone => Ok(false),
            V::OptSome(inner) if !is_indexer(inner) => error(ErrClass::NoSuchKey),
            V::OptSome(inner) => Ok(self.get_key(inner, key).is_ok()),
            V::B(b) if !is_indexer(b) => error(ErrClass::Type),
            V::B(b) => match self.get_key(b, key) {
                Ok(_) => Ok(true),
                Err(Stop::Error(ErrClass::NoSuchKey)) => Ok(false),
                Err(stop) => Err(stop),
            },
        }
    }

    /// Field or key `key` of `value`.
    #[inline(always)]
    fn get_key(&self, value: Base<'a>, key: &Key) -> Eval<Base<'a>> {
        self.lookup(value, key.field, &key.name)
    }

    /// Field `field` of an object, or key `name` of a map.
    #[inline(always)]
    fn lookup(&self, value: Base<'a>, field: Field, name: &str) -> Eval<Base<'a>> {
        match value {
            Base::Attrs(attrs) => find(attrs, name)
                .map(attribute)
                .ok_or(Stop::Error(ErrClass::NoSuchKey)),
            Base::Trace | Base::Baseline | Base::Span(_) | Base::PathSpan(..) | Base::Event(_) => {
                self.field(value, field)
                    .ok_or(Stop::Error(ErrClass::NoSuchKey))
            }
            // A list indexed with a string, or a value with no fields.
            _ => error(ErrClass::Type),
        }
    }

    /// `value[index]`.
    fn index(&self, value: Base<'a>, index: V<'a>) -> Eval<Base<'a>> {
        match value {
            Base::Attrs(_)
            | Base::Trace
            | Base::Baseline
            | Base::Span(_)
            | Base::PathSpan(..)
            | Base::Event(_) => match index {
                V::B(Base::Str(name)) => self.lookup(value, Field::of(name), name),
                // A key that is not a string names nothing.
                _ => error(ErrClass::NoSuchKey),
            },
            Base::Spans | Base::CriticalPath | Base::Events(_) | Base::Array(_) => {
                let position = list_position(index)?;
                self.list_element(value, position)
                    .ok_or(Stop::Error(ErrClass::OutOfBounds))
            }
            // The cel crate's own lists index by their own rules.
            Base::ConstList(_) => Err(Stop::Bail),
            _ => error(ErrClass::Type),
        }
    }

    /// `item in container`: a key of a map (`false` for a key that is not a string), an
    /// element of a list (the trace's objects equal nothing, so never one of `spans`).
    fn contains(&self, container: V<'a>, item: V<'a>) -> Eval<bool> {
        match container {
            V::B(Base::Attrs(attrs)) => Ok(match item {
                V::B(Base::Str(key)) => find(attrs, key).is_some(),
                _ => false,
            }),
            V::B(Base::Spans | Base::CriticalPath | Base::Events(_)) => Ok(false),
            V::B(Base::Array(values)) => Ok(values
                .iter()
                .any(|value| equals(V::B(attribute(value)), item))),
            V::B(Base::ConstList(items)) => Ok(items.iter().any(|c| equals(V::B(c.base()), item))),
            _ => error(ErrClass::Type),
        }
    }

    /// A field of one of the trace's objects, `None` if it has no such field (as the
    /// `Fields` implementations of `crate::values` answer).
    #[inline(always)]
    fn field(&self, object: Base<'a>, field: Field) -> Option<Base<'a>> {
        let view = self.view;
        match object {
            Base::Trace => Some(match field {
                Field::DurationMs => Base::Double(duration_ms(view.duration())),
                Field::SpanCount => Base::Int(int_of(view.spans().len() as u64)),
                Field::ErrorCount => Base::Int(int_of(view.error_count() as u64)),
                Field::Randomness => Base::Int(int_of(view.randomness())),
                Field::Root => Base::Span(view.root()?),
                Field::Baseline => Base::Baseline,
                Field::CriticalPath => Base::CriticalPath,
                _ => return None,
            }),
            Base::Baseline => {
                let baseline = view.baseline().filter(|b| b.samples > 0);
                Some(match field {
                    Field::Samples => Base::Int(int_of(baseline.map_or(0, |b| b.samples))),
                    Field::P50Ms => Base::Double(duration_ms(baseline?.p50)),
                    Field::P95Ms => Base::Double(duration_ms(baseline?.p95)),
                    Field::P99Ms => Base::Double(duration_ms(baseline?.p99)),
                    _ => return None,
                })
            }
            Base::Span(span) => span_field(span, field),
            Base::PathSpan(_, self_nanos) if field == Field::SelfMs => {
                Some(Base::Double(nanos_to_ms(self_nanos)))
            }
            Base::PathSpan(span, _) => span_field(span, field),
            Base::Event(event) => match field {
                Field::Name => Some(Base::Str(&event.name)),
                Field::Attributes => Some(Base::Attrs(&event.attributes)),
                _ => None,
            },
            _ => None,
        }
    }
}

#[inline(always)]
fn span_field(span: &Span, field: Field) -> Option<Base<'_>> {
    Some(match field {
        Field::Service => Base::Str(span.service_name()),
        Field::Name => Base::Str(&span.name),
        Field::Kind => Base::Str(span.kind.as_str()),
        Field::Status => Base::Str(span.status_code.as_str()),
        Field::StatusMessage => Base::Str(span.status_message()),
        Field::DurationMs => Base::Double(nanos_to_ms(span.duration_nanos())),
        Field::Attributes => Base::Attrs(&span.attributes),
        Field::Resource => Base::Attrs(&span.resource().attributes),
        Field::Events => Base::Events(span.events()),
        _ => return None,
    })
}

/// Whether the interpreter can select fields or keys of `value` at all.
fn is_indexer(value: Base<'_>) -> bool {
    matches!(
        value,
        Base::Trace
            | Base::Baseline
            | Base::Span(_)
            | Base::PathSpan(..)
            | Base::Event(_)
            | Base::Attrs(_)
            | Base::Spans
            | Base::CriticalPath
            | Base::Events(_)
            | Base::Array(_)
            | Base::ConstList(_)
    )
}

/// A selection as an optional: `optional.of` the value, `optional.none()` for any error.
fn optional<'a>(result: Eval<Base<'a>>) -> Eval<V<'a>> {
    match result {
        Ok(value) => Ok(V::OptSome(value)),
        Err(Stop::Error(_)) => Ok(V::OptNone),
        Err(stop) => Err(stop),
    }
}

/// The position a list index names (`collections::list_position`): an `int`, a `uint` up to
/// `i64::MAX` or a whole `double`; a negative one is out of bounds.
fn list_position(index: V<'_>) -> Eval<usize> {
    let position = match index {
        V::B(Base::Int(i)) => Some(i),
        V::B(Base::UInt(u)) => i64::try_from(u).ok(),
        V::B(Base::Double(d)) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(d as i64),
        _ => None,
    };
    match position {
        Some(p) => usize::try_from(p).map_err(|_| Stop::Error(ErrClass::OutOfBounds)),
        None => error(ErrClass::Type),
    }
}
