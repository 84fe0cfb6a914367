//! Command-level error handling: the guide's `on_failure` block (`command: {claude: ...}`,
//! `max_attempts`, `fail_workflow: false`, `strategy: exponential`) validated and run as
//! written, with a stand-in `cargo` on PATH and the fake claude; and the guide's note that
//! `continue_on_error` belongs to the legacy command format.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Output, Test, claude_calls, events_of};

/// The guide's command-level block, verbatim (a one-step list).
const GUIDE_ON_FAILURE: &str = include_str!("../../testdata/errors/guide-on-failure.yml");

/// A `cargo` that logs `<args> <ns>` to `cargo.log`, prints a clippy warning and fails,
/// unless the file `fixed` exists.
const FAKE_CARGO: &str = "#!/bin/sh\necho \"$* $(date +%s%N)\" >> cargo.log\n\
    if [ -f fixed ]; then echo 'Finished'; exit 0; fi\n\
    echo 'warning: unused variable: `x`'\necho 'error: could not compile' >&2\nexit 1\n";

/// The guide's block as the first step (with `edit` applied), then a step that records
/// that the workflow went on; `cargo` is [`FAKE_CARGO`].
fn guide_run(edit: impl Fn(&str) -> String) -> Output {
    let test = Test::new();
    let root = test.path().to_path_buf();
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let test = test.file("bin/cargo", FAKE_CARGO);
    let cargo = root.join("bin/cargo");
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755))
        .expect("make bin/cargo executable");
    test.workflow(&format!(
        "isolation: none\ncommands:\n{}\n- shell: echo after > after.txt\n",
        edit(GUIDE_ON_FAILURE)
    ))
    .args(["--events", "events.jsonl"])
    .env("PATH", &path)
    .env(
        "FAKE_CLAUDE_LOG",
        &root.join("claude-calls.jsonl").to_string_lossy(),
    )
    .run_limited()
}

/// Times (ns) of each `cargo clippy` run.
fn cargo_runs(output: &Output) -> Vec<u128> {
    output
        .log_lines("cargo.log")
        .iter()
        .map(|l| {
            let (args, ns) = l.rsplit_once(' ').expect("`args ns`");
            assert_eq!(args, "clippy", "{l}");
            ns.parse().expect("ns")
        })
        .collect()
}

#[test]
fn the_guides_on_failure_block_validates_as_written() {
    Test::new()
        .file("flow.yml", format!("commands:\n{GUIDE_ON_FAILURE}"))
        .args(["validate", "flow.yml"])
        .run()
        .success()
        .stderr_lacks("error");
}

#[test]
fn the_guides_on_failure_block_runs_as_written() {
    let output = guide_run(str::to_string);
    output
        .success()
        .stderr_has("Warning step[0]: failure not recovered (fail_workflow: false)")
        .stderr_has("Ran step[1]");
    assert!(
        output.exists("after.txt"),
        "fail_workflow: false lets the workflow go on"
    );
    assert_eq!(
        cargo_runs(&output).len(),
        4,
        "the first run, then a re-run after each of max_attempts: 3 handler runs"
    );
    let calls = claude_calls(&output.abs("claude-calls.jsonl"));
    assert_eq!(calls.len(), 3, "max_attempts: 3");
    for call in &calls {
        let prompt = call["prompt"].as_str().unwrap_or_default();
        assert!(
            prompt.starts_with("/fix-warnings ")
                && prompt.contains("warning: unused variable: `x`"),
            "the handler gets ${{shell.output}}: {prompt:?}"
        );
    }
    assert_exponential_waits(&output);
}

/// `strategy: exponential`: the guide gives no delays, so the format's defaults (first
/// 1000 ms, multiplier 2) space the re-runs, each announced as a `node_retrying` event.
#[track_caller]
fn assert_exponential_waits(output: &Output) {
    let events = output.json_lines_of("events.jsonl");
    let delays: Vec<u64> = events_of(&events, "node_retrying", "step[0]")
        .iter()
        .map(|e| e["delay_ms"].as_u64().expect("delay_ms"))
        .collect();
    assert_eq!(
        delays,
        [1000, 2000, 4000],
        "one growing wait before each re-run"
    );
    let runs = cargo_runs(output);
    for (k, delay) in delays.iter().enumerate() {
        let gap = (runs[k + 1] - runs[k]) / 1_000_000;
        assert!(
            gap >= u128::from(*delay),
            "re-run {} came {gap} ms after the run before it, expected at least {delay} ms",
            k + 1
        );
    }
}

#[test]
fn a_handler_that_fixes_the_cause_recovers_the_step() {
    // The fake claude writes `fixed` (a `[[mode:write:PATH:TEXT]]` marker), so the re-run passes.
    let output = guide_run(|block| {
        block.replace(
            "/fix-warnings ${shell.output}",
            "/fix-warnings [[mode:write:fixed:ok]] ${shell.output}",
        )
    });
    output
        .success()
        .stderr_has("Ran step[0]")
        .stderr_lacks("Warning step[0]");
    assert_eq!(
        cargo_runs(&output).len(),
        2,
        "the failed run and one re-run"
    );
    assert_eq!(claude_calls(&output.abs("claude-calls.jsonl")).len(), 1);
    assert!(output.exists("after.txt"));
}

#[test]
fn fail_workflow_true_stops_the_workflow_after_the_attempts() {
    let output = guide_run(|block| {
        block
            .replace("fail_workflow: false", "fail_workflow: true")
            .replace("strategy: exponential", "strategy: fixed")
    });
    output.code(1).stderr_has("Failed step[0]");
    assert_eq!(cargo_runs(&output).len(), 4);
    assert!(
        !output.exists("after.txt"),
        "the workflow went on after a fatal failure"
    );
}

/// A legacy `CommandMetadata` command (`name:` + `metadata:`) that fails (claude is not
/// logged in), then a step that records that the workflow went on.
fn legacy(metadata: &str) -> Output {
    Test::new()
        .workflow(&format!(
            "commands:\n  - name: lint\n    metadata:\n{metadata}  - shell: echo after > after.txt\n"
        ))
        .env("FAKE_CLAUDE_MODE", "not-logged-in")
        .run_limited()
}

#[test]
fn continue_on_error_in_legacy_command_metadata_lets_the_workflow_go_on() {
    let output = legacy("      continue_on_error: true\n");
    output
        .success()
        .stderr_has("Warning step[0]: allowed failure: Not logged in");
    assert!(output.exists("after.txt"));
    let strict = legacy("      continue_on_error: false\n");
    strict.code(1);
    assert!(!strict.exists("after.txt"));
}
