//! Tests of `claude.rs`.

use super::*;

const NOT_LOGGED_IN: &str = include_str!("../../testdata/claude/not-logged-in.stream.jsonl");
const SUCCESS: &str = include_str!("../../testdata/claude/success.stream.jsonl");

fn request(prompt: &str) -> ClaudeRequest<'_> {
    ClaudeRequest {
        prompt,
        ..ClaudeRequest::default()
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn args_minimal_puts_the_prompt_after_double_dash() {
    assert_eq!(
        args(&request("say hi")),
        strings(&[
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--",
            "say hi"
        ])
    );
}

#[test]
fn args_with_every_option() {
    let tools = strings(&["Edit", "Bash(git *)"]);
    let req = ClaudeRequest {
        prompt: "fix it",
        model: Some("sonnet"),
        permission_mode: Some("acceptEdits"),
        allowed_tools: &tools,
        max_budget_usd: Some(0.5),
        session_id: Some("3f6c2a9e-8d41-4b7a-9c2e-5a1d7e0b4f63"),
        skip_permissions: true,
    };
    let expected = strings(&[
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "sonnet",
        "--permission-mode",
        "acceptEdits",
        "--max-budget-usd",
        "0.5",
        "--session-id",
        "3f6c2a9e-8d41-4b7a-9c2e-5a1d7e0b4f63",
        "--dangerously-skip-permissions",
        "--allowedTools",
        "Edit",
        "Bash(git *)",
        "--",
        "fix it",
    ]);
    assert_eq!(args(&req), expected);
}

#[test]
fn args_each_option_alone() {
    let base = strings(&["-p", "--output-format", "stream-json", "--verbose"]);
    let with = |extra: &[&str]| [base.clone(), strings(extra), strings(&["--", "p"])].concat();
    let tools = strings(&["Read"]);
    let cases: Vec<(ClaudeRequest<'_>, Vec<String>)> = vec![
        (
            ClaudeRequest {
                model: Some("opus"),
                ..request("p")
            },
            with(&["--model", "opus"]),
        ),
        (
            ClaudeRequest {
                permission_mode: Some("plan"),
                ..request("p")
            },
            with(&["--permission-mode", "plan"]),
        ),
        (
            ClaudeRequest {
                allowed_tools: &tools,
                ..request("p")
            },
            with(&["--allowedTools", "Read"]),
        ),
        (
            ClaudeRequest {
                max_budget_usd: Some(2.0),
                ..request("p")
            },
            with(&["--max-budget-usd", "2"]),
        ),
        (
            ClaudeRequest {
                max_budget_usd: Some(0.0000001),
                ..request("p")
            },
            with(&["--max-budget-usd", "0.0000001"]),
        ),
        (
            ClaudeRequest {
                session_id: Some("id"),
                ..request("p")
            },
            with(&["--session-id", "id"]),
        ),
        (
            ClaudeRequest {
                skip_permissions: true,
                ..request("p")
            },
            with(&["--dangerously-skip-permissions"]),
        ),
    ];
    for (req, expected) in cases {
        assert_eq!(args(&req), expected);
    }
}

#[test]
fn args_keep_a_prompt_that_starts_with_a_dash() {
    let argv = args(&request("--model is what this prompt talks about"));
    assert_eq!(
        argv[argv.len() - 2..],
        strings(&["--", "--model is what this prompt talks about"])
    );
}

#[test]
fn args_never_skip_permissions_by_default() {
    let tools = strings(&["Edit"]);
    let req = ClaudeRequest {
        model: Some("m"),
        allowed_tools: &tools,
        permission_mode: Some("bypassPermissions"),
        ..request("p")
    };
    assert!(
        !args(&req)
            .iter()
            .any(|a| a == "--dangerously-skip-permissions")
    );
    assert!(!ClaudeRequest::default().skip_permissions);
}

#[test]
fn parses_the_recorded_not_logged_in_transcript() {
    let result = parse_stream(NOT_LOGGED_IN).expect("has a result line");
    assert!(result.is_error);
    assert_eq!(result.subtype, "success");
    assert_eq!(result.text, "Not logged in · Please run /login");
    assert_eq!(
        result.assistant_error.as_deref(),
        Some("authentication_failed")
    );
    assert_eq!(
        result.session_id.as_deref(),
        Some("a828942e-8257-4e51-8a9a-b6989e3d5bd3")
    );
    assert_eq!(
        (result.num_turns, result.duration_ms, result.cost_usd),
        (1, 220, 0.0)
    );
    assert_eq!(result.ignored_line_count, 0);
}

#[test]
fn parses_a_success_transcript() {
    let result = parse_stream(SUCCESS).expect("has a result line");
    let expected = ClaudeResult {
        is_error: false,
        text: "Added a doc comment to `a` in src/a.rs.".into(),
        subtype: "success".into(),
        cost_usd: 0.0421875,
        input_tokens: 1234,
        output_tokens: 208,
        cache_read_tokens: 10144,
        cache_creation_tokens: 2048,
        session_id: Some("3f6c2a9e-8d41-4b7a-9c2e-5a1d7e0b4f63".into()),
        num_turns: 2,
        duration_ms: 5123,
        ..ClaudeResult::default()
    };
    assert_eq!(result, expected);
    assert!(matches!(outcome(Some(0), SUCCESS, ""), ClaudeOutcome::Success(r) if r == expected));
}

#[test]
fn a_stream_without_result_is_an_error_with_its_tail() {
    let stdout = NOT_LOGGED_IN.lines().take(2).collect::<Vec<_>>().join("\n");
    let error = parse_stream(&stdout).unwrap_err();
    let StreamError::NoResult { stdout_tail } = &error else {
        panic!("{error:?}")
    };
    assert!(stdout_tail.ends_with("\"error\":\"authentication_failed\"}"));
    assert!(stdout_tail.len() <= 1000);
    assert_eq!(
        parse_stream("").unwrap_err().to_string(),
        "claude printed no `result` message and no output"
    );
}

#[test]
fn garbage_lines_are_skipped_and_counted() {
    let stdout = format!("warning: something odd\n{{not json\n\n[1,2]\n{SUCCESS}trailing noise\n");
    let result = parse_stream(&stdout).expect("result found");
    assert!(!result.is_error);
    assert_eq!(result.ignored_line_count, 4);
    assert_eq!(
        result.ignored_lines,
        strings(&[
            "warning: something odd",
            "{not json",
            "[1,2]",
            "trailing noise"
        ])
    );
}

#[test]
fn the_last_result_wins() {
    let stdout = format!(
        "{}\n{}",
        SUCCESS.trim(),
        NOT_LOGGED_IN.lines().last().unwrap_or_default()
    );
    assert!(parse_stream(&stdout).expect("result").is_error);
}

#[test]
fn a_result_without_is_error_is_malformed() {
    let error =
        parse_stream("{\"type\":\"system\"}\n{\"type\":\"result\",\"result\":\"hi\"}").unwrap_err();
    assert_eq!(error, StreamError::MalformedResult { line: 2 });
    let ClaudeOutcome::Failed { kind, reason, .. } = outcome(Some(0), "{\"type\":\"result\"}", "")
    else {
        panic!()
    };
    assert_eq!(
        (kind, reason.as_str()),
        (
            ClaudeFailure::Other,
            "claude's `result` message on stdout line 1 has no boolean `is_error`"
        )
    );
}

#[test]
fn error_subtypes_use_their_errors_as_text() {
    let stdout = r#"{"type":"result","subtype":"error_max_budget_usd","is_error":true,"total_cost_usd":0.51,"usage":{"input_tokens":10},"errors":["Reached maximum budget ($0.5)"]}"#;
    let ClaudeOutcome::Failed {
        reason,
        result,
        kind,
    } = outcome(Some(1), stdout, "")
    else {
        panic!()
    };
    assert_eq!(
        (reason.as_str(), kind),
        ("Reached maximum budget ($0.5)", ClaudeFailure::Budget)
    );
    assert_eq!(
        result.map(|r| (r.cost_usd, r.input_tokens)),
        Some((0.51, 10))
    );
    let no_text = r#"{"type":"result","subtype":"error_max_turns","is_error":true}"#;
    let ClaudeOutcome::Failed { reason, kind, .. } = outcome(Some(1), no_text, "") else {
        panic!()
    };
    assert_eq!(
        (reason.as_str(), kind),
        ("claude stopped: error_max_turns", ClaudeFailure::Other)
    );
}

fn failed(exit: Option<i32>, stdout: &str, stderr: &str) -> (String, ClaudeFailure, bool) {
    match outcome(exit, stdout, stderr) {
        ClaudeOutcome::Failed {
            reason,
            kind,
            result,
        } => (reason, kind, result.is_some()),
        ClaudeOutcome::Success(r) => panic!("expected a failure, got {r:?}"),
    }
}

#[test]
fn not_logged_in_fails_with_the_cli_text() {
    let expected = (
        "Not logged in · Please run /login".to_string(),
        ClaudeFailure::Authentication,
        true,
    );
    assert_eq!(failed(Some(1), NOT_LOGGED_IN, ""), expected);
    // Even with exit code 0, is_error decides.
    assert_eq!(failed(Some(0), NOT_LOGGED_IN, ""), expected);
}

#[test]
fn a_clean_result_with_a_bad_exit_code_fails() {
    assert_eq!(
        failed(Some(3), SUCCESS, ""),
        (
            "claude exited with code 3".into(),
            ClaudeFailure::Other,
            true
        )
    );
    assert_eq!(
        failed(None, SUCCESS, "Killed\n"),
        ("Killed".into(), ClaudeFailure::Other, true)
    );
    assert_eq!(
        failed(None, SUCCESS, ""),
        (
            "claude was killed by a signal".into(),
            ClaudeFailure::Other,
            true
        )
    );
}

#[test]
fn without_a_result_the_reason_comes_from_stderr() {
    let root = "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n";
    assert_eq!(
        failed(Some(1), "", root),
        (root.trim().to_string(), ClaudeFailure::Refused, false)
    );
    let unknown = "error: unknown option '--bogus'\n";
    assert_eq!(
        failed(Some(1), "", unknown),
        (
            "error: unknown option '--bogus'".into(),
            ClaudeFailure::Other,
            false
        )
    );
    let bun = "33623 | `)}return e}\n\nerror: --max-budget-usd must be a positive number greater than 0\n      at parseAsync (cli.js:1:2)\n\nBun v1.4.0 (Linux x64 baseline)\n";
    assert_eq!(
        failed(Some(1), "", bun).0,
        "error: --max-budget-usd must be a positive number greater than 0"
    );
    assert_eq!(
        failed(Some(2), "{\"type\":\"system\",", "fatal: simulated crash\n").0,
        "fatal: simulated crash"
    );
    assert_eq!(failed(Some(2), "", "").0, "claude exited with code 2");
    assert_eq!(
        failed(Some(0), "hello\n", "").0,
        "claude exited with code 0 but printed no `result` message"
    );
    let reused = "Error: Session ID 55555555-5555-4429-8555-555555555555 is already in use.\n";
    assert_eq!(failed(Some(1), "", reused).1, ClaudeFailure::Other);
}

#[test]
fn classifies_rate_limits() {
    let rate = r#"{"type":"assistant","error":"rate_limit"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: Request rejected (429) · this may be a temporary capacity issue."}"#;
    assert_eq!(failed(Some(1), rate, "").1, ClaudeFailure::RateLimit);
    let overloaded = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"result":"API Error: 529"}"#;
    assert_eq!(failed(Some(1), overloaded, "").1, ClaudeFailure::RateLimit);
    let text_only = r#"{"type":"result","is_error":true,"result":"Opus is experiencing high load, please use /model to switch to Sonnet"}"#;
    assert_eq!(failed(Some(1), text_only, "").1, ClaudeFailure::RateLimit);
    assert_eq!(
        failed(Some(1), "", "Error: 429 Too Many Requests\n").1,
        ClaudeFailure::RateLimit
    );
}

#[test]
fn classifies_authentication_and_billing_signals() {
    let auth =
        r#"{"type":"result","is_error":true,"api_error_status":401,"result":"API Error: 401"}"#;
    assert_eq!(failed(Some(1), auth, "").1, ClaudeFailure::Authentication);
    let key =
        r#"{"type":"result","is_error":true,"result":"Invalid API key · Fix external API key"}"#;
    assert_eq!(failed(Some(1), key, "").1, ClaudeFailure::Authentication);
    let billing = "{\"type\":\"assistant\",\"error\":\"billing_error\"}\n{\"type\":\"result\",\"is_error\":true,\"result\":\"Credit balance is too low\"}";
    assert_eq!(failed(Some(1), billing, "").1, ClaudeFailure::Budget);
}

#[test]
fn status_codes_must_stand_alone() {
    assert!(has_status("api error: 429 too many", "429"));
    assert!(has_status("rejected (429)", "429"));
    assert!(!has_status("session 55555555-4429-8555", "429"));
    assert!(!has_status("x4290", "429"));
}

#[test]
fn session_uuid_is_a_deterministic_v4_uuid() {
    let id = session_uuid("job-1/node-a#1");
    assert_eq!(id, session_uuid("job-1/node-a#1"));
    assert_ne!(id, session_uuid("job-1/node-a#2"));
    let groups: Vec<&str> = id.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(
        id.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert!(groups[2].starts_with('4'));
    assert!(groups[3].starts_with(['8', '9', 'a', 'b']));
    for seed in ["", "a", "b", "ü", "long seed with spaces"] {
        let id = session_uuid(seed);
        assert_eq!((id.len(), &id[14..15]), (36, "4"));
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}

#[test]
fn parses_versions() {
    assert_eq!(
        parse_version("2.1.197 (Claude Code)\n").as_deref(),
        Some("2.1.197")
    );
    assert_eq!(
        parse_version("\n  claude v1.0.3-beta.1\n").as_deref(),
        Some("1.0.3-beta.1")
    );
    assert_eq!(parse_version("Claude Code"), None);
    assert_eq!(parse_version(""), None);
}

#[test]
fn cut_and_tail_respect_char_boundaries() {
    assert_eq!(cut("ab·cd", 3), "ab…");
    assert_eq!(cut("abc", 3), "abc");
    assert_eq!(tail("xx·yy", 3), "yy");
}

/// Runs `testdata/fake-claude` with the argv from [`args`].
fn run_fake(mode: &str, req: &ClaudeRequest<'_>, env: &[(&str, &str)]) -> Option<ClaudeOutcome> {
    use std::process::{Command, Stdio};
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipping: python3 is not installed, so testdata/fake-claude cannot run");
        return None;
    }
    let fake = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fake-claude");
    let out = Command::new(fake)
        .args(args(req))
        .env("FAKE_CLAUDE_MODE", mode)
        .env_remove("FAKE_CLAUDE_LOG")
        .env_remove("FAKE_CLAUDE_SESSION_DIR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("fake-claude runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Some(outcome(
        out.status.code(),
        &text(&out.stdout),
        &text(&out.stderr),
    ))
}

#[test]
fn fake_claude_follows_the_contract() {
    let tools = strings(&["Edit", "Read"]);
    let session = session_uuid("fake-claude test");
    let req = ClaudeRequest {
        model: Some("sonnet"),
        permission_mode: Some("acceptEdits"),
        allowed_tools: &tools,
        max_budget_usd: Some(1.5),
        session_id: Some(&session),
        ..request("-x: a prompt that starts with a dash")
    };
    let Some(ok) = run_fake("ok", &req, &[]) else {
        return;
    };
    let ClaudeOutcome::Success(result) = ok else {
        panic!("{ok:?}")
    };
    assert_eq!(result.text, "Done: -x: a prompt that starts with a dash");
    assert_eq!(result.session_id.as_deref(), Some(session.as_str()));
    let usage = (
        result.cost_usd,
        result.input_tokens,
        result.output_tokens,
        result.cache_read_tokens,
        result.cache_creation_tokens,
    );
    assert_eq!(usage, (0.0123, 1200, 340, 5000, 0));

    let not_logged_in = run_fake("not-logged-in", &req, &[]);
    assert!(matches!(
        not_logged_in,
        Some(ClaudeOutcome::Failed { kind: ClaudeFailure::Authentication, ref reason, result: Some(_) })
            if reason == "Not logged in · Please run /login"
    ));

    let rate = run_fake("ok", &request("[[mode:rate-limit]] go"), &[]);
    assert!(
        matches!(
            rate,
            Some(ClaudeOutcome::Failed {
                kind: ClaudeFailure::RateLimit,
                ..
            })
        ),
        "{rate:?}"
    );

    let root = run_fake(
        "ok",
        &ClaudeRequest {
            skip_permissions: true,
            ..request("p")
        },
        &[("FAKE_CLAUDE_ROOT", "1")],
    );
    let refusal = "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons";
    assert!(
        matches!(root, Some(ClaudeOutcome::Failed { kind: ClaudeFailure::Refused, ref reason, result: None }) if reason == refusal),
        "{root:?}"
    );

    let crash = run_fake("crash", &request("p"), &[]);
    assert!(
        matches!(crash, Some(ClaudeOutcome::Failed { kind: ClaudeFailure::Other, ref reason, .. }) if reason == "fatal: simulated crash")
    );
}
