//! `prodigy run FILE --dry-run`: the plan, one line per node with its hash, and nothing
//! executed.

use crate::support::{Test, is_hex, nodes};

const SIDE_EFFECTS: &str = "\
name: side-effects
commands:
  - shell: touch created-by-run.txt
  - write_file:
      path: written-by-run.txt
      content: should not exist
  - id: last
    shell: echo hi > echoed-by-run.txt
";

const ITEMS: &str = r#"[{"n": 1}, {"n": 2}, {"n": 3}]"#;

const MAPREDUCE: &str = "\
name: three-items
mode: mapreduce
setup:
  - shell: touch setup-ran.txt
  - shell: echo ready
map:
  input: items.json
  agent_template:
    - shell: touch item-${item.n}-ran.txt
reduce:
  - shell: touch reduce-ran.txt
  - shell: echo done
";

/// `  <id>  <12 hex>  <kind>  <label>` -> (id, hash, kind).
fn parse_line(line: &str) -> (String, String, String) {
    let mut words = line.split_whitespace();
    let id = words.next().unwrap_or_default().to_string();
    let hash = words.next().unwrap_or_default().to_string();
    let kind = words.next().unwrap_or_default().to_string();
    assert!(line.starts_with("  "), "node lines are indented: {line:?}");
    assert!(is_hex(&hash, 12), "no 12-hex hash in {line:?}");
    (id, hash, kind)
}

#[test]
fn dry_run_prints_every_node_with_a_hash_and_runs_nothing() {
    let output = Test::new()
        .file("flow.yml", SIDE_EFFECTS)
        .args(["run", "flow.yml", "--dry-run"])
        .run();
    output.success().stderr_eq("");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("Plan for workflow `side-effects` (dry run: nothing is executed)"),
        "{}",
        output.stdout
    );
    assert_eq!(lines.last().copied(), Some("3 nodes would run: 3 step"));
    let parsed: Vec<_> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| parse_line(l))
        .collect();
    let ids: Vec<&str> = parsed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["step[0]", "step[1]", "last"]);
    assert!(parsed.iter().all(|(_, _, kind)| kind == "step"));
    output.stdout_has("shell: touch created-by-run.txt");
    output.stdout_has("write_file: written-by-run.txt");
    for file in [
        "created-by-run.txt",
        "written-by-run.txt",
        "echoed-by-run.txt",
    ] {
        assert!(!output.exists(file), "--dry-run created {file}");
    }
}

#[test]
fn dry_run_of_a_mapreduce_counts_nodes_by_kind() {
    let output = Test::new()
        .file("items.json", ITEMS)
        .file("flow.yml", MAPREDUCE)
        .args(["run", "flow.yml", "--dry-run"])
        .run();
    output
        .success()
        .stdout_has("7 nodes would run: 2 step, 3 map-item, 2 reduce\n");
    let kinds: Vec<String> = output
        .stdout
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| parse_line(l).2)
        .collect();
    assert_eq!(
        kinds,
        [
            "step", "step", "map-item", "map-item", "map-item", "reduce", "reduce"
        ]
    );
    for file in ["setup-ran.txt", "item-1-ran.txt", "reduce-ran.txt"] {
        assert!(!output.exists(file), "--dry-run created {file}");
    }
}

#[test]
fn dry_run_json_has_every_node_with_a_full_hash() {
    let output = Test::new()
        .file("items.json", ITEMS)
        .file("flow.yml", MAPREDUCE)
        .args(["run", "flow.yml", "--dry-run=json"])
        .run();
    output.success().stderr_eq("");
    let plan = output.json();
    assert_eq!(plan["workflow"], "three-items");
    assert_eq!(plan["node_count"], 7);
    let nodes = nodes(&plan);
    assert_eq!(nodes.len(), 7);
    for (id, node) in &nodes {
        let hash = node["hash"].as_str().unwrap_or_default();
        assert!(is_hex(hash, 64), "{id}: {hash:?}");
        assert!(
            node["kind"].is_string() && node["needs"].is_array(),
            "{node}"
        );
    }
    assert!(!output.exists("setup-ran.txt"));
}

#[test]
fn text_and_json_plans_agree() {
    let setup = || {
        Test::new()
            .file("items.json", ITEMS)
            .file("flow.yml", MAPREDUCE)
    };
    let text = setup().args(["run", "flow.yml", "--dry-run"]).run();
    let json = setup().args(["run", "flow.yml", "--dry-run=json"]).run();
    let from_text: Vec<(String, String)> = text
        .success()
        .stdout
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let (id, hash, _) = parse_line(l);
            (id, hash)
        })
        .collect();
    let from_json: Vec<(String, String)> = nodes(&json.success().json())
        .into_iter()
        .map(|(id, n)| (id, n["hash"].as_str().expect("hash")[..12].to_string()))
        .collect();
    assert_eq!(from_text, from_json);
}

#[test]
fn short_flag_n_is_max_iterations_as_in_the_old_tool() {
    let output = Test::new()
        .file(
            "flow.yml",
            "isolation: none\ncommands:\n  - shell: echo ${workflow.iteration} >> runs.log\n",
        )
        .args(["run", "flow.yml", "-n", "3"])
        .run();
    output.success();
    assert_eq!(output.read("runs.log"), "1\n2\n3\n");
}

#[test]
fn dry_run_reads_map_input_from_the_path_option() {
    let output = Test::new()
        .file("flow.yml", MAPREDUCE)
        .file("other/items.json", r#"[{"n": 10}, {"n": 20}]"#)
        .args(["run", "flow.yml", "--dry-run", "--path", "other"])
        .run();
    output
        .success()
        .stdout_has("6 nodes would run: 2 step, 2 map-item, 2 reduce\n")
        .stdout_has("{\"n\":20}");
}

#[test]
fn dry_run_of_an_invalid_workflow_prints_diagnostics_and_no_plan() {
    Test::new()
        .file("flow.yml", "- shell: make\n  timeout: forever\n")
        .args(["run", "flow.yml", "--dry-run"])
        .run()
        .code(2)
        .stdout_eq("")
        .stderr_has("error: `forever` is not a duration\n  --> flow.yml:2:12")
        .stderr_has("error: flow.yml: 1 error found; nothing was run\n");
}

#[test]
fn dry_run_rejects_an_unknown_format() {
    Test::new()
        .file("flow.yml", SIDE_EFFECTS)
        .args(["run", "flow.yml", "--dry-run=yaml"])
        .run()
        .code(2)
        .stderr_has("yaml");
}
