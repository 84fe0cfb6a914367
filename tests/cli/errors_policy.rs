//! The workflow-level `error_policy` of the error-handling guide, key by key: what each
//! `on_item_failure` does, `continue_on_failure`, `max_failures`, `failure_threshold`,
//! `error_collection`, the guide's whole block as written, and the error metrics.
//!
//! `-j1` runs items in input order, so a side-effect log (`started.log`) shows exactly
//! which items ran before the policy stopped the job.

use crate::support::{Output, Test, events_of, flaky_script, ts_ms};

/// The guide's `error_policy` block, verbatim.
const GUIDE_POLICY: &str = include_str!("../../testdata/errors/guide-error-policy.yml");

const OK: bool = false;
const BAD: bool = true;

/// A map over items `{n, fails}` that logs each start and prints `out-N` / `err-N`,
/// then a reduce that records `${map.*}`; `policy` is appended to the workflow.
fn policy_flow(items: &[bool], policy: &str) -> Test {
    let items: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(n, fails)| format!("{{\"n\": {n}, \"fails\": {fails}}}"))
        .collect();
    Test::new()
        .file("items.json", format!("[{}]", items.join(", ")))
        .workflow(&format!(
            "name: policy
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${{item.n}} >> started.log; echo out-${{item.n}}; echo err-${{item.n}} >&2; test ${{item.fails}} = false
reduce:
  - shell: echo ${{map.total}} ${{map.successful}} ${{map.failed}} ${{map.skipped}} > tally.txt
{policy}"
        ))
        .arg("-j1")
}

fn run_policy(items: &[bool], policy: &str) -> Output {
    policy_flow(items, policy).run_limited()
}

/// `(item_id, status, kind)` of every item in the DLQ, via `prodigy dlq list --json`;
/// returns the output of that command so the repository lives on.
fn dlq_items(output: Output) -> (Vec<(String, String, String)>, Output) {
    let list = output.next().args(["dlq", "list", "--json"]).run_limited();
    list.success();
    let items = list.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["item_id"].as_str().unwrap_or_default().to_string(),
                i["status"].as_str().unwrap_or_default().to_string(),
                i["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (items, list)
}

fn item(id: &str, status: &str, kind: &str) -> (String, String, String) {
    (id.to_string(), status.to_string(), kind.to_string())
}

#[test]
fn on_item_failure_dlq_keeps_going_and_keeps_the_failed_item_for_retry() {
    let output = run_policy(&[OK, BAD, OK], "error_policy:\n  on_item_failure: dlq\n");
    output
        .code(3)
        .stderr_has("Failed map/item_1")
        .stderr_has("Ran reduce[0]")
        .stderr_has("`prodigy dlq retry ");
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2"]);
    assert_eq!(output.read("tally.txt"), "3 2 1 0\n");
    let (items, _) = dlq_items(output);
    assert_eq!(items, [item("item_1", "failed", "command_failed")]);
}

#[test]
fn on_item_failure_skip_drops_the_item_from_the_dlq_and_counts_it_skipped() {
    let output = run_policy(&[OK, BAD, OK], "error_policy:\n  on_item_failure: skip\n");
    output
        .success()
        .stderr_has("Skipped map/item_1: failed and skipped by on_item_failure: skip");
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2"]);
    assert_eq!(output.read("tally.txt"), "3 2 0 1\n");
    let (items, _) = dlq_items(output);
    assert_eq!(items, [], "a skipped item is not kept for retry");
}

#[test]
fn on_item_failure_stop_stops_the_job_and_records_the_rest_as_cancelled() {
    let output = run_policy(&[OK, BAD, OK], "error_policy:\n  on_item_failure: stop\n");
    output.code(1).stderr_has(
        "Cancelled map/item_2: not started: a map item failed and on_item_failure is `stop`",
    );
    assert_eq!(output.log_lines("started.log"), ["0", "1"]);
    assert!(!output.exists("tally.txt"), "reduce ran after a stop");
    let (items, _) = dlq_items(output);
    assert_eq!(
        items,
        [
            item("item_1", "failed", "command_failed"),
            item("item_2", "cancelled", "cancelled")
        ]
    );
}

#[test]
fn on_item_failure_retry_retries_with_the_default_backoff() {
    let output = Test::new()
        .file("flaky.sh", flaky_script(1))
        .file("items.json", "[7]")
        .workflow(
            "name: retry
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: sh flaky.sh count.${item}
error_policy:
  on_item_failure: retry
",
        )
        .args(["--events", "events.jsonl"])
        .run_limited();
    output
        .success()
        .stderr_has("Retrying map/item_0: attempt 2 in 1.0s");
    assert_eq!(output.read("count.7"), "2\n");
    let events = output.json_lines_of("events.jsonl");
    let retry = events_of(&events, "node_retrying", "map/item_0");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0]["delay_ms"], 1000, "the default first delay");
    let started = events_of(&events, "node_started", "map/item_0");
    assert!(ts_ms(started[1]) - ts_ms(retry[0]) >= 998.0);
}

/// A workflow whose failing item (n = 1) is handed to the `notify` handler.
fn custom_flow(handler: &str) -> Output {
    Test::new()
        .file(
            "items.json",
            r#"[{"n": 0, "fails": false}, {"n": 1, "fails": true}, {"n": 2, "fails": false}]"#,
        )
        .workflow(&format!(
            "name: custom
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${{item.n}} >> started.log; test ${{item.fails}} = false || exit 3
reduce:
  - shell: echo ${{map.total}} ${{map.failed}} > tally.txt
error_policy:
  on_item_failure: custom:notify
handlers:
  notify:
    - shell: {handler}
"
        ))
        .arg("-j1")
        .run_limited()
}

#[test]
fn on_item_failure_custom_runs_the_handler_and_a_successful_handler_recovers_the_item() {
    let output = custom_flow("echo \"${item.n} ${error.kind} ${error.message}\" >> handled.log");
    output.success();
    assert_eq!(
        output.log_lines("handled.log"),
        ["1 command_failed exit code 3"],
        "the handler runs once, for the failed item, with its error"
    );
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2"]);
    assert_eq!(
        output.read("tally.txt"),
        "3 0\n",
        "a recovered item is no failure"
    );
    let (items, _) = dlq_items(output);
    assert_eq!(items, [], "a recovered item is not in the DLQ");
}

#[test]
fn on_item_failure_custom_with_a_failing_handler_keeps_the_item_in_the_dlq() {
    let output = custom_flow("echo ${item.n} >> handled.log; exit 9");
    output.code(3).stderr_has("Failed map/item_1");
    assert_eq!(output.log_lines("handled.log"), ["1"]);
    assert_eq!(output.read("tally.txt"), "3 1\n");
    let (items, _) = dlq_items(output);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (items[0].0.as_str(), items[0].1.as_str()),
        ("item_1", "failed")
    );
}

#[test]
fn on_item_failure_custom_must_name_a_defined_handler() {
    Test::new()
        .file(
            "flow.yml",
            "name: custom
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${item}
error_policy:
  on_item_failure: custom:notfy
handlers:
  notify:
    - shell: echo failed
",
        )
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("`notfy`")
        .stderr_has("did you mean `notify`?");
}

#[test]
fn continue_on_failure_true_runs_every_item_and_false_stops_at_the_first_failure() {
    let items = [OK, BAD, OK, BAD, OK];
    let going = run_policy(&items, "error_policy:\n  continue_on_failure: true\n");
    going.code(3);
    assert_eq!(going.log_lines("started.log"), ["0", "1", "2", "3", "4"]);
    let stopping = run_policy(&items, "error_policy:\n  continue_on_failure: false\n");
    stopping.code(1).stderr_has(
        "Cancelled map/item_2: not started: a map item failed and continue_on_failure is false",
    );
    assert_eq!(stopping.log_lines("started.log"), ["0", "1"]);
}

#[test]
fn max_failures_stops_the_job_after_that_many_failed_items() {
    let output = run_policy(
        &[BAD, OK, BAD, OK, OK],
        "error_policy:\n  max_failures: 2\n",
    );
    output
        .code(1)
        .stderr_has("Cancelled map/item_3: not started: 2 map items failed (max_failures: 2)");
    assert_eq!(output.log_lines("started.log"), ["0", "1", "2"]);
    assert!(
        !output.exists("tally.txt"),
        "reduce ran after the job stopped"
    );
    let (items, _) = dlq_items(output);
    assert_eq!(
        items,
        [
            item("item_0", "failed", "command_failed"),
            item("item_2", "failed", "command_failed"),
            item("item_3", "cancelled", "cancelled"),
            item("item_4", "cancelled", "cancelled"),
        ]
    );
}

#[test]
fn failure_threshold_stops_the_job_once_the_failure_rate_exceeds_it() {
    // After item 6: 2 of 7 failed (28.6%), above 20%.
    let output = run_policy(
        &[OK, OK, OK, OK, BAD, OK, BAD, OK, OK, OK],
        "error_policy:\n  failure_threshold: 0.2  # 20%\n",
    );
    output
        .code(1)
        .stderr_has("failure rate 29% (2 of 7 items) is above failure_threshold 20%");
    assert_eq!(
        output.log_lines("started.log"),
        ["0", "1", "2", "3", "4", "5", "6"]
    );
    let (items, _) = dlq_items(output);
    let cancelled: Vec<&str> = items
        .iter()
        .filter(|i| i.1 == "cancelled")
        .map(|i| i.0.as_str())
        .collect();
    assert_eq!(cancelled, ["item_7", "item_8", "item_9"]);
}

#[test]
fn failure_threshold_lets_a_job_at_or_below_the_rate_finish() {
    // The rate reaches 20% (1 of 5, then 2 of 10) but never exceeds it.
    let output = run_policy(
        &[OK, OK, OK, OK, BAD, OK, OK, OK, OK, BAD],
        "error_policy:\n  failure_threshold: 0.2\n",
    );
    output.code(3).stderr_lacks("Cancelled");
    assert_eq!(output.log_lines("started.log").len(), 10);
    assert_eq!(output.read("tally.txt"), "10 8 2 0\n");
}

// `error_collection`: when the failure details (the indented stdout/stderr tail) of map
// items are printed. The `Failed` status line is always printed when the item fails.

const COLLECTED: [bool; 7] = [BAD, OK, BAD, BAD, OK, BAD, BAD];

/// True for a line of failure details (`stdout:`, `stderr:` or `| text`).
fn is_detail(line: &str) -> bool {
    let line = line.trim_start();
    line == "stdout:" || line == "stderr:" || line.starts_with("| ")
}

/// The indices of the `Failures (N):` lines, with N.
fn failure_blocks(output: &Output) -> Vec<(usize, usize)> {
    output
        .stderr_lines()
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let n = l.trim().strip_prefix("Failures (")?.strip_suffix("):")?;
            Some((i, n.parse().ok()?))
        })
        .collect()
}

/// The item ids listed in the block starting at line `at`, in order.
fn block_items(output: &Output, at: usize) -> Vec<String> {
    output
        .stderr_lines()
        .iter()
        .skip(at + 1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let l = l.trim_start();
            l.starts_with("map/")
                .then(|| l.split(':').next().unwrap_or(l).to_string())
        })
        .collect()
}

#[test]
fn error_collection_immediate_prints_each_failure_right_after_it_happens() {
    let output = run_policy(&COLLECTED, "error_policy:\n  error_collection: immediate\n");
    output.code(3);
    let lines = output.stderr_lines();
    for n in [0, 2, 3, 5, 6] {
        let at = output.stderr_line_index(&format!("Failed map/item_{n}"));
        assert_eq!(lines[at + 1].trim(), "stdout:", "{}", output.stderr);
        assert_eq!(
            lines[at + 2].trim(),
            format!("| out-{n}"),
            "{}",
            output.stderr
        );
        assert_eq!(
            lines[at + 4].trim(),
            format!("| err-{n}"),
            "{}",
            output.stderr
        );
    }
    assert_eq!(failure_blocks(&output), [], "{}", output.stderr);
}

#[test]
fn error_collection_aggregate_prints_all_failures_in_one_block_after_the_map() {
    for policy in ["error_policy:\n  error_collection: aggregate\n", ""] {
        let output = run_policy(&COLLECTED, policy);
        output.code(3);
        let lines = output.stderr_lines();
        for n in [0, 2, 3, 5] {
            let at = output.stderr_line_index(&format!("Failed map/item_{n}"));
            assert!(
                !is_detail(lines[at + 1]),
                "details right after the failure with {policy:?}:\n{}",
                output.stderr
            );
        }
        let blocks = failure_blocks(&output);
        assert_eq!(
            blocks.len(),
            1,
            "one block with {policy:?}:\n{}",
            output.stderr
        );
        let (at, count) = blocks[0];
        assert_eq!(count, 5);
        assert!(
            at > output.stderr_line_index("Failed map/item_6")
                && at < output.stderr_line_index("Ran reduce[0]"),
            "the block comes after the map and before reduce:\n{}",
            output.stderr
        );
        assert_eq!(
            block_items(&output, at),
            [
                "map/item_0",
                "map/item_2",
                "map/item_3",
                "map/item_5",
                "map/item_6"
            ]
        );
        let block: Vec<&str> = lines[at..].iter().map(|l| l.trim()).collect();
        for n in [0, 2, 3, 5, 6] {
            assert!(
                block.contains(&format!("| out-{n}").as_str()),
                "{}",
                output.stderr
            );
            assert!(
                block.contains(&format!("| err-{n}").as_str()),
                "{}",
                output.stderr
            );
        }
    }
}

#[test]
fn error_collection_batched_prints_a_block_every_n_failures() {
    let output = run_policy(&COLLECTED, "error_policy:\n  error_collection: batched:2\n");
    output.code(3);
    let blocks = failure_blocks(&output);
    let counts: Vec<usize> = blocks.iter().map(|b| b.1).collect();
    assert_eq!(counts, [2, 2, 1], "{}", output.stderr);
    let first = blocks[0].0;
    assert!(
        first > output.stderr_line_index("Failed map/item_2")
            && first < output.stderr_line_index("Failed map/item_3"),
        "the first block follows the second failure:\n{}",
        output.stderr
    );
    assert_eq!(block_items(&output, first), ["map/item_0", "map/item_2"]);
    let second = blocks[1].0;
    assert!(
        second > output.stderr_line_index("Failed map/item_5")
            && second < output.stderr_line_index("Failed map/item_6"),
        "{}",
        output.stderr
    );
    assert_eq!(block_items(&output, second), ["map/item_3", "map/item_5"]);
    let last = blocks[2].0;
    assert!(
        last < output.stderr_line_index("Ran reduce[0]"),
        "{}",
        output.stderr
    );
    assert_eq!(block_items(&output, last), ["map/item_6"]);
}

#[test]
fn error_collection_values_are_checked() {
    Test::new()
        .file(
            "flow.yml",
            "name: c\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\nerror_policy:\n  error_collection: batched:0\n",
        )
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("the error_collection batch size must be at least 1");
}

/// The guide's block, as written, in a map-reduce workflow over `items.json`.
fn guide_workflow() -> String {
    format!(
        "name: guide
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: sh flaky.sh count.${{item}}
reduce:
  - shell: echo ${{map.total}} ${{map.successful}} ${{map.failed}} > tally.txt
{GUIDE_POLICY}"
    )
}

#[test]
fn the_guides_error_policy_block_validates_as_written() {
    Test::new()
        .file("flow.yml", guide_workflow())
        .args(["validate", "flow.yml"])
        .run()
        .success()
        .stderr_lacks("warning");
}

#[test]
fn the_guides_error_policy_block_runs_as_written() {
    // Item 3 fails once: retry_config retries it after the documented first delay.
    let output = Test::new()
        .file("flaky.sh", flaky_script(0))
        .file("flaky-once.sh", flaky_script(1))
        .file("items.json", "[1, 2, 3, 4, 5]")
        .file("flow.yml", guide_workflow().replace(
            "sh flaky.sh count.${item}",
            "if [ ${item} = 3 ]; then sh flaky-once.sh count.${item}; else sh flaky.sh count.${item}; fi",
        ))
        .env(
            "PRODIGY_CLAUDE_BIN",
            &crate::support::fake_claude().to_string_lossy(),
        )
        .args(["run", "flow.yml", "-j1", "--events", "events.jsonl"])
        .run_limited();
    output
        .success()
        .stderr_has("Retrying map/item_2: attempt 2 in 1.0s");
    assert_eq!(output.read("tally.txt"), "5 5 0\n");
    let events = output.json_lines_of("events.jsonl");
    let retry = events_of(&events, "node_retrying", "map/item_2");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0]["delay_ms"], 1000, "initial: 1000");
}

// Error metrics: total items, successful/failed/skipped counts, failure rate, and failure
// patterns with a remediation hint.

#[test]
fn error_metrics_count_items_and_failures_for_reduce_and_the_summary() {
    let output = policy_flow(&[OK, BAD, OK, OK], "")
        .args(["--summary-json", "summary.json"])
        .run_limited();
    output
        .code(3)
        .stderr_has("Summary ")
        .stderr_has("5 nodes: 4 ran, 0 cached, 1 failed, 0 skipped");
    assert_eq!(output.read("tally.txt"), "4 3 1 0\n");
    let summary = output.json_of("summary.json");
    assert_eq!(summary["status"], "items_failed");
    assert_eq!(summary["counts"]["ran"], 4, "3 items and reduce");
    assert_eq!(summary["counts"]["failed"], 1);
    assert_eq!(summary["counts"]["skipped"], 0);
    assert_eq!(summary["counts"]["cancelled"], 0);
    assert_eq!(
        summary["errors"]["by_kind"]["command_failed"], 1,
        "{summary}"
    );
    let rate = summary["errors"]["failure_rate"]
        .as_f64()
        .expect("failure_rate");
    assert!((rate - 0.25).abs() < 1e-9, "1 of 4 items failed: {rate}");
}

#[test]
fn error_metrics_count_skipped_items() {
    let output = policy_flow(
        &[OK, BAD, BAD, OK],
        "error_policy:\n  on_item_failure: skip\n",
    )
    .args(["--summary-json", "summary.json"])
    .run_limited();
    output.success();
    assert_eq!(output.read("tally.txt"), "4 2 0 2\n");
    let summary = output.json_of("summary.json");
    assert_eq!(summary["counts"]["skipped"], 2);
    assert_eq!(summary["counts"]["failed"], 0);
}

#[test]
fn error_metrics_detect_patterns_and_suggest_a_remediation() {
    let output = run_policy(&[BAD, OK, BAD, BAD], "");
    output.code(3);
    let stats = output.next().args(["dlq", "stats", "--json"]).run_limited();
    stats.success();
    let json = stats.json();
    assert_eq!(json["by_kind"]["command_failed"], 3, "{json}");
    assert_eq!(json["most_common_kind"]["kind"], "command_failed");
    let pattern = &json["patterns"][0];
    assert_eq!(pattern["count"], 3, "{json}");
    assert_eq!(pattern["pattern"], "exit code <n>");
    assert_eq!(
        pattern["item_ids"],
        serde_json::json!(["item_0", "item_2", "item_3"])
    );
    assert!(
        pattern["hint"]
            .as_str()
            .is_some_and(|h| h.contains("prodigy dlq show")),
        "{json}"
    );
    let text = stats.next().args(["dlq", "stats"]).run_limited();
    text.success()
        .stdout_has("most common kind: command_failed (3)")
        .stdout_has("3 x command_failed: exit code <n>")
        .stdout_has("hint: ");
}

#[test]
fn error_metrics_dlq_stats_show_the_failure_rate() {
    let output = run_policy(&[BAD, OK, OK, OK], "");
    output.code(3);
    let stats = output.next().args(["dlq", "stats", "--json"]).run_limited();
    stats.success();
    let json = stats.json();
    assert_eq!(json["total_items"], 4, "{json}");
    assert_eq!(json["failure_rate"], 0.25, "{json}");
    stats
        .next()
        .args(["dlq", "stats"])
        .run_limited()
        .success()
        .stdout_has("failure rate: 25.0% (1 of 4 items)");
}
