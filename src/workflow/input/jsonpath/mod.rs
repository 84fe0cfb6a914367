//! JSONPath (RFC 9535) for the `json_path:` stage: parse once at validation, select
//! the map items from the input document at run time.
//!
//! Supported: `$`, `.name`, `['name']`, `[n]` (negative from the end), `[*]`, `.*`,
//! descendants `..name` / `..*` / `..[...]`, slices `[start:end:step]`, unions
//! `[0,2]` / `['a','b']`, and filters `[?...]` (see `filter.rs`). Functions
//! such as `length()` are not. As a leniency the leading `$` may be left out:
//! `items[*]`, `.items[*]` and `[0]` read as `$.items[*]`, `$.items[*]` and `$[0]`.

use serde_json::Value;

mod filter;
mod parse;

use super::error::ExprError;
use filter::{LogicalExpr, eval_filter};
use parse::Parser;

/// A parsed JSONPath query.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    source: String,
    segments: Vec<Segment>,
}

/// One `.x`, `[...]` or `..x` step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) descendant: bool,
    pub(crate) selectors: Vec<Selector>,
}

/// One selector inside a segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selector {
    Name(String),
    Wildcard,
    Index(i64),
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
    },
    Filter(Box<LogicalExpr>),
}

impl JsonPath {
    /// Parses a JSONPath expression; a leading `$` is optional.
    pub fn parse(expr: &str) -> Result<JsonPath, ExprError> {
        let mut parser = Parser::new(expr);
        let cursor = &mut parser.cursor;
        cursor.skip_ws();
        let mut segments = Vec::new();
        if !cursor.eat('$') {
            if let Some(name) = cursor.identifier() {
                segments.push(Segment {
                    descendant: false,
                    selectors: vec![Selector::Name(name)],
                });
            } else if !matches!(cursor.peek(), Some('.' | '[')) {
                return Err(ExprError::new("a JSONPath starts with `$`", cursor.pos)
                    .with_hint("for example `$.items[*]`"));
            }
        }
        segments.extend(parser.segments()?);
        parser.cursor.skip_ws();
        if let Some(c) = parser.cursor.peek() {
            return Err(
                ExprError::new(format!("unexpected `{c}`"), parser.cursor.pos)
                    .with_hint("continue the path with `.name`, `[...]` or `..name`"),
            );
        }
        Ok(JsonPath {
            source: expr.to_string(),
            segments,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The nodes the path selects from `root`, in document order (duplicates kept, as
    /// RFC 9535 says).
    pub fn select<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        apply_segments(&self.segments, vec![root], root)
    }
}

/// Applies `segments` to `nodes`; `root` is what `$` means inside filters.
pub(crate) fn apply_segments<'a>(
    segments: &[Segment],
    nodes: Vec<&'a Value>,
    root: &'a Value,
) -> Vec<&'a Value> {
    segments.iter().fold(nodes, |nodes, segment| {
        let mut out = Vec::new();
        for node in nodes {
            if segment.descendant {
                let mut all = Vec::new();
                descendants(node, &mut all);
                for inner in all {
                    apply_selectors(&segment.selectors, inner, root, &mut out);
                }
            } else {
                apply_selectors(&segment.selectors, node, root, &mut out);
            }
        }
        out
    })
}

fn descendants<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in children(node) {
        descendants(child, out);
    }
}

fn children(node: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match node {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    }
}

fn apply_selectors<'a>(
    selectors: &[Selector],
    node: &'a Value,
    root: &'a Value,
    out: &mut Vec<&'a Value>,
) {
    for selector in selectors {
        match (selector, node) {
            (Selector::Name(name), Value::Object(map)) => out.extend(map.get(name)),
            (Selector::Wildcard, _) => out.extend(children(node)),
            (Selector::Index(i), Value::Array(items)) => {
                out.extend(normalize(*i, items.len()).and_then(|i| items.get(i)));
            }
            (Selector::Slice { start, end, step }, Value::Array(items)) => {
                let indexes = slice_indexes(*start, *end, *step, items.len());
                out.extend(indexes.into_iter().filter_map(|i| items.get(i)));
            }
            (Selector::Filter(expr), _) => {
                out.extend(children(node).filter(|child| eval_filter(expr, child, root)));
            }
            _ => {}
        }
    }
}

fn normalize(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let at = if index < 0 { len + index } else { index };
    usize::try_from(at).ok()
}

/// The indexes a slice selects, by the algorithm of RFC 9535 section 2.3.4.2.2.
fn slice_indexes(
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    len: usize,
) -> Vec<usize> {
    let step = i128::from(step.unwrap_or(1));
    let len = i128::try_from(len).unwrap_or(i128::MAX);
    let norm = |i: i64| {
        let i = i128::from(i);
        if i >= 0 { i } else { len + i }
    };
    let mut out = Vec::new();
    if step > 0 {
        let lower = start.map_or(0, norm).clamp(0, len);
        let upper = end.map_or(len, norm).clamp(0, len);
        let mut i = lower;
        while i < upper {
            out.extend(usize::try_from(i).ok());
            i += step;
        }
    } else if step < 0 {
        let upper = start.map_or(len - 1, norm).clamp(-1, len - 1);
        let lower = end.map_or(-1, norm).clamp(-1, len - 1);
        let mut i = upper;
        while lower < i {
            out.extend(usize::try_from(i).ok());
            i += step;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn store() -> Value {
        json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
                    {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99},
                    {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord", "isbn": "0-395", "price": 22.99}
                ],
                "bicycle": {"color": "red", "price": 399}
            }
        })
    }

    fn select(path: &str, doc: &Value) -> Vec<Value> {
        match JsonPath::parse(path) {
            Ok(p) => p.select(doc).into_iter().cloned().collect(),
            Err(e) => panic!("{path}: {e} at {}", e.offset),
        }
    }

    #[test]
    fn root_and_names() {
        let doc = store();
        assert_eq!(select("$", &doc), vec![doc.clone()]);
        assert_eq!(select("$.store.bicycle.color", &doc), vec![json!("red")]);
        assert_eq!(
            select("$['store']['bicycle'][\"color\"]", &doc),
            vec![json!("red")]
        );
        assert!(select("$.nope", &doc).is_empty());
        assert!(select("$.store.book.title", &doc).is_empty());
    }

    #[test]
    fn wildcards_and_indexes() {
        let doc = store();
        assert_eq!(
            select("$.store.book[*].author", &doc),
            vec![
                json!("Nigel Rees"),
                json!("Evelyn Waugh"),
                json!("Herman Melville"),
                json!("J. R. R. Tolkien")
            ]
        );
        assert_eq!(
            select("$.store.book[0].title", &doc),
            vec![json!("Sayings")]
        );
        assert_eq!(
            select("$.store.book[-1].title", &doc),
            vec![json!("The Lord")]
        );
        assert!(select("$.store.book[4]", &doc).is_empty());
        assert!(select("$.store.book[-5]", &doc).is_empty());
        assert_eq!(select("$.store.*", &doc).len(), 2);
        assert!(select("$.store.bicycle.color.*", &doc).is_empty());
    }

    #[test]
    fn unions_keep_order_and_duplicates() {
        let doc = json!(["a", "b", "c"]);
        assert_eq!(
            select("$[0, 2, 0]", &doc),
            vec![json!("a"), json!("c"), json!("a")]
        );
        let doc = json!({"a": 1, "b": 2});
        assert_eq!(select("$['b','a']", &doc), vec![json!(2), json!(1)]);
    }

    #[test]
    fn slices() {
        let doc = json!([0, 1, 2, 3, 4, 5, 6]);
        let cases: [(&str, Vec<i64>); 9] = [
            ("$[1:3]", vec![1, 2]),
            ("$[5:]", vec![5, 6]),
            ("$[:2]", vec![0, 1]),
            ("$[1:5:2]", vec![1, 3]),
            ("$[5:1:-2]", vec![5, 3]),
            ("$[::-1]", vec![6, 5, 4, 3, 2, 1, 0]),
            ("$[-2:]", vec![5, 6]),
            ("$[0:7:0]", vec![]),
            ("$[-100:100]", vec![0, 1, 2, 3, 4, 5, 6]),
        ];
        for (path, expected) in cases {
            let expected: Vec<Value> = expected.into_iter().map(Value::from).collect();
            assert_eq!(select(path, &doc), expected, "{path}");
        }
        assert!(select("$[1:2]", &json!({"a": 1})).is_empty());
    }

    #[test]
    fn descendants() {
        let doc = store();
        assert_eq!(select("$..author", &doc).len(), 4);
        let prices = select("$..price", &doc);
        assert_eq!(prices.len(), 5);
        assert_eq!(select("$..book[2].title", &doc), vec![json!("Moby Dick")]);
        assert_eq!(select("$..['color']", &doc), vec![json!("red")]);
        let nested = json!({"a": {"a": 1}});
        assert_eq!(select("$..a", &nested), vec![json!({"a": 1}), json!(1)]);
        assert_eq!(
            select("$..*", &json!([[1], 2])),
            vec![json!([1]), json!(2), json!(1)]
        );
    }

    #[test]
    fn filters_select_children() {
        let doc = store();
        assert_eq!(
            select("$.store.book[?@.price < 10].title", &doc),
            vec![json!("Sayings"), json!("Moby Dick")]
        );
        assert_eq!(select("$.store.book[?(@.isbn)].title", &doc).len(), 2);
        assert_eq!(
            select("$..book[?@.isbn && @.price > 20].title", &doc),
            vec![json!("The Lord")]
        );
        assert_eq!(
            select(
                "$.store[?@.color == 'red'].price",
                &json!({"store": {"b": {"color": "red", "price": 1}}})
            ),
            vec![json!(1)]
        );
    }

    #[test]
    fn lenient_forms_without_dollar() {
        let doc = json!({"items": [1, 2]});
        assert_eq!(select("items[*]", &doc), vec![json!(1), json!(2)]);
        assert_eq!(select(".items[1]", &doc), vec![json!(2)]);
        assert_eq!(select("  $.items[0]  ", &doc), vec![json!(1)]);
        assert_eq!(select("[0]", &json!([7])), vec![json!(7)]);
        assert_eq!(select("$ .items [0]", &doc), vec![json!(1)]);
    }

    #[test]
    fn keeps_the_source_text() {
        let path = JsonPath::parse("$.items[*]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path.as_str(), "$.items[*]");
    }

    #[test]
    fn slice_index_algorithm_handles_extremes() {
        assert_eq!(
            slice_indexes(Some(i64::MIN), Some(i64::MAX), Some(i64::MAX), 3),
            vec![0]
        );
        assert_eq!(slice_indexes(None, None, Some(i64::MIN), 3), vec![2]);
        assert!(slice_indexes(None, None, None, 0).is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(expr in ".{0,40}") {
            if let Ok(path) = JsonPath::parse(&expr) {
                let _ = path.select(&store());
            }
        }

        #[test]
        fn never_panics_on_path_like_text(expr in "[$@.*?\\[\\]()0-9:,'=<>!&| a-c-]{0,30}") {
            if let Ok(path) = JsonPath::parse(&expr) {
                let _ = path.select(&json!({"a": [1, {"b": 2}], "c": "x"}));
            }
        }
    }
}
