//! The `sort_by:` stage: `a.b DESC, c ASC NULLS FIRST` parsed once, then a stable
//! sort of the map items.
//!
//! Each key is a field path (a leading `item.` names the item itself, as in filters),
//! an optional direction `ASC`/`DESC` (also `ASCENDING`/`DESCENDING`, any case,
//! default `ASC`) and an optional `NULLS FIRST`/`NULLS LAST`. A missing field counts
//! as null.
//!
//! Nulls go **last by default in both directions**, as the old tool did: the usual
//! `sort_by: score DESC` with `max_items: 10` then picks the ten best real scores, not
//! items that have none. Values of different types order `null < bool < number <
//! string < array < object`; numbers compare numerically. Items with equal keys keep
//! their input order.

use std::cmp::Ordering;

use serde_json::Value;

use super::cursor::Cursor;
use super::error::ExprError;
use super::path::FieldPath;
use super::value::total_cmp;

const DIRECTIONS: [&str; 5] = ["ASC", "ASCENDING", "DESC", "DESCENDING", "NULLS"];

/// A parsed sort specification.
#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    source: String,
    keys: Vec<SortKey>,
}

#[derive(Debug, Clone, PartialEq)]
struct SortKey {
    path: FieldPath,
    descending: bool,
    nulls_first: bool,
}

impl SortSpec {
    /// Parses `key [ASC|DESC] [NULLS FIRST|LAST], ...`.
    pub fn parse(expr: &str) -> Result<SortSpec, ExprError> {
        let mut cursor = Cursor::new(expr);
        let mut keys = Vec::new();
        loop {
            cursor.skip_ws();
            if cursor.at_end() {
                let error = if keys.is_empty() {
                    ExprError::new("the sort specification is empty", cursor.pos)
                } else {
                    ExprError::new("expected a field name after `,`", cursor.pos)
                };
                return Err(error.with_hint("write fields such as `score DESC, name`"));
            }
            keys.push(key(&mut cursor)?);
            cursor.skip_ws();
            match cursor.peek() {
                None => break,
                Some(',') => {
                    cursor.bump();
                }
                Some(c) => {
                    return Err(ExprError::new(format!("unexpected `{c}`"), cursor.pos)
                        .with_hint("separate sort keys with `,`"));
                }
            }
        }
        Ok(SortSpec {
            source: expr.to_string(),
            keys,
        })
    }

    /// The specification as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Sorts `items` in place; stable, so ties keep their order.
    pub fn sort(&self, items: &mut [Value]) {
        items.sort_by(|a, b| self.compare(a, b));
    }

    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        self.keys
            .iter()
            .map(|key| key.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl SortKey {
    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        let non_null = |item| self.path.resolve_item(item).filter(|v| !v.is_null());
        match (non_null(a), non_null(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) if self.nulls_first => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) if self.nulls_first => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) if self.descending => total_cmp(y, x),
            (Some(x), Some(y)) => total_cmp(x, y),
        }
    }
}

fn key(cursor: &mut Cursor) -> Result<SortKey, ExprError> {
    let whole_item = cursor.peek() == Some('.')
        && cursor
            .peek_at(1)
            .is_none_or(|c| c == ',' || c.is_whitespace());
    let path = if whole_item {
        cursor.bump();
        FieldPath::default()
    } else {
        cursor.eat('.');
        FieldPath::parse_at(cursor)?
    };
    let mut key = SortKey {
        path,
        descending: false,
        nulls_first: false,
    };
    cursor.skip_ws();
    let mut keyword = word(cursor)?;
    match keyword.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("ASC" | "ASCENDING") => keyword = next_word(cursor)?,
        Some("DESC" | "DESCENDING") => {
            key.descending = true;
            keyword = next_word(cursor)?;
        }
        _ => {}
    }
    if let Some(w) = keyword {
        let at = cursor.pos - w.chars().count();
        if !w.eq_ignore_ascii_case("NULLS") {
            return Err(unknown_word(&w, at));
        }
        cursor.skip_ws();
        // Where the word after `NULLS` starts (or the end), not where it stops.
        let at = cursor.pos;
        let position = word(cursor)?;
        key.nulls_first = match position.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("FIRST") => true,
            Some("LAST") => false,
            _ => {
                let message = match &position {
                    Some(w) => format!("expected `FIRST` or `LAST` after `NULLS`, found `{w}`"),
                    None => "expected `FIRST` or `LAST` after `NULLS`".to_string(),
                };
                return Err(
                    ExprError::new(message, at).with_hint("write `NULLS FIRST` or `NULLS LAST`")
                );
            }
        };
    }
    Ok(key)
}

/// Reads a keyword if the key continues with one.
fn word(cursor: &mut Cursor) -> Result<Option<String>, ExprError> {
    match cursor.peek() {
        None | Some(',') => Ok(None),
        Some(c) if Cursor::is_ident_start(c) => Ok(cursor.identifier()),
        Some(c) => Err(ExprError::new(format!("unexpected `{c}`"), cursor.pos)
            .with_hint("separate sort keys with `,`")),
    }
}

fn next_word(cursor: &mut Cursor) -> Result<Option<String>, ExprError> {
    cursor.skip_ws();
    word(cursor)
}

/// The keyword meant by a misspelt one. A typo seldom changes the first letter, and
/// `suggest` breaks ties by order (`DSC` is one edit from both `ASC` and `DESC`), so
/// keywords with the same first letter are asked first.
fn suggest_keyword(word: &str) -> Option<&'static str> {
    let first = word.chars().next()?;
    let same_start = DIRECTIONS.into_iter().filter(|k| k.starts_with(first));
    crate::suggest::suggest(word, same_start).or_else(|| crate::suggest::suggest(word, DIRECTIONS))
}

fn unknown_word(word: &str, at: usize) -> ExprError {
    let error = ExprError::new(
        format!("expected `ASC`, `DESC` or `NULLS`, found `{word}`"),
        at,
    );
    match suggest_keyword(&word.to_ascii_uppercase()) {
        Some(s) => error.with_hint(format!("did you mean `{s}`?")),
        None => error.with_hint("separate sort keys with `,`: `score DESC, name`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sorted(spec: &str, items: Value) -> Vec<Value> {
        let spec = SortSpec::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let mut items = match items {
            Value::Array(items) => items,
            other => vec![other],
        };
        spec.sort(&mut items);
        items
    }

    fn ids(spec: &str, items: Value) -> Vec<i64> {
        sorted(spec, items)
            .iter()
            .filter_map(|v| v["id"].as_i64())
            .collect()
    }

    fn error(spec: &str) -> ExprError {
        match SortSpec::parse(spec) {
            Ok(s) => panic!("{spec} parsed: {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn ascending_by_default_and_descending() {
        let items = json!([{"id": 1, "s": 2}, {"id": 2, "s": 10}, {"id": 3, "s": 1.5}]);
        assert_eq!(ids("s", items.clone()), vec![3, 1, 2]);
        assert_eq!(ids("s ASC", items.clone()), vec![3, 1, 2]);
        assert_eq!(ids("s desc", items.clone()), vec![2, 1, 3]);
        assert_eq!(ids("item.s Descending", items), vec![2, 1, 3]);
    }

    #[test]
    fn multiple_keys_and_stability() {
        let items = json!([
            {"id": 1, "g": "b", "n": 1},
            {"id": 2, "g": "a", "n": 1},
            {"id": 3, "g": "b", "n": 2},
            {"id": 4, "g": "a", "n": 1}
        ]);
        assert_eq!(ids("g, n DESC", items.clone()), vec![2, 4, 3, 1]);
        assert_eq!(ids("n", items), vec![1, 2, 4, 3]);
    }

    #[test]
    fn nested_paths() {
        let items = json!([
            {"id": 1, "score": {"final": 3}},
            {"id": 2, "score": {"final": 9}},
            {"id": 3, "tags": ["b"]},
            {"id": 4, "tags": ["a"]}
        ]);
        assert_eq!(ids("score.final DESC", items.clone()), vec![2, 1, 3, 4]);
        assert_eq!(ids("tags[0]", items), vec![4, 3, 1, 2]);
    }

    #[test]
    fn nulls_last_by_default_in_both_directions() {
        let items = json!([{"id": 1}, {"id": 2, "s": 1}, {"id": 3, "s": null}, {"id": 4, "s": 2}]);
        assert_eq!(ids("s", items.clone()), vec![2, 4, 1, 3]);
        assert_eq!(ids("s DESC", items.clone()), vec![4, 2, 1, 3]);
        assert_eq!(ids("s DESC NULLS FIRST", items.clone()), vec![1, 3, 4, 2]);
        assert_eq!(ids("s nulls first", items.clone()), vec![1, 3, 2, 4]);
        assert_eq!(ids("s NULLS LAST", items), vec![2, 4, 1, 3]);
    }

    #[test]
    fn mixed_types_use_the_total_order() {
        let items = json!([{"id": 1, "v": "a"}, {"id": 2, "v": 5}, {"id": 3, "v": true}, {"id": 4, "v": [1]}]);
        assert_eq!(ids("v", items.clone()), vec![3, 2, 1, 4]);
        assert_eq!(ids("v DESC", items), vec![4, 1, 2, 3]);
    }

    #[test]
    fn scalar_items_sort_by_item() {
        assert_eq!(
            sorted("item DESC", json!(["b", "c", "a"])),
            vec![json!("c"), json!("b"), json!("a")]
        );
        assert_eq!(
            sorted(".", json!([3, 1, 2])),
            vec![json!(1), json!(2), json!(3)]
        );
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        let cases = [
            ("", "the sort specification is empty", 0),
            ("a,", "expected a field name after `,`", 2),
            ("a DSC", "expected `ASC`, `DESC` or `NULLS`, found `DSC`", 2),
            (
                "a DESC NULLS",
                "expected `FIRST` or `LAST` after `NULLS`",
                12,
            ),
            (
                "a NULLS MIDDLE",
                "expected `FIRST` or `LAST` after `NULLS`, found `MIDDLE`",
                8,
            ),
            (
                "score DESC NULLS MIDDLE",
                "expected `FIRST` or `LAST` after `NULLS`, found `MIDDLE`",
                17,
            ),
            (
                "a DESC b",
                "expected `ASC`, `DESC` or `NULLS`, found `b`",
                7,
            ),
            ("a; b", "unexpected `;`", 1),
            ("a DESC NULLS FIRST x", "unexpected `x`", 19),
            ("a dsc", "expected `ASC`, `DESC` or `NULLS`, found `dsc`", 2),
            ("1abc", "expected a field name", 0),
            ("a[", "expected an index or a quoted name after `[`", 2),
        ];
        for (spec, message, offset) in cases {
            let e = error(spec);
            assert_eq!((e.message.as_str(), e.offset), (message, offset), "{spec}");
        }
        assert_eq!(
            error("a desk").hint.as_deref(),
            Some("did you mean `DESC`?")
        );
    }

    #[test]
    fn typos_suggest_the_keyword_meant() {
        let hint = |spec: &str| error(spec).hint;
        assert_eq!(hint("a DSC").as_deref(), Some("did you mean `DESC`?"));
        assert_eq!(hint("a dsc").as_deref(), Some("did you mean `DESC`?"));
        assert_eq!(
            hint("a ascendng").as_deref(),
            Some("did you mean `ASCENDING`?")
        );
        assert_eq!(
            hint("a NULS LAST").as_deref(),
            Some("did you mean `NULLS`?")
        );
        // No keyword starts with `X`: the closest of all.
        assert_eq!(hint("a XSC").as_deref(), Some("did you mean `ASC`?"));
    }

    #[test]
    fn keeps_the_source_text() {
        let spec = SortSpec::parse("a DESC").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.as_str(), "a DESC");
    }

    proptest! {
        #[test]
        fn never_panics(spec in ".{0,40}") {
            if let Ok(spec) = SortSpec::parse(&spec) {
                let mut items = vec![json!({"a": 1}), json!(null), json!("x"), json!({"a": "b"})];
                spec.sort(&mut items);
            }
        }

        #[test]
        fn sorting_is_a_permutation(values in proptest::collection::vec(0i64..5, 0..20)) {
            let spec = SortSpec::parse("v DESC").unwrap_or_else(|e| panic!("{e}"));
            let mut items: Vec<Value> = values.iter().map(|v| json!({"v": v})).collect();
            spec.sort(&mut items);
            let got: Vec<i64> = items.iter().filter_map(|i| i["v"].as_i64()).collect();
            let mut expected = values.clone();
            expected.sort_by(|a, b| b.cmp(a));
            prop_assert_eq!(got, expected);
        }
    }
}
