//! Field paths such as `a.b[0].c`, shared by `filter`, `sort_by` and `distinct`:
//! parsing (with error offsets) and lookup in a JSON value.
//!
//! Syntax: a field name (letters, digits, `_`, `-`), then any of `.name`, `.0`,
//! `[0]`, `[-1]` (from the end) or `['any key']`. A `.name` applied to an array reads
//! the element when the name is a number. The empty path and `.` mean the value itself.

use serde_json::Value;

use super::cursor::{Cursor, Escapes};
use super::error::ExprError;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathSegment {
    /// An object member (or an array element when the key is a number).
    Key(String),
    /// An array element; negative counts from the end.
    Index(i64),
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FieldPath {
    pub(crate) segments: Vec<PathSegment>,
}

impl FieldPath {
    /// Parses a path that starts at the cursor and ends before the first char that
    /// cannot continue it (whitespace, an operator, a comma...).
    pub(crate) fn parse_at(cursor: &mut Cursor) -> Result<FieldPath, ExprError> {
        let mut segments = Vec::new();
        if cursor.peek() != Some('[') {
            let name = cursor
                .identifier()
                .ok_or_else(|| ExprError::new("expected a field name", cursor.pos))?;
            segments.push(PathSegment::Key(name));
        }
        loop {
            if cursor.eat('.') {
                segments.push(Self::dotted(cursor)?);
            } else if cursor.peek() == Some('[') {
                segments.push(Self::bracketed(cursor)?);
            } else {
                return Ok(FieldPath { segments });
            }
        }
    }

    fn dotted(cursor: &mut Cursor) -> Result<PathSegment, ExprError> {
        let start = cursor.pos;
        if let Some(name) = cursor.identifier() {
            return Ok(PathSegment::Key(name));
        }
        while cursor.peek().is_some_and(|c| c.is_ascii_digit()) {
            cursor.pos += 1;
        }
        if cursor.pos > start {
            return Ok(PathSegment::Key(cursor.text(start, cursor.pos)));
        }
        Err(ExprError::new("expected a field name after `.`", start)
            .with_hint("write a name with other characters as `['my key']`"))
    }

    fn bracketed(cursor: &mut Cursor) -> Result<PathSegment, ExprError> {
        let open = cursor.pos;
        cursor.bump();
        cursor.skip_ws();
        let segment = match cursor.peek() {
            Some('\'' | '"') => PathSegment::Key(cursor.string_literal(Escapes::Json)?),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let at = cursor.pos;
                let number = cursor.number_literal()?;
                let index = number.as_i64().filter(|_| !number.is_f64());
                PathSegment::Index(
                    index.ok_or_else(|| ExprError::new("index must be an integer", at))?,
                )
            }
            _ => {
                return Err(ExprError::new(
                    "expected an index or a quoted name after `[`",
                    cursor.pos,
                )
                .with_hint("write `[0]`, `[-1]` or `['name']`"));
            }
        };
        cursor.skip_ws();
        if !cursor.eat(']') {
            return Err(ExprError::new("expected `]`", cursor.pos)
                .with_hint(format!("close the `[` at character {}", open + 1)));
        }
        Ok(segment)
    }

    /// Parses a whole path. Leading/trailing whitespace is ignored; the empty text, `.`
    /// and a leading `.` (`.a.b`) are accepted.
    pub(crate) fn parse(text: &str) -> Result<FieldPath, ExprError> {
        let mut cursor = Cursor::new(text);
        cursor.skip_ws();
        if cursor.at_end() {
            return Ok(FieldPath::default());
        }
        if cursor.peek() == Some('.') && cursor.peek_at(1) != Some('.') {
            cursor.bump();
            cursor.skip_ws();
            if cursor.at_end() {
                return Ok(FieldPath::default());
            }
        }
        let path = Self::parse_at(&mut cursor)?;
        cursor.skip_ws();
        match cursor.peek() {
            None => Ok(path),
            Some(c) => Err(ExprError::new(
                format!("unexpected `{c}` in field path"),
                cursor.pos,
            )),
        }
    }

    /// Looks the path up in `value`.
    pub(crate) fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(value, |current, segment| step(current, segment))
    }

    /// Looks the path up in a map item. A first segment `item` names the item itself
    /// unless the item has a member called `item`, so `item.score` and `score` are the
    /// same field, and `item` alone is a scalar item.
    pub(crate) fn resolve_item<'a>(&self, item: &'a Value) -> Option<&'a Value> {
        match self.segments.split_first() {
            Some((PathSegment::Key(first), rest))
                if first == "item" && item.get("item").is_none() =>
            {
                rest.iter()
                    .try_fold(item, |current, segment| step(current, segment))
            }
            _ => self.get(item),
        }
    }
}

fn step<'a>(value: &'a Value, segment: &PathSegment) -> Option<&'a Value> {
    match (value, segment) {
        (Value::Object(map), PathSegment::Key(key)) => map.get(key),
        (Value::Array(items), PathSegment::Key(key)) => items.get(key.parse::<usize>().ok()?),
        (Value::Array(items), PathSegment::Index(i)) => {
            let len = i64::try_from(items.len()).ok()?;
            let at = if *i < 0 { len.checked_add(*i)? } else { *i };
            items.get(usize::try_from(at).ok()?)
        }
        _ => None,
    }
}

/// Looks up a path such as `a.b[0].c` in `value`. `None` when a step is missing or
/// the path does not parse; the empty path and `.` give `value` itself.
pub fn path_get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    FieldPath::parse(path).ok()?.get(value)
}

/// Like [`path_get`], for a map item: a leading `item` segment names the item itself
/// (unless it has a member called `item`), as the `filter`, `sort_by` and `distinct`
/// stages read paths.
pub fn item_get<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    FieldPath::parse(path).ok()?.resolve_item(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "tags": ["x", "y"], "my key": 3, "0": "zero"})
    }

    #[test]
    fn nested_paths() {
        let doc = doc();
        assert_eq!(path_get(&doc, "a.b[0].c"), Some(&json!(1)));
        assert_eq!(path_get(&doc, "a.b[-1].c"), Some(&json!(2)));
        assert_eq!(path_get(&doc, "a.b.1.c"), Some(&json!(2)));
        assert_eq!(path_get(&doc, "tags[1]"), Some(&json!("y")));
        assert_eq!(path_get(&doc, "['my key']"), Some(&json!(3)));
        assert_eq!(path_get(&doc, "a[\"b\"][ 0 ]"), Some(&json!({"c": 1})));
    }

    #[test]
    fn whole_value_paths() {
        let doc = doc();
        for path in ["", ".", "  "] {
            assert_eq!(path_get(&doc, path), Some(&doc), "{path:?}");
        }
        assert_eq!(path_get(&doc, ".tags[0]"), Some(&json!("x")));
    }

    #[test]
    fn missing_steps_give_none() {
        let doc = doc();
        for path in ["nope", "a.b[5]", "a.b[-3]", "tags.x", "tags[0].y", "a.b.c"] {
            assert_eq!(path_get(&doc, path), None, "{path}");
        }
    }

    #[test]
    fn invalid_paths_give_none() {
        let doc = doc();
        for path in ["a.", "a[", "a[x]", "a b", "a[1.5]", "..a"] {
            assert_eq!(path_get(&doc, path), None, "{path}");
        }
    }

    #[test]
    fn item_alias() {
        let item = json!({"score": 5});
        assert_eq!(item_get(&item, "item.score"), Some(&json!(5)));
        assert_eq!(item_get(&item, "score"), Some(&json!(5)));
        assert_eq!(item_get(&item, "item"), Some(&item));
        assert_eq!(item_get(&json!("line"), "item"), Some(&json!("line")));
        let nested = json!({"item": {"score": 1}, "score": 2});
        assert_eq!(item_get(&nested, "item.score"), Some(&json!(1)));
    }

    #[test]
    fn parse_errors_have_offsets_and_hints() {
        let error = FieldPath::parse("a.").unwrap_err();
        assert_eq!(error.message, "expected a field name after `.`");
        assert_eq!(error.offset, 2);
        assert!(error.hint.is_some());

        let error = FieldPath::parse("a[0").unwrap_err();
        assert_eq!(error.message, "expected `]`");
        assert_eq!(error.offset, 3);

        let error = FieldPath::parse("a[?]").unwrap_err();
        assert_eq!(
            error.message,
            "expected an index or a quoted name after `[`"
        );
        assert_eq!(error.offset, 2);

        let error = FieldPath::parse("a b").unwrap_err();
        assert_eq!(error.message, "unexpected `b` in field path");
        assert_eq!(error.offset, 2);
    }

    proptest! {
        #[test]
        fn never_panics(path in ".*") {
            let _ = path_get(&doc(), &path);
            let _ = item_get(&doc(), &path);
        }

        #[test]
        fn never_panics_on_path_like_text(path in "[a-z0-9_.\\[\\]'\"-]{0,20}") {
            let _ = path_get(&doc(), &path);
        }
    }
}
