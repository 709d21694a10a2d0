//! Lowering a checked, rewritten expression to the fast path's tree, or refusing to.
//!
//! Every node kind here mirrors one case of the cel crate's interpreter
//! (`Value::resolve_val`), with the same operand order and the same short-circuits, so that
//! the same sub-expressions run (and charge the same iteration budget). Anything else (map
//! and message literals, `map()` and `filter()`, conversions to strings, type names, functions
//! outside the list below) makes the whole expression go to the interpreter: `lower` returns
//! `None`.

use cel::common::ast::{operators, CallExpr, ComprehensionExpr, Expr, IdedExpr, LiteralValue};

use super::value::{Arith, Const, Field, Key};
use crate::runtime::{BUDGET_VARIABLE, COUNT_FUNCTION, MATCHES_FUNCTION, REGEX_VARIABLE_PREFIX};

/// How many loop variables may be in scope at once (nested comprehensions).
pub(crate) const MAX_LOOP_DEPTH: usize = 8;

/// The name the standard macros give their accumulator.
const ACCUMULATOR: &str = "@result";

/// A node of the compiled expression.
#[derive(Debug)]
pub(crate) enum Node {
    Lit(Const),
    /// A list literal of literals.
    List(Box<[Const]>),
    /// The variable `trace`.
    Trace,
    /// The variable `spans`.
    Spans,
    /// The loop variable of the comprehension `depth` levels out (0 is the outermost).
    Var(usize),
    /// `v.f` on a loop variable: `Select(Var(depth), key)` without the step through `Var`.
    VarField(usize, Key),
    /// `x.f`.
    Select(Box<Node>, Key),
    /// `has(x.f)`.
    Has(Box<Node>, Key),
    /// `x.?f`.
    OptSelect(Box<Node>, Key),
    /// `x[i]` or, when `optional`, `x[?i]`.
    Index {
        value: Box<Node>,
        index: Box<Node>,
        optional: bool,
    },
    /// `x["key"]` or `x[?"key"]`: an `Index` by a string literal, its field resolved at load.
    IndexKey {
        value: Box<Node>,
        key: Key,
        optional: bool,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// `==`, or `!=` when `negate`.
    Eq {
        left: Box<Node>,
        right: Box<Node>,
        negate: bool,
    },
    /// A string test of a loop variable's field against a literal: `v.f == "lit"`,
    /// `v.f != "lit"`, `v.f.startsWith("lit")`, ... Evaluated directly when `v` is a span or
    /// an event and `f` one of its string fields, else as `general`, the node it stands for.
    VarStr {
        depth: usize,
        field: Field,
        test: StrTest,
        literal: Box<str>,
        general: Box<Node>,
    },
    /// `x == literal`, or `!=` when `negate`.
    EqLit {
        left: Box<Node>,
        literal: Const,
        negate: bool,
    },
    /// `<`, `<=`, `>`, `>=`.
    Cmp(Cmp, Box<Node>, Box<Node>),
    /// `x < literal` and friends.
    CmpLit(Cmp, Box<Node>, Const),
    /// `x in container`.
    In(Box<Node>, Box<Node>),
    Arith(Arith, Box<Node>, Box<Node>),
    /// `size(x)` or `x.size()`.
    Size(Box<Node>),
    /// A string method with one string argument: `target.f(arg)`.
    StrMethod {
        method: StrMethod,
        target: Box<Node>,
        arg: Box<Node>,
    },
    /// `x.matches("pattern")`, the pattern compiled at load (`@matches(x, @reN)`).
    Matches(Box<Node>, usize),
    /// `int(x)` (numbers only).
    ToInt(Box<Node>),
    /// `double(x)` (numbers only).
    ToDouble(Box<Node>),
    /// `optional.of(x)`.
    OptOf(Box<Node>),
    /// `optional.none()`.
    OptNone,
    /// `target.or(arg)`.
    OptOr(Box<Node>, Box<Node>),
    /// `target.orValue(arg)`.
    OptOrValue(Box<Node>, Box<Node>),
    /// `target.hasValue()`.
    OptHasValue(Box<Node>),
    /// `target.value()`.
    OptValue(Box<Node>),
    /// `range.exists(v, pred)`, `range.all(v, pred)`, `range.exists_one(v, pred)`, whose
    /// variable `v` is `Var(depth)` in `pred`.
    ///
    /// `span_prefilter`: `pred` reads nothing that tells a span on the critical path from the
    /// same span in `spans` (no `self_ms`, no key computed at run time) and runs no loop. An
    /// `exists` over the critical path can then first try every span of the trace: when `pred`
    /// is false on all of them without error, it is false on the path's, which need not be
    /// computed.
    Loop {
        kind: LoopKind,
        depth: usize,
        range: Box<Node>,
        pred: Box<Node>,
        span_prefilter: bool,
    },
}

impl Node {
    /// `self`, or a [`Node::VarStr`] standing for it when it is a string test of a loop
    /// variable's field against a literal.
    fn fused(self) -> Node {
        let (depth, key, test, literal) = match &self {
            Node::EqLit {
                left,
                literal: Const::Str(literal),
                negate,
            } => match &**left {
                Node::VarField(depth, key) => (
                    *depth,
                    key,
                    if *negate { StrTest::Ne } else { StrTest::Eq },
                    literal,
                ),
                _ => return self,
            },
            Node::StrMethod {
                method,
                target,
                arg,
            } => match (&**target, &**arg) {
                (Node::VarField(depth, key), Node::Lit(Const::Str(literal))) => {
                    (*depth, key, StrTest::Method(*method), literal)
                }
                _ => return self,
            },
            _ => return self,
        };
        Node::VarStr {
            depth,
            field: key.field,
            test,
            literal: literal.clone(),
            general: Box::new(self),
        }
    }

    /// Whether `self` could read something that differs between a span of the critical path
    /// and the same span of `spans`, or could run a loop (see `Node::Loop`).
    fn tells_path_spans_apart(&self) -> bool {
        let key = |k: &Key| k.field == Field::SelfMs;
        match self {
            Node::Lit(_) | Node::List(_) | Node::Trace | Node::Spans | Node::Var(_) => false,
            Node::OptNone => false,
            Node::VarField(_, k) => key(k),
            Node::VarStr { general, .. } => general.tells_path_spans_apart(),
            Node::Select(x, k) | Node::Has(x, k) | Node::OptSelect(x, k) => {
                key(k) || x.tells_path_spans_apart()
            }
            Node::IndexKey { value, key: k, .. } => key(k) || value.tells_path_spans_apart(),
            // A key computed at run time could be "self_ms".
            Node::Index { .. } | Node::Loop { .. } => true,
            Node::Not(x)
            | Node::Neg(x)
            | Node::Size(x)
            | Node::Matches(x, _)
            | Node::ToInt(x)
            | Node::ToDouble(x)
            | Node::OptOf(x)
            | Node::OptHasValue(x)
            | Node::OptValue(x)
            | Node::EqLit { left: x, .. }
            | Node::CmpLit(_, x, _) => x.tells_path_spans_apart(),
            Node::And(a, b)
            | Node::Or(a, b)
            | Node::Eq {
                left: a, right: b, ..
            }
            | Node::Cmp(_, a, b)
            | Node::In(a, b)
            | Node::Arith(_, a, b)
            | Node::StrMethod {
                target: a, arg: b, ..
            }
            | Node::OptOr(a, b)
            | Node::OptOrValue(a, b) => a.tells_path_spans_apart() || b.tells_path_spans_apart(),
            Node::Cond(a, b, c) => {
                a.tells_path_spans_apart()
                    || b.tells_path_spans_apart()
                    || c.tells_path_spans_apart()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Less,
    LessEq,
    Greater,
    GreaterEq,
}

impl Cmp {
    /// Whether `ordering` satisfies the comparison.
    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        match self {
            Cmp::Less => ordering.is_lt(),
            Cmp::LessEq => ordering.is_le(),
            Cmp::Greater => ordering.is_gt(),
            Cmp::GreaterEq => ordering.is_ge(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrMethod {
    StartsWith,
    EndsWith,
    Contains,
}

impl StrMethod {
    pub(crate) fn holds(self, s: &str, arg: &str) -> bool {
        match self {
            StrMethod::StartsWith => s.starts_with(arg),
            StrMethod::EndsWith => s.ends_with(arg),
            StrMethod::Contains => s.contains(arg),
        }
    }
}

/// The tests of a [`Node::VarStr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrTest {
    Eq,
    Ne,
    Method(StrMethod),
}

impl StrTest {
    pub(crate) fn holds(self, s: &str, literal: &str) -> bool {
        match self {
            StrTest::Eq => s == literal,
            StrTest::Ne => s != literal,
            StrTest::Method(method) => method.holds(s, literal),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoopKind {
    Exists,
    All,
    ExistsOne,
}

/// The fast-path tree for `expr`, or `None` when some part of it is left to the interpreter.
pub(crate) fn lower(expr: &IdedExpr) -> Option<Node> {
    Lowering { scopes: Vec::new() }.node(expr)
}

struct Lowering {
    /// Loop variables in scope, outermost first.
    scopes: Vec<String>,
}

fn boxed(node: Node) -> Box<Node> {
    Box::new(node)
}

impl Lowering {
    fn node(&mut self, expr: &IdedExpr) -> Option<Node> {
        match &expr.expr {
            Expr::Literal(literal) => Some(Node::Lit(Const::of(literal))),
            Expr::Ident(name) => self.ident(name),
            Expr::Select(select) => {
                let operand = self.node(&select.operand)?;
                let key = Key::new(&select.field);
                Some(match (select.test, operand) {
                    (true, operand) => Node::Has(boxed(operand), key),
                    (false, Node::Var(depth)) => Node::VarField(depth, key),
                    (false, operand) => Node::Select(boxed(operand), key),
                })
            }
            Expr::List(list) if list.optional_indices.is_empty() => {
                let items = list
                    .elements
                    .iter()
                    .map(|e| match &e.expr {
                        Expr::Literal(literal) => Some(Const::of(literal)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Node::List(items.into()))
            }
            Expr::Comprehension(comprehension) => self.comprehension(comprehension),
            Expr::Call(call) => self.call(call),
            Expr::List(_) | Expr::Map(_) | Expr::Struct(_) | Expr::Unspecified => None,
        }
    }

    /// A variable: the innermost loop variable of that name, else `trace` or `spans` (the
    /// interpreter looks names up scope by scope, innermost first). Type names and absolute
    /// names (`.trace`) are left to the interpreter.
    fn ident(&self, name: &str) -> Option<Node> {
        if let Some(depth) = self.scopes.iter().rposition(|s| s == name) {
            return Some(Node::Var(depth));
        }
        match name {
            "trace" => Some(Node::Trace),
            "spans" => Some(Node::Spans),
            _ => None,
        }
    }

    fn two(&mut self, args: &[IdedExpr]) -> Option<(Box<Node>, Box<Node>)> {
        match args {
            [a, b] => Some((boxed(self.node(a)?), boxed(self.node(b)?))),
            _ => None,
        }
    }

    fn call(&mut self, call: &CallExpr) -> Option<Node> {
        let name = call.func_name.as_str();
        let args = call.args.as_slice();
        let Some(target) = call.target.as_deref() else {
            return self.global_call(name, args);
        };
        // `optional.of(x)`: the interpreter calls a function when the target spells a function
        // namespace, whatever variables are in scope.
        if qualified_root(&target.expr) == Some("optional") {
            return match (&target.expr, name, args) {
                (Expr::Ident(_), "of", [x]) => Some(Node::OptOf(boxed(self.node(x)?))),
                (Expr::Ident(_), "none", []) => Some(Node::OptNone),
                _ => None,
            };
        }
        // The arguments are evaluated before the target: lowered here in any order, the
        // evaluator keeps the interpreter's.
        let target = boxed(self.node(target)?);
        match (name, args) {
            ("size", []) => Some(Node::Size(target)),
            ("startsWith" | "endsWith" | "contains", [arg]) => Some(
                Node::StrMethod {
                    method: match name {
                        "startsWith" => StrMethod::StartsWith,
                        "endsWith" => StrMethod::EndsWith,
                        _ => StrMethod::Contains,
                    },
                    target,
                    arg: boxed(self.node(arg)?),
                }
                .fused(),
            ),
            ("or", [arg]) => Some(Node::OptOr(target, boxed(self.node(arg)?))),
            ("orValue", [arg]) => Some(Node::OptOrValue(target, boxed(self.node(arg)?))),
            ("hasValue", []) => Some(Node::OptHasValue(target)),
            ("value", []) => Some(Node::OptValue(target)),
            _ => None,
        }
    }

    fn global_call(&mut self, name: &str, args: &[IdedExpr]) -> Option<Node> {
        let cmp = |c| {
            move |lowering: &mut Lowering| {
                let (a, b) = lowering.two(args)?;
                Some(match *b {
                    Node::Lit(literal) => Node::CmpLit(c, a, literal),
                    b => Node::Cmp(c, a, boxed(b)),
                })
            }
        };
        let arith = |op| {
            move |lowering: &mut Lowering| {
                let (a, b) = lowering.two(args)?;
                Some(Node::Arith(op, a, b))
            }
        };
        match (name, args.len()) {
            (operators::LOGICAL_AND, 2) => self.two(args).map(|(a, b)| Node::And(a, b)),
            (operators::LOGICAL_OR, 2) => self.two(args).map(|(a, b)| Node::Or(a, b)),
            (operators::CONDITIONAL, 3) => Some(Node::Cond(
                boxed(self.node(&args[0])?),
                boxed(self.node(&args[1])?),
                boxed(self.node(&args[2])?),
            )),
            (operators::EQUALS | operators::NOT_EQUALS, 2) => {
                let negate = name == operators::NOT_EQUALS;
                let (left, right) = self.two(args)?;
                Some(match *right {
                    Node::Lit(literal) => Node::EqLit {
                        left,
                        literal,
                        negate,
                    }
                    .fused(),
                    right => Node::Eq {
                        left,
                        right: boxed(right),
                        negate,
                    },
                })
            }
            (operators::LESS, 2) => cmp(Cmp::Less)(self),
            (operators::LESS_EQUALS, 2) => cmp(Cmp::LessEq)(self),
            (operators::GREATER, 2) => cmp(Cmp::Greater)(self),
            (operators::GREATER_EQUALS, 2) => cmp(Cmp::GreaterEq)(self),
            (operators::ADD, 2) => arith(Arith::Add)(self),
            (operators::SUBSTRACT, 2) => arith(Arith::Sub)(self),
            (operators::MULTIPLY, 2) => arith(Arith::Mul)(self),
            (operators::DIVIDE, 2) => arith(Arith::Div)(self),
            (operators::MODULO, 2) => arith(Arith::Rem)(self),
            (operators::IN, 2) => self.two(args).map(|(a, b)| Node::In(a, b)),
            (operators::INDEX | operators::OPT_INDEX, 2) => {
                let optional = name == operators::OPT_INDEX;
                let (value, index) = self.two(args)?;
                Some(match *index {
                    Node::Lit(Const::Str(key)) => Node::IndexKey {
                        value,
                        key: Key::new(&key),
                        optional,
                    },
                    index => Node::Index {
                        value,
                        index: boxed(index),
                        optional,
                    },
                })
            }
            (operators::OPT_SELECT, 2) => match &args[1].expr {
                Expr::Literal(LiteralValue::String(field)) => Some(Node::OptSelect(
                    boxed(self.node(&args[0])?),
                    Key::new(field.inner()),
                )),
                _ => None,
            },
            (operators::LOGICAL_NOT, 1) => Some(Node::Not(boxed(self.node(&args[0])?))),
            (operators::NEGATE, 1) => Some(Node::Neg(boxed(self.node(&args[0])?))),
            ("size", 1) => Some(Node::Size(boxed(self.node(&args[0])?))),
            ("int", 1) => Some(Node::ToInt(boxed(self.node(&args[0])?))),
            ("double", 1) => Some(Node::ToDouble(boxed(self.node(&args[0])?))),
            (MATCHES_FUNCTION, 2) => match &args[1].expr {
                Expr::Ident(variable) => {
                    let index = variable
                        .strip_prefix(REGEX_VARIABLE_PREFIX)?
                        .parse::<usize>()
                        .ok()?;
                    Some(Node::Matches(boxed(self.node(&args[0])?), index))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The standard macros `exists`, `all` and `exists_one`, recognized by the exact shape the
    /// parser expands them to, with the range the compiler wrapped in `@count(r, @budget)`.
    fn comprehension(&mut self, c: &ComprehensionExpr) -> Option<Node> {
        if c.iter_var2.is_some() || c.accu_var != ACCUMULATOR {
            return None;
        }
        let kind = macro_kind(c)?;
        let range = match &c.iter_range.expr {
            Expr::Call(call)
                if call.func_name == COUNT_FUNCTION
                    && call.target.is_none()
                    && matches!(
                        call.args.as_slice(),
                        [_, IdedExpr { expr: Expr::Ident(budget), .. }] if budget == BUDGET_VARIABLE
                    ) =>
            {
                boxed(self.node(&call.args[0])?)
            }
            _ => return None,
        };
        let pred = match kind {
            LoopKind::Exists | LoopKind::All => match &c.loop_step.expr {
                Expr::Call(call) => &call.args[1],
                _ => return None,
            },
            LoopKind::ExistsOne => match &c.loop_step.expr {
                Expr::Call(call) => &call.args[0],
                _ => return None,
            },
        };
        let depth = self.scopes.len();
        if depth >= MAX_LOOP_DEPTH {
            return None;
        }
        self.scopes.push(c.iter_var.clone());
        let pred = self.node(pred);
        self.scopes.pop();
        let pred = pred?;
        Some(Node::Loop {
            kind,
            depth,
            range,
            span_prefilter: kind == LoopKind::Exists && !pred.tells_path_spans_apart(),
            pred: boxed(pred),
        })
    }
}

/// The first segment of the qualified name `expr` spells (`a` of `a.b.c`), as the
/// interpreter finds it when it looks for a function namespace.
fn qualified_root(expr: &Expr) -> Option<&str> {
    let mut expr = expr;
    loop {
        match expr {
            Expr::Ident(name) => return Some(name),
            Expr::Select(select) if !select.test => expr = &select.operand.expr,
            _ => return None,
        }
    }
}

fn is_accumulator(expr: &IdedExpr) -> bool {
    matches!(&expr.expr, Expr::Ident(name) if name == ACCUMULATOR)
}

fn is_call<'e>(expr: &'e IdedExpr, name: &str, arity: usize) -> Option<&'e [IdedExpr]> {
    match &expr.expr {
        Expr::Call(call)
            if call.func_name == name && call.target.is_none() && call.args.len() == arity =>
        {
            Some(&call.args)
        }
        _ => None,
    }
}

fn is_literal(expr: &IdedExpr, want: &LiteralValue) -> bool {
    matches!(&expr.expr, Expr::Literal(literal) if literal == want)
}

/// Which standard macro `c` is the expansion of, if any (see the cel crate's
/// `parser/macros.rs`).
fn macro_kind(c: &ComprehensionExpr) -> Option<LoopKind> {
    let result_is_accumulator = is_accumulator(&c.result);
    // exists: init false, cond @not_strictly_false(!@result), step @result || pred.
    if is_literal(&c.accu_init, &LiteralValue::Boolean(false.into()))
        && result_is_accumulator
        && is_call(&c.loop_cond, operators::NOT_STRICTLY_FALSE, 1)
            .and_then(|a| is_call(&a[0], operators::LOGICAL_NOT, 1))
            .is_some_and(|a| is_accumulator(&a[0]))
        && is_call(&c.loop_step, operators::LOGICAL_OR, 2).is_some_and(|a| is_accumulator(&a[0]))
    {
        return Some(LoopKind::Exists);
    }
    // all: init true, cond @not_strictly_false(@result), step @result && pred.
    if is_literal(&c.accu_init, &LiteralValue::Boolean(true.into()))
        && result_is_accumulator
        && is_call(&c.loop_cond, operators::NOT_STRICTLY_FALSE, 1)
            .is_some_and(|a| is_accumulator(&a[0]))
        && is_call(&c.loop_step, operators::LOGICAL_AND, 2).is_some_and(|a| is_accumulator(&a[0]))
    {
        return Some(LoopKind::All);
    }
    // exists_one: init 0, cond true, step pred ? @result + 1 : @result, result @result == 1.
    let one = LiteralValue::Int(1.into());
    if is_literal(&c.accu_init, &LiteralValue::Int(0.into()))
        && is_literal(&c.loop_cond, &LiteralValue::Boolean(true.into()))
        && is_call(&c.loop_step, operators::CONDITIONAL, 3).is_some_and(|a| {
            is_call(&a[1], operators::ADD, 2)
                .is_some_and(|add| is_accumulator(&add[0]) && is_literal(&add[1], &one))
                && is_accumulator(&a[2])
        })
        && is_call(&c.result, operators::EQUALS, 2)
            .is_some_and(|a| is_accumulator(&a[0]) && is_literal(&a[1], &one))
    {
        return Some(LoopKind::ExistsOne);
    }
    None
}
