//! `prodigy run` basics: exit codes, failed map items, `when`, `timeout`, fail-fast and
//! `--keep-going`. Real executions are counted with files the commands append to.

use std::time::{Duration, Instant};

use crate::support::{Test, processes_with, wait_until};

#[test]
fn failed_map_items_are_counted_as_failures_not_successes() {
    // The old tool counted failed agents as successes; reduce and the exit code lied.
    let items: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let output = Test::new()
        .file("items.json", format!("[{}]", items.join(",")))
        .workflow(
            "name: count
isolation: none
mode: mapreduce
map:
  input: items.json
  max_parallel: 4
  agent_template:
    - shell: echo ${item} >> ran.log; test ${item} -ne 3 && test ${item} -ne 11
reduce:
  - shell: echo ${map.total} ${map.successful} ${map.failed} > tally.txt
",
        )
        .run_limited();
    output
        .code(3)
        .stderr_has("21 nodes: 19 ran, 0 cached, 2 failed, 0 skipped")
        .stderr_has("2 failed items kept in the dead-letter queue");
    assert_eq!(
        output.stderr_lines_starting("Ran map/"),
        18,
        "{}",
        output.stderr
    );
    assert_eq!(
        output.stderr_lines_starting("Failed map/"),
        2,
        "{}",
        output.stderr
    );
    assert_eq!(output.log_lines("ran.log").len(), 20);
    assert_eq!(output.read("tally.txt"), "20 18 2\n");
}

#[test]
fn a_workflow_that_succeeds_exits_zero_with_a_summary_line() {
    let output = Test::new()
        .workflow("name: ok\nisolation: none\ncommands:\n  - shell: echo one >> log\n  - shell: echo two >> log\n")
        .run_limited();
    output
        .success()
        .stdout_eq("")
        .stderr_has("Running workflow `ok` (job ok-")
        .stderr_has("      Ran step[0] [")
        .stderr_has("      Ran step[1] [")
        .stderr_has("2 nodes: 2 ran, 0 cached, 0 failed, 0 skipped");
    assert!(output.stderr.contains("Summary ["), "{}", output.stderr);
    assert_eq!(output.log_lines("log"), ["one", "two"]);
}

#[test]
fn when_false_skips_the_step() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo never > skipped.txt
    when: \"false\"
  - shell: echo always > ran.txt
",
        )
        .run_limited();
    output.success();
    assert!(!output.exists("skipped.txt"), "a `when: false` step ran");
    assert_eq!(output.read("ran.txt"), "always\n");
}

#[test]
fn when_compares_a_captured_value() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - shell: echo x
    capture: branch
  - shell: echo yes > equal.txt
    when: \"${branch} == 'x'\"
  - shell: echo no > different.txt
    when: \"${branch} == 'y'\"
  - shell: echo yes > not-equal.txt
    when: \"${branch} != 'y'\"
",
        )
        .run_limited();
    output.success();
    assert!(output.exists("equal.txt"));
    assert!(
        !output.exists("different.txt"),
        "`x == 'y'` was taken as true"
    );
    assert!(output.exists("not-equal.txt"));
}

#[test]
fn a_false_when_is_reported_as_skipped() {
    Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: echo hi\n    when: \"false\"\n")
        .run_limited()
        .success()
        .stderr_has("Skipped step[0]")
        .stderr_has("1 node: 0 ran, 0 cached, 0 failed, 1 skipped");
}

#[test]
fn a_timeout_kills_the_command_and_its_children() {
    // Both a directly exec'd command and a shell whose child is the sleep.
    for command in ["sleep 30.4711", "sleep 30.4711 && echo never"] {
        let started = Instant::now();
        let output = Test::new()
            .workflow(&format!(
                "isolation: none\ncommands:\n  - shell: {command}\n    timeout: 1\n  - shell: echo after > after.txt\n"
            ))
            .run_limited();
        let elapsed = started.elapsed();
        output
            .code(1)
            .stderr_has("Failed step[0]")
            .stderr_has("timed out");
        assert!(
            elapsed < Duration::from_secs(10),
            "took {elapsed:?}: {}",
            output.stderr
        );
        assert!(!output.exists("after.txt"));
        let gone = wait_until(Duration::from_secs(1), || {
            processes_with("sleep 30.4711").is_empty()
        });
        assert!(
            gone,
            "`{command}` left {:?} running",
            processes_with("sleep 30.4711")
        );
    }
}

#[test]
fn a_failed_step_stops_the_steps_after_it() {
    let output = Test::new()
        .workflow(
            "name: ff
isolation: none
commands:
  - shell: echo 1 >> log
  - shell: echo 2 >> log; exit 1
  - shell: echo 3 >> log
  - shell: echo 4 >> log
",
        )
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed step[1]")
        .stderr_has("step[2]: needs `step[1]`, which failed")
        .stderr_has("step[3]: needs `step[1]`, which failed")
        .stderr_has("1 ran, 0 cached, 1 failed");
    assert_eq!(output.log_lines("log"), ["1", "2"]);
}

const BRANCHES: &str = "name: branches
isolation: none
commands:
  - id: a
    shell: exit 1
  - id: b
    needs: [a]
    shell: echo b >> log
  - id: c
    needs: []
    shell: echo c >> log
  - id: d
    needs: [c]
    shell: echo d >> log
";

#[test]
fn fail_fast_cancels_independent_nodes_that_have_not_started() {
    let output = Test::new().workflow(BRANCHES).arg("-j1").run_limited();
    output
        .code(1)
        .stderr_has("Failed a")
        .stderr_has(
            "Cancelled c: not started: `a` failed (fail-fast; use --keep-going to continue)",
        )
        .stderr_has("Cancelled d: not started")
        .stderr_has("2 cancelled");
    assert!(
        output.log_lines("log").is_empty(),
        "ran after fail-fast: {:?}",
        output.log_lines("log")
    );
}

#[test]
fn keep_going_runs_the_independent_branch_and_skips_dependents() {
    let output = Test::new()
        .workflow(BRANCHES)
        .args(["-j1", "--keep-going"])
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed a")
        .stderr_has("Skipped b: needs `a`, which failed")
        .stderr_has("Ran c")
        .stderr_has("Ran d")
        .stderr_has("4 nodes: 2 ran, 0 cached, 1 failed, 1 skipped");
    let mut ran = output.log_lines("log");
    ran.sort();
    assert_eq!(ran, ["c", "d"]);
}

#[test]
fn an_invalid_workflow_runs_nothing_and_exits_two() {
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: echo ran > ran.txt\n    timeot: 5\n")
        .run_limited();
    output.code(2).stderr_has("timeot");
    assert!(!output.exists("ran.txt"));
}

#[test]
fn a_background_child_does_not_outlive_its_step() {
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: sleep 30.4718 &\n  - shell: echo next > next.txt\n")
        .run_limited();
    output.success();
    assert!(output.exists("next.txt"));
    let gone = wait_until(Duration::from_secs(1), || {
        processes_with("sleep 30.4718").is_empty()
    });
    assert!(gone, "left running: {:?}", processes_with("sleep 30.4718"));
}

#[test]
fn fail_fast_cancels_nodes_that_are_running() {
    let started = Instant::now();
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - id: a
    shell: sleep 0.3; exit 1
  - id: slow
    needs: []
    shell: sleep 8.4719
",
        )
        .arg("-j2")
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed a")
        .stderr_lacks("Ran slow");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for `slow`: {:?}",
        started.elapsed()
    );
    assert!(processes_with("sleep 8.4719").is_empty());
}
