//! JSONPath filter selectors `[?...]`: parsing into `LogicalExpr` (as more methods of
//! the shared `Parser`) and evaluation against the current node `@` and the root `$`.
//!
//! Grammar (RFC 9535 without function extensions): `||`, `&&`, `!`, parentheses,
//! comparisons `== != < <= > >=` between literals and *singular* queries (`@.a.b`,
//! `$.x[0]`), and existence tests (`@.tag`, `!@.tag`). As in the RFC, a query that
//! selects nothing equals only another such query; `<` and friends compare only two
//! numbers or two strings.

use std::cmp::Ordering;

use serde_json::Value;

use super::super::cursor::Escapes;
use super::super::error::ExprError;
use super::super::value::{json_equal, number_cmp};
use super::parse::Parser;
use super::{Segment, Selector, apply_segments};

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LogicalExpr {
    Or(Vec<LogicalExpr>),
    And(Vec<LogicalExpr>),
    Not(Box<LogicalExpr>),
    Exists(Query),
    Compare {
        left: Comparable,
        op: CmpOp,
        right: Comparable,
    },
}

/// A query inside a filter: relative to `@` or absolute from `$`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    absolute: bool,
    segments: Vec<Segment>,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Comparable {
    Literal(Value),
    Query(Query),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Query {
    fn select<'a>(&self, current: &'a Value, root: &'a Value) -> Vec<&'a Value> {
        let start = if self.absolute { root } else { current };
        apply_segments(&self.segments, vec![start], root)
    }

    fn is_singular(&self) -> bool {
        self.segments.iter().all(|s| {
            !s.descendant
                && matches!(
                    s.selectors.as_slice(),
                    [Selector::Name(_) | Selector::Index(_)]
                )
        })
    }
}

/// Whether the filter holds for `current`.
pub(crate) fn eval_filter(expr: &LogicalExpr, current: &Value, root: &Value) -> bool {
    match expr {
        LogicalExpr::Or(parts) => parts.iter().any(|p| eval_filter(p, current, root)),
        LogicalExpr::And(parts) => parts.iter().all(|p| eval_filter(p, current, root)),
        LogicalExpr::Not(inner) => !eval_filter(inner, current, root),
        LogicalExpr::Exists(query) => !query.select(current, root).is_empty(),
        LogicalExpr::Compare { left, op, right } => {
            let left = comparable_value(left, current, root);
            let right = comparable_value(right, current, root);
            compare(left, *op, right)
        }
    }
}

fn comparable_value<'a>(
    c: &'a Comparable,
    current: &'a Value,
    root: &'a Value,
) -> Option<&'a Value> {
    match c {
        Comparable::Literal(value) => Some(value),
        Comparable::Query(query) => match query.select(current, root).as_slice() {
            [one] => Some(*one),
            _ => None,
        },
    }
}

fn less(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            number_cmp(x, y) == Some(Ordering::Less)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x < y,
        _ => false,
    }
}

fn equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => json_equal(x, y),
        _ => false,
    }
}

fn compare(a: Option<&Value>, op: CmpOp, b: Option<&Value>) -> bool {
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => less(a, b),
        CmpOp::Le => less(a, b) || equal(a, b),
        CmpOp::Gt => less(b, a),
        CmpOp::Ge => less(b, a) || equal(a, b),
    }
}

impl Parser {
    /// `or := and ('||' and)*`, the entry point after `?`.
    pub(super) fn logical_or(&mut self) -> Result<LogicalExpr, ExprError> {
        self.enter()?;
        let mut parts = vec![self.logical_and()?];
        loop {
            self.cursor.skip_ws();
            if !self.cursor.eat_str("||") {
                break;
            }
            parts.push(self.logical_and()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            LogicalExpr::Or(parts)
        })
    }

    fn logical_and(&mut self) -> Result<LogicalExpr, ExprError> {
        let mut parts = vec![self.basic()?];
        loop {
            self.cursor.skip_ws();
            if !self.cursor.eat_str("&&") {
                break;
            }
            parts.push(self.basic()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            LogicalExpr::And(parts)
        })
    }

    fn basic(&mut self) -> Result<LogicalExpr, ExprError> {
        self.cursor.skip_ws();
        if self.cursor.peek() == Some('!') && self.cursor.peek_at(1) != Some('=') {
            self.cursor.bump();
            self.cursor.skip_ws();
            let inner = self.negatable()?;
            return Ok(LogicalExpr::Not(Box::new(inner)));
        }
        if self.cursor.eat('(') {
            return self.parenthesized();
        }
        let at = self.cursor.pos;
        let left = self.comparable()?;
        self.cursor.skip_ws();
        let Some(op) = self.comparison_op()? else {
            return match left {
                Comparable::Query(query) => Ok(LogicalExpr::Exists(query)),
                Comparable::Literal(_) => Err(ExprError::new(
                    "expected a comparison after the literal",
                    self.cursor.pos,
                )
                .with_hint("compare it with a path, e.g. `@.status == 'active'`")),
            };
        };
        self.check_singular(&left, at)?;
        self.cursor.skip_ws();
        let right_at = self.cursor.pos;
        if self.cursor.at_end() || self.cursor.peek() == Some(']') {
            return Err(ExprError::new(
                format!("expected a value after `{}`", op_text(op)),
                right_at,
            ));
        }
        let right = self.comparable()?;
        self.check_singular(&right, right_at)?;
        Ok(LogicalExpr::Compare { left, op, right })
    }

    fn negatable(&mut self) -> Result<LogicalExpr, ExprError> {
        if self.cursor.eat('(') {
            return self.parenthesized();
        }
        let at = self.cursor.pos;
        let Comparable::Query(query) = self.comparable()? else {
            return Err(
                ExprError::new("`!` applies to a path or a test in parentheses", at)
                    .with_hint("write `!@.flag` or `!(@.a == 1)`"),
            );
        };
        self.cursor.skip_ws();
        if self.comparison_op()?.is_some() {
            return Err(ExprError::new("`!` cannot apply to a bare comparison", at)
                .with_hint("wrap the comparison in parentheses: `!(@.a == 1)`"));
        }
        Ok(LogicalExpr::Exists(query))
    }

    fn parenthesized(&mut self) -> Result<LogicalExpr, ExprError> {
        let open = self.cursor.pos.saturating_sub(1);
        let inner = self.logical_or()?;
        self.cursor.skip_ws();
        if !self.cursor.eat(')') {
            return Err(ExprError::new("expected `)`", self.cursor.pos)
                .with_hint(format!("close the `(` at character {}", open + 1)));
        }
        Ok(inner)
    }

    fn check_singular(&self, c: &Comparable, at: usize) -> Result<(), ExprError> {
        match c {
            Comparable::Query(q) if !q.is_singular() => Err(ExprError::new(
                "a comparison needs a single value, but this path can select many",
                at,
            )
            .with_hint("compare one element such as `@.tags[0]`, or test membership with `@.tags[?@ == 'x']`")),
            _ => Ok(()),
        }
    }

    fn comparison_op(&mut self) -> Result<Option<CmpOp>, ExprError> {
        let ops = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ];
        for (text, op) in ops {
            if self.cursor.eat_str(text) {
                return Ok(Some(op));
            }
        }
        if self.cursor.peek() == Some('=') {
            return Err(ExprError::new("`=` is not a comparison", self.cursor.pos)
                .with_hint("use `==` to compare"));
        }
        Ok(None)
    }

    fn comparable(&mut self) -> Result<Comparable, ExprError> {
        let at = self.cursor.pos;
        match self.cursor.peek() {
            Some(c @ ('@' | '$')) => {
                self.cursor.bump();
                let segments = self.segments()?;
                Ok(Comparable::Query(Query {
                    absolute: c == '$',
                    segments,
                }))
            }
            Some('\'' | '"') => Ok(Comparable::Literal(Value::String(
                self.cursor.string_literal(Escapes::Json)?,
            ))),
            Some(c) if c == '-' || c.is_ascii_digit() => Ok(Comparable::Literal(Value::Number(
                self.cursor.number_literal()?,
            ))),
            _ => {
                let word = self.cursor.identifier();
                match word.as_deref() {
                    Some("true") => Ok(Comparable::Literal(Value::Bool(true))),
                    Some("false") => Ok(Comparable::Literal(Value::Bool(false))),
                    Some("null") => Ok(Comparable::Literal(Value::Null)),
                    Some(name) => Err(ExprError::new(format!("unknown name `{name}`"), at)
                        .with_hint(format!(
                            "refer to a field of the current item as `@.{name}`, or quote a string: '{name}'"
                        ))),
                    None => Err(ExprError::new("expected `@`, `$` or a literal", at)
                        .with_hint("for example `[?@.score > 5]`")),
                }
            }
        }
    }
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

#[cfg(test)]
mod tests {
    use super::super::JsonPath;
    use super::*;
    use serde_json::json;

    fn items() -> Value {
        json!([
            {"id": 1, "status": "active", "score": 7, "tags": ["a", "b"], "meta": {"owner": "ann"}},
            {"id": 2, "status": "done", "score": 3.5, "tags": [], "meta": {"owner": "bob"}},
            {"id": 3, "status": "active", "score": null, "flag": true},
            {"id": 4, "score": "9"}
        ])
    }

    fn ids(filter: &str) -> Vec<i64> {
        let path =
            JsonPath::parse(&format!("$[?{filter}]")).unwrap_or_else(|e| panic!("{filter}: {e}"));
        path.select(&items())
            .iter()
            .filter_map(|v| v["id"].as_i64())
            .collect()
    }

    fn error(filter: &str) -> ExprError {
        match JsonPath::parse(&format!("$[?{filter}]")) {
            Ok(p) => panic!("{filter} parsed: {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn comparisons() {
        assert_eq!(ids("@.status == 'active'"), vec![1, 3]);
        assert_eq!(ids("@.status != 'active'"), vec![2, 4]);
        assert_eq!(ids("@.score > 5"), vec![1]);
        assert_eq!(ids("@.score >= 3.5"), vec![1, 2]);
        assert_eq!(ids("@.score < 7"), vec![2]);
        assert_eq!(ids("@.score <= 7"), vec![1, 2]);
        assert_eq!(ids("@.score == null"), vec![3]);
        assert_eq!(ids("@.meta.owner == \"bob\""), vec![2]);
        assert_eq!(ids("@.tags[0] == 'a'"), vec![1]);
        assert_eq!(ids("@.id == 1.0"), vec![1]);
        assert_eq!(ids("'active' == @.status"), vec![1, 3]);
        assert_eq!(ids("@.flag == true"), vec![3]);
    }

    #[test]
    fn missing_values_follow_the_rfc() {
        // Nothing equals only Nothing, so a missing field is `!=` any value.
        assert_eq!(ids("@.nope == @.missing"), vec![1, 2, 3, 4]);
        assert_eq!(ids("@.flag != true"), vec![1, 2, 4]);
        assert_eq!(ids("@.score > '1'"), vec![4]);
    }

    #[test]
    fn logic_and_existence() {
        assert_eq!(ids("@.status == 'active' && @.score > 1"), vec![1]);
        assert_eq!(ids("@.id == 2 || @.id == 4"), vec![2, 4]);
        assert_eq!(ids("@.flag"), vec![3]);
        assert_eq!(ids("!@.flag"), vec![1, 2, 4]);
        assert_eq!(ids("!(@.id < 3)"), vec![3, 4]);
        assert_eq!(ids("(@.id == 1 || @.id == 2) && @.score > 4"), vec![1]);
        assert_eq!(ids("@.id == 1 || @.id == 2 && @.score > 4"), vec![1]);
        assert_eq!(ids("@.tags[?@ == 'b']"), vec![1]);
        assert_eq!(ids("(@.score > 5)"), vec![1]);
    }

    #[test]
    fn absolute_queries_read_the_root() {
        let doc = json!({"limit": 2, "items": [{"n": 1}, {"n": 2}, {"n": 3}]});
        let path = JsonPath::parse("$.items[?@.n <= $.limit].n").unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<&Value> = path.select(&doc);
        assert_eq!(got, vec![&json!(1), &json!(2)]);
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        // Offsets count from the start of `$[?`.
        let cases = [
            ("status == 'x'", "unknown name `status`", 3),
            ("@.a = 1", "`=` is not a comparison", 7),
            ("@.a ==", "expected a value after `==`", 9),
            ("@.a == ", "expected a value after `==`", 10),
            ("1", "expected a comparison after the literal", 4),
            ("!1", "`!` applies to a path or a test in parentheses", 4),
            ("!@.a == 1", "`!` cannot apply to a bare comparison", 4),
            ("(@.a", "expected `)`", 7),
            (
                "@.tags[*] == 'a'",
                "a comparison needs a single value, but this path can select many",
                3,
            ),
            (
                "@.a == $..b",
                "a comparison needs a single value, but this path can select many",
                10,
            ),
            ("", "expected `@`, `$` or a literal", 3),
        ];
        for (filter, message, offset) in cases {
            let e = error(filter);
            assert_eq!(
                (e.message.as_str(), e.offset),
                (message, offset),
                "{filter}"
            );
        }
    }

    #[test]
    fn hints() {
        assert_eq!(
            error("status == 'x'").hint.as_deref(),
            Some("refer to a field of the current item as `@.status`, or quote a string: 'status'")
        );
        assert_eq!(
            error("@.a = 1").hint.as_deref(),
            Some("use `==` to compare")
        );
        assert_eq!(
            error("!@.a == 1").hint.as_deref(),
            Some("wrap the comparison in parentheses: `!(@.a == 1)`")
        );
    }
}
