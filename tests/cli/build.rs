//! `prodigy build`: incremental builds, counted by a side-effect log the workflow's
//! commands append to (`log.txt`, git-ignored so it is not part of the tree).

use crate::support::{Output, Test};

/// A test repo with `prodigy.yml` and a `.gitignore` for the log; queues `build`.
fn build(yaml: &str) -> Test {
    Test::new()
        .file(".gitignore", "log.txt\n")
        .file("prodigy.yml", yaml)
        .env(
            "PRODIGY_CLAUDE_BIN",
            &crate::support::fake_claude().to_string_lossy(),
        )
        .arg("build")
}

/// Another `prodigy build` in the same repository, with `args` after `build`.
fn again(output: Output, args: &[&str]) -> Output {
    output.next().arg("build").args(args).run_limited()
}

/// `items.json` with `n` items `{"n": 0}`..
fn items(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| format!("{{\"n\": {i}}}")).collect();
    format!("[{}]\n", items.join(", "))
}

const STEPS: &str = "name: steps
isolation: none
commands:
  - shell: echo one >> log.txt
  - shell: echo two >> log.txt
  - shell: echo three >> log.txt
";

const MAP: &str = "name: items
isolation: none
mode: mapreduce
map:
  input: items.json
  json_path: '$[*]'
  max_parallel: 4
  agent_template:
    - shell: echo item ${item.n} >> log.txt
reduce:
  - shell: echo reduce ${map.successful} >> log.txt
";

#[test]
fn building_twice_runs_nothing_the_second_time() {
    let first = build(STEPS).run_limited();
    first
        .success()
        .stderr_has("Summary")
        .stderr_has("3 ran, 0 cached");
    assert_eq!(first.log_lines("log.txt"), ["one", "two", "three"]);
    let second = again(first, &["--summary-json", "summary.json"]);
    second
        .success()
        .stderr_has("   Cached step[0]")
        .stderr_has("0 ran, 3 cached");
    assert_eq!(second.log_lines("log.txt").len(), 3, "nothing ran again");
    let summary = second.json_of("summary.json");
    assert_eq!(summary["counts"]["cached"], 3, "{summary}");
    assert_eq!(summary["nodes"][0]["status"], "cached", "{summary}");
}

#[test]
fn changing_one_item_of_twenty_runs_that_item_and_reduce() {
    let first = build(MAP).file("items.json", items(20)).run_limited();
    first.success();
    assert_eq!(first.log_lines("log.txt").len(), 21);
    let mut changed = items(20);
    changed = changed.replace("{\"n\": 7}", "{\"n\": 70}");
    std::fs::write(first.abs("items.json"), changed).unwrap();
    std::fs::write(first.abs("log.txt"), "").unwrap();
    let second = again(first, &["--explain"]);
    second
        .success()
        .stderr_has("Dirty map/item_7: item changed")
        .stderr_has("Dirty reduce[0]: dependency map/item_7 produced new output")
        .stderr_has("21 nodes: 2 ran, 19 cached");
    assert_eq!(second.log_lines("log.txt"), ["item 70", "reduce 20"]);
}

#[test]
fn a_changed_input_reruns_its_step_and_dependents_and_a_touch_runs_nothing() {
    let yaml = "name: inputs
isolation: none
commands:
  - id: compile
    shell: cat src/a.txt | tee -a log.txt
    inputs: ['src/*.txt']
  - id: test
    shell: echo tested >> log.txt
    capture: result
    inputs: []
  - id: other
    needs: []
    shell: echo other >> log.txt
    inputs: [README]
";
    let first = build(yaml)
        .file("src/a.txt", "alpha\n")
        .file("README", "readme\n")
        .run_limited();
    first.success();
    let mut lines = first.log_lines("log.txt");
    lines.sort();
    assert_eq!(lines, ["alpha", "other", "tested"]);
    std::fs::write(first.abs("src/a.txt"), "beta\n").unwrap();
    let second = again(first, &["--explain"]);
    second
        .success()
        .stderr_has("Dirty compile: input src/a.txt changed")
        .stderr_has("Dirty test: dependency compile produced new output")
        .stderr_has("   Cached other");
    assert_eq!(second.log_lines("log.txt")[3..], ["beta", "tested"]);
    // Same bytes, new mtime: hashed again, found equal, nothing runs.
    std::fs::write(second.abs("src/a.txt"), "beta\n").unwrap();
    let third = again(second, &[]);
    third.success().stderr_has("0 ran, 3 cached");
    assert_eq!(third.log_lines("log.txt").len(), 5);
}

#[test]
fn a_dependency_that_reruns_with_the_same_output_leaves_dependents_cached() {
    let yaml = "name: cutoff
isolation: none
commands:
  - id: count
    shell: wc -l < data.txt
    capture: lines
    inputs: [data.txt]
  - id: report
    shell: echo lines=${lines} >> log.txt
    inputs: []
";
    let first = build(yaml).file("data.txt", "a\nb\n").run_limited();
    first.success();
    // Same number of lines, different content: `count` re-runs, its output is equal.
    std::fs::write(first.abs("data.txt"), "c\nd\n").unwrap();
    let second = again(first, &["--explain"]);
    second
        .success()
        .stderr_has("Dirty count: input data.txt changed")
        .stderr_has("   Cached report")
        .stderr_has("1 ran, 1 cached");
    assert_eq!(second.log_lines("log.txt"), ["lines=2"]);
}

#[test]
fn failed_items_are_the_only_ones_built_again() {
    let yaml = "name: flaky
isolation: none
mode: mapreduce
map:
  input: items.json
  json_path: '$[*]'
  max_parallel: 4
  agent_template:
    - shell: test ! -e broken/${item.n} && echo item ${item.n} >> log.txt
error_policy:
  on_item_failure: dlq
  continue_on_failure: true
reduce:
  - shell: echo reduce ${map.successful} >> log.txt
";
    let first = build(yaml)
        .file(".gitignore", "log.txt\nbroken/\n")
        .file("items.json", items(20))
        .file("broken/3", "")
        .file("broken/11", "")
        .run_limited();
    first.code(3).stderr_has("2 failed");
    assert_eq!(first.log_lines("log.txt").len(), 19);
    std::fs::remove_dir_all(first.abs("broken")).unwrap();
    std::fs::write(first.abs("log.txt"), "").unwrap();
    let second = again(first, &["--explain"]);
    second
        .success()
        .stderr_has("Dirty map/item_3: failed last time (in DLQ since")
        .stderr_has("Ran map/item_11 (dlq)")
        .stderr_has("3 ran, 18 cached, 0 failed, 0 skipped (2 from the DLQ)");
    let mut ran = second.log_lines("log.txt");
    ran.sort();
    assert_eq!(ran, ["item 11", "item 3", "reduce 20"]);
    let list = second.next().args(["dlq", "list", "--json"]).run_limited();
    list.success();
    assert_eq!(
        list.json()["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        list.stdout
    );
}

#[test]
fn dry_run_and_check_say_what_would_run_and_write_nothing() {
    let first = build(MAP).file("items.json", items(3)).run_limited();
    first.success();
    let snapshot = |o: &Output| tree_bytes(&o.abs(".prodigy"));
    let before = snapshot(&first);
    std::fs::write(
        first.abs("items.json"),
        items(3).replace("{\"n\": 1}", "{\"n\": 9}"),
    )
    .unwrap();
    let check = first.next().args(["build", "--check"]).run_limited();
    check.code(1);
    assert_eq!(check.stdout, "");
    let dry = check.next().args(["build", "--dry-run"]).run_limited();
    dry.success()
        .stdout_has("cached   map/item_0")
        .stdout_has("dirty    map/item_1")
        .stdout_has("item changed")
        .stdout_has("pending  reduce[0]")
        .stdout_has("(after map/item_1)");
    let json = dry.next().args(["build", "--dry-run=json"]).run_limited();
    json.success();
    let plan = json.json();
    let status: Vec<(String, String)> = crate::support::nodes(&plan)
        .into_iter()
        .map(|(id, n)| (id, n["cache"]["status"].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(
        status.contains(&("map/item_0".into(), "cached".into())),
        "{status:?}"
    );
    assert!(
        status.contains(&("map/item_1".into(), "dirty".into())),
        "{status:?}"
    );
    assert_eq!(
        snapshot(&json),
        before,
        "--check and --dry-run wrote nothing"
    );
    assert_eq!(json.log_lines("log.txt").len(), 4, "nothing ran");
    let built = json.next().arg("build").run_limited();
    built.success();
    built
        .next()
        .args(["build", "--check"])
        .run_limited()
        .success();
}

#[test]
fn cache_false_steps_always_run() {
    let yaml = "name: always
isolation: none
commands:
  - shell: echo cached >> log.txt
  - shell: echo always >> log.txt
    cache: false
";
    let first = build(yaml).run_limited();
    first.success();
    let second = again(first, &["--explain"]);
    second
        .success()
        .stderr_has("Dirty step[1]: cache: false")
        .stderr_has("1 ran, 1 cached");
    assert_eq!(second.log_lines("log.txt"), ["cached", "always", "always"]);
}

#[test]
fn force_runs_everything_and_explain_says_forced() {
    let first = build(STEPS).run_limited();
    first.success();
    let second = again(first, &["--force", "--explain"]);
    second
        .success()
        .stderr_has("Dirty step[1]: forced")
        .stderr_has("3 ran, 0 cached");
    assert_eq!(second.log_lines("log.txt").len(), 6);
}

#[test]
fn targets_build_only_what_they_need() {
    let yaml = "name: targets
isolation: none
commands:
  - id: a
    shell: echo a >> log.txt
  - id: b
    needs: [a]
    shell: echo b >> log.txt
  - id: c
    needs: []
    shell: echo c >> log.txt
";
    let dry = build(yaml).args(["c", "--dry-run"]).run_limited();
    dry.success()
        .stdout_has("dirty    c ")
        .stdout_has("1 node: 0 cached, 1 dirty, 0 pending");
    let out = dry.next().args(["build", "b"]).run_limited();
    out.success().stderr_has("2 ran");
    assert_eq!(out.log_lines("log.txt"), ["a", "b"]);
    let typo = out.next().args(["build", "bb"]).run_limited();
    typo.code(2)
        .stderr_has("no node `bb`")
        .stderr_has("did you mean `b`?");
}

#[test]
fn a_second_build_waits_for_the_lock_or_exits_4_with_no_wait() {
    let yaml = "name: slow
isolation: none
commands:
  - shell: sleep 3 && echo slow >> log.txt
";
    let first = build(yaml).spawn();
    let root = first_root(&first);
    assert!(crate::support::wait_until(
        std::time::Duration::from_secs(10),
        || { root.join(".prodigy/cache/.lock").exists() }
    ));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let busy = Test::new()
        .current_dir(".")
        .args(["build", "--no-wait", "-p"])
        .arg(&root)
        .arg(root.join("prodigy.yml"))
        .run_limited();
    busy.code(4).stderr_has("locked by another prodigy process");
    let waiting = Test::new()
        .args(["build", "-p"])
        .arg(&root)
        .arg(root.join("prodigy.yml"))
        .run_limited();
    waiting
        .success()
        .stderr_has("waiting for the build cache lock")
        .stderr_has("Cached step[0]");
    let done = first.wait(std::time::Duration::from_secs(20));
    done.success();
    assert_eq!(done.log_lines("log.txt"), ["slow"]);
}

#[test]
fn a_run_beside_a_build_runs_at_once_without_recording() {
    let slow = "name: slow
isolation: none
commands:
  - shell: sleep 3 && echo slow >> log.txt
";
    let first = build(slow)
        .file(
            "other.yml",
            "name: other\nisolation: none\ncommands:\n  - shell: echo other\n",
        )
        .spawn();
    let root = first_root(&first);
    assert!(crate::support::wait_until(
        std::time::Duration::from_secs(10),
        || { root.join(".prodigy/cache/.lock").exists() }
    ));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let run = Test::new()
        .args(["run", "-p"])
        .arg(&root)
        .arg(root.join("other.yml"))
        .run_limited();
    run.success()
        .stderr_has("another prodigy process holds the build cache")
        .stderr_has("1 ran");
    assert!(
        !first.root().join("log.txt").exists(),
        "the run finished before the build it did not wait for"
    );
    first.wait(std::time::Duration::from_secs(20)).success();
}

/// The repository of a running prodigy.
fn first_root(running: &crate::support::Running) -> std::path::PathBuf {
    running.root().to_path_buf()
}

/// Every file under `dir` with its bytes, sorted by path.
fn tree_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn graph_shows_each_nodes_cache_status() {
    let first = build(MAP).file("items.json", items(2)).run_limited();
    first.success();
    std::fs::write(first.abs("items.json"), "[{\"n\": 0}, {\"n\": 5}]").unwrap();
    let text = first.next().args(["graph", "prodigy.yml"]).run_limited();
    text.success()
        .stdout_has("map/item_0  [map-item]  {\"n\":0}  (cached)\n")
        .stdout_has("map/item_1  [map-item]  {\"n\":5}  (dirty: item changed)\n")
        .stdout_has("reduce[0]  [reduce]  shell: echo reduce ${map.successful} >> log.txt  (pending after map/item_1)\n");
    let dot = text
        .next()
        .args(["graph", "prodigy.yml", "--format", "dot"])
        .run_limited();
    dot.success()
        .stdout_has("\\ncached\", shape=component, style=filled");
    let json = dot
        .next()
        .args(["graph", "prodigy.yml", "--format", "json"])
        .run_limited();
    json.success();
    let statuses: Vec<String> = crate::support::nodes(&json.json())
        .into_iter()
        .map(|(id, n)| format!("{id}={}", n["cache"]["status"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        statuses,
        ["map/item_0=cached", "map/item_1=dirty", "reduce[0]=pending"]
    );
}

#[test]
fn run_records_results_so_a_build_after_it_runs_nothing() {
    let first = build(STEPS).run_limited();
    first.success();
    let run = first.next().args(["run", "prodigy.yml"]).run_limited();
    run.success().stderr_has("3 ran, 0 cached");
    let built = run.next().arg("build").run_limited();
    built.success().stderr_has("0 ran, 3 cached");
    assert_eq!(built.log_lines("log.txt").len(), 6);
}

#[test]
fn the_index_is_compacted_so_it_does_not_grow_with_every_build() {
    let mut output = build(MAP).file("items.json", items(20)).run_limited();
    output.success();
    let size = |o: &Output| {
        std::fs::metadata(o.abs(".prodigy/cache/index.bin"))
            .unwrap()
            .len()
    };
    let first = size(&output);
    for round in 1..=4 {
        let text = items(20).replace("}", &format!(", \"round\": {round}}}"));
        std::fs::write(output.abs("items.json"), text).unwrap();
        output = again(output, &[]);
        output.success().stderr_has("21 ran");
    }
    assert!(
        size(&output) < first * 3 / 2,
        "{} vs {first}",
        size(&output)
    );
}

#[test]
fn explain_names_the_env_variable_and_the_command_that_changed() {
    let yaml = "name: env
isolation: none
env:
  FOO: one
  BAR: same
commands:
  - id: show
    shell: echo $FOO >> log.txt
  - id: other
    needs: []
    shell: echo other >> log.txt
    inputs: []
";
    let first = build(yaml).run_limited();
    first.success();
    std::fs::write(
        first.abs("prodigy.yml"),
        yaml.replace("FOO: one", "FOO: two"),
    )
    .unwrap();
    let second = again(first, &["--explain"]);
    second
        .success()
        .stderr_has("Dirty show: env FOO changed")
        .stderr_has("Dirty other: env FOO changed");
    let edited = yaml
        .replace("FOO: one", "FOO: two")
        .replace("echo other", "echo another");
    std::fs::write(second.abs("prodigy.yml"), edited).unwrap();
    let third = again(second, &["--explain"]);
    third
        .success()
        .stderr_has("Cached show")
        .stderr_has("Dirty other: command changed");
}

#[test]
fn dlq_items_gone_from_the_input_are_named_not_run() {
    let yaml = "name: gone
isolation: none
mode: mapreduce
map:
  input: items.json
  json_path: '$[*]'
  agent_template:
    - shell: test ${item.n} -lt 2 && echo item ${item.n} >> log.txt
error_policy:
  on_item_failure: dlq
";
    let first = build(yaml).file("items.json", items(3)).run_limited();
    first.code(3);
    std::fs::write(first.abs("items.json"), items(2)).unwrap();
    let second = again(first, &[]);
    second
        .success()
        .stderr_has("note: 1 item in the DLQ no longer in the map's input")
        .stderr_has("0 ran, 2 cached");
}

#[test]
fn replay_output_prints_what_cached_nodes_printed() {
    let yaml = "name: chatty
isolation: none
commands:
  - shell: echo hello from the first run
";
    let first = build(yaml).run_limited();
    first.success();
    let quiet = again(first, &[]);
    quiet.success().stderr_lacks("hello from the first run");
    let replayed = again(quiet, &["--replay-output"]);
    replayed
        .success()
        .stderr_has("   Cached step[0]\n          stdout:\n          | hello from the first run\n");
}

#[test]
fn a_map_item_target_builds_setup_first() {
    let yaml = "name: target-item
isolation: none
mode: mapreduce
setup:
  - shell: echo ready
    capture: state
map:
  input: items.json
  json_path: '$[*]'
  agent_template:
    - shell: echo item ${item.n} ${state} >> log.txt
reduce:
  - shell: echo reduce >> log.txt
";
    let out = build(yaml)
        .file("items.json", items(3))
        .arg("map/item_1")
        .run_limited();
    out.success().stderr_has("Ran setup[0]").stderr_has("2 ran");
    assert_eq!(out.log_lines("log.txt"), ["item 1 ready"]);
}

#[test]
fn the_incremental_example_builds_then_replays() {
    let root = crate::support::repo_root();
    let test = Test::new()
        .file(
            "examples/incremental/prodigy.yml",
            std::fs::read(root.join("examples/incremental/prodigy.yml")).unwrap(),
        )
        .file(
            "examples/incremental/notes.md",
            std::fs::read(root.join("examples/incremental/notes.md")).unwrap(),
        )
        .args(["build", "examples/incremental/prodigy.yml", "-v"]);
    let first = test.run_limited();
    first
        .success()
        .stderr_has("summary | notes: 3 items, ")
        .stderr_has("3 ran, 0 cached");
    let notes = first.abs("examples/incremental/notes.md");
    let mut text = std::fs::read_to_string(&notes).unwrap();
    text.push_str("- one more\n");
    std::fs::write(&notes, text).unwrap();
    let second = first
        .next()
        .args([
            "build",
            "examples/incremental/prodigy.yml",
            "--explain",
            "-v",
        ])
        .run_limited();
    second
        .success()
        .stderr_has("Dirty count: input examples/incremental/notes.md changed")
        .stderr_has("summary | notes: 4 items, ")
        .stderr_has("3 ran, 0 cached");
    let third = second
        .next()
        .args(["build", "examples/incremental/prodigy.yml"])
        .run_limited();
    third.success().stderr_has("0 ran, 3 cached");
}

#[test]
fn items_fixed_by_dlq_retry_are_cached_for_the_next_build() {
    let yaml = "name: retried
isolation: none
mode: mapreduce
setup:
  - shell: echo setup >> log.txt
map:
  input: items.json
  json_path: '$[*]'
  agent_template:
    - shell: test ! -e broken/${item.n} && echo item ${item.n} >> log.txt
error_policy:
  on_item_failure: dlq
reduce:
  - shell: echo reduce >> log.txt
";
    let first = build(yaml)
        .file(".gitignore", "log.txt\nbroken/\n")
        .file("items.json", items(4))
        .file("broken/2", "")
        .run_limited();
    first.code(3);
    let job = first.job_id();
    std::fs::remove_dir_all(first.abs("broken")).unwrap();
    let retried = first.next().args(["dlq", "retry", &job]).run_limited();
    retried.success();
    std::fs::write(retried.abs("log.txt"), "").unwrap();
    let built = again(retried, &["--explain"]);
    built
        .success()
        .stderr_has("Cached map/item_2")
        .stderr_has("Dirty reduce[0]: dependency map/item_2 produced new output")
        .stderr_has("1 ran, 5 cached");
    assert_eq!(built.log_lines("log.txt"), ["reduce"]);
}
