//! The pattern parser: pattern text -> `Node` tree, with char offsets in its errors.
//! Its neighbour `mod.rs` compiles the tree and runs it.

use super::super::cursor::Cursor;
use super::super::error::ExprError;

const MAX_REPEAT: u32 = 1_000;
const MAX_DEPTH: usize = 64;

/// One member of a character class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

impl ClassItem {
    fn matches(&self, c: char) -> bool {
        match self {
            ClassItem::Range(lo, hi) => (*lo..=*hi).contains(&c),
            ClassItem::Digit(negated) => c.is_ascii_digit() != *negated,
            ClassItem::Word(negated) => (c.is_alphanumeric() || c == '_') != *negated,
            ClassItem::Space(negated) => c.is_whitespace() != *negated,
        }
    }
}

/// A character class such as `[a-z_]` or `[^0-9]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Class {
    pub(super) negated: bool,
    pub(super) items: Vec<ClassItem>,
}

impl Class {
    pub(super) fn matches(&self, c: char) -> bool {
        self.items.iter().any(|item| item.matches(c)) != self.negated
    }

    fn single(item: ClassItem) -> Class {
        Class {
            negated: false,
            items: vec![item],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// A recursive-descent parser over the pattern text.
pub(super) struct Parser {
    cursor: Cursor,
    depth: usize,
}

impl Parser {
    pub(super) fn new(pattern: &str) -> Self {
        Parser {
            cursor: Cursor::new(pattern),
            depth: 0,
        }
    }

    /// Parses the whole pattern.
    pub(super) fn parse(mut self) -> Result<Node, ExprError> {
        let node = self.alternation()?;
        if let Some(c) = self.cursor.peek() {
            // Only an unmatched `)` stops the top-level alternation early.
            return Err(ExprError::new(format!("unmatched `{c}`"), self.cursor.pos)
                .with_hint(format!("escape it as `\\{c}` to match it literally")));
        }
        Ok(node)
    }

    fn alternation(&mut self) -> Result<Node, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new("pattern nests too deeply", self.cursor.pos));
        }
        let mut branches = vec![self.concat()?];
        while self.cursor.eat('|') {
            branches.push(self.concat()?);
        }
        self.depth -= 1;
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Concat(Vec::new()))
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, ExprError> {
        let mut nodes = Vec::new();
        while let Some(c) = self.cursor.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            nodes.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(nodes))
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let at = self.cursor.pos;
        match self.cursor.bump() {
            Some('(') => {
                if self.cursor.eat('?') && !self.cursor.eat(':') {
                    return Err(ExprError::new("unsupported group syntax `(?`", at)
                        .with_hint("only plain `( )` and `(?: )` groups are supported"));
                }
                let inner = self.alternation()?;
                if !self.cursor.eat(')') {
                    return Err(ExprError::new("unclosed group `(`", at));
                }
                Ok(inner)
            }
            Some('[') => self.class(at),
            Some('.') => Ok(Node::Any),
            Some('^') => Ok(Node::Start),
            Some('$') => Ok(Node::End),
            Some('\\') => Ok(match self.escape(at)? {
                Escaped::Char(c) => Node::Char(c),
                Escaped::Class(item) => Node::Class(Class::single(item)),
            }),
            Some(c @ ('*' | '+' | '?')) => {
                Err(ExprError::new(format!("`{c}` has nothing to repeat"), at)
                    .with_hint(format!("escape it as `\\{c}` to match it literally")))
            }
            Some(c) => Ok(Node::Char(c)),
            None => Err(ExprError::new("unexpected end of pattern", at)),
        }
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, ExprError> {
        let at = self.cursor.pos;
        let (min, max) = match self.cursor.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => match self.counted()? {
                Some(bounds) => bounds,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        if self.cursor.pos == at {
            self.cursor.bump();
        }
        self.cursor.eat('?');
        if matches!(self.cursor.peek(), Some('*' | '+')) {
            return Err(
                ExprError::new("a repetition cannot be repeated", self.cursor.pos)
                    .with_hint("wrap it in a group: `(a+)*`"),
            );
        }
        if matches!(atom, Node::Start | Node::End) {
            return Err(ExprError::new("an anchor cannot be repeated", at));
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    /// Reads `{n}`, `{n,}` or `{n,m}`; `None` (nothing consumed) when the brace does not
    /// start a repetition, in which case it is a literal.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, ExprError> {
        let start = self.cursor.pos;
        self.cursor.bump();
        let Some(min) = self.count() else {
            self.cursor.pos = start;
            return Ok(None);
        };
        let max = if self.cursor.eat(',') {
            self.count()
        } else {
            Some(min)
        };
        if !self.cursor.eat('}') {
            self.cursor.pos = start;
            return Ok(None);
        }
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
            return Err(ExprError::new(
                format!("repetition count is larger than {MAX_REPEAT}"),
                start,
            ));
        }
        if max.is_some_and(|m| m < min) {
            return Err(ExprError::new("repetition `{n,m}` has m < n", start));
        }
        Ok(Some((min, max)))
    }

    fn count(&mut self) -> Option<u32> {
        let start = self.cursor.pos;
        while self.cursor.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.cursor.bump();
        }
        let digits = self.cursor.text(start, self.cursor.pos);
        // Saturate so that a huge count reaches the "larger than" error.
        (!digits.is_empty()).then(|| digits.parse().unwrap_or(u32::MAX))
    }

    fn class(&mut self, open: usize) -> Result<Node, ExprError> {
        let negated = self.cursor.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let at = self.cursor.pos;
            let lo = match self.cursor.bump() {
                None => {
                    return Err(ExprError::new("unclosed character class `[`", open)
                        .with_hint("close it with `]`"));
                }
                Some(']') if !first => break,
                Some('\\') => self.escape(at)?,
                Some(c) => Escaped::Char(c),
            };
            first = false;
            let is_range =
                self.cursor.peek() == Some('-') && self.cursor.peek_at(1).is_some_and(|c| c != ']');
            match lo {
                Escaped::Char(lo) if is_range => {
                    self.cursor.bump();
                    let hi_at = self.cursor.pos;
                    let hi = match self.cursor.bump() {
                        Some('\\') => self.escape(hi_at)?,
                        Some(c) => Escaped::Char(c),
                        None => Escaped::Char(lo),
                    };
                    let Escaped::Char(hi) = hi else {
                        return Err(ExprError::new("a range cannot end in a class", hi_at));
                    };
                    if hi < lo {
                        return Err(ExprError::new(format!("invalid range `{lo}-{hi}`"), at));
                    }
                    items.push(ClassItem::Range(lo, hi));
                }
                Escaped::Char(c) => items.push(ClassItem::Range(c, c)),
                Escaped::Class(item) => items.push(item),
            }
        }
        Ok(Node::Class(Class { negated, items }))
    }

    /// Reads the char after a backslash at `at`.
    fn escape(&mut self, at: usize) -> Result<Escaped, ExprError> {
        let c = self
            .cursor
            .bump()
            .ok_or_else(|| ExprError::new("pattern ends with a lone `\\`", at))?;
        Ok(match c {
            'd' | 'D' => Escaped::Class(ClassItem::Digit(c == 'D')),
            'w' | 'W' => Escaped::Class(ClassItem::Word(c == 'W')),
            's' | 'S' => Escaped::Class(ClassItem::Space(c == 'S')),
            'n' => Escaped::Char('\n'),
            't' => Escaped::Char('\t'),
            'r' => Escaped::Char('\r'),
            c if c.is_ascii_punctuation() || c == ' ' => Escaped::Char(c),
            c => {
                return Err(ExprError::new(format!("unsupported escape `\\{c}`"), at)
                    .with_hint("supported escapes: \\d \\w \\s \\D \\W \\S \\n \\t \\r and escaped punctuation"));
            }
        })
    }
}

enum Escaped {
    Char(char),
    Class(ClassItem),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(pattern: &str) -> ExprError {
        match Parser::new(pattern).parse() {
            Ok(node) => panic!("{pattern} parsed as {node:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_a_tree() {
        let node = Parser::new("a|b*")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            node,
            Node::Alt(vec![
                Node::Concat(vec![Node::Char('a')]),
                Node::Concat(vec![Node::Repeat {
                    node: Box::new(Node::Char('b')),
                    min: 0,
                    max: None,
                }]),
            ])
        );
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        let cases = [
            ("ab)", "unmatched `)`", 2),
            ("(ab", "unclosed group `(`", 0),
            ("x[ab", "unclosed character class `[`", 1),
            ("*a", "`*` has nothing to repeat", 0),
            ("a|+", "`+` has nothing to repeat", 2),
            ("a**", "a repetition cannot be repeated", 2),
            ("^*", "an anchor cannot be repeated", 1),
            ("[z-a]", "invalid range `z-a`", 1),
            ("[a-\\d]", "a range cannot end in a class", 3),
            ("ab\\", "pattern ends with a lone `\\`", 2),
            ("\\bword", "unsupported escape `\\b`", 0),
            ("(?i)a", "unsupported group syntax `(?`", 0),
            ("a{5,2}", "repetition `{n,m}` has m < n", 1),
            ("a{1001}", "repetition count is larger than 1000", 1),
            ("a{99999999999}", "repetition count is larger than 1000", 1),
        ];
        for (pattern, message, offset) in cases {
            let e = error(pattern);
            assert_eq!(
                (e.message.as_str(), e.offset),
                (message, offset),
                "{pattern}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let pattern = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(error(&pattern).message, "pattern nests too deeply");
    }

    #[test]
    fn hints_for_literal_metacharacters() {
        assert_eq!(
            error("a)").hint.as_deref(),
            Some("escape it as `\\)` to match it literally")
        );
        assert!(error("\\q").hint.is_some());
    }
}
