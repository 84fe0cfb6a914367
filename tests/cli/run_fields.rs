//! Step fields that change what a step does: `env`, `working_dir`, `capture` in each
//! `capture_format`, `capture_streams`, `output_file`, `on_success`, `on_exit_code` and
//! `commit_required`.

use crate::support::Test;

#[test]
fn workflow_env_step_env_and_os_env_reach_commands() {
    let output = Test::new()
        .workflow(
            "isolation: none
env:
  GREETING: hello
  WHO: workflow
env_passthrough:
  - PASSED_IN
commands:
  - shell: echo \"$GREETING $WHO ${env.GREETING} $FROM_OS ${env.FROM_OS} $PASSED_IN\" > env.txt
    env:
      WHO: step
",
        )
        .env("FROM_OS", "os-value")
        .env("PASSED_IN", "passed")
        .run_limited();
    output.success();
    assert_eq!(
        output.read("env.txt"),
        "hello step hello os-value os-value passed\n"
    );
}

#[test]
fn step_env_values_are_interpolated() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo captured
    capture: word
  - shell: echo \"$DERIVED\" > derived.txt
    env:
      DERIVED: \"${word}-suffix\"
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("derived.txt"), "captured-suffix\n");
}

#[test]
fn working_dir_runs_the_command_in_that_directory() {
    let output = Test::new()
        .file("sub/dir/marker", "")
        .workflow(
            "isolation: none\ncommands:\n  - shell: ls > listing.txt\n    working_dir: sub/dir\n",
        )
        .run_limited();
    output.success();
    assert!(!output.exists("listing.txt"), "ran in the root");
    assert_eq!(output.read("sub/dir/listing.txt"), "listing.txt\nmarker\n");
}

#[test]
fn capture_formats_parse_the_output() {
    let output = Test::new()
        .file(
            "meta.json",
            r#"{"name": "api", "owner": {"team": "core"}, "tags": ["x", "y"]}"#,
        )
        .workflow(
            r#"isolation: none
commands:
  - shell: echo "  padded text  "
    capture: text
    capture_format: string
  - shell: echo 41
    capture: count
    capture_format: number
  - shell: cat meta.json
    capture: meta
    capture_format: json
  - shell: printf 'first\nsecond\nthird\n'
    capture: lines
    capture_format: lines
  - shell: echo true
    capture: flag
    capture_format: boolean
  - shell: echo "[${text}] ${meta.name} ${meta.owner.team} ${meta.tags[1]} ${lines[1]}" > values.txt
  - shell: echo bigger > bigger.txt
    when: "${count} > 40 && ${flag}"
  - shell: echo smaller > smaller.txt
    when: "${count} > 100"
"#,
        )
        .run_limited();
    output.success();
    assert_eq!(
        output.read("values.txt"),
        "[padded text] api core y second\n"
    );
    assert!(
        output.exists("bigger.txt"),
        "number/boolean captures did not compare"
    );
    assert!(!output.exists("smaller.txt"), "41 > 100 was true");
}

#[test]
fn a_capture_that_does_not_parse_fails_the_step() {
    let output = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - shell: echo not-a-number\n    capture: n\n    capture_format: number\n  - shell: echo after > after.txt\n",
        )
        .run_limited();
    output.code(1).stderr_has("`not-a-number` is not a number");
    assert!(!output.exists("after.txt"));
}

#[test]
fn capture_streams_stderr_captures_standard_error() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo to-stdout; echo to-stderr >&2
    capture: err
    capture_streams: stderr
  - shell: echo \"${err}\" > err.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("err.txt"), "to-stderr\n");
}

#[test]
fn capture_records_the_exit_code() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo fine
    capture: good
  - shell: echo partial; exit 3
    capture: bad
    on_failure: true
  - shell: echo \"${good.exit_code} ${bad.exit_code} ${bad}\" > codes.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("codes.txt"), "0 3 partial\n");
}

#[test]
fn output_file_receives_the_output() {
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: printf 'line 1\\nline 2\\n'\n    output_file: captured.txt\n")
        .run_limited();
    output.success();
    assert_eq!(output.read("captured.txt"), "line 1\nline 2\n");
}

#[test]
fn on_success_runs_only_after_success() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: \"true\"
    on_success:
      shell: echo yes > after-success.txt
  - shell: exit 1
    on_success:
      shell: echo wrong > after-failure.txt
",
        )
        .run_limited();
    output.code(1);
    assert!(output.exists("after-success.txt"), "on_success did not run");
    assert!(
        !output.exists("after-failure.txt"),
        "on_success ran after a failure"
    );
}

#[test]
fn on_exit_code_runs_the_handler_for_that_code() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: exit 3
    on_exit_code:
      3:
        shell: echo three > three.txt
      4:
        shell: echo four > four.txt
",
        )
        .run_limited();
    assert!(
        output.exists("three.txt"),
        "the handler for 3 did not run\n{}",
        output.stderr
    );
    assert!(!output.exists("four.txt"), "the handler for 4 ran");
}

const COMMIT: &str =
    "git -c user.name=t -c user.email=t@example.com commit --quiet --allow-empty -m step";

#[test]
fn commit_required_passes_when_the_step_commits() {
    Test::new()
        .workflow(&format!(
            "isolation: none\ncommands:\n  - shell: {COMMIT}\n    commit_required: true\n"
        ))
        .run_limited()
        .success();
}

#[test]
fn commit_required_fails_a_step_that_makes_no_commit() {
    let output = Test::new()
        .workflow(&format!(
            "isolation: none
commands:
  - shell: {COMMIT}
  - shell: echo no commit here
    commit_required: true
  - shell: echo after > after.txt
"
        ))
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed step[1]")
        .stderr_has("commit_required is set, but the step made no commit");
    assert!(!output.exists("after.txt"));
}

#[test]
fn allow_failure_continues_and_keeps_the_exit_code() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: exit 3
    allow_failure: true
  - shell: echo ${last.exit_code} > code.txt
",
        )
        .run_limited();
    output
        .success()
        .stderr_has("Warning step[0]: allowed failure: exit code 3");
    assert_eq!(output.read("code.txt"), "3\n");
}
