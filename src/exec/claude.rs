//! The contract with the Claude Code CLI (`claude`): the argv prodigy passes, the
//! stream-json it reads back, and how a call's outcome is judged. Pure: `exec::action`
//! spawns the process with the shared process runner and hands the captured output here;
//! `testdata/fake-claude` plays the CLI in tests.
//!
//! Observed on Claude Code 2.1.197, and why the code looks the way it does:
//! - `--allowedTools` and `--add-dir` are variadic: they swallow every following argument
//!   that does not start with `-`, prompt included. So the prompt always comes after `--`
//!   (which the CLI honours; it also lets a prompt start with `-`).
//! - A failed call may say `subtype: success` with `is_error: true` and exit 1 (`Not logged
//!   in`): success is exit code 0 *and* `is_error: false`, never the subtype.
//! - Error subtypes (`error_max_budget_usd`, `error_max_turns`, `error_during_execution`)
//!   carry `errors: [..]` and no `result`.
//! - `--session-id` must be a UUID and must not have been used before in the same working
//!   directory (`Error: Session ID .. is already in use.`), so its seed must differ per
//!   attempt and per run.
//! - Argument errors go to stderr with exit 1 and no JSON; a bad `--max-budget-usd` prints a
//!   stack trace after the `error:` line, so the reason is the last `error` line of stderr.

use serde::Serialize;
use serde_json::Value;

/// One claude call, as the step asked for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeRequest<'a> {
    /// The prompt, passed as the last argument after `--`.
    pub prompt: &'a str,
    /// `--model` (an alias such as `sonnet` or a full model name).
    pub model: Option<&'a str>,
    /// `--permission-mode` (acceptEdits, auto, bypassPermissions, default, dontAsk, plan).
    pub permission_mode: Option<&'a str>,
    /// `--allowedTools`, one argument per tool (e.g. `Edit`, `Bash(git *)`).
    pub allowed_tools: &'a [String],
    /// `--max-budget-usd`; the CLI rejects values that are not greater than 0.
    pub max_budget_usd: Option<f64>,
    /// `--session-id`, a UUID (see [`session_uuid`]).
    pub session_id: Option<&'a str>,
    /// `--dangerously-skip-permissions`; the CLI refuses it when run as root.
    pub skip_permissions: bool,
}

/// The arguments after the binary: print mode, stream-json output, the options, then `--`
/// and the prompt. Never includes `--dangerously-skip-permissions` unless asked.
pub fn args(req: &ClaudeRequest<'_>) -> Vec<String> {
    let mut argv: Vec<String> = ["-p", "--output-format", "stream-json", "--verbose"]
        .map(String::from)
        .into();
    let mut option = |flag: &str, value: &str| argv.extend([flag.to_string(), value.to_string()]);
    if let Some(model) = req.model {
        option("--model", model);
    }
    if let Some(mode) = req.permission_mode {
        option("--permission-mode", mode);
    }
    if let Some(budget) = req.max_budget_usd {
        // `{}` never uses exponent notation, which the CLI would not parse.
        option("--max-budget-usd", &budget.to_string());
    }
    if let Some(id) = req.session_id {
        option("--session-id", id);
    }
    if req.skip_permissions {
        argv.push("--dangerously-skip-permissions".into());
    }
    // Variadic, so it goes last; an empty list would swallow the `--`.
    if !req.allowed_tools.is_empty() {
        argv.push("--allowedTools".into());
        argv.extend(req.allowed_tools.iter().cloned());
    }
    argv.extend(["--".to_string(), req.prompt.to_string()]);
    argv
}

/// What the final `type: result` message of a call said.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClaudeResult {
    /// The CLI's own verdict; a failure when true, whatever the subtype says.
    pub is_error: bool,
    /// The `result` text, or the `errors` joined with `; ` when there is no `result`.
    pub text: String,
    /// `success`, `error_max_budget_usd`, `error_max_turns`, `error_during_execution`, ...
    pub subtype: String,
    /// The `errors` list of error subtypes.
    pub errors: Vec<String>,
    /// `api_error_status`: the HTTP status of a failed API call (429, 529, 401, ...).
    pub api_error_status: Option<u16>,
    /// The `error` of the last assistant message (`authentication_failed`, `rate_limit`,
    /// `billing_error`, ...), when there was one.
    pub assistant_error: Option<String>,
    /// `total_cost_usd`.
    pub cost_usd: f64,
    /// `usage.input_tokens`.
    pub input_tokens: u64,
    /// `usage.output_tokens`.
    pub output_tokens: u64,
    /// `usage.cache_read_input_tokens`.
    pub cache_read_tokens: u64,
    /// `usage.cache_creation_input_tokens`.
    pub cache_creation_tokens: u64,
    /// The session the call ran in.
    pub session_id: Option<String>,
    /// `num_turns`.
    pub num_turns: u64,
    /// `duration_ms`, as the CLI measured it.
    pub duration_ms: u64,
    /// How many non-empty stdout lines were not JSON objects (worth a warning, not a failure).
    pub ignored_line_count: usize,
    /// The first few of those lines, each cut to 200 characters.
    pub ignored_lines: Vec<String>,
}

/// Why stdout could not be read as a claude stream.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// The stream ended without a `type: result` message (a crash, a kill, an argument
    /// error, or not the claude CLI at all).
    #[error("claude printed no `result` message{}", describe_tail(.stdout_tail))]
    NoResult {
        /// The last lines of stdout, cut to about 1000 bytes.
        stdout_tail: String,
    },
    /// The last `type: result` message has no boolean `is_error`.
    #[error("claude's `result` message on stdout line {line} has no boolean `is_error`")]
    MalformedResult {
        /// 1-based stdout line.
        line: usize,
    },
}

fn describe_tail(tail: &str) -> String {
    if tail.is_empty() {
        " and no output".to_string()
    } else {
        format!("; stdout ended with: {tail}")
    }
}

const IGNORED_LINES_KEPT: usize = 5;

/// Reads the stream-json stdout of one call: skips lines that are not JSON objects (counted in
/// [`ClaudeResult::ignored_lines`]) and messages of other types, and reads the last
/// `type: result` message.
pub fn parse_stream(stdout: &str) -> Result<ClaudeResult, StreamError> {
    let mut last_result: Option<(usize, Value)> = None;
    let mut assistant_error = None;
    let mut ignored = Vec::new();
    let mut ignored_count = 0;
    for (index, line) in stdout.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(message) = line
            .starts_with('{')
            .then(|| serde_json::from_str::<Value>(line).ok())
            .flatten()
        else {
            ignored_count += 1;
            if ignored.len() < IGNORED_LINES_KEPT {
                ignored.push(cut(line, 200));
            }
            continue;
        };
        match message.get("type").and_then(Value::as_str) {
            Some("result") => last_result = Some((index + 1, message)),
            Some("assistant") => {
                if let Some(error) = message.get("error").and_then(Value::as_str) {
                    assistant_error = Some(error.to_string());
                }
            }
            _ => {}
        }
    }
    let Some((line, message)) = last_result else {
        return Err(StreamError::NoResult {
            stdout_tail: tail(stdout, 1000),
        });
    };
    let mut result = read_result(&message).ok_or(StreamError::MalformedResult { line })?;
    result.assistant_error = assistant_error;
    result.ignored_line_count = ignored_count;
    result.ignored_lines = ignored;
    Ok(result)
}

/// The fields of a `type: result` message; only `is_error` is required, so a newer CLI
/// that drops or retypes a field still yields its verdict.
fn read_result(message: &Value) -> Option<ClaudeResult> {
    let is_error = message.get("is_error")?.as_bool()?;
    let str_field = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_string);
    let u64_field = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
    let errors: Vec<String> = message
        .get("errors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let usage = message.get("usage").unwrap_or(&Value::Null);
    Some(ClaudeResult {
        is_error,
        text: str_field("result").unwrap_or_else(|| errors.join("; ")),
        subtype: str_field("subtype").unwrap_or_default(),
        errors,
        api_error_status: message
            .get("api_error_status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
        assistant_error: None,
        cost_usd: message
            .get("total_cost_usd")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        input_tokens: u64_field(usage, "input_tokens"),
        output_tokens: u64_field(usage, "output_tokens"),
        cache_read_tokens: u64_field(usage, "cache_read_input_tokens"),
        cache_creation_tokens: u64_field(usage, "cache_creation_input_tokens"),
        session_id: str_field("session_id"),
        num_turns: u64_field(message, "num_turns"),
        duration_ms: u64_field(message, "duration_ms"),
        ignored_line_count: 0,
        ignored_lines: Vec::new(),
    })
}

/// How a claude call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaudeOutcome {
    /// Exit code 0 and `is_error: false`.
    Success(ClaudeResult),
    /// Anything else.
    Failed {
        /// One line: the CLI's result text, else its stderr error line, else the exit.
        reason: String,
        /// The result message, when there was one (its cost still counts).
        result: Option<ClaudeResult>,
        /// What kind of failure, for retry decisions and the DLQ.
        kind: ClaudeFailure,
    },
}

/// The kind of a failed claude call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaudeFailure {
    /// Not logged in, a bad API key (`authentication_failed`, HTTP 401/403). Fatal.
    Authentication,
    /// A rate limit, usage limit or overloaded API (HTTP 429/529). Transient.
    RateLimit,
    /// `--max-budget-usd` reached, or the account is out of credit. Fatal.
    Budget,
    /// The CLI refused to run as asked (`--dangerously-skip-permissions` as root). Fatal.
    Refused,
    /// A crash, a bad argument, a missing result, an error the CLI did not classify.
    Other,
}

/// Judges one call from its exit code (`None`: killed by a signal) and output. Success
/// only when the exit code is 0 and the result says `is_error: false`.
pub fn outcome(exit_code: Option<i32>, stdout: &str, stderr: &str) -> ClaudeOutcome {
    let exit = match exit_code {
        Some(code) => format!("claude exited with code {code}"),
        None => "claude was killed by a signal".to_string(),
    };
    match parse_stream(stdout) {
        Ok(result) if exit_code == Some(0) && !result.is_error => ClaudeOutcome::Success(result),
        Ok(result) => {
            let reported = result
                .is_error
                .then(|| error_text(&result))
                .filter(|r| !r.is_empty());
            let reason = reported.or_else(|| stderr_reason(stderr)).unwrap_or(exit);
            let kind = classify(Some(&result), &reason, stderr);
            ClaudeOutcome::Failed {
                reason,
                result: Some(result),
                kind,
            }
        }
        Err(StreamError::NoResult { .. }) => {
            let exit = if exit_code == Some(0) {
                format!("{exit} but printed no `result` message")
            } else {
                exit
            };
            let reason = stderr_reason(stderr).unwrap_or(exit);
            let kind = classify(None, &reason, stderr);
            ClaudeOutcome::Failed {
                reason,
                result: None,
                kind,
            }
        }
        Err(error @ StreamError::MalformedResult { .. }) => ClaudeOutcome::Failed {
            reason: error.to_string(),
            result: None,
            kind: ClaudeFailure::Other,
        },
    }
}

/// The one-line reason of a result with `is_error: true`.
fn error_text(result: &ClaudeResult) -> String {
    let first_line = result.text.lines().map(str::trim).find(|l| !l.is_empty());
    match first_line {
        Some(line) => cut(line, 300),
        None if !result.subtype.is_empty() && result.subtype != "success" => {
            format!("claude stopped: {}", result.subtype)
        }
        None => String::new(),
    }
}

/// The last stderr line that reports an error (`error: ..`, `Error: ..`, `fatal: ..`), else
/// the last non-empty line: a stack trace may follow the line that matters.
fn stderr_reason(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let is_error_line = |l: &&&str| {
        let lower = l.get(..6).unwrap_or(l).to_ascii_lowercase();
        lower.starts_with("error") || lower.starts_with("fatal")
    };
    lines
        .iter()
        .rev()
        .find(is_error_line)
        .or(lines.last())
        .map(|l| cut(l, 300))
}

fn classify(result: Option<&ClaudeResult>, reason: &str, stderr: &str) -> ClaudeFailure {
    if let Some(kind) = result.and_then(classify_structured) {
        return kind;
    }
    classify_text(reason)
        .or_else(|| classify_text(&tail(stderr, 2000)))
        .unwrap_or(ClaudeFailure::Other)
}

/// The CLI's machine-readable signals, trusted before any text.
fn classify_structured(result: &ClaudeResult) -> Option<ClaudeFailure> {
    match result.assistant_error.as_deref() {
        Some("authentication_failed") => return Some(ClaudeFailure::Authentication),
        Some("rate_limit") => return Some(ClaudeFailure::RateLimit),
        Some("billing_error") => return Some(ClaudeFailure::Budget),
        _ => {}
    }
    if result.subtype == "error_max_budget_usd" {
        return Some(ClaudeFailure::Budget);
    }
    match result.api_error_status {
        Some(401 | 403) => Some(ClaudeFailure::Authentication),
        Some(429 | 529) => Some(ClaudeFailure::RateLimit),
        _ => None,
    }
}

fn classify_text(text: &str) -> Option<ClaudeFailure> {
    let text = text.to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if any(&[
        "not logged in",
        "/login",
        "invalid api key",
        "authentication_failed",
        "authentication failed",
    ]) || has_status(&text, "401")
    {
        Some(ClaudeFailure::Authentication)
    } else if any(&["root/sudo", "cannot be used with root"]) {
        Some(ClaudeFailure::Refused)
    } else if any(&[
        "maximum budget",
        "usd budget",
        "budget exceeded",
        "credit balance",
        "billing_error",
    ]) {
        Some(ClaudeFailure::Budget)
    } else if any(&[
        "rate limit",
        "rate_limit",
        "overloaded",
        "high load",
        "usage limit",
    ]) || has_status(&text, "429")
        || has_status(&text, "529")
    {
        Some(ClaudeFailure::RateLimit)
    } else {
        None
    }
}

/// `code` as a word of its own: `(429)` and `429 ` count, `ab429` and a UUID's `-4429-` do not.
fn has_status(text: &str, code: &str) -> bool {
    let bytes = text.as_bytes();
    let apart =
        |b: Option<&u8>| b.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'));
    text.match_indices(code).any(|(at, _)| {
        apart(at.checked_sub(1).and_then(|i| bytes.get(i))) && apart(bytes.get(at + code.len()))
    })
}

/// A UUID (version 4 layout, RFC 4122 variant) derived from `seed`, for `--session-id`.
/// The CLI refuses a session id already used in the same directory, so the seed must
/// include what makes this call unique (run, node, attempt, call).
pub fn session_uuid(seed: &str) -> String {
    let key = blake3::derive_key("prodigy claude --session-id v1", seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&key[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `claude --version` of the CLI at `bin`, for cache keys: `unavailable` when it does
/// not run (a node that then runs fails with its own, clearer error).
pub fn version(bin: &str) -> String {
    let spec = super::process::CommandSpec {
        program: super::process::Program::Argv(vec![bin.to_string(), "--version".to_string()]),
        cwd: std::env::temp_dir(),
        env: Vec::new(),
        clear_env: false,
        timeout: Some(std::time::Duration::from_secs(30)),
        grace: std::time::Duration::from_secs(1),
        max_output: 1 << 16,
    };
    super::process::run(&spec, &super::cancel::CancelToken::new(), None)
        .ok()
        .and_then(|out| parse_version(&out.stdout))
        .unwrap_or_else(|| "unavailable".to_string())
}

/// The version in `claude --version` output (`2.1.197 (Claude Code)` gives `2.1.197`).
pub fn parse_version(stdout: &str) -> Option<String> {
    let first_line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    first_line
        .split_whitespace()
        .map(|word| word.trim_start_matches('v'))
        .find(|word| {
            word.starts_with(|c: char| c.is_ascii_digit())
                && word.contains('.')
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        })
        .map(str::to_string)
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..end])
}

/// The last lines of `text`, at most about `max` bytes, trimmed.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let start = text.len().saturating_sub(max);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
