//! Decoding one step, in every form the 0.4 format accepted: a legacy command string,
//! a legacy `name:` command, or a mapping with one command key (`shell`, `claude`,
//! `write_file`, `foreach`, `goal_seek`, `test`, ...) and the step fields.

use std::collections::BTreeMap;

use crate::workflow::decode::{Decode, Decoder, Fields};
use crate::workflow::diagnostic::Diagnostic;
use crate::workflow::duration::{Duration, Unit};
use crate::workflow::schema::{
    Action, Capture, CaptureFormat, CaptureStreams, ClaudeOptions, Foreach, ForeachInput, GoalSeek,
    OnIncomplete, Step, Validate, WriteFile, WriteFormat,
};
use crate::workflow::yaml::{Node, Value};

use super::policy::{decode_on_failure, decode_step_retry};

/// The keys that say what a step runs; a step has exactly one.
const COMMAND_KEYS: [&str; 9] = [
    "shell",
    "claude",
    "write_file",
    "foreach",
    "goal_seek",
    "test",
    "command",
    "analyze",
    "handler",
];

impl Decode for Step {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Str(command) => Some(legacy_command(command, node, d)),
            Value::Map(_) => decode_step_map(node, d),
            _ => {
                d.expected(
                    node,
                    "a step (a mapping such as `shell: make`, or a command string)",
                );
                None
            }
        }
    }
}

/// A bare string step: the old tool's claude slash command (`prodigy-lint` = `/prodigy-lint`).
fn legacy_command(command: &str, node: &Node, d: &mut Decoder) -> Step {
    if command.trim().is_empty() {
        d.error_at(node, "empty-command", "a command string cannot be empty");
    }
    let prompt = format!("/{}", command.trim().trim_start_matches('/'));
    Step::new(Action::Claude(prompt), node)
}

impl Step {
    /// A step with `action` and every field at its default.
    pub fn new(action: Action, node: &Node) -> Step {
        Step {
            action,
            id: None,
            name: None,
            needs: None,
            inputs: None,
            cache: true,
            when: None,
            timeout: None,
            env: BTreeMap::new(),
            clear_env: false,
            working_dir: None,
            capture: Capture::default(),
            on_success: None,
            on_failure: None,
            on_exit_code: BTreeMap::new(),
            retry: None,
            commit_required: false,
            validate: None,
            outputs: BTreeMap::new(),
            allow_failure: false,
            claude: ClaudeOptions::default(),
            span: node.span,
        }
    }
}

fn decode_step_map(node: &Node, d: &mut Decoder) -> Option<Step> {
    let mut f = Fields::new(node, "step", d)?;
    let action = decode_action(&mut f, d);
    let mut step = Step::new(
        action.clone().unwrap_or(Action::Ignored(String::new())),
        node,
    );
    step.id = f.opt("id", d);
    step.name = f.opt("name", d);
    let _: Option<String> = f.opt("description", d);
    step.needs = f.opt("needs", d);
    step.inputs = f.opt("inputs", d);
    if let Some(node) = f.raw("inputs") {
        check_input_patterns(node, d);
    }
    step.cache = f.opt("cache", d).unwrap_or(true);
    step.when = f.opt("when", d);
    step.timeout = f
        .raw("timeout")
        .and_then(|n| Duration::decode(n, Unit::Seconds, d));
    step.env = f.opt("env", d).unwrap_or_default();
    step.clear_env = f.opt("clear_env", d).unwrap_or(false);
    let _: Option<bool> = f.opt("temporary", d);
    step.working_dir = f.opt_any(&["working_dir", "cwd"], d);
    step.capture = decode_capture(&mut f, d);
    step.on_success = f.opt("on_success", d);
    step.on_failure = f.raw("on_failure").and_then(|n| decode_on_failure(n, d));
    step.on_exit_code = decode_exit_codes(&mut f, d);
    step.retry = f.raw("retry").and_then(|n| decode_step_retry(n, d));
    step.commit_required = f.opt("commit_required", d).unwrap_or(false);
    step.validate = f.opt("validate", d);
    step.outputs = decode_outputs(&mut f, d);
    step.allow_failure = f
        .opt_any(&["allow_failure", "continue_on_error"], d)
        .unwrap_or(false);
    step.claude = ClaudeOptions {
        model: f.opt("model", d),
        permission_mode: f.opt("permission_mode", d),
        allowed_tools: f.opt("allowed_tools", d),
        max_budget_usd: f.opt("max_budget_usd", d),
    };
    legacy_fields(&mut f, &mut step, d);
    if let Some(Action::Shell(_)) = &action
        && f.node().get("test").is_some()
        && step.on_failure.is_none()
    {
        step.on_failure = f
            .node()
            .get("test")
            .and_then(|t| t.get("on_failure"))
            .and_then(|n| decode_on_failure(n, d));
    }
    for (key, why) in IGNORED_STEP_KEYS {
        f.ignored(key, why, d);
    }
    f.finish(d);
    action.map(|_| step)
}

/// Step keys of the 0.4 format that prodigy accepts but does not act on.
const IGNORED_STEP_KEYS: [(&str, &str); 7] = [
    ("analysis", "the analyze family is not implemented"),
    (
        "commit_config",
        "commit message settings are not implemented",
    ),
    ("auto_commit", "commits are made by the step itself"),
    ("step_validate", "use `validate` instead"),
    ("skip_validation", "use `when` to skip validation steps"),
    ("validation_timeout", "use `validate.timeout`"),
    (
        "ignore_validation_failure",
        "use `validate.on_incomplete.fail_workflow: false`",
    ),
];

/// The legacy `args`, `options` and `metadata` keys of the old `name:` command form.
fn legacy_fields(f: &mut Fields, step: &mut Step, d: &mut Decoder) {
    let Some(meta) = f.raw("metadata") else {
        return;
    };
    let Some(mut m) = Fields::new(meta, "command metadata", d) else {
        return;
    };
    if let Some(env) = m.opt::<BTreeMap<String, String>>("env", d) {
        step.env.extend(env);
    }
    if let Some(t) = m.raw("timeout") {
        step.timeout = Duration::decode(t, Unit::Seconds, d);
    }
    if let Some(c) = m.opt("commit_required", d) {
        step.commit_required = c;
    }
    if let Some(c) = m.opt("continue_on_error", d) {
        step.allow_failure = c;
    }
    let _: Option<u32> = m.opt("retries", d);
    m.ignored("retries", "use `retry: {attempts: N}`", d);
    m.ignored("analysis", "the analyze family is not implemented", d);
    m.finish(d);
}

/// Each `inputs:` pattern must be a glob the build can match.
fn check_input_patterns(node: &Node, d: &mut Decoder) {
    let Value::Seq(patterns) = &node.value else {
        return;
    };
    for pattern in patterns {
        let Some(text) = pattern.as_str() else {
            continue;
        };
        if let Err(e) = globset::GlobBuilder::new(text)
            .literal_separator(true)
            .build()
        {
            d.error_at(
                pattern,
                "bad-input-pattern",
                format!("`{text}` is not a valid glob: {}", e.kind()),
            );
            d.hint("use `*`, `**`, `?`, `[abc]` or `{a,b}`; escape a literal `[` as `[[]`");
        }
    }
}

fn decode_action(f: &mut Fields, d: &mut Decoder) -> Option<Action> {
    let present: Vec<&'static str> = COMMAND_KEYS.into_iter().filter(|k| f.has(k)).collect();
    match present.as_slice() {
        [] => legacy_named_command(f, d),
        [key] => decode_command_key(key, f, d),
        [first, second, ..] => {
            let node = f.key_node(second).unwrap_or(f.node());
            d.error_at(
                node,
                "conflicting-commands",
                format!("a step runs one command, but this one has both `{first}` and `{second}`"),
            );
            d.hint("split it into two steps");
            None
        }
    }
}

/// The old `- name: prodigy-lint` form with `args` and `options`: a claude slash command.
fn legacy_named_command(f: &mut Fields, d: &mut Decoder) -> Option<Action> {
    let Some(name) = f.node().get("name").and_then(Node::as_str) else {
        d.push(
            Diagnostic::error(
                "missing-command",
                Some(f.node().span),
                "this step has nothing to run",
            )
            .with_hint("add one of `shell:`, `claude:`, `write_file:` or `foreach:`"),
        );
        return None;
    };
    let mut prompt = format!("/{}", name.trim_start_matches('/'));
    let args: Vec<String> = f.opt("args", d).unwrap_or_default();
    for arg in args {
        prompt.push(' ');
        prompt.push_str(&arg);
    }
    let options: BTreeMap<String, serde_json::Value> = f.opt("options", d).unwrap_or_default();
    for (key, value) in options {
        let text = match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        prompt.push_str(&format!(" --{key} {text}"));
    }
    Some(Action::Claude(prompt))
}

fn decode_command_key(key: &'static str, f: &mut Fields, d: &mut Decoder) -> Option<Action> {
    let node = f.raw(key)?;
    match key {
        "shell" => non_empty(node, d).map(Action::Shell),
        "claude" => non_empty(node, d).map(Action::Claude),
        "command" => {
            non_empty(node, d).map(|c| Action::Claude(format!("/{}", c.trim_start_matches('/'))))
        }
        "write_file" => WriteFile::decode(node, d).map(Action::WriteFile),
        "foreach" => Foreach::decode(node, d).map(|x| Action::Foreach(Box::new(x))),
        "goal_seek" => GoalSeek::decode(node, d).map(Action::GoalSeek),
        "test" => {
            let mut t = Fields::new(node, "test command", d)?;
            let command =
                t.req_with_hint::<String>("command", "`command` is the shell command to run", d);
            t.raw("on_failure");
            t.finish(d);
            command.map(Action::Shell)
        }
        _ => {
            f.ignored(
                key,
                "the analyze family and handler steps are not implemented; the step is skipped",
                d,
            );
            Some(Action::Ignored(key.to_string()))
        }
    }
}

fn non_empty(node: &Node, d: &mut Decoder) -> Option<String> {
    let text = String::decode(node, d)?;
    if text.trim().is_empty() {
        d.error_at(node, "empty-command", "the command is empty");
        return None;
    }
    Some(text)
}

fn decode_capture(f: &mut Fields, d: &mut Decoder) -> Capture {
    let mut capture = Capture {
        variable: f.opt("capture", d),
        ..Capture::default()
    };
    if let Some(node) = f.raw("capture_output") {
        match &node.value {
            Value::Bool(_) | Value::Null => {}
            Value::Str(name) if capture.variable.is_none() => capture.variable = Some(name.clone()),
            Value::Str(_) => {}
            _ => d.expected(node, "`true`, `false` or a variable name"),
        }
    }
    if let Some(node) = f.raw("capture_format") {
        capture.format = decode_capture_format(node, d).unwrap_or_default();
    }
    if let Some(node) = f.raw("capture_streams") {
        capture.streams = decode_streams(node, d).unwrap_or_default();
    }
    capture.output_file = f.opt("output_file", d);
    capture
}

fn decode_capture_format(node: &Node, d: &mut Decoder) -> Option<CaptureFormat> {
    let text = String::decode(node, d)?;
    let format = match text.as_str() {
        "string" | "text" => CaptureFormat::String,
        "number" => CaptureFormat::Number,
        "json" => CaptureFormat::Json,
        "lines" => CaptureFormat::Lines,
        "boolean" | "bool" => CaptureFormat::Boolean,
        _ => {
            d.error_at(
                node,
                "unknown-value",
                format!("unknown capture format `{text}`"),
            );
            d.hint("use one of: string, number, json, lines, boolean");
            return None;
        }
    };
    Some(format)
}

/// `capture_streams`: the standard dialect's string or the map-reduce dialect's mapping.
fn decode_streams(node: &Node, d: &mut Decoder) -> Option<CaptureStreams> {
    let defaults = CaptureStreams::default();
    if let Value::Str(s) = &node.value {
        let (stdout, stderr) = match s.as_str() {
            "stdout" => (true, false),
            "stderr" => (false, true),
            "both" => (true, true),
            _ => {
                d.error_at(node, "unknown-value", format!("unknown stream `{s}`"));
                d.hint("use stdout, stderr or both");
                return None;
            }
        };
        return Some(CaptureStreams {
            stdout,
            stderr,
            ..defaults
        });
    }
    let mut f = Fields::new(node, "capture_streams setting", d)?;
    let streams = CaptureStreams {
        stdout: f.opt("stdout", d).unwrap_or(defaults.stdout),
        stderr: f.opt("stderr", d).unwrap_or(defaults.stderr),
        exit_code: f.opt("exit_code", d).unwrap_or(defaults.exit_code),
        success: f.opt("success", d).unwrap_or(defaults.success),
        duration: f.opt("duration", d).unwrap_or(defaults.duration),
    };
    f.finish(d);
    Some(streams)
}

/// `on_exit_code: {1: step, "2": step}`.
fn decode_exit_codes(f: &mut Fields, d: &mut Decoder) -> BTreeMap<i32, Step> {
    let mut out = BTreeMap::new();
    let Some(node) = f.raw("on_exit_code") else {
        return out;
    };
    let Some(entries) = node.as_map() else {
        d.expected(node, "a mapping from exit codes to steps");
        return out;
    };
    for (key, value) in entries {
        let code = i32::decode(key, d);
        if let (Some(code), Some(step)) = (code, Step::decode(value, d)) {
            out.insert(code, step);
        }
    }
    out
}

/// `outputs: {name: {file_pattern: "*.md"}}`.
fn decode_outputs(f: &mut Fields, d: &mut Decoder) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(node) = f.raw("outputs") else {
        return out;
    };
    let Some(entries) = node.as_map() else {
        d.expected(node, "a mapping of output names to `{file_pattern: ...}`");
        return out;
    };
    for (key, value) in entries {
        let name = String::decode(key, d);
        let pattern = Fields::new(value, "output", d).and_then(|mut o| {
            let p = o.req_with_hint::<String>(
                "file_pattern",
                "`file_pattern` is a glob naming the files the step writes",
                d,
            );
            o.finish(d);
            p
        });
        if let (Some(name), Some(pattern)) = (name, pattern) {
            out.insert(name, pattern);
        }
    }
    out
}

impl Decode for WriteFile {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let mut f = Fields::new(node, "write_file step", d)?;
        let path = f.req_with_hint::<String>(
            "path",
            "`path` is the file to write, relative to the workflow root",
            d,
        );
        let content = f.req_with_hint::<String>("content", "`content` is the text to write", d);
        let format = f.raw("format").and_then(|n| {
            let text = String::decode(n, d)?;
            match text.as_str() {
                "text" => Some(WriteFormat::Text),
                "json" => Some(WriteFormat::Json),
                "yaml" => Some(WriteFormat::Yaml),
                _ => {
                    d.error_at(
                        n,
                        "unknown-value",
                        format!("unknown write_file format `{text}`"),
                    );
                    d.hint("use text, json or yaml");
                    None
                }
            }
        });
        let mode = f.raw("mode").and_then(|n| {
            let text = String::decode(n, d)?;
            let valid = !text.is_empty()
                && text.len() <= 4
                && text.chars().all(|c| ('0'..='7').contains(&c));
            if !valid {
                d.error_at(n, "bad-mode", format!("`{text}` is not an octal file mode"));
                d.hint("write it like `0644` or `755`");
            }
            valid.then_some(text)
        });
        let create_dirs = f.opt("create_dirs", d).unwrap_or(false);
        f.finish(d);
        if let Some(p) = &path
            && (p.starts_with('/') || p.split(['/', '\\']).any(|part| part == ".."))
        {
            d.error_at(
                f_path_node(node),
                "path-escape",
                format!("`{p}` leaves the workflow directory"),
            );
            d.hint("write_file paths are relative and may not contain `..`");
            return None;
        }
        Some(WriteFile {
            path: path?,
            content: content?,
            format: format.unwrap_or_default(),
            mode: mode.unwrap_or_else(|| "0644".into()),
            create_dirs,
        })
    }
}

fn f_path_node(node: &Node) -> &Node {
    node.get("path").unwrap_or(node)
}

impl Decode for Foreach {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let mut f = Fields::new(node, "foreach step", d)?;
        let input = match f.raw("foreach").or_else(|| f.raw("input")) {
            Some(n) => match &n.value {
                Value::Seq(_) => Vec::<String>::decode(n, d).map(ForeachInput::List),
                _ => String::decode(n, d).map(ForeachInput::Command),
            },
            None => {
                d.error_at(
                    node,
                    "missing-key",
                    "the foreach step needs a `foreach` key with a list or a command",
                );
                None
            }
        };
        let parallel = f.raw("parallel").and_then(|n| match &n.value {
            Value::Bool(true) => Some(10),
            Value::Bool(false) => Some(1),
            _ => u32::decode(n, d).filter(|p| *p > 0).or_else(|| {
                d.error_at(
                    n,
                    "bad-parallel",
                    "`parallel` must be `true`, `false` or a number of at least 1",
                );
                None
            }),
        });
        let steps = f.req_with_hint::<Vec<Step>>("do", "`do` lists the steps run for each item", d);
        let continue_on_error = f.opt("continue_on_error", d).unwrap_or(false);
        let max_items = f.opt("max_items", d);
        f.finish(d);
        Some(Foreach {
            input: input?,
            parallel: parallel.unwrap_or(1),
            steps: steps?,
            continue_on_error,
            max_items,
        })
    }
}

impl Decode for GoalSeek {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let mut f = Fields::new(node, "goal_seek step", d)?;
        let goal = f.req_with_hint::<String>("goal", "`goal` says what the loop works towards", d);
        let claude: Option<String> = f.opt("claude", d);
        let shell: Option<String> = f.opt("shell", d);
        let validate = f.req_with_hint::<String>(
            "validate",
            "`validate` is a command that prints `score: N` (0-100)",
            d,
        );
        let threshold =
            f.req_with_hint::<u32>("threshold", "`threshold` is the score to reach (0-100)", d);
        let max_attempts = f.req_with_hint::<u32>(
            "max_attempts",
            "`max_attempts` is how many rounds at most",
            d,
        );
        let timeout = f
            .raw("timeout_seconds")
            .and_then(|n| Duration::decode(n, Unit::Seconds, d));
        let fail_on_incomplete = f.opt("fail_on_incomplete", d).unwrap_or(false);
        f.finish(d);
        let command = match (claude, shell) {
            (Some(c), _) => Action::Claude(c),
            (None, Some(s)) => Action::Shell(s),
            (None, None) => {
                d.error_at(
                    node,
                    "missing-command",
                    "goal_seek needs a `claude` or `shell` command",
                );
                return None;
            }
        };
        Some(GoalSeek {
            goal: goal?,
            command: Box::new(command),
            validate: validate?,
            threshold: threshold?,
            max_attempts: max_attempts?,
            timeout,
            fail_on_incomplete,
        })
    }
}

impl Decode for Validate {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        if let Value::Seq(_) = node.value {
            return Some(Validate {
                commands: Vec::<Step>::decode(node, d)?,
                result_file: None,
                threshold: 100.0,
                timeout: None,
                expected_schema: None,
                on_incomplete: None,
            });
        }
        let mut f = Fields::new(node, "validate block", d)?;
        let commands = commands_of(&mut f, d);
        let threshold = f.raw("threshold").and_then(|n| {
            let t = f64::decode(n, d)?;
            if !(0.0..=100.0).contains(&t) {
                d.error_at(
                    n,
                    "out-of-range",
                    format!("threshold {t} is not a percentage from 0 to 100"),
                );
                return None;
            }
            Some(t)
        });
        let validate = Validate {
            commands,
            result_file: f.opt("result_file", d),
            threshold: threshold.unwrap_or(100.0),
            timeout: f
                .raw("timeout")
                .and_then(|n| Duration::decode(n, Unit::Seconds, d)),
            expected_schema: f.opt("expected_schema", d),
            on_incomplete: f.opt("on_incomplete", d),
        };
        f.finish(d);
        Some(validate)
    }
}

impl Decode for OnIncomplete {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        if let Value::Seq(_) = node.value {
            return Some(OnIncomplete {
                commands: Vec::<Step>::decode(node, d)?,
                max_attempts: 2,
                fail_workflow: true,
                commit_required: false,
            });
        }
        let mut f = Fields::new(node, "on_incomplete block", d)?;
        let mut commands = commands_of(&mut f, d);
        if let Some(prompt) = f.opt::<String>("prompt", d) {
            commands.push(Step::new(Action::Claude(prompt), node));
        }
        let out = OnIncomplete {
            commands,
            max_attempts: f.opt("max_attempts", d).unwrap_or(2),
            fail_workflow: f.opt("fail_workflow", d).unwrap_or(true),
            commit_required: f.opt("commit_required", d).unwrap_or(false),
        };
        f.finish(d);
        Some(out)
    }
}

/// The `claude` / `shell` / `command` / `commands` keys of a block, as steps.
pub(super) fn commands_of(f: &mut Fields, d: &mut Decoder) -> Vec<Step> {
    let node = f.node();
    let mut steps = Vec::new();
    if let Some(c) = f.opt::<String>("claude", d) {
        steps.push(Step::new(Action::Claude(c), node));
    }
    if let Some(s) = f.opt::<String>("shell", d) {
        steps.push(Step::new(Action::Shell(s), node));
    }
    if let Some(c) = f.raw("command") {
        match &c.value {
            // The guide's `command: {claude: ...}` form.
            Value::Map(_) => {
                if let Some(mut inner) = Fields::new(c, "command", d) {
                    steps.extend(commands_of(&mut inner, d));
                    inner.finish(d);
                }
            }
            _ => steps.extend(String::decode(c, d).map(|c| Step::new(Action::Shell(c), node))),
        }
    }
    if let Some(list) = f.opt::<Vec<Step>>("commands", d) {
        steps.extend(list);
    }
    steps
}
