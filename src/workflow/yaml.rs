//! YAML text -> a span-carrying tree of [`Node`]s.
//!
//! serde-saphyr parses (with its alias budget and duplicate-key checks); we keep a
//! generic tree so that `decode` can report every problem at once, each at its own
//! line and column, instead of stopping at the first serde error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based position in the source, plus the byte range when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Span {
    fn from_location(loc: serde_saphyr::Location) -> Self {
        Span {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub span: Span,
    /// The value itself.
    pub value: Value,
}

/// The shape of a YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in i64.
    Int(i64),
    /// A float, or an integer too large for i64.
    Float(f64),
    /// A string scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order. Keys are nodes too, so they keep their spans.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// A short name of the shape, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The string of a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under a string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// This node as plain JSON (spans dropped). Floats that are not finite become null.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a scalar as a user would write it (`8080`, `true`, `name`).
    pub fn scalar_text(&self) -> String {
        match &self.value {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => self.to_json().to_string(),
        }
    }
}

/// Why YAML text could not be read as a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What is wrong, in our words where we know the parser's error, else the
    /// parser's first line without its own position.
    pub message: String,
    /// Where, when the parser knows.
    pub span: Option<Span>,
    /// What to do about it.
    pub hint: String,
    /// How many characters to underline at `span`.
    pub width: usize,
}

/// The hint for plain syntax errors, whose message names only a symptom.
const SYNTAX_HINT: &str = "check the indentation and quoting near this line";

/// The largest workflow file we read; more is almost certainly not a workflow.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// Parse one YAML document into a tree. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_SOURCE_BYTES {
        return Err(SyntaxError {
            message: format!(
                "the file is {} bytes; workflow files are limited to {MAX_SOURCE_BYTES} bytes",
                text.len()
            ),
            span: None,
            hint: "split the workflow, or read large data from a file with `map.input`".into(),
            width: 1,
        });
    }
    if text.trim().is_empty() {
        return Ok(Node {
            span: Span { line: 1, column: 1 },
            value: Value::Null,
        });
    }
    let options = serde_saphyr::options! { with_snippet: false, strict_booleans: true };
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|e| syntax_error(&e))
}

/// Our words for the parser errors a user can cause on purpose or by accident; the
/// parser's own text names its options and types (`DuplicateKeyPolicy`, `Nodes { .. }`).
fn syntax_error(error: &serde_saphyr::Error) -> SyntaxError {
    use serde_saphyr::Error as E;
    // An error met while replaying an alias is wrapped with both places; the place the
    // alias is used (the "reference" location) is the one in the user's text.
    let span = error.location().map(Span::from_location);
    let mut inner = error;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = inner {
        inner = error;
    }
    match inner {
        E::DuplicateMappingKey { key, .. } => SyntaxError {
            message: match key {
                Some(key) => format!("duplicate key `{key}`"),
                None => "duplicate key".to_string(),
            },
            span,
            hint: "remove one of them; YAML mappings have unique keys".into(),
            width: key.as_ref().map_or(1, |k| k.chars().count()),
        },
        E::Budget { breach, .. } => SyntaxError {
            message: budget_message(breach),
            span,
            hint: "workflow files are small; write big or repeated data to a file and read it with `map.input`".into(),
            width: 1,
        },
        other => {
            let message = first_line(&other.to_string());
            // The scanner's nesting limit arrives as text only.
            if message == "recursion limit exceeded" {
                let limit = serde_saphyr::Budget::default().flow_nesting_limit;
                return SyntaxError {
                    message: format!("the document nests more than {limit} levels deep"),
                    span,
                    hint: "workflows nest a few levels; is this file a workflow?".into(),
                    width: 1,
                };
            }
            SyntaxError {
                message,
                span,
                hint: SYNTAX_HINT.into(),
                width: 1,
            }
        }
    }
}

/// A budget breach in plain words, with the limit that was passed.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    const BOMB: &str = "is it an alias bomb (`&a` / `*a` repeated)?";
    let limits = serde_saphyr::Budget::default();
    match breach {
        B::Nodes { .. } => format!(
            "the document expands to more than {} nodes; {BOMB}",
            limits.max_nodes
        ),
        B::Events { .. } => format!(
            "the document expands to more than {} parser events; {BOMB}",
            limits.max_events
        ),
        B::Aliases { .. } => format!(
            "the document uses more than {} aliases (`*name`); {BOMB}",
            limits.max_aliases
        ),
        B::AliasAnchorRatio { aliases, anchors } => {
            format!("the document uses {aliases} aliases of {anchors} anchors; {BOMB}")
        }
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            format!("the document's anchors (`&name`) hold too much to replay; {BOMB}")
        }
        B::Anchors { .. } => format!(
            "the document defines more than {} anchors (`&name`)",
            limits.max_anchors
        ),
        B::Depth { .. } => format!(
            "the document nests more than {} levels deep",
            limits.max_depth
        ),
        B::Documents { .. } => format!(
            "the file has more than {} YAML documents",
            limits.max_documents
        ),
        B::ScalarBytes { .. } => format!(
            "the document's text values add up to more than {} bytes",
            limits.max_total_scalar_bytes
        ),
        B::MergeKeys { .. } => format!(
            "the document has more than {} merge keys (`<<`)",
            limits.max_merge_keys
        ),
        _ => "the document is too large or too complex to read".to_string(),
    }
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("invalid YAML").trim();
    // serde-saphyr appends " at line X column Y"; we print our own location.
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            span: Span::from_location(spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        String::from_utf8(v.to_vec())
            .map(Value::Str)
            .map_err(|_| E::custom("binary data is not valid UTF-8 text"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let node = parse("a: 1\nlist:\n  - x\n  - {y: true}\n").unwrap();
        let map = node.as_map().unwrap();
        assert_eq!(map[1].0.span, Span { line: 2, column: 1 });
        let Value::Seq(items) = &map[1].1.value else {
            panic!("expected a list")
        };
        assert_eq!(items[1].span.line, 4);
        assert_eq!(items[1].get("y").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn duplicate_keys_are_named_at_the_second_key() {
        let err = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(err.message, "duplicate key `c`");
        assert_eq!(err.span, Some(Span { line: 4, column: 3 }));
        assert!(err.hint.contains("unique keys"), "{err:?}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(
            err.message
                .starts_with("the document expands to more than 250000 nodes; "),
            "{err:?}"
        );
        assert!(
            err.message
                .ends_with("is it an alias bomb (`&a` / `*a` repeated)?")
        );
        // The alias whose replay passed the limit.
        assert_eq!(err.span.map(|s| s.line), Some(6));
    }

    #[test]
    fn deep_nesting_is_named() {
        let text = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let err = parse(&text).unwrap_err();
        assert_eq!(err.message, "the document nests more than 255 levels deep");
    }

    #[test]
    fn empty_text_is_null() {
        assert_eq!(parse("  \n").unwrap().value, Value::Null);
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.span.is_some(), "{err:?}");
    }
}
