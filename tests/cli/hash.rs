//! Node hashes as `--dry-run=json` shows them: stable across runs and checkouts, and
//! changed by exactly what changes a node's result (the spec of the node-key issue).

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Test, fixtures, is_hex, nodes};

/// Node id -> full hash, from `prodigy run FILE --dry-run=json` in `test`.
fn hashes(test: Test, file: &str) -> BTreeMap<String, String> {
    let output = test.args(["run", file, "--dry-run=json"]).run();
    output.success();
    nodes(&output.json())
        .into_iter()
        .map(|(id, node)| {
            let hash = node["hash"].as_str().expect("hash").to_string();
            assert!(is_hex(&hash, 64), "{id}: {hash}");
            (id, hash)
        })
        .collect()
}

/// The ids whose hash differs; both plans must have the same nodes.
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeSet<String> {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the plans have different nodes"
    );
    a.iter()
        .filter(|(id, hash)| b[*id] != **hash)
        .map(|(id, _)| id.clone())
        .collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn items(n: usize, changed_index: Option<usize>) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            let title = if Some(i) == changed_index {
                "edited"
            } else {
                "original"
            };
            format!("  {{\"module\": \"m{i}\", \"title\": \"{title}\"}}")
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

fn mapreduce(env_value: &str, reduce_command: &str) -> String {
    format!(
        "name: docs
mode: mapreduce
env:
  LEVEL: \"{env_value}\"
secrets:
  TOKEN: \"${{env:API_TOKEN}}\"
setup:
  - shell: cargo build
map:
  input: items.json
  agent_template:
    - claude: \"/document ${{item.module}}\"
reduce:
  - shell: echo \"${{map.total}}\"
  - shell: {reduce_command}
"
    )
}

fn standard(env_value: &str, commands: [&str; 4]) -> String {
    let steps: Vec<String> = commands.iter().map(|c| format!("  - shell: {c}")).collect();
    format!(
        "env:\n  LEVEL: \"{env_value}\"\ncommands:\n{}\n",
        steps.join("\n")
    )
}

const COMMANDS: [&str; 4] = ["cargo build", "cargo test", "cargo doc", "cargo package"];

fn docs(n: usize, changed_item: Option<usize>, env: &str, reduce: &str) -> Test {
    Test::new()
        .file("items.json", items(n, changed_item))
        .file("flow.yml", mapreduce(env, reduce))
}

#[test]
fn the_same_workflow_gives_the_same_hashes_twice_and_in_another_checkout() {
    let first = hashes(docs(5, None, "1", "git status"), "flow.yml");
    assert_eq!(first.len(), 1 + 5 + 2);
    assert_eq!(first, hashes(docs(5, None, "1", "git status"), "flow.yml"));
    // From a subdirectory, naming the file by a relative path.
    let from_sub = hashes(
        docs(5, None, "1", "git status").current_dir("sub"),
        "../flow.yml",
    );
    assert_eq!(first, from_sub);
    // Unrelated OS environment never enters a key.
    let other_env = hashes(
        docs(5, None, "1", "git status").env("SOME_UNRELATED_VAR", "x"),
        "flow.yml",
    );
    assert_eq!(first, other_env);
}

#[test]
fn a_committed_fixture_hashes_the_same_in_a_copy_of_the_repo() {
    let fixture = "testdata/workflows/valid/map-pipeline.yml";
    let in_repo = hashes(Test::in_repo(), fixture);
    let read = |name: &str| std::fs::read(fixtures("valid").join(name)).expect("fixture");
    let copy = Test::new().file(fixture, read("map-pipeline.yml")).file(
        "testdata/workflows/valid/data/items.json",
        read("data/items.json"),
    );
    assert_eq!(in_repo, hashes(copy, fixture));
}

#[test]
fn editing_one_item_changes_only_that_items_hash() {
    let before = hashes(docs(20, None, "1", "git status"), "flow.yml");
    assert_eq!(before.len(), 1 + 20 + 2);
    let after = hashes(docs(20, Some(7), "1", "git status"), "flow.yml");
    assert_eq!(changed(&before, &after), ids(&["map/item_7"]));
}

#[test]
fn editing_one_command_changes_only_that_steps_hash() {
    let before = hashes(
        Test::new().file("flow.yml", standard("1", COMMANDS)),
        "flow.yml",
    );
    let mut edited = COMMANDS;
    edited[2] = "cargo doc --no-deps";
    let after = hashes(
        Test::new().file("flow.yml", standard("1", edited)),
        "flow.yml",
    );
    assert_eq!(changed(&before, &after), ids(&["step[2]"]));

    let before = hashes(docs(3, None, "1", "git status"), "flow.yml");
    let after = hashes(docs(3, None, "1", "git status --short"), "flow.yml");
    assert_eq!(changed(&before, &after), ids(&["reduce[1]"]));
}

#[test]
fn editing_the_agent_template_changes_every_item_and_nothing_else() {
    let before = hashes(docs(3, None, "1", "true"), "flow.yml");
    let flow = mapreduce("1", "true").replace("/document", "/describe");
    let after = hashes(
        Test::new()
            .file("items.json", items(3, None))
            .file("flow.yml", flow),
        "flow.yml",
    );
    assert_eq!(
        changed(&before, &after),
        ids(&["map/item_0", "map/item_1", "map/item_2"])
    );
}

#[test]
fn changing_the_workflow_env_changes_every_hash() {
    let before = hashes(docs(4, None, "1", "true"), "flow.yml");
    let after = hashes(docs(4, None, "2", "true"), "flow.yml");
    assert_eq!(
        changed(&before, &after),
        before.keys().cloned().collect::<BTreeSet<_>>()
    );

    let before = hashes(
        Test::new().file("flow.yml", standard("1", COMMANDS)),
        "flow.yml",
    );
    let after = hashes(
        Test::new().file("flow.yml", standard("2", COMMANDS)),
        "flow.yml",
    );
    assert_eq!(changed(&before, &after).len(), 4);
}

#[test]
fn a_pending_map_hash_follows_env_and_template() {
    let flow = |env: &str, cmd: &str| {
        format!(
            "mode: mapreduce\nenv:\n  A: \"{env}\"\nmap:\n  input: git ls-files\n  agent_template:\n    - shell: {cmd}\n"
        )
    };
    let base = hashes(
        Test::new().file("f.yml", flow("1", "wc -l ${item}")),
        "f.yml",
    );
    let env = hashes(
        Test::new().file("f.yml", flow("2", "wc -l ${item}")),
        "f.yml",
    );
    let cmd = hashes(
        Test::new().file("f.yml", flow("1", "wc -c ${item}")),
        "f.yml",
    );
    assert_eq!(changed(&base, &env), ids(&["map"]));
    assert_eq!(changed(&base, &cmd), ids(&["map"]));
}

#[test]
fn yaml_layout_comments_and_key_order_do_not_change_hashes() {
    let block = "commands:\n  - shell: cargo test\n    timeout: 60\n  - claude: /lint\n";
    let flow =
        "# a comment\ncommands: [{timeout: 60, shell: \"cargo test\"}, {claude: /lint}]  # more\n";
    assert_eq!(
        hashes(Test::new().file("f.yml", block), "f.yml"),
        hashes(Test::new().file("f.yml", flow), "f.yml")
    );
}

#[test]
fn fields_that_change_behaviour_change_the_hash() {
    let base = "- shell: cargo test\n";
    let before = hashes(Test::new().file("f.yml", base), "f.yml");
    for extra in [
        "  timeout: 60\n",
        "  when: \"${ok}\"\n",
        "  env: {RUST_LOG: debug}\n",
        "  capture: out\n",
        "  on_failure: /fix\n",
        "  retry: 2\n",
        "  working_dir: crates/a\n",
        "  cache: false\n",
    ] {
        let after = hashes(Test::new().file("f.yml", format!("{base}{extra}")), "f.yml");
        assert_eq!(changed(&before, &after), ids(&["step[0]"]), "{extra}");
    }
}

#[test]
fn legacy_command_args_enter_the_hash() {
    let flow = |arg: &str| format!("- name: prodigy-implement-spec\n  args: [\"{arg}\"]\n");
    let a = hashes(Test::new().file("f.yml", flow("spec-1")), "f.yml");
    let b = hashes(Test::new().file("f.yml", flow("spec-2")), "f.yml");
    assert_eq!(changed(&a, &b), ids(&["step[0]"]));
}

#[test]
fn secret_values_change_hashes_but_never_appear_in_output() {
    let flow = |secret: &str| {
        format!(
            "secrets:\n  TOKEN:\n    secret: true\n    value: {secret}\ncommands:\n  - shell: deploy\n"
        )
    };
    let a = hashes(Test::new().file("f.yml", flow("hunter2-first")), "f.yml");
    let b = hashes(Test::new().file("f.yml", flow("hunter2-second")), "f.yml");
    assert_eq!(changed(&a, &b), ids(&["step[0]"]));
    for args in [
        &["run", "f.yml", "--dry-run"][..],
        &["run", "f.yml", "--dry-run=json"],
        &["graph", "f.yml", "--format", "json"],
        &["graph", "f.yml", "--format", "dot"],
    ] {
        let output = Test::new()
            .file("f.yml", flow("hunter2-first"))
            .args(args)
            .run();
        output.success();
        assert!(!output.stdout.contains("hunter2"), "{}", output.stdout);
    }
}

#[test]
fn env_passthrough_values_enter_the_hash() {
    let flow = "env_passthrough: [DEPLOY_TARGET]\ncommands:\n  - shell: deploy\n";
    let a = hashes(
        Test::new()
            .file("f.yml", flow)
            .env("DEPLOY_TARGET", "staging"),
        "f.yml",
    );
    let b = hashes(
        Test::new()
            .file("f.yml", flow)
            .env("DEPLOY_TARGET", "production"),
        "f.yml",
    );
    assert_eq!(changed(&a, &b), ids(&["step[0]"]));
}
