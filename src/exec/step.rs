//! Running a list of steps for one node, with every step field: `when`, `retry`,
//! `on_exit_code`, `on_failure` (handlers, re-runs, `fail_workflow`), captures,
//! `on_success`, `commit_required` and `validate` / `on_incomplete`.
//!
//! One executor serves every phase, so a field means the same in a standard workflow,
//! setup, a map agent and reduce.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::action::{self, ActionOutput};
use super::backoff;
use super::cancel::CancelToken;
use super::condition;
use super::git_context;
use super::outcome::{Cost, Failure, FailureKind, OutputTail};
use super::process::OnLine;
use super::vars::Vars;
use crate::workflow::schema::{Action, CaptureFormat, OnFailure, Step, Validate};

/// Receives retry notices: (attempt about to start, delay before it, last failure).
pub type OnRetry<'a> = &'a (dyn Fn(u32, Duration, &str) + Sync);

/// What every step of a job shares (read-only).
pub struct Runtime<'a> {
    /// The workflow root: commands run here.
    pub root: &'a Path,
    /// The claude CLI to run.
    pub claude_bin: &'a str,
    /// Stops everything (Ctrl-C, SIGTERM, fail-fast).
    pub cancel: &'a CancelToken,
    /// Receives each output line as it arrives (`-v`).
    pub on_line: Option<OnLine<'a>>,
    /// Seeds claude session ids (job and node), so a session can be found later.
    pub session_seed: String,
    /// TERM -> KILL grace period for timeouts and cancels.
    pub grace: Duration,
    /// Receives retry notices: (attempt, delay, reason).
    pub on_retry: Option<OnRetry<'a>>,
    /// Set `${step.files_changed}` and friends: HEAD when the job started, when the
    /// workflow uses git context variables.
    pub git_base: Option<Option<git2::Oid>>,
    /// When the node must be done (`agent_timeout_secs`, setup `timeout`).
    pub deadline: Option<std::time::Instant>,
}

/// The mutable state of one node's steps.
pub struct StepCx<'a> {
    /// Shared job settings.
    pub rt: &'a Runtime<'a>,
    /// Variables visible to the steps.
    pub vars: Vars,
    /// Environment for every command (declared env, secrets, `ITEM_*`).
    env: Arc<Vec<(String, String)>>,
    cost: Cost,
    calls: u64,
    /// Output of the last command.
    pub last: OutputTail,
    /// Failures that were allowed (`allow_failure`, `fail_workflow: false`).
    pub warnings: Vec<String>,
    /// Steps whose action ran (not skipped by `when`).
    pub ran: usize,
}

impl<'a> StepCx<'a> {
    /// A context with `vars` and the environment `env`.
    pub fn new(rt: &'a Runtime<'a>, vars: Vars, env: Arc<Vec<(String, String)>>) -> Self {
        StepCx {
            rt,
            vars,
            env,
            cost: Cost::default(),
            calls: 0,
            last: OutputTail::default(),
            warnings: Vec::new(),
            ran: 0,
        }
    }

    /// A copy for a parallel branch (foreach); costs are merged back by the caller.
    pub fn fork(&self) -> StepCx<'a> {
        StepCx::new(self.rt, self.vars.clone(), Arc::clone(&self.env))
    }

    /// Renders a template, turning errors into an interpolation failure.
    pub fn render(&self, text: &str) -> Result<String, Failure> {
        self.vars
            .render(text)
            .map_err(|e| Failure::new(FailureKind::Interpolation, e.to_string()))
    }

    /// The environment for a command.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.as_ref().clone()
    }

    /// Adds claude use.
    pub fn add_cost(&mut self, cost: &Cost) {
        self.cost.add(cost);
    }

    /// claude use so far.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// A number for each claude call of this node (for distinct session ids).
    pub fn next_call(&mut self) -> u64 {
        self.calls += 1;
        self.calls
    }
}

/// Runs `steps` in order; the first failure that is not allowed stops them.
pub fn run_steps(cx: &mut StepCx, steps: &[Step]) -> Result<(), Failure> {
    for step in steps {
        if cx.rt.cancel.is_cancelled() {
            return Err(Failure::new(FailureKind::Cancelled, "cancelled"));
        }
        match run_step(cx, step) {
            Ok(()) => {}
            Err(f) if step.allow_failure && f.kind != FailureKind::Cancelled => {
                cx.warnings.push(format!("allowed failure: {}", f.message));
            }
            Err(f) => return Err(f),
        }
    }
    Ok(())
}

/// Runs a node's steps; a failure names the step it came from.
pub fn run_node_steps(cx: &mut StepCx, steps: &[Step]) -> Result<(), Failure> {
    for (index, step) in steps.iter().enumerate() {
        run_steps(cx, std::slice::from_ref(step)).map_err(|f| {
            if steps.len() < 2 || f.kind == FailureKind::Cancelled {
                return f;
            }
            let label = crate::report::graph::step_label(step);
            Failure {
                message: format!("step {} (`{label}`): {}", index + 1, f.message),
                ..f
            }
        })?;
    }
    Ok(())
}

/// Runs one step with all its fields.
pub fn run_step(cx: &mut StepCx, step: &Step) -> Result<(), Failure> {
    if let Some(when) = &step.when {
        let text = cx.render(when)?;
        let run = condition::evaluate(&text)
            .map_err(|e| Failure::new(FailureKind::Evaluation, e.to_string()))?;
        if !run {
            return Ok(());
        }
    }
    let head_before = if step.commit_required {
        Some(git_head(cx.rt.root)?)
    } else {
        None
    };
    cx.ran += 1;
    let step_base = cx.rt.git_base.map(|_| git_context::head(cx.rt.root));
    let out = run_with_retry(cx, step);
    record_output(cx, step, &out);
    if let (Some(job_base), Some(step_base)) = (cx.rt.git_base, step_base) {
        record_git_context(cx, job_base, step_base);
    }
    let result = match (
        &out.failure,
        out.exit_code.and_then(|c| step.on_exit_code.get(&c)),
    ) {
        (_, Some(handler)) => run_step(cx, handler),
        (None, None) => Ok(()),
        (Some(failure), None) => match &step.on_failure {
            Some(handler) if failure.kind != FailureKind::Cancelled => {
                handle_failure(cx, step, failure.clone(), handler, &out)
            }
            _ => Err(failure.clone()),
        },
    };
    result?;
    after_success(cx, step, &out, head_before)
}

/// The action, re-run per `retry:` while the failure is retryable.
fn run_with_retry(cx: &mut StepCx, step: &Step) -> ActionOutput {
    let attempts = step.retry.as_ref().map_or(1, |r| r.attempts.max(1));
    let mut attempt = 1;
    loop {
        let out = action::run(cx, step);
        let Some(failure) = &out.failure else {
            return out;
        };
        let Some(policy) = &step.retry else {
            return out;
        };
        if attempt >= attempts {
            return out;
        }
        if !should_retry(failure, &policy.retry_on) {
            return ActionOutput {
                failure: Some(not_retried(failure, &policy.retry_on)),
                ..out
            };
        }
        let mut delay = backoff::delay(&policy.backoff, attempt);
        if policy.jitter {
            delay = backoff::with_jitter(
                delay,
                policy.jitter_factor,
                &format!("{}#{attempt}", cx.rt.session_seed),
            );
        }
        if let Some(notify) = cx.rt.on_retry {
            notify(attempt + 1, delay, &failure.message);
        }
        if !sleep(cx.rt.cancel, delay) {
            return out;
        }
        attempt += 1;
    }
}

/// Whether a failure is worth another attempt: never fatal kinds; with a `retry_on`
/// list, only the kinds (or message patterns) it names.
pub fn should_retry(failure: &Failure, retry_on: &[String]) -> bool {
    if failure.kind.is_fatal() {
        return false;
    }
    if retry_on.is_empty() {
        return true;
    }
    let kind = failure.kind.name();
    retry_on.iter().any(|r| match r.strip_prefix("pattern:") {
        Some(pattern) => failure.message.contains(pattern),
        None => {
            r == kind
                || (r == "network" && failure.kind == FailureKind::RateLimit)
                || (r == "server_error" && failure.kind == FailureKind::AgentError)
        }
    })
}

/// The failure with why it was not retried: a fatal kind, or one `retry_on` leaves out.
pub fn not_retried(failure: &Failure, retry_on: &[String]) -> Failure {
    let kind = failure.kind.name();
    let why = if failure.kind.is_fatal() {
        format!("`{kind}` failures are fatal")
    } else {
        format!("`{kind}` is not in retry_on [{}]", retry_on.join(", "))
    };
    Failure {
        message: format!("{} (not retried: {why})", failure.message),
        ..failure.clone()
    }
}

/// Sleeps unless cancelled; false when cancelled.
fn sleep(cancel: &CancelToken, total: Duration) -> bool {
    let deadline = std::time::Instant::now() + total;
    while std::time::Instant::now() < deadline {
        if cancel.is_cancelled() {
            return false;
        }
        std::thread::sleep(
            Duration::from_millis(20)
                .min(deadline.saturating_duration_since(std::time::Instant::now())),
        );
    }
    !cancel.is_cancelled()
}

/// `claude` for claude steps (`${claude.output}`), `shell` for the rest.
fn output_namespace(step: &Step) -> &'static str {
    match step.action {
        Action::Claude(_) => "claude",
        _ => "shell",
    }
}

/// Sets `shell.output` / `claude.output`, `last.*`, and the step's capture.
fn record_output(cx: &mut StepCx, step: &Step, out: &ActionOutput) {
    cx.last = OutputTail::new(&out.stdout, &out.stderr, 20);
    let ns = output_namespace(step);
    let text = out.stdout.trim_end().to_string();
    cx.vars
        .set(&format!("{ns}.output"), Value::String(text.clone()));
    cx.vars
        .set(&format!("{ns}.exit_code"), json!(out.exit_code));
    cx.vars.set("last.output", Value::String(text));
    cx.vars.set("last.exit_code", json!(out.exit_code));
}

/// Sets `${step.*}` (changes of the step that just ran) and `${workflow.*}` (of the job).
fn record_git_context(cx: &mut StepCx, job_base: Option<git2::Oid>, step_base: Option<git2::Oid>) {
    let root = cx.rt.root;
    for (scope, base) in [("step", step_base), ("workflow", job_base)] {
        let Some(Value::Object(fields)) = git_context::changes_since(root, base) else {
            continue;
        };
        for (field, value) in fields {
            cx.vars.set(&format!("{scope}.{field}"), value);
        }
    }
}

/// Runs the `on_failure` handler; re-runs the step after it when asked to.
fn handle_failure(
    cx: &mut StepCx,
    step: &Step,
    failure: Failure,
    handler: &OnFailure,
    first: &ActionOutput,
) -> Result<(), Failure> {
    if handler.ignore_errors {
        cx.warnings.push(format!(
            "ignored failure (on_failure: true): {}",
            failure.message
        ));
        return Ok(());
    }
    let rerun = handler.retry_original || handler.max_attempts > 1;
    let ns = output_namespace(step);
    let mut last_failure = failure;
    let mut last_out = first.clone();
    for attempt in 1..=handler.max_attempts.max(1) {
        cx.vars.set(&format!("{ns}.attempt"), json!(attempt));
        cx.vars.set(
            &format!("{ns}.output"),
            Value::String(last_out.stdout.trim_end().to_string()),
        );
        cx.vars.set(
            &format!("{ns}.stderr"),
            Value::String(last_out.stderr.trim_end().to_string()),
        );
        if let Err(handler_failure) = run_steps(cx, &handler.commands) {
            if handler.handler_failure_fatal || handler_failure.kind == FailureKind::Cancelled {
                return Err(handler_failure);
            }
            cx.warnings.push(format!(
                "on_failure handler failed: {}",
                handler_failure.message
            ));
        }
        if !rerun {
            break;
        }
        if let Some(backoff) = handler.strategy.as_deref().and_then(backoff::named) {
            let delay = backoff::delay(&backoff, attempt);
            if let Some(notify) = cx.rt.on_retry {
                notify(attempt + 1, delay, &last_failure.message);
            }
            if !sleep(cx.rt.cancel, delay) {
                return Err(Failure::new(FailureKind::Cancelled, "cancelled"));
            }
        }
        last_out = action::run(cx, step);
        record_output(cx, step, &last_out);
        match &last_out.failure {
            None => return Ok(()),
            Some(f) => last_failure = f.clone(),
        }
    }
    cx.last = OutputTail::new(&last_out.stdout, &last_out.stderr, 20);
    if handler.fail_workflow || last_failure.kind == FailureKind::Cancelled {
        Err(last_failure)
    } else {
        cx.warnings.push(format!(
            "failure not recovered (fail_workflow: false): {}",
            last_failure.message
        ));
        Ok(())
    }
}

/// Capture, `on_success`, `commit_required` and `validate`, after a success.
fn after_success(
    cx: &mut StepCx,
    step: &Step,
    out: &ActionOutput,
    head_before: Option<Option<String>>,
) -> Result<(), Failure> {
    capture(cx, step, out)?;
    if let Some(next) = &step.on_success {
        run_step(cx, next)?;
    }
    if let Some(before) = head_before {
        let after = git_head(cx.rt.root)?;
        if after == before {
            return Err(Failure::new(
                FailureKind::NoCommit,
                "commit_required is set, but the step made no commit",
            ));
        }
    }
    if let Some(validate) = &step.validate {
        run_validation(cx, validate)?;
    }
    Ok(())
}

/// Stores the step's output in its capture variable, parsed per `capture_format`.
fn capture(cx: &mut StepCx, step: &Step, out: &ActionOutput) -> Result<(), Failure> {
    let c = &step.capture;
    let mut text = String::new();
    if c.streams.stdout {
        text.push_str(&out.stdout);
    }
    if c.streams.stderr {
        text.push_str(&out.stderr);
    }
    if let Some(file) = &c.output_file {
        let path = cx.rt.root.join(cx.render(file)?);
        crate::fs::write_atomic(&path, text.as_bytes()).map_err(|e| {
            Failure::new(
                FailureKind::Io,
                format!("cannot write output_file `{}`: {e}", path.display()),
            )
        })?;
    }
    let Some(name) = &c.variable else {
        return Ok(());
    };
    let trimmed = text.trim();
    let value = match c.format {
        CaptureFormat::String => Value::String(trimmed.to_string()),
        CaptureFormat::Number => trimmed
            .parse::<f64>()
            .ok()
            .and_then(|n| {
                if n.fract() == 0.0 && n.abs() < 9e15 {
                    Some(json!(n as i64))
                } else {
                    serde_json::Number::from_f64(n).map(Value::Number)
                }
            })
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Evaluation,
                    format!("capture `{name}`: `{trimmed}` is not a number"),
                )
            })?,
        CaptureFormat::Json => serde_json::from_str(trimmed).map_err(|e| {
            Failure::new(
                FailureKind::Evaluation,
                format!("capture `{name}`: output is not JSON: {e}"),
            )
        })?,
        CaptureFormat::Lines => Value::Array(
            trimmed
                .lines()
                .map(|l| Value::String(l.to_string()))
                .collect(),
        ),
        CaptureFormat::Boolean => match trimmed {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            "" => Value::Bool(out.failure.is_none()),
            other => {
                return Err(Failure::new(
                    FailureKind::Evaluation,
                    format!("capture `{name}`: `{other}` is not a boolean"),
                ));
            }
        },
    };
    cx.vars.set(name, value);
    if c.streams.exit_code {
        cx.vars.set_meta(name, "exit_code", json!(out.exit_code));
    }
    if c.streams.success {
        cx.vars
            .set_meta(name, "success", json!(out.failure.is_none()));
    }
    if c.streams.duration {
        cx.vars
            .set_meta(name, "duration", json!(out.duration.as_secs_f64()));
    }
    if c.streams.stderr {
        cx.vars.set_meta(
            name,
            "stderr",
            Value::String(out.stderr.trim_end().to_string()),
        );
    }
    Ok(())
}

/// Runs validation; while below the threshold, runs `on_incomplete` and validates again.
fn run_validation(cx: &mut StepCx, v: &Validate) -> Result<(), Failure> {
    let attempts = v.on_incomplete.as_ref().map_or(0, |o| o.max_attempts);
    let mut round = 0;
    loop {
        let (completion, gaps) = validation_round(cx, v)?;
        cx.vars.set("validation.completion", json!(completion));
        cx.vars
            .set("validation.completion_percentage", json!(completion));
        cx.vars.set("validation.gaps", gaps);
        if completion >= v.threshold {
            return Ok(());
        }
        round += 1;
        let Some(repair) = &v.on_incomplete else {
            return Err(incomplete(completion, v.threshold));
        };
        if round > attempts {
            let failure = incomplete(completion, v.threshold);
            if repair.fail_workflow {
                return Err(failure);
            }
            cx.warnings.push(failure.message);
            return Ok(());
        }
        cx.vars.set("validation.attempt_number", json!(round));
        let head = if repair.commit_required {
            Some(git_head(cx.rt.root)?)
        } else {
            None
        };
        run_steps(cx, &repair.commands)?;
        if let Some(before) = head
            && git_head(cx.rt.root)? == before
        {
            return Err(Failure::new(
                FailureKind::NoCommit,
                "on_incomplete requires a commit, but the repair made none",
            ));
        }
    }
}

fn incomplete(completion: f64, threshold: f64) -> Failure {
    Failure::new(
        FailureKind::Incomplete,
        format!("validation reached {completion}% of the required {threshold}%"),
    )
}

/// One validation pass: the completion percentage and the gaps it reported.
fn validation_round(cx: &mut StepCx, v: &Validate) -> Result<(f64, Value), Failure> {
    let passed = run_steps(cx, &v.commands).is_ok();
    let Some(file) = &v.result_file else {
        return Ok((if passed { 100.0 } else { 0.0 }, Value::Array(Vec::new())));
    };
    let path = cx.rt.root.join(cx.render(file)?);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(
            FailureKind::Incomplete,
            format!(
                "validation result `{}` was not written: {e}",
                path.display()
            ),
        )
    })?;
    let result: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            FailureKind::Incomplete,
            format!("validation result `{}` is not JSON: {e}", path.display()),
        )
    })?;
    let completion = ["completion_percentage", "completion", "score"]
        .iter()
        .find_map(|k| result.get(k).and_then(Value::as_f64))
        .unwrap_or(0.0);
    Ok((
        completion,
        result
            .get("gaps")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    ))
}

/// The commit HEAD points at (None in a repository with no commits).
fn git_head(root: &Path) -> Result<Option<String>, Failure> {
    let repo = git2::Repository::discover(root).map_err(|e| {
        Failure::new(
            FailureKind::Io,
            format!("commit_required needs a git repository: {}", e.message()),
        )
    })?;
    Ok(repo
        .head()
        .ok()
        .and_then(|h| h.target())
        .map(|oid| oid.to_string()))
}
