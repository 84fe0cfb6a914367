//! Recovering from failures: every `on_failure` form, step `retry` with a backoff, and
//! `validate` with `on_incomplete` repairs. Attempts are counted in files.

use crate::support::Test;

/// Appends to `attempts.log`, then succeeds only once `fixed` exists.
const NEEDS_FIX: &str = "echo try >> attempts.log; test -f fixed";

/// Fails until it has run `n` times (a counter file), then succeeds.
fn flaky(n: u32) -> String {
    format!(
        "#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > count\ntest $n -ge {n}\n"
    )
}

#[test]
fn a_string_handler_runs_and_the_step_still_fails() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: exit 1
    on_failure: \"echo handled >> handler.log\"
  - shell: echo after > after.txt
",
        )
        .run_limited();
    output.code(1).stderr_has("Failed step[0]");
    assert_eq!(output.log_lines("handler.log"), ["handled"]);
    assert!(
        !output.exists("after.txt"),
        "the workflow went on after an unrecovered failure"
    );
}

#[test]
fn a_list_handler_runs_every_command_in_order() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: exit 1
    on_failure:
      - \"echo first >> handler.log\"
      - shell: echo second >> handler.log
",
        )
        .run_limited();
    output.code(1);
    assert_eq!(output.log_lines("handler.log"), ["first", "second"]);
}

#[test]
fn a_handler_that_fixes_the_problem_makes_the_rerun_pass() {
    let output = Test::new()
        .workflow(&format!(
            "isolation: none
commands:
  - shell: {NEEDS_FIX}
    on_failure:
      shell: touch fixed
      max_attempts: 3
  - shell: echo after > after.txt
"
        ))
        .run_limited();
    output.success().stderr_has("Ran step[0]");
    assert_eq!(
        output.log_lines("attempts.log").len(),
        2,
        "the original run and one re-run"
    );
    assert!(output.exists("after.txt"));
}

#[test]
fn max_attempts_bounds_the_handler_and_reruns() {
    let output = Test::new()
        .workflow(&format!(
            "isolation: none
commands:
  - shell: {NEEDS_FIX}
    on_failure:
      shell: echo fix >> handler.log
      max_attempts: 3
      fail_workflow: true
"
        ))
        .run_limited();
    output.code(1).stderr_has("Failed step[0]");
    assert_eq!(output.log_lines("handler.log").len(), 3);
    assert_eq!(
        output.log_lines("attempts.log").len(),
        4,
        "the original run and three re-runs"
    );
}

#[test]
fn fail_workflow_false_lets_the_workflow_continue() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: exit 1
    on_failure:
      shell: echo handled >> handler.log
      max_attempts: 1
      fail_workflow: false
  - shell: echo after > after.txt
",
        )
        .run_limited();
    output.success().stderr_has("Warning step[0]");
    assert_eq!(output.log_lines("handler.log"), ["handled"]);
    assert!(output.exists("after.txt"));
}

#[test]
fn on_failure_true_ignores_the_failure() {
    let output = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - shell: exit 4\n    on_failure: true\n  - shell: echo after > after.txt\n",
        )
        .run_limited();
    output
        .success()
        .stderr_has("Warning step[0]")
        .stderr_has("exit code 4");
    assert!(output.exists("after.txt"));
}

#[test]
fn on_failure_false_does_not_recover() {
    let output = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - shell: exit 4\n    on_failure: false\n  - shell: echo after > after.txt\n",
        )
        .run_limited();
    output.code(1);
    assert!(!output.exists("after.txt"));
}

#[test]
fn the_handler_sees_the_failed_output() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo broken-build; exit 1
    on_failure:
      shell: echo \"${shell.output}\" > seen.txt
      fail_workflow: false
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("seen.txt"), "broken-build\n");
}

#[test]
fn retry_reruns_a_flaky_command_until_it_passes() {
    let output = Test::new()
        .file("flaky.sh", flaky(3))
        .workflow(
            "isolation: none
commands:
  - shell: sh flaky.sh
    retry:
      attempts: 3
      backoff: {type: fixed, delay: 10}
  - shell: echo after > after.txt
",
        )
        .run_limited();
    output
        .success()
        .stderr_has("Retrying step[0]: attempt 2 in 0.0s after: exit code 1")
        .stderr_has("Retrying step[0]: attempt 3");
    assert_eq!(output.read("count"), "3\n");
    assert!(output.exists("after.txt"));
}

#[test]
fn retry_gives_up_after_its_attempts() {
    let output = Test::new()
        .file("flaky.sh", flaky(5))
        .workflow(
            "isolation: none
commands:
  - shell: sh flaky.sh
    retry:
      attempts: 2
      backoff: {type: fixed, delay: 10}
",
        )
        .run_limited();
    output.code(1).stderr_has("Failed step[0]");
    assert_eq!(output.read("count"), "2\n");
}

#[test]
fn retry_does_not_retry_an_undefined_variable() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo try >> attempts.log; echo ${nope:-x} ${missing}
    retry:
      attempts: 3
      backoff: {type: fixed, delay: 10}
",
        )
        .run_limited();
    output
        .code(1)
        .stderr_has("undefined variable `${missing}`")
        .stderr_lacks("Retrying");
    assert!(output.log_lines("attempts.log").is_empty());
}

/// Writes `result.json` with the completion percentage stored in `pct`.
const VALIDATE: &str = "#!/bin/sh\necho check >> checks.log\nprintf '{\"completion_percentage\": %s, \"gaps\": [\"docs\"]}' \"$(cat pct)\" > result.json\n";

fn validated(repair: &str) -> String {
    format!(
        "isolation: none
commands:
  - shell: echo 50 > pct
    validate:
      shell: sh validate.sh
      result_file: result.json
      threshold: 90
      on_incomplete:
        shell: {repair}
        max_attempts: 2
  - shell: echo after > after.txt
"
    )
}

#[test]
fn on_incomplete_repairs_until_validation_passes() {
    let output = Test::new()
        .file("validate.sh", VALIDATE)
        .workflow(&validated("echo repair >> repairs.log; echo 95 > pct"))
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("repairs.log").len(), 1);
    assert_eq!(output.log_lines("checks.log").len(), 2);
    assert!(output.exists("after.txt"));
}

#[test]
fn validation_below_the_threshold_fails_after_the_repairs() {
    let output = Test::new()
        .file("validate.sh", VALIDATE)
        .workflow(&validated("echo repair >> repairs.log; echo 60 > pct"))
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed step[0]")
        .stderr_has("validation reached 60% of the required 90%");
    assert_eq!(output.log_lines("repairs.log").len(), 2, "max_attempts: 2");
    assert!(!output.exists("after.txt"));
}

#[test]
fn a_missing_command_is_not_retried() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo try >> attempts.log; no-such-command-4711
    retry: {attempts: 3, backoff: {type: fixed, delay: 10}}
",
        )
        .run_limited();
    output
        .code(1)
        .stderr_has("exit code 127")
        .stderr_lacks("Retrying");
    assert_eq!(output.log_lines("attempts.log").len(), 1);
}

#[test]
fn a_fatal_failure_says_it_is_not_retried() {
    Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: no-such-command-4711\n    retry: 3\n")
        .run_limited()
        .code(1)
        .stderr_has("not retried");
}

#[test]
fn a_failed_step_reports_its_own_output_not_the_handlers() {
    Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - shell: echo original-output; exit 1\n    on_failure: \"echo handler-output\"\n",
        )
        .run_limited()
        .code(1)
        .stderr_has("          | original-output\n");
}
