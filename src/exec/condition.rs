//! Evaluating `when:` conditions and conditional env values, after interpolation:
//! `true`, `false`, `${x} == 'main'`, `${n} > 3 && ${ok}`, `!(a == b)`.
//!
//! Operands are quoted strings, numbers or bare words; numbers compare numerically.
//! A lone operand is true unless it is empty, `false`, `0`, `no` or `null`.

/// Why a condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate condition `{text}`: {message}")]
pub struct ConditionError {
    /// The condition after interpolation.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// Evaluates a condition.
pub fn evaluate(text: &str) -> Result<bool, ConditionError> {
    if text.trim().is_empty() {
        return Ok(false);
    }
    let tokens = tokenize(text).map_err(|message| ConditionError {
        text: text.into(),
        message,
    })?;
    let mut parser = Parser { tokens, pos: 0 };
    let value = parser.or().map_err(|message| ConditionError {
        text: text.into(),
        message,
    })?;
    if parser.pos != parser.tokens.len() {
        return Err(ConditionError {
            text: text.into(),
            message: "unexpected text after the condition".into(),
        });
    }
    Ok(value)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    const OPS: [&str; 12] = [
        "&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "=",
    ];
    let mut tokens = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(if *op == "=" { "==" } else { op }));
            rest = rest[op.len()..].trim_start();
        } else if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let end = rest[1..].find(quote).ok_or("unterminated quote")?;
            tokens.push(Token::Quoted(rest[1..=end].to_string()));
            rest = rest[end + 2..].trim_start();
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || "&|=!<>()".contains(c))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(format!(
                    "unexpected `{}`; use `&&`, `||` or `==`",
                    &rest[..rest.chars().next().map_or(0, char::len_utf8)]
                ));
            }
            let word = &rest[..end];
            let upper = word.to_ascii_uppercase();
            tokens.push(match upper.as_str() {
                "AND" => Token::Op("&&"),
                "OR" => Token::Op("||"),
                "NOT" => Token::Op("!"),
                _ => Token::Word(word.to_string()),
            });
            rest = rest[end..].trim_start();
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &'static str) -> bool {
        if self.peek() == Some(&Token::Op(op)) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut value = self.and()?;
        while self.eat("||") {
            let rhs = self.and()?;
            value = value || rhs;
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut value = self.not()?;
        while self.eat("&&") {
            let rhs = self.not()?;
            value = value && rhs;
        }
        Ok(value)
    }

    fn not(&mut self) -> Result<bool, String> {
        if self.eat("!") {
            return Ok(!self.not()?);
        }
        if self.eat("(") {
            let value = self.or()?;
            if !self.eat(")") {
                return Err("missing `)`".into());
            }
            return Ok(value);
        }
        self.comparison()
    }

    fn operand(&mut self) -> Result<String, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => {
                self.pos += 1;
                Ok(w)
            }
            Some(Token::Op(op)) => Err(format!("expected a value, found `{op}`")),
            None => Err("expected a value".into()),
        }
    }

    fn comparison(&mut self) -> Result<bool, String> {
        let left = self.operand()?;
        let Some(Token::Op(op)) = self.peek().cloned() else {
            return Ok(truthy(&left));
        };
        if !matches!(op, "==" | "!=" | "<" | "<=" | ">" | ">=") {
            return Ok(truthy(&left));
        }
        self.pos += 1;
        let right = self.operand()?;
        let ordering = match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(left.cmp(&right)),
        };
        let Some(ordering) = ordering else {
            return Ok(false);
        };
        Ok(match op {
            "==" => ordering.is_eq(),
            "!=" => !ordering.is_eq(),
            "<" => ordering.is_lt(),
            "<=" => ordering.is_le(),
            ">" => ordering.is_gt(),
            _ => ordering.is_ge(),
        })
    }
}

fn truthy(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "false" | "0" | "no" | "null" | "off"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_truthiness() {
        for (text, want) in [
            ("true", true),
            ("false", false),
            ("", false),
            ("0", false),
            ("yes", true),
            ("'x'", true),
        ] {
            assert_eq!(evaluate(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn comparisons() {
        assert!(evaluate("main == 'main'").unwrap());
        assert!(evaluate("'a b' != 'a'").unwrap());
        assert!(evaluate("10 > 9").unwrap(), "numeric, not lexicographic");
        assert!(evaluate("3 <= 3.0").unwrap());
        assert!(!evaluate("b < a").unwrap());
    }

    #[test]
    fn boolean_operators_and_grouping() {
        assert!(evaluate("true && !false").unwrap());
        assert!(evaluate("false || (1 == 1 && 2 > 1)").unwrap());
        assert!(evaluate("NOT false AND true").unwrap());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(evaluate("'open").unwrap_err().message.contains("quote"));
        assert!(evaluate("(true").unwrap_err().message.contains(")"));
        assert!(evaluate("a ==").is_err());
        assert!(evaluate("a & b").unwrap_err().message.contains("`&`"));
        assert!(evaluate("a | b").is_err());
    }
}
