//! The filter parser: expression text -> `Expr`, by recursive descent over chars, with
//! char offsets and hints in its errors. Evaluation lives in `mod.rs`.

use serde_json::Value;

use super::super::cursor::{Cursor, Escapes};
use super::super::error::ExprError;
use super::super::path::FieldPath;
use super::call::call;
use super::{CmpOp, Expr, Operand};

const MAX_DEPTH: usize = 64;
pub(super) const QUOTE_HINT: &str = "quote string values: status == 'active'";
/// The hint when no value was written at all.
const VALUE_HINT: &str = "write a number, a quoted string, `true`, `false` or `null`";

/// Parses a whole filter expression.
pub(super) fn parse(text: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        cursor: Cursor::new(text),
        depth: 0,
    };
    parser.cursor.skip_ws();
    if parser.cursor.at_end() {
        return Err(ExprError::new("the filter is empty", 0)
            .with_hint("write a condition such as `status == 'active'`"));
    }
    let expr = parser.or()?;
    parser.cursor.skip_ws();
    match parser.cursor.peek() {
        None => Ok(expr),
        Some(c) => Err(parser.trailing(c)),
    }
}

struct Parser {
    cursor: Cursor,
    depth: usize,
}

impl Parser {
    /// The next word, without consuming it.
    fn peek_word(&self) -> Option<String> {
        peek_word(&self.cursor)
    }

    /// Consumes the word if it equals `word` ignoring ASCII case.
    fn eat_word(&mut self, word: &str) -> bool {
        let found = self
            .peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case(word));
        if found {
            self.cursor.pos += word.chars().count();
        }
        found
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                "the filter nests too deeply",
                self.cursor.pos,
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut parts = vec![self.and()?];
        loop {
            self.cursor.skip_ws();
            if !(self.cursor.eat_str("||") || self.eat_word("or")) {
                break;
            }
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut parts = vec![self.unary()?];
        loop {
            self.cursor.skip_ws();
            if !(self.cursor.eat_str("&&") || self.eat_word("and")) {
                break;
            }
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        self.cursor.skip_ws();
        let negated = if self.cursor.peek() == Some('!') && self.cursor.peek_at(1) != Some('=') {
            self.cursor.bump();
            true
        } else {
            self.not_keyword()
        };
        let expr = if negated {
            Expr::Not(Box::new(self.unary()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(expr)
    }

    /// Consumes `NOT` (any case) when it is the operator and not a field named `not`:
    /// that is, when another operand or `(` follows it.
    fn not_keyword(&mut self) -> bool {
        if !self
            .peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case("not"))
        {
            return false;
        }
        let mut after = self.cursor.clone();
        after.pos += 3;
        after.skip_ws();
        let operand_follows = after
            .peek()
            .is_some_and(|c| c == '(' || c == '!' || c == '[' || Cursor::is_ident_start(c))
            && !after.clone().identifier().is_some_and(|w| {
                ["and", "or", "in"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
            });
        if operand_follows {
            self.cursor.pos += 3;
        }
        operand_follows
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        self.cursor.skip_ws();
        let open = self.cursor.pos;
        if self.cursor.eat('(') {
            let inner = self.or()?;
            self.cursor.skip_ws();
            if !self.cursor.eat(')') {
                return Err(ExprError::new("expected `)`", self.cursor.pos)
                    .with_hint(format!("close the `(` at character {}", open + 1)));
            }
            return Ok(inner);
        }
        let operand = self.operand()?;
        self.cursor.skip_ws();
        if let Some((op, written)) = self.comparison_op()? {
            let value = literal(
                &mut self.cursor,
                &format!("expected a value after `{written}`"),
            )?;
            return Ok(Expr::Compare { operand, op, value });
        }
        if self.eat_word("in") {
            let values = self.list()?;
            return Ok(Expr::In { operand, values });
        }
        Ok(Expr::Truthy(operand))
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        let at = self.cursor.pos;
        let mut probe = self.cursor.clone();
        if let Some(name) = probe.identifier() {
            probe.skip_ws();
            if probe.peek() == Some('(') {
                self.cursor = probe;
                return call(&mut self.cursor, &name, at).map(Operand::Call);
            }
            if ["true", "false", "null"].contains(&name.as_str()) {
                return Err(literal_on_left(at));
            }
        }
        match self.cursor.peek() {
            Some(c) if c == '\'' || c == '"' || c == '-' || c.is_ascii_digit() => {
                Err(literal_on_left(at))
            }
            Some(c) if c == '[' || Cursor::is_ident_start(c) => {
                FieldPath::parse_at(&mut self.cursor).map(Operand::Path)
            }
            None => Err(ExprError::new("expected a condition", at)
                .with_hint("write a condition such as `status == 'active'`")),
            Some(c) => Err(
                ExprError::new(format!("expected a field name, found `{c}`"), at)
                    .with_hint("a condition starts with a field, `!`, `(` or a function"),
            ),
        }
    }

    /// The comparison operator at the cursor and its text as written.
    fn comparison_op(&mut self) -> Result<Option<(CmpOp, &'static str)>, ExprError> {
        // `=>` would otherwise read as the old tool's `=` and a stray `>`.
        for (wrong, right) in [("=>", ">="), ("=<", "<=")] {
            if self.cursor.clone().eat_str(wrong) {
                return Err(ExprError::new(
                    format!("`{wrong}` is not an operator"),
                    self.cursor.pos,
                )
                .with_hint(format!("did you mean `{right}`?")));
            }
        }
        let ops = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
            // The old tool accepted a single `=`.
            ("=", CmpOp::Eq),
        ];
        Ok(ops
            .into_iter()
            .find_map(|(text, op)| self.cursor.eat_str(text).then_some((op, text))))
    }

    /// Reads `[v, v, ...]` after `in`.
    fn list(&mut self) -> Result<Vec<Value>, ExprError> {
        self.cursor.skip_ws();
        let open = self.cursor.pos;
        if !self.cursor.eat('[') {
            return Err(ExprError::new("expected `[` after `in`", open)
                .with_hint("list the values: status in ['open', 'review']"));
        }
        let mut values = Vec::new();
        self.cursor.skip_ws();
        if self.cursor.eat(']') {
            return Ok(values);
        }
        loop {
            values.push(literal(&mut self.cursor, "expected a value in the list")?);
            self.cursor.skip_ws();
            if self.cursor.eat(']') {
                return Ok(values);
            }
            if !self.cursor.eat(',') {
                let error = match self.cursor.peek() {
                    None => ExprError::new("unclosed `[`", open),
                    Some(c) => {
                        ExprError::new(format!("expected `,` or `]`, found `{c}`"), self.cursor.pos)
                    }
                };
                return Err(error.with_hint("list the values: status in ['open', 'review']"));
            }
        }
    }

    /// The error for text left over after a complete expression.
    fn trailing(&self, c: char) -> ExprError {
        let at = self.cursor.pos;
        if c == ')' {
            return ExprError::new("unmatched `)`", at);
        }
        let single = |op: &str, with: &str| {
            ExprError::new(format!("unexpected `{op}`"), at).with_hint(format!("use `{with}`"))
        };
        match (c, self.cursor.peek_at(1)) {
            ('&', _) => single("&", "&&"),
            ('|', _) => single("|", "||"),
            _ => {
                let what = self.peek_word().unwrap_or_else(|| c.to_string());
                ExprError::new(format!("unexpected `{what}`"), at).with_hint(
                    "join conditions with `&&` or `||`; quote string values: status == 'active'",
                )
            }
        }
    }
}

/// Reads a literal value: a quoted string, a number, `true`, `false` or `null`;
/// `missing` is the error message when there is none.
pub(super) fn literal(cursor: &mut Cursor, missing: &str) -> Result<Value, ExprError> {
    cursor.skip_ws();
    let at = cursor.pos;
    let word = match cursor.peek() {
        Some('\'' | '"') => return Ok(Value::String(cursor.string_literal(Escapes::Lenient)?)),
        Some(c) if c == '-' || c.is_ascii_digit() => {
            return Ok(Value::Number(cursor.number_literal()?));
        }
        _ => peek_word(cursor),
    };
    let value = match word.as_deref() {
        Some("true") => Value::Bool(true),
        Some("false") => Value::Bool(false),
        Some("null") => Value::Null,
        // A bare word is most likely a string value without its quotes.
        Some(_) => return Err(ExprError::new(missing, at).with_hint(QUOTE_HINT)),
        None => return Err(ExprError::new(missing, at).with_hint(VALUE_HINT)),
    };
    cursor.identifier();
    Ok(value)
}

/// The next word, without consuming it.
fn peek_word(cursor: &Cursor) -> Option<String> {
    cursor.clone().identifier()
}

fn literal_on_left(at: usize) -> ExprError {
    ExprError::new("expected a field name, found a literal", at)
        .with_hint("put the field first: `score > 5`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(expr: &str) -> ExprError {
        match parse(expr) {
            Ok(tree) => panic!("{expr} parsed as {tree:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn builds_a_tree() {
        let tree = parse("a == 1 || !b && c in [true]").unwrap_or_else(|e| panic!("{e}"));
        let path =
            |name: &str| Operand::Path(FieldPath::parse(name).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            tree,
            Expr::Or(vec![
                Expr::Compare {
                    operand: path("a"),
                    op: CmpOp::Eq,
                    value: Value::from(1)
                },
                Expr::And(vec![
                    Expr::Not(Box::new(Expr::Truthy(path("b")))),
                    Expr::In {
                        operand: path("c"),
                        values: vec![Value::Bool(true)]
                    },
                ]),
            ])
        );
    }

    #[test]
    fn a_field_named_not_is_still_a_field() {
        assert!(matches!(parse("not == 1"), Ok(Expr::Compare { .. })));
        assert!(matches!(parse("not"), Ok(Expr::Truthy(_))));
        assert!(matches!(parse("not in [1]"), Ok(Expr::In { .. })));
        assert!(matches!(parse("not x"), Ok(Expr::Not(_))));
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        let cases = [
            ("", "the filter is empty", 0),
            ("   ", "the filter is empty", 0),
            ("status ==", "expected a value after `==`", 9),
            ("status == active", "expected a value after `==`", 10),
            ("status == 'active", "unterminated string", 10),
            (
                "'active' == status",
                "expected a field name, found a literal",
                0,
            ),
            ("5 < score", "expected a field name, found a literal", 0),
            ("true", "expected a field name, found a literal", 0),
            ("a == 1 &&", "expected a condition", 9),
            ("a == 1 & b == 2", "unexpected `&`", 7),
            ("a == 1 | b == 2", "unexpected `|`", 7),
            ("a == 1 b == 2", "unexpected `b`", 7),
            ("(a == 1", "expected `)`", 7),
            ("a == 1)", "unmatched `)`", 6),
            ("== 1", "expected a field name, found `=`", 0),
            ("a.", "expected a field name after `.`", 2),
            ("a in 'x'", "expected `[` after `in`", 5),
            ("a in ['x'", "unclosed `[`", 5),
            ("a in ['x' 'y']", "expected `,` or `]`, found `'`", 10),
            ("a in [x]", "expected a value in the list", 6),
            ("a == 1e999", "number `1e999` is out of range", 5),
            ("score => 5", "`=>` is not an operator", 6),
            ("score =< 5", "`=<` is not an operator", 6),
            ("score = ", "expected a value after `=`", 8),
            ("score >= && ok", "expected a value after `>=`", 9),
        ];
        for (expr, message, offset) in cases {
            let e = error(expr);
            assert_eq!((e.message.as_str(), e.offset), (message, offset), "{expr}");
        }
    }

    #[test]
    fn hints() {
        let hint = |expr: &str| error(expr).hint;
        assert_eq!(hint("status == active").as_deref(), Some(QUOTE_HINT));
        assert_eq!(hint("a == 1 & b").as_deref(), Some("use `&&`"));
        assert_eq!(
            hint("(a == 1").as_deref(),
            Some("close the `(` at character 1")
        );
        assert_eq!(hint("a => 1").as_deref(), Some("did you mean `>=`?"));
        assert_eq!(hint("a >= && b").as_deref(), Some(VALUE_HINT));
        assert_eq!(hint("a >=").as_deref(), Some(VALUE_HINT));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let expr = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(error(&expr).message, "the filter nests too deeply");
        let expr = format!("{}a", "!".repeat(10_000));
        assert_eq!(error(&expr).message, "the filter nests too deeply");
        let expr = format!("{}a", "NOT ".repeat(10_000));
        assert_eq!(error(&expr).message, "the filter nests too deeply");
    }
}
