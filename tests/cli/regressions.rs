//! Regression tests, each named after what broke.

use crate::support::Test;

#[test]
fn a_parallel_branch_does_not_write_back_stale_captures() {
    // `b` re-captures `x` while `c` (started with the old `x`) runs beside it; `d` must
    // see `b`'s value, not `c`'s stale copy.
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - id: a
    shell: echo one
    capture: x
  - id: b
    needs: [a]
    shell: echo two
    capture: x
  - id: c
    needs: [a]
    shell: sleep 0.3
  - id: d
    needs: [b, c]
    shell: echo x=${x} > d.txt
",
        )
        .arg("-j3")
        .run_limited();
    output.success();
    assert_eq!(output.read("d.txt"), "x=two\n");
}

#[test]
fn a_foreach_in_an_agent_template_gives_the_map_item_back() {
    let output = Test::new()
        .file("items.json", r#"[{"n": 7}]"#)
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - foreach:
        foreach: [a, b]
        do:
          - shell: echo ${item} >> loop.txt
    - shell: echo n=${item.n} > after.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("loop.txt"), "a\nb\n");
    assert_eq!(output.read("after.txt"), "n=7\n");
}

#[test]
fn one_early_failure_does_not_trip_failure_threshold() {
    // 1 of 6 items fails first; judged over a sample, 17% is under the 50% threshold.
    let output = Test::new()
        .file("items.json", "[1, 2, 3, 4, 5, 6]")
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  max_parallel: 1
  agent_template:
    - shell: echo ${item} >> ran.txt; test ${item} -ne 1
error_policy:
  failure_threshold: 0.5
",
        )
        .run_limited();
    output.code(3).stderr_lacks("Cancelled");
    assert_eq!(output.log_lines("ran.txt").len(), 6);
}

#[test]
fn a_when_with_a_single_ampersand_is_an_error_not_a_hang() {
    Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: echo hi\n    when: \"a & b\"\n")
        .run_limited()
        .code(1)
        .stderr_has("unexpected `&`");
}

#[test]
fn a_secret_in_a_skipped_items_reason_is_masked() {
    let output = Test::new()
        .file("items.json", "[1]")
        .env("MY_TOKEN", "hunter2secret")
        .workflow(
            "isolation: none
mode: mapreduce
secrets:
  TOKEN: \"${env.MY_TOKEN}\"
map:
  input: items.json
  agent_template:
    - shell: echo ${TOKEN}
      capture: n
      capture_format: number
error_policy:
  on_item_failure: skip
",
        )
        .arg("--summary-json")
        .arg("summary.json")
        .run_limited();
    output.success().stderr_lacks("hunter2secret");
    assert!(!output.read("summary.json").contains("hunter2secret"));
}

#[test]
fn dlq_retry_runs_items_with_the_jobs_arguments_and_setup_captures() {
    let first = Test::new()
        .file("items.json", "[1, 2]")
        .file("broken-2", "")
        .workflow(
            "name: rt
isolation: none
mode: mapreduce
setup:
  - shell: echo from-setup
    capture: prefix
map:
  input: items.json
  agent_template:
    - shell: test ! -f broken-${item} && echo ${prefix} ${ARG} ${item} >> done.txt
",
        )
        .args(["--args", "A1"])
        .run_limited();
    first.code(3);
    let job = first.job_id();
    std::fs::remove_file(first.abs("broken-2")).expect("remove broken-2");
    let retry = first.next().args(["dlq", "retry", &job]).run_limited();
    retry.success();
    assert_eq!(retry.read("done.txt"), "from-setup A1 1\nfrom-setup A1 2\n");
}

#[test]
fn retries_falling_due_together_respect_the_job_limit() {
    // Three items fail at once, then their retries fall due together: with -j1 they must
    // still run one at a time.
    let output = Test::new()
        .file("items.json", r#"["a", "b", "c"]"#)
        .file(
            "attempt.sh",
            "#!/bin/sh\nn=$(cat count.$1 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > count.$1\n\
             echo \"START $1 $(date +%s%N)\" >> trials.log\nsleep 0.2\necho \"END $1 $(date +%s%N)\" >> trials.log\n\
             test $n -gt 1\n",
        )
        .workflow(
            "name: limit
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: sh attempt.sh ${item}
error_policy:
  retry_config:
    max_attempts: 2
    backoff: {type: fixed, delay: 50}
",
        )
        .arg("-j1")
        .run_limited();
    output.success();
    let runs = crate::support::intervals(&output.log_lines("trials.log"));
    assert_eq!(runs.len(), 6, "{runs:?}");
    assert_eq!(crate::support::max_overlap(&runs), 1, "{runs:?}");
}
