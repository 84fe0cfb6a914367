//! The dead-letter queue in use: failed items are kept with their reason, timestamps and
//! correlation ids; `prodigy dlq list|show|stats|export|clear` read it (text and
//! `--json`); `prodigy dlq retry` reprocesses it (`--dry-run`, `--filter`,
//! `--max-parallel`, the workflow's `max_parallel`), can be interrupted and run again;
//! items cancelled because the job stopped early are kept apart from failures.
//!
//! Items fail until the file `fixed` exists, so "fixing the cause" is `touch fixed`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Output, Test, dlq_file, intervals, max_overlap, processes_with, wait_until};

/// A map over `items` (a JSON array of `{"n": ...}`) whose agent runs `agent`, then
/// `map` settings and `extra` top-level YAML.
fn dlq_flow(items: &str, agent: &str, map: &str, extra: &str) -> Test {
    Test::new().file("items.json", items).workflow(&format!(
        "name: dlqflow
isolation: none
mode: mapreduce
map:
  input: items.json
{map}  agent_template:
    - shell: {agent}
{extra}"
    ))
}

/// Logs the item, prints `out-N` / `err-N`, and fails until `fixed` exists.
const FAILS_UNTIL_FIXED: &str =
    "echo ${item.n} >> started.log; echo out-${item.n}; echo err-${item.n} >&2; test -f fixed";

fn items(ns: &[u32]) -> String {
    let items: Vec<String> = ns.iter().map(|n| format!("{{\"n\": {n}}}")).collect();
    format!("[{}]", items.join(", "))
}

/// A run of `ns` (every item fails) with `-j1`.
fn failed_run(ns: &[u32]) -> Output {
    let output = dlq_flow(&items(ns), FAILS_UNTIL_FIXED, "", "")
        .arg("-j1")
        .run_limited();
    output.code(3);
    output
}

/// Runs `prodigy dlq ARGS` in the same repository, expecting `code`.
fn dlq(output: Output, args: &[&str], code: i32) -> Output {
    let out = output.next().arg("dlq").args(args).run_limited();
    out.code(code);
    out
}

/// `item_id`s of a `dlq list --json` document.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn failed_items_are_stored_with_their_reason_and_timestamps() {
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let output = failed_run(&[4, 5]);
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    let job = output.job_id();
    let show = dlq(output, &["show", "item_1", "--json"], 0);
    let item = show.json();
    assert_eq!(item["job_id"], job.as_str());
    assert_eq!(item["item"], json!({"n": 5}), "the item's JSON is kept");
    assert_eq!(item["status"], "failed");
    let record = &item["history"][0];
    assert_eq!(record["kind"], "command_failed", "{item}");
    assert_eq!(record["message"], "exit code 1");
    assert_eq!(record["exit_code"], 1);
    assert_eq!(record["stderr_tail"], "err-5");
    assert_eq!(record["attempt"], 1);
    for field in ["started_at", "finished_at"] {
        let text = record[field].as_str().expect("a timestamp");
        let at = chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
        assert!(
            at >= before && at <= after,
            "{field} {text} is not the time of the run"
        );
    }
    let text = dlq(show, &["show", "item_1"], 0);
    text.stdout_has(&format!(
        "item_1 (job {job}, index 1): failed after 1 attempt"
    ))
    .stdout_has("\"n\": 5")
    .stdout_has("failed  command_failed  exit 1")
    .stdout_has("    message: exit code 1")
    .stdout_has("      err-5");
}

#[test]
fn dlq_list_shows_the_items_as_text_and_json() {
    let output = failed_run(&[1, 2]);
    let job = output.job_id();
    let text = dlq(output, &["list"], 0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ITEM") && lines[0].contains("KIND") && lines[0].contains("MESSAGE"),
        "{}",
        text.stdout
    );
    assert!(
        lines[1].starts_with("item_0") && lines[1].contains(&job),
        "{}",
        text.stdout
    );
    assert!(lines[1].contains("command_failed") && lines[1].ends_with("exit code 1"));
    assert_eq!(
        lines.last().copied(),
        Some("2 items in the dead-letter queue (2 failed, 0 cancelled)")
    );
    let json = dlq(text, &["list", &job, "--json"], 0);
    let list = json.json();
    assert_eq!(list["schema_version"], 1);
    assert_eq!(ids(&list), ["item_0", "item_1"]);
    assert_eq!(list["items"][0]["job_id"], job.as_str());
    assert_eq!(list["items"][0]["attempts"], 1);
    assert_eq!(list["items"][0]["retryable"], true);
    dlq(json, &["list", "no-such-job"], 2)
        .stderr_has("no job `no-such-job` in the dead-letter queue");
}

#[test]
fn dlq_stats_count_kinds_as_text_and_json() {
    let output = failed_run(&[1, 2, 3]);
    let stats = dlq(output, &["stats", "--json"], 0);
    let json = stats.json();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        (json["items"].as_u64(), json["failed"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(json["cancelled"], 0);
    assert_eq!(json["by_kind"], json!({"command_failed": 3}));
    assert_eq!(
        json["most_common_kind"],
        json!({"kind": "command_failed", "count": 3})
    );
    let text = dlq(stats, &["stats"], 0);
    text.stdout_has("3 items in the dead-letter queue (3 failed, 0 cancelled), 3 retryable")
        .stdout_has("most common kind: command_failed (3)")
        .stdout_has("by kind:")
        .stdout_has("patterns:")
        .stdout_has("hint: look at `prodigy dlq show ITEM` for stderr");
}

#[test]
fn dlq_export_writes_json_and_csv() {
    let output = failed_run(&[1, 2]);
    let job = output.job_id();
    let exported = dlq(output, &["export", "--format", "json"], 0);
    let json = exported.json();
    let array = json.as_array().expect("an array of items");
    assert_eq!(array.len(), 2);
    assert_eq!(array[1]["item"], json!({"n": 2}));
    assert_eq!(array[1]["history"][0]["stderr_tail"], "err-2");
    let as_json = dlq(exported, &["export", "--json"], 0);
    assert_eq!(as_json.json(), json, "`--json` exports JSON too");
    let csv = dlq(as_json, &["export", "--format", "csv"], 0);
    let rows: Vec<&str> = csv.stdout.split("\r\n").collect();
    assert_eq!(
        rows[0],
        "job_id,item_id,attempt,status,kind,exit_code,duration_ms,finished_at,message"
    );
    assert!(
        rows[1].starts_with(&format!("{job},item_0,1,failed,command_failed,1,")),
        "{}",
        csv.stdout
    );
    assert!(rows[2].ends_with(",exit code 1"), "{}", csv.stdout);
    let to_file = dlq(csv, &["export", "--format", "csv", "-o", "dlq.csv"], 0);
    assert!(to_file.read("dlq.csv").starts_with("job_id,item_id,"));
}

#[test]
fn dlq_clear_empties_the_queue_as_text_and_json() {
    let output = failed_run(&[1, 2]);
    let job = output.job_id();
    let cleared = dlq(output, &["clear", &job], 0);
    cleared.stdout_eq("removed 2 items from the dead-letter queue\n");
    assert!(!cleared.exists(&dlq_file("dlqflow", &job)));
    let list = dlq(cleared, &["list", "--json"], 0);
    assert_eq!(ids(&list.json()), Vec::<String>::new());
    let again = list.next().args(["run", "flow.yml", "-j1"]).run_limited();
    again.code(3);
    let json = dlq(again, &["clear", "--json"], 0);
    assert_eq!(json.json(), json!({"schema_version": 1, "removed": 2}));
}

#[test]
fn dlq_retry_after_fixing_the_cause_empties_the_dlq() {
    let output = failed_run(&[1, 2, 3]);
    let job = output.job_id();
    output.write("fixed", "");
    let retry = output.next().args(["dlq", "retry", &job]).run_limited();
    retry.success().stderr_has(&format!(
        "Retrying DLQ items of workflow `dlqflow` (job {job})"
    ));
    let mut ran = retry.log_lines("started.log")[3..].to_vec();
    ran.sort();
    assert_eq!(ran, ["1", "2", "3"], "each DLQ item ran once more");
    let list = dlq(retry, &["list", "--json"], 0);
    assert_eq!(ids(&list.json()), Vec::<String>::new());
    let text = dlq(list, &["list"], 0);
    text.stdout_eq("The dead-letter queue is empty.\n");
}

#[test]
fn an_item_that_fails_again_stays_in_the_dlq_with_its_history() {
    let output = failed_run(&[1]);
    let job = output.job_id();
    let retry = output.next().args(["dlq", "retry", &job]).run_limited();
    retry.code(3);
    let show = dlq(retry, &["show", "item_0", "--json"], 0);
    let history = show.json()["history"].clone();
    let attempts: Vec<u64> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|r| r["attempt"].as_u64().expect("attempt"))
        .collect();
    assert_eq!(attempts, [1, 2]);
}

#[test]
fn dlq_retry_dry_run_lists_the_items_and_runs_nothing() {
    let output = failed_run(&[1, 2]);
    let job = output.job_id();
    output.write("fixed", "");
    let dry = output
        .next()
        .args(["dlq", "retry", &job, "--dry-run"])
        .run_limited();
    dry.success()
        .stdout_has(&format!("2 items of job {job} would be retried"))
        .stdout_has("item_0")
        .stdout_has("item_1");
    assert_eq!(
        dry.log_lines("started.log").len(),
        2,
        "the dry run ran an item"
    );
    let json = dlq(dry, &["retry", &job, "--dry-run", "--json"], 0);
    assert_eq!(ids(&json.json()), ["item_0", "item_1"]);
    assert_eq!(json.log_lines("started.log").len(), 2);
    let list = dlq(json, &["list", "--json"], 0);
    assert_eq!(ids(&list.json()), ["item_0", "item_1"], "still in the DLQ");
}

#[test]
fn dlq_retry_filter_retries_only_the_matching_items() {
    let output = failed_run(&[1, 6, 3, 9]);
    let job = output.job_id();
    output.write("fixed", "");
    let retry = output
        .next()
        .args(["dlq", "retry", &job, "--filter", "n > 5"])
        .run_limited();
    retry.success();
    let mut ran = retry.log_lines("started.log")[4..].to_vec();
    ran.sort();
    assert_eq!(ran, ["6", "9"]);
    let list = dlq(retry, &["list", "--json"], 0);
    assert_eq!(ids(&list.json()), ["item_0", "item_2"]);
    dlq(list, &["retry", &job, "--filter", "n >"], 2).stderr_has("--filter");
}

/// Items that fail until `fixed` exists, then log their span and sleep `secs`.
fn spans_flow(n: u32, secs: &str, map: &str) -> Output {
    let ns: Vec<u32> = (0..n).collect();
    let agent = format!(
        "test -f fixed || exit 1; echo \"START ${{item.n}} $(date +%s%N)\" >> spans.log; sleep {secs}; echo \"END ${{item.n}} $(date +%s%N)\" >> spans.log"
    );
    let output = dlq_flow(&items(&ns), &agent, map, "").run_limited();
    output.code(3);
    output.write("fixed", "");
    output
}

#[test]
fn dlq_retry_max_parallel_sets_how_many_items_run_at_once() {
    for (max, items, secs) in [("5", 6, "0.8"), ("1", 3, "0.3")] {
        let output = spans_flow(items, secs, "");
        let job = output.job_id();
        let retry = output
            .next()
            .args(["dlq", "retry", &job, "--max-parallel", max])
            .run_limited();
        retry.success();
        let spans = intervals(&retry.log_lines("spans.log"));
        assert_eq!(spans.len(), items as usize);
        assert_eq!(
            max_overlap(&spans).to_string(),
            max,
            "--max-parallel {max}: {spans:?}"
        );
    }
}

#[test]
fn dlq_retry_respects_the_workflows_max_parallel() {
    let output = spans_flow(4, "0.6", "  max_parallel: 2\n");
    let job = output.job_id();
    let retry = output.next().args(["dlq", "retry", &job]).run_limited();
    retry.success();
    let spans = intervals(&retry.log_lines("spans.log"));
    assert_eq!(spans.len(), 4);
    assert_eq!(max_overlap(&spans), 2, "max_parallel: 2: {spans:?}");
}

#[test]
fn dlq_retry_keeps_the_workflows_agent_time_limit() {
    let output = dlq_flow(
        &items(&[1]),
        "sleep 30.4811",
        "  agent_timeout_secs: 1\n",
        "",
    )
    .run_limited();
    output.code(3);
    let job = output.job_id();
    let started = std::time::Instant::now();
    let retry = output.next().args(["dlq", "retry", &job]).run_limited();
    retry.code(3);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the retry ran past agent_timeout_secs"
    );
    let list = dlq(retry, &["list", "--json"], 0);
    let item = &list.json()["items"][0];
    assert_eq!(item["kind"], "timeout", "{item}");
    assert_eq!(item["attempts"], 2);
}

#[test]
fn correlation_ids_follow_an_item_through_events_the_dlq_and_retries() {
    let output = dlq_flow(&items(&[1, 2]), "exit 1", "", "")
        .args(["--events", "events.jsonl"])
        .run_limited();
    output.code(3);
    let job = output.job_id();
    for event in output.json_lines_of("events.jsonl") {
        if let Some(node) = event["node"].as_str().filter(|n| n.starts_with("map/")) {
            assert_eq!(event["correlation_id"], format!("{job}/{node}"), "{event}");
        }
    }
    let retry = output.next().args(["dlq", "retry", &job]).run_limited();
    retry.code(3);
    let records: Vec<Value> = retry.json_lines_of(&dlq_file("dlqflow", &job));
    assert_eq!(records.len(), 4, "two attempts of two items");
    for record in &records {
        let item = record["item_id"].as_str().expect("item_id");
        assert_eq!(
            record["correlation_id"],
            format!("{job}/map/{item}"),
            "{record}"
        );
    }
    let list = dlq(retry, &["list", "--json"], 0);
    for item in list.json()["items"].as_array().expect("items") {
        let id = item["item_id"].as_str().unwrap_or_default();
        assert_eq!(item["correlation_id"], format!("{job}/map/{id}"));
    }
}

#[test]
fn items_cancelled_by_max_failures_are_counted_apart_and_dlq_retry_runs_them() {
    let output = dlq_flow(
        &items(&[0, 1, 2, 3]),
        FAILS_UNTIL_FIXED,
        "",
        "error_policy:\n  max_failures: 2\n",
    )
    .args(["-j1", "--summary-json", "summary.json"])
    .run_limited();
    output.code(1).stderr_has("Cancelled map/item_2");
    assert_eq!(output.log_lines("started.log"), ["0", "1"]);
    let summary = output.json_of("summary.json");
    assert_eq!(summary["counts"]["failed"], 2, "{summary}");
    assert_eq!(
        summary["counts"]["cancelled"], 2,
        "items 2 and 3 (reduce has none here)"
    );
    let job = output.job_id();
    let stats = dlq(output, &["stats", "--json"], 0);
    let json = stats.json();
    assert_eq!(
        (json["failed"].as_u64(), json["cancelled"].as_u64()),
        (Some(2), Some(2))
    );
    let list = dlq(stats, &["list"], 0);
    list.stdout_has("4 items in the dead-letter queue (2 failed, 2 cancelled)");
    list.write("fixed", "");
    let retry = list.next().args(["dlq", "retry", &job]).run_limited();
    retry.success();
    let mut ran = retry.log_lines("started.log")[2..].to_vec();
    ran.sort();
    assert_eq!(ran, ["0", "1", "2", "3"], "the cancelled items ran too");
    let empty = dlq(retry, &["list", "--json"], 0);
    assert_eq!(ids(&empty.json()), Vec::<String>::new());
}

/// Waits until a `sleep <marker>` process runs.
#[track_caller]
fn wait_for_sleep(marker: &str) {
    let started = wait_until(Duration::from_secs(10), || {
        processes_with(marker)
            .iter()
            .any(|p| p.starts_with("sleep "))
    });
    assert!(started, "`sleep {marker}` never started");
}

#[test]
fn ctrl_c_during_a_run_records_cancelled_items_and_dlq_retry_runs_them() {
    let marker = "30.4812";
    let run = dlq_flow(
        &items(&[0, 1, 2, 3]),
        &format!(
            "echo ${{item.n}} >> started.log; if [ ${{item.n}} = 1 ] && [ ! -f fixed ]; then sleep {marker}; fi"
        ),
        "",
        "",
    )
    .arg("-j1")
    .spawn();
    wait_for_sleep(marker);
    run.signal("INT");
    let output = run.wait(Duration::from_secs(10));
    output.code(130);
    let job = output.job_id();
    let stats = dlq(output, &["stats", "--json"], 0);
    let json = stats.json();
    assert_eq!(
        json["failed"], 0,
        "interrupted items are not failures: {json}"
    );
    assert_eq!(json["cancelled"], 3, "{json}");
    let list = dlq(stats, &["list", "--json"], 0);
    assert_eq!(ids(&list.json()), ["item_1", "item_2", "item_3"]);
    list.write("fixed", "");
    let retry = list.next().args(["dlq", "retry", &job]).run_limited();
    retry.success();
    let mut ran = retry.log_lines("started.log")[2..].to_vec();
    ran.sort();
    assert_eq!(ran, ["1", "2", "3"]);
}

#[test]
fn dlq_retry_interrupted_with_ctrl_c_finishes_the_rest_when_run_again() {
    let marker = "30.4813";
    let output = dlq_flow(
        &items(&[0, 1, 2, 3, 4]),
        &format!(
            "echo ${{item.n}} >> runs.log; test -f fixed || exit 1; if [ ${{item.n}} = 2 ] && [ -f slow ]; then sleep {marker}; fi"
        ),
        "",
        "",
    )
    .arg("-j1")
    .run_limited();
    output.code(3);
    let job = output.job_id();
    output.write("fixed", "");
    output.write("slow", "");
    let retry = output
        .next()
        .args(["dlq", "retry", &job, "--max-parallel", "1"])
        .spawn();
    wait_for_sleep(marker);
    retry.signal("INT");
    let interrupted = retry.wait(Duration::from_secs(10));
    interrupted.code(130);
    let first_retry: Vec<String> = interrupted.log_lines("runs.log")[5..].to_vec();
    assert!(
        !processes_with(marker)
            .iter()
            .any(|p| p.starts_with("sleep ")),
        "the interrupted item's process survived"
    );
    let list = dlq(interrupted, &["list", "--json"], 0);
    let left = list.json();
    let remaining = ids(&left);
    let item_2 = left["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["item_id"] == "item_2")
        .cloned()
        .unwrap_or_else(|| list.fail("the interrupted item left the DLQ"));
    assert_eq!(item_2["status"], "cancelled", "{item_2}");
    for done in first_retry.iter().filter(|n| n.as_str() != "2") {
        assert!(
            !remaining.contains(&format!("item_{done}")),
            "item {done} succeeded but is still in the DLQ: {remaining:?}"
        );
    }
    list.remove("slow");
    let again = list.next().args(["dlq", "retry", &job]).run_limited();
    again.success();
    let mut second_retry: Vec<String> = again.log_lines("runs.log")[5 + first_retry.len()..]
        .iter()
        .map(|n| format!("item_{n}"))
        .collect();
    second_retry.sort();
    assert_eq!(
        second_retry, remaining,
        "the second retry runs exactly what the first left in the DLQ"
    );
    let mut all: Vec<String> = first_retry
        .iter()
        .filter(|n| n.as_str() != "2")
        .map(|n| format!("item_{n}"))
        .chain(second_retry)
        .collect();
    all.sort();
    assert_eq!(all, ["item_0", "item_1", "item_2", "item_3", "item_4"]);
    let empty = dlq(again, &["list", "--json"], 0);
    assert_eq!(ids(&empty.json()), Vec::<String>::new());
}
