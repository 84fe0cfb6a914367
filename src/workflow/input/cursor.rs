//! A char cursor over expression text, shared by the JSONPath, filter, field-path and
//! sort parsers, with the literal scanners they have in common (quoted strings, numbers,
//! identifiers). Positions are char offsets, which is what `ExprError::offset` reports.

use serde_json::Number;

use super::error::ExprError;

/// How backslash escapes inside a quoted string are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// RFC 9535 / JSON escapes; any other escape is an error.
    Json,
    /// Quotes, backslash, `\n`, `\t`, `\r` are escapes; any other backslash is kept as
    /// written, so regex patterns such as `'\d+\.rs$'` need no doubling.
    Lenient,
}

/// A position in a list of chars.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    chars: Vec<char>,
    pub(crate) pos: usize,
}

impl Cursor {
    pub(crate) fn new(text: &str) -> Self {
        Cursor {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consumes `text` if the input continues with it.
    pub(crate) fn eat_str(&mut self, text: &str) -> bool {
        let found = text
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c));
        if found {
            self.pos += text.chars().count();
        }
        found
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The text between two positions.
    pub(crate) fn text(&self, start: usize, end: usize) -> String {
        self.chars
            .get(start..end.min(self.chars.len()))
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// Whether `c` may start a field name.
    pub(crate) fn is_ident_start(c: char) -> bool {
        c.is_alphabetic() || c == '_' || !c.is_ascii()
    }

    /// Whether `c` may continue a field name (letters, digits, `_`, `-`).
    pub(crate) fn is_ident_continue(c: char) -> bool {
        Self::is_ident_start(c) || c.is_ascii_digit() || c == '-'
    }

    /// Reads a field name if one starts here.
    pub(crate) fn identifier(&mut self) -> Option<String> {
        if !self.peek().is_some_and(Self::is_ident_start) {
            return None;
        }
        let start = self.pos;
        while self.peek().is_some_and(Self::is_ident_continue) {
            self.pos += 1;
        }
        Some(self.text(start, self.pos))
    }

    /// Reads a string in `'` or `"` quotes; the cursor must be on the opening quote.
    pub(crate) fn string_literal(&mut self, escapes: Escapes) -> Result<String, ExprError> {
        let start = self.pos;
        let quote = self
            .bump()
            .ok_or_else(|| ExprError::new("expected a quoted string", start))?;
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => {
                    return Err(ExprError::new("unterminated string", start)
                        .with_hint(format!("close the string with `{quote}`")));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => self.escape(escapes, at, &mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, escapes: Escapes, at: usize, out: &mut String) -> Result<(), ExprError> {
        let c = self
            .bump()
            .ok_or_else(|| ExprError::new("unterminated escape at the end", at))?;
        let simple = match c {
            '\\' | '\'' | '"' => Some(c),
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            _ => None,
        };
        match (simple, escapes, c) {
            (Some(s), _, _) => out.push(s),
            (None, Escapes::Lenient, _) => {
                out.push('\\');
                out.push(c);
            }
            (None, Escapes::Json, '/') => out.push('/'),
            (None, Escapes::Json, 'b') => out.push('\u{8}'),
            (None, Escapes::Json, 'f') => out.push('\u{c}'),
            (None, Escapes::Json, 'u') => out.push(self.unicode_escape(at)?),
            (None, Escapes::Json, _) => {
                return Err(ExprError::new(format!("unknown escape `\\{c}`"), at)
                    .with_hint("write a backslash as `\\\\`"));
            }
        }
        Ok(())
    }

    fn hex4(&mut self, at: usize) -> Result<u32, ExprError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| ExprError::new("expected 4 hex digits after `\\u`", at))?;
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn unicode_escape(&mut self, at: usize) -> Result<char, ExprError> {
        let high = self.hex4(at)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.eat_str("\\u") {
                return Err(ExprError::new("unpaired surrogate in `\\u` escape", at));
            }
            let low = self.hex4(at)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(ExprError::new("unpaired surrogate in `\\u` escape", at));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| ExprError::new("unpaired surrogate in `\\u` escape", at))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Reads `-?digits(.digits)?([eE][+-]?digits)?`; integers stay integers.
    pub(crate) fn number_literal(&mut self) -> Result<Number, ExprError> {
        let start = self.pos;
        self.eat('-');
        if self.digits() == 0 {
            return Err(ExprError::new("expected digits", self.pos));
        }
        let mut integral = true;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.digits();
            integral = false;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let mark = self.pos;
            self.pos += 1;
            if !self.eat('+') {
                self.eat('-');
            }
            if self.digits() == 0 {
                return Err(ExprError::new("expected digits in the exponent", mark));
            }
            integral = false;
        }
        let text = self.text(start, self.pos);
        if integral {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Number::from(i));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Number::from(u));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or_else(|| ExprError::new(format!("number `{text}` is out of range"), start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str, escapes: Escapes) -> Result<String, ExprError> {
        Cursor::new(text).string_literal(escapes)
    }

    #[test]
    fn reads_strings_in_either_quote() {
        assert_eq!(string("'a b'", Escapes::Json), Ok("a b".into()));
        assert_eq!(string(r#""it's""#, Escapes::Json), Ok("it's".into()));
        assert_eq!(string(r"'it\'s'", Escapes::Json), Ok("it's".into()));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(
            string(r#""\n\t\/\u00e9\ud83d\ude00""#, Escapes::Json),
            Ok("\n\t/é😀".into())
        );
        let error = string(r"'\d'", Escapes::Json).unwrap_err();
        assert_eq!(error.message, "unknown escape `\\d`");
        assert_eq!(error.offset, 1);
        assert!(string(r"'\ud83d'", Escapes::Json).is_err());
        assert!(string(r"'\u12'", Escapes::Json).is_err());
    }

    #[test]
    fn lenient_escapes_keep_regex_backslashes() {
        assert_eq!(
            string(r"'\d+\.rs'", Escapes::Lenient),
            Ok(r"\d+\.rs".into())
        );
        assert_eq!(string(r"'a\\b\''", Escapes::Lenient), Ok(r"a\b'".into()));
    }

    #[test]
    fn unterminated_string_points_at_the_opening_quote() {
        let mut cursor = Cursor::new("x == 'abc");
        cursor.pos = 5;
        let error = cursor.string_literal(Escapes::Lenient).unwrap_err();
        assert_eq!(error.message, "unterminated string");
        assert_eq!(error.offset, 5);
        assert_eq!(error.hint.as_deref(), Some("close the string with `'`"));
    }

    #[test]
    fn numbers() {
        let number = |t: &str| Cursor::new(t).number_literal();
        assert_eq!(number("42"), Ok(Number::from(42)));
        assert_eq!(number("-7"), Ok(Number::from(-7)));
        assert_eq!(number("18446744073709551615"), Ok(Number::from(u64::MAX)));
        assert_eq!(number("2.5").map(|n| n.as_f64()), Ok(Some(2.5)));
        assert_eq!(number("1e3").map(|n| n.as_f64()), Ok(Some(1000.0)));
        assert!(number("-").is_err());
        assert!(number("1e").is_err());
        assert!(number("1e999").is_err());
    }

    #[test]
    fn a_dot_without_digits_is_not_part_of_the_number() {
        let mut cursor = Cursor::new("1.a");
        assert_eq!(cursor.number_literal(), Ok(Number::from(1)));
        assert_eq!(cursor.pos, 1);
    }

    #[test]
    fn identifiers() {
        let mut cursor = Cursor::new("file-name_2.x");
        assert_eq!(cursor.identifier().as_deref(), Some("file-name_2"));
        assert_eq!(cursor.peek(), Some('.'));
        assert_eq!(Cursor::new("2x").identifier(), None);
    }

    #[test]
    fn text_is_clamped() {
        let cursor = Cursor::new("abc");
        assert_eq!(cursor.text(1, 99), "bc");
        assert_eq!(cursor.text(5, 9), "");
    }
}
