//! `prodigy graph`: the compiled DAG as text, Graphviz DOT, Mermaid and JSON.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{Test, is_hex, needs, nodes};

const ITEMS: &str = r#"[
  {"name": "api", "path": "crates/api"},
  {"name": "web", "path": "crates/web"},
  {"name": "cli", "path": "crates/cli"}
]"#;

const DOCS: &str = r#"name: docs
mode: mapreduce
setup:
  - shell: cargo build
  - shell: cargo doc --no-deps
map:
  input: items.json
  agent_template:
    - claude: "/document ${item.path}"
    - shell: cargo test -p ${item.name}
reduce:
  - shell: echo "${map.successful}/${map.total} documented"
  - shell: git log --oneline -n ${map.total}
"#;

fn docs() -> Test {
    Test::new().file("items.json", ITEMS).file("flow.yml", DOCS)
}

/// A map over `n` items `{"n": i}` with one reduce step.
fn big_map(n: usize) -> Test {
    let items: Vec<String> = (0..n).map(|i| format!("{{\"n\": {i}}}")).collect();
    Test::new()
        .file("items.json", format!("[{}]", items.join(", ")))
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${item.n}\nreduce:\n  - shell: echo done\n",
        )
}

/// Renders DOT with Graphviz; fails (never skips) when `dot` is missing.
fn render_svg(dot_source: &str) -> String {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!("cannot run `dot` ({e}): install graphviz (e.g. `apt-get install graphviz`); CI installs it")
    });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dot_source.as_bytes())
        .expect("write to dot");
    let out = child.wait_with_output().expect("wait for dot");
    assert!(
        out.status.success(),
        "dot rejected the graph: {}\n{dot_source}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn text_graph_of_a_small_mapreduce() {
    let output = docs().args(["graph", "flow.yml"]).run();
    output.success().stderr_eq("");
    insta::assert_snapshot!(output.stdout, @r#"
    workflow `docs`: 7 nodes
    setup[0]  [step]  shell: cargo build  (dirty: not run before)
    setup[1]  [step]  shell: cargo doc --no-deps  (pending after setup[0])
        needs: setup[0]
    map/item_0  [map-item]  {"name":"api","path":"crates/api"}  (pending after setup[1])
        needs: setup[1]
    map/item_1  [map-item]  {"name":"web","path":"crates/web"}  (pending after setup[1])
        needs: setup[1]
    map/item_2  [map-item]  {"name":"cli","path":"crates/cli"}  (pending after setup[1])
        needs: setup[1]
    reduce[0]  [reduce]  shell: echo "${map.successful}/${map.total} documented"  (pending after map/item_0)
        needs: map/item_0, map/item_1, map/item_2
    reduce[1]  [reduce]  shell: git log --oneline -n ${map.total}  (pending after reduce[0])
        needs: reduce[0]
    "#);
}

#[test]
fn json_graph_lists_every_node_with_kind_needs_and_hash() {
    let output = docs().args(["graph", "flow.yml", "--format", "json"]).run();
    output.success();
    let plan = output.json();
    assert_eq!(plan["schema_version"], 1);
    assert_eq!(plan["workflow"], "docs");
    assert_eq!(plan["node_count"], 7);
    let ids: Vec<String> = nodes(&plan).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        [
            "setup[0]",
            "setup[1]",
            "map/item_0",
            "map/item_1",
            "map/item_2",
            "reduce[0]",
            "reduce[1]"
        ]
    );
    let kinds: Vec<String> = nodes(&plan)
        .iter()
        .map(|(_, n)| n["kind"].as_str().expect("kind").to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "step", "step", "map-item", "map-item", "map-item", "reduce", "reduce"
        ]
    );
    assert!(needs(&plan, "setup[0]").is_empty());
    assert_eq!(needs(&plan, "setup[1]"), ["setup[0]"]);
    assert_eq!(needs(&plan, "map/item_1"), ["setup[1]"]);
    assert_eq!(
        needs(&plan, "reduce[0]"),
        ["map/item_0", "map/item_1", "map/item_2"]
    );
    assert_eq!(needs(&plan, "reduce[1]"), ["reduce[0]"]);
    let (_, item) = &nodes(&plan)[3];
    assert_eq!(item["item_index"], 1);
    assert_eq!(
        item["item"],
        serde_json::json!({"name": "web", "path": "crates/web"})
    );
    for (id, node) in nodes(&plan) {
        let hash = node["hash"].as_str().unwrap_or_default();
        assert!(is_hex(hash, 64), "{id}: hash {hash:?}");
        assert!(node["label"].is_string(), "{id} has no label");
    }
}

#[test]
fn dot_output_renders_with_graphviz() {
    let output = docs().args(["graph", "flow.yml", "--format", "dot"]).run();
    output.success();
    assert!(
        output.stdout.starts_with("digraph \"docs\" {"),
        "{}",
        output.stdout
    );
    output.stdout_has("\"setup[1]\" -> \"map/item_0\";");
    output.stdout_has("\"map/item_2\" -> \"reduce[0]\";");
    let svg = render_svg(&output.stdout);
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("map/item_2"), "the SVG lacks a node");
}

#[test]
fn dot_output_quotes_labels_graphviz_would_misread() {
    let flow = r#"name: 'say "hi" \ bye'
commands:
  - shell: 'printf "a\\b\n" | grep -v "<html>" && echo {x}'
  - shell: |
      echo one
      echo "two"
"#;
    let output = Test::new()
        .file("flow.yml", flow)
        .args(["graph", "flow.yml", "--format", "dot"])
        .run();
    output.success();
    render_svg(&output.stdout);
}

#[test]
fn mermaid_output_is_a_flowchart_with_escaped_labels() {
    let output = docs()
        .args(["graph", "flow.yml", "--format", "mermaid"])
        .run();
    output.success();
    assert!(
        output.stdout.starts_with("flowchart TD\n"),
        "{}",
        output.stdout
    );
    output
        .stdout_has("n0[\"setup[0]<br/>shell: cargo build<br/>dirty: not run before\"]")
        .stdout_has("  class n0 dirty\n")
        .stdout_has("#quot;api#quot;")
        .stdout_has("  n1 --> n2\n")
        .stdout_has("  n4 --> n5\n");
}

#[test]
fn large_maps_collapse_in_text_dot_and_mermaid() {
    let text = big_map(50).args(["graph", "flow.yml"]).run();
    text.success()
        .stdout_has("map/*  [map-item]  50 map items: map/item_0 … map/item_49  (50 dirty)\n")
        .stdout_has(
            "reduce[0]  [reduce]  shell: echo done  (pending after map/item_0)\n    needs: map/*\n",
        );
    assert!(!text.stdout.contains("map/item_1 "), "{}", text.stdout);

    let dot = big_map(50)
        .args(["graph", "flow.yml", "--format", "dot"])
        .run();
    dot.success()
        .stdout_has("\"map/*\" [label=\"50 map items: map/item_0 … map/item_49\\n50 dirty\"")
        .stdout_has("fillcolor=")
        .stdout_has("\"map/*\" -> \"reduce[0]\";");
    assert!(!dot.stdout.contains("map/item_17"), "{}", dot.stdout);
    render_svg(&dot.stdout);

    let mermaid = big_map(50)
        .args(["graph", "flow.yml", "--format", "mermaid"])
        .run();
    mermaid.success().stdout_has("50 map items");
    assert_eq!(
        mermaid.stdout.matches("-->").count(),
        1,
        "{}",
        mermaid.stdout
    );
}

#[test]
fn expand_shows_every_map_item() {
    let text = big_map(50).args(["graph", "flow.yml", "--expand"]).run();
    text.success();
    for i in 0..50 {
        text.stdout_has(&format!(
            "map/item_{i}  [map-item]  {{\"n\":{i}}}  (dirty: not run before)\n"
        ));
    }
    assert!(!text.stdout.contains("map/*"), "{}", text.stdout);

    let dot = big_map(50)
        .args(["graph", "flow.yml", "--format", "dot", "--expand"])
        .run();
    dot.success();
    assert_eq!(dot.stdout.matches("-> \"reduce[0]\"").count(), 50);
    render_svg(&dot.stdout);

    let mermaid = big_map(50)
        .args(["graph", "flow.yml", "--format", "mermaid", "--expand"])
        .run();
    mermaid.success();
    assert_eq!(mermaid.stdout.matches("-->").count(), 50);
}

#[test]
fn json_always_lists_every_item() {
    let output = big_map(50)
        .args(["graph", "flow.yml", "--format", "json"])
        .run();
    output.success();
    let plan = output.json();
    assert_eq!(plan["node_count"], 51);
    assert_eq!(needs(&plan, "reduce[0]").len(), 50);
}

#[test]
fn needs_form_a_diamond() {
    let output = Test::in_repo()
        .args(["graph", "testdata/workflows/valid/needs-diamond.yml"])
        .args(["--format", "json"])
        .run();
    output.success();
    let plan = output.json();
    assert!(needs(&plan, "build").is_empty());
    assert_eq!(needs(&plan, "lint"), ["build"]);
    assert_eq!(needs(&plan, "test"), ["build"]);
    assert_eq!(needs(&plan, "package"), ["lint", "test"]);

    Test::in_repo()
        .args(["graph", "testdata/workflows/valid/needs-diamond.yml"])
        .run()
        .success()
        .stdout_has(
            "package  [step]  shell: cargo package  (pending after lint)\n    needs: lint, test\n",
        );
}

#[test]
fn an_invalid_workflow_prints_its_diagnostics_and_no_graph() {
    Test::new()
        .file("flow.yml", "- shell: make\n  timout: 5\n")
        .args(["graph", "flow.yml"])
        .run()
        .code(2)
        .stdout_eq("")
        .stderr_has("error: unknown key `timout` in a step\n  --> flow.yml:2:3")
        .stderr_has("error: flow.yml: 1 error found; nothing was run\n");
}

#[test]
fn legacy_steps_are_shown_as_claude_commands() {
    Test::in_repo()
        .args(["graph", "testdata/workflows/valid/legacy-commands.yml"])
        .run()
        .success()
        .stdout_has("step[0]  [step]  claude: /prodigy-code-review  (dirty: not run before)\n")
        .stdout_has("step[1]  [step]  claude: /prodigy-lint --focus performance  (pending after step[0])\n")
        .stdout_has("implement  [step]  prodigy-implement-spec  (pending after step[1])\n    needs: step[1]\n");
}

#[test]
fn one_node_is_singular() {
    let flow = "- shell: make\n";
    Test::new()
        .file("flow.yml", flow)
        .args(["graph", "flow.yml"])
        .run()
        .success()
        .stdout_has("workflow `flow`: 1 node\n");
    Test::new()
        .file("flow.yml", flow)
        .args(["run", "flow.yml", "--dry-run"])
        .run()
        .success()
        .stdout_has("1 node would run: 1 step\n");
}
