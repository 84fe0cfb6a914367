//! Renders [`Diagnostic`]s for people (`file:line:col`, a source line and a caret) and
//! for machines (JSON).

use std::fmt::Write as _;

use crate::workflow::diagnostic::{Diagnostic, Severity};

/// Renders one diagnostic in the compiler style:
///
/// ```text
/// error: unknown key `shel` in a step
///   --> flow.yml:3:5
///    |
///  3 |   - shel: make
///    |     ^^^^
///    = hint: did you mean `shell`?
/// ```
pub fn render(diag: &Diagnostic, file: &str, source: &str) -> String {
    let level = match diag.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    // Messages and hints quote the file's text (keys, values), so they are escaped too.
    let mut out = format!("{level}: {}\n", escaped(&diag.message));
    match diag.caret_span(source) {
        Some(span) => {
            let _ = writeln!(out, "  --> {file}:{}:{}", span.line, span.column);
            if let Some(line) = source.lines().nth(span.line.saturating_sub(1) as usize) {
                let number = span.line.to_string();
                let pad = " ".repeat(number.len());
                let col = span.column.saturating_sub(1) as usize;
                let (shown, caret) = snippet(line.trim_end(), col, diag.width);
                let _ = writeln!(out, " {pad} |");
                let _ = writeln!(out, " {number} | {shown}");
                let _ = writeln!(out, " {pad} | {caret}");
            }
        }
        None => {
            let _ = writeln!(out, "  --> {file}");
        }
    }
    if let Some(hint) = &diag.hint {
        let _ = writeln!(out, "   = hint: {}", escaped(hint));
    }
    out
}

/// The most characters of a source line that a snippet shows.
const SNIPPET_CHARS: usize = 120;

/// How many of those come before the caret when the line is cut.
const SNIPPET_BEFORE: usize = 40;

/// The source line as shown (at most [`SNIPPET_CHARS`] characters around the caret,
/// `…` where cut, control characters escaped) and the caret line under it, with the
/// caret under the character at `col` (0-based) and `width` characters underlined.
fn snippet(line: &str, col: usize, width: usize) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let col = col.min(chars.len());
    let (start, end) = if chars.len() <= SNIPPET_CHARS {
        (0, chars.len())
    } else {
        let end = (col.saturating_sub(SNIPPET_BEFORE) + SNIPPET_CHARS).min(chars.len());
        (end - SNIPPET_CHARS, end)
    };
    let mut shown = String::new();
    let mut caret = String::new();
    if start > 0 {
        shown.push('…');
        caret.push(' ');
    }
    let underline_end = col + width.max(1);
    let mut carets = 0;
    for (i, &c) in chars.iter().enumerate().take(end).skip(start) {
        let text = visible(c);
        let columns = text.chars().count();
        shown.push_str(&text);
        if i < col {
            // A tab stays a tab so that the caret lines up however wide tabs are.
            if c == '\t' {
                caret.push('\t');
            } else {
                caret.extend(std::iter::repeat_n(' ', columns));
            }
        } else if i < underline_end {
            carets += columns;
        }
    }
    if end < chars.len() {
        shown.push('…');
    }
    caret.push_str(&"^".repeat(carets.max(1)));
    (shown, caret)
}

/// `text` with every character as it is safe to print.
fn escaped(text: &str) -> String {
    text.chars().map(visible).collect()
}

/// A character as it is safe to print: control characters (a NUL, an escape that
/// would restyle the terminal, a carriage return) and bidi overrides as `\u{..}`.
fn visible(c: char) -> std::borrow::Cow<'static, str> {
    let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if (c.is_control() && c != '\t') || bidi {
        format!("\\u{{{:x}}}", u32::from(c)).into()
    } else {
        String::from(c).into()
    }
}

/// One line per file for `validate --format json`: `{file, valid, diagnostics}`.
pub fn to_json(file: &str, diags: &[Diagnostic]) -> serde_json::Value {
    serde_json::json!({
        "file": file,
        "valid": !diags.iter().any(Diagnostic::is_error),
        "errors": diags.iter().filter(|d| d.is_error()).count(),
        "warnings": diags.iter().filter(|d| !d.is_error()).count(),
        "diagnostics": diags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::yaml::Span;

    #[test]
    fn renders_caret_under_the_key() {
        let source = "commands:\n  - shel: make\n";
        let diag = Diagnostic::error(
            "unknown-key",
            Some(Span { line: 2, column: 5 }),
            "unknown key `shel` in a step",
        )
        .with_width(4)
        .with_hint("did you mean `shell`?");
        let text = render(&diag, "flow.yml", source);
        assert_eq!(
            text,
            "error: unknown key `shel` in a step\n  --> flow.yml:2:5\n   |\n 2 |   - shel: make\n   |     ^^^^\n   = hint: did you mean `shell`?\n"
        );
    }

    fn caret_at(line: &str, col: usize, width: usize) -> (String, String) {
        snippet(line, col, width)
    }

    #[test]
    fn short_lines_are_shown_whole() {
        let (shown, caret) = caret_at("  - shel: make", 4, 4);
        assert_eq!(shown, "  - shel: make");
        assert_eq!(caret, "    ^^^^");
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}X{}", "a".repeat(5000), "b".repeat(5000));
        let (shown, caret) = caret_at(&line, 5000, 1);
        assert_eq!(shown.chars().count(), SNIPPET_CHARS + 2, "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        let at = caret.find('^').unwrap_or(0);
        assert_eq!(shown.chars().nth(at), Some('X'));
        // Near the start: cut only at the end; a caret past the end stays on the line.
        let (shown, _) = caret_at(&line, 3, 1);
        assert!(!shown.starts_with('…') && shown.ends_with('…'));
        let (shown, caret) = caret_at(&line, line.len() + 10, 1);
        assert!(shown.starts_with('…') && !shown.ends_with('…'));
        assert_eq!(caret.chars().count(), SNIPPET_CHARS + 2);
    }

    #[test]
    fn underlines_stop_at_the_window() {
        let line = "x".repeat(1000);
        let (shown, caret) = caret_at(&line, 0, 1000);
        assert_eq!(caret, "^".repeat(SNIPPET_CHARS));
        assert_eq!(shown.chars().count(), SNIPPET_CHARS + 1);
    }

    #[test]
    fn control_characters_are_escaped_and_the_caret_follows() {
        let (shown, caret) = caret_at("a\0b\x1b[31mc\u{202e}d", 4, 1);
        assert_eq!(shown, "a\\u{0}b\\u{1b}[31mc\\u{202e}d");
        assert_eq!(&shown[caret.len() - 1..caret.len()], "[");
        let (shown, caret) = caret_at("\tkey: \0", 6, 1);
        assert_eq!(shown, "\tkey: \\u{0}");
        assert_eq!(caret, "\t     ^^^^^");
    }

    #[test]
    fn messages_and_hints_are_escaped_too() {
        let diag =
            Diagnostic::error("unknown-key", None, "unknown key `a\x1b[31m`").with_hint("not `\0`");
        let text = render(&diag, "f.yml", "");
        assert_eq!(
            text,
            "error: unknown key `a\\u{1b}[31m`\n  --> f.yml\n   = hint: not `\\u{0}`\n"
        );
    }

    #[test]
    fn inner_offsets_move_the_caret_and_the_column() {
        let source = "filter: \"score >= && ok\"\n";
        let diag = Diagnostic::error("bad-expression", Some(Span { line: 1, column: 9 }), "m")
            .with_inner_offset(9);
        let text = render(&diag, "f.yml", source);
        assert!(text.contains("--> f.yml:1:19\n"), "{text}");
        assert!(text.contains("\n   |                   ^\n"), "{text}");
    }

    #[test]
    fn json_counts_errors_and_warnings() {
        let diags = [
            Diagnostic::error("x", None, "bad"),
            Diagnostic::warning("y", Some(Span { line: 1, column: 2 }), "meh"),
        ];
        let json = to_json("f.yml", &diags);
        assert_eq!(json["valid"], false);
        assert_eq!(json["errors"], 1);
        assert_eq!(json["diagnostics"][1]["line"], 1);
        assert_eq!(json["diagnostics"][1]["severity"], "warning");
    }
}
