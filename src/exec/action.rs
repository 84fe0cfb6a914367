//! Running what one step does, once: a shell command, a claude call, a file write, a
//! foreach loop or a goal-seek loop. Handlers, retries and captures are in `step.rs`.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::claude::{self, ClaudeFailure, ClaudeOutcome, ClaudeRequest};
use super::outcome::{Cost, Failure, FailureKind};
use super::process::{self, CommandSpec, OnLine, Program, Stream, Termination};
use super::step::StepCx;
use crate::workflow::schema::{
    Action, ClaudeOptions, Foreach, ForeachInput, GoalSeek, Step, WriteFile, WriteFormat,
};

/// What one run of an action produced.
#[derive(Debug, Clone, Default)]
pub struct ActionOutput {
    /// `None` on success.
    pub failure: Option<Failure>,
    /// Standard output (for claude: the result text).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code, when a process exited.
    pub exit_code: Option<i32>,
    /// Wall time.
    pub duration: Duration,
}

impl ActionOutput {
    fn failed(failure: Failure) -> Self {
        ActionOutput {
            exit_code: failure.exit_code,
            failure: Some(failure),
            ..Default::default()
        }
    }
}

/// Runs `step`'s action once.
pub fn run(cx: &mut StepCx, step: &Step) -> ActionOutput {
    let started = Instant::now();
    let mut out = match &step.action {
        Action::Shell(command) => match cx.render(command) {
            Ok(command) => shell(cx, step, command),
            Err(f) => ActionOutput::failed(f),
        },
        Action::Claude(prompt) => match cx.render(prompt) {
            Ok(prompt) => claude_call(cx, step, &prompt, &step.claude),
            Err(f) => ActionOutput::failed(f),
        },
        Action::WriteFile(w) => write_file(cx, w),
        Action::Foreach(f) => foreach(cx, step, f),
        Action::GoalSeek(g) => goal_seek(cx, step, g),
        Action::Ignored(_) => ActionOutput::default(),
    };
    out.duration = started.elapsed();
    out
}

/// The process settings every command of `step` uses.
fn spec(cx: &mut StepCx, step: &Step, program: Program) -> Result<CommandSpec, Failure> {
    let mut env = cx.env();
    for (key, value) in &step.env {
        env.push((key.clone(), cx.render(value)?));
    }
    let cwd = match &step.working_dir {
        Some(dir) => {
            let dir = cx.render(dir)?;
            cx.rt.root.join(dir)
        }
        None => cx.rt.root.to_path_buf(),
    };
    Ok(CommandSpec {
        program,
        cwd,
        env,
        clear_env: step.clear_env,
        timeout: remaining(step.timeout.map(|t| t.to_std()), cx.rt.deadline)?,
        grace: cx.rt.grace,
        max_output: 64 << 20,
    })
}

/// The smaller of a step's timeout and the time left before the node's deadline.
fn remaining(
    timeout: Option<Duration>,
    deadline: Option<Instant>,
) -> Result<Option<Duration>, Failure> {
    let Some(deadline) = deadline else {
        return Ok(timeout);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Failure::new(
            FailureKind::Timeout,
            "timed out: the agent or phase time limit passed before this step",
        ));
    }
    Ok(Some(timeout.map_or(left, |t| t.min(left))))
}

fn shell(cx: &mut StepCx, step: &Step, command: String) -> ActionOutput {
    match spec(cx, step, Program::Shell(command)) {
        Ok(spec) => execute(cx, &spec, cx.rt.on_line),
        Err(f) => ActionOutput::failed(f),
    }
}

/// Runs a process and turns its end into an [`ActionOutput`].
fn execute(cx: &StepCx, spec: &CommandSpec, on_line: Option<OnLine>) -> ActionOutput {
    let output = match process::run(spec, cx.rt.cancel, on_line) {
        Ok(o) => o,
        Err(e) => {
            return ActionOutput::failed(Failure::new(FailureKind::CommandNotFound, e.to_string()));
        }
    };
    let exit_code = process::exit_code(&output.termination);
    let failure = match output.termination {
        Termination::Exited(0) => None,
        Termination::Exited(code) => Some(Failure {
            kind: if code == 127 {
                FailureKind::CommandNotFound
            } else {
                FailureKind::CommandFailed
            },
            message: format!("exit code {code}"),
            exit_code: Some(code),
        }),
        Termination::Signaled(signal) => Some(Failure {
            kind: FailureKind::CommandFailed,
            message: format!("killed by signal {signal}"),
            exit_code,
        }),
        Termination::TimedOut => Some(Failure::new(
            FailureKind::Timeout,
            format!(
                "timed out after {}",
                crate::workflow::duration::Duration {
                    millis: spec.timeout.map_or(0, |t| t.as_millis() as u64)
                }
            ),
        )),
        Termination::Cancelled => Some(Failure::new(FailureKind::Cancelled, "cancelled")),
    };
    ActionOutput {
        failure,
        stdout: output.stdout,
        stderr: output.stderr,
        exit_code,
        duration: output.duration,
    }
}

/// Runs one claude prompt in print mode with stream-json output.
pub fn claude_call(
    cx: &mut StepCx,
    step: &Step,
    prompt: &str,
    options: &ClaudeOptions,
) -> ActionOutput {
    let session = claude::session_uuid(&format!("{}#{}", cx.rt.session_seed, cx.next_call()));
    let request = ClaudeRequest {
        prompt,
        model: options.model.as_deref(),
        permission_mode: options.permission_mode.as_deref(),
        allowed_tools: options.allowed_tools.as_deref().unwrap_or(&[]),
        max_budget_usd: options.max_budget_usd,
        session_id: Some(&session),
        skip_permissions: false,
    };
    let mut argv = vec![cx.rt.claude_bin.to_string()];
    argv.extend(claude::args(&request));
    let spec = match spec(cx, step, Program::Argv(argv)) {
        Ok(s) => s,
        Err(f) => return ActionOutput::failed(f),
    };
    let forward = cx.rt.on_line;
    let assistant_text = move |stream: Stream, line: &str| {
        if let Some(forward) = forward {
            match stream {
                Stream::Stderr => forward(stream, line),
                Stream::Stdout => assistant_lines(line)
                    .iter()
                    .for_each(|text| forward(stream, text)),
            }
        }
    };
    let on_line: Option<OnLine> = forward.map(|_| &assistant_text as _);
    let mut out = execute(cx, &spec, on_line);
    if matches!(
        out.failure.as_ref().map(|f| f.kind),
        Some(FailureKind::Timeout | FailureKind::Cancelled | FailureKind::CommandNotFound)
    ) {
        if let Some(f) = out
            .failure
            .as_mut()
            .filter(|f| f.kind == FailureKind::CommandNotFound)
        {
            f.message = format!(
                "{}; set PRODIGY_CLAUDE_BIN or install the claude CLI",
                f.message
            );
        }
        return out;
    }
    match claude::outcome(out.exit_code, &out.stdout, &out.stderr) {
        ClaudeOutcome::Success(result) => {
            cx.add_cost(&cost_of(&result));
            out.stdout = result.text;
            out.failure = None;
        }
        ClaudeOutcome::Failed {
            reason,
            result,
            kind,
        } => {
            if let Some(r) = &result {
                cx.add_cost(&cost_of(r));
            }
            let kind = match kind {
                ClaudeFailure::Authentication => FailureKind::Authentication,
                ClaudeFailure::RateLimit => FailureKind::RateLimit,
                ClaudeFailure::Budget => FailureKind::Budget,
                ClaudeFailure::Refused | ClaudeFailure::Other => FailureKind::AgentError,
            };
            out.failure = Some(Failure {
                kind,
                message: reason,
                exit_code: out.exit_code,
            });
            if let Some(r) = result {
                out.stdout = r.text;
            }
        }
    }
    out
}

/// The text an assistant message of claude's stream-json says (for `-v`), one entry per line.
fn assistant_lines(line: &str) -> Vec<String> {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
        return vec![line.to_string()];
    };
    if message["type"] != "assistant" {
        return Vec::new();
    }
    let content = message["message"]["content"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    content
        .iter()
        .flat_map(|part| match part["type"].as_str() {
            Some("text") => part["text"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect(),
            Some("tool_use") => vec![format!("[tool] {}", part["name"].as_str().unwrap_or("?"))],
            _ => Vec::new(),
        })
        .collect()
}

fn cost_of(result: &claude::ClaudeResult) -> Cost {
    Cost {
        usd: result.cost_usd,
        input_tokens: result.input_tokens,
        output_tokens: result.output_tokens,
        cache_read_tokens: result.cache_read_tokens,
        calls: 1,
    }
}

/// A relative path that stays inside the root, or why not.
fn inside_root(root: &Path, path: &str) -> Result<PathBuf, Failure> {
    let rel = Path::new(path);
    let escapes = rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir));
    if escapes || path.is_empty() {
        return Err(Failure::new(
            FailureKind::Io,
            format!("write_file path `{path}` must be relative and stay inside the workflow root"),
        ));
    }
    Ok(root.join(rel))
}

fn write_file(cx: &mut StepCx, w: &WriteFile) -> ActionOutput {
    let result = (|| {
        let path = cx.render(&w.path)?;
        let content = cx.render(&w.content)?;
        let target = inside_root(cx.rt.root, &path)?;
        let bytes = match w.format {
            WriteFormat::Text => content.into_bytes(),
            WriteFormat::Json => {
                let value: serde_json::Value = serde_json::from_str(&content).map_err(|e| {
                    Failure::new(
                        FailureKind::Io,
                        format!("write_file `{path}`: content is not JSON: {e}"),
                    )
                })?;
                let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
                text.push('\n');
                text.into_bytes()
            }
            WriteFormat::Yaml => {
                crate::workflow::yaml::parse(&content).map_err(|e| {
                    Failure::new(
                        FailureKind::Io,
                        format!("write_file `{path}`: content is not YAML: {}", e.message),
                    )
                })?;
                content.into_bytes()
            }
        };
        let io =
            |e: std::io::Error| Failure::new(FailureKind::Io, format!("write_file `{path}`: {e}"));
        if w.create_dirs
            && let Some(parent) = target.parent()
        {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        crate::fs::write_atomic(&target, &bytes).map_err(io)?;
        let mode = u32::from_str_radix(&w.mode, 8).unwrap_or(0o644);
        set_mode(&target, mode).map_err(io)?;
        Ok(format!("wrote {} bytes to {path}", bytes.len()))
    })();
    match result {
        Ok(message) => ActionOutput {
            stdout: message,
            ..Default::default()
        },
        Err(f) => ActionOutput::failed(f),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The values a foreach loops over.
fn foreach_values(cx: &mut StepCx, step: &Step, f: &Foreach) -> Result<Vec<String>, Failure> {
    let mut values = match &f.input {
        ForeachInput::List(items) => items
            .iter()
            .map(|i| cx.render(i))
            .collect::<Result<Vec<_>, _>>()?,
        ForeachInput::Command(command) => {
            let command = cx.render(command)?;
            let out = shell(cx, step, command);
            if let Some(failure) = out.failure {
                return Err(Failure {
                    message: format!("foreach input command failed: {}", failure.message),
                    ..failure
                });
            }
            out.stdout
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        }
    };
    if let Some(max) = f.max_items {
        values.truncate(max);
    }
    Ok(values)
}

fn foreach(cx: &mut StepCx, step: &Step, f: &Foreach) -> ActionOutput {
    let values = match foreach_values(cx, step, f) {
        Ok(v) => v,
        Err(failure) => return ActionOutput::failed(failure),
    };
    let total = values.len();
    let parallel = (f.parallel.max(1) as usize).min(total.max(1));
    let results: Vec<Result<(), Failure>> = if parallel <= 1 {
        // The loop's `${item}` shadows a map item's for the loop only.
        let saved: Vec<(&str, Option<serde_json::Value>)> = ["item", "item_index", "item_total"]
            .into_iter()
            .map(|n| (n, cx.vars.root(n)))
            .collect();
        let mut results = Vec::with_capacity(total);
        for (index, value) in values.iter().enumerate() {
            let r = run_iteration(cx, f, value, index, total);
            let stop = r
                .as_ref()
                .err()
                .is_some_and(|e| !f.continue_on_error || e.kind == FailureKind::Cancelled);
            results.push(r);
            if stop {
                break;
            }
        }
        for (name, value) in saved {
            cx.vars.restore(name, value);
        }
        results
    } else {
        let chunks: Vec<Vec<(usize, &String)>> = (0..parallel)
            .map(|w| {
                values
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % parallel == w)
                    .collect()
            })
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let mut local = cx.fork();
                    scope.spawn(move || {
                        let results: Vec<Result<(), Failure>> = chunk
                            .into_iter()
                            .map(|(i, v)| run_iteration(&mut local, f, v, i, total))
                            .collect();
                        (results, local.cost())
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                if let Ok((results, cost)) = h.join() {
                    cx.add_cost(&cost);
                    all.extend(results);
                }
            }
            all
        })
    };
    let failures: Vec<&Failure> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(cancelled) = failures.iter().find(|f| f.kind == FailureKind::Cancelled) {
        return ActionOutput::failed((*cancelled).clone());
    }
    let summary = format!(
        "foreach: {} of {total} values succeeded",
        results.len() - failures.len()
    );
    match failures.first() {
        Some(first) if !f.continue_on_error => ActionOutput::failed(Failure {
            message: format!("{summary}; first failure: {}", first.message),
            ..(*first).clone()
        }),
        _ => ActionOutput {
            stdout: summary,
            ..Default::default()
        },
    }
}

fn run_iteration(
    cx: &mut StepCx,
    f: &Foreach,
    value: &str,
    index: usize,
    total: usize,
) -> Result<(), Failure> {
    cx.vars
        .set("item", serde_json::Value::String(value.to_string()));
    cx.vars.set("item_index", serde_json::json!(index));
    cx.vars.set("item_total", serde_json::json!(total));
    super::step::run_steps(cx, &f.steps)
}

/// 0.4.0's goal_seek: run the command, score it with `validate` (`score: N`), repeat.
fn goal_seek(cx: &mut StepCx, step: &Step, g: &GoalSeek) -> ActionOutput {
    let mut last = ActionOutput::default();
    for attempt in 1..=g.max_attempts.max(1) {
        cx.vars.set("goal_seek.attempt", serde_json::json!(attempt));
        let mut inner = step.clone();
        inner.action = (*g.command).clone();
        inner.timeout = g.timeout.or(step.timeout);
        let out = run(cx, &inner);
        if out
            .failure
            .as_ref()
            .is_some_and(|f| f.kind == FailureKind::Cancelled)
        {
            return out;
        }
        let check = match cx.render(&g.validate) {
            Ok(c) => shell(cx, step, c),
            Err(f) => return ActionOutput::failed(f),
        };
        let score = parse_score(&check.stdout).unwrap_or(0);
        cx.vars.set("goal_seek.score", serde_json::json!(score));
        if score >= g.threshold {
            return ActionOutput {
                stdout: format!("goal reached: score {score} after {attempt} attempt(s)"),
                ..out
            };
        }
        last = out;
    }
    if g.fail_on_incomplete {
        return ActionOutput::failed(Failure::new(
            FailureKind::Incomplete,
            format!(
                "goal `{}` not reached after {} attempts",
                g.goal, g.max_attempts
            ),
        ));
    }
    ActionOutput {
        failure: None,
        ..last
    }
}

/// The last `score: N` in a validation command's output.
fn parse_score(text: &str) -> Option<u32> {
    text.lines().rev().find_map(|l| {
        let rest = l.trim().to_ascii_lowercase();
        let rest = rest.strip_prefix("score:")?;
        rest.trim()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_come_from_the_last_score_line() {
        assert_eq!(parse_score("working\nscore: 40\nscore: 95/100\n"), Some(95));
        assert_eq!(parse_score("no score here"), None);
    }

    #[test]
    fn write_paths_stay_inside_the_root() {
        let root = Path::new("/r");
        assert!(inside_root(root, "a/b.txt").is_ok());
        assert!(inside_root(root, "../x").is_err());
        assert!(inside_root(root, "/etc/passwd").is_err());
        assert!(inside_root(root, "a/../../x").is_err());
    }
}
