//! The map input pipeline: input text -> the list of map items.
//!
//! ```text
//! text --parse_root--> JSON document --json_path--> items --filter--> --sort_by-->
//!      --distinct--> --offset--> --max_items--> items for the map phase
//! ```
//!
//! Everything here is a pure function of its input: no processes, no files. The
//! expression languages (`JsonPath`, `Filter`, `SortSpec`) are parsed once, at
//! validation, where their `ExprError`s (char offset + hint) become diagnostics; at run
//! time `Pipeline::apply` cannot fail. `items.rs` reads the text, `value.rs` holds the
//! JSON semantics all stages share, `path.rs` the `a.b[0]` field paths, `pattern/`
//! the small regex engine behind `matches()`.

mod cursor;
mod error;
mod filter;
mod items;
mod jsonpath;
mod path;
mod pattern;
mod sort;
mod value;

use std::collections::HashSet;

use serde_json::Value;

pub use error::ExprError;
pub use filter::Filter;
pub use items::{ItemsError, parse_items, parse_root};
pub use jsonpath::JsonPath;
pub use path::{item_get, path_get};
pub use sort::SortSpec;
pub use value::canonical_json;

/// Checks that `path` is a valid field path (`a.b[0].c`, `item.x`, `.`), as used by
/// `distinct:`; validation calls it so that `Pipeline::apply` never meets a bad path.
pub fn validate_path(path: &str) -> Result<(), ExprError> {
    path::FieldPath::parse(path).map(drop)
}

/// The stages of a map input, applied in this order by [`Pipeline::apply`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipeline {
    /// Selects the items inside the document. Without it, a top-level array's elements
    /// are the items, and any other document is the only item.
    pub json_path: Option<JsonPath>,
    /// Keeps the items that match.
    pub filter: Option<Filter>,
    /// Orders the items (stable).
    pub sort_by: Option<SortSpec>,
    /// A field path whose value identifies an item; later items with the same value
    /// (compared as canonical JSON) are dropped. `.` or `item` means the whole item,
    /// which is what scalar items need. A missing field counts as `null`, so items
    /// without it collapse into the first of them, as in the old tool.
    pub distinct: Option<String>,
    /// How many items to skip after the stages above.
    pub offset: usize,
    /// The most items to keep after `offset`.
    pub max_items: Option<usize>,
}

impl Pipeline {
    /// Runs the stages on a document from [`parse_root`].
    pub fn apply(&self, root: Value) -> Vec<Value> {
        let mut items = match (&self.json_path, root) {
            (Some(path), root) => path.select(&root).into_iter().cloned().collect(),
            (None, Value::Array(items)) => items,
            (None, other) => vec![other],
        };
        if let Some(filter) = &self.filter {
            items.retain(|item| filter.matches(item));
        }
        if let Some(sort) = &self.sort_by {
            sort.sort(&mut items);
        }
        if let Some(distinct) = &self.distinct {
            items = dedup(items, distinct);
        }
        let items = items.into_iter().skip(self.offset);
        match self.max_items {
            Some(max) => items.take(max).collect(),
            None => items.collect(),
        }
    }
}

/// Keeps the first item of each distinct key. A path that does not parse (validation
/// rejects it) compares whole items.
fn dedup(items: Vec<Value>, path: &str) -> Vec<Value> {
    let path = path::FieldPath::parse(path).unwrap_or_default();
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|item| {
            let key = path.resolve_item(item).unwrap_or(&Value::Null);
            seen.insert(canonical_json(key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parsed<T>(result: Result<T, ExprError>) -> T {
        result.unwrap_or_else(|e| panic!("{e} at {}", e.offset))
    }

    fn debtmap() -> Value {
        json!({
            "items": [
                {"file": "src/main.rs", "score": 3.0, "kind": "complexity"},
                {"file": "src/lib.rs", "score": 7.5, "kind": "duplication"},
                {"file": "src/utils.rs", "score": 5.1, "kind": "complexity"},
                {"file": "src/parser.rs", "score": 9.2, "kind": "complexity"},
                {"file": "src/config.rs", "score": null, "kind": "todo"},
                {"file": "src/test.rs", "score": 6.0, "kind": "duplication"}
            ]
        })
    }

    fn files(items: &[Value]) -> Vec<&str> {
        items.iter().filter_map(|i| i["file"].as_str()).collect()
    }

    #[test]
    fn all_stages_in_order() {
        let pipeline = Pipeline {
            json_path: Some(parsed(JsonPath::parse("$.items[*]"))),
            filter: Some(parsed(Filter::parse("item.score >= 5"))),
            sort_by: Some(parsed(SortSpec::parse("item.score DESC"))),
            distinct: Some("kind".into()),
            offset: 0,
            max_items: Some(10),
        };
        let items = pipeline.apply(debtmap());
        assert_eq!(files(&items), vec!["src/parser.rs", "src/lib.rs"]);
    }

    #[test]
    fn offset_and_max_items_apply_last() {
        let pipeline = Pipeline {
            json_path: Some(parsed(JsonPath::parse("items[*]"))),
            sort_by: Some(parsed(SortSpec::parse("score DESC"))),
            offset: 1,
            max_items: Some(2),
            ..Pipeline::default()
        };
        let items = pipeline.apply(debtmap());
        assert_eq!(files(&items), vec!["src/lib.rs", "src/test.rs"]);

        let past_the_end = Pipeline {
            offset: 99,
            ..pipeline.clone()
        };
        assert!(past_the_end.apply(debtmap()).is_empty());
        let none = Pipeline {
            max_items: Some(0),
            ..pipeline
        };
        assert!(none.apply(debtmap()).is_empty());
    }

    #[test]
    fn without_json_path_an_array_is_the_items() {
        let pipeline = Pipeline::default();
        assert_eq!(pipeline.apply(json!([1, 2])), vec![json!(1), json!(2)]);
        assert_eq!(pipeline.apply(json!({"a": 1})), vec![json!({"a": 1})]);
        assert_eq!(pipeline.apply(json!("x")), vec![json!("x")]);
        assert!(pipeline.apply(json!([])).is_empty());
    }

    #[test]
    fn json_path_results_are_the_items_even_when_arrays() {
        let pipeline = Pipeline {
            json_path: Some(parsed(JsonPath::parse("$.groups"))),
            ..Pipeline::default()
        };
        let items = pipeline.apply(json!({"groups": [[1], [2]]}));
        assert_eq!(items, vec![json!([[1], [2]])]);
    }

    #[test]
    fn distinct_keeps_the_first_of_each_key() {
        let items = json!([
            {"id": 1, "v": "a"},
            {"id": 2, "v": "b"},
            {"id": 1.0, "v": "c"},
            {"v": "d"},
            {"id": null, "v": "e"},
            {"id": {"x": 1, "y": 2}, "v": "f"},
            {"id": {"y": 2, "x": 1}, "v": "g"}
        ]);
        let pipeline = Pipeline {
            distinct: Some("id".into()),
            ..Pipeline::default()
        };
        let kept = pipeline.apply(items);
        let kept: Vec<&str> = kept.iter().filter_map(|i| i["v"].as_str()).collect();
        assert_eq!(kept, vec!["a", "b", "d", "f"]);

        let whole = Pipeline {
            distinct: Some(".".into()),
            ..Pipeline::default()
        };
        assert_eq!(
            whole.apply(json!(["a", "b", "a", "c", "b"])),
            vec![json!("a"), json!("b"), json!("c")]
        );
        let item = Pipeline {
            distinct: Some("item".into()),
            ..Pipeline::default()
        };
        assert_eq!(item.apply(json!([1, 1.0, 2])), vec![json!(1), json!(2)]);
    }

    #[test]
    fn distinct_runs_after_sort() {
        let pipeline = Pipeline {
            sort_by: Some(parsed(SortSpec::parse("score DESC"))),
            distinct: Some("kind".into()),
            ..Pipeline::default()
        };
        let items = pipeline.apply(json!([
            {"kind": "a", "score": 1},
            {"kind": "a", "score": 5},
            {"kind": "b", "score": 2}
        ]));
        assert_eq!(
            items,
            vec![
                json!({"kind": "a", "score": 5}),
                json!({"kind": "b", "score": 2})
            ]
        );
    }

    #[test]
    fn plain_lines_flow_through_as_strings() {
        let pipeline = Pipeline {
            filter: Some(parsed(Filter::parse("ends_with(item, '.rs')"))),
            sort_by: Some(parsed(SortSpec::parse("item"))),
            ..Pipeline::default()
        };
        let root = parse_root("src/b.rs\nREADME.md\nsrc/a.rs\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pipeline.apply(root),
            vec![json!("src/a.rs"), json!("src/b.rs")]
        );
    }

    #[test]
    fn validate_path_reports_bad_distinct_paths() {
        assert!(validate_path("a.b[0]").is_ok());
        assert!(validate_path(".").is_ok());
        let error = validate_path("a..b").unwrap_err();
        assert_eq!(error.message, "expected a field name after `.`");
        assert_eq!(error.offset, 2);
    }

    proptest! {
        #[test]
        fn max_items_and_offset_bound_the_output(
            n in 0usize..30,
            offset in 0usize..40,
            max in proptest::option::of(0usize..40),
        ) {
            let pipeline = Pipeline { offset, max_items: max, ..Pipeline::default() };
            let root = Value::Array((0..n).map(Value::from).collect());
            let items = pipeline.apply(root);
            let expected = n.saturating_sub(offset).min(max.unwrap_or(usize::MAX));
            prop_assert_eq!(items.len(), expected);
            if let Some(first) = items.first() {
                prop_assert_eq!(first, &Value::from(offset));
            }
        }
    }
}
