//! What a run reports: plain status lines (no ANSI off a terminal), `-v` streaming,
//! failure output, the `--events` JSON Lines file, `--summary-json`, and job ids.

use std::time::Duration;

use crate::support::{RUN_LIMIT, Test};

const MIXED: &str = "name: mixed
isolation: none
commands:
  - shell: echo quiet-output
  - shell: echo allowed; exit 2
    on_failure: true
  - shell: echo out-line; echo err-line >&2; exit 1
";

#[test]
fn no_ansi_escapes_off_a_terminal_with_or_without_no_color() {
    let plain = Test::new()
        .workflow(MIXED)
        .run_with(RUN_LIMIT, &["NO_COLOR"]);
    plain.code(1).stderr_has("Failed step[2]");
    assert!(
        !plain.stderr_bytes.contains(&0x1b),
        "ANSI escapes without a TTY:\n{:?}",
        plain.stderr
    );
    let no_color = Test::new()
        .workflow(MIXED)
        .env("NO_COLOR", "1")
        .run_limited();
    no_color.code(1);
    assert!(
        !no_color.stderr_bytes.contains(&0x1b),
        "ANSI escapes with NO_COLOR:\n{:?}",
        no_color.stderr
    );
}

#[test]
fn a_failed_step_shows_its_output_tail_and_a_successful_one_does_not() {
    let output = Test::new().workflow(MIXED).run_limited();
    output
        .code(1)
        .stderr_has("   Failed step[2] [")
        .stderr_has("]: exit code 1\n          stdout:\n          | out-line\n          stderr:\n          | err-line\n")
        .stderr_lacks("quiet-output");
}

#[test]
fn a_failed_step_shows_only_the_last_lines_of_long_output() {
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: seq 1 100 >&2; exit 1\n")
        .run_limited();
    output
        .code(1)
        .stderr_has("          | 100\n")
        .stderr_lacks("          | 50\n");
}

#[test]
fn verbose_streams_every_line_prefixed_with_the_node_id() {
    let output = Test::new().workflow(MIXED).arg("-v").run_limited();
    output
        .code(1)
        .stderr_has("step[0] | quiet-output\n")
        .stderr_has("step[2] | out-line\n")
        .stderr_has("step[2] ! err-line\n");
    assert_eq!(
        output.stderr.matches("err-line").count(),
        1,
        "printed twice:\n{}",
        output.stderr
    );
}

#[test]
fn verbose_prefixes_map_item_output_with_the_item_node() {
    let output = Test::new()
        .file("items.json", r#"["x"]"#)
        .workflow(
            "isolation: none\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo item-${item}\n",
        )
        .arg("-v")
        .run_limited();
    output.success().stderr_has("map/item_0 | item-x\n");
}

#[test]
fn the_events_file_is_versioned_json_lines() {
    let output = Test::new()
        .workflow(MIXED)
        .args(["--events", "events.jsonl"])
        .run_limited();
    output.code(1);
    let events = output.json_lines_of("events.jsonl");
    let job_id = output
        .stderr
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| output.fail("no job id on stderr"));
    for event in &events {
        assert_eq!(event["schema_version"], 1, "{event}");
        assert_eq!(event["job_id"], job_id, "{event}");
        assert!(event["ts"].is_string(), "{event}");
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "node_started").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "node_finished").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"job_finished"));
    assert_eq!(events.last().map(|e| &e["status"]), Some(&"failed".into()));
    let failed = events
        .iter()
        .find(|e| e["event"] == "node_finished" && e["node"] == "step[2]")
        .unwrap_or_else(|| output.fail("no node_finished for step[2]"));
    assert_eq!(failed["correlation_id"], format!("{job_id}/step[2]"));
    assert_eq!(failed["result"]["status"], "failed");
    assert_eq!(failed["result"]["exit_code"], 1);
    assert_eq!(failed["result"]["error_kind"], "command_failed");
}

#[test]
fn the_summary_json_has_the_job_counts_and_nodes() {
    let output = Test::new()
        .workflow(MIXED)
        .args(["--summary-json", "out/summary.json"])
        .file("out/.keep", "")
        .run_limited();
    output.code(1);
    let summary = output.json_of("out/summary.json");
    assert_eq!(summary["schema_version"], 1);
    assert!(
        summary["job_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("mixed-")),
        "{summary}"
    );
    assert_eq!(summary["workflow"], "mixed");
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["counts"]["ran"], 2);
    assert_eq!(summary["counts"]["failed"], 1);
    let nodes = summary["nodes"].as_array().expect("nodes");
    let ids: Vec<&str> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(ids, ["step[0]", "step[1]", "step[2]"]);
    assert_eq!(nodes[2]["status"], "failed");
    assert_eq!(nodes[2]["exit_code"], 1);
}

#[test]
fn the_summary_json_status_of_failed_map_items() {
    let output = Test::new()
        .file("items.json", "[1, 2]")
        .workflow(
            "isolation: none\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: test ${item} = 1\n",
        )
        .args(["--summary-json", "summary.json"])
        .run_limited();
    output.code(3);
    let summary = output.json_of("summary.json");
    assert_eq!(summary["status"], "items_failed");
    assert_eq!(summary["counts"]["ran"], 1);
    assert_eq!(summary["counts"]["failed"], 1);
}

#[test]
fn two_runs_started_at_once_get_different_job_ids() {
    let flow = "name: same\nisolation: none\ncommands:\n  - shell: \"true\"\n";
    let first = Test::new()
        .workflow(flow)
        .args(["--summary-json", "s.json"])
        .spawn();
    let second = Test::new()
        .workflow(flow)
        .args(["--summary-json", "s.json"])
        .spawn();
    let (a, b) = (
        first.wait(Duration::from_secs(15)),
        second.wait(Duration::from_secs(15)),
    );
    a.success();
    b.success();
    let (id_a, id_b) = (
        a.json_of("s.json")["job_id"].clone(),
        b.json_of("s.json")["job_id"].clone(),
    );
    assert!(id_a.is_string());
    assert_ne!(id_a, id_b);
}
