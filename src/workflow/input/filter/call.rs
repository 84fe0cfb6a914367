//! The filter's built-in functions: `is_null(f)`, `contains(f, 'x')`, `length(f)`,
//! `matches(f, 're')`... Parsing of a call (after its name) and evaluation.
//!
//! `contains` finds a substring of a string, an element of an array or a key of an
//! object; `length` counts the chars of a string, the elements of an array or the
//! members of an object; `starts_with`, `ends_with` and `matches` apply to strings
//! only; `is_empty` is true for a missing field, `null`, `""`, `[]` and `{}`. The old
//! tool's `length(f, n)` means `length(f) == n`.

use serde_json::Value;

use super::super::cursor::Cursor;
use super::super::error::ExprError;
use super::super::path::FieldPath;
use super::super::pattern::Pattern;
use super::super::value::json_equal;
use super::parse::literal;

/// The built-in functions, for error messages and did-you-mean suggestions.
const FUNCTIONS: [&str; 13] = [
    "is_null",
    "is_not_null",
    "is_empty",
    "is_number",
    "is_string",
    "is_bool",
    "is_array",
    "is_object",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "length",
];

/// A built-in function applied to a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    IsNull(FieldPath),
    IsNotNull(FieldPath),
    IsEmpty(FieldPath),
    IsType(FieldPath, JsonType),
    Contains(FieldPath, Value),
    StartsWith(FieldPath, String),
    EndsWith(FieldPath, String),
    Matches(FieldPath, Box<Pattern>),
    Length(FieldPath),
    /// The old tool's `length(field, n)`, meaning `length(field) == n`.
    LengthEquals(FieldPath, Value),
}

/// The JSON type tested by `is_number` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonType {
    Number,
    String,
    Bool,
    Array,
    Object,
}

impl Call {
    pub(super) fn eval(&self, item: &Value) -> Option<Value> {
        let get = |path: &FieldPath| path.resolve_item(item);
        let text = |path: &FieldPath| get(path).and_then(Value::as_str);
        let result = match self {
            Call::IsNull(path) => get(path).is_none_or(Value::is_null),
            Call::IsNotNull(path) => get(path).is_some_and(|v| !v.is_null()),
            Call::IsEmpty(path) => get(path).is_none_or(|v| match v {
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                other => other.is_null(),
            }),
            Call::IsType(path, ty) => get(path).is_some_and(|v| is_type(v, *ty)),
            Call::Contains(path, needle) => get(path).is_some_and(|v| contains(v, needle)),
            Call::StartsWith(path, prefix) => {
                text(path).is_some_and(|s| s.starts_with(prefix.as_str()))
            }
            Call::EndsWith(path, suffix) => {
                text(path).is_some_and(|s| s.ends_with(suffix.as_str()))
            }
            Call::Matches(path, pattern) => text(path).is_some_and(|s| pattern.is_match(s)),
            Call::Length(path) => return get(path).and_then(length).map(Value::from),
            Call::LengthEquals(path, n) => get(path)
                .and_then(length)
                .is_some_and(|len| json_equal(&Value::from(len), n)),
        };
        Some(Value::Bool(result))
    }
}

fn is_type(value: &Value, ty: JsonType) -> bool {
    matches!(
        (value, ty),
        (Value::Number(_), JsonType::Number)
            | (Value::String(_), JsonType::String)
            | (Value::Bool(_), JsonType::Bool)
            | (Value::Array(_), JsonType::Array)
            | (Value::Object(_), JsonType::Object)
    )
}

/// `contains`: a substring of a string, an element of an array, a key of an object.
fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(s), Value::String(n)) => s.contains(n.as_str()),
        (Value::Array(items), _) => items.iter().any(|v| json_equal(v, needle)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

/// `length`: chars of a string, elements of an array, members of an object.
fn length(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        _ => None,
    }
}

/// Reads the arguments of the function `name` at `at` (the cursor is on the `(`).
pub(super) fn call(cursor: &mut Cursor, name: &str, at: usize) -> Result<Call, ExprError> {
    cursor.bump();
    let Some(&known) = FUNCTIONS.iter().find(|f| **f == name) else {
        let mut error = ExprError::new(format!("unknown function `{name}`"), at);
        error = match crate::suggest::suggest(name, FUNCTIONS) {
            Some(s) => error.with_hint(format!("did you mean `{s}`?")),
            None => error.with_hint(format!("functions: {}", FUNCTIONS.join(", "))),
        };
        return Err(error);
    };
    cursor.skip_ws();
    let path = FieldPath::parse_at(cursor)?;
    cursor.skip_ws();
    let two = matches!(known, "contains" | "starts_with" | "ends_with" | "matches");
    let arg = if cursor.eat(',') {
        cursor.skip_ws();
        let arg_at = cursor.pos;
        let value = literal(cursor, &format!("expected a second argument to `{known}`"))?;
        Some((value, arg_at))
    } else {
        None
    };
    cursor.skip_ws();
    let usage = usage(known);
    let call = match (known, arg) {
        ("is_null", None) => Call::IsNull(path),
        ("is_not_null", None) => Call::IsNotNull(path),
        ("is_empty", None) => Call::IsEmpty(path),
        ("is_number", None) => Call::IsType(path, JsonType::Number),
        ("is_string", None) => Call::IsType(path, JsonType::String),
        ("is_bool", None) => Call::IsType(path, JsonType::Bool),
        ("is_array", None) => Call::IsType(path, JsonType::Array),
        ("is_object", None) => Call::IsType(path, JsonType::Object),
        ("length", None) => Call::Length(path),
        ("contains", Some((value, _))) => Call::Contains(path, value),
        ("length", Some((n @ Value::Number(_), _))) => Call::LengthEquals(path, n),
        (_, Some((Value::String(s), arg_at))) if two => match known {
            "starts_with" => Call::StartsWith(path, s),
            "ends_with" => Call::EndsWith(path, s),
            _ => Call::Matches(path, Box::new(pattern(&s, arg_at)?)),
        },
        (_, Some((_, arg_at))) if two => {
            return Err(
                ExprError::new(format!("`{known}` needs a quoted string"), arg_at).with_hint(usage),
            );
        }
        _ => {
            return Err(
                ExprError::new(format!("wrong number of arguments to `{known}`"), at)
                    .with_hint(usage),
            );
        }
    };
    if !cursor.eat(')') {
        return Err(
            ExprError::new(format!("expected `)` to close `{known}(`"), cursor.pos)
                .with_hint(usage),
        );
    }
    Ok(call)
}

/// Compiles a `matches` pattern, moving its error offset into the filter text
/// (exact unless the literal holds escapes before the problem).
fn pattern(source: &str, literal_at: usize) -> Result<Pattern, ExprError> {
    Pattern::parse(source).map_err(|e| ExprError {
        message: format!("invalid pattern: {}", e.message),
        offset: literal_at + 1 + e.offset,
        hint: e.hint,
    })
}

fn usage(function: &str) -> String {
    let example = match function {
        "contains" => "contains(tags, 'x')",
        "starts_with" => "starts_with(path, 'src/')",
        "ends_with" => "ends_with(path, '.rs')",
        "matches" => "matches(path, '^src/.*\\.rs$')",
        "length" => "length(tags) > 3",
        other => return format!("write `{other}(field)`"),
    };
    format!("write `{example}`")
}

#[cfg(test)]
mod tests {
    use super::super::Filter;
    use super::*;
    use serde_json::json;

    // The item and the assertion helpers are the filter tests' own.
    use super::super::tests::{all_false, all_true};

    fn error(expr: &str) -> ExprError {
        match Filter::parse(expr) {
            Ok(filter) => panic!("{expr} parsed as {filter:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn predicates() {
        all_true(&[
            "is_null(nothing)",
            "is_not_null(status)",
            "is_empty(blank)",
            "is_empty(meta.empty)",
            "is_empty(nothing)",
            "is_number(score)",
            "is_string(status)",
            "is_bool(flag)",
            "is_array(tags)",
            "is_object(meta)",
        ]);
        all_false(&[
            "is_null(status)",
            "is_not_null(nothing)",
            "is_empty(tags)",
            "is_number(status)",
        ]);
    }

    #[test]
    fn string_and_collection_functions() {
        all_true(&[
            "contains(name, 'parse')",
            "contains(tags, 'core')",
            "contains(tags, 3)",
            "contains(meta, 'owner')",
            "starts_with(path, 'src/')",
            "ends_with(path, '.rs')",
            "!contains(tags, 'slow')",
            "contains( name , \"test\" )",
        ]);
        all_false(&[
            "contains(name, 'xyz')",
            "starts_with(score, '5')",
            "ends_with(tags, 'core')",
        ]);
    }

    #[test]
    fn length() {
        all_true(&[
            "length(tags) == 3",
            "length(tags) > 2",
            "length(name) == 11",
            "length(meta) == 3",
            "length(tags, 3)",
            "length(tags)",
            "!length(blank)",
        ]);
        all_false(&["length(score) >= 0", "length(tags) < 3"]);
        let unicode = Filter::parse("length(s) == 2").unwrap_or_else(|e| panic!("{e}"));
        assert!(unicode.matches(&json!({"s": "éé"})));
    }

    #[test]
    fn regex_matches() {
        all_true(&[
            "matches(path, '^src/.*\\.rs$')",
            "matches(path, 'work(flow|shop)')",
            "matches(name, '^[a-z_]+$')",
            "matches(name, '\\w+_\\w+')",
        ]);
        all_false(&["matches(path, '^tests/')", "matches(score, '5')"]);
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        let cases = [
            ("is_nul(a)", "unknown function `is_nul`", 0),
            ("x && frobnicate(a)", "unknown function `frobnicate`", 5),
            ("contains(a)", "wrong number of arguments to `contains`", 0),
            ("is_null(a, 1)", "wrong number of arguments to `is_null`", 0),
            ("length(a, 'x')", "wrong number of arguments to `length`", 0),
            (
                "starts_with(a, 1)",
                "`starts_with` needs a quoted string",
                15,
            ),
            ("contains(a, 'x'", "expected `)` to close `contains(`", 15),
            (
                "contains(a, x)",
                "expected a second argument to `contains`",
                12,
            ),
            ("contains('a', 'x')", "expected a field name", 9),
            (
                "matches(a, 'x(')",
                "invalid pattern: unclosed group `(`",
                13,
            ),
            (
                "matches(a, '[z-a]')",
                "invalid pattern: invalid range `z-a`",
                13,
            ),
        ];
        for (expr, message, offset) in cases {
            let e = error(expr);
            assert_eq!((e.message.as_str(), e.offset), (message, offset), "{expr}");
        }
    }

    #[test]
    fn hints() {
        let hint = |expr: &str| error(expr).hint;
        assert_eq!(
            hint("is_nul(a)").as_deref(),
            Some("did you mean `is_null`?")
        );
        assert_eq!(
            hint("starts_with(a, 1)").as_deref(),
            Some("write `starts_with(path, 'src/')`")
        );
        assert_eq!(hint("is_null()").as_deref(), None);
        assert!(hint("frobnicate(a)").is_some_and(|h| h.starts_with("functions: is_null")));
    }
}
