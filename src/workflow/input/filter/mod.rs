//! The `filter:` stage: the old prodigy filter language, parsed once (errors carry
//! offsets) and evaluated per map item. Parsing lives in `parse.rs`, the built-in
//! functions in `call.rs`.
//!
//! ```text
//! score >= 5 && status == 'active'
//! item.meta.owner != null AND NOT is_null(tags[0])
//! status in ['open', 'review'] || length(tags) > 3
//! contains(name, 'test') OR matches(path, '^src/.*\.rs$')
//! ```
//!
//! Semantics, chosen to match what users of the old tool rely on:
//! - a path resolves against the item; a leading `item.` names the item itself, so
//!   `item.score` and `score` are the same field and `item` alone is a scalar item;
//! - numbers compare numerically (`1 == 1.0`), strings by code point; `<`, `<=`, `>`,
//!   `>=` between anything else are false;
//! - a missing field equals only `null`: `== 'x'` is false, `!= 'x'` is true,
//!   `== null` and `is_null` are true; `!=` is always the negation of `==`;
//! - a bare path or function is a truthiness test: `null`, `false`, `0`, `""`, `[]`,
//!   `{}` and a missing field are false;
//! - `&&`/`AND` bind tighter than `||`/`OR`; `!`/`NOT` tighter than both. The word
//!   operators are read in any case (`and`, `Or`), as the old tool did.

mod call;
mod parse;

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::error::ExprError;
use super::path::FieldPath;
use super::value::{json_equal, number_cmp, truthy};
use call::Call;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    source: String,
    expr: Expr,
}

impl Filter {
    /// Parses a filter expression; see the module docs for the grammar.
    pub fn parse(expr: &str) -> Result<Filter, ExprError> {
        Ok(Filter {
            source: expr.to_string(),
            expr: parse::parse(expr)?,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `item` passes the filter.
    pub fn matches(&self, item: &Value) -> bool {
        self.expr.eval(item)
    }
}

/// A node of the filter syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        operand: Operand,
        op: CmpOp,
        value: Value,
    },
    In {
        operand: Operand,
        values: Vec<Value>,
    },
    Truthy(Operand),
}

/// The left-hand side of a test: a field or a function of a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Path(FieldPath),
    Call(Call),
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

impl Expr {
    fn eval(&self, item: &Value) -> bool {
        match self {
            Expr::Or(parts) => parts.iter().any(|p| p.eval(item)),
            Expr::And(parts) => parts.iter().all(|p| p.eval(item)),
            Expr::Not(inner) => !inner.eval(item),
            Expr::Compare { operand, op, value } => {
                compare(operand.value(item).as_deref(), *op, value)
            }
            Expr::In { operand, values } => {
                let actual = operand.value(item);
                let actual = actual.as_deref().unwrap_or(&Value::Null);
                values.iter().any(|v| json_equal(actual, v))
            }
            Expr::Truthy(operand) => operand.value(item).is_some_and(|v| truthy(&v)),
        }
    }
}

impl Operand {
    /// The operand's value for `item`; `None` for a missing field.
    fn value<'a>(&self, item: &'a Value) -> Option<Cow<'a, Value>> {
        match self {
            Operand::Path(path) => path.resolve_item(item).map(Cow::Borrowed),
            Operand::Call(call) => call.eval(item).map(Cow::Owned),
        }
    }
}

fn ordering(actual: &Value, expected: &Value) -> Option<Ordering> {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => number_cmp(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare(actual: Option<&Value>, op: CmpOp, expected: &Value) -> bool {
    let equal = match actual {
        None => expected.is_null(),
        Some(actual) => json_equal(actual, expected),
    };
    let order = || actual.and_then(|a| ordering(a, expected));
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        CmpOp::Lt => order() == Some(Ordering::Less),
        CmpOp::Le => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order() == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    pub(super) fn item() -> Value {
        json!({
            "id": 7,
            "score": 5.5,
            "status": "active",
            "name": "test_parser",
            "path": "src/workflow/input.rs",
            "tags": ["fast", "core", 3],
            "meta": {"owner": "ann", "reviewers": ["bob"], "empty": {}},
            "nothing": null,
            "flag": false,
            "zero": 0,
            "blank": ""
        })
    }

    pub(super) fn check(expr: &str) -> bool {
        match Filter::parse(expr) {
            Ok(filter) => filter.matches(&item()),
            Err(e) => panic!("{expr}: {e} at {}", e.offset),
        }
    }

    pub(super) fn all_true(exprs: &[&str]) {
        for expr in exprs {
            assert!(check(expr), "expected true: {expr}");
        }
    }

    pub(super) fn all_false(exprs: &[&str]) {
        for expr in exprs {
            assert!(!check(expr), "expected false: {expr}");
        }
    }

    #[test]
    fn comparisons() {
        all_true(&[
            "status == 'active'",
            "status == \"active\"",
            "status != 'done'",
            "score > 5",
            "score >= 5.5",
            "score < 6",
            "score <= 5.5",
            "id == 7.0",
            "status > 'aaa'",
            "status < 'b'",
            "flag == false",
            "nothing == null",
            "score>-1",
            "status = 'active'",
        ]);
        all_false(&[
            "status == 'done'",
            "score > 6",
            "status > 5",
            "score > '1'",
            "id == '7'",
        ]);
    }

    #[test]
    fn nested_paths_and_the_item_prefix() {
        all_true(&[
            "meta.owner == 'ann'",
            "meta.reviewers[0] == 'bob'",
            "tags[-1] == 3",
            "tags.1 == 'core'",
            "item.meta.owner == 'ann'",
            "item.score > 5",
            "meta['owner'] == 'ann'",
        ]);
        all_false(&["meta.reviewers[1] == 'bob'", "meta.owner.name == 'ann'"]);
    }

    #[test]
    fn scalar_items_are_reached_as_item() {
        let filter =
            Filter::parse("item == 'b' || matches(item, '^c')").unwrap_or_else(|e| panic!("{e}"));
        let kept: Vec<&str> = ["a", "b", "cat"]
            .into_iter()
            .filter(|s| filter.matches(&json!(s)))
            .collect();
        assert_eq!(kept, vec!["b", "cat"]);
    }

    #[test]
    fn missing_fields() {
        all_true(&[
            "missing != 'x'",
            "missing == null",
            "is_null(missing)",
            "!missing",
            "is_empty(missing)",
        ]);
        all_false(&[
            "missing == 'x'",
            "missing > 1",
            "missing < 1",
            "missing != null",
            "is_not_null(missing)",
            "missing",
            "missing in ['x']",
            "contains(missing, 'x')",
            "length(missing) >= 0",
        ]);
        assert!(check("missing in [null, 'x']"));
    }

    #[test]
    fn boolean_logic_and_precedence() {
        all_true(&[
            "status == 'active' && score > 5",
            "status == 'done' || score > 5",
            "status == 'active' AND score > 5",
            "status == 'done' OR score > 5",
            "status == 'done' or score > 5 and id == 7",
            "!(status == 'done')",
            "NOT status == 'done'",
            "not (status == 'done')",
            "!!flag == false",
            "(status == 'done' || id == 7) && score > 5",
            "status == 'active' || id == 1 && score > 100",
        ]);
        all_false(&[
            "(status == 'active' || id == 1) && score > 100",
            "status == 'done' && score > 5",
            "!status",
            "NOT(id == 7)",
        ]);
    }

    #[test]
    fn truthiness_of_bare_paths() {
        all_true(&[
            "status",
            "score",
            "tags",
            "meta",
            "!flag",
            "!zero",
            "!blank",
            "!nothing",
            "!meta.empty",
        ]);
    }

    #[test]
    fn in_lists() {
        all_true(&[
            "status in ['open', 'active']",
            "status IN [\"active\"]",
            "id in [1, 7]",
            "score in [5.5]",
            "!(status in [])",
        ]);
        all_false(&["status in ['open', 'done']", "id in ['7']"]);
    }

    #[test]
    fn keeps_the_source_text() {
        let filter = Filter::parse(" score > 1 ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(filter.as_str(), " score > 1 ");
    }

    proptest! {
        #[test]
        fn never_panics(expr in ".{0,60}") {
            if let Ok(filter) = Filter::parse(&expr) {
                let _ = filter.matches(&item());
            }
        }

        #[test]
        fn never_panics_on_filter_like_text(
            expr in "[a-z_.()\\[\\]'\"0-9 =!<>&|,-]{0,40}|(AND|OR|NOT|in|is_null|contains|length|matches| |x|'a'|[(),])*",
        ) {
            if let Ok(filter) = Filter::parse(&expr) {
                let _ = filter.matches(&item());
            }
        }
    }
}
