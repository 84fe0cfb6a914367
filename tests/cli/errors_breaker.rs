//! `error_policy.circuit_breaker`: consecutive failures open it; while it is open no item
//! starts (rejected items go to the DLQ as `circuit_open`); after `timeout` seconds it is
//! half-open and lets `half_open_requests` trial items run at once; `success_threshold`
//! successful trials close it. Executions are counted in side-effect files.

use crate::support::{Output, Test, intervals, max_overlap};

/// Logs `<n> <ns>` to `started.log`, then fails when the item's `fails` is true.
fn breaker_run(items: &[bool], breaker: &str) -> Output {
    let items: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(n, fails)| format!("{{\"n\": {n}, \"fails\": {fails}}}"))
        .collect();
    Test::new()
        .file("items.json", format!("[{}]", items.join(", ")))
        .workflow(&format!(
            "name: breaker
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${{item.n}} >> started.log; test -f fixed || test ${{item.fails}} = false
error_policy:
  circuit_breaker:
{breaker}"
        ))
        .arg("-j1")
        .run_limited()
}

const OK: bool = false;
const BAD: bool = true;

#[test]
fn an_open_breaker_starts_no_item_and_rejects_them_as_circuit_open() {
    let output = breaker_run(
        &[BAD, BAD, OK, OK, OK],
        "    failure_threshold: 2\n    timeout: 60\n",
    );
    output
        .code(3)
        .stderr_has("Failed map/item_2 [0.00s]: not started: the circuit breaker is open");
    assert_eq!(
        output.log_lines("started.log"),
        ["0", "1"],
        "items started while the circuit was open"
    );
    let list = output.next().args(["dlq", "list", "--json"]).run_limited();
    list.success();
    let items = list.json()["items"].clone();
    let rows: Vec<(String, String, bool)> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["item_id"].as_str().unwrap_or_default().to_string(),
                i["kind"].as_str().unwrap_or_default().to_string(),
                i["retryable"] == true,
            )
        })
        .collect();
    let row = |id: &str, kind: &str| (id.to_string(), kind.to_string(), true);
    assert_eq!(
        rows,
        [
            row("item_0", "command_failed"),
            row("item_1", "command_failed"),
            row("item_2", "circuit_open"),
            row("item_3", "circuit_open"),
            row("item_4", "circuit_open"),
        ]
    );
}

#[test]
fn only_consecutive_failures_open_the_breaker() {
    let output = breaker_run(
        &[BAD, OK, BAD, OK, BAD, BAD, OK, OK],
        "    failure_threshold: 2\n    timeout: 60\n",
    );
    output.code(3);
    assert_eq!(
        output.log_lines("started.log"),
        ["0", "1", "2", "3", "4", "5"],
        "a success resets the count; the breaker opens after items 4 and 5"
    );
    output
        .stderr_has("Failed map/item_6 [0.00s]: not started: the circuit breaker is open")
        .stderr_has("Failed map/item_7 [0.00s]: not started: the circuit breaker is open");
}

#[test]
fn circuit_open_items_run_again_with_dlq_retry_once_the_cause_is_fixed() {
    let output = breaker_run(
        &[BAD, BAD, OK, OK],
        "    failure_threshold: 2\n    timeout: 60\n",
    );
    output.code(3);
    let job = output.job_id();
    output.write("fixed", "");
    let retry = output.next().args(["dlq", "retry", &job]).run_limited();
    retry.success();
    let mut again = retry.log_lines("started.log")[2..].to_vec();
    again.sort();
    assert_eq!(
        again,
        ["0", "1", "2", "3"],
        "the retry runs the failed and the rejected items"
    );
    let list = retry.next().args(["dlq", "list", "--json"]).run_limited();
    list.success();
    assert_eq!(list.json()["items"], serde_json::json!([]));
}

/// A map whose items log each run as `<item>#<run> <ns>` and fail their first `fails`
/// runs, with item retries after `delay` ms.
fn retried_under_breaker(items: &str, fails: u32, delay: u32, breaker: &str, jobs: &str) -> Output {
    Test::new()
        .file("items.json", items)
        .file(
            "attempt.sh",
            format!(
                "#!/bin/sh\nn=$(cat count.$1 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > count.$1\n\
                 echo \"$1#$n $(date +%s%N)\" >> runs.log\n\
                 if [ $n -le {fails} ]; then exit 1; fi\n\
                 echo \"START $1 $(date +%s%N)\" >> trials.log\nsleep 0.4\necho \"END $1 $(date +%s%N)\" >> trials.log\n"
            ),
        )
        .workflow(&format!(
            "name: breaker
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: sh attempt.sh ${{item}}
error_policy:
  retry_config:
    max_attempts: 2
    backoff: {{type: fixed, delay: {delay}}}
  circuit_breaker:
{breaker}"
        ))
        .arg(jobs)
        .run_limited()
}

/// `(run label, ns)` from `runs.log`.
fn runs(output: &Output) -> Vec<(String, u128)> {
    output
        .log_lines("runs.log")
        .iter()
        .map(|l| {
            let (label, ns) = l.split_once(' ').expect("`label ns`");
            (label.to_string(), ns.parse().expect("ns"))
        })
        .collect()
}

#[test]
fn a_retry_that_falls_due_while_the_breaker_is_open_does_not_run() {
    let output = retried_under_breaker(
        "[\"a\"]",
        5,
        100,
        "    failure_threshold: 1\n    timeout: 60\n",
        "-j1",
    );
    output.code(3);
    let labels: Vec<String> = runs(&output).into_iter().map(|r| r.0).collect();
    assert_eq!(
        labels,
        ["a#1"],
        "the first failure opened the circuit for 60 s; nothing may run in that time"
    );
}

#[test]
fn after_its_timeout_the_breaker_lets_a_trial_item_run() {
    // The first failure opens the circuit for 1 s; the item's retry falls due after 1.5 s,
    // when the breaker is half-open, and runs as the trial.
    let output = retried_under_breaker(
        "[\"a\", \"b\"]",
        1,
        1500,
        "    failure_threshold: 1\n    success_threshold: 1\n    timeout: 1\n    half_open_requests: 1\n",
        "-j1",
    );
    output
        .code(3)
        .stderr_has("Failed map/item_1 [0.00s]: not started: the circuit breaker is open")
        .stderr_has("Ran map/item_0");
    let runs = runs(&output);
    let labels: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        labels,
        ["a#1", "a#2"],
        "b was rejected while the circuit was open"
    );
    let waited_ms = (runs[1].1 - runs[0].1) / 1_000_000;
    assert!(
        waited_ms >= 1000,
        "the trial ran {waited_ms} ms after the circuit opened"
    );
}

#[test]
fn a_half_open_breaker_runs_half_open_requests_trials_at_a_time() {
    // Three items fail at once and open the circuit (1 s); their retries fall due after
    // 1.5 s. One trial runs alone; its success closes the circuit and the others run together.
    let output = retried_under_breaker(
        "[\"a\", \"b\", \"c\"]",
        1,
        1500,
        "    failure_threshold: 2\n    success_threshold: 1\n    timeout: 1\n    half_open_requests: 1\n",
        "-j3",
    );
    output.success();
    let mut trials = intervals(&output.log_lines("trials.log"));
    assert_eq!(trials.len(), 3, "every item's retry ran");
    trials.sort();
    let (first_start, first_end) = trials[0];
    assert!(
        trials[1..].iter().all(|&(start, _)| start >= first_end),
        "another trial started while the first ran ({first_start}..{first_end}): {trials:?}"
    );
    assert_eq!(
        max_overlap(&trials[1..]),
        2,
        "after the first trial closed the circuit, the rest ran together: {trials:?}"
    );
}

#[test]
fn a_half_open_breaker_closes_only_after_success_threshold_successes() {
    // As above, with success_threshold 2: the first two trials must each run alone.
    let output = retried_under_breaker(
        "[\"a\", \"b\", \"c\"]",
        1,
        1500,
        "    failure_threshold: 2\n    success_threshold: 2\n    timeout: 1\n    half_open_requests: 1\n",
        "-j3",
    );
    output.success();
    let mut trials = intervals(&output.log_lines("trials.log"));
    assert_eq!(trials.len(), 3, "every item's retry ran");
    trials.sort();
    assert!(
        trials[1].0 >= trials[0].1 && trials[2].0 >= trials[1].1,
        "trials overlapped before two successes closed the circuit: {trials:?}"
    );
}
