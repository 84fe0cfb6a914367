//! Ctrl-C and SIGTERM: the run stops within seconds with exit code 130, reports what was
//! interrupted, starts nothing new, and leaves no child process behind.

use std::time::{Duration, Instant};

use crate::support::{Test, processes_with, wait_until};

fn sleepy_map(marker: &str, items: usize) -> Test {
    let items: Vec<String> = (0..items).map(|i| i.to_string()).collect();
    Test::new()
        .file("items.json", format!("[{}]", items.join(",")))
        .workflow(&format!(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: echo ${{item}} >> started.log; sleep {marker}
reduce:
  - shell: echo reduce > reduce.txt
"
        ))
}

/// Starts the run, waits until `running` sleeps exist, sends `signal`, and checks the end.
fn interrupt(marker: &str, items: usize, running: usize, signal: &str) -> crate::support::Output {
    let run = sleepy_map(marker, items).spawn();
    let sleeps = || {
        processes_with(marker)
            .iter()
            .filter(|p| p.starts_with("sleep "))
            .count()
    };
    let started = wait_until(Duration::from_secs(10), || sleeps() >= running);
    assert!(
        started,
        "the sleeps never started (found {:?})",
        processes_with(marker)
    );
    let sent = Instant::now();
    run.signal(signal);
    let output = run.wait(Duration::from_secs(10));
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} to stop after SIG{signal}"
    );
    let gone = wait_until(Duration::from_secs(1), || processes_with(marker).is_empty());
    assert!(
        gone,
        "children survived SIG{signal}: {:?}",
        processes_with(marker)
    );
    output
}

#[test]
fn ctrl_c_stops_the_run_kills_the_children_and_exits_130() {
    let output = interrupt("30.4712", 4, 2, "INT");
    output.code(130).stderr_has("interrupted");
    assert_eq!(
        output.log_lines("started.log").len(),
        2,
        "items started after Ctrl-C"
    );
    assert!(!output.exists("reduce.txt"), "reduce ran after Ctrl-C");
    assert!(
        output.stderr_lines_starting("Cancelled map/")
            + output.stderr_lines_starting("Failed map/")
            >= 4,
        "every item should be reported as cancelled or failed:\n{}",
        output.stderr
    );
}

#[test]
fn sigterm_stops_the_run_like_ctrl_c() {
    let output = interrupt("30.4713", 1, 1, "TERM");
    output.code(130).stderr_has("cancelled");
    assert!(!output.exists("reduce.txt"));
}

#[test]
fn items_running_at_ctrl_c_are_counted_as_cancelled_not_failed() {
    let output = interrupt("30.4714", 2, 2, "INT");
    output
        .code(130)
        .stderr_lacks("Failed map/")
        .stderr_has("Cancelled map/item_0")
        .stderr_has("Cancelled map/item_1")
        .stderr_has("0 failed");
}

#[test]
fn sighup_cancels_like_ctrl_c_and_leaves_no_children() {
    // Children run in their own process groups, so a hang-up must be handled, not fatal.
    interrupt("30.4716", 2, 2, "HUP").code(130);
}
