//! The JSONPath parser for segments and selectors; `filter.rs` adds the methods that
//! read `[?...]` expressions to the same `Parser`.

use super::super::cursor::{Cursor, Escapes};
use super::super::error::ExprError;
use super::{Segment, Selector};

/// Deepest nesting of parentheses and filters a path may have.
const MAX_DEPTH: usize = 64;
/// Largest integer RFC 9535 allows in an index or slice (I-JSON range).
const MAX_INT: i64 = (1 << 53) - 1;

/// The recursive-descent parser shared with `jsonpath_filter.rs`.
pub(super) struct Parser {
    pub(super) cursor: Cursor,
    pub(super) depth: usize,
}

impl Parser {
    pub(super) fn new(text: &str) -> Self {
        Parser {
            cursor: Cursor::new(text),
            depth: 0,
        }
    }

    /// Enters one level of nesting, failing past `MAX_DEPTH`.
    pub(super) fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                "expression nests too deeply",
                self.cursor.pos,
            ));
        }
        Ok(())
    }

    /// Reads segments until the text stops looking like one.
    pub(super) fn segments(&mut self) -> Result<Vec<Segment>, ExprError> {
        let mut segments = Vec::new();
        loop {
            let before = self.cursor.pos;
            self.cursor.skip_ws();
            let segment = if self.cursor.eat_str("..") {
                self.dotted(true)?
            } else if self.cursor.eat('.') {
                self.dotted(false)?
            } else if self.cursor.peek() == Some('[') {
                self.bracketed(false)?
            } else {
                self.cursor.pos = before;
                return Ok(segments);
            };
            segments.push(segment);
        }
    }

    fn dotted(&mut self, descendant: bool) -> Result<Segment, ExprError> {
        if descendant && self.cursor.peek() == Some('[') {
            return self.bracketed(true);
        }
        let at = self.cursor.pos;
        let selector = if self.cursor.eat('*') {
            Selector::Wildcard
        } else if let Some(name) = self.cursor.identifier() {
            Selector::Name(name)
        } else {
            let dots = if descendant { ".." } else { "." };
            let mut error = ExprError::new(format!("expected a name or `*` after `{dots}`"), at);
            if self.cursor.peek().is_some_and(|c| c.is_ascii_digit()) {
                error = error.with_hint("write an array index as `[0]`");
            } else {
                error = error.with_hint("write other names in brackets: `['my key']`");
            }
            return Err(error);
        };
        Ok(Segment {
            descendant,
            selectors: vec![selector],
        })
    }

    fn bracketed(&mut self, descendant: bool) -> Result<Segment, ExprError> {
        let open = self.cursor.pos;
        self.cursor.bump();
        let mut selectors = Vec::new();
        loop {
            self.cursor.skip_ws();
            selectors.push(self.selector()?);
            self.cursor.skip_ws();
            if self.cursor.eat(']') {
                return Ok(Segment {
                    descendant,
                    selectors,
                });
            }
            if !self.cursor.eat(',') {
                let error = match self.cursor.peek() {
                    None => ExprError::new("unclosed `[`", open),
                    Some(c) => {
                        ExprError::new(format!("expected `,` or `]`, found `{c}`"), self.cursor.pos)
                    }
                };
                return Err(error.with_hint("close the selector with `]`"));
            }
        }
    }

    fn selector(&mut self) -> Result<Selector, ExprError> {
        match self.cursor.peek() {
            Some('\'' | '"') => Ok(Selector::Name(self.cursor.string_literal(Escapes::Json)?)),
            Some('*') => {
                self.cursor.bump();
                Ok(Selector::Wildcard)
            }
            Some('?') => {
                self.cursor.bump();
                Ok(Selector::Filter(Box::new(self.logical_or()?)))
            }
            Some(c) if c == '-' || c == ':' || c.is_ascii_digit() => self.index_or_slice(),
            found => {
                let message = match found {
                    None | Some(']') => "expected a selector".to_string(),
                    Some(c) => format!("expected a selector, found `{c}`"),
                };
                Err(ExprError::new(message, self.cursor.pos)
                    .with_hint("write `[0]`, `['name']`, `[*]`, `[1:3]` or `[?@.x == 1]`"))
            }
        }
    }

    fn index_or_slice(&mut self) -> Result<Selector, ExprError> {
        let start = self.optional_int()?;
        self.cursor.skip_ws();
        if !self.cursor.eat(':') {
            return start
                .map(Selector::Index)
                .ok_or_else(|| ExprError::new("expected an index", self.cursor.pos));
        }
        self.cursor.skip_ws();
        let end = self.optional_int()?;
        self.cursor.skip_ws();
        let step = if self.cursor.eat(':') {
            self.cursor.skip_ws();
            self.optional_int()?
        } else {
            None
        };
        Ok(Selector::Slice { start, end, step })
    }

    fn optional_int(&mut self) -> Result<Option<i64>, ExprError> {
        let start = self.cursor.pos;
        self.cursor.eat('-');
        let digits_at = self.cursor.pos;
        while self.cursor.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.cursor.bump();
        }
        if self.cursor.pos == digits_at {
            if self.cursor.pos > start {
                return Err(ExprError::new("expected digits after `-`", self.cursor.pos));
            }
            return Ok(None);
        }
        let text = self.cursor.text(start, self.cursor.pos);
        match text.parse::<i64>() {
            Ok(n) if (-MAX_INT..=MAX_INT).contains(&n) => Ok(Some(n)),
            _ => Err(ExprError::new(
                format!("index `{text}` is out of range"),
                start,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::JsonPath;
    use super::*;

    fn error(path: &str) -> ExprError {
        match JsonPath::parse(path) {
            Ok(p) => panic!("{path} parsed: {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_segments() {
        let path = JsonPath::parse("$..a[1:2, 'b', *]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            path.segments,
            vec![
                Segment {
                    descendant: true,
                    selectors: vec![Selector::Name("a".into())]
                },
                Segment {
                    descendant: false,
                    selectors: vec![
                        Selector::Slice {
                            start: Some(1),
                            end: Some(2),
                            step: None
                        },
                        Selector::Name("b".into()),
                        Selector::Wildcard,
                    ],
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        let cases = [
            ("", "a JSONPath starts with `$`", 0),
            ("#a", "a JSONPath starts with `$`", 0),
            ("$.", "expected a name or `*` after `.`", 2),
            ("$.0", "expected a name or `*` after `.`", 2),
            ("$..", "expected a name or `*` after `..`", 3),
            ("$[", "expected a selector", 2),
            ("$[]", "expected a selector", 2),
            ("$[0", "unclosed `[`", 1),
            ("$[0 1]", "expected `,` or `]`, found `1`", 4),
            ("$[a]", "expected a selector, found `a`", 2),
            ("$['a]", "unterminated string", 2),
            ("$[-]", "expected digits after `-`", 3),
            (
                "$[99999999999999999]",
                "index `99999999999999999` is out of range",
                2,
            ),
            ("$.a b", "unexpected `b`", 4),
            ("$[1.5]", "expected `,` or `]`, found `.`", 3),
        ];
        for (path, message, offset) in cases {
            let e = error(path);
            assert_eq!((e.message.as_str(), e.offset), (message, offset), "{path}");
        }
    }

    #[test]
    fn hints() {
        assert_eq!(
            error("$.0").hint.as_deref(),
            Some("write an array index as `[0]`")
        );
        assert_eq!(
            error("$.a-b.").hint.as_deref(),
            Some("write other names in brackets: `['my key']`")
        );
        assert!(error("$[x]").hint.is_some());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let path = format!("$[?{}@.a{}]", "(".repeat(5_000), ")".repeat(5_000));
        assert_eq!(error(&path).message, "expression nests too deeply");
        let nested = format!("$[{}]", "?@[".repeat(5_000));
        assert_eq!(error(&nested).message, "expression nests too deeply");
    }
}
