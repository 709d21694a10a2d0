//! Compiling an expression: limits, parsing, checking and rewriting the tree.
//!
//! The CEL parser (ANTLR-generated) and the interpreter both recurse over the expression, so a
//! pathological expression could overflow a thread's stack, which no `catch_unwind` can
//! recover from. Three guards keep that from happening:
//!
//! 1. the source is at most [`CelLimits::max_expression_bytes`] long and its brackets nest at
//!    most [`CelLimits::max_depth`] deep (checked by a scan before parsing);
//! 2. parsing runs on a thread of its own with a [`COMPILE_STACK_BYTES`] stack, far more than
//!    the parser needs for a source of that size (a 4 KiB chain of 2,000 `<` takes about
//!    2 MiB), and the tree is dropped there if it is refused;
//! 3. the parsed tree is at most [`CelLimits::max_depth`] deep, so evaluating it recurses at
//!    most that deep on the engine's threads (about 1 KiB of stack per level).
//!
//! The checker also refuses unknown variables (typos such as `trce.duration_ms` fail at load,
//! not on every trace) and compiles `matches()` patterns once, and the rewriter wires in the
//! iteration budget (see [`crate::runtime`]). Last, the expression is lowered for the native
//! evaluator when it can be (see [`crate::fast`]).

use std::mem;
use std::thread;

use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo,
};
use cel::ParseErrors;

use crate::error::CelError;
use crate::fast;
use crate::runtime::{
    self, RegexVal, BUDGET_VARIABLE, COUNT_FUNCTION, MATCHES_FUNCTION, REGEX_VARIABLE_PREFIX,
};
use crate::CelLimits;

/// The stack of the thread that parses and checks an expression.
pub(crate) const COMPILE_STACK_BYTES: usize = 64 << 20;

/// The variables every expression may use.
pub(crate) const VARIABLES: [&str; 2] = ["trace", "spans"];

/// A checked and rewritten expression, ready to evaluate.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// The rewritten tree.
    pub(crate) expr: IdedExpr,
    /// The `matches()` patterns, bound to `@re0`, `@re1`, ... in order.
    pub(crate) regexes: Vec<RegexVal>,
    /// Whether the expression mentions `spans`.
    pub(crate) reads_spans: bool,
    /// The expression compiled for the native evaluator, when it uses only what that evaluates
    /// (see [`crate::fast`]).
    pub(crate) fast: Option<fast::Program>,
}

/// Compiles `source` for the policy `policy` on a thread with a large stack.
pub(crate) fn compile(
    policy: &str,
    source: &str,
    limits: &CelLimits,
) -> Result<Compiled, CelError> {
    if source.len() > limits.max_expression_bytes {
        return Err(CelError::TooLong {
            policy: policy.to_owned(),
            bytes: source.len(),
            max: limits.max_expression_bytes,
        });
    }
    let internal = |message: String| CelError::Internal {
        policy: policy.to_owned(),
        message,
    };
    let (owned_policy, owned_source, limits) = (policy.to_owned(), source.to_owned(), *limits);
    let worker = thread::Builder::new()
        .name("tailsift-cel-compile".to_owned())
        .stack_size(COMPILE_STACK_BYTES)
        .spawn(move || compile_here(&owned_policy, &owned_source, &limits))
        .map_err(|e| internal(format!("could not start the compiler thread: {e}")))?;
    match worker.join() {
        Ok(result) => result,
        Err(panic) => Err(internal(format!(
            "the CEL parser panicked: {}",
            crate::policy::panic_message(panic.as_ref())
        ))),
    }
}

/// The compiler proper, on the current thread.
fn compile_here(policy: &str, source: &str, limits: &CelLimits) -> Result<Compiled, CelError> {
    if let Some(offset) = first_bracket_too_deep(source, limits.max_depth) {
        let (line, column) = line_column(source, offset);
        return Err(CelError::TooDeep {
            policy: policy.to_owned(),
            line,
            column,
            max: limits.max_depth,
        });
    }
    let env = runtime::env();
    let parser_depth = limits.max_depth.saturating_mul(4).clamp(96, 1000);
    let (mut expr, info) = env
        .parser()
        .max_recursion_depth(u16::try_from(parser_depth).unwrap_or(1000))
        .parse_with_source_info(source)
        .map_err(|errors| syntax_error(policy, source, &errors, limits.max_depth))?;
    let mut checker = Checker {
        policy,
        source,
        info: &info,
        max_depth: limits.max_depth,
        scopes: Vec::new(),
        regexes: Vec::new(),
        reads_spans: false,
    };
    checker.visit(&mut expr, 1)?;
    // Lowering recurses over the tree too: here, on the compiler's stack.
    let fast = fast::Program::compile(&expr);
    Ok(Compiled {
        expr,
        regexes: checker.regexes,
        reads_spans: checker.reads_spans,
        fast,
    })
}

/// The first of the parser's errors, positioned.
fn syntax_error(policy: &str, source: &str, errors: &ParseErrors, max_depth: usize) -> CelError {
    let Some(first) = errors.errors.first() else {
        return CelError::Syntax {
            policy: policy.to_owned(),
            line: 1,
            column: 1,
            message: "the expression could not be parsed".to_owned(),
        };
    };
    let message = first.msg.trim_start_matches("Syntax error: ").to_owned();
    // The parser's own nesting guard reports no usable position.
    if message.contains("Recursion limit") {
        return CelError::TooDeep {
            policy: policy.to_owned(),
            line: 1,
            column: 1,
            max: max_depth,
        };
    }
    let lines = source.split('\n').count().max(1);
    let line = usize::try_from(first.pos.0).unwrap_or(1).clamp(1, lines);
    let column = usize::try_from(first.pos.1).unwrap_or(1).max(1);
    let more = errors.errors.len() - 1;
    CelError::Syntax {
        policy: policy.to_owned(),
        line,
        column,
        message: if more > 0 {
            format!("{message} (and {more} more error(s) after it)")
        } else {
            message
        },
    }
}

/// The 1-based line and character column of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The byte offset of the first bracket (`(`, `[`, `{`) that opens deeper than `max`, outside
/// string literals and comments.
fn first_bracket_too_deep(source: &str, max: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            quote @ (b'\'' | b'"') => {
                let raw = i > 0 && matches!(bytes[i - 1], b'r' | b'R')
                    || i > 1 && matches!(bytes[i - 2], b'r' | b'R');
                let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
                let quotes = [quote; 3];
                let close = if triple { &quotes[..] } else { &quotes[..1] };
                i += close.len();
                while i < bytes.len() && !bytes[i..].starts_with(close) {
                    i += if !raw && bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += close.len() - 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Walks the parsed tree: checks depth and identifiers, compiles patterns, and rewrites
/// comprehension ranges and `matches()` calls.
struct Checker<'s> {
    policy: &'s str,
    source: &'s str,
    info: &'s SourceInfo,
    max_depth: usize,
    /// Loop variables in scope, innermost last.
    scopes: Vec<String>,
    regexes: Vec<RegexVal>,
    reads_spans: bool,
}

impl Checker<'_> {
    fn position(&self, expr: &IdedExpr) -> (usize, usize) {
        match self.info.offset_for(expr.id) {
            Some((start, _)) => line_column(self.source, start as usize),
            None => (1, 1),
        }
    }

    fn unsupported(&self, expr: &IdedExpr, message: impl Into<String>) -> CelError {
        let (line, column) = self.position(expr);
        CelError::Unsupported {
            policy: self.policy.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn visit(&mut self, expr: &mut IdedExpr, depth: usize) -> Result<(), CelError> {
        if depth > self.max_depth {
            let (line, column) = self.position(expr);
            return Err(CelError::TooDeep {
                policy: self.policy.to_owned(),
                line,
                column,
                max: self.max_depth,
            });
        }
        let next = depth + 1;
        match &mut expr.expr {
            Expr::Literal(_) => Ok(()),
            Expr::Ident(name) => {
                let name = name.trim_start_matches('.').to_owned();
                self.check_ident(expr, &name)
            }
            Expr::Select(select) => self.visit(&mut select.operand, next),
            Expr::List(list) => list
                .elements
                .iter_mut()
                .try_for_each(|element| self.visit(element, next)),
            Expr::Map(map) => map
                .entries
                .iter_mut()
                .try_for_each(|entry| match &mut entry.expr {
                    EntryExpr::MapEntry(e) => {
                        self.visit(&mut e.key, next)?;
                        self.visit(&mut e.value, next)
                    }
                    EntryExpr::StructField(f) => self.visit(&mut f.value, next),
                }),
            Expr::Struct(_) => Err(self.unsupported(
                expr,
                "message literals are not supported: no message types are declared",
            )),
            Expr::Comprehension(comprehension) => self.visit_comprehension(comprehension, next),
            Expr::Call(_) => self.visit_call(expr, next),
            Expr::Unspecified => Err(self.unsupported(expr, "the parser left an empty node here")),
        }
    }

    fn check_ident(&mut self, expr: &IdedExpr, name: &str) -> Result<(), CelError> {
        if name == "spans" && !self.scopes.iter().any(|s| s == "spans") {
            self.reads_spans = true;
        }
        let known = name.starts_with('@')
            || VARIABLES.contains(&name)
            || self.scopes.iter().any(|s| s == name)
            || runtime::env().types().find_type(name).is_some();
        if known {
            return Ok(());
        }
        let (line, column) = self.position(expr);
        Err(CelError::UnknownVariable {
            policy: self.policy.to_owned(),
            line,
            column,
            name: name.to_owned(),
        })
    }

    fn visit_comprehension(
        &mut self,
        comprehension: &mut ComprehensionExpr,
        depth: usize,
    ) -> Result<(), CelError> {
        self.visit(&mut comprehension.iter_range, depth)?;
        self.visit(&mut comprehension.accu_init, depth)?;
        let outer = self.scopes.len();
        self.scopes.push(comprehension.iter_var.clone());
        self.scopes.extend(comprehension.iter_var2.clone());
        self.scopes.push(comprehension.accu_var.clone());
        let body = self
            .visit(&mut comprehension.loop_cond, depth)
            .and_then(|()| self.visit(&mut comprehension.loop_step, depth))
            .and_then(|()| self.visit(&mut comprehension.result, depth));
        self.scopes.truncate(outer);
        body?;
        // `r` becomes `@count(r, @budget)`.
        let range = mem::take(&mut comprehension.iter_range);
        let id = range.id;
        comprehension.iter_range = IdedExpr {
            id,
            expr: Expr::Call(CallExpr {
                func_name: COUNT_FUNCTION.to_owned(),
                target: None,
                args: vec![
                    range,
                    IdedExpr {
                        id,
                        expr: Expr::Ident(BUDGET_VARIABLE.to_owned()),
                    },
                ],
            }),
        };
        Ok(())
    }

    fn visit_call(&mut self, expr: &mut IdedExpr, depth: usize) -> Result<(), CelError> {
        let Expr::Call(call) = &mut expr.expr else {
            return Ok(());
        };
        let is_matches = call.func_name == "matches"
            && call.args.len() + usize::from(call.target.is_some()) == 2;
        match call.target.as_deref_mut() {
            // `optional.of(x)` and friends: a function namespace, not a variable.
            Some(IdedExpr {
                expr: Expr::Ident(namespace),
                ..
            }) if namespace == "optional" => {}
            Some(target) => self.visit(target, depth)?,
            None => {}
        }
        for arg in &mut call.args {
            self.visit(arg, depth)?;
        }
        if is_matches {
            self.rewrite_matches(expr)?;
        }
        Ok(())
    }

    /// `text.matches("p")` or `matches(text, "p")` becomes `@matches(text, @reN)`.
    fn rewrite_matches(&mut self, expr: &mut IdedExpr) -> Result<(), CelError> {
        let Expr::Call(call) = &mut expr.expr else {
            return Ok(());
        };
        let Some(pattern_expr) = call.args.last() else {
            return Ok(());
        };
        let Expr::Literal(LiteralValue::String(pattern)) = &pattern_expr.expr else {
            return Err(self.unsupported(
                pattern_expr,
                "matches() takes a string literal pattern (so that it is compiled once, at \
                 load); compare with ==, startsWith() or contains() for computed values",
            ));
        };
        let pattern = pattern.inner().to_owned();
        let regex = runtime::compile_regex(&pattern).map_err(|e| {
            let (line, column) = self.position(pattern_expr);
            CelError::InvalidPattern {
                policy: self.policy.to_owned(),
                line,
                column,
                pattern: pattern.clone(),
                message: e.to_string(),
            }
        })?;
        let variable = format!("{REGEX_VARIABLE_PREFIX}{}", self.regexes.len());
        self.regexes.push(RegexVal(regex));
        let pattern_id = pattern_expr.id;
        let mut args = mem::take(&mut call.args);
        let text = match call.target.take() {
            Some(target) => *target,
            None => args.swap_remove(0),
        };
        *call = CallExpr {
            func_name: MATCHES_FUNCTION.to_owned(),
            target: None,
            args: vec![
                text,
                IdedExpr {
                    id: pattern_id,
                    expr: Expr::Ident(variable),
                },
            ],
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters_from_one() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("'éé' + x", 9), (1, 8));
        assert_eq!(line_column("x", 99), (1, 2));
    }

    #[test]
    fn bracket_scan_skips_strings_and_comments() {
        assert_eq!(first_bracket_too_deep("((1))", 2), None);
        assert_eq!(first_bracket_too_deep("(((1)))", 2), Some(2));
        assert_eq!(first_bracket_too_deep("'((((' + \"[[[[\"", 1), None);
        assert_eq!(first_bracket_too_deep("'''(((\\'''", 1), None);
        assert_eq!(first_bracket_too_deep("r'\\' + '(('", 1), None);
        assert_eq!(first_bracket_too_deep("1 // ((((\n+ (2)", 1), None);
        assert_eq!(first_bracket_too_deep("'unterminated ((((", 1), None);
    }
}
