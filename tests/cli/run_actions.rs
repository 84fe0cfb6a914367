//! The step actions besides shell and claude: `foreach` (list, command input, parallel,
//! continue_on_error, max_items) and `write_file` (text, json, yaml, mode, create_dirs).

use crate::support::Test;

#[test]
fn foreach_runs_the_steps_for_each_listed_value() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - foreach:
      foreach: [api, web, worker]
      do:
        - shell: echo ${item} ${item_index} ${item_total} >> each.log
",
        )
        .run_limited();
    output.success();
    assert_eq!(
        output.log_lines("each.log"),
        ["api 0 3", "web 1 3", "worker 2 3"]
    );
}

#[test]
fn foreach_takes_its_values_from_a_command() {
    let output = Test::new()
        .file("dirs/alpha/x", "")
        .file("dirs/beta/x", "")
        .workflow(
            "isolation: none
commands:
  - foreach:
      input: ls dirs
      do:
        - shell: echo ${item} >> each.log
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("each.log"), ["alpha", "beta"]);
}

#[test]
fn foreach_max_items_limits_the_values() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - foreach:
      foreach: [a, b, c, d]
      max_items: 2
      do:
        - shell: echo ${item} >> each.log
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("each.log"), ["a", "b"]);
}

/// Each value starts, then waits (at most 5 s) until three have started.
const RENDEZVOUS: &str = "#!/bin/sh
touch started.$1
i=0
while [ $(ls started.* | wc -l) -lt 3 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ls started.* | wc -l | tr -d ' ' > seen.$1
";

#[test]
fn foreach_parallel_runs_values_at_the_same_time() {
    let output = Test::new()
        .file("rendezvous.sh", RENDEZVOUS)
        .workflow(
            "isolation: none
commands:
  - foreach:
      foreach: [a, b, c]
      parallel: 3
      do:
        - shell: sh rendezvous.sh ${item}
",
        )
        .run_limited();
    output.success();
    for value in ["a", "b", "c"] {
        assert_eq!(
            output.read(&format!("seen.{value}")),
            "3\n",
            "`{value}` ran alone"
        );
    }
}

const MIXED: &str = "      foreach: [a, bad, c]
      do:
        - shell: test ${item} != bad && echo ${item} >> each.log
  - shell: echo after > after.txt
";

#[test]
fn foreach_stops_at_a_failed_value() {
    let output = Test::new()
        .workflow(&format!(
            "isolation: none\ncommands:\n  - foreach:\n{MIXED}"
        ))
        .run_limited();
    output.code(1).stderr_has("Failed step[0]");
    assert_eq!(output.log_lines("each.log"), ["a"]);
    assert!(!output.exists("after.txt"));
}

#[test]
fn foreach_continue_on_error_runs_the_remaining_values() {
    let output = Test::new()
        .workflow(&format!(
            "isolation: none\ncommands:\n  - foreach:\n      continue_on_error: true\n{MIXED}"
        ))
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("each.log"), ["a", "c"]);
    assert!(output.exists("after.txt"));
}

#[test]
fn write_file_writes_interpolated_text() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo world
    capture: who
  - write_file:
      path: hello.txt
      content: \"hello ${who}\\n\"
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("hello.txt"), "hello world\n");
}

#[test]
fn write_file_pretty_prints_json() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - write_file:
      path: settings.json
      content: '{\"debug\": true, \"ports\": [1, 2]}'
      format: json
",
        )
        .run_limited();
    output.success();
    assert_eq!(
        output.read("settings.json"),
        "{\n  \"debug\": true,\n  \"ports\": [\n    1,\n    2\n  ]\n}\n"
    );
}

#[test]
fn write_file_checks_json_content() {
    let output = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - write_file:\n      path: bad.json\n      content: '{not json'\n      format: json\n",
        )
        .run_limited();
    output.code(1).stderr_has("content is not JSON");
    assert!(!output.exists("bad.json"));
}

#[test]
fn write_file_writes_yaml_and_rejects_broken_yaml() {
    let good = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - write_file:\n      path: config.yaml\n      content: \"debug: true\\nlevel: 3\\n\"\n      format: yaml\n",
        )
        .run_limited();
    good.success();
    assert_eq!(good.read("config.yaml"), "debug: true\nlevel: 3\n");
    let bad = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - write_file:\n      path: config.yaml\n      content: \"a: [1, 2\\n\"\n      format: yaml\n",
        )
        .run_limited();
    bad.code(1).stderr_has("content is not YAML");
    assert!(!bad.exists("config.yaml"));
}

#[test]
fn write_file_sets_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let output = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - write_file:\n      path: secret.txt\n      content: s3cr3t\n      mode: \"0600\"\n",
        )
        .run_limited();
    output.success();
    let mode = std::fs::metadata(output.abs("secret.txt"))
        .expect("secret.txt")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn write_file_create_dirs_makes_the_parents() {
    let flow = |create: bool| {
        format!(
            "isolation: none\ncommands:\n  - write_file:\n      path: deep/er/file.txt\n      content: x\n      create_dirs: {create}\n"
        )
    };
    let with = Test::new().workflow(&flow(true)).run_limited();
    with.success();
    assert_eq!(with.read("deep/er/file.txt"), "x");
    let without = Test::new().workflow(&flow(false)).run_limited();
    without.code(1).stderr_has("write_file `deep/er/file.txt`");
}

#[test]
fn write_file_outside_the_root_is_rejected_before_running() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo ran > ran.txt
  - write_file:
      path: ../prodigy-escape-4711.txt
      content: x
",
        )
        .run_limited();
    output.code(2).stderr_has("../prodigy-escape-4711.txt");
    assert!(
        !output.exists("ran.txt"),
        "steps ran before the invalid write_file"
    );
    assert!(!output.exists("../prodigy-escape-4711.txt"));
}
