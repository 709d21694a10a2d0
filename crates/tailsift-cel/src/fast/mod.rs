//! The fast path: expressions evaluated natively over the trace, without the interpreter.
//!
//! The cel crate's interpreter pays for its generality on every evaluation: a context and its
//! scopes, a boxed value per loop element and per field read, an argument vector per function
//! call, `optional.of` looked up by name (formatting the qualified name and building an error
//! object on the way) on every call. Measured on the mission's policies that was ~46
//! allocations and ~0.3 µs of interpreter overhead per span scanned.
//!
//! Most policies use a small part of CEL: fields of `trace` and of spans, attribute lookups,
//! comparisons, `&&`/`||`/`!`/`?:`, `exists`/`all`/`exists_one` over spans, events or the
//! critical path, string predicates, `has()` and optionals. When an expression uses only that
//! part, [`lower`] compiles it into a tree of [`Node`]s that [`Machine`] evaluates with
//! borrowed, unboxed values: no allocation, field names resolved at load. Any other expression
//! is left to the interpreter, whole.
//!
//! # Why the two agree
//!
//! The fast path is the interpreter's semantics, written a second time: each node mirrors one
//! case of the cel crate's `Value::resolve_val` (operand order, short-circuits, error
//! absorption in `&&`, `||`, `exists` and `all`, the iteration budget's charges), and each
//! value rule one of its `Val` types or of this crate's (`crate::values`,
//! `crate::collections`). Where exactness would need more than that (a string built at run
//! time, an optional of an optional, a list literal indexed, `size()` of bytes), evaluation
//! stops with [`Stop::Bail`] and the interpreter evaluates the expression instead. And the
//! fast path only ever answers with a value: when it ends in a runtime error, the interpreter
//! runs again to word the error as it always has (errors are the rare path), so a policy error
//! reads the same whichever path found it.
//!
//! The differential tests (`tests/` beside this file, and the crate's `tests/fast_path.rs`)
//! hold the two to that: on generated mission traffic and random traces, for a list of
//! expressions and for randomly generated ones, the fast path's outcome (value, or class of
//! error) is the interpreter's.

mod eval;
mod lower;
#[cfg(test)]
mod tests;
mod value;

use cel::common::ast::IdedExpr;
use tailsift::TraceView;

use crate::runtime::RegexVal;
pub(crate) use eval::Machine;
pub(crate) use lower::Node;
pub(crate) use value::{Base, Stop, V};

/// An expression compiled for the fast path.
#[derive(Debug)]
pub(crate) struct Program {
    root: Node,
}

impl Program {
    /// The fast-path program for a checked, rewritten expression, or `None` when the
    /// expression uses something only the interpreter evaluates.
    pub(crate) fn compile(expr: &IdedExpr) -> Option<Program> {
        lower::lower(expr).map(|root| Program { root })
    }

    /// Evaluates the program over `view`, with `budget` loop iterations.
    pub(crate) fn run<'a>(
        &'a self,
        view: &'a TraceView<'a>,
        regexes: &'a [RegexVal],
        budget: u64,
    ) -> Result<V<'a>, Stop> {
        Machine::new(view, regexes, budget).eval(&self.root)
    }
}
