//! `error_policy`: what failed map items do to the job. `-j 1` runs items in order, so
//! the number of items that started (a side-effect file) shows when the job stopped.

use crate::support::{Output, Test};

/// A map over `items` (true = the item fails) that logs each start, with `policy`.
fn run_policy(items: &[bool], policy: &str) -> Output {
    let items: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, fails)| format!("{{\"n\": {i}, \"fails\": {fails}}}"))
        .collect();
    Test::new()
        .file("items.json", format!("[{}]", items.join(", ")))
        .workflow(&format!(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${{item.n}} >> started.log; test ${{item.fails}} = false
reduce:
  - shell: echo ${{map.total}} ${{map.successful}} ${{map.failed}} > tally.txt
{policy}"
        ))
        .arg("-j1")
        .run_limited()
}

const OK: bool = false;
const BAD: bool = true;

#[test]
fn by_default_every_item_runs_and_failures_exit_three() {
    let output = run_policy(&[OK, BAD, OK, BAD, OK], "");
    output.code(3);
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2", "3", "4"]);
    assert_eq!(output.read("tally.txt"), "5 3 2\n");
}

#[test]
fn on_item_failure_stop_starts_no_new_items() {
    let output = run_policy(
        &[OK, BAD, OK, OK],
        "error_policy:\n  on_item_failure: stop\n",
    );
    output
        .code(1)
        .stderr_has(
            "Cancelled map/item_2: not started: a map item failed and on_item_failure is `stop`",
        )
        .stderr_has("Cancelled map/item_3");
    assert_eq!(output.log_lines("started.log"), ["0", "1"]);
    assert!(
        !output.exists("tally.txt"),
        "reduce ran after the policy stopped the job"
    );
}

#[test]
fn on_item_failure_skip_exits_zero_and_counts_skipped() {
    let output = run_policy(&[OK, BAD, OK], "error_policy:\n  on_item_failure: skip\n");
    output
        .success()
        .stderr_has("Skipped map/item_1: failed and skipped by on_item_failure: skip")
        .stderr_has("3 ran, 0 cached, 0 failed, 1 skipped");
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2"]);
    assert_eq!(
        output.read("tally.txt"),
        "3 2 0\n",
        "a skipped item is not a failure"
    );
}

#[test]
fn max_failures_stops_after_that_many_failed_items() {
    let output = run_policy(
        &[BAD, OK, BAD, BAD, OK],
        "error_policy:\n  max_failures: 2\n",
    );
    output
        .code(1)
        .stderr_has("2 map items failed (max_failures: 2)");
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2"]);
}

#[test]
fn continue_on_failure_false_stops_at_the_first_failed_item() {
    let output = run_policy(
        &[OK, BAD, BAD, OK],
        "error_policy:\n  continue_on_failure: false\n",
    );
    output.code(1).stderr_has("continue_on_failure is false");
    assert_eq!(output.log_lines("started.log"), ["0", "1"]);
}

#[test]
fn the_shortcut_keys_set_the_policy() {
    let output = run_policy(&[BAD, BAD, BAD, OK], "max_failures: 1\n");
    output.code(1);
    assert_eq!(output.log_lines("started.log"), ["0"]);
}

#[test]
fn failure_threshold_stops_a_job_whose_items_keep_failing() {
    let output = run_policy(&[BAD; 10], "error_policy:\n  failure_threshold: 0.5\n");
    output.no_panic();
    assert!(
        matches!(output.code, Some(1 | 3)),
        "exit code {:?}\n{}",
        output.code,
        output.stderr
    );
    let started = output.log_lines("started.log").len();
    assert!(
        (1..10).contains(&started),
        "all {started} items ran at a 100% failure rate\n{}",
        output.stderr
    );
}

#[test]
fn an_open_circuit_breaker_rejects_items_instead_of_starting_them() {
    let policy = "error_policy:\n  circuit_breaker:\n    failure_threshold: 2\n    success_threshold: 1\n    timeout: 60\n";
    let output = run_policy(&[BAD, BAD, BAD, BAD, BAD], policy);
    output.code(3);
    assert_eq!(output.log_lines("started.log"), ["0", "1"]);
}

#[test]
fn on_item_failure_retry_reruns_a_failed_item() {
    let output = Test::new()
        .file("items.json", "[1, 2]")
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${item} >> started.log; test -f seen.${item} || { touch seen.${item}; exit 1; }
error_policy:
  on_item_failure: retry
  retry_config:
    max_attempts: 3
    backoff: {type: fixed, delay: 10}
",
        )
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(
        output.log_lines("started.log").len(),
        4,
        "each item once, then once more"
    );
}
