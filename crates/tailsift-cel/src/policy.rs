//! [`CelPolicy`]: a compiled expression as a [`Policy`].

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use cel::common::types::{CelBool, CelDouble};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, Value};
use tailsift::span::{Span, Str};
use tailsift::{Policy, PolicyError, TraceView, Verdict};

use crate::collections::ListVal;
use crate::compile::{self, Compiled};
use crate::fast::{Base, Stop, V};
use crate::runtime::{self, Budget, RegexVal, BUDGET_VARIABLE, REGEX_VARIABLE_PREFIX};
use crate::values::{SpanVal, TraceVal};
use crate::{CelError, CelLimits};

/// A policy written as a CEL expression, compiled once.
///
/// The expression evaluates to a `bool` (true keeps the trace, false abstains) or to a
/// `double` keep rate in `[0, 1]` (kept with that probability by the trace's shared
/// randomness; 0 abstains). Anything else, and every runtime error, is a [`PolicyError`]: the
/// policy set applies the policy's fallback verdict and counts the failure. See the crate
/// documentation for the variables.
///
/// ```
/// use tailsift_cel::CelPolicy;
///
/// let slow = CelPolicy::compile(
///     "slow",
///     "has(trace.baseline.p95_ms) && trace.duration_ms > trace.baseline.p95_ms",
/// )?;
/// assert!(!slow.reads_spans());
///
/// let err = CelPolicy::compile("typo", "trace.duration_ms > 250 &&\n  trce.error_count > 0")
///     .unwrap_err();
/// assert_eq!(err.position(), Some((2, 3)));
/// # Ok::<(), tailsift_cel::CelError>(())
/// ```
pub struct CelPolicy {
    name: String,
    reason: Str,
    source: String,
    compiled: Compiled,
    max_iterations: u64,
    env: Arc<Env>,
}

impl fmt::Debug for CelPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CelPolicy")
            .field("name", &self.name)
            .field("expr", &self.source)
            .field("max_iterations", &self.max_iterations)
            .field("native", &self.compiled.fast.is_some())
            .finish_non_exhaustive()
    }
}

impl CelPolicy {
    /// Compiles `expr` as the policy `name`, with the default [`CelLimits`].
    ///
    /// # Errors
    ///
    /// A [`CelError`] naming the policy and, where there is one, the line and column of the
    /// problem: a syntax error, an unknown variable, an invalid `matches()` pattern, an
    /// expression longer or deeper than the limits.
    pub fn compile(name: &str, expr: &str) -> Result<CelPolicy, CelError> {
        CelPolicy::compile_with_limits(name, expr, &CelLimits::default())
    }

    /// Compiles `expr` as the policy `name`, within `limits`.
    ///
    /// # Errors
    ///
    /// As [`CelPolicy::compile`].
    pub fn compile_with_limits(
        name: &str,
        expr: &str,
        limits: &CelLimits,
    ) -> Result<CelPolicy, CelError> {
        let compiled = compile::compile(name, expr, limits)?;
        Ok(CelPolicy {
            name: name.to_owned(),
            reason: Str::from(name),
            source: expr.to_owned(),
            compiled,
            max_iterations: limits.max_iterations,
            env: Arc::clone(runtime::env()),
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.source
    }

    /// Whether the expression mentions `spans` (and so may look at every span); an expression
    /// that does not never pays for the span list.
    pub fn reads_spans(&self) -> bool {
        self.compiled.reads_spans
    }

    /// Whether the expression is evaluated natively, without the cel crate's interpreter
    /// (see the crate documentation: most policies are). Either way the results are the same;
    /// the native evaluation is several times faster and allocates nothing.
    pub fn is_native(&self) -> bool {
        self.compiled.fast.is_some()
    }

    /// Evaluates the expression with the cel crate's interpreter, bypassing the native
    /// evaluation [`Policy::evaluate`] uses when it can: for differential tests and benches,
    /// which compare the two. Panics are caught as in `evaluate`.
    ///
    /// # Errors
    ///
    /// As [`Policy::evaluate`].
    pub fn evaluate_interpreted(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        self.guarded(|| self.interpret(trace))
    }

    fn error(&self, message: String) -> PolicyError {
        PolicyError {
            policy: self.name.clone(),
            message,
        }
    }

    /// Evaluates the expression, natively when it can; the caller guards against panics.
    fn run(&self, view: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        if let Some(program) = &self.compiled.fast {
            match program.run(view, &self.compiled.regexes, self.max_iterations) {
                Ok(V::B(Base::Bool(keep))) => return Ok(self.bool_verdict(keep)),
                Ok(V::B(Base::Double(rate))) => return self.rate_verdict(rate),
                Err(Stop::Exhausted) => return Err(self.budget_error()),
                // Another result type, a runtime error, or a case the fast path leaves to the
                // interpreter: the interpreter evaluates, and words any error as it always has.
                Ok(_) | Err(Stop::Error(_) | Stop::Bail) => {}
            }
        }
        self.interpret(view)
    }

    fn budget_error(&self) -> PolicyError {
        self.error(format!(
            "evaluation stopped: it needed more than {} loop iterations (nested loops over \
             large lists?)",
            self.max_iterations
        ))
    }

    /// Evaluates the expression with the interpreter; the caller guards against panics.
    fn interpret(&self, view: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        let binding = Binding::new(view, &self.compiled.regexes, self.max_iterations);
        let mut context = Context::with_env(Arc::clone(&self.env));
        context.set_variable_resolver(&binding);
        let result = Value::resolve_val(&self.compiled.expr, &context);
        if binding.budget.is_exhausted() {
            return Err(self.budget_error());
        }
        match result {
            Ok(value) => self.verdict(value),
            Err(e) => Err(self.error(format!("evaluation failed: {e}"))),
        }
    }

    /// The verdict a result stands for.
    fn verdict(&self, value: CowVal<'_, '_>) -> Result<Verdict, PolicyError> {
        if let Some(keep) = value.downcast_ref::<CelBool>() {
            return Ok(self.bool_verdict(*keep.inner()));
        }
        if let Some(rate) = value.downcast_ref::<CelDouble>() {
            return self.rate_verdict(*rate.inner());
        }
        Err(self.error(format!(
            "the expression must give a bool (keep or not) or a double keep rate in [0, 1], \
             but gave a value of type {}",
            value.get_type().name()
        )))
    }
}

impl CelPolicy {
    fn bool_verdict(&self, keep: bool) -> Verdict {
        if keep {
            Verdict::keep(self.reason.clone())
        } else {
            Verdict::Abstain
        }
    }

    fn rate_verdict(&self, rate: f64) -> Result<Verdict, PolicyError> {
        if !(0.0..=1.0).contains(&rate) {
            Err(self.error(format!(
                "the expression gave the keep rate {rate}, outside [0, 1]"
            )))
        } else if rate == 0.0 {
            Ok(Verdict::Abstain)
        } else {
            Ok(Verdict::keep_at(self.reason.clone(), rate))
        }
    }

    /// Runs `evaluate`, turning a panic into this trace's policy error.
    fn guarded(
        &self,
        evaluate: impl FnOnce() -> Result<Verdict, PolicyError>,
    ) -> Result<Verdict, PolicyError> {
        // The cel crate is not known to panic on any input, but a panic in it must not take
        // the engine's worker down: it becomes this trace's policy error.
        match catch_unwind(AssertUnwindSafe(evaluate)) {
            Ok(result) => result,
            Err(panic) => Err(self.error(format!(
                "the CEL interpreter panicked: {}",
                panic_message(panic.as_ref())
            ))),
        }
    }
}

impl Policy for CelPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        self.guarded(|| self.run(trace))
    }
}

/// The message of a caught panic.
/// Hooks for the differential tests of `crate::fast`.
#[cfg(test)]
impl CelPolicy {
    /// The fast path's raw result (`None` when the expression is not native) and the
    /// interpreter's, with whether it spent the iteration budget, each handed to its mapper.
    pub(crate) fn raw_results<R>(
        &self,
        view: &TraceView<'_>,
        fast: impl FnOnce(Result<V<'_>, Stop>) -> R,
        interpreted: impl FnOnce(Result<CowVal<'_, '_>, cel::ExecutionError>, bool) -> R,
    ) -> (Option<R>, R) {
        let native =
            self.compiled.fast.as_ref().map(|program| {
                fast(program.run(view, &self.compiled.regexes, self.max_iterations))
            });
        let binding = Binding::new(view, &self.compiled.regexes, self.max_iterations);
        let mut context = Context::with_env(Arc::clone(&self.env));
        context.set_variable_resolver(&binding);
        let result = Value::resolve_val(&self.compiled.expr, &context);
        let exhausted = binding.budget.is_exhausted();
        (native, interpreted(result, exhausted))
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// One evaluation's variables: `trace` (fields computed on read), `spans` (built on first
/// read), the iteration budget and the compiled patterns.
struct Binding<'a> {
    trace: TraceVal<'a>,
    spans: &'a [Span],
    span_list: OnceLock<ListVal<SpanVal<'a>>>,
    budget: Budget,
    regexes: &'a [RegexVal],
}

impl<'a> Binding<'a> {
    fn new(view: &'a TraceView<'a>, regexes: &'a [RegexVal], iterations: u64) -> Binding<'a> {
        Binding {
            trace: TraceVal::new(view),
            spans: view.spans(),
            span_list: OnceLock::new(),
            budget: Budget::new(iterations),
            regexes,
        }
    }
}

impl VariableResolver for Binding<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let value: &'b dyn Val = match variable {
            "trace" => &self.trace,
            "spans" => self
                .span_list
                .get_or_init(|| ListVal(self.spans.iter().map(|span| SpanVal { span }).collect())),
            BUDGET_VARIABLE => &self.budget,
            _ => {
                let index = variable.strip_prefix(REGEX_VARIABLE_PREFIX)?;
                self.regexes.get(index.parse::<usize>().ok()?)?
            }
        };
        Some(CowVal::Borrowed(value))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cel::common::ast::IdedExpr;
    use tailsift::{TraceFlags, TraceId};

    use super::*;

    #[test]
    fn a_panic_in_the_interpreter_becomes_a_policy_error() {
        let mut policy = CelPolicy::compile("guarded", "true").unwrap();
        // The interpreter panics on an empty node, which the compiler never lets through.
        policy.compiled.expr = IdedExpr::default();
        policy.compiled.fast = None;
        let view = TraceView::new(
            TraceId::from_u128(1),
            &[],
            TraceFlags::default(),
            Duration::ZERO,
        );
        let err = policy.evaluate(&view).unwrap_err();
        assert_eq!(err.policy, "guarded");
        assert!(err.message.contains("panicked"), "{err}");
        // The policy keeps working afterwards.
        let policy = CelPolicy::compile("guarded", "true").unwrap();
        assert_eq!(policy.evaluate(&view), Ok(Verdict::keep("guarded")));
    }

    #[test]
    fn panic_messages_are_extracted() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42), "(no message)");
    }
}
