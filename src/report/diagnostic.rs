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
    let mut out = format!("{level}: {}\n", diag.message);
    match diag.span {
        Some(span) => {
            let _ = writeln!(out, "  --> {file}:{}:{}", span.line, span.column);
            if let Some(line) = source.lines().nth(span.line.saturating_sub(1) as usize) {
                let number = span.line.to_string();
                let pad = " ".repeat(number.len());
                let line = line.trim_end();
                let col = span.column.saturating_sub(1) as usize;
                let indent: String = line
                    .chars()
                    .take(col)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let room = line.chars().count().saturating_sub(col).max(1);
                let carets = "^".repeat(diag.width.clamp(1, room));
                let _ = writeln!(out, " {pad} |");
                let _ = writeln!(out, " {number} | {line}");
                let _ = writeln!(out, " {pad} | {indent}{carets}");
            }
        }
        None => {
            let _ = writeln!(out, "  --> {file}");
        }
    }
    if let Some(hint) = &diag.hint {
        let _ = writeln!(out, "   = hint: {hint}");
    }
    out
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
