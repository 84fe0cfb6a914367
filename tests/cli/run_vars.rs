//! Variables at run time: item variables, defaults, shell quoting, `ITEM_*`, arguments
//! and parameters, captures across phases, undefined variables, and masked secrets.

use crate::support::Test;

fn map_over(items: &str, agent: &str) -> Test {
    Test::new().file("items.json", items).workflow(&format!(
        "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: {agent}
"
    ))
}

#[test]
fn scalar_items_are_item() {
    let output = map_over(r#"["red", "green"]"#, "echo ${item} >> items.log")
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("items.log"), ["red", "green"]);
}

#[test]
fn nested_fields_indexes_and_positions_of_items() {
    let items =
        r#"[{"a": {"b": "deep"}, "tags": ["t0", "t1"]}, {"a": {"b": "er"}, "tags": ["u0"]}]"#;
    let agent = "echo ${item.a.b} ${item.tags[0]} ${item_index}/${item_total} >> items.log";
    let output = map_over(items, agent).arg("-j1").run_limited();
    output.success();
    assert_eq!(output.log_lines("items.log"), ["deep t0 0/2", "er u0 1/2"]);
}

#[test]
fn items_are_exported_as_item_env_vars() {
    let items = r#"[{"name": "a b", "count": 2, "file-path": "src/x.rs"}]"#;
    let agent = "echo \"$ITEM_NAME|$ITEM_COUNT|$ITEM_FILE_PATH|$ITEM_INDEX\" > env.txt";
    let output = map_over(items, agent).run_limited();
    output.success();
    assert_eq!(output.read("env.txt"), "a b|2|src/x.rs|0\n");
}

#[test]
fn a_default_is_used_only_when_the_variable_is_undefined() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo set
    capture: present
  - shell: echo ${absent:-fallback} ${present:-unused} > out.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("out.txt"), "fallback set\n");
}

#[test]
fn sh_quoting_keeps_quotes_and_never_runs_command_substitution() {
    let output = Test::new()
        .file("value.txt", "it's $(touch pwned) `touch pwned2`\n")
        .workflow(
            "isolation: none
commands:
  - shell: cat value.txt
    capture: tricky
  - shell: echo ${tricky:sh} > out.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(
        output.read("out.txt"),
        "it's $(touch pwned) `touch pwned2`\n"
    );
    assert!(
        !output.exists("pwned") && !output.exists("pwned2"),
        "the value was executed"
    );
}

#[test]
fn args_fill_arg_and_positional_variables() {
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: echo \"$ARG ${ARG} $2\" > args.txt\n")
        .args(["--args", "first,second"])
        .run_limited();
    output.success();
    assert_eq!(output.read("args.txt"), "first first second\n");
}

#[test]
fn params_from_the_command_line_and_a_file() {
    let output = Test::new()
        .file("params.yml", "who: file-param\ncount: 7\n")
        .workflow("isolation: none\ncommands:\n  - shell: echo ${greeting} ${who} ${count} > params.txt\n")
        .args(["--param", "greeting=hello", "--param-file", "params.yml"])
        .run_limited();
    output.success();
    assert_eq!(output.read("params.txt"), "hello file-param 7\n");
}

#[test]
fn a_param_overrides_the_param_file() {
    let output = Test::new()
        .file("params.json", r#"{"who": "file"}"#)
        .workflow("isolation: none\ncommands:\n  - shell: echo ${who} > who.txt\n")
        .args(["--param-file", "params.json", "--param", "who=flag"])
        .run_limited();
    output.success();
    assert_eq!(output.read("who.txt"), "flag\n");
}

#[test]
fn setup_captures_are_seen_by_map_and_reduce() {
    let output = Test::new()
        .file("items.json", "[1, 2]")
        .workflow(
            "isolation: none
mode: mapreduce
setup:
  - shell: echo v42
    capture: version
map:
  input: items.json
  agent_template:
    - shell: echo ${version}-${item} >> map.log
reduce:
  - shell: echo reduce-${version} > reduce.txt
",
        )
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("map.log"), ["v42-1", "v42-2"]);
    assert_eq!(output.read("reduce.txt"), "reduce-v42\n");
}

#[test]
fn an_undefined_variable_at_run_time_fails_the_step_without_running_it() {
    let output = Test::new()
        .file("meta.json", r#"{"name": "api"}"#)
        .workflow(
            "isolation: none
commands:
  - shell: cat meta.json
    capture: meta
    capture_format: json
  - shell: echo ran >> ran.log; echo ${meta.nmae} > literal.txt
  - shell: echo after > after.txt
",
        )
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed step[1]")
        .stderr_has("undefined variable `${meta.nmae}`")
        .stderr_has("did you mean `${meta.name}`");
    assert!(
        !output.exists("ran.log"),
        "the command ran with the variable left in"
    );
    assert!(!output.exists("literal.txt"));
    assert!(!output.exists("after.txt"));
}

#[test]
fn an_undefined_map_item_field_fails_that_item() {
    let output = map_over(
        r#"[{"name": "a"}, {"title": "b"}]"#,
        "echo ${item.name} >> names.log",
    )
    .arg("-j1")
    .run_limited();
    output
        .code(3)
        .stderr_has("Failed map/item_1")
        .stderr_has("undefined variable `${item.name}`");
    assert_eq!(output.log_lines("names.log"), ["a"]);
}

const SECRET: &str = "hunter2-very-secret";

#[test]
fn secrets_are_masked_on_stderr_and_in_json_files() {
    let output = Test::new()
        .workflow(
            "isolation: none
secrets:
  TOKEN: \"${env.MY_TOKEN}\"
commands:
  - shell: echo \"token is $TOKEN\"; echo \"err $TOKEN\" >&2; test \"$TOKEN\" = hunter2; exit 1
",
        )
        .env("MY_TOKEN", SECRET)
        .args(["--events", "events.jsonl", "--summary-json", "summary.json"])
        .run_limited();
    output
        .code(1)
        .stderr_has("token is ***")
        .stderr_has("err ***")
        .stderr_lacks(SECRET);
    for file in ["events.jsonl", "summary.json"] {
        assert!(
            !output.read(file).contains(SECRET),
            "{file} shows the secret"
        );
    }
}

#[test]
fn secrets_are_masked_in_streamed_output_and_failure_messages() {
    let output = Test::new()
        .workflow(
            "isolation: none
secrets:
  TOKEN: \"${env.MY_TOKEN}\"
commands:
  - shell: echo \"streamed $TOKEN\"
  - shell: echo never
    when: \"${env.TOKEN} ==\"
",
        )
        .env("MY_TOKEN", SECRET)
        .args(["-v", "--events", "events.jsonl"])
        .run_limited();
    output
        .code(1)
        .stderr_has("streamed ***")
        .stderr_has("cannot evaluate condition `*** ==`")
        .stderr_lacks(SECRET);
    assert!(!output.read("events.jsonl").contains(SECRET));
}
