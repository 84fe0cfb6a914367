//! Rendering: parsed pieces + a lookup -> the output string.

use serde_json::Value;

use super::{ListFormat, Piece, Undefined, VarPath, VarRef};

pub(super) fn render(
    pieces: &[Piece],
    lookup: &dyn Fn(&VarPath) -> Option<Value>,
) -> Result<String, Undefined> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Var(var) => out.push_str(&render_var(var, lookup)?),
        }
    }
    Ok(out)
}

fn render_var(
    var: &VarRef,
    lookup: &dyn Fn(&VarPath) -> Option<Value>,
) -> Result<String, Undefined> {
    let text = match (lookup(&var.path), &var.default) {
        (Some(value), _) => match &var.format {
            Some(format) => format_list(&value, format),
            None => value_text(&value),
        },
        (None, Some(default)) => default.clone(),
        (None, None) => {
            return Err(Undefined {
                path: var.path.clone(),
                offset: var.offset,
                suggestion: None,
            });
        }
    };
    Ok(if var.shell_quote {
        shell_quote(&text)
    } else {
        text
    })
}

/// The text a value interpolates as: a string as it is, a number or boolean as
/// JSON text, `null` as the empty string, an array or object as compact JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        // `Value`'s Display is compact JSON and cannot fail.
        other => other.to_string(),
    }
}

/// Quotes `text` for POSIX `sh` with single quotes: `it's` -> `'it'\''s'`.
/// The result is always one word, even for the empty string (`''`).
pub fn shell_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Applies a list format. A value that is not an array is a list of one.
fn format_list(value: &Value, format: &ListFormat) -> String {
    let elements = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    let texts = elements.iter().map(value_text);
    match format {
        ListFormat::Json => value.to_string(),
        ListFormat::Newline => texts.collect::<Vec<_>>().join("\n"),
        ListFormat::Comma => texts.collect::<Vec<_>>().join(","),
        ListFormat::Glob(patterns) => elements
            .iter()
            .filter_map(Value::as_str)
            .filter(|text| patterns.iter().any(|p| glob_match(p, text)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// One token of a glob pattern.
#[derive(Clone, Copy, PartialEq)]
enum Glob {
    /// `*` (and a `**` not followed by `/`): any run of characters.
    Star,
    /// `**/`: nothing, or any run of characters ending in `/`.
    DirStar,
    /// `?`: any one character.
    Any,
    /// Any other character, matched as is.
    Lit(char),
}

fn glob_tokens(pattern: &str) -> Vec<Glob> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let (token, width) = match (c, chars.get(i + 1), chars.get(i + 2)) {
            ('*', Some('*'), Some('/')) => (Glob::DirStar, 3),
            ('*', _, _) => (Glob::Star, 1),
            ('?', _, _) => (Glob::Any, 1),
            (c, _, _) => (Glob::Lit(c), 1),
        };
        // `**` without `/` is the same as `*`; collapse runs of stars.
        if !(token == Glob::Star && tokens.last() == Some(&Glob::Star)) {
            tokens.push(token);
        }
        i += width;
    }
    tokens
}

/// Glob match, as the old tool's `glob::Pattern` matched: `*` is any run of
/// characters (`/` included), `**/` also matches no directory at all, `?` is
/// any one character. A dynamic programme over (token, position): no
/// recursion and no backtracking blow-up on any pattern.
fn glob_match(pattern: &str, text: &str) -> bool {
    let tokens = glob_tokens(pattern);
    let text: Vec<char> = text.chars().collect();
    let m = text.len();
    // `next[j]`: the tokens after the current one match `text[j..]`.
    let mut next: Vec<bool> = (0..=m).map(|j| j == m).collect();
    for token in tokens.iter().rev() {
        let mut cur = vec![false; m + 1];
        // For `**/`: some k > j has text[k - 1] == '/' and next[k].
        let mut slash_then_rest = false;
        for j in (0..=m).rev() {
            let c = text.get(j).copied();
            let step = next.get(j + 1).copied().unwrap_or(false);
            cur[j] = match token {
                Glob::Star => next[j] || cur.get(j + 1).copied().unwrap_or(false),
                Glob::DirStar => {
                    slash_then_rest |= c == Some('/') && step;
                    next[j] || slash_then_rest
                }
                Glob::Any => c.is_some() && step,
                Glob::Lit(l) => c == Some(*l) && step,
            };
        }
        next = cur;
    }
    next.first().copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workflow::interpolate::Template;

    /// Renders `text` with `item` bound to `item`, everything else undefined.
    fn with_item(text: &str, item: Value) -> Result<String, Undefined> {
        let template = Template::parse(text).expect("template parses");
        template.render(&|path: &VarPath| match path.root.as_str() {
            "item" => path.get_in(&item).cloned(),
            _ => None,
        })
    }

    fn render_ok(text: &str, item: Value) -> String {
        with_item(text, item).expect("renders")
    }

    #[test]
    fn strings_insert_as_is() {
        assert_eq!(render_ok("x=${item}!", json!("a b'c")), "x=a b'c!");
    }

    #[test]
    fn numbers_and_bools_render_as_json_text() {
        assert_eq!(
            render_ok(
                "${item.n} ${item.f} ${item.b}",
                json!({"n": 42, "f": 1.5, "b": true})
            ),
            "42 1.5 true"
        );
    }

    #[test]
    fn null_renders_empty() {
        assert_eq!(render_ok("[${item.x}]", json!({"x": null})), "[]");
    }

    #[test]
    fn arrays_and_objects_render_as_compact_json() {
        let item = json!({"tags": ["a", "b"], "meta": {"k": 1}});
        assert_eq!(
            render_ok("${item.tags} ${item.meta}", item.clone()),
            r#"["a","b"] {"k":1}"#
        );
        assert_eq!(
            render_ok("${item}", json!([1, {"a": null}])),
            r#"[1,{"a":null}]"#
        );
    }

    #[test]
    fn nested_fields_and_indexes_are_walked() {
        let item = json!({"tags": ["x", "y"], "a": [{"b": 1}, {"b": 2}, {"b": "three"}]});
        assert_eq!(render_ok("${item.tags[1]}/${item.a[2].b}", item), "y/three");
    }

    #[test]
    fn sh_quotes_the_value() {
        assert_eq!(
            render_ok("echo ${item:sh}", json!("it's")),
            r"echo 'it'\''s'"
        );
        assert_eq!(render_ok("${item.n:sh}", json!({"n": 3})), "'3'");
        assert_eq!(render_ok("${item.x:sh}", json!({"x": null})), "''");
    }

    #[test]
    fn default_is_used_only_when_undefined() {
        assert_eq!(render_ok("${item.x:-none}", json!({})), "none");
        assert_eq!(render_ok("${item.x:-none}", json!({"x": "set"})), "set");
        assert_eq!(
            render_ok("${item.x:-none}", json!({"x": null})),
            "",
            "null is defined"
        );
        assert_eq!(render_ok("[${nope:-}]", json!({})), "[]");
    }

    #[test]
    fn sh_quotes_the_default_too() {
        assert_eq!(render_ok("${nope:sh:-a b}", json!({})), "'a b'");
        assert_eq!(render_ok("${nope:sh:-}", json!({})), "''");
    }

    #[test]
    fn undefined_names_the_variable_and_offset() {
        let err = with_item("ls ${item.nme}", json!({"name": "x"})).expect_err("undefined");
        assert_eq!(err.offset, 3);
        assert_eq!(err.to_string(), "undefined variable `${item.nme}`");
        assert_eq!(err.hint(), None);
        let err = err.suggest_from(["item.name", "item.id"]);
        assert_eq!(err.hint().as_deref(), Some("did you mean `${item.name}`?"));
    }

    #[test]
    fn undefined_positional_is_written_as_the_old_tool_did() {
        let err = with_item("run $ARG", json!(null)).expect_err("undefined");
        assert_eq!(err.to_string(), "undefined variable `$ARG`");
        assert_eq!(err.offset, 4);
    }

    #[test]
    fn first_undefined_wins() {
        let err = with_item("${a} ${b}", json!(null)).expect_err("undefined");
        assert_eq!(err.path.root, "a");
    }

    #[test]
    fn positional_args_render() {
        let template = Template::parse("go $ARG $1 ${2} $ARGS").expect("parses");
        let out = template
            .render(&|path: &VarPath| Some(json!(format!("<{}>", path.root))))
            .expect("renders");
        assert_eq!(out, "go <ARG> <1> <2> $ARGS");
    }

    #[test]
    fn escapes_and_shell_dollars_survive_rendering() {
        assert_eq!(
            render_ok("$${HOME} $HOME $$ $(pwd) ${item}", json!("i")),
            "${HOME} $HOME $$ $(pwd) i"
        );
    }

    #[test]
    fn list_formats() {
        let item = json!({"files": ["src/a.rs", "b.toml", "c.md"], "one": "x y"});
        assert_eq!(
            render_ok("${item.files:newline}", item.clone()),
            "src/a.rs\nb.toml\nc.md"
        );
        assert_eq!(
            render_ok("${item.files:comma}", item.clone()),
            "src/a.rs,b.toml,c.md"
        );
        assert_eq!(
            render_ok("${item.files:json}", item.clone()),
            r#"["src/a.rs","b.toml","c.md"]"#
        );
        assert_eq!(
            render_ok("${item.files:*.rs,*.toml}", item.clone()),
            "src/a.rs b.toml"
        );
        assert_eq!(
            render_ok("${item.files:src/**/*.rs}", item.clone()),
            "src/a.rs"
        );
        assert_eq!(render_ok("${item.files:src/*}", item.clone()), "src/a.rs");
        assert_eq!(render_ok("${item.one:json}", item.clone()), r#""x y""#);
        assert_eq!(render_ok("${item.one:comma}", item.clone()), "x y");
        assert_eq!(
            render_ok("${item.files:comma:sh}", item),
            "'src/a.rs,b.toml,c.md'"
        );
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("*.rs", "src/main.rs"));
        assert!(glob_match("src/**/*.rs", "src/a/b.rs"));
        assert!(
            glob_match("src/**/*.rs", "src/b.rs"),
            "`**/` may match no directory"
        );
        assert!(!glob_match("src/**/*.rs", "srcb.rs"));
        assert!(glob_match("**/x", "a/b/x"));
        assert!(glob_match("a**b", "a/b"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b", "xxaxxbxxc"));
    }

    #[test]
    fn shell_quote_forms() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("''"), r"''\'''\'''");
        assert_eq!(
            shell_quote("$(rm -rf /) `x` \"q\" \n"),
            "'$(rm -rf /) `x` \"q\" \n'"
        );
    }

    /// Undoes POSIX quoting of the shapes `shell_quote` produces.
    fn sh_unquote(quoted: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => loop {
                    match chars.next()? {
                        '\'' => break,
                        inner => out.push(inner),
                    }
                },
                '\\' => out.push(chars.next()?),
                _ => return None,
            }
        }
        Some(out)
    }

    proptest::proptest! {
        #[test]
        fn shell_quote_round_trips(text in ".*") {
            proptest::prop_assert_eq!(sh_unquote(&shell_quote(&text)), Some(text));
        }

        #[test]
        fn glob_never_panics(pattern in "[a*?/.]{0,12}", text in "[ab/.]{0,12}") {
            let _ = glob_match(&pattern, &text);
        }
    }
}
