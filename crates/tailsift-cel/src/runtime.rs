//! What compiled programs call at run time beyond the standard library: the iteration budget
//! and regular expressions compiled at load.
//!
//! Both are reached through names no CEL source can spell (identifiers cannot start with
//! `@`), which the compiler writes into the program when it rewrites it:
//!
//! - every comprehension range `r` (of `all`, `exists`, `exists_one`, `map`, `filter`) becomes
//!   `@count(r, @budget)`, which charges the size of `r` to the evaluation's budget before the
//!   loop runs, so nested loops over large lists fail with an error instead of running for
//!   minutes;
//! - `x.matches("literal")` becomes `@matches(x, @re<N>)`, where `@re<N>` is the pattern
//!   compiled once when the policy was compiled (the standard library would compile it again
//!   on every call).

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use cel::common::types::{CelBool, CelString, Type, DYN_TYPE};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{Env, ExecutionError};

/// The function that charges a comprehension's range to the budget.
pub(crate) const COUNT_FUNCTION: &str = "@count";
/// The variable holding the evaluation's budget.
pub(crate) const BUDGET_VARIABLE: &str = "@budget";
/// The function that matches a string against a precompiled pattern.
pub(crate) const MATCHES_FUNCTION: &str = "@matches";
/// The prefix of the variables holding precompiled patterns: `@re0`, `@re1`, ...
pub(crate) const REGEX_VARIABLE_PREFIX: &str = "@re";

/// Compiled patterns may use at most this much memory each (the `regex` crate's size limit).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The shared environment: the CEL standard library (with optional values) plus the two
/// functions above.
pub(crate) fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Both names start with `@`, which the standard library never uses, so declaring them
        // cannot collide; a failure here would be a bug in this crate, caught by every test.
        let declared = env
            .add_overload(
                COUNT_FUNCTION,
                "@count_dyn_dyn",
                vec![DYN_TYPE, DYN_TYPE],
                count,
            )
            .and_then(|()| {
                env.add_overload(
                    MATCHES_FUNCTION,
                    "@matches_dyn_dyn",
                    vec![DYN_TYPE, DYN_TYPE],
                    matches,
                )
            });
        debug_assert!(declared.is_ok(), "declaring the runtime functions failed");
        Arc::new(env)
    })
}

static BUDGET_TYPE: Type = Type::new_unspecified_type("tailsift.budget");
static REGEX_TYPE: Type = Type::new_unspecified_type("tailsift.regex");

/// How many comprehension iterations one evaluation may still run.
#[derive(Debug)]
pub(crate) struct Budget {
    remaining: AtomicU64,
    exhausted: AtomicBool,
}

impl Budget {
    pub(crate) fn new(iterations: u64) -> Budget {
        Budget {
            remaining: AtomicU64::new(iterations),
            exhausted: AtomicBool::new(false),
        }
    }

    /// Takes `n` iterations; false (and exhausted from then on) when fewer are left.
    fn charge(&self, n: u64) -> bool {
        let taken = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            });
        if taken.is_err() {
            self.exhausted.store(true, Ordering::Relaxed);
        }
        taken.is_ok()
    }

    /// Whether some comprehension was refused. An evaluation that ran out fails even if CEL's
    /// error absorption (`true || error`) would have produced a value.
    pub(crate) fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }
}

impl Val for Budget {
    fn get_type(&self) -> &Type {
        &BUDGET_TYPE
    }

    fn cel_type() -> &'static Type {
        &BUDGET_TYPE
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        // The interpreter never clones it (it is only ever passed to `@count`); a copy that
        // could spend the same iterations again would defeat the budget, so a copy is empty.
        let copy = Budget::new(0);
        copy.exhausted.store(true, Ordering::Relaxed);
        Box::new(copy)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for Budget {}

/// `@count(range, @budget)`: charges `size(range) + 1` iterations and hands `range` back.
fn count<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(budget), Some(range)) = (args.pop(), args.pop()) else {
        return Err(ExecutionError::invalid_argument_count(2, args.len()));
    };
    let Some(budget) = budget.downcast_ref::<Budget>() else {
        return Err(ExecutionError::function_error(
            "comprehension",
            "the iteration budget is not bound",
        ));
    };
    let size = range
        .as_sizer()
        .map_or(0, |s| u64::try_from(*s.size().inner()).unwrap_or(0));
    if budget.charge(size.saturating_add(1)) {
        Ok(range)
    } else {
        Err(ExecutionError::function_error(
            "comprehension",
            "the iteration budget of this evaluation is spent (nested loops over large lists?)",
        ))
    }
}

/// A regular expression compiled when its policy was.
#[derive(Clone, Debug)]
pub(crate) struct RegexVal(pub(crate) regex::Regex);

impl Val for RegexVal {
    fn get_type(&self) -> &Type {
        &REGEX_TYPE
    }

    fn cel_type() -> &'static Type {
        &REGEX_TYPE
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for RegexVal {}

/// Compiles a pattern with the size limits every CEL pattern gets.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// `@matches(text, @reN)`: whether the precompiled pattern matches anywhere in `text` (RE2
/// semantics, as CEL's `matches` has).
fn matches<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [text, pattern] = args.as_slice() else {
        return Err(ExecutionError::invalid_argument_count(2, args.len()));
    };
    let Some(text) = text.downcast_ref::<CelString>() else {
        return Err(ExecutionError::no_such_member_overload(
            "matches",
            vec![text.get_type().name().to_owned(), "string".to_owned()],
        ));
    };
    let Some(pattern) = pattern.downcast_ref::<RegexVal>() else {
        return Err(ExecutionError::function_error(
            "matches",
            "the compiled pattern is not bound",
        ));
    };
    Ok(CowVal::owned(CelBool::from(
        pattern.0.is_match(text.inner()),
    )))
}
