//! claude steps against the fake CLI (`testdata/fake-claude`): the argv contract, failed
//! calls that exit 0 or 1 with `is_error`, cost and token totals, and shell-only
//! workflows that never need claude.

use std::path::Path;

use serde_json::Value;

use crate::support::{RUN_LIMIT, Test};

/// The fake's invocation log (`FAKE_CLAUDE_LOG`) of a test, one JSON object per call.
fn calls(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("fake-claude logs JSON lines"))
        .collect()
}

fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn claude_is_called_in_print_mode_with_the_step_options() {
    let test = Test::new();
    let log = test.path().join("claude-calls.jsonl");
    let output = test
        .workflow(
            "isolation: none
commands:
  - shell: echo auth
    capture: module
  - claude: /refactor ${module} --carefully
    model: sonnet
    permission_mode: acceptEdits
    allowed_tools: [Read, Edit, \"Bash(cargo test:*)\"]
    max_budget_usd: 2.5
",
        )
        .env("FAKE_CLAUDE_LOG", &log.to_string_lossy())
        .run_limited();
    output.success();
    let calls = calls(&log);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let argv: Vec<&str> = calls[0]["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        argv[..4],
        ["-p", "--output-format", "stream-json", "--verbose"],
        "{argv:?}"
    );
    let after = |flag: &str| {
        argv.iter()
            .position(|a| *a == flag)
            .and_then(|i| argv.get(i + 1))
            .copied()
    };
    assert_eq!(after("--model"), Some("sonnet"), "{argv:?}");
    assert_eq!(after("--permission-mode"), Some("acceptEdits"), "{argv:?}");
    assert_eq!(after("--max-budget-usd"), Some("2.5"), "{argv:?}");
    assert!(after("--session-id").is_some_and(is_uuid), "{argv:?}");
    assert_eq!(argv.last(), Some(&"/refactor auth --carefully"), "{argv:?}");
    assert!(argv.contains(&"--allowedTools"), "{argv:?}");
    assert!(
        !argv.contains(&"--dangerously-skip-permissions"),
        "{argv:?}"
    );
    assert_eq!(calls[0]["prompt"], "/refactor auth --carefully");
    assert_eq!(
        calls[0]["allowed_tools"],
        serde_json::json!(["Read", "Edit", "Bash(cargo test:*)"])
    );
    assert_eq!(calls[0]["skip_permissions"], false);
}

#[test]
fn each_call_gets_its_own_session_id() {
    let test = Test::new();
    let log = test.path().join("claude-calls.jsonl");
    let output = test
        .workflow("isolation: none\ncommands:\n  - claude: /one\n  - claude: /two\n")
        .env("FAKE_CLAUDE_LOG", &log.to_string_lossy())
        .env(
            "FAKE_CLAUDE_SESSION_DIR",
            &log.with_file_name("sessions").to_string_lossy(),
        )
        .run_limited();
    output.success();
    let ids: Vec<Value> = calls(&log)
        .into_iter()
        .map(|c| c["session_id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn not_logged_in_fails_a_step_with_the_cli_reason() {
    let output = Test::new()
        .workflow(
            "isolation: none\ncommands:\n  - claude: /fix\n  - shell: echo after > after.txt\n",
        )
        .env("FAKE_CLAUDE_MODE", "not-logged-in")
        .run_limited();
    output
        .code(1)
        .stderr_has("Failed step[0]")
        .stderr_has("Not logged in · Please run /login");
    assert!(!output.exists("after.txt"));
}

#[test]
fn not_logged_in_fails_a_map_item() {
    let output = Test::new()
        .file("items.json", r#"["a", "b"]"#)
        .workflow(
            "isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - claude: \"/handle ${item} [[mode:ok]]\"
      when: \"${item} == 'a'\"
    - claude: \"/handle ${item} [[mode:not-logged-in]]\"
      when: \"${item} == 'b'\"
",
        )
        .run_limited();
    output
        .code(3)
        .stderr_has("Ran map/item_0")
        .stderr_has("Failed map/item_1")
        .stderr_has("Not logged in · Please run /login");
}

#[test]
fn a_not_logged_in_failure_is_not_retried() {
    let test = Test::new();
    let log = test.path().join("claude-calls.jsonl");
    let output = test
        .workflow("isolation: none\ncommands:\n  - claude: /fix\n    retry: {attempts: 3, backoff: {type: fixed, delay: 10}}\n")
        .env("FAKE_CLAUDE_MODE", "not-logged-in")
        .env("FAKE_CLAUDE_LOG", &log.to_string_lossy())
        .run_limited();
    output.code(1).stderr_lacks("Retrying");
    assert_eq!(calls(&log).len(), 1);
}

#[test]
fn cost_and_tokens_are_summed_in_the_summary() {
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - claude: /one\n  - claude: /two\n")
        .args(["--summary-json", "summary.json"])
        .run_limited();
    output
        .success()
        .stderr_has("Claude: 2 calls, $0.0246, 2400 input / 680 output tokens (10000 cached)");
    let summary = output.json_of("summary.json");
    assert_eq!(summary["cost"]["calls"], 2);
    assert_eq!(summary["cost"]["input_tokens"], 2400);
    assert_eq!(summary["cost"]["output_tokens"], 680);
    let usd = summary["cost"]["usd"].as_f64().expect("usd");
    assert!((usd - 0.0246).abs() < 1e-9, "{usd}");
    assert_eq!(summary["nodes"][0]["cost"]["calls"], 1);
    assert_eq!(summary["nodes"][0]["cost"]["output_tokens"], 340);
}

#[test]
fn a_shell_only_run_has_no_claude_line() {
    Test::new()
        .workflow("isolation: none\ncommands:\n  - shell: \"true\"\n")
        .run_limited()
        .success()
        .stderr_lacks("Claude:");
}

#[test]
fn a_shell_only_workflow_runs_without_claude_installed() {
    let test = Test::new();
    let bin = test.path().join(".bin");
    std::fs::create_dir_all(&bin).expect("create .bin");
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).expect("link sh");
    let output = test
        .workflow("isolation: none\ncommands:\n  - shell: echo ok > ok.txt\n")
        .env("PATH", &bin.to_string_lossy())
        .run_with(RUN_LIMIT, &["PRODIGY_CLAUDE_BIN"]);
    output.success().stderr_lacks("claude");
    assert_eq!(output.read("ok.txt"), "ok\n");
}

#[test]
fn a_missing_claude_binary_fails_the_claude_step_with_a_hint() {
    Test::new()
        .workflow("isolation: none\ncommands:\n  - claude: /fix\n")
        .env("PRODIGY_CLAUDE_BIN", "/nonexistent/claude-4711")
        .run_limited()
        .code(1)
        .stderr_has("set PRODIGY_CLAUDE_BIN or install the claude CLI");
}

#[test]
fn verbose_streams_the_assistant_text() {
    Test::new()
        .workflow("isolation: none\ncommands:\n  - claude: /explain things\n")
        .arg("-v")
        .run_limited()
        .success()
        .stderr_has("step[0] | Done: /explain things\n")
        .stderr_lacks("\"type\":\"system\"");
}

#[test]
fn claude_output_is_captured_as_the_result_text() {
    let output = Test::new()
        .workflow(
            "isolation: none
commands:
  - claude: /summarize
    capture: summary
  - shell: echo \"${summary}|${claude.output}\" > out.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(
        output.read("out.txt"),
        "Done: /summarize|Done: /summarize\n"
    );
}

#[test]
fn map_items_reach_claude_as_item_env_vars() {
    let test = Test::new();
    let log = test.path().join("claude-calls.jsonl");
    let output = test
        .file("items.json", r#"[{"name": "auth"}]"#)
        .workflow(
            "isolation: none\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - claude: /review ${item.name}\n",
        )
        .env("FAKE_CLAUDE_LOG", &log.to_string_lossy())
        .run_limited();
    output.success();
    let calls = calls(&log);
    assert_eq!(calls[0]["prompt"], "/review auth");
    assert_eq!(calls[0]["env"]["ITEM_NAME"], "auth");
}

#[test]
fn a_claude_timeout_kills_the_cli() {
    let started = std::time::Instant::now();
    let output = Test::new()
        .workflow("isolation: none\ncommands:\n  - claude: \"/slow [[mode:sleep:30.4716]]\"\n    timeout: 1\n")
        .run_limited();
    output.code(1).stderr_has("timed out after 1s");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let gone = crate::support::wait_until(std::time::Duration::from_secs(1), || {
        crate::support::processes_with("sleep:30.4716").is_empty()
    });
    assert!(gone, "the claude CLI outlived its timeout");
}

#[test]
fn a_slash_command_handler_asks_claude_with_the_failed_output() {
    let test = Test::new();
    let log = test.path().join("claude-calls.jsonl");
    let output = test
        .workflow(
            "isolation: none\ncommands:\n  - shell: echo broken-test; exit 1\n    on_failure: \"/fix ${shell.output}\"\n",
        )
        .env("FAKE_CLAUDE_LOG", &log.to_string_lossy())
        .run_limited();
    output.code(1).stderr_has("Claude: 1 call");
    let calls = calls(&log);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["prompt"], "/fix broken-test");
}
