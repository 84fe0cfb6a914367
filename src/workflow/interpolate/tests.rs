//! Tests of the template syntax through the public API: each form, offsets,
//! errors, and properties over arbitrary text.

use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> Template {
    Template::parse(text).expect("template parses")
}

fn error(text: &str) -> InterpolateError {
    Template::parse(text).expect_err("template is invalid")
}

fn only_var(text: &str) -> VarRef {
    let template = parse(text);
    let vars: Vec<&VarRef> = template.vars().collect();
    assert_eq!(vars.len(), 1, "{text}: {vars:?}");
    vars[0].clone()
}

fn path(text: &str) -> VarPath {
    VarPath::parse(text).expect("path parses")
}

/// Renders with every variable as `<path>`, to show how text was split.
fn shape(text: &str) -> String {
    parse(text)
        .render(&|path: &VarPath| Some(serde_json::Value::String(format!("<{path}>"))))
        .expect("all defined")
}

#[test]
fn simple_name() {
    let var = only_var("echo ${name}");
    assert_eq!(var.path, VarPath::root("name"));
    assert_eq!((var.offset, var.len), (5, 7));
    assert_eq!(var.default, None);
    assert!(!var.shell_quote);
}

#[test]
fn dotted_and_indexed_paths() {
    let var = only_var("${item.a[2].b}");
    assert_eq!(var.path.root, "item");
    assert_eq!(
        var.path.segments,
        [
            Segment::Field("a".into()),
            Segment::Index(2),
            Segment::Field("b".into())
        ]
    );
    assert_eq!(var.path.to_string(), "item.a[2].b");
    assert_eq!(only_var("${a.b.c}").path.to_string(), "a.b.c");
    assert_eq!(only_var("${item.tags[0]}").path.to_string(), "item.tags[0]");
    assert_eq!(
        only_var("${m[0][1]}").path.segments,
        [Segment::Index(0), Segment::Index(1)]
    );
    assert_eq!(only_var("${_a-b_2.c-d}").path.to_string(), "_a-b_2.c-d");
}

#[test]
fn defaults() {
    let var = only_var("${name:-default text}");
    assert_eq!(var.default.as_deref(), Some("default text"));
    assert_eq!(only_var("${name:-}").default.as_deref(), Some(""));
    assert_eq!(
        only_var("${x:-a:b:-c $HOME}").default.as_deref(),
        Some("a:b:-c $HOME")
    );
    assert_eq!(
        only_var("${x:-:sh}").default.as_deref(),
        Some(":sh"),
        "`:-` ends the modifiers"
    );
    assert!(!only_var("${x:-:sh}").shell_quote);
}

#[test]
fn shell_quote_and_its_combinations() {
    assert!(only_var("${name:sh}").shell_quote);
    let var = only_var("${item.x:sh:-none}");
    assert!(var.shell_quote);
    assert_eq!(var.default.as_deref(), Some("none"));
    let var = only_var("${f:json:sh}");
    assert!(var.shell_quote);
    assert_eq!(var.format, Some(ListFormat::Json));
    assert_eq!(only_var("${f:sh:comma}").format, Some(ListFormat::Comma));
}

#[test]
fn list_formats() {
    assert_eq!(only_var("${f:newline}").format, Some(ListFormat::Newline));
    assert_eq!(
        only_var("${step.files_added:*.rs,src/**/*.toml}").format,
        Some(ListFormat::Glob(vec![
            "*.rs".into(),
            "src/**/*.toml".into()
        ]))
    );
}

#[test]
fn positional_args() {
    let template = parse("$ARG x $1 $9");
    let vars: Vec<_> = template
        .vars()
        .map(|v| (v.path.root.as_str(), v.offset, v.len))
        .collect();
    assert_eq!(vars, [("ARG", 0, 4), ("1", 7, 2), ("9", 10, 2)]);
    assert!(template.vars().all(|v| v.path.is_positional()));
    assert_eq!(only_var("${ARG}").path, VarPath::root("ARG"));
    assert_eq!(only_var("${3:-x}").path, VarPath::root("3"));
    assert_eq!(shape("a$ARG.b $ARG-x \"$1\""), "a<ARG>.b <ARG>-x \"<1>\"");
}

#[test]
fn positional_forms_need_a_word_boundary() {
    for text in [
        "$ARGS", "$ARG_X", "$ARGa", "$10", "$1x", "$1_", "$0", "$AR", "$arg",
    ] {
        assert!(parse(text).is_literal(), "{text}");
        assert_eq!(shape(text), text);
    }
}

#[test]
fn shell_syntax_is_left_alone() {
    for text in [
        "$HOME", "$name", "$(cmd)", "$$", "$", "a $ b", "$((1+2))", "$?", "\\$HOME", "$@ $* $#",
        "{}", "}",
    ] {
        let template = parse(text);
        assert!(template.is_literal(), "{text}");
        assert_eq!(shape(text), text);
    }
}

#[test]
fn dollar_dollar_brace_is_a_literal_dollar_brace() {
    let template = parse("echo $${HOME} $${x");
    assert!(template.is_literal());
    assert_eq!(shape("echo $${HOME} $${x"), "echo ${HOME} ${x");
    assert_eq!(
        shape("$$${x}"),
        "$$<x>",
        "left to right: `$$` then the variable"
    );
    assert_eq!(shape("$$$$"), "$$$$");
    assert_eq!(shape("$${ARG}"), "${ARG}");
}

#[test]
fn backslash_is_not_an_escape() {
    assert_eq!(shape(r"\${x}"), r"\<x>");
}

#[test]
fn offsets_count_chars_not_bytes() {
    let template = parse("héllo → ${a} ünd ${b.c[1]:sh}");
    let vars: Vec<_> = template.vars().map(|v| (v.offset, v.len)).collect();
    assert_eq!(vars, [(8, 4), (17, 12)]);
    assert_eq!(error("é ${").offset(), 2);
}

#[test]
fn vars_in_order_and_is_literal() {
    let template = parse("${a} and ${b} then $1 ${a}");
    let roots: Vec<_> = template.vars().map(|v| v.path.root.as_str()).collect();
    assert_eq!(roots, ["a", "b", "1", "a"]);
    assert!(!template.is_literal());
    assert!(parse("").is_literal());
    assert!(parse("plain text").is_literal());
}

#[test]
fn unterminated() {
    assert_eq!(
        error("echo ${name"),
        InterpolateError::Unterminated { offset: 5 }
    );
    assert_eq!(error("${"), InterpolateError::Unterminated { offset: 0 });
    assert_eq!(error("${a} ${b").offset(), 5);
    assert_eq!(
        error("${a").to_string(),
        "unterminated `${`: no closing `}`"
    );
}

#[test]
fn empty() {
    assert_eq!(error("x ${}"), InterpolateError::Empty { offset: 2 });
    assert_eq!(error("${}").to_string(), "empty variable reference `${}`");
}

#[test]
fn bad_names_point_at_the_character() {
    assert_eq!(
        error("${a b}"),
        InterpolateError::Expected {
            offset: 3,
            expected: "`.`, `[`, `:` or `}`",
            found: Some(' ')
        }
    );
    assert_eq!(
        error("${ a}"),
        InterpolateError::Expected {
            offset: 2,
            expected: "a variable name",
            found: Some(' ')
        }
    );
    assert_eq!(
        error("${a.}"),
        InterpolateError::Expected {
            offset: 4,
            expected: "a field name after `.`",
            found: None
        }
    );
    assert_eq!(error("${a..b}").offset(), 4);
    assert_eq!(error("${item.0}").offset(), 7);
    assert_eq!(error("${10}").offset(), 2);
    assert_eq!(error("${1a}").offset(), 2);
    assert_eq!(error("${-a}").offset(), 2);
    assert_eq!(error("${a{b}").offset(), 3);
    assert_eq!(error("${a[0]b}").offset(), 6);
    assert_eq!(
        error("${a b}").to_string(),
        "expected `.`, `[`, `:` or `}` in variable reference, found ` `"
    );
    assert_eq!(
        error("${a.}").to_string(),
        "expected a field name after `.` in variable reference, found the end of the reference"
    );
}

#[test]
fn bad_indexes() {
    for (text, inner) in [
        ("${a[]}", ""),
        ("${a[x]}", "x"),
        ("${a[-1]}", "-1"),
        ("${a[ 1]}", " 1"),
    ] {
        assert_eq!(
            error(text),
            InterpolateError::InvalidIndex {
                offset: 3,
                text: inner.into()
            },
            "{text}"
        );
    }
    assert_eq!(error("${a[99999999999999999999999]}").offset(), 3);
    assert_eq!(
        error("${a[1}"),
        InterpolateError::InvalidIndex {
            offset: 3,
            text: "1".into()
        }
    );
    assert_eq!(
        error("${a[x]}").to_string(),
        "invalid index `[x]`: expected a non-negative integer"
    );
}

#[test]
fn bad_modifiers() {
    assert_eq!(
        error("${a:shell}"),
        InterpolateError::UnknownModifier {
            offset: 3,
            modifier: "shell".into()
        }
    );
    assert_eq!(
        error("${a:}"),
        InterpolateError::UnknownModifier {
            offset: 3,
            modifier: String::new()
        }
    );
    assert_eq!(error("${a:sh:}").offset(), 6);
    assert_eq!(
        error("${a:sh:sh}"),
        InterpolateError::ConflictingModifier {
            offset: 6,
            modifier: "sh".into()
        }
    );
    assert_eq!(error("${a:json:comma}").offset(), 8);
    assert_eq!(error("${a:foo}").to_string(), "unknown modifier `:foo`");
}

#[test]
fn defaults_cannot_nest() {
    // The first `}` closes the reference, so the default is `${b`.
    assert_eq!(
        error("${a:-${b}}"),
        InterpolateError::NestedDefault { offset: 5 }
    );
    assert_eq!(error("${a:-x$${b}").offset(), 7);
}

#[test]
fn every_error_has_a_hint() {
    for text in [
        "${",
        "${}",
        "${ }",
        "${a[x]}",
        "${a:x}",
        "${a:sh:sh}",
        "${a:-${b}",
    ] {
        assert!(!error(text).hint().is_empty(), "{text}");
    }
}

#[test]
fn bare_paths() {
    assert_eq!(path("item.tags[0]").to_string(), "item.tags[0]");
    assert_eq!(path("ARG"), VarPath::root("ARG"));
    assert_eq!(VarPath::parse("a b").expect_err("space").offset(), 1);
    assert_eq!(VarPath::parse("a:sh").expect_err("modifier").offset(), 1);
    assert_eq!(VarPath::parse("").expect_err("empty").offset(), 0);
}

#[test]
fn get_in_walks_values() {
    let value = serde_json::json!({"a": [{"b": 1}, {"b": [true]}]});
    assert_eq!(
        path("x.a[1].b[0]").get_in(&value),
        Some(&serde_json::json!(true))
    );
    assert_eq!(path("x").get_in(&value), Some(&value));
    assert_eq!(path("x.a[2]").get_in(&value), None);
    assert_eq!(path("x.a.b").get_in(&value), None);
    assert_eq!(path("x[0]").get_in(&value), None);
}

proptest! {
    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let _ = Template::parse(&text);
        let _ = VarPath::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_template_like_text(text in r"[$\{\}\[\]:\-.a-z0-9AGRs_ é]{0,40}") {
        let len = text.chars().count();
        match Template::parse(&text) {
            Ok(template) => {
                for var in template.vars() {
                    prop_assert!(var.offset + var.len <= len);
                    prop_assert_eq!(text.chars().nth(var.offset), Some('$'));
                }
                let _ = template.render(&|_: &VarPath| None);
                let _ = template.render(&|_: &VarPath| Some(serde_json::json!([1, "a'b"])));
            }
            Err(err) => prop_assert!(err.offset() <= len),
        }
    }

    #[test]
    fn text_without_dollar_is_literal(text in "[^$]*") {
        let template = Template::parse(&text).expect("no `$`, no syntax");
        prop_assert!(template.is_literal());
        prop_assert_eq!(template.render(&|_: &VarPath| None).expect("literal"), text);
    }

    #[test]
    fn escaped_text_renders_to_itself(text in "[^$]*") {
        // `$${` + text without `}`... is always literal `${` + text.
        let escaped = format!("$${{{text}");
        let template = Template::parse(&escaped).expect("escape parses");
        prop_assert_eq!(template.render(&|_: &VarPath| None).expect("literal"), format!("${{{text}"));
    }
}
