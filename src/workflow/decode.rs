//! A tree of [`Node`]s -> typed values, collecting every problem instead of stopping.
//!
//! Each schema type implements [`Decode`]; mappings are read through [`Fields`], which
//! remembers the keys a type asked for, so a key nobody asked for is reported as
//! unknown with a did-you-mean suggestion. A value that fails to decode yields `None`
//! after recording a diagnostic; the caller keeps going so that one run reports all.
//! Lists and maps keep the elements that did decode, so that the checks after decoding
//! still see them; a workflow with any error is never run (see `workflow::check`).

use std::collections::BTreeMap;

use super::diagnostic::Diagnostic;
use super::yaml::{Node, Span, Value};
use crate::suggest::suggest;

/// Collects diagnostics while decoding.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Everything found so far, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// Report unknown keys as warnings instead of errors (`--allow-unknown`).
    pub allow_unknown: bool,
}

impl Decoder {
    /// Records a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Records an error at `node`, underlining the node's scalar text.
    pub fn error_at(&mut self, node: &Node, code: &'static str, message: impl Into<String>) {
        self.push(Diagnostic::error(code, Some(node.span), message).with_width(width(node)));
    }

    /// Records "expected X, found Y" at `node`.
    pub fn expected(&mut self, node: &Node, what: &str) {
        self.error_at(
            node,
            "wrong-type",
            format!("expected {what}, found {}", node.value.kind()),
        );
    }

    /// Adds a hint to the diagnostic recorded last.
    pub fn hint(&mut self, hint: impl Into<String>) {
        if let Some(last) = self.diagnostics.last_mut() {
            last.hint = Some(hint.into());
        }
    }

    /// True if any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// How many characters a diagnostic at `node` should underline.
pub fn width(node: &Node) -> usize {
    match &node.value {
        Value::Seq(_) | Value::Map(_) => 1,
        _ => node
            .scalar_text()
            .lines()
            .next()
            .map_or(1, |l| l.chars().count()),
    }
}

/// A type that can be read from a YAML node.
pub trait Decode: Sized {
    /// Reads `node`, or records why not and returns `None`. A container may return the
    /// part that decoded after recording why the rest did not.
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self>;
}

impl Decode for String {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(node.scalar_text()),
            _ => {
                d.expected(node, "a string");
                None
            }
        }
    }
}

impl Decode for bool {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                d.expected(node, "`true` or `false`");
                None
            }
        }
    }
}

impl Decode for u64 {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            Value::Str(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
            _ => {
                d.expected(node, "a whole number of at least 0");
                None
            }
        }
    }
}

impl Decode for u32 {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let n = u64::decode(node, d)?;
        u32::try_from(n).ok().or_else(|| {
            d.error_at(node, "out-of-range", format!("{n} is too large"));
            None
        })
    }
}

impl Decode for usize {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let n = u64::decode(node, d)?;
        usize::try_from(n).ok()
    }
}

impl Decode for i32 {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let parsed = match &node.value {
            Value::Int(i) => i32::try_from(*i).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            d.expected(node, "a whole number");
        }
        parsed
    }
}

impl Decode for f64 {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Str(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                s.trim().parse().ok()
            }
            _ => {
                d.expected(node, "a number");
                None
            }
        }
    }
}

impl Decode for serde_json::Value {
    fn decode(node: &Node, _: &mut Decoder) -> Option<Self> {
        Some(node.to_json())
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let Value::Seq(items) = &node.value else {
            d.expected(node, "a list");
            return None;
        };
        // The elements that decode, even when others do not: their errors are recorded,
        // so the workflow is never used, but `validate` still checks the good ones.
        Some(items.iter().filter_map(|i| T::decode(i, d)).collect())
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        T::decode(node, d).map(Box::new)
    }
}

impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let Value::Map(entries) = &node.value else {
            d.expected(node, "a mapping");
            return None;
        };
        // Like `Vec`: the entries that decode, with the others' errors recorded.
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let key = String::decode(k, d);
            let value = T::decode(v, d);
            if let (Some(k), Some(v)) = (key, value) {
                out.insert(k, v);
            }
        }
        Some(out)
    }
}

/// A value with the place it was written, for checks after decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    /// The decoded value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T: Decode> Decode for At<T> {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        T::decode(node, d).map(|value| At {
            value,
            span: node.span,
        })
    }
}

/// Reads the keys of one mapping, tracking which were asked for.
pub struct Fields<'n> {
    what: &'static str,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
    node: &'n Node,
}

impl<'n> Fields<'n> {
    /// Starts reading `node` as the mapping of a `what` (e.g. "step"); records an error
    /// and returns `None` when it is not a mapping.
    pub fn new(node: &'n Node, what: &'static str, d: &mut Decoder) -> Option<Self> {
        let Value::Map(entries) = &node.value else {
            d.expected(node, &format!("a mapping for the {what}"));
            return None;
        };
        Some(Fields {
            what,
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
            node,
        })
    }

    /// The mapping node being read.
    pub fn node(&self) -> &'n Node {
        self.node
    }

    /// True when `key` is present (also declares it known).
    pub fn has(&mut self, key: &'static str) -> bool {
        self.raw(key).is_some()
    }

    /// The raw node under `key`, marking it as used.
    pub fn raw(&mut self, key: &'static str) -> Option<&'n Node> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        let index = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        self.used[index] = true;
        Some(&self.entries[index].1)
    }

    /// The key node of `key`, for diagnostics that point at the key.
    pub fn key_node(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// Decodes an optional key. A null value counts as absent.
    pub fn opt<T: Decode>(&mut self, key: &'static str, d: &mut Decoder) -> Option<T> {
        let node = self.raw(key)?;
        if node.value == Value::Null {
            return None;
        }
        T::decode(node, d)
    }

    /// Decodes the first present key of `keys` (a name and its aliases).
    pub fn opt_any<T: Decode>(&mut self, keys: &[&'static str], d: &mut Decoder) -> Option<T> {
        keys.iter().find_map(|k| self.opt(k, d))
    }

    /// Decodes a required key, recording an error when it is missing.
    pub fn req<T: Decode>(&mut self, key: &'static str, d: &mut Decoder) -> Option<T> {
        self.required(key, None, d)
    }

    /// Decodes a required key; when it is missing, the error says what the key holds.
    pub fn req_with_hint<T: Decode>(
        &mut self,
        key: &'static str,
        hint: &str,
        d: &mut Decoder,
    ) -> Option<T> {
        self.required(key, Some(hint), d)
    }

    fn required<T: Decode>(
        &mut self,
        key: &'static str,
        hint: Option<&str>,
        d: &mut Decoder,
    ) -> Option<T> {
        if self.raw(key).is_none() {
            let mut diag = Diagnostic::error(
                "missing-key",
                Some(self.node.span),
                format!(
                    "the {} needs {} key",
                    self.what,
                    article(&format!("`{key}`"))
                ),
            );
            diag.hint = hint.map(str::to_string);
            d.push(diag);
            return None;
        }
        self.opt(key, d)
    }

    /// Accepts `key` but warns that prodigy ignores it.
    pub fn ignored(&mut self, key: &'static str, why: &str, d: &mut Decoder) {
        if self.raw(key).is_some()
            && let Some(k) = self.key_node(key)
        {
            d.push(
                Diagnostic::warning(
                    "ignored-key",
                    Some(k.span),
                    format!("`{key}` is accepted for compatibility but ignored: {why}"),
                )
                .with_width(key.len()),
            );
        }
    }

    /// Reports every key that was never asked for.
    pub fn finish(self, d: &mut Decoder) {
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let name = key.scalar_text();
            let mut diag = Diagnostic::error(
                "unknown-key",
                Some(key.span),
                format!("unknown key `{name}` in {}", article(self.what)),
            )
            .with_width(name.chars().count());
            diag.hint = Some(match suggest(&name, self.known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", self.known.join(", ")),
            });
            if d.allow_unknown {
                diag.severity = super::diagnostic::Severity::Warning;
            }
            d.push(diag);
        }
    }
}

/// "a step", "an item", "an `input`": the article goes by the first letter, past any
/// backtick.
fn article(what: &str) -> String {
    let vowel = what
        .trim_start_matches('`')
        .starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']);
    format!("{} {what}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::yaml::parse;

    struct Pair {
        name: String,
        count: Option<u64>,
    }

    impl Decode for Pair {
        fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
            let mut f = Fields::new(node, "pair", d)?;
            let name = f.req("name", d);
            let count = f.opt("count", d);
            f.finish(d);
            Some(Pair { name: name?, count })
        }
    }

    #[test]
    fn reports_every_problem_in_one_pass() {
        let node = parse("- {name: a, cuont: 1}\n- {count: x}\n- 5\n").unwrap();
        let mut d = Decoder::default();
        let pairs = Vec::<Pair>::decode(&node, &mut d).unwrap();
        assert_eq!(pairs.len(), 1, "the pair that decoded is kept");
        assert!(d.has_errors());
        let codes: Vec<_> = d.diagnostics.iter().map(|x| x.code).collect();
        assert_eq!(
            codes,
            ["unknown-key", "missing-key", "wrong-type", "wrong-type"]
        );
        assert_eq!(
            d.diagnostics[0].hint.as_deref(),
            Some("did you mean `count`?")
        );
        assert_eq!(d.diagnostics[0].span.unwrap().line, 1);
        assert_eq!(d.diagnostics[3].span.unwrap().line, 3);
    }

    #[test]
    fn decodes_valid_values() {
        let node = parse("name: 8080\ncount: 3\n").unwrap();
        let mut d = Decoder::default();
        let p = Pair::decode(&node, &mut d).unwrap();
        assert_eq!((p.name.as_str(), p.count), ("8080", Some(3)));
        assert!(d.diagnostics.is_empty());
    }

    #[test]
    fn allow_unknown_turns_errors_into_warnings() {
        let node = parse("name: a\nextra: 1\n").unwrap();
        let mut d = Decoder {
            allow_unknown: true,
            ..Decoder::default()
        };
        assert!(Pair::decode(&node, &mut d).is_some());
        assert!(!d.has_errors());
        assert_eq!(d.diagnostics.len(), 1);
    }
}
