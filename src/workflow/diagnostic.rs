//! Problems found in a workflow file: data, rendered by `report::diagnostic`.

use serde::Serialize;

use super::yaml::Span;

/// How bad a problem is: errors stop the workflow, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot run.
    Error,
    /// The workflow runs, but something is ignored or suspicious.
    Warning,
}

/// One problem, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case code, e.g. `unknown-key`, for scripts and tests.
    pub code: &'static str,
    /// What is wrong, lowercase, with names in backticks.
    pub message: String,
    /// Where in the file, when known.
    #[serde(flatten)]
    pub span: Option<Span>,
    /// How many characters to underline at `span` (at least 1).
    #[serde(skip)]
    pub width: usize,
    /// The problem is this many characters into the value written at `span` (an
    /// expression's own position, e.g. the `&&` of `filter: "a >= && b"`). See
    /// [`Diagnostic::caret_span`].
    #[serde(skip)]
    pub inner_offset: Option<usize>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            width: 1,
            inner_offset: None,
            hint: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets how many characters the caret line underlines.
    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    /// Points at character `offset` (counted from 0) of the value written at `span`.
    pub fn with_inner_offset(mut self, offset: usize) -> Self {
        self.inner_offset = Some(offset);
        self
    }

    /// Where the caret goes in `source`: `span`, moved onto the `inner_offset`th
    /// character of the value, past its opening quote and any escapes before it. A
    /// block scalar (`|`, `>`) starts on a later line, so its span stays put.
    pub fn caret_span(&self, source: &str) -> Option<Span> {
        let (Some(span), Some(offset)) = (self.span, self.inner_offset) else {
            return self.span;
        };
        let start = span.column.saturating_sub(1) as usize;
        let skipped = source
            .lines()
            .nth(span.line.saturating_sub(1) as usize)
            .and_then(|line| source_chars_before(line.chars().skip(start), offset));
        let Some(skipped) = skipped else {
            return self.span;
        };
        let column = start + skipped + 1;
        Some(Span {
            column: u32::try_from(column).unwrap_or(u32::MAX),
            ..span
        })
    }

    /// Folds `inner_offset` into `span` (see [`Diagnostic::caret_span`]), so that every
    /// report, JSON included, shows the column of the character meant.
    pub fn resolve_inner_offset(&mut self, source: &str) {
        if self.inner_offset.is_some() {
            if let Some(span) = self.caret_span(source) {
                self.span = Some(span);
            }
            self.inner_offset = None;
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// How many source characters of a scalar written as `written` (from its first
/// character to the end of the line) come before its value's character `offset`.
/// `None` for block scalars, whose value is on the next lines.
fn source_chars_before(written: impl Iterator<Item = char>, offset: usize) -> Option<usize> {
    let mut chars = written.peekable();
    let quote = match chars.peek() {
        Some('|' | '>') => return None,
        Some(&q @ ('"' | '\'')) => Some(q),
        _ => None,
    };
    let mut used = 0;
    if quote.is_some() {
        chars.next();
        used += 1;
    }
    for _ in 0..offset {
        let Some(c) = chars.next() else { break };
        used += 1;
        // One value character written as several: `\"`, `\u00e9` in double quotes,
        // `''` in single quotes.
        let extra = match (quote, c) {
            (Some('"'), '\\') => match chars.peek() {
                Some('x') => 3,
                Some('u') => 5,
                Some('U') => 9,
                _ => 1,
            },
            (Some('\''), '\'') => 1,
            _ => 0,
        };
        for _ in 0..extra {
            if chars.next().is_some() {
                used += 1;
            }
        }
    }
    Some(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caret_column(source: &str, column: u32, offset: usize) -> u32 {
        Diagnostic::error("x", Some(Span { line: 1, column }), "m")
            .with_inner_offset(offset)
            .caret_span(source)
            .map_or(0, |s| s.column)
    }

    #[test]
    fn the_caret_moves_past_the_opening_quote() {
        let line = "filter: \"score >= && ok\"";
        assert_eq!(caret_column(line, 9, 9), 19);
        assert_eq!(caret_column("filter: 'a >= && b'", 9, 5), 15);
        assert_eq!(caret_column("filter: a >= && b", 9, 5), 14);
    }

    #[test]
    fn escapes_count_as_one_character_of_the_value() {
        // The value is `a == "x" &&`; its `&&` is at character 9.
        let line = r#"filter: "a == \"x\" &&""#;
        assert_eq!(caret_column(line, 9, 9), 21);
        assert_eq!(caret_column("filter: 'it''s &&'", 9, 5), 16);
        assert_eq!(caret_column(r#"f: "\u00e9 &&""#, 4, 2), 12);
    }

    #[test]
    fn past_the_end_stops_at_the_line_end_and_block_scalars_stay() {
        assert_eq!(caret_column("f: \"ab\"", 4, 2), 7);
        assert_eq!(caret_column("f: \"ab\"", 4, 50), 8);
        assert_eq!(caret_column("f: |", 4, 3), 4);
    }

    #[test]
    fn resolving_moves_the_span_once() {
        let mut diag =
            Diagnostic::error("x", Some(Span { line: 1, column: 4 }), "m").with_inner_offset(1);
        diag.resolve_inner_offset("f: \"ab\"");
        assert_eq!(
            (diag.span.map(|s| s.column), diag.inner_offset),
            (Some(6), None)
        );
        diag.resolve_inner_offset("f: \"ab\"");
        assert_eq!(diag.span.map(|s| s.column), Some(6));
    }
}
