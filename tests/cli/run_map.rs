//! Map input at run time: a JSON file through the whole pipeline (json_path, filter,
//! sort_by, distinct, offset, max_items), commands printing a JSON array, JSON lines or
//! plain lines, and an input file written by setup. `-j 1` makes the order observable.

use crate::support::Test;

fn mapreduce(input: &str, pipeline: &str, agent: &str) -> String {
    format!(
        "isolation: none
mode: mapreduce
map:
  input: {input}
{pipeline}  agent_template:
    - shell: {agent}
"
    )
}

const ITEMS: &str = r#"{"items": [
  {"name": "a", "score": 5},
  {"name": "b", "score": 9},
  {"name": "c", "score": 1},
  {"name": "d", "score": 9},
  {"name": "b", "score": 7},
  {"name": "e", "score": 6},
  {"name": "f", "score": 8}
], "other": [{"name": "zzz", "score": 100}]}"#;

#[test]
fn the_input_pipeline_picks_and_orders_the_items_that_run() {
    // filter -> a5 b9 d9 b7 e6 f8; sort -> b9 d9 f8 b7 e6 a5; distinct -> b9 d9 f8 e6 a5;
    // offset 1 -> d9 f8 e6 a5; max_items 3 -> d9 f8 e6.
    let pipeline = "  json_path: \"$.items[*]\"
  filter: \"score >= 5\"
  sort_by: \"score DESC, name ASC\"
  distinct: name
  offset: 1
  max_items: 3
";
    let output = Test::new()
        .file("items.json", ITEMS)
        .workflow(&mapreduce(
            "items.json",
            pipeline,
            "echo ${item.name} ${item.score} >> ran.log",
        ))
        .arg("-j1")
        .run_limited();
    output.success().stderr_has("3 nodes: 3 ran");
    assert_eq!(output.log_lines("ran.log"), ["d 9", "f 8", "e 6"]);
}

#[test]
fn a_filter_with_no_match_runs_no_items() {
    let pipeline = "  json_path: \"$.items[*]\"\n  filter: \"score > 1000\"\n";
    let output = Test::new()
        .file("items.json", ITEMS)
        .workflow(&mapreduce(
            "items.json",
            pipeline,
            "echo ${item.name} >> ran.log",
        ))
        .run_limited();
    output.success();
    assert!(output.log_lines("ran.log").is_empty());
}

#[test]
fn a_command_printing_a_json_array_is_the_input() {
    let output = Test::new()
        .file("list.sh", "echo '[{\"n\": 1}, {\"n\": 2}, {\"n\": 3}]'\n")
        .workflow(&mapreduce("sh list.sh", "", "echo ${item.n} >> ran.log"))
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("ran.log"), ["1", "2", "3"]);
}

#[test]
fn a_command_printing_json_lines_is_the_input() {
    let output = Test::new()
        .file("list.sh", "echo '{\"n\": \"x\"}'\necho '{\"n\": \"y\"}'\n")
        .workflow(&mapreduce("sh list.sh", "", "echo ${item.n} >> ran.log"))
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("ran.log"), ["x", "y"]);
}

#[test]
fn a_command_printing_plain_lines_is_the_input() {
    let output = Test::new()
        .file("list.sh", "echo alpha\necho 'beta gamma'\n")
        .workflow(&mapreduce("sh list.sh", "", "echo \"${item}\" >> ran.log"))
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("ran.log"), ["alpha", "beta gamma"]);
}

#[test]
fn a_failing_input_command_fails_the_run_before_any_item() {
    let output = Test::new()
        .workflow(&mapreduce(
            "sh missing-script.sh",
            "",
            "echo ${item} >> ran.log",
        ))
        .run_limited();
    assert_ne!(output.code, Some(0), "{}", output.stderr);
    output.no_panic().stderr_has("map input");
    assert!(output.log_lines("ran.log").is_empty());
}

#[test]
fn setup_writes_the_input_file_that_map_reads() {
    let output = Test::new()
        .workflow(
            "isolation: none
mode: mapreduce
setup:
  - shell: printf '[\"one\", \"two\"]' > generated.json
map:
  input: generated.json
  agent_template:
    - shell: echo ${item} >> ran.log
reduce:
  - shell: echo ${map.successful} > reduce.txt
",
        )
        .arg("-j1")
        .run_limited();
    output.success().stderr_has("Ran setup[0]");
    assert_eq!(output.log_lines("ran.log"), ["one", "two"]);
    assert_eq!(output.read("reduce.txt"), "2\n");
}

#[test]
fn a_failed_setup_runs_no_items_and_no_reduce() {
    let output = Test::new()
        .file("items.json", "[1, 2]")
        .workflow(
            "isolation: none
mode: mapreduce
setup:
  - shell: exit 1
map:
  input: items.json
  agent_template:
    - shell: echo ${item} >> ran.log
reduce:
  - shell: echo reduce > reduce.txt
",
        )
        .run_limited();
    output.code(1).stderr_has("Failed setup[0]");
    assert!(output.log_lines("ran.log").is_empty());
    assert!(!output.exists("reduce.txt"));
}

#[test]
fn map_success_rate_and_results_reach_reduce() {
    let output = Test::new()
        .file("items.json", r#"["ok", "bad", "ok2", "ok3"]"#)
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: test ${item} != bad
reduce:
  - shell: echo ${map.success_rate} > rate.txt
  - write_file:
      path: results.json
      content: \"${map.results}\"
",
        )
        .run_limited();
    output.code(3);
    let rate: f64 = output.read("rate.txt").trim().parse().expect("a number");
    assert_eq!(rate, 75.0);
    let results: serde_json::Value =
        serde_json::from_str(&output.read("results.json")).expect("results are JSON");
    let statuses: Vec<&str> = results
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(statuses.len(), 4);
    assert_eq!(
        statuses.iter().filter(|s| **s == "failed").count(),
        1,
        "{results}"
    );
}

#[test]
fn step_fields_work_the_same_in_map_agents() {
    let output = Test::new()
        .file("items.json", r#"["a", "b"]"#)
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo upper-${item}
      capture: label
    - shell: echo ${label} >> labels.log
      when: \"${item} == 'a'\"
    - shell: exit 1
      on_failure: \"echo handled-${item} >> handled.log\"
      when: \"${item} == 'b'\"
    - shell: sleep 30.4715
      timeout: 1
      when: \"${item} == 'b'\"
",
        )
        .arg("-j1")
        .run_limited();
    output
        .code(3)
        .stderr_has("Ran map/item_0")
        .stderr_has("Failed map/item_1");
    assert_eq!(output.log_lines("labels.log"), ["upper-a"]);
    assert_eq!(output.log_lines("handled.log"), ["handled-b"]);
}

/// Records how many items run at the same moment (a lock directory per running item).
const CONCURRENCY: &str = "mkdir running.${item}; ls -d running.* | wc -l | tr -d ' ' >> seen.log; sleep 0.4; rmdir running.${item}";

#[test]
fn max_parallel_bounds_the_items_running_at_once() {
    let output = Test::new()
        .file("items.json", "[1, 2, 3, 4, 5, 6]")
        .workflow(&mapreduce("items.json", "  max_parallel: 2\n", CONCURRENCY))
        .run_limited();
    output.success();
    let most = output
        .log_lines("seen.log")
        .iter()
        .filter_map(|n| n.parse::<u32>().ok())
        .max();
    assert_eq!(most, Some(2), "{:?}", output.log_lines("seen.log"));
}

#[test]
fn jobs_overrides_max_parallel() {
    let output = Test::new()
        .file("items.json", "[1, 2, 3]")
        .workflow(&mapreduce("items.json", "  max_parallel: 3\n", CONCURRENCY))
        .arg("-j1")
        .run_limited();
    output.success();
    assert_eq!(output.log_lines("seen.log"), ["1", "1", "1"]);
}

#[test]
fn item_id_names_the_item_nodes() {
    let output = Test::new()
        .file("items.json", r#"[{"name": "alpha"}, {"name": "beta"}]"#)
        .workflow(&mapreduce(
            "items.json",
            "  item_id: name\n",
            "echo ${item_id} >> ids.log",
        ))
        .arg("-j1")
        .run_limited();
    output
        .success()
        .stderr_has("Ran map/alpha")
        .stderr_has("Ran map/beta");
    assert_eq!(output.log_lines("ids.log"), ["alpha", "beta"]);
}

#[test]
fn agent_timeout_fails_a_slow_item() {
    let started = std::time::Instant::now();
    let output = Test::new()
        .file("items.json", "[1]")
        .workflow(&mapreduce(
            "items.json",
            "  agent_timeout_secs: 1\n",
            "sleep 6.4720",
        ))
        .run_limited();
    output
        .code(3)
        .stderr_has("Failed map/item_0")
        .stderr_has("timed out");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn setup_timeout_fails_a_slow_setup() {
    let started = std::time::Instant::now();
    let output = Test::new()
        .file("items.json", "[1]")
        .workflow(
            "isolation: none
mode: mapreduce
setup:
  timeout: 1
  commands:
    - shell: sleep 6.4721
map:
  input: items.json
  agent_template:
    - shell: echo ${item} >> ran.log
",
        )
        .run_limited();
    output.code(1).stderr_has("timed out");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(output.log_lines("ran.log").is_empty());
}

#[test]
fn a_failed_reduce_fails_the_workflow_even_with_failed_items() {
    let output = Test::new()
        .file("items.json", r#"["ok", "bad"]"#)
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: test ${item} = ok
reduce:
  - shell: exit 1
  - shell: echo after > after.txt
",
        )
        .run_limited();
    output.code(1).stderr_has("Failed reduce[0]");
    assert!(!output.exists("after.txt"));
}
