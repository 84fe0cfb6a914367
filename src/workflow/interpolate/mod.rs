//! Variable interpolation: `${...}` references in step text -> a parsed
//! [`Template`] -> the rendered string.
//!
//! This module is pure: it parses and renders, and knows which built-in
//! variables exist in which phase ([`check_scope`]). It never looks a value up
//! itself; `validate` calls [`Template::parse`] and [`check_scope`] on every
//! interpolated field, and `exec` calls [`Template::render`] with a lookup over
//! the run's variables (captures, `item`, `map.*`, `env.*`, ...).
//!
//! # Syntax
//!
//! | written                   | meaning                                                  |
//! |---------------------------|----------------------------------------------------------|
//! | `${name}`                 | the variable `name`                                      |
//! | `${a.b.c}`                | field `b`, then `c`, of `a`                              |
//! | `${item.tags[0]}`         | element 0 of the array `item.tags`                       |
//! | `${name:-text}`           | `text` (literal, may be empty) when `name` is undefined  |
//! | `${name:sh}`              | the value quoted for POSIX `sh` (`'it'\''s'`)            |
//! | `${name:json}`            | the value as JSON (strings quoted)                       |
//! | `${name:newline}` / `${name:comma}` | an array's elements, one per line / comma-separated |
//! | `${name:*.rs,*.toml}`     | an array's string elements matching a glob, space-separated |
//! | `$ARG`, `$1` .. `$9`      | the old tool's positional arguments (roots `ARG`, `1`..`9`) |
//! | `${1}` .. `${9}`          | the same, braced                                         |
//! | `$${`                     | a literal `${` (the escape)                              |
//!
//! Modifiers follow the path, each after a `:`, in the order
//! `${path[:format][:sh][:-default]}`: a format (`json`, `newline`, `comma` or
//! a glob) and `sh` may appear in either order, at most once each, and `:-`
//! must come last because everything after it, up to the closing `}`, is the
//! default text. The default is inserted as written (no format applied), but a
//! `:sh` reference quotes its default too: `${x:sh:-a b}` renders `'a b'`.
//! A default cannot contain `}` or `${`.
//!
//! Names are `[A-Za-z_][A-Za-z0-9_-]*`, separated by `.`; an index is `[n]`.
//! Whitespace inside `${...}` is an error.
//!
//! Everything else belongs to the shell and is left exactly as written: a bare
//! `$name` or `$HOME`, `$(cmd)`, `$$`, `$0`, `$ARGS`, `$10`, `$1x` (positional
//! forms must end at a word boundary). `\${` is not an escape. Scanning is left
//! to right, so `$$${x}` is `$$` followed by `${x}`. To hand the shell a literal
//! `${HOME}` write `$${HOME}`; to hand it `$ARG`, write `$${ARG}`.
//!
//! # Rendering
//!
//! Strings are inserted as they are, numbers and booleans as JSON text, `null`
//! as the empty string, arrays and objects as compact JSON ([`value_text`]).
//! An undefined variable without a default is an [`Undefined`] error; it is
//! never left in the output.
//!
//! All offsets (`VarRef::offset`, error offsets) count `char`s from the start
//! of the template text, not bytes.

mod parse;
mod render;
mod scope;

#[cfg(test)]
mod tests;

use std::fmt;

use crate::suggest::suggest;
pub use render::{shell_quote, value_text};
pub use scope::{Phase, ScopeProblem, check_scope, is_known_namespace, known_namespaces};

/// A parsed template: literal text interleaved with variable references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// One run of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text copied to the output (escapes already resolved).
    Literal(String),
    /// A variable reference.
    Var(VarRef),
}

impl Template {
    /// Parses `text`, or returns the first syntax error with its char offset.
    pub fn parse(text: &str) -> Result<Template, InterpolateError> {
        parse::parse_template(text)
    }

    /// Every variable reference, in the order written.
    pub fn vars(&self) -> impl Iterator<Item = &VarRef> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Var(var) => Some(var),
            Piece::Literal(_) => None,
        })
    }

    /// True when the template has no variable reference, so rendering returns
    /// its text unchanged (after escapes).
    pub fn is_literal(&self) -> bool {
        self.vars().next().is_none()
    }

    /// Renders the template, asking `lookup` for each variable's value.
    ///
    /// `lookup` receives the whole path (`item.tags[0]`) and returns `None` when
    /// it is undefined; [`VarPath::get_in`] walks the segments of a root value.
    /// Returns the first undefined variable that has no default.
    pub fn render(
        &self,
        lookup: &dyn Fn(&VarPath) -> Option<serde_json::Value>,
    ) -> Result<String, Undefined> {
        render::render(&self.pieces, lookup)
    }
}

/// One variable reference as written in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The variable's path.
    pub path: VarPath,
    /// The literal text after `:-`, used when the variable is undefined.
    pub default: Option<String>,
    /// `:sh`: quote the rendered text for POSIX `sh`.
    pub shell_quote: bool,
    /// A list format (`:json`, `:newline`, `:comma` or a glob), if any.
    pub format: Option<ListFormat>,
    /// Char offset of the `$` in the template text.
    pub offset: usize,
    /// Length of the whole reference in chars (`${item}` is 7).
    pub len: usize,
}

/// How `:json`, `:newline`, `:comma` and glob modifiers render a value (the old
/// tool's git-context format modifiers, e.g. `${step.files_added:*.rs}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFormat {
    /// `:json`: the value as compact JSON; a string keeps its quotes.
    Json,
    /// `:newline`: array elements, one per line.
    Newline,
    /// `:comma`: array elements separated by `,`.
    Comma,
    /// `:*.rs,*.toml`: string elements of an array that match any of the
    /// patterns, separated by spaces. `*` matches any run of characters
    /// (including `/`) and `?` any one character.
    Glob(Vec<String>),
}

/// The path of a variable: a root name and the fields and indexes after it.
///
/// Displays as written: `item.tags[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarPath {
    /// The first name: `item`, `map`, a capture name, `ARG`, `1`.
    pub root: String,
    /// Everything after the root, in order.
    pub segments: Vec<Segment>,
}

/// One step of a [`VarPath`] after its root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// `.name`
    Field(String),
    /// `[n]`
    Index(usize),
}

impl VarPath {
    /// A path with only a root.
    pub fn root(name: impl Into<String>) -> VarPath {
        VarPath {
            root: name.into(),
            segments: Vec::new(),
        }
    }

    /// Parses a bare path such as `item.tags[0]` (no `${`, no modifiers), as
    /// used by settings like `distinct: item.id`.
    pub fn parse(text: &str) -> Result<VarPath, InterpolateError> {
        parse::parse_bare_path(text)
    }

    /// Walks the segments into `value`, the root's value. `None` when a field
    /// is missing, an index is out of range or the shape does not fit.
    pub fn get_in<'v>(&self, value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.segments
            .iter()
            .try_fold(value, |value, segment| match segment {
                Segment::Field(name) => value.get(name.as_str()),
                Segment::Index(index) => value.get(*index),
            })
    }

    /// True for `$ARG` and `$1`..`$9` (with no segments).
    pub fn is_positional(&self) -> bool {
        self.segments.is_empty() && is_positional_root(&self.root)
    }
}

/// `ARG`, or one digit `1`..`9`.
fn is_positional_root(root: &str) -> bool {
    root == "ARG" || matches!(root.as_bytes(), [b'1'..=b'9'])
}

impl fmt::Display for VarPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)?;
        for segment in &self.segments {
            match segment {
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// How to write `path` in a message: `$ARG` for positional arguments, else
/// `${path}`.
fn written(path: &VarPath) -> String {
    if path.is_positional() {
        format!("${path}")
    } else {
        format!("${{{path}}}")
    }
}

/// A syntax error in a template. Every variant carries the char offset of the
/// problem; the caller turns it into `file:line:col` with a caret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${` with no closing `}`; the offset is the `$`.
    #[error("unterminated `${{`: no closing `}}`")]
    Unterminated {
        /// Char offset of the `$`.
        offset: usize,
    },
    /// `${}`; the offset is the `$`.
    #[error("empty variable reference `${{}}`")]
    Empty {
        /// Char offset of the `$`.
        offset: usize,
    },
    /// A character that cannot appear here (or the end of the reference).
    #[error("expected {expected} in variable reference, found {}", found_text(*.found))]
    Expected {
        /// Char offset of the unexpected character.
        offset: usize,
        /// What would have been valid, e.g. "a field name after `.`".
        expected: &'static str,
        /// The character found; `None` at the end of the reference.
        found: Option<char>,
    },
    /// `[x]` where `x` is not a non-negative integer that fits in `usize`.
    #[error("invalid index `[{text}]`: expected a non-negative integer")]
    InvalidIndex {
        /// Char offset of the `[`.
        offset: usize,
        /// What was written between the brackets (or after `[` when unclosed).
        text: String,
    },
    /// `:xyz` that is not `sh`, `json`, `newline`, `comma`, a glob or `-`.
    #[error("unknown modifier `:{modifier}`")]
    UnknownModifier {
        /// Char offset of the `:`.
        offset: usize,
        /// The modifier text without the `:`.
        modifier: String,
    },
    /// A second `:sh` or a second format.
    #[error("modifier `:{modifier}` repeats or conflicts with an earlier one")]
    ConflictingModifier {
        /// Char offset of the `:`.
        offset: usize,
        /// The modifier text without the `:`.
        modifier: String,
    },
    /// `${a:-${b}}`: defaults are literal text.
    #[error("a default value cannot contain `${{`: nested variables are not supported")]
    NestedDefault {
        /// Char offset of the inner `$`.
        offset: usize,
    },
}

fn found_text(found: Option<char>) -> String {
    match found {
        Some(c) => format!("`{}`", c.escape_debug()),
        None => "the end of the reference".to_string(),
    }
}

impl InterpolateError {
    /// Char offset of the problem in the template text.
    pub fn offset(&self) -> usize {
        match self {
            InterpolateError::Unterminated { offset }
            | InterpolateError::Empty { offset }
            | InterpolateError::Expected { offset, .. }
            | InterpolateError::InvalidIndex { offset, .. }
            | InterpolateError::UnknownModifier { offset, .. }
            | InterpolateError::ConflictingModifier { offset, .. }
            | InterpolateError::NestedDefault { offset } => *offset,
        }
    }

    /// A one-line hint on how to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            InterpolateError::Unterminated { .. } => {
                "close the reference with `}`, or write `$${` for a literal `${`"
            }
            InterpolateError::Empty { .. } => {
                "name a variable, as in `${item}`, or write `$${}` for a literal `${}`"
            }
            InterpolateError::Expected { .. } => {
                "names are letters, digits, `_` and `-`, starting with a letter or `_`; \
                 write fields as `a.b` and indexes as `a[0]`"
            }
            InterpolateError::InvalidIndex { .. } => {
                "write an index as a number, as in `${item.tags[0]}`"
            }
            InterpolateError::UnknownModifier { .. } => {
                "modifiers are `:sh`, `:json`, `:newline`, `:comma`, a glob such as `:*.rs`, \
                 and `:-default` last"
            }
            InterpolateError::ConflictingModifier { .. } => {
                "use at most one format and one `:sh`, as in `${x:json:sh}`"
            }
            InterpolateError::NestedDefault { .. } => {
                "a default is literal text; capture the other value into a variable first"
            }
        }
    }
}

/// A variable with no value and no default, found while rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undefined variable `{}`", written(path))]
pub struct Undefined {
    /// The variable's path.
    pub path: VarPath,
    /// Char offset of its `$` in the template text.
    pub offset: usize,
    /// A defined name that looks like what was meant (see [`Undefined::suggest_from`]).
    pub suggestion: Option<String>,
}

impl Undefined {
    /// Fills [`Undefined::suggestion`] with the closest of `candidates` (full
    /// paths such as `item.name`), if one is close enough.
    pub fn suggest_from<'a>(mut self, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        self.suggestion = suggest(&self.path.to_string(), candidates).map(str::to_string);
        self
    }

    /// "did you mean `${item.name}`?", when there is a suggestion.
    pub fn hint(&self) -> Option<String> {
        self.suggestion
            .as_ref()
            .map(|name| format!("did you mean `${{{name}}}`?"))
    }
}
