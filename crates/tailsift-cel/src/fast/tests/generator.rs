//! A generator of random CEL expressions over the trace's variables, for the differential
//! tests: a grammar of the fields, attribute keys, operators, functions and macros the trace
//! offers, mostly well typed (so that evaluations get somewhere) and sometimes not (so that
//! errors and their absorption are exercised too), with loop variables that sometimes shadow
//! `trace`, `spans`, `optional` or each other.

use rand::rngs::SmallRng;
use rand::Rng;

/// Random CEL over the trace's variables: mostly well typed, sometimes not.
pub(super) struct Generator<'r> {
    rng: &'r mut SmallRng,
    /// Loop variables in scope and what they range over.
    scopes: Vec<(String, Elem)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Elem {
    Span,
    PathSpan,
    Event,
    Key,
    Value,
}

const INTS: &[&str] = &["0", "1", "-1", "2", "200", "500", "9223372036854775807"];
const DOUBLES: &[&str] = &["0.0", "0.5", "1.0", "100.0", "1e300", "-0.0"];
const STRINGS: &[&str] = &[
    "''",
    "'server'",
    "'client'",
    "'ERROR'",
    "'checkout'",
    "'payment:Charge'",
    "'GET'",
    "'/'",
    "'a'",
    "'é'",
];
const KEYS: &[&str] = &[
    "'http.response.status_code'",
    "'http.route'",
    "'user.tier'",
    "'net.peer.name'",
    "'service.name'",
    "'exception.type'",
    "'list'",
    "'nested'",
    "'code'",
    "'nope'",
];
const SELECT_KEYS: &[&str] = &[
    "flag", "nested", "list", "empty", "raw", "nan", "big", "code", "inner", "n", "nope",
];
const SPAN_FIELDS: &[&str] = &["service", "name", "kind", "status", "status_message"];
const PATTERNS: &[&str] = &["'^GET'", "'Charge'", "'[0-9]+'", "'^$'"];

impl<'r> Generator<'r> {
    pub(super) fn new(rng: &'r mut SmallRng) -> Generator<'r> {
        Generator {
            rng,
            scopes: Vec::new(),
        }
    }

    fn pick(&mut self, items: &[&str]) -> String {
        items[self.rng.gen_range(0..items.len())].to_owned()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn var(&mut self, kinds: &[Elem]) -> Option<String> {
        let matching: Vec<String> = self
            .scopes
            .iter()
            .rev()
            .filter(|(_, e)| kinds.contains(e))
            .map(|(name, _)| name.clone())
            .collect();
        if matching.is_empty() {
            None
        } else {
            Some(matching[self.rng.gen_range(0..matching.len())].clone())
        }
    }

    /// Any expression, of a random type.
    fn any(&mut self, depth: u32) -> String {
        match self.rng.gen_range(0..6) {
            0 => self.bool_expr(depth),
            1 => self.num(depth),
            2 => self.string(depth),
            3 => self.optional(depth),
            4 => self.object(depth),
            _ => self.list(depth).0,
        }
    }

    pub(super) fn bool_expr(&mut self, depth: u32) -> String {
        if depth == 0 || self.chance(0.1) {
            return match self.rng.gen_range(0..4) {
                0 => self.pick(&["true", "false"]),
                1 => format!("{}.flag", self.map(0)),
                2 => format!("trace.error_count > {}", self.pick(INTS)),
                _ => self.any(0),
            };
        }
        let d = depth - 1;
        match self.rng.gen_range(0..20) {
            0 | 1 => {
                let op = self.pick(&["<", "<=", ">", ">=", "==", "!="]);
                format!("{} {op} {}", self.num(d), self.num(d))
            }
            2 => format!("{} == {}", self.string(d), self.string(d)),
            3 => format!("{} != {}", self.any(d), self.any(d)),
            4 => format!("({} && {})", self.bool_expr(d), self.bool_expr(d)),
            5 => format!("({} || {})", self.bool_expr(d), self.bool_expr(d)),
            6 => format!("!{}", self.bool_expr(d)),
            7 => format!(
                "({} ? {} : {})",
                self.bool_expr(d),
                self.bool_expr(d),
                self.bool_expr(d)
            ),
            8 => {
                let field = self.pick(&["name", "root", "p95_ms", "attributes", "self_ms", "nope"]);
                format!("has({}.{field})", self.object(d))
            }
            9 => format!("has({}.{})", self.map(d), self.pick(SELECT_KEYS)),
            10 => {
                let method = self.pick(&["startsWith", "endsWith", "contains"]);
                format!("{}.{method}({})", self.string(d), self.string(d))
            }
            11 => format!("{}.matches({})", self.string(d), self.pick(PATTERNS)),
            12 => format!("{} in {}", self.string(d), self.map(d)),
            13 => format!("{} in {}", self.any(d), self.list(d).0),
            14..=16 => self.comprehension(d),
            17 => format!("{}.hasValue()", self.optional(d)),
            18 => format!("{} == optional.of({})", self.optional(d), self.any(d)),
            _ => format!("{} == {}", self.optional(d), self.optional(d)),
        }
    }

    fn comprehension(&mut self, depth: u32) -> String {
        let (range, elem) = self.list(depth);
        let name = if self.chance(0.1) {
            self.pick(&["trace", "spans", "s", "optional"])
        } else {
            format!("v{}", self.scopes.len())
        };
        let macro_name = self.pick(&["exists", "exists", "all", "exists_one"]);
        self.scopes.push((name.clone(), elem));
        let pred = self.bool_expr(depth);
        self.scopes.pop();
        format!("{range}.{macro_name}({name}, {pred})")
    }

    fn num(&mut self, depth: u32) -> String {
        if depth == 0 || self.chance(0.15) {
            return match self.rng.gen_range(0..6) {
                0 => self.pick(INTS),
                1 => self.pick(DOUBLES),
                2 => self.pick(&["0u", "500u", "18446744073709551615u"]),
                3 => format!(
                    "trace.{}",
                    self.pick(&["duration_ms", "span_count", "error_count", "randomness"])
                ),
                4 => match self.var(&[Elem::Value]) {
                    Some(v) => v,
                    None => self.pick(INTS),
                },
                _ => format!("{}.duration_ms", self.object(0)),
            };
        }
        let d = depth - 1;
        match self.rng.gen_range(0..12) {
            0 => format!("size({})", self.sized(d)),
            1 | 2 => {
                let op = self.pick(&["+", "-", "*", "/", "%"]);
                format!("({} {op} {})", self.num(d), self.num(d))
            }
            3 => format!("-{}", self.num(d)),
            4 => format!("{}['http.response.status_code']", self.map(d)),
            5 => format!(
                "{}[?{}].orValue({})",
                self.map(d),
                self.pick(KEYS),
                self.num(d)
            ),
            6 => format!("int({})", self.num(d)),
            7 => format!("double({})", self.num(d)),
            8 => format!(
                "trace.baseline.{}",
                self.pick(&["p50_ms", "p95_ms", "p99_ms", "samples"])
            ),
            9 => format!(
                "({} ? {} : {})",
                self.bool_expr(d),
                self.num(d),
                self.num(d)
            ),
            10 => match self.var(&[Elem::PathSpan]) {
                Some(v) => format!("{v}.self_ms"),
                None => format!(
                    "trace.critical_path[{}].self_ms",
                    self.pick(&["0", "1", "9"])
                ),
            },
            _ => format!(
                "{}.{}",
                self.map(d),
                self.pick(&["big", "nan", "n", "code"])
            ),
        }
    }

    fn sized(&mut self, depth: u32) -> String {
        match self.rng.gen_range(0..4) {
            0 => self.string(depth),
            1 => self.map(depth),
            2 => self.list(depth).0,
            _ => self.any(depth),
        }
    }

    fn string(&mut self, depth: u32) -> String {
        if depth == 0 || self.chance(0.15) {
            return match self.rng.gen_range(0..3) {
                0 => self.pick(STRINGS),
                1 => match self.var(&[Elem::Key]) {
                    Some(v) => v,
                    None => self.pick(STRINGS),
                },
                _ => format!("{}.{}", self.object(0), self.pick(SPAN_FIELDS)),
            };
        }
        let d = depth - 1;
        match self.rng.gen_range(0..7) {
            0 | 1 => format!("{}.{}", self.object(d), self.pick(SPAN_FIELDS)),
            2 => format!("{}[{}]", self.map(d), self.pick(KEYS)),
            3 => format!("{}.orValue({})", self.optional(d), self.pick(STRINGS)),
            4 => format!("{}.value()", self.optional(d)),
            5 => format!(
                "({} ? {} : {})",
                self.bool_expr(d),
                self.string(d),
                self.string(d)
            ),
            _ => format!("{}.nested.inner", self.map(d)),
        }
    }

    fn map(&mut self, depth: u32) -> String {
        if self.chance(0.05) {
            return self.any(depth.saturating_sub(1));
        }
        match self.rng.gen_range(0..6) {
            0 | 1 => {
                let field = self.pick(&["attributes", "attributes", "resource"]);
                format!("{}.{field}", self.object(depth.saturating_sub(1)))
            }
            2 => match self.var(&[Elem::Event]) {
                Some(v) => format!("{v}.attributes"),
                None => "trace.root.attributes".to_owned(),
            },
            3 => "trace.root.attributes".to_owned(),
            4 => format!("{}.nested", self.map(depth.saturating_sub(1))),
            _ => format!("{}['nested']", self.map(depth.saturating_sub(1))),
        }
    }

    fn list(&mut self, depth: u32) -> (String, Elem) {
        let d = depth.saturating_sub(1);
        match self.rng.gen_range(0..9) {
            0 | 1 => ("spans".to_owned(), Elem::Span),
            2 => ("trace.critical_path".to_owned(), Elem::PathSpan),
            3 => (format!("{}.events", self.object(d)), Elem::Event),
            4 => {
                let items: Vec<String> = (0..self.rng.gen_range(0..4))
                    .map(|_| match self.rng.gen_range(0..3) {
                        0 => self.pick(INTS),
                        1 => self.pick(DOUBLES),
                        _ => self.pick(STRINGS),
                    })
                    .collect();
                (format!("[{}]", items.join(", ")), Elem::Value)
            }
            5 => (format!("{}.list", self.map(d)), Elem::Value),
            6 => (self.map(d), Elem::Key),
            7 => (format!("{}['list']", self.map(d)), Elem::Value),
            _ => (self.any(d), Elem::Value),
        }
    }

    fn optional(&mut self, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        match self.rng.gen_range(0..8) {
            0 | 1 => format!("{}[?{}]", self.map(d), self.pick(KEYS)),
            2 => format!("{}.?{}", self.map(d), self.pick(SELECT_KEYS)),
            3 => format!("optional.of({})", self.any(d)),
            4 => "optional.none()".to_owned(),
            5 => format!("{}.or({})", self.optional(d), self.optional(d)),
            6 => format!("{}[?{}]", self.list(d).0, self.pick(&["0", "1", "5", "-1"])),
            _ => format!("{}.?name", self.object(d)),
        }
    }

    fn object(&mut self, depth: u32) -> String {
        if let Some(v) = self.var(&[Elem::Span, Elem::PathSpan, Elem::Event]) {
            if self.chance(0.7) {
                return v;
            }
        }
        match self.rng.gen_range(0..7) {
            0 | 1 => "trace.root".to_owned(),
            2 => format!("spans[{}]", self.pick(&["0", "1", "2u", "1.0", "50"])),
            3 => format!("trace.critical_path[{}]", self.pick(&["0", "1"])),
            4 => "trace".to_owned(),
            5 => "trace.baseline".to_owned(),
            _ if depth > 0 => format!("optional.of({}).value()", self.object(depth - 1)),
            _ => "trace.root".to_owned(),
        }
    }
}
