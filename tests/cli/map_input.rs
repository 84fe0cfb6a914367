//! Map inputs as the plan sees them: file or command, the input pipeline, item ids,
//! and the errors when items cannot be read or named.

use crate::support::{Test, needs, nodes};

#[test]
fn a_map_over_a_command_is_one_pending_node() {
    let output = Test::in_repo()
        .args(["graph", "testdata/workflows/valid/map-input-command.yml"])
        .args(["--format", "json"])
        .run();
    output.success();
    let plan = output.json();
    let ids: Vec<String> = nodes(&plan).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["map", "reduce[0]"]);
    let (_, map) = &nodes(&plan)[0];
    assert_eq!(map["kind"], "map-pending");
    assert_eq!(map["pending"], "command");
    assert_eq!(needs(&plan, "reduce[0]"), ["map"]);
}

#[test]
fn a_map_over_a_file_setup_writes_is_pending() {
    let flow = "mode: mapreduce\nsetup:\n  - shell: ./list-modules > modules.json\nmap:\n  input: modules.json\n  agent_template:\n    - shell: echo ${item}\n";
    let output = Test::new()
        .file("flow.yml", flow)
        .args(["graph", "flow.yml"])
        .run();
    output
        .success()
        .stdout_has("map  [map-pending]  expands at run time: setup writes the input file  (pending after setup[0])\n    needs: setup[0]\n");
}

#[test]
fn item_id_names_map_nodes_after_the_input_pipeline() {
    // filter, sort_by DESC, distinct, offset 1, max_items 3 leave epsilon and alpha.
    let output = Test::in_repo()
        .args(["graph", "testdata/workflows/valid/map-pipeline.yml"])
        .args(["--format", "json"])
        .run();
    output.success();
    let plan = output.json();
    let ids: Vec<String> = nodes(&plan).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["map/epsilon", "map/alpha", "reduce[0]"]);
}

#[test]
fn duplicate_item_ids_are_an_error() {
    Test::new()
        .file("items.json", r#"[{"name": "a"}, {"name": "b"}, {"name": "a"}]"#)
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: items.json\n  item_id: name\n  agent_template:\n    - shell: echo ${item.name}\n",
        )
        .args(["graph", "flow.yml"])
        .run()
        .code(2)
        .stdout_eq("")
        .stderr_eq("error: two map items have `name` = `a`; `item_id` must name each item uniquely\n");
}

#[test]
fn an_item_without_the_item_id_field_is_an_error() {
    Test::new()
        .file("items.json", r#"[{"name": "a"}, {"title": "b"}]"#)
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: items.json\n  item_id: name\n  agent_template:\n    - shell: echo ${item}\n",
        )
        .args(["graph", "flow.yml"])
        .run()
        .code(2)
        .stderr_eq("error: map item 1 has no `name` field, which `item_id` names\n");
}

#[test]
fn a_missing_map_input_file_is_an_error() {
    Test::new()
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${item}\n",
        )
        .args(["graph", "flow.yml"])
        .run()
        .code(2)
        .stderr_eq("error: map input file `items.json` does not exist\n");
}

#[test]
fn json_lines_and_plain_lines_are_items_too() {
    let flow = |input: &str| {
        format!(
            "mode: mapreduce\nmap:\n  input: {input}\n  agent_template:\n    - shell: echo ${{item}}\n"
        )
    };
    let jsonl = Test::new()
        .file("items.jsonl", "{\"a\": 1}\n{\"a\": 2}\n")
        .file("flow.yml", flow("items.jsonl"))
        .args(["graph", "flow.yml", "--format", "json"])
        .run();
    jsonl.success();
    assert_eq!(jsonl.json()["node_count"], 2);
    assert_eq!(
        nodes(&jsonl.json())[1].1["item"],
        serde_json::json!({"a": 2})
    );

    let text = Test::new()
        .file("modules.txt", "src/a.rs\nsrc/b.rs\nsrc/c.rs\n")
        .file("flow.yml", flow("modules.txt"))
        .args(["graph", "flow.yml", "--format", "json"])
        .run();
    text.success();
    assert_eq!(nodes(&text.json())[2].1["item"], "src/c.rs");
}

#[test]
fn a_map_input_that_is_not_json_is_an_error() {
    Test::new()
        .file("items.json", "[{\"a\": 1},")
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${item}\n",
        )
        .args(["graph", "flow.yml"])
        .run()
        .code(2)
        .stdout_eq("")
        .stderr_has(
            "error: map input `items.json`: input is not valid JSON (line 1, column 10): EOF while parsing a value\n",
        );
}

#[test]
fn an_error_cause_is_printed_once() {
    Test::new()
        .file("items.json", "[{\"a\": 1},")
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${item}\n",
        )
        .args(["graph", "flow.yml"])
        .run()
        .code(2)
        .stderr_eq(
            "error: map input `items.json`: input is not valid JSON (line 1, column 10): EOF while parsing a value\n",
        );
}

// ---- bugs (ignored until fixed) ----

#[test]
fn map_input_path_is_interpolated_with_the_workflow_env() {
    let output = Test::new()
        .file("data/items.json", r#"["a", "b"]"#)
        .file(
            "flow.yml",
            "mode: mapreduce\nenv:\n  DIR: data\nmap:\n  input: ${DIR}/items.json\n  agent_template:\n    - shell: echo ${item}\n",
        )
        .args(["graph", "flow.yml", "--format", "json"])
        .run();
    output.success();
    assert_eq!(output.json()["node_count"], 2);
    Test::in_repo()
        .args(["graph", "testdata/workflows/valid/old-book-docs-drift.yml"])
        .run()
        .success();
}

#[test]
fn map_input_that_setup_may_write_is_pending() {
    let flow = "mode: mapreduce\nsetup:\n  - claude: /prepare-work-items\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${item}\n";
    Test::new()
        .file("flow.yml", flow)
        .args(["graph", "flow.yml"])
        .run()
        .success()
        .stdout_has("map  [map-pending]");
    Test::in_repo()
        .args([
            "graph",
            "testdata/workflows/valid/old-capture-output-custom-vars.yml",
        ])
        .run()
        .success();
}
