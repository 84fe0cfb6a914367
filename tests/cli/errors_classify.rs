//! Retries are classified: transient failures (a timeout, a rate limit) are retried;
//! fatal ones (claude's "Not logged in", a missing command) are not, and the message
//! says so; a `retry_on:` list overrides which kinds are retried. Attempts are counted
//! in files and in the fake claude's call log.

use serde_json::Value;

use crate::support::{Output, Test, claude_calls, events_of};

/// A one-item map running `step` (a YAML step, indented for the agent template) with
/// item retries; `env` is set for the run.
fn classified(step: &str, retry: &str, env: &[(&str, &str)]) -> Output {
    let test = Test::new();
    let log = test.path().join("claude-calls.jsonl");
    let mut test = test
        .file("items.json", "[\"a\"]")
        .workflow(&format!(
            "name: classify
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
{step}
error_policy:
  retry_config:
    max_attempts: 3
    backoff: {{type: fixed, delay: 50}}
{retry}"
        ))
        .env("FAKE_CLAUDE_LOG", &log.to_string_lossy())
        .args(["--events", "events.jsonl"]);
    for (k, v) in env {
        test = test.env(k, v);
    }
    test.run_limited()
}

/// The latest DLQ record of the only item, via `prodigy dlq show item_0 --json`.
fn dlq_record(output: Output) -> Value {
    let show = output
        .next()
        .args(["dlq", "show", "item_0", "--json"])
        .run_limited();
    show.success();
    let json = show.json();
    json["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_else(|| show.fail("no history"))
}

#[test]
fn a_timeout_is_transient_and_retried() {
    let output = classified(
        "    - shell: echo run >> runs.log; test -f slow-done || { touch slow-done; sleep 5; }\n      timeout: 1",
        "",
        &[],
    );
    output
        .success()
        .stderr_has("Retrying map/item_0: attempt 2 in 0.1s after: timed out after 1s");
    assert_eq!(output.log_lines("runs.log").len(), 2);
}

#[test]
fn a_rate_limit_is_transient_and_retried() {
    let output = classified(
        "    - claude: \"/work [[mode:fail-once:limited]]\"",
        "",
        &[],
    );
    output
        .success()
        .stderr_has("Retrying map/item_0: attempt 2");
    let events = output.json_lines_of("events.jsonl");
    let retry = events_of(&events, "node_retrying", "map/item_0");
    assert_eq!(retry.len(), 1);
    assert!(
        retry[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("429")),
        "{}",
        retry[0]
    );
    assert_eq!(claude_calls(&output.abs("claude-calls.jsonl")).len(), 2);
}

#[test]
fn not_logged_in_is_fatal_not_retried_and_says_why() {
    let output = classified(
        "    - claude: /work",
        "",
        &[("FAKE_CLAUDE_MODE", "not-logged-in")],
    );
    output
        .code(3)
        .stderr_has("Not logged in · Please run /login")
        .stderr_has("not retried")
        .stderr_lacks("Retrying");
    assert_eq!(claude_calls(&output.abs("claude-calls.jsonl")).len(), 1);
    let record = dlq_record(output);
    assert_eq!(record["kind"], "authentication", "{record}");
    assert_eq!(record["retryable"], false, "{record}");
    assert_eq!(record["attempt"], 1, "{record}");
    let message = record["message"].as_str().unwrap_or_default();
    assert!(message.contains("not retried"), "{record}");
}

#[test]
fn a_missing_command_is_fatal_not_retried_and_says_why() {
    let output = classified(
        "    - shell: echo run >> runs.log; no-such-command-4711",
        "",
        &[],
    );
    output
        .code(3)
        .stderr_has("not retried")
        .stderr_lacks("Retrying");
    assert_eq!(output.log_lines("runs.log").len(), 1);
    let record = dlq_record(output);
    assert_eq!(record["kind"], "command_not_found", "{record}");
    assert_eq!(record["retryable"], false, "{record}");
    assert!(
        record["message"]
            .as_str()
            .is_some_and(|m| m.contains("not retried")),
        "{record}"
    );
}

#[test]
fn a_command_failure_is_retried_by_default() {
    let output = classified("    - shell: echo run >> runs.log; exit 1", "", &[]);
    output.code(3).stderr_has("Retrying map/item_0: attempt 3");
    assert_eq!(output.log_lines("runs.log").len(), 3);
}

#[test]
fn retry_on_retries_only_the_listed_kinds() {
    // `retry_on: [timeout]`: a command failure is not retried, a timeout is.
    let failing = classified(
        "    - shell: echo run >> runs.log; exit 1",
        "    retry_on: [timeout]\n",
        &[],
    );
    failing
        .code(3)
        .stderr_lacks("Retrying")
        .stderr_has("not retried");
    assert_eq!(failing.log_lines("runs.log").len(), 1);
    let timing_out = classified(
        "    - shell: echo run >> runs.log; test -f slow-done || { touch slow-done; sleep 5; }\n      timeout: 1",
        "    retry_on: [timeout]\n",
        &[],
    );
    timing_out
        .success()
        .stderr_has("Retrying map/item_0: attempt 2");
    assert_eq!(timing_out.log_lines("runs.log").len(), 2);
}

#[test]
fn retry_on_says_why_a_kind_it_excludes_was_not_retried() {
    let output = classified("    - shell: exit 1", "    retry_on: [timeout]\n", &[]);
    output
        .code(3)
        .stderr_has("not retried")
        .stderr_has("retry_on")
        .stderr_lacks("failures are fatal");
}
