//! Reading the text of a map `input:` (a file's content or a command's stdout) into a
//! JSON document for the pipeline in `mod.rs`.
//!
//! The format is detected, not declared:
//! - text that starts with `[` or `{` is one JSON document, or, when that fails to parse
//!   but its first line is JSON on its own, JSON Lines (one document per line);
//! - other text is JSON Lines when every non-blank line parses as JSON (`"a"`, `42`),
//!   and plain lines otherwise: each non-blank line is one string item, kept as written
//!   except for its line ending (`\n` or `\r\n`).
//!
//! JSON Lines and plain lines become a JSON array. Blank lines are skipped; a UTF-8 byte
//! order mark is ignored; empty input is an empty array.

use serde_json::Value;

/// Input text that looks like JSON but is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemsError {
    /// The input starts like a JSON document but does not parse.
    #[error("input is not valid JSON (line {line}, column {column}): {message}")]
    Json {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the JSON parser reported.
        message: String,
    },
    /// A line of JSON Lines input does not parse; the lines before it did.
    #[error("line {line} of the JSON Lines input is not valid JSON (column {column}): {message}")]
    JsonLine {
        /// 1-based line of the input.
        line: usize,
        /// 1-based column within that line.
        column: usize,
        /// What the JSON parser reported.
        message: String,
    },
}

/// Parses input text into one JSON document: the document itself for JSON, an array
/// for JSON Lines and plain lines (see the module docs for the detection rules).
pub fn parse_root(text: &str) -> Result<Value, ItemsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    if text.trim_start().starts_with(['[', '{']) {
        return match serde_json::from_str(text) {
            Ok(value) => Ok(value),
            Err(_) if lines.len() > 1 && parses(lines[0].1) => json_lines(&lines),
            Err(e) => Err(ItemsError::Json {
                line: e.line(),
                column: e.column(),
                message: bare_message(&e),
            }),
        };
    }
    if lines.iter().all(|(_, line)| parses(line)) {
        return json_lines(&lines);
    }
    Ok(Value::Array(
        lines
            .into_iter()
            .map(|(_, line)| Value::String(line.to_string()))
            .collect(),
    ))
}

/// Parses input text into items: the elements of a top-level array, or the document
/// itself as the only item.
pub fn parse_items(text: &str) -> Result<Vec<Value>, ItemsError> {
    Ok(match parse_root(text)? {
        Value::Array(items) => items,
        other => vec![other],
    })
}

fn parses(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok()
}

fn json_lines(lines: &[(usize, &str)]) -> Result<Value, ItemsError> {
    lines
        .iter()
        .map(|(number, line)| {
            serde_json::from_str(line).map_err(|e| ItemsError::JsonLine {
                line: *number,
                column: e.column(),
                message: bare_message(&e),
            })
        })
        .collect::<Result<Vec<Value>, _>>()
        .map(Value::Array)
}

/// The parser's message without the " at line L column C" it appends.
fn bare_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn root(text: &str) -> Value {
        parse_root(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn json_documents() {
        assert_eq!(root("[1, {\"a\": 2}]"), json!([1, {"a": 2}]));
        assert_eq!(root("{\"items\": [1]}"), json!({"items": [1]}));
        assert_eq!(root("\n  [\n  1,\n  2\n]\n"), json!([1, 2]));
        assert_eq!(root("\u{feff}[1]"), json!([1]));
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            root("{\"a\": 1}\n{\"a\": 2}\n"),
            json!([{"a": 1}, {"a": 2}])
        );
        assert_eq!(
            root("{\"a\": 1}\r\n\r\n{\"a\": 2}\r\n"),
            json!([{"a": 1}, {"a": 2}])
        );
        assert_eq!(root("[1]\n[2]"), json!([[1], [2]]));
        assert_eq!(root("\"a b\"\n\"c\""), json!(["a b", "c"]));
        assert_eq!(root("1\n2\n3"), json!([1, 2, 3]));
    }

    #[test]
    fn plain_lines() {
        assert_eq!(
            root("src/a.rs\nsrc/b.rs\n"),
            json!(["src/a.rs", "src/b.rs"])
        );
        assert_eq!(
            root("  indented \r\n\n   \nlast"),
            json!(["  indented ", "last"])
        );
        assert_eq!(root("1\n2\nthree"), json!(["1", "2", "three"]));
        assert_eq!(root("hello"), json!(["hello"]));
    }

    #[test]
    fn empty_input_is_no_items() {
        assert_eq!(root(""), json!([]));
        assert_eq!(root(" \n\r\n\t"), json!([]));
    }

    #[test]
    fn a_broken_document_reports_line_and_column() {
        let error = parse_root("[\n  1,\n  2,,\n]").unwrap_err();
        match error {
            ItemsError::Json {
                line,
                column,
                ref message,
            } => {
                assert_eq!((line, column), (3, 5));
                assert!(!message.contains("at line"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            error
                .to_string()
                .starts_with("input is not valid JSON (line 3, column 5): ")
        );
        assert!(matches!(
            parse_root("{\"a\": 1"),
            Err(ItemsError::Json { line: 1, .. })
        ));
    }

    #[test]
    fn a_broken_json_line_reports_its_line() {
        let error = parse_root("{\"a\": 1}\n\n{\"a\": }\n{\"a\": 3}").unwrap_err();
        assert_eq!(
            error,
            ItemsError::JsonLine {
                line: 3,
                column: 7,
                message: "expected value".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "line 3 of the JSON Lines input is not valid JSON (column 7): expected value"
        );
    }

    #[test]
    fn items_unwrap_a_top_level_array() {
        assert_eq!(parse_items("[1, 2]"), Ok(vec![json!(1), json!(2)]));
        assert_eq!(parse_items("{\"a\": 1}"), Ok(vec![json!({"a": 1})]));
        assert_eq!(parse_items("a\nb"), Ok(vec![json!("a"), json!("b")]));
        assert_eq!(parse_items(""), Ok(vec![]));
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,80}") {
            let _ = parse_root(&text);
        }

        #[test]
        fn never_panics_on_json_like_text(text in "[\\[\\]{}\"a:,0-9 \n\r]{0,60}") {
            let _ = parse_items(&text);
        }

        #[test]
        fn plain_words_round_trip(words in proptest::collection::vec("[a-z/._]{1,10}", 0..10)) {
            let text = words.join("\n");
            let expected: Vec<Value> = words
                .iter()
                .map(|w| serde_json::from_str(w).unwrap_or_else(|_| Value::String(w.clone())))
                .collect();
            let all_json = words.iter().all(|w| parses(w));
            let got = parse_items(&text).unwrap_or_else(|e| panic!("{e}"));
            if all_json {
                prop_assert_eq!(got, expected);
            } else {
                prop_assert_eq!(got, words.into_iter().map(Value::String).collect::<Vec<_>>());
            }
        }
    }
}
